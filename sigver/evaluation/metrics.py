"""Verification metrics: FRR, FAR, AUC, EER (global and per-user thresholds), deployment thresholds.

One module for every stage that produces scores (``wd``, ``wi``, ``metalearning``, ``verify``). Scores are
"higher = more genuine"; a signature is **accepted** when ``score >= threshold``. Labels are positive
(genuine) when ``label > 0`` (so ``+1/-1``, ``1/0`` and ``True/False`` all work).

The definitions are those of the original ``sigver/wd/metrics.py`` (docs/protocols.md), computed with numpy instead
of Python sorts:

* ``FRR = 1 - mean(genuine >= t0)``, ``FAR_random = 1 - mean(random < t0)``,
  ``FAR_skilled = 1 - mean(skilled < t0)`` (all users pooled).
* ``auc_list`` / ``mean_AUC``: per-user ROC AUC of genuine (+) vs **skilled** (-) scores, ties count 1/2
  (the same value as ``sklearn.metrics.roc_auc_score``).
* ``EER``: the ROC curve of all genuine vs all skilled scores (``sklearn.metrics.roc_curve`` semantics,
  ``drop_intermediate=True``, first threshold ``+inf``); the threshold whose ``|FPR - (1 - TPR)|`` is the
  smallest (first one in decreasing-threshold order on ties) is chosen a posteriori, and
  ``EER = (FRR(t) + FAR_skilled(t)) / 2``.
* ``EER_userthresholds``: the same search per user; pooled error counts over pooled sample counts per class,
  then the mean of the two rates.

The ROC curve is our own implementation (frozen semantics, independent of the installed scikit-learn
version); tests compare it with scikit-learn's.

For deployment (sigver#23) the threshold must be fixed beforehand: :func:`error_rates` gives FRR/FAR at a
given threshold, :func:`threshold_at_far` / :func:`threshold_at_frr` find the threshold that reaches a target
rate on development scores.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "roc_curve", "roc_auc", "eer_threshold", "compute_metrics", "compute_AUCs", "compute_EER",
    "calculate_EER_user_thresholds", "error_rates", "threshold_at_far", "threshold_at_frr", "writer_separation",
]

ArrayList = Sequence[np.ndarray]


def _as_scores(a, name: str = "scores") -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 1:
        a = a.reshape(-1)
    if np.isnan(a).any():
        raise ValueError(f"{name} contain NaN")
    return a


def _labels_scores(labels, scores) -> Tuple[np.ndarray, np.ndarray]:
    scores = _as_scores(scores)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores must have the same length, got {labels.shape[0]} and {scores.shape[0]}")
    return labels > 0, scores


def _pos_neg_scores(labels, scores) -> Tuple[np.ndarray, np.ndarray]:
    positive, scores = _labels_scores(labels, scores)
    return scores[positive], scores[~positive]


def _cumulative_counts(genuine: np.ndarray, forgeries: np.ndarray):
    """Distinct thresholds (decreasing) and true/false positive counts at each (``score >= threshold``)."""
    scores = np.concatenate([genuine, forgeries])
    positive = np.concatenate([np.ones(len(genuine), dtype=np.int64), np.zeros(len(forgeries), dtype=np.int64)])
    order = np.argsort(-scores, kind="stable")
    scores = scores[order]
    positive = positive[order]
    # last position of each group of equal scores
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    tps = np.cumsum(positive)[last]
    fps = (last + 1) - tps
    return scores[last], tps, fps


def _roc_from_split(genuine: np.ndarray, forgeries: np.ndarray, drop_intermediate: bool = True):
    thresholds, tps, fps = _cumulative_counts(genuine, forgeries)
    if drop_intermediate and len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2) != 0, np.diff(tps, 2) != 0), True])
        thresholds, tps, fps = thresholds[keep], tps[keep], fps[keep]
    tps = np.r_[0, tps].astype(np.float64)
    fps = np.r_[0, fps].astype(np.float64)
    thresholds = np.r_[np.inf, thresholds]
    with np.errstate(divide="ignore", invalid="ignore"):
        fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
        tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def roc_curve(labels, scores, drop_intermediate: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with the semantics of ``sklearn.metrics.roc_curve`` (scikit-learn >= 1.3).

    Parameters
    ----------
    labels : array-like of shape (n,)
        Positive (genuine) where ``labels > 0``.
    scores : array-like of shape (n,)
        Scores, higher = more genuine.
    drop_intermediate : bool, default True
        Drop thresholds that are collinear on the curve (as scikit-learn does by default).

    Returns
    -------
    fpr, tpr : ndarray of shape (m,)
        False and true positive rates of accepting ``score >= thresholds[i]``; NaN when a class is empty.
    thresholds : ndarray of shape (m,)
        Decreasing; ``thresholds[0] = +inf`` (nothing accepted).
    """
    genuine, forgeries = _pos_neg_scores(labels, scores)
    return _roc_from_split(genuine, forgeries, drop_intermediate)


def _auc_split(genuine: np.ndarray, forgeries: np.ndarray) -> float:
    """P(genuine > forgery) + P(genuine == forgery) / 2, from counts (exact rational, then one division)."""
    if len(genuine) == 0 or len(forgeries) == 0:
        return math.nan
    f = np.sort(forgeries)
    below = np.searchsorted(f, genuine, side="left")
    not_above = np.searchsorted(f, genuine, side="right")
    # 2 * (#f < g) + (#f == g), summed over genuine, is an integer: no rounding before the division
    twice = int(np.sum(below + not_above))
    return twice / (2.0 * len(genuine) * len(forgeries))


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (ties count 1/2), the value of ``sklearn.metrics.roc_auc_score``.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Positive (genuine) where ``labels > 0``.
    scores : array-like of shape (n,)

    Returns
    -------
    float
        NaN when one class is empty (scikit-learn raises instead).
    """
    genuine, forgeries = _pos_neg_scores(labels, scores)
    return _auc_split(genuine, forgeries)


def _eer_threshold_split(genuine: np.ndarray, forgeries: np.ndarray) -> float:
    if len(genuine) == 0 or len(forgeries) == 0:
        return math.nan
    fpr, tpr, thresholds = _roc_from_split(genuine, forgeries, drop_intermediate=True)
    # np.argmin returns the first minimum, as the original's stable sort of (index, value) pairs did
    return float(thresholds[np.argmin(np.abs(fpr - (1 - tpr)))])


def eer_threshold(labels, scores) -> float:
    """The a-posteriori threshold where FPR is closest to 1 - TPR (the original's EER threshold).

    Parameters
    ----------
    labels : array-like of shape (n,)
        Positive (genuine) where ``labels > 0``.
    scores : array-like of shape (n,)

    Returns
    -------
    float
        A threshold from :func:`roc_curve` (first one on ties, in decreasing order); NaN if a class is empty.
    """
    genuine, forgeries = _pos_neg_scores(labels, scores)
    return _eer_threshold_split(genuine, forgeries)


def _rejected_rate(genuine: np.ndarray, t) -> float:
    # spelled as in the original (1 - mean(accepted)) so that the floats are the same
    return float(1 - np.mean(genuine >= t)) if len(genuine) else math.nan


def _accepted_rate(forgeries: np.ndarray, t) -> float:
    return float(1 - np.mean(forgeries < t)) if len(forgeries) else math.nan


def compute_EER(all_genuine_preds: np.ndarray, all_skilled_preds: np.ndarray) -> Tuple[float, float]:
    """Equal error rate with one global threshold chosen a posteriori.

    Parameters
    ----------
    all_genuine_preds : ndarray of shape (n_genuine,)
        Scores of the genuine signatures of all users.
    all_skilled_preds : ndarray of shape (n_skilled,)
        Scores of the skilled forgeries of all users.

    Returns
    -------
    eer : float
        ``(FRR(t) + FAR_skilled(t)) / 2``; NaN when a class is empty.
    t : float
        The threshold (see :func:`eer_threshold`).
    """
    g = _as_scores(all_genuine_preds, "genuine scores")
    s = _as_scores(all_skilled_preds, "skilled scores")
    t = _eer_threshold_split(g, s)
    if math.isnan(t):
        return math.nan, t
    return (_rejected_rate(g, t) + _accepted_rate(s, t)) / 2.0, t


def calculate_EER_user_thresholds(genuine_preds: ArrayList, skilled_preds: ArrayList) -> float:
    """Equal error rate with one a-posteriori threshold per user.

    Parameters
    ----------
    genuine_preds, skilled_preds : list of ndarray
        One array of scores per user (same number of users in both).

    Returns
    -------
    float
        Mean of the pooled genuine error rate (``score < t_u``) and the pooled skilled error rate
        (``score >= t_u``). Users with no genuine or no skilled score are left out; NaN if none remains.
    """
    _check_same_users(genuine_preds, skilled_preds)
    gen_err = sk_err = n_gen = n_sk = 0
    for g, s in zip(genuine_preds, skilled_preds):
        g = _as_scores(g, "genuine scores")
        s = _as_scores(s, "skilled scores")
        if len(g) == 0 or len(s) == 0:
            continue
        t = _eer_threshold_split(g, s)
        gen_err += int(np.sum(g < t))
        sk_err += int(np.sum(s >= t))
        n_gen += len(g)
        n_sk += len(s)
    if n_gen == 0:
        return math.nan
    return (float(gen_err) / n_gen + float(sk_err) / n_sk) / 2.0


def compute_AUCs(genuine_preds: ArrayList, skilled_preds: ArrayList) -> Tuple[List[float], float]:
    """Per-user AUC of genuine vs skilled scores, and their mean.

    Parameters
    ----------
    genuine_preds, skilled_preds : list of ndarray
        One array of scores per user.

    Returns
    -------
    aucs : list of float
        One per user (NaN for a user with no genuine or no skilled score).
    mean_auc : float
        Mean over the users with a defined AUC (NaN if none).
    """
    _check_same_users(genuine_preds, skilled_preds)
    aucs = [_auc_split(_as_scores(g), _as_scores(s)) for g, s in zip(genuine_preds, skilled_preds)]
    defined = [a for a in aucs if not math.isnan(a)]
    mean = float(np.mean(defined)) if defined else math.nan
    return aucs, mean


def _check_same_users(a: ArrayList, b: ArrayList) -> None:
    if len(a) != len(b):
        raise ValueError(f"expected one score array per user in each list, got {len(a)} and {len(b)} users")


def _concat(preds: Union[ArrayList, np.ndarray], name: str) -> np.ndarray:
    if isinstance(preds, np.ndarray) and preds.dtype != object:
        return _as_scores(preds, name)
    parts = [_as_scores(p, name) for p in preds]
    return np.concatenate(parts) if parts else np.zeros(0)


def compute_metrics(genuine_preds: ArrayList, random_preds: ArrayList, skilled_preds: ArrayList,
                    global_threshold: float = 0.0) -> Dict:
    """All metrics of the original evaluation (docs/protocols.md) from per-user scores.

    Parameters
    ----------
    genuine_preds, random_preds, skilled_preds : list of ndarray
        One array of scores per user (the user's test genuine signatures, random forgeries and skilled
        forgeries). Users must be in the same order in the three lists.
    global_threshold : float, default 0
        The fixed threshold ``t0`` of ``FRR``, ``FAR_random`` and ``FAR_skilled``.

    Returns
    -------
    dict
        ``FRR``, ``FAR_random``, ``FAR_skilled`` (at ``t0``), ``mean_AUC``, ``EER`` (global a-posteriori
        threshold), ``EER_userthresholds``, ``auc_list`` (list, one per user) and ``global_threshold`` (the
        a-posteriori EER threshold, **not** ``t0``, as in the original). Plain Python floats; NaN where a
        rate has no sample.
    """
    _check_same_users(genuine_preds, skilled_preds)
    _check_same_users(genuine_preds, random_preds)
    all_genuine = _concat(genuine_preds, "genuine scores")
    all_random = _concat(random_preds, "random-forgery scores")
    all_skilled = _concat(skilled_preds, "skilled scores")
    t0 = float(global_threshold)

    aucs, mean_auc = compute_AUCs(genuine_preds, skilled_preds)
    eer, t = compute_EER(all_genuine, all_skilled)
    return {
        "FRR": _rejected_rate(all_genuine, t0),
        "FAR_random": _accepted_rate(all_random, t0),
        "FAR_skilled": _accepted_rate(all_skilled, t0),
        "mean_AUC": mean_auc,
        "EER": eer,
        "EER_userthresholds": calculate_EER_user_thresholds(genuine_preds, skilled_preds),
        "auc_list": aucs,
        "global_threshold": t,
    }


def error_rates(genuine_preds, random_preds=None, skilled_preds=None, threshold=0.0) -> Dict[str, float]:
    """FRR and FAR at a threshold fixed beforehand (deployment, sigver#23).

    Parameters
    ----------
    genuine_preds, random_preds, skilled_preds : ndarray of shape (n,) or list of ndarray (one per user)
        Scores; ``random_preds`` / ``skilled_preds`` may be None.
    threshold : float or array-like of shape (n_users,), default 0
        One global threshold, or one per user (then every score argument must be a list, one array per user).

    Returns
    -------
    dict
        ``FRR`` (genuine with ``score < threshold``), ``FAR_random`` and ``FAR_skilled`` (forgeries with
        ``score >= threshold``), pooled over users; only the keys whose scores were given. NaN when empty.
    """
    thr = np.asarray(threshold, dtype=np.float64)
    given = {"FRR": genuine_preds, "FAR_random": random_preds, "FAR_skilled": skilled_preds}
    out = {}
    for key, preds in given.items():
        if preds is None:
            continue
        if thr.ndim == 0:
            scores = _concat(preds, key)
            t = float(thr)
        else:
            if isinstance(preds, np.ndarray) and preds.dtype != object:
                raise ValueError("per-user thresholds need one score array per user (a list), not one array")
            if len(preds) != len(thr):
                raise ValueError(f"got {len(thr)} thresholds for {len(preds)} users")
            parts = [_as_scores(p, key) for p in preds]
            scores = np.concatenate(parts) if parts else np.zeros(0)
            t = np.repeat(thr, [len(p) for p in parts])
        out[key] = _rejected_rate(scores, t) if key == "FRR" else _accepted_rate(scores, t)
    return out


def _check_rate(target: float, name: str) -> float:
    target = float(target)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {target}")
    return target


def threshold_at_far(forgery_scores, target_far: float) -> float:
    """The lowest threshold whose false acceptance rate on ``forgery_scores`` is at most ``target_far``.

    Parameters
    ----------
    forgery_scores : array-like of shape (n,) or list of arrays (pooled)
        Development forgery scores (random or skilled).
    target_far : float in [0, 1]

    Returns
    -------
    float
        ``t`` such that the fraction of forgeries with ``score >= t`` is ``<= target_far`` and no lower
        threshold satisfies that (so FRR is as low as it can be). ``-inf`` when ``target_far`` allows every
        forgery; just above the highest score when it allows none.
    """
    target = _check_rate(target_far, "target_far")
    s = np.sort(_concat(forgery_scores, "forgery scores"))[::-1]
    if len(s) == 0:
        raise ValueError("no forgery scores to set a threshold on")
    k = int(math.floor(target * len(s) + 1e-9))  # forgeries allowed through
    if k >= len(s):
        return -math.inf
    # accept strictly above the (k+1)-th highest score; ties with it are rejected too
    return float(np.nextafter(s[k], np.inf))


def threshold_at_frr(genuine_scores, target_frr: float) -> float:
    """The highest threshold whose false rejection rate on ``genuine_scores`` is at most ``target_frr``.

    Parameters
    ----------
    genuine_scores : array-like of shape (n,) or list of arrays (pooled)
        Development genuine scores.
    target_frr : float in [0, 1]

    Returns
    -------
    float
        ``t`` such that the fraction of genuine with ``score < t`` is ``<= target_frr`` and no higher threshold
        satisfies that (so FAR is as low as it can be). ``+inf`` when every genuine may be rejected.
    """
    target = _check_rate(target_frr, "target_frr")
    g = np.sort(_concat(genuine_scores, "genuine scores"))
    if len(g) == 0:
        raise ValueError("no genuine scores to set a threshold on")
    k = int(math.floor(target * len(g) + 1e-9))  # genuine allowed to be rejected
    if k >= len(g):
        return math.inf
    return float(g[k])


def writer_separation(features, y) -> Dict[str, float]:
    """Leave-one-out 1-NN writer accuracy and between/within-writer distance ratio (Euclidean).

    Parameters
    ----------
    features : ndarray, shape (N, D)
    y : ndarray, shape (N,)
        Writer of each row; every writer needs at least 2 rows.

    Returns
    -------
    dict
        ``nn_acc`` (fraction of rows whose nearest other row is of the same writer) and ``ratio`` (mean
        distance between rows of different writers / mean distance between rows of the same writer).
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(y)
    sq = (f ** 2).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * f @ f.T, 0.0))
    same = y[:, None] == y[None, :]
    off_diag = ~np.eye(len(y), dtype=bool)
    if not (same & off_diag).any() or not (~same).any():
        raise ValueError("writer_separation needs at least 2 writers with at least 2 rows each")
    nn_acc = float((y[np.where(off_diag, d, np.inf).argmin(1)] == y).mean())
    return {"nn_acc": nn_acc, "ratio": float(d[~same].mean() / d[same & off_diag].mean())}
