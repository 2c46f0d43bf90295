"""Extract features of a whole dataset file once: ``python -m sigver.featurelearning.extract``.

Later stages (writer-dependent SVMs, writer-independent classifier, verification) can read the features file
instead of running the model again::

    python -m sigver.featurelearning.extract --model-path signet.pth --data-path gpds.npz --save-path feats.npz

The architecture is inferred from the checkpoint (its sidecar ``.json`` or the state-dict shapes; ``--model``
forces one). Each image is centre-cropped to the model input size (as the original's validation transform),
scaled to [0, 1] and fed in eval mode.

Output (:mod:`sigver.datasets.features`; ``.npz``, written atomically: a failed run leaves an existing file untouched):

``features``  float32 (N, D); ``y``, ``yforg`` int (N,); ``filenames`` str (N,); ``user_mapping`` (U,) as in
the dataset file (original writer ids); ``architecture`` str (0-d); ``model_path`` str (0-d).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..cli import add_device_arguments, add_progress_argument, cli_main, positive_int, resolve_device
from ..datasets import load_dataset
from ..datasets.features import FEATURE_MATRIX_KEYS, FeatureFileError, load_features, save_features  # noqa: F401
from .checkpoint import load_checkpoint, resolve_input_size
from .features import extract_features
from .models import available_models

__all__ = ["main", "build_parser", "save_features", "load_features", "FeatureFileError", "FEATURE_MATRIX_KEYS"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="python -m sigver.featurelearning.extract",
        description="Extract the features of every image of a dataset file with a trained model and save them "
                    "(features, y, yforg, filenames, user_mapping) to a .npz file.")
    p.add_argument("--model-path", required=True, help="checkpoint .pth (sigver, original or published weights)")
    p.add_argument("--data-path", required=True, help="dataset .npz file (or .npy folder) from process_dataset")
    p.add_argument("--save-path", required=True, help="output .npz file (its folder must exist)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per forward pass (default: 256)")
    add_device_arguments(p)
    p.add_argument("--model", "-m", default=None, choices=list(available_models),
                   help="architecture (default: inferred from the checkpoint)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="unpickle the user_mapping of dataset files written by the original code (trusted "
                        "files only)")
    add_progress_argument(p)
    return p


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.featurelearning.extract`` (see ``--help``)."""
    args = build_parser().parse_args(argv)
    save_path = Path(args.save_path)
    if save_path.is_dir():
        raise FeatureFileError(f"--save-path {save_path}: is a folder; give the path of the .npz file to write")
    if not save_path.parent.is_dir():
        raise FeatureFileError(f"--save-path {save_path}: folder {save_path.parent} does not exist; create it "
                               f"first")
    device = resolve_device(args.device, args.gpu_idx)
    data = load_dataset(args.data_path, allow_pickle=args.allow_pickle)
    loaded = load_checkpoint(args.model_path, device=device, arch=args.model)
    input_size = resolve_input_size(None, checkpoint=loaded)
    feats = extract_features(loaded.model, data.x, batch_size=args.batch_size, device=device,
                             input_size=input_size, progress=args.progress)
    save_features(save_path, feats, data.y, data.yforg, data.filenames, data.user_mapping,
                  architecture=loaded.arch, model_path=str(args.model_path))
    print(f"{feats.shape[0]} x {feats.shape[1]} features ({loaded.arch}) of {args.data_path} -> {save_path}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
