"""Writing (and reading back) the results of a writer-dependent evaluation.

Three formats, all written atomically (temporary file, then rename: a failed run never leaves a partial file
and never destroys an earlier one):

* **JSON** (:func:`save_json`): the arguments of the run, the metrics of every fold and a summary (mean and
  standard deviation over folds of every scalar metric). JSON has no NaN or infinity: a NaN (a rate with no
  sample, e.g. ``FAR_skilled`` on a dataset without skilled forgeries) is written as ``null``, ``+inf`` /
  ``-inf`` (a threshold that accepts nothing / everything) as the strings ``"inf"`` / ``"-inf"``.
  :func:`load_json` turns them back into floats.
* **Scores** (:func:`save_scores`): an ``.npz`` of plain arrays (no pickle). For each kind ``k`` in
  ``genuine``, ``random``, ``skilled``: ``k`` (float64 scores of all folds and users, concatenated),
  ``k_user`` (writer index of the classifier that gave each score) and ``k_fold`` (fold of each score);
  ``users`` (the exploitation writers, ascending), ``folds`` (number of folds). :func:`load_scores` rebuilds
  the per-fold lists of per-user arrays.
* **Pickle** (:func:`save_pickle`): the original sigver format (docs/formats.md), a list over folds of
  ``{'all_metrics': dict, 'predictions': {'genuinePreds': [...], 'randomPreds': [...], 'skilledPreds': [...]}}``.
  Only on request (a ``--save-path`` ending in ``.pickle`` or ``.pkl``).
"""
from __future__ import annotations

import io
import json
import math
import os
import pickle
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..fileio import atomic_write
from ..validation import check_finite

__all__ = [
    "KINDS", "PRED_KEYS", "check_scores", "result_paths", "jsonable", "summarize", "save_json", "load_json", "save_scores",
    "load_scores", "save_pickle", "PICKLE_SUFFIXES",
]

PathLike = Union[str, os.PathLike]
KINDS = ("genuine", "random", "skilled")
PRED_KEYS = {"genuine": "genuinePreds", "random": "randomPreds", "skilled": "skilledPreds"}
PICKLE_SUFFIXES = (".pickle", ".pkl")
_KNOWN_SUFFIXES = (".json", ".npz") + PICKLE_SUFFIXES


def result_paths(save_path: PathLike) -> Dict[str, Optional[Path]]:
    """The files written for ``--save-path``.

    ``results.pkl`` -> ``results.json``, ``results_scores.npz`` and ``results.pkl`` (the original pickle);
    ``results`` or ``results.json`` -> ``results.json`` and ``results_scores.npz`` (no pickle).
    """
    p = Path(save_path)
    base = p.with_suffix("") if p.suffix.lower() in _KNOWN_SUFFIXES else p
    return {
        "json": base.with_name(base.name + ".json"),
        "scores": base.with_name(base.name + "_scores.npz"),
        "pickle": p if p.suffix.lower() in PICKLE_SUFFIXES else None,
    }


def jsonable(value: Any) -> Any:
    """``value`` with numpy types made plain, NaN -> None and +-inf -> ``"inf"`` / ``"-inf"``."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return value


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def summarize(fold_metrics: Sequence[Mapping[str, Any]]) -> Dict[str, Dict[str, float]]:
    """Mean and (population) standard deviation over folds of every scalar metric.

    Parameters
    ----------
    fold_metrics : sequence of dict
        One metrics dict per fold (non-scalar entries such as ``auc_list`` are skipped).

    Returns
    -------
    dict name -> {'mean': float, 'std': float, 'n': int}
        NaN values are left out (``n`` counts the folds used); NaN mean when no fold has a value.
    """
    names: List[str] = []
    for m in fold_metrics:
        for k, v in m.items():
            if _is_scalar(v) and k not in names:
                names.append(k)
    out = {}
    for k in names:
        vals = np.array([float(m[k]) for m in fold_metrics if k in m and _is_scalar(m[k])], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        if len(vals) == 0:
            out[k] = {"mean": math.nan, "std": math.nan, "n": 0}
        elif np.isinf(vals).any():
            out[k] = {"mean": float(np.mean(vals)) if np.all(vals == vals[0]) else math.nan,
                      "std": math.nan, "n": int(len(vals))}
        else:
            out[k] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": int(len(vals))}
    return out


def save_json(path: PathLike, obj: Mapping[str, Any]) -> Path:
    """Write ``obj`` as indented JSON (see :func:`jsonable` for NaN / inf), atomically."""
    text = json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def load_json(path: PathLike) -> Dict[str, Any]:
    """Read a results JSON back, with ``"inf"`` / ``"-inf"`` turned into floats (``null`` stays None)."""
    with open(path, "r", encoding="utf-8") as f:
        return _unjson(json.load(f))


def _flat(predictions: Sequence[Mapping[str, Sequence[np.ndarray]]], users: Sequence[int], kind: str):
    scores, who, fold = [], [], []
    for k, preds in enumerate(predictions):
        per_user = preds[PRED_KEYS[kind]]
        if len(per_user) != len(users):
            raise ValueError(f"fold {k}: {len(per_user)} {kind} score arrays for {len(users)} users")
        for u, s in zip(users, per_user):
            s = np.asarray(s, dtype=np.float64).reshape(-1)
            scores.append(s)
            who.append(np.full(len(s), int(u), dtype=np.int64))
            fold.append(np.full(len(s), k, dtype=np.int64))
    cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt))
    return cat(scores, np.float64), cat(who, np.int64), cat(fold, np.int64)


def check_scores(predictions: Sequence[Mapping[str, Sequence[np.ndarray]]], what: str = "scores") -> None:
    """Raise :class:`~sigver.validation.NonFiniteError` (one line) if any score of any fold is NaN or infinite:
    nothing is written from scores that make no sense (a broken model or features)."""
    for k, fold in enumerate(predictions):
        for key in PRED_KEYS.values():
            parts = [np.asarray(a, dtype=np.float64).ravel() for a in fold.get(key, [])]
            if parts:
                check_finite(np.concatenate(parts), f"{what}: fold {k + 1}, {key}")


def save_scores(path: PathLike, predictions: Sequence[Mapping[str, Sequence[np.ndarray]]],
                users: Sequence[int], extra: Optional[Mapping[str, np.ndarray]] = None) -> Path:
    """Write the per-user scores of every fold to an ``.npz`` (plain arrays, readable without pickle).

    Parameters
    ----------
    predictions : sequence of dict
        One per fold: ``{'genuinePreds': [array per user], 'randomPreds': [...], 'skilledPreds': [...]}``.
    users : sequence of int
        The exploitation writers, in the order of the per-user arrays (ascending).
    extra : mapping, optional
        Further arrays to store (e.g. per-fold thresholds).

    Raises
    ------
    NonFiniteError
        A score is NaN or infinite (nothing is written).
    """
    check_scores(predictions, str(path))
    arrays: Dict[str, np.ndarray] = {"users": np.asarray(users, dtype=np.int64),
                                     "folds": np.asarray(len(predictions), dtype=np.int64)}
    for kind in KINDS:
        s, u, k = _flat(predictions, users, kind)
        arrays[kind], arrays[f"{kind}_user"], arrays[f"{kind}_fold"] = s, u, k
    for name, a in (extra or {}).items():
        arrays[name] = np.asarray(a)

    def write(f):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        f.write(buf.getvalue())

    return atomic_write(path, write)


def load_scores(path: PathLike) -> List[Dict[str, List[np.ndarray]]]:
    """Read a scores ``.npz`` back as one ``{'genuinePreds': [...], ...}`` dict per fold (users ascending)."""
    with np.load(path, allow_pickle=False) as z:
        users = z["users"]
        folds = int(z["folds"])
        out = [{} for _ in range(folds)]
        for kind in KINDS:
            s, u, k = z[kind], z[f"{kind}_user"], z[f"{kind}_fold"]
            for fold in range(folds):
                out[fold][PRED_KEYS[kind]] = [s[(k == fold) & (u == user)] for user in users]
    return out


def save_pickle(path: PathLike, fold_results: Sequence[Mapping[str, Any]]) -> Path:
    """Write the original sigver results pickle (docs/formats.md): a list over folds of
    ``{'all_metrics': dict, 'predictions': {...}}`` with plain floats and numpy arrays."""
    data = [{"all_metrics": dict(r["all_metrics"]),
             "predictions": {key: [np.asarray(a) for a in r["predictions"][key]] for key in PRED_KEYS.values()}}
            for r in fold_results]
    return atomic_write(path, lambda f: pickle.dump(data, f))
