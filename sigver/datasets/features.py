"""Feature files: the features of a dataset file, extracted once and read by the later stages.

A features file is an ``.npz`` (no pickled objects) holding ``features`` float32 (N, D); ``y``, ``yforg`` int
(N,); ``filenames`` str (N,); ``user_mapping`` (U,) as in the dataset file (original writer ids); and what the
writer adds (``python -m sigver.featurelearning.extract`` adds ``architecture``, ``model_path``,
``model_sha256``, ``input_size``, and ``layer`` / ``crops``, how the features were taken: a features file is
only combined with the model that made it, extracted the same way). See ``docs/formats.md``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SigverError
from ..fileio import atomic_write
from ..outputs import OutputError, check_output
from ..validation import check_finite

__all__ = ["save_features", "load_features", "FeatureFileError", "FEATURE_MATRIX_KEYS"]


class FeatureFileError(SigverError, ValueError):
    """A features file (or the place to write one) that cannot be used."""


def save_features(path, features: np.ndarray, y, yforg, filenames, user_mapping, dtype=np.float32,
                  overwrite: bool = False, **extra) -> Path:
    """Write a features file atomically (``np.savez``, no pickled objects).

    Parameters
    ----------
    path : path-like
        Target ``.npz``; its folder must exist.
    features : array (N, D)
        Stored as ``dtype``.
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
