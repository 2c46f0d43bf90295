"""``python -m sigver.datasets.merge``: one dataset file from the writers of several.

The writers of each file follow those of the files before it; their ids are kept, or become ``FILE/ID`` when
two files number their writers the same way. The images must have the same size (pre-process them with the
same ``--image-size``). For example, real writers and synthetic ones in one training set::

    python -m sigver.datasets.synthetic --users 200 --out synthetic_raw/
    python -m sigver.preprocessing.process_dataset --dataset gpds --path synthetic_raw/ --binarize \\
        --save-path synthetic.npz
    python -m sigver.datasets.merge hindi.npz synthetic.npz --out hindi_synthetic.npz
"""
from __future__ import annotations

import argparse
import sys

from ..cli import cli_main
from .format import load_dataset, merge_datasets


@cli_main
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sigver.datasets.merge", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="DATASET", help="dataset files (.npz or .npy folders), in order")
    p.add_argument("--out", required=True, help="the merged dataset file (.npz, or a folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file that is not a "
                                                            "dataset file")
    args = p.parse_args(argv)
    if len(args.paths) < 2:
        p.error("give at least two dataset files")
    merge_datasets(args.paths, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {load_dataset(args.out).summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
