"""``python -m sigver.datasets.process_dataset``: the name the original README gives the pre-processing script,
which is ``python -m sigver.preprocessing.process_dataset`` (same flags). This alias runs that command as
``__main__`` (it does not import it: command modules are leaves)."""
import runpy
import sys


def main(argv=None) -> int:
    """Run ``python -m sigver.preprocessing.process_dataset`` with ``argv`` (default: ``sys.argv[1:]``)."""
    saved = sys.argv
    sys.argv = ["python -m sigver.preprocessing.process_dataset", *(sys.argv[1:] if argv is None else argv)]
    try:
        runpy.run_module("sigver.preprocessing.process_dataset", run_name="__main__", alter_sys=False)
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
