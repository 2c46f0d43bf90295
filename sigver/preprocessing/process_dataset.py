"""Pre-process a raw signature dataset folder into one dataset file.

Command line::

    python -m sigver.preprocessing.process_dataset --dataset cedar --path CEDAR/ --save-path cedar.npz
    python -m sigver.preprocessing.process_dataset --dataset folder --path scans/ --save-path mine.npz \\
        --canvas auto --workers 4

Every image of the selected writers is loaded by the reader, centred on the canvas, cleaned, inverted and
resized to ``--image-size`` (no crop; :func:`sigver.preprocessing.normalize.preprocess_signature` with
``input_size=None``). The file follows the dataset format (``docs/formats.md``): ``x`` uint8 ``(N, 1, H, W)`` (background 0), ``y`` int32
writer *position* in the processed user list, ``yforg`` 0/1/2, ``filenames`` base names, ``user_mapping``
the reader's writer ids. Order: users in reader order; for each, genuine, then skilled, then simple
forgeries, each in reader order, whatever the number of worker processes.

Differences from the original:

- ``--workers N`` pre-processes in N processes (default: all CPUs); the output does not depend on N;
  ``--scheduler ADDRESS`` (or ``$SIGVER_DASK_SCHEDULER``) spreads the images over a Dask cluster instead
  (:mod:`sigver.distributed`; every worker reads the raw files at ``--path``, so they must be on a shared file
  system), with the same output file;
- ``--canvas H W`` overrides the reader's canvas (its aspect ratio must be that of ``--image-size``, within
  2 %); ``--canvas auto`` (and readers without a canvas) measure the smallest canvas of that aspect ratio
  that holds every signature as placed by its centre of mass, and print it;
- an unreadable or blank image is reported with its path and skipped; a summary ends the run. The run fails
  (exit status 1, nothing written) only when a writer is left without any genuine signature, unless
  ``--allow-lost-writers`` is given;
- signatures larger than the canvas are counted in the summary (the original printed a line per image);
- the output file appears only when complete (a failed or interrupted run leaves any previous file as it
  was);
- ``--users A B`` keeps the writers at positions ``A .. B-1`` of the reader's user list; as in the
  original, ``y`` restarts at 0 in each output file (``user_mapping`` keeps the real writer ids, so chunks
  can be merged by id).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from ..cli import add_progress_argument, cli_main, positive_int
from ..distributed import add_scheduler_argument, cluster
from ..errors import SigverError
from ..shapes import IMG_SIZE
# the library of this command lives in sigver.preprocessing.pipeline; re-exported for former imports
from .pipeline import (  # noqa: F401
    ProcessReport,
    WriterLostError,
    _check_canvas_ratio,
    _run,
    measure_canvas,
    process_dataset,
)

__all__ = ["main", "build_parser", "process_dataset", "measure_canvas", "ProcessReport", "WriterLostError"]


# ---------------------------------------------------------------------------------------------------
# command line

def _canvas_arg(values: Sequence[str]):
    if len(values) == 1 and values[0].lower() == "auto":
        return "auto"
    if len(values) != 2:
        raise SigverError(f"--canvas takes two integers (height width) or 'auto', got {' '.join(values)!r}")
    try:
        h, w = int(values[0]), int(values[1])
    except ValueError:
        raise SigverError(f"--canvas takes two integers (height width) or 'auto', got {' '.join(values)!r}")
    if h < 1 or w < 1:
        raise SigverError(f"--canvas must be positive, got {h} x {w}")
    return h, w


def build_parser() -> argparse.ArgumentParser:
    from ..datasets.registry import available_datasets

    parser = argparse.ArgumentParser(
        prog="python -m sigver.preprocessing.process_dataset",
        description="Pre-process a raw signature dataset folder into a dataset file (.npz, or a folder of "
                    ".npy files).")
    parser.add_argument("--dataset", required=True, choices=sorted(available_datasets),
                        help="dataset reader")
    parser.add_argument("--path", required=True, help="raw dataset folder")
    parser.add_argument("--save-path", "--save_path", dest="save_path", required=True,
                        help="output .npz file (or a folder, for .npy files)")
    parser.add_argument("--image-size", "--image_size", dest="image_size", nargs=2, type=positive_int,
                        default=list(IMG_SIZE), metavar=("H", "W"), help="stored image size (default 170 242)")
    parser.add_argument("--users", nargs=2, type=int, metavar=("A", "B"), default=None,
                        help="process the writers at positions A..B-1 of the user list (y restarts at 0)")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="processes (default: number of CPUs)")
    parser.add_argument("--canvas", nargs="+", metavar="H W|auto", default=None,
                        help="canvas height and width overriding the reader's, or 'auto' to measure it")
    parser.add_argument("--language", default=None, help="language option of the reader (bhsig260)")
    parser.add_argument("--binarize", action="store_true",
                        help="set ink pixels to full black before resizing, as in a bilevel scan (not in the "
                             "original pipeline; for models trained on bilevel scans such as BHSig260)")
    parser.add_argument("--allow-lost-writers", action="store_true",
                        help="write the file even if a writer has no readable genuine signature")
    add_scheduler_argument(parser, "the pre-processing (chunks of 32 images a task; the same file as a local run; "
                                   "--workers is then unused)",
                           " and the raw files at the same --path on every worker (a shared file system): "
                           "each worker reads its own images")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --save-path file that is not a dataset file")
    add_progress_argument(parser)
    return parser


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from ..datasets.format import check_target
    from ..datasets.registry import get_dataset
    from ..validation import check_range

    args = build_parser().parse_args(argv)
    check_target(args.save_path, overwrite=args.overwrite, flag="--save-path", inputs=[args.path])
    img_size = tuple(args.image_size)
    canvas = _canvas_arg(args.canvas) if args.canvas is not None else None
    if isinstance(canvas, tuple):
        _check_canvas_ratio(canvas, img_size)
    options = {"language": args.language} if args.language is not None else {}
    dataset = get_dataset(args.dataset, args.path, **options)
    subset = slice(None)
    if args.users is not None:
        subset = slice(*check_range("--users", *args.users, len(dataset.get_user_list())))
    try:
        with cluster(args.scheduler):
            # not read back (the arrays are those just written): the summary comes from the report
            _, report = _run(dataset, args.save_path, img_size, subset, args.workers, canvas, args.progress,
                             args.allow_lost_writers, args.binarize, overwrite=args.overwrite, load=False)
    except WriterLostError as e:
        print(e.report.summary(), file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary(), file=sys.stderr)
    n_writers = len(dataset.get_user_list()[subset])
    print(f"saved {args.save_path}: x {(report.n_written, 1) + img_size}, {n_writers} writers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
