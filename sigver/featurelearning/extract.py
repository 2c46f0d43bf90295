"""Extract features of a whole dataset file once: ``python -m sigver.featurelearning.extract``.

Later stages (writer-dependent SVMs, writer-independent classifier, verification) can read the features file
instead of running the model again::

    python -m sigver.featurelearning.extract --model-path signet.pth --data-path gpds.npz --save-path feats.npz

The architecture is inferred from the checkpoint (its sidecar ``.json`` or the state-dict shapes; ``--model``
forces one). Each image is centre-cropped to the model input size (as the original's validation transform),
scaled to [0, 1] and fed in eval mode.

Output (``.npz``, written atomically: a failed run leaves an existing file untouched):

``features``  float32 (N, D); ``y``, ``yforg`` int (N,); ``filenames`` str (N,); ``user_mapping`` (U,) as in
the dataset file (original writer ids); ``architecture`` str (0-d); ``model_path`` str (0-d); ``model_sha256``
str (0-d, the weights' hash: :func:`sigver.verify.api.weights_sha256`); ``input_size`` int (2,). A features file
is only combined with the model that made it (verification refuses another model's features).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..cli import cli_main, default_device, positive_int
from ..datasets import load_dataset
from ..errors import SigverError
from ..fileio import atomic_write
from ..outputs import OutputError, check_output
from ..validation import check_finite
from .checkpoint import load_checkpoint
from .features import extract_features
from .models import available_models


def _weights_sha256(model) -> str:
    """SHA-256 of a model's weights (see :func:`sigver.verify.api.weights_sha256`)."""
    from ..verify.api import weights_sha256 as sha

    return sha(model)

__all__ = ["main", "build_parser", "save_features", "load_features", "FeatureFileError", "FEATURE_MATRIX_KEYS"]



class FeatureFileError(SigverError, ValueError):
    """A features file (or the place to write one) that cannot be used."""


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
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--model", "-m", default=None, choices=list(available_models),
                   help="architecture (default: inferred from the checkpoint)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="unpickle the user_mapping of dataset files written by the original code (trusted "
                        "files only)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --save-path file that is not a features file")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def save_features(path, features: np.ndarray, y, yforg, filenames, user_mapping, dtype=np.float32,
                  overwrite: bool = False, **extra) -> Path:
    """Write a features file atomically (``np.savez``, no pickled objects).

    Parameters
    ----------
    path : path-like
        Target ``.npz``; its folder must exist.
    features : array (N, D)
        Stored as float32.
    y, yforg : array of int (N,)
    filenames : sequence of str (N,)
    user_mapping : array (U,)
        Original writer id of each writer index (int or str).
    dtype : numpy float dtype, default float32
        Storage type of the features (float16 halves the file; :func:`load_features` returns float32).
    overwrite : bool
        Replace an existing file that is not a features file.
    **extra
        More arrays / strings to store (e.g. ``architecture``, ``model_sha256``, ``input_size``).

    Raises
    ------
    FeatureFileError
        The target cannot take a features file (see :func:`sigver.outputs.check_output`), or the features
        hold NaN or infinite values.
    """
    try:
        path = check_output(path, "features", "", overwrite=overwrite)
    except OutputError as e:
        raise FeatureFileError(str(e)) from None
    features = np.asarray(features, dtype=dtype)
    check_finite(features, f"{path}: features", FeatureFileError)
    arrays = {
        "features": features,
        "y": np.asarray(y), "yforg": np.asarray(yforg),
        "filenames": np.asarray(filenames, dtype=str),
        "user_mapping": _plain(np.asarray(user_mapping)),
    }
    for k, v in extra.items():
        arrays[k] = np.asarray(v)
    n = len(features)
    for k in ("y", "yforg", "filenames"):
        if len(arrays[k]) != n:
            raise ValueError(f"{k} has {len(arrays[k])} entries, features has {n} rows")
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def _plain(a: np.ndarray) -> np.ndarray:
    if a.dtype != object:
        return a
    try:
        return a.astype(np.int64)
    except (TypeError, ValueError):
        return a.astype(str)


#: keys under which a features file may store the (N, D) matrix (``features`` is what we write)
FEATURE_MATRIX_KEYS = ("features", "feats", "x")


def load_features(path) -> dict:
    """Read a features file (no unpickling) and check it.

    The matrix may be stored under any key of :data:`FEATURE_MATRIX_KEYS`; ``y`` and ``yforg`` are
    required; ``filenames`` (default: empty strings) and ``user_mapping`` are optional.

    Returns
    -------
    dict
        ``features`` float32 (N, D), ``y`` int64 (N,), ``yforg`` int64 (N,), ``filenames`` str (N,), and any
        other stored arrays (``user_mapping``, ``architecture``, ...).

    Raises
    ------
    FeatureFileError
        Missing, unreadable or malformed file (one line naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: no such features file; make it with "
                               f"`python -m sigver.featurelearning.extract`")
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
    except Exception as e:  # zipfile / pickle / format errors
        raise FeatureFileError(f"{path}: cannot read the features file, it is truncated or corrupt "
                               f"({type(e).__name__})") from None
    key = next((k for k in FEATURE_MATRIX_KEYS if k in out), None)
    missing = [k for k in ("y", "yforg") if k not in out]
    if key is None or missing:
        raise FeatureFileError(f"{path}: not a features file (needs 'features' (N, D), 'y' and 'yforg'; has "
                               f"{sorted(out)})")
    feats, y, yforg = out.pop(key), out["y"], out["yforg"]
    if feats.ndim != 2 or not np.issubdtype(feats.dtype, np.floating):
        raise FeatureFileError(f"{path}: '{key}' must be a float array (N, D), got {feats.dtype} {feats.shape}")
    if not (len(feats) == len(y) == len(yforg)):
        raise FeatureFileError(f"{path}: '{key}', 'y' and 'yforg' have different lengths "
                               f"({len(feats)}, {len(y)}, {len(yforg)})")
    if not np.all(np.isfinite(feats)):
        raise FeatureFileError(f"{path}: the features contain NaN or infinite values")
    out["features"] = feats.astype(np.float32, copy=False)
    out["y"], out["yforg"] = y.astype(np.int64), yforg.astype(np.int64)
    out.setdefault("filenames", np.array([""] * len(y)))
    return out


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.featurelearning.extract`` (see ``--help``)."""
    args = build_parser().parse_args(argv)
    save_path = check_output(args.save_path, "features", "--save-path", overwrite=args.overwrite,
                             inputs=[args.data_path, args.model_path])
    device = args.device or default_device()
    import torch

    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise FeatureFileError(f"--device {device}: CUDA is not available here; use --device cpu")
    data = load_dataset(args.data_path, allow_pickle=args.allow_pickle)
    loaded = load_checkpoint(args.model_path, device=device, arch=args.model)
    input_size = tuple(loaded.metadata.get("input_size") or loaded.model.input_size)
    feats = extract_features(loaded.model, data.x, batch_size=args.batch_size, device=device,
                             input_size=input_size, progress=args.progress)
    check_finite(feats, f"features of {args.data_path} by {args.model_path}", FeatureFileError)
    save_features(save_path, feats, data.y, data.yforg, data.filenames, data.user_mapping,
                  overwrite=args.overwrite, architecture=loaded.arch, model_path=str(args.model_path),
                  model_sha256=_weights_sha256(loaded.model), input_size=np.asarray(input_size, dtype=np.int64))
    print(f"{feats.shape[0]} x {feats.shape[1]} features ({loaded.arch}) of {args.data_path} -> {save_path}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
