"""Generate synthetic offline signatures (GPDS-like): ``python -m sigver.datasets.synthetic``.

The generator (simulated writers, genuine signatures and skilled forgeries, see
:mod:`sigver.datasets.synthetic_sim`) is a pure function of ``(seed, user, kind, index)``.

Command line::

    python -m sigver.datasets.synthetic --users 100 --genuine 24 --forgeries 30 --seed 1 --out synth/
    python -m sigver.datasets.synthetic --users 100 --seed 1 --npz synth.npz --contact-sheet sheet.png

``--out`` writes the GPDS folder layout (``DIR/001/c-001-01.png``, ``DIR/001/cf-001-01.png``; writers numbered
from 1), read back with ``get_dataset('gpds', DIR)``; ``--npz`` pre-processes straight into a dataset file
(:func:`sigver.preprocessing.pipeline.process_dataset` on :class:`SyntheticSignatures`).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from ..cli import add_progress_argument, cli_main, nonnegative_int, positive_int
from ..distributed import add_scheduler_argument, cluster
from ..errors import SigverError
from ..shapes import IMG_SIZE
# the generator lives in synthetic_sim (simulation), synthetic_render (images) and synthetic_write (reader,
# folders, contact sheets); its public names are re-exported here, where they used to be
from .synthetic_render import encode_png, render_signature  # noqa: F401
from .synthetic_sim import (GENUINE, GPDS_CANVAS, MAX_INK_BOX, N_FORGERS, SKILLED, _cached_template,  # noqa: F401
                            _forger, writer_template)
from .synthetic_write import (SyntheticOutput, SyntheticSignatures, generate_dataset,  # noqa: F401
                              synthetic_contact_sheet, write_folder)

__all__ = [
    "SyntheticSignatures",
    "generate_dataset",
    "render_signature",
    "encode_png",
    "synthetic_contact_sheet",
    "write_folder",
    "SyntheticOutput",
    "writer_template",
    "GENUINE",
    "SKILLED",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sigver.datasets.synthetic",
        description="Generate synthetic offline signatures (sigma-lognormal writers, genuine signatures and "
                    "skilled forgeries) as a GPDS-layout folder and/or a pre-processed dataset file.")
    parser.add_argument("--users", type=positive_int, default=100, help="number of writers (default 100)")
    parser.add_argument("--genuine", type=positive_int, default=24,
                        help="genuine signatures per writer (default 24)")
    parser.add_argument("--forgeries", type=nonnegative_int, default=30,
                        help="skilled forgeries per writer (default 30)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="generator seed (default 0)")
    parser.add_argument("--first-user", "--first_user", dest="first_user", type=nonnegative_int, default=0,
                        help="writers are numbered FIRST_USER+1 .. FIRST_USER+USERS (default 0)")
    parser.add_argument("--out", default=None, help="folder to write in the GPDS layout (DIR/001/c-001-01.png)")
    parser.add_argument("--npz", default=None, help="pre-processed dataset file to write (.npz, or a folder)")
    parser.add_argument("--image-size", "--image_size", dest="image_size", nargs=2, type=positive_int,
                        default=list(IMG_SIZE), metavar=("H", "W"), help="image size stored in --npz (170 242)")
    parser.add_argument("--contact-sheet", dest="contact_sheet", default=None,
                        help="PNG contact sheet of the first writers (genuine | skilled forgeries)")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="processes (default: number of CPUs); the output does not depend on it")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty --out folder that is not a previous synthetic output")
    add_scheduler_argument(parser, "the --npz pre-processing (--out is written by --workers processes here)")
    add_progress_argument(parser)
    return parser


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None and args.npz is None and args.contact_sheet is None:
        raise SigverError("nothing to do: give --out DIR, --npz FILE and/or --contact-sheet PNG")
    with cluster(args.scheduler):
        res = generate_dataset(args.users, args.genuine, args.forgeries, args.seed, out=args.out, npz=args.npz,
                               first_user=args.first_user, workers=args.workers, overwrite=args.overwrite,
                               img_size=tuple(args.image_size), contact_sheet=args.contact_sheet,
                               progress=args.progress)
    n = args.users * (args.genuine + args.forgeries)
    if res.folder is not None:
        print(f"wrote {n} images of {args.users} writers to {res.folder}")
    if res.data is not None:
        print(f"saved {args.npz}: x {tuple(res.data.x.shape)}, {args.users} writers")
    if res.contact_sheet is not None:
        print(f"contact sheet: {res.contact_sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
