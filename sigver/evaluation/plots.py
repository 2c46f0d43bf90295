"""Figures of a writer-dependent evaluation: ROC and DET curves, score distributions, per-user EERs.

    >>> from sigver.wd.plots import plot_all
    >>> plot_all("plots/", predictions, thresholds={"--thr": 0.0})  # doctest: +SKIP

``predictions`` is one dict per fold, ``{'genuinePreds': [array per user], 'randomPreds': [...],
'skilledPreds': [...]}`` (the ``predictions`` of :func:`sigver.wd.training.test_all_users`). Scores of all folds
are pooled ("global"); per-user curves pool a user's scores over the folds. Acceptance is ``score >= t``.
Uses matplotlib's Agg canvas directly (no pyplot, no display needed).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import metrics

__all__ = ["plot_all", "plot_roc", "plot_det", "plot_score_distributions", "plot_user_eer_histogram",
           "per_user_eer", "PLOT_FILES", "figure", "save_figure"]

PathLike = Union[str, os.PathLike]
PLOT_FILES = ("roc.png", "det.png", "score_distributions.png", "eer_per_user.png")
COLORS = {"genuine": "tab:green", "random": "tab:blue", "skilled": "tab:red"}
_KEYS = {"genuine": "genuinePreds", "random": "randomPreds", "skilled": "skilledPreds"}
_THR_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))


def figure(width: float, height: float, ncols: int = 1):
    """A matplotlib figure (Agg, no display needed) of ``ncols`` axes side by side: ``(fig, [axes])``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically; returns the path."""
    from ..fileio import atomic_write

    return atomic_write(path, lambda f: fig.savefig(f, format="png"))


def _per_user(predictions: Sequence[Mapping], kind: str) -> List[np.ndarray]:
    """Scores of each user pooled over folds."""
    n_users = len(predictions[0][_KEYS[kind]]) if predictions else 0
    return [np.concatenate([np.asarray(p[_KEYS[kind]][i], dtype=np.float64).reshape(-1) for p in predictions])
            for i in range(n_users)]


def _pooled(predictions: Sequence[Mapping], kind: str) -> np.ndarray:
    parts = [np.asarray(a, dtype=np.float64).reshape(-1) for p in predictions for a in p[_KEYS[kind]]]
    return np.concatenate(parts) if parts else np.zeros(0)


def _rates(genuine: np.ndarray, forgeries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """FAR and FRR at every distinct threshold (accept ``score >= t``), plus both ends."""
    fpr, tpr, _ = metrics.roc_curve(np.r_[np.ones(len(genuine)), -np.ones(len(forgeries))],
                                    np.r_[genuine, forgeries], drop_intermediate=False)
    return fpr, 1.0 - tpr


def _eer_point(genuine: np.ndarray, forgeries: np.ndarray) -> Tuple[float, float, float]:
    """(threshold, FAR, FRR) at the a-posteriori EER threshold (as :func:`metrics.compute_EER`)."""
    _, t = metrics.compute_EER(genuine, forgeries)
    return t, float(np.mean(forgeries >= t)), float(np.mean(genuine < t))


def per_user_eer(genuine_preds: Sequence[np.ndarray], skilled_preds: Sequence[np.ndarray]) -> np.ndarray:
    """EER of each user with its own a-posteriori threshold: ``(FRR_u + FAR_u) / 2`` (NaN without skilled)."""
    out = np.full(len(genuine_preds), np.nan)
    for i, (g, s) in enumerate(zip(genuine_preds, skilled_preds)):
        g, s = np.asarray(g, np.float64), np.asarray(s, np.float64)
        if len(g) and len(s):
            t = metrics.eer_threshold(np.r_[np.ones(len(g)), -np.ones(len(s))], np.r_[g, s])
            out[i] = (np.mean(g < t) + np.mean(s >= t)) / 2
    return out


def _kinds(predictions) -> List[str]:
    return [k for k in ("skilled", "random") if len(_pooled(predictions, k))]


def _subtitle(predictions) -> str:
    n_users = len(predictions[0]["genuinePreds"]) if predictions else 0
    return f"{n_users} users, {len(predictions)} fold{'s' if len(predictions) != 1 else ''} pooled"


def plot_roc(predictions: Sequence[Mapping], path: PathLike) -> Path:
    """ROC curves: global (skilled and random forgeries, EER marked) and per user (skilled, else random)."""
    fig, (ax, ax_u) = figure(11, 5, 2)
    genuine = _pooled(predictions, "genuine")
    kinds = _kinds(predictions)
    for kind in kinds:
        forg = _pooled(predictions, kind)
        far, frr = _rates(genuine, forg)
        auc = metrics.roc_auc(np.r_[np.ones(len(genuine)), -np.ones(len(forg))], np.r_[genuine, forg])
        t, e_far, e_frr = _eer_point(genuine, forg)
        ax.plot(100 * far, 100 * (1 - frr), color=COLORS[kind], lw=2,
                label=f"{kind} forgeries (AUC {auc:.3f})")
        ax.plot(100 * e_far, 100 * (1 - e_frr), "o", color=COLORS[kind], ms=8, mec="black",
                label=f"EER {kind}: {50 * (e_far + e_frr):.2f}% (t={t:.3g})")
    ax.plot([0, 100], [100, 0], color="grey", lw=0.8, ls=":", label="FAR = FRR line")
    ax.set_title(f"Global ROC ({_subtitle(predictions)})")
    _roc_axes(ax)
    ax.legend(loc="lower right", fontsize=8)

    kind = kinds[0] if kinds else None
    if kind is not None:
        gs, fs = _per_user(predictions, "genuine"), _per_user(predictions, kind)
        for g, f in zip(gs, fs):
            if len(g) and len(f):
                far, frr = _rates(g, f)
                ax_u.plot(100 * far, 100 * (1 - frr), color=COLORS[kind], lw=0.8, alpha=0.35)
        far, frr = _rates(genuine, _pooled(predictions, kind))
        ax_u.plot(100 * far, 100 * (1 - frr), color="black", lw=2, label=f"global ({kind})")
        ax_u.plot([], [], color=COLORS[kind], lw=0.8, label=f"one line per user ({len(gs)})")
        ax_u.legend(loc="lower right", fontsize=8)
    ax_u.set_title(f"Per-user ROC, genuine vs {kind or 'no'} forgeries")
    _roc_axes(ax_u)
    return save_figure(fig, Path(path))


def _roc_axes(ax) -> None:
    ax.set_xlabel("False acceptance rate FAR (%)")
    ax.set_ylabel("True acceptance rate 1 - FRR (%)")
    ax.set_xlim(-1, 101)
    ax.set_ylim(-1, 101)
    ax.grid(True, alpha=0.3)


def _drawable(far: np.ndarray, frr: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The operating points with both rates > 0 (a rate of 0 is off a log axis), in %."""
    keep = (far > 0) & (frr > 0)
    return 100 * far[keep], 100 * frr[keep]


def plot_det(predictions: Sequence[Mapping], path: PathLike) -> Path:
    """DET curves (FRR against FAR, both in % on log axes): global with the EER marked, and per user.

    Operating points where one of the rates is 0 cannot be drawn on a log axis and are left out (the legend
    says so when a whole curve or an EER point is affected); consecutive points are joined by straight lines.
    """
    fig, (ax, ax_u) = figure(11, 5, 2)
    genuine = _pooled(predictions, "genuine")
    kinds = _kinds(predictions)
    n = max([len(genuine)] + [len(_pooled(predictions, k)) for k in kinds])
    low = 10 ** np.floor(np.log10(100 * 0.8 / max(n, 1)))  # below one error in the largest set
    lim = (max(low, 1e-3), 100)
    for kind in kinds:
        forg = _pooled(predictions, kind)
        far, frr = _drawable(*_rates(genuine, forg))
        t, e_far, e_frr = _eer_point(genuine, forg)
        eer = 50 * (e_far + e_frr)
        label = f"{kind} forgeries" + ("" if len(far) else " (no point with both rates > 0)")
        ax.plot(far, frr, color=COLORS[kind], lw=2, label=label)
        if e_far > 0 and e_frr > 0:
            ax.plot(100 * e_far, 100 * e_frr, "o", color=COLORS[kind], ms=8, mec="black",
                    label=f"EER {kind}: {eer:.2f}% (FAR {100 * e_far:.2f}%, FRR {100 * e_frr:.2f}%)")
        else:
            ax.plot([], [], "o", color=COLORS[kind], ms=8, mec="black",
                    label=f"EER {kind}: {eer:.2f}% (off the log axes)")
    ax.plot(lim, lim, color="grey", lw=0.8, ls=":", label="FAR = FRR")
    ax.set_title(f"Global DET ({_subtitle(predictions)})")
    _det_axes(ax, lim)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)

    kind = kinds[0] if kinds else None
    if kind is not None:
        gs, fs = _per_user(predictions, "genuine"), _per_user(predictions, kind)
        for g, f in zip(gs, fs):
            if len(g) and len(f):
                far, frr = _drawable(*_rates(g, f))
                ax_u.plot(far, frr, color=COLORS[kind], lw=0.8, alpha=0.4, marker=".", ms=3)
        far, frr = _drawable(*_rates(genuine, _pooled(predictions, kind)))
        ax_u.plot(far, frr, color="black", lw=2, label=f"global ({kind})")
        ax_u.plot([], [], color=COLORS[kind], lw=0.8, marker=".", ms=3,
                  label=f"one line per user ({len(gs)}; points with a 0 rate left out)")
        ax_u.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax_u.plot(lim, lim, color="grey", lw=0.8, ls=":")
    ax_u.set_title(f"Per-user DET, genuine vs {kind or 'no'} forgeries")
    _det_axes(ax_u, lim)
    return save_figure(fig, Path(path))


def _det_axes(ax, lim) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.yaxis.set_major_formatter(fmt)
    ax.set_xlabel("False acceptance rate FAR (%, log scale)")
    ax.set_ylabel("False rejection rate FRR (%, log scale)")
    ax.grid(True, which="both", alpha=0.3)


def plot_score_distributions(predictions: Sequence[Mapping], path: PathLike,
                             thresholds: Optional[Mapping[str, float]] = None, bins: int = 60) -> Path:
    """Histograms (density) of genuine, random-forgery and skilled-forgery scores, thresholds as lines."""
    fig, (ax,) = figure(12, 5)
    data = {k: _pooled(predictions, k) for k in ("genuine", "random", "skilled")}
    present = [k for k in data if len(data[k])]
    finite = np.concatenate([data[k] for k in present]) if present else np.zeros(1)
    lo, hi = np.percentile(finite, [0.1, 99.9]) if len(finite) > 1 else (finite.min() - 1, finite.max() + 1)
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    edges = np.linspace(lo, hi, bins + 1)
    for k in present:
        s = np.clip(data[k], lo, hi)
        ax.hist(s, bins=edges, density=True, alpha=0.45, color=COLORS[k], label=f"{k} (n={len(s)})")
        ax.hist(s, bins=edges, density=True, histtype="step", lw=1.5, color=COLORS[k])
    if len(data["genuine"]) and len(data["skilled"]):
        t, _, _ = _eer_point(data["genuine"], data["skilled"])
        ax.axvline(t, color="black", lw=1.5, label=f"a-posteriori EER threshold (skilled) = {t:.3g}")
    for (name, t), ls in zip((thresholds or {}).items(), _THR_STYLES):
        if t is not None and np.isfinite(t):
            ax.axvline(t, color="dimgrey", lw=1.5, ls=ls, label=f"{name} = {t:.3g}")
    ax.set_xlabel("SVM score (decision value; higher = more genuine, accepted if >= threshold)")
    ax.set_ylabel("Density (histogram area = 1 per class)")
    ax.set_title(f"Score distributions ({_subtitle(predictions)}; tails clipped at 0.1/99.9 percentiles)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, Path(path))


def plot_user_eer_histogram(predictions: Sequence[Mapping], path: PathLike) -> Path:
    """Histogram of the per-user EER (user's own a-posteriori threshold, genuine vs skilled; scores of all
    folds pooled per user), with the mean and median marked."""
    fig, (ax,) = figure(8, 4.8)
    kind = "skilled" if len(_pooled(predictions, "skilled")) else "random"
    eers = 100 * per_user_eer(_per_user(predictions, "genuine"), _per_user(predictions, kind))
    eers = eers[~np.isnan(eers)]
    if len(eers):
        top = max(5.0, float(np.ceil(eers.max() / 5) * 5))
        ax.hist(eers, bins=np.linspace(0, top, int(top / 2.5) + 1 if top <= 50 else 21), color=COLORS[kind],
                alpha=0.7, edgecolor="black")
        ax.axvline(eers.mean(), color="black", lw=1.5, label=f"mean {eers.mean():.2f}%")
        ax.axvline(np.median(eers), color="black", lw=1.5, ls="--", label=f"median {np.median(eers):.2f}%")
        ax.legend(fontsize=9)
    ax.set_xlabel(f"Per-user EER (%), genuine vs {kind} forgeries, user's own a-posteriori threshold")
    ax.set_ylabel("Number of users")
    ax.set_title(f"Distribution of per-user EER ({len(eers)} users, {len(predictions)} fold(s) pooled)")
    ax.grid(True, alpha=0.3)
    return save_figure(fig, Path(path))


def plot_all(out_dir: PathLike, predictions: Sequence[Mapping],
             thresholds: Optional[Mapping[str, float]] = None) -> Dict[str, Path]:
    """Write every figure (:data:`PLOT_FILES`) into ``out_dir`` (created) and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "roc": plot_roc(predictions, out / "roc.png"),
        "det": plot_det(predictions, out / "det.png"),
        "scores": plot_score_distributions(predictions, out / "score_distributions.png", thresholds),
        "eer_per_user": plot_user_eer_histogram(predictions, out / "eer_per_user.png"),
    }
