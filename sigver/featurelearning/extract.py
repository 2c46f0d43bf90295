"""Extract features of a whole dataset file once: ``python -m sigver.featurelearning.extract``.

Later stages (writer-dependent SVMs, writer-independent classifier, verification) can read the features file
instead of running the model again::

    python -m sigver.featurelearning.extract --model-path signet.pth --data-path gpds.npz --save-path feats.npz

The architecture is inferred from the checkpoint (its sidecar ``.json`` or the state-dict shapes; ``--model``
forces one). Each image is centre-cropped to the model input size (as the original's validation transform),
scaled to [0, 1] and fed in eval mode.

Output (:mod:`sigver.datasets.features`; ``.npz``, written atomically: a failed run leaves an existing file untouched):

``features``  float32 (N, D); ``y``, ``yforg`` int (N,); ``filenames`` str (N,); ``user_mapping`` (U,) as in
the dataset file (original writer ids); ``architecture`` str (0-d); ``model_path`` str (0-d); ``model_sha256``
str (0-d, the weights' hash: :func:`sigver.featurelearning.checkpoint.weights_sha256`); ``input_size`` int (2,);
``layer`` str (0-d, the fc block whose output was taken, e.g. ``fc2``) and ``crops`` str (0-d, ``center`` or
``five``). A features file is only combined with the model that made it (verification refuses another model's
features, and features of another layer or crops than the model's output on the centre crop).

Test-time options (measured on real data in BENCHMARKS.md, "Real data across data sets"): ``--layer fc1``
takes the first fc block's output instead of the model's; ``--crops five`` averages the features of the centre
and the four corner crops. Both change what the features are: use the same options for every file combined.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

import numpy as np

from ..cli import add_device_arguments, add_progress_argument, cli_main, positive_int, resolve_device
from ..datasets import load_dataset
from ..errors import SigverError
from ..datasets.features import FEATURE_MATRIX_KEYS, FeatureFileError, load_features, save_features  # noqa: F401
from ..outputs import check_output
from ..validation import check_finite
from .checkpoint import load_checkpoint, resolve_input_size, weights_sha256
from .features import CROPS, extract_features, feature_layers
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
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="take the output of this fc block (e.g. fc1) instead of the model's output (the last one); "
                        "default: the layer the model's sidecar names for verification (features.layer), else "
                        "the output")
    p.add_argument("--crops", choices=CROPS, default="center",
                   help="center: the centre crop (the original's); five: the centre and four corner crops, "
                        "features averaged (default: center)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="unpickle the user_mapping of dataset files written by the original code (trusted "
                        "files only)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --save-path file that is not a features file")
    add_progress_argument(p)
    return p


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.featurelearning.extract`` (see ``--help``)."""
    args = build_parser().parse_args(argv)
    save_path = check_output(args.save_path, "features", "--save-path", overwrite=args.overwrite,
                             inputs=[args.data_path, args.model_path])
    device = resolve_device(args.device, args.gpu_idx)
    data = load_dataset(args.data_path, allow_pickle=args.allow_pickle)
    loaded = load_checkpoint(args.model_path, device=device, arch=args.model)
    input_size = resolve_input_size(None, checkpoint=loaded)
    layers = feature_layers(loaded.model)
    if args.layer is None:  # the layer a shipped model's sidecar names (what verification extracts)
        args.layer = loaded.feature_layer
    if args.layer is not None and args.layer not in layers:
        raise SigverError(f"--layer {args.layer}: the {loaded.arch} model has the feature layers "
                          f"{', '.join(layers) or '(none)'}; leave --layer out for the model's output")
    feats = extract_features(loaded.model, data.x, batch_size=args.batch_size, device=device,
                             input_size=input_size, progress=args.progress, layer=args.layer, crops=args.crops)
    check_finite(feats, f"features of {args.data_path} by {args.model_path}", FeatureFileError)
    save_features(save_path, feats, data.y, data.yforg, data.filenames, data.user_mapping,
                  overwrite=args.overwrite, architecture=loaded.arch, model_path=str(args.model_path),
                  model_sha256=weights_sha256(loaded.model), input_size=np.asarray(input_size, dtype=np.int64),
                  layer=args.layer or (layers[-1] if layers else "output"), crops=args.crops)
    print(f"{feats.shape[0]} x {feats.shape[1]} features ({loaded.arch}) of {args.data_path} -> {save_path}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
