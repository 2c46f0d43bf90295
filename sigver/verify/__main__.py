"""``python -m sigver.verify``: enrol a user, check questioned signatures.

::

    python -m sigver.verify enroll --model-path signet.pth --user alice --references a1.png a2.png a3.png \\
        --out alice.npz [--negatives gpds_dev.npz] [--target-far 0.05] [--canvas 952 1360]
    python -m sigver.verify check --user-file alice.npz q1.png q2.png      # JSON on stdout

Bad input (a blank image, too few references, a missing or corrupt user file, another model's weights)
prints one line and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..cli import add_device_arguments, cli_main, positive_int, unit_float
from ..distributed import add_scheduler_argument, cluster
from ..evaluation.protocol import add_svm_arguments
from ..outputs import check_output
from .api import DEFAULT_CANVAS, IMG_SIZE, SHIPPED_MODEL, enroll, verify
from .integrity import KEY_ENV, read_key
from .user import UserFileError, load_user


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sigver.verify",
                                description="Enrol a user from reference signatures; verify questioned ones.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("enroll", help="train a user's classifier and write the user file",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--model-path", default=None,
                   help="checkpoint (.pth) of the feature extractor (default: $SIGVER_MODEL, else the shipped "
                        "model trained on real signatures, models/" + SHIPPED_MODEL + ")")
    e.add_argument("--user", required=True, help="the user's name")
    e.add_argument("--references", nargs="+", required=True, metavar="IMG", help="genuine signatures (2 or more)")
    e.add_argument("--out", required=True, help="user file to write (.npz)")
    e.add_argument("--negatives", default=None,
                   help="dataset (.npz / .npy folder) or features file of other writers (default: the "
                        "model's own pool named in its sidecar, else built-in synthetic writers)")
    e.add_argument("--negatives-per-writer", type=positive_int, default=14,
                   help="genuine signatures of each negative writer used as random forgeries")
    e.add_argument("--target-far", type=unit_float, default=None,
                   help="threshold at this FAR on development writers of the pool (default: SVM margin 0)")
    e.add_argument("--canvas", nargs=2, type=positive_int, default=None, metavar=("H", "W"),
                   help="canvas the scans are centred on (default: the model sidecar's, else "
                        f"{DEFAULT_CANVAS[0]} {DEFAULT_CANVAS[1]})")
    add_svm_arguments(e, backends=True)
    e.add_argument("--seed", type=int, default=1234, help="seed of the draws from the negative pool")
    e.add_argument("--allow-pickle", action="store_true",
                   help="unpickle the user_mapping of a --negatives file written by the original code")
    e.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_scheduler_argument(e, "the --target-far calibration's per-writer fits")
    e.add_argument("--key-file", default=None, help="secret key: the user file gets an HMAC-SHA256 that `check` "
                                                    f"verifies (default: ${KEY_ENV} when set)")
    add_device_arguments(e, gpu_idx=False)

    c = sub.add_parser("check", help="verify questioned signatures; prints JSON")
    c.add_argument("--user-file", required=True, help="user file written by `enroll`")
    c.add_argument("images", nargs="+", metavar="IMG", help="questioned signatures")
    c.add_argument("--model-path", default=None, help="model (default: the one recorded in the user file)")
    add_device_arguments(c, gpu_idx=False)
    c.add_argument("--key-file", default=None, help="secret key the user was enrolled with: the user file's "
                                                    f"HMAC must match (default: ${KEY_ENV} when set)")
    return p


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "enroll":
        out = Path(args.out)
        if out.exists() and not args.overwrite:
            raise UserFileError(f"--out {out}: exists; pass --overwrite to replace it")
        if not out.parent.is_dir():
            raise UserFileError(f"--out {out}: folder {out.parent} does not exist; create it first")
        check_output(out, "user", "--out", overwrite=args.overwrite,
                     inputs=[args.model_path, args.negatives, *args.references])
        if args.canvas and (args.canvas[0] < IMG_SIZE[0] or args.canvas[1] < IMG_SIZE[1]):
            raise UserFileError(f"--canvas {args.canvas[0]} {args.canvas[1]}: the canvas must be at least "
                                f"{IMG_SIZE[0]} {IMG_SIZE[1]} (the stored image size), e.g. the scans' size")
        key = read_key(args.key_file)
        with cluster(args.scheduler):
            user = enroll(args.model_path, args.references, name=args.user, negatives=args.negatives,
                          target_far=args.target_far, canvas=tuple(args.canvas) if args.canvas else None,
                          device=args.device, svm_type=args.svm_type, C=args.svm_c, gamma=args.svm_gamma,
                          negatives_per_writer=args.negatives_per_writer, seed=args.seed,
                          allow_pickle=args.allow_pickle, svm_backend=args.svm_backend)
        user.save(out, key=key)
        info = user.meta["threshold_info"]
        how = ("SVM margin" if info["method"] == "svm_margin" else
               f"FAR {100 * info['target_far']:g}% on {info['dev_writers']} development writers' "
               f"{info['forgeries']} forgeries (reached {100 * info['dev_FAR']:.1f}%, "
               f"FRR {100 * info['dev_FRR']:.1f}%)")
        print(f"enrolled {user.name!r} from {user.meta['enrollment']['n_references']} references against "
              f"{user.meta['enrollment']['n_negatives']} negatives; threshold {user.threshold:.4g} ({how}) "
              f"-> {out}", file=sys.stderr)
        return 0
    user = load_user(args.user_file, key=read_key(args.key_file))
    results = verify(user, args.images, model_path=args.model_path, device=args.device)
    print(json.dumps({"user": user.name, "threshold": user.threshold, "results": results}, indent=2,
                     allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
