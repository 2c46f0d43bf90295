"""``python -m sigver.datasets.process_dataset``: the name the original README gives the pre-processing script,
which is ``python -m sigver.preprocessing.process_dataset`` (same flags)."""
import sys


def main(argv=None) -> int:
    from ..preprocessing.process_dataset import main as process_main  # late: preprocessing imports datasets

    return process_main(argv)


if __name__ == "__main__":
    sys.exit(main())
