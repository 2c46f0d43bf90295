"""``python -m sigver.datasets.info``: describe a dataset file, check it, or convert it.

Examples
--------
Describe a file (any ``.npz`` or ``.npy`` folder the loader reads)::

    python -m sigver.datasets.info data/gpds_170_242.npz

Convert a file written by the original code (pickled ``user_mapping``) into sigver's pickle-free format,
keeping its real writer ids (only for a file you trust), or turn a large ``.npz`` into a memory-mapped
folder::

    python -m sigver.datasets.info old.npz --allow-pickle --convert new.npz
    python -m sigver.datasets.info big.npz --convert big_folder/
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

from ..cli import cli_main
from .format import check_target, load_dataset, save_dataset


def describe(data) -> dict:
    """Counts and ranges of a loaded dataset, as a JSON-ready dict."""
    y, yforg = np.asarray(data.y), np.asarray(data.yforg)
    per_user = np.bincount(y[yforg == 0], minlength=data.n_users) if len(y) else np.zeros(0, int)
    return {
        "images": int(len(y)),
        "writers": int(len(np.unique(y))),
        "genuine": int((yforg == 0).sum()),
        "skilled_forgeries": int((yforg == 1).sum()),
        "simple_forgeries": int((yforg == 2).sum()),
        "image_size": list(data.image_size),
        "genuine_per_writer": {"min": int(per_user.min()) if len(per_user) else 0,
                               "max": int(per_user.max()) if len(per_user) else 0},
        "writer_ids": {"first": data.user_mapping[:3].tolist(), "last": data.user_mapping[-3:].tolist()},
        "memory_mapped": isinstance(data.x, np.memmap),
    }


@cli_main
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sigver.datasets.info", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="dataset .npz file or folder of .npy files")
    p.add_argument("--allow-pickle", action="store_true",
                   help="unpickle the writer ids of a file written by the original code (trusted files only)")
    p.add_argument("--convert", metavar="OUT",
                   help="write the dataset to OUT in sigver's format (.npz file, or a folder when OUT does not "
                        "end in .npz)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --convert file that is not a "
                                                            "dataset file")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    args = p.parse_args(argv)
    if args.convert:
        check_target(args.convert, overwrite=args.overwrite, flag="--convert", inputs=[args.path])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(args.path, allow_pickle=args.allow_pickle)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    info = describe(data)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{args.path}: {data.summary()}")
        print(f"  genuine per writer: {info['genuine_per_writer']['min']}..{info['genuine_per_writer']['max']}; "
              f"writer ids {info['writer_ids']['first']} ... {info['writer_ids']['last']}"
              f"{'; x is memory-mapped' if info['memory_mapped'] else ''}")
    if args.convert:
        save_dataset(args.convert, *data, overwrite=args.overwrite)
        print(f"wrote {args.convert}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
