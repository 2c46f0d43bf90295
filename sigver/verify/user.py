"""An enrolled user: the writer-dependent SVM, the threshold and everything needed to verify, in one file.

The user file is an ``.npz`` of plain arrays (read with ``allow_pickle=False``, so opening one cannot run
code):

============================  ==========================================================================
``meta``                      0-d str: JSON (format, name, threshold and how it was chosen, model identity,
                              pre-processing, SVM settings, enrolment details)
``support_vectors``           float64 (n_sv, D), in the scaled feature space
``dual_coef``                 float64 (1, n_sv)
``intercept``                 float64 (1,)
``scale``                     float64 (D,): the ``StandardScaler(with_mean=False)`` ``scale_``
``integrity``                 0-d str: JSON ``{"sha256": ..., "hmac_sha256": ...}`` of the content (format 2;
                              the HMAC only when enrolled with a key; see :mod:`sigver.verify.integrity`)
============================  ==========================================================================

Loading checks the seal (damage or edits are refused; with a key, the HMAC too) and the values: a finite
threshold, a positive finite gamma and C, a known kernel, positive scales, finite arrays of consistent shapes.

The score of features ``f`` is the SVM decision value ``dual_coef @ K(support_vectors, f / scale) +
intercept`` (RBF ``K = exp(-gamma |a - b|^2)`` or linear ``K = a . b``), the same number as the fitted
scikit-learn pipeline's ``decision_function``; a signature is accepted when ``score >= threshold``.
"""
from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..errors import SigverError
from ..fileio import atomic_write

__all__ = ["EnrolledUser", "UserFileError", "ModelMismatchError", "EnrollmentError", "load_user",
           "FORMAT", "FORMAT_VERSION"]

PathLike = Union[str, os.PathLike]
FORMAT = "sigver-user"
FORMAT_VERSION = 2
_ARRAYS = ("support_vectors", "dual_coef", "intercept", "scale")


class UserFileError(SigverError, ValueError):
    """A user file is missing, truncated, corrupt or not a sigver user file."""


class ModelMismatchError(SigverError, ValueError):
    """The model given for verification is not the one the user was enrolled with."""


class EnrollmentError(SigverError, ValueError):
    """Enrolment cannot be done with the input given (too few references, unusable negatives, ...)."""


class EnrolledUser:
    """A user's verifier: SVM parameters, decision threshold, model identity and pre-processing settings.

    Made by :func:`sigver.verify.enroll`, read by :func:`load_user`, used by :func:`sigver.verify.verify`.

    Attributes
    ----------
    name : str
    threshold : float
        Accept when ``score >= threshold``.
    meta : dict
        Everything else (``threshold_info``, ``model``, ``preprocessing``, ``svm``, ``enrollment``).
    source : str or None
        The file it was loaded from (or last saved to).
    """

    def __init__(self, meta: Dict[str, Any], support_vectors: np.ndarray, dual_coef: np.ndarray,
                 intercept: np.ndarray, scale: np.ndarray, source: str = None):
        self.meta = meta
        self.support_vectors = np.asarray(support_vectors, dtype=np.float64)
        self.dual_coef = np.asarray(dual_coef, dtype=np.float64).reshape(1, -1)
        self.intercept = np.asarray(intercept, dtype=np.float64).reshape(1)
        self.scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        self.source = source

    @classmethod
    def from_pipeline(cls, pipeline, meta: Dict[str, Any]) -> "EnrolledUser":
        """From a fitted ``Pipeline([('scaler', StandardScaler(with_mean=False)), ('classifier', SVC)])``."""
        scaler, svc = pipeline.named_steps["scaler"], pipeline.named_steps["classifier"]
        meta = dict(meta)
        meta["svm"] = {**meta.get("svm", {}), "kernel": svc.kernel, "C": float(svc.C),
                       "gamma": float(svc._gamma), "n_support": int(len(svc.support_vectors_))}
        return cls(meta, svc.support_vectors_, svc.dual_coef_, svc.intercept_, scaler.scale_)

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def label(self) -> str:
        """How messages name this user: the file it came from, else ``user 'NAME'``."""
        return self.source or f"user {self.name!r}"

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"])

    @property
    def model(self) -> Dict[str, Any]:
        """Identity of the enrolment model: ``path``, ``sha256`` (of the weights), ``architecture``, ..."""
        return self.meta["model"]

    @property
    def canvas(self):
        return tuple(self.meta["preprocessing"]["canvas"])

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """SVM scores (higher = more genuine) of features ``(N, D)`` -> ``(N,)``."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != len(self.scale):
            raise ValueError(f"expected features of shape (N, {len(self.scale)}), got {f.shape}")
        x = f / self.scale
        sv = self.support_vectors
        if self.meta["svm"]["kernel"] == "linear":
            k = x @ sv.T
        else:
            d2 = (x * x).sum(1)[:, None] + (sv * sv).sum(1)[None, :] - 2.0 * (x @ sv.T)
            k = np.exp(-self.meta["svm"]["gamma"] * np.maximum(d2, 0.0))
        return k @ self.dual_coef[0] + self.intercept[0]

    def save(self, path: PathLike, key: Optional[bytes] = None) -> Path:
        """Write the user file (``.npz`` of plain arrays, no pickle) atomically; returns the path.

        ``key`` (default: ``$SIGVER_USER_KEY``, see :func:`sigver.verify.integrity.read_key`) adds an
        HMAC-SHA256 of the content; the SHA-256 is always stored.
        """
        from .integrity import read_key, seal

        key = read_key() if key is None else key
        path = Path(path)
        if path.is_dir():
            raise UserFileError(f"{path}: is a folder; give the path of the user file to write (e.g. alice.npz)")
        if not path.parent.is_dir():
            raise UserFileError(f"{path}: folder {path.parent} does not exist; create it first")
        meta = json.dumps(_jsonable(self.meta), allow_nan=False)
        arrays = {"support_vectors": self.support_vectors, "dual_coef": self.dual_coef,
                  "intercept": self.intercept, "scale": self.scale}
        arrays = {"meta": np.array(meta), **arrays, "integrity": np.array(json.dumps(seal(meta, arrays, key)))}

        def write(f):
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            f.write(buf.getvalue())

        atomic_write(path, write)
        self.source = str(path)
        return path

    def __repr__(self) -> str:
        return (f"EnrolledUser(name={self.name!r}, threshold={self.threshold:.4g}, "
                f"references={self.meta.get('enrollment', {}).get('n_references')}, "
                f"model={self.model.get('architecture')!r})")


def _jsonable(value):
    from ..evaluation.results import jsonable

    return jsonable(value)


def load_user(path: PathLike, key: Optional[bytes] = None) -> EnrolledUser:
    """Read a user file written by :meth:`EnrolledUser.save` (no unpickling), check its seal and values.

    ``key`` (default: ``$SIGVER_USER_KEY``): the HMAC key the user was enrolled with; when given, a file
    without a matching HMAC is refused.

    Raises
    ------
    UserFileError
        Missing, truncated or corrupt file, or not a sigver user file (one line naming it and what to do).
    """
    path = Path(path)
    again = "enrol the user again with `python -m sigver.verify enroll`"
    if not path.is_file():
        raise UserFileError(f"{path}: no such user file; {again}")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            missing = [k for k in ("meta",) + _ARRAYS if k not in files]
            if missing:
                raise UserFileError(f"{path}: not a sigver user file (missing {', '.join(missing)}); {again}")
            arrays = {k: z[k] for k in _ARRAYS}
            meta_text = str(z["meta"])
            integrity = str(z["integrity"]) if "integrity" in files else None
    except UserFileError:
        raise
    except Exception as e:  # zip / format / pickle errors
        raise UserFileError(f"{path}: cannot read the user file, it is truncated or corrupt "
                            f"({type(e).__name__}); {again}") from None
    try:
        meta = json.loads(meta_text)
    except ValueError:
        raise UserFileError(f"{path}: the user file's metadata is not valid JSON (corrupt file); {again}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserFileError(f"{path}: not a sigver user file; {again}")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise UserFileError(f"{path}: written by a newer sigver (user file format {meta.get('format_version')}); "
                            "upgrade sigver")
    _check_integrity(path, meta, meta_text, arrays, integrity, key)
    for entry in ("name", "threshold", "model", "preprocessing", "svm"):
        if entry not in meta:
            raise UserFileError(f"{path}: the user file has no {entry!r} entry (corrupt file); {again}")
    meta["threshold"] = _float(meta["threshold"])
    _check_values(path, meta, arrays)
    sv, dc, b, sc = (arrays[k] for k in _ARRAYS)
    ok = (sv.ndim == 2 and dc.size == len(sv) and b.size == 1 and sc.ndim == 1 and sv.shape[1] == len(sc)
          and all(np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) for a in (sv, dc, b, sc)))
    if not ok:
        raise UserFileError(f"{path}: the SVM arrays of the user file are inconsistent (corrupt file); {again}")
    return EnrolledUser(meta, sv, dc, b, sc, source=str(path))


def _check_integrity(path: Path, meta: dict, meta_text: str, arrays: dict, integrity: Optional[str],
                     key: Optional[bytes]) -> None:
    from .integrity import IntegrityError, check_seal, read_key

    key = read_key() if key is None else key
    if integrity is None:
        if int(meta.get("format_version", 0)) >= 2 or key is not None:
            raise UserFileError(f"{path}: the user file has no integrity seal"
                                f"{' (a key was given, so an HMAC is required)' if key is not None else ''}; "
                                "enrol the user again")
        return  # format 1 (before seals): nothing to check against
    try:
        stored = json.loads(integrity)
        if not isinstance(stored, dict):
            raise ValueError
    except ValueError:
        raise UserFileError(f"{path}: the user file's integrity entry is not valid JSON (corrupt file); enrol "
                            "the user again") from None
    try:
        check_seal(str(path), meta_text, arrays, stored, key)
    except IntegrityError as e:
        raise UserFileError(str(e)) from None


def _check_values(path: Path, meta: dict, arrays: dict) -> None:
    """Values a user file may hold: anything else is damage or an edit (refused with one line)."""
    def bad(what):
        return UserFileError(f"{path}: {what} (the file was damaged or edited); enrol the user again")

    if not math.isfinite(meta["threshold"]):
        raise bad(f"the threshold is {meta['threshold']}, not a finite number")
    svm = meta["svm"]
    if not isinstance(svm, dict) or svm.get("kernel") not in ("rbf", "linear"):
        raise bad(f"unknown SVM kernel {svm.get('kernel') if isinstance(svm, dict) else svm!r}")
    for name in ("gamma", "C"):
        v = svm.get(name)
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise bad(f"the SVM {name} is {v!r}, not a positive finite number")
    if svm["kernel"] == "rbf" and svm.get("gamma") is None:
        raise bad("the RBF SVM has no gamma")
    if np.any(arrays["scale"] <= 0):
        raise bad("a feature scale is not positive")
    pre = meta["preprocessing"]
    try:
        sizes = [tuple(int(v) for v in pre[k]) for k in ("canvas", "input_size")]
    except (KeyError, TypeError, ValueError):
        raise bad("the pre-processing settings (canvas, input_size) are missing or not sizes") from None
    if any(len(t) != 2 or min(t) < 1 for t in sizes):
        raise bad(f"the pre-processing sizes {sizes} are not positive (height, width) pairs")
    feature_size = meta["model"].get("feature_size") if isinstance(meta["model"], dict) else None
    if feature_size is not None and int(feature_size) != len(arrays["scale"]):
        raise bad(f"{len(arrays['scale'])} feature scales for a model of {feature_size} features")


def _float(v) -> float:
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return float(v)
