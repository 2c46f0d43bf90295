"""Synthetic offline signatures (in the spirit of GPDS-synthetic), for tests, demos and experiments.

Real signature data sets cannot be redistributed, so this module simulates writers. Following Ferrer et al.
(GPDS-synthetic, built on Plamondon's kinematic theory of rapid movements):

- each **writer** has a *template*: a cursive name (an optional capital, lower-case letters drawn from a small
  cursive alphabet, letters shrinking into a garland towards the end as real signatures do), optional separate
  initials, i-dots and t-bars, and an optional flourish (underline, paraph loop or tail). Each pen-down
  component is a sequence of *virtual targets* joined by sigma-lognormal strokes
  (:mod:`sigver.datasets._lognormal`). Writers differ in size, slant, proportions, letter forms, roundness,
  fluency (stroke overlap), pen width and ink;
- a **genuine** signature is the template with small variations of the targets, the stroke curvatures and
  timings, and of size, slant, rotation, position, pen width and ink darkness;
- a **skilled forgery** is written by another simulated hand (one of a few forgers per writer) imitating the
  template: larger, systematic distortions of the shape, slower and less fluent movement (less stroke
  overlap, hence angular joins), tremor along the path, hesitation pen lifts, blunt stroke endings and the
  forger's own pen;
- **random forgeries** are the other writers' signatures (nothing to generate).

Images are dark ink (20-90) on light, slightly textured and noisy paper (about 228-248), at a GPDS-like scan
size (500-800 x 900-1300 pixels); every ink bounding box fits well inside the GPDS canvas 952 x 1360, so the
``gpds`` reader and the pre-processing never crop a signature.

Every image is a pure function of ``(seed, user, kind, index)``: the output does not depend on the number of
worker processes or on the order of generation.

Command line::

    python -m sigver.datasets.synthetic --users 100 --genuine 24 --forgeries 30 --seed 1 --out synth/
    python -m sigver.datasets.synthetic --users 100 --seed 1 --npz synth.npz --contact-sheet sheet.png

``--out`` writes the GPDS folder layout (``DIR/001/c-001-01.png``, ``DIR/001/cf-001-01.png``; writers numbered
from 1), read back with ``get_dataset('gpds', DIR)``; ``--npz`` pre-processes straight into a dataset file
(:func:`sigver.preprocessing.process_dataset.process_dataset` on :class:`SyntheticSignatures`).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from ..cli import cli_main, nonnegative_int, positive_int
from ..errors import SigverError
from ._lognormal import resample_by_length, strokes_from_targets, trajectory
from .base import SignatureDataset

__all__ = [
    "SyntheticSignatures",
    "generate_dataset",
    "render_signature",
    "encode_png",
    "synthetic_contact_sheet",
    "write_folder",
    "SyntheticOutput",
    "writer_template",
    "GENUINE",
    "SKILLED",
    "main",
]

GENUINE = 0
SKILLED = 1
_KIND_NAMES = {GENUINE: "c", SKILLED: "cf"}
#: the GPDS canvas (height, width); every generated ink bounding box fits inside it with a wide margin
GPDS_CANVAS = (952, 1360)
#: largest ink bounding box (height, width) in pixels that the generator produces
MAX_INK_BOX = (720, 1180)
#: number of simulated forgers per writer (each skilled forgery is by one of them)
N_FORGERS = 5
_MARKER = "synthetic.json"

# random streams (the last element of the seed sequence entropy)
_STREAM_TEMPLATE, _STREAM_GENUINE, _STREAM_SKILLED, _STREAM_FORGER = 0, 1, 2, 3


def _rng(seed: int, user: int, stream: int, index: int = 0) -> np.random.Generator:
    """Independent generator for one (seed, user, stream, index) (SeedSequence hashing)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x5197, int(user), stream,
                                                          int(index)]))


# =====================================================================================================
# cursive alphabet: virtual targets (x, y, dtheta) relative to the letter's entry point on the baseline.
# Units: x-height. y = 2 is the ascender line, y = -1 the descender line (rescaled per writer).
# dtheta > 0 turns counter-clockwise (the arc bulges to the right of its chord).

_UP = (0.22, 1.0, 0.35)  # connecting up-stroke to the x-height

_LETTERS = {
    "e": [(0.42, 0.48, 0.5), (0.13, 0.62, 2.5), (0.5, 0.04, 1.3)],
    "l": [(0.42, 2.0, 0.45), (0.22, 2.05, 2.7), (0.14, 0.0, 0.08), (0.48, 0.06, 1.4)],
    "i": [_UP, (0.2, 0.0, 0.05), (0.45, 0.06, 1.4)],
    "t": [(0.3, 1.75, 0.3), (0.2, 0.0, 0.05), (0.48, 0.06, 1.4)],
    "n": [(0.18, 1.0, 0.3), (0.16, 0.0, 0.0), (0.42, 0.95, -1.6), (0.56, 0.0, -0.2), (0.82, 0.06, 1.4)],
    "m": [(0.18, 1.0, 0.3), (0.16, 0.0, 0.0), (0.38, 0.95, -1.6), (0.48, 0.0, -0.15), (0.72, 0.95, -1.6),
          (0.84, 0.0, -0.2), (1.1, 0.06, 1.4)],
    "u": [(0.15, 1.0, 0.3), (0.33, 0.0, 0.9), (0.55, 1.0, 0.6), (0.55, 0.0, 0.0), (0.8, 0.06, 1.4)],
    "a": [(0.55, 0.9, 0.4), (0.12, 0.6, 1.5), (0.33, 0.0, 1.4), (0.6, 0.55, 0.9), (0.63, 1.0, 0.1),
          (0.62, 0.0, 0.0), (0.88, 0.06, 1.4)],
    "o": [(0.5, 0.9, 0.4), (0.12, 0.6, 1.5), (0.3, 0.0, 1.4), (0.56, 0.5, 1.0), (0.46, 0.95, 0.9),
          (0.78, 0.55, -0.9), (0.95, 0.06, 0.5)],
    "d": [(0.55, 0.9, 0.4), (0.12, 0.6, 1.5), (0.33, 0.0, 1.4), (0.6, 0.55, 0.9), (0.7, 2.0, 0.1),
          (0.62, 0.0, 0.0), (0.88, 0.06, 1.4)],
    "c": [(0.5, 0.88, 0.4), (0.14, 0.6, 1.6), (0.52, 0.04, 1.6)],
    "r": [(0.3, 1.0, 0.3), (0.4, 0.85, -0.8), (0.56, 0.95, 0.5), (0.5, 0.0, 0.1), (0.76, 0.06, 1.3)],
    "s": [(0.38, 1.0, 0.3), (0.52, 0.3, -1.3), (0.12, 0.12, -1.6), (0.55, 0.05, 0.9)],
    "h": [(0.42, 2.0, 0.45), (0.22, 2.05, 2.7), (0.14, 0.0, 0.08), (0.42, 0.95, -1.6), (0.56, 0.0, -0.2),
          (0.82, 0.06, 1.4)],
    "g": [(0.55, 0.9, 0.4), (0.12, 0.6, 1.5), (0.33, 0.0, 1.4), (0.6, 0.55, 0.9), (0.63, 1.0, 0.1),
          (0.6, -0.85, 0.0), (0.35, -1.2, -1.6), (0.45, -0.3, -1.2), (0.82, 0.1, 0.3)],
    "y": [(0.15, 1.0, 0.3), (0.33, 0.0, 0.9), (0.55, 1.0, 0.6), (0.55, -0.85, 0.0), (0.3, -1.2, -1.6),
          (0.42, -0.3, -1.2), (0.78, 0.1, 0.3)],
}
_LETTER_FREQ = {"e": 12, "a": 10, "n": 8, "i": 7, "r": 7, "o": 6, "l": 6, "t": 6, "u": 5, "m": 4, "d": 4,
                "c": 4, "s": 3, "h": 3, "g": 2, "y": 2}

# capitals: targets (x, y, dtheta) in cap-height units, starting at ``start``; the last target is the exit.
_CAPITALS = {
    # stem and bowl (D, P, B-like): stem down, small loop at the foot, bowl clockwise
    "bowl": ((0.32, 1.0), [(0.2, 0.0, 0.1), (0.02, 0.1, -2.2), (0.3, 1.02, -0.5), (0.78, 0.55, -1.6),
                           (0.25, 0.04, -1.5), (0.95, 0.08, 0.6)]),
    # loop on top then long stem and a loop on the baseline (L, J, S-like)
    "loop": ((0.0, 0.45), [(0.55, 1.0, 0.7), (0.32, 0.98, 2.7), (0.12, 0.0, 0.05), (-0.12, 0.14, -2.4),
                           (0.75, 0.05, 0.4)]),
    # pointed arches (M, N-like)
    "arches": ((0.0, 0.0), [(0.18, 1.0, -0.4), (0.3, 0.0, 0.0), (0.5, 0.9, -1.3), (0.6, 0.0, 0.0),
                            (0.8, 0.8, -1.3), (0.9, 0.0, 0.0), (1.08, 0.1, 1.3)]),
    # open counter-clockwise curve (C, E, G-like)
    "open": ((0.7, 0.82), [(0.4, 1.0, 1.0), (0.02, 0.5, 1.2), (0.3, 0.0, 1.2), (0.72, 0.22, 0.8),
                           (0.98, 0.08, -0.4)]),
    # big oval with a return loop (O, Q-like)
    "oval": ((0.6, 0.9), [(0.1, 0.75, 1.3), (0.15, 0.0, 1.6), (0.7, 0.35, 1.6), (0.5, 1.0, 1.5),
                          (0.38, 0.6, 1.4), (0.9, 0.1, 0.4)]),
}


# =====================================================================================================
# writer templates

@dataclass
class Component:
    """One pen-down component of a template: virtual targets in template units (x-height, y up).

    Attributes
    ----------
    start : ndarray, shape (2,)
    targets : ndarray, shape (n, 2)
    dtheta : ndarray, shape (n,)
        Turning angle of each stroke (radians).
    role : str
        ``'name'``, ``'capital'``, ``'dot'``, ``'bar'`` or ``'flourish'``.
    """

    start: np.ndarray
    targets: np.ndarray
    dtheta: np.ndarray
    role: str = "name"


@dataclass
class Template:
    """A writer: its pen-down components (template units: x-height, y up) and its style.

    ``height_px`` converts template units to pixels; ``slant`` is the shear ``x += slant * y``;
    ``rotation`` the baseline angle (radians); ``mu``, ``sigma`` and ``overlap`` the writer's lognormal
    timing (onset interval = ``overlap * exp(mu)`` seconds: smaller is more fluent); ``pen`` the pen's
    Gaussian radius in pixels; ``ink`` the ink grey level; ``gain`` the ink saturation (see :func:`_render`).
    ``stroke_mu`` and ``stroke_gap`` are the writer's habitual per-stroke timing deviations.
    """

    components: List[Component]
    height_px: float        # x-height in pixels
    slant: float            # shear (x += slant * y)
    rotation: float         # baseline angle, radians (counter-clockwise)
    mu: float               # lognormal log-time delay
    sigma: float            # lognormal log-response time
    overlap: float          # onset interval / exp(mu): smaller = more overlap = more fluent
    pen: float              # pen Gaussian sigma in pixels
    ink: float              # ink grey level
    gain: float             # ink saturation gain
    stroke_mu: List[np.ndarray] = field(default_factory=list)     # per-component per-stroke mu offsets
    stroke_gap: List[np.ndarray] = field(default_factory=list)    # per-component per-stroke onset factors


def _word(rng, n_letters, style, x0, allow_dots=True):
    """Targets of one cursive word starting at (x0, 0); returns (component, dots/bars, end x)."""
    keys = list(_LETTER_FREQ)
    p = np.array([_LETTER_FREQ[k] for k in keys], float)
    p /= p.sum()
    letters = list(rng.choice(keys, size=n_letters, p=p))
    pts, dth, extras = [], [], []
    x = x0
    y = 0.0
    decay = style["decay"]
    for k, ch in enumerate(letters):
        frac = k / max(1, n_letters - 1)
        amp = 1.0 - decay * frac ** 1.5
        wid = style["width"] * (0.55 + 0.45 * amp)
        for tx, ty, td in _LETTERS[ch]:
            if ty > 1:
                ty = 1 + (ty - 1) * (style["asc"] - 1)
            elif ty < 0:
                ty = ty * style["desc"]
            pts.append((x + tx * wid, y + ty * amp))
            dth.append(td * style["round"])
        if allow_dots and ch == "i" and rng.random() < style["dots"]:
            cx, cy = x + 0.22 * wid, 1.55 * amp
            extras.append(Component(np.array([cx, cy]), np.array([[cx + 0.1, cy + 0.04]]), np.array([0.3]),
                                    "dot"))
        if allow_dots and ch == "t" and rng.random() < style["dots"]:
            cx, cy = x - 0.05 * wid, 1.05 * amp
            extras.append(Component(np.array([cx, cy]), np.array([[cx + 0.7 * wid, cy + 0.12]]),
                                    np.array([-0.3]), "bar"))
        x = pts[-1][0]
        y = pts[-1][1] * 0.5
    return np.array(pts), np.array(dth), extras, x


def writer_template(seed: int, user: int) -> Template:
    """The template of writer ``user`` for a generator ``seed`` (a pure function of both; cached).

    Parameters
    ----------
    seed : int
        Generator seed.
    user : int
        Writer id (any integer; GPDS-style ids start at 1).

    Returns
    -------
    Template
    """
    return _cached_template(int(seed), int(user))


@functools.lru_cache(maxsize=512)
def _cached_template(seed: int, user: int) -> Template:
    rng = _rng(seed, user, _STREAM_TEMPLATE)
    style = dict(
        width=rng.uniform(0.8, 1.35),
        asc=rng.uniform(1.9, 2.9),
        desc=rng.uniform(1.1, 1.9),
        round=rng.uniform(0.75, 1.2),
        decay=rng.choice([0.0, rng.uniform(0.2, 0.75)], p=[0.35, 0.65]),
        dots=rng.uniform(0.3, 1.0),
    )
    comps: List[Component] = []
    extras: List[Component] = []
    x = 0.0
    cap_h = rng.uniform(2.2, 3.6)
    structure = rng.choice(["name", "two_words", "initial_name"], p=[0.45, 0.3, 0.25])

    def capital(x0):
        kind = rng.choice(list(_CAPITALS))
        (sx, sy), tg = _CAPITALS[kind]
        cw = cap_h * rng.uniform(0.55, 0.85)
        start = np.array([x0 + sx * cw, sy * cap_h])
        t = np.array([(x0 + a * cw, b * cap_h) for a, b, _ in tg])
        d = np.array([c for _, _, c in tg]) * style["round"]
        return start, t, d

    def word_component(x0, n, cap, separate_cap):
        nonlocal extras
        parts_t, parts_d = [], []
        start = np.array([x0 - 0.25, -0.05])
        if cap:
            cs, ct, cd = capital(x0)
            if separate_cap:
                comps.append(Component(cs, ct, cd, "capital"))
                x0 = ct[-1, 0] + rng.uniform(0.05, 0.3)
                start = np.array([x0 - 0.15, 0.1])
            else:
                start = cs
                parts_t.append(ct)
                parts_d.append(cd)
                x0 = ct[-1, 0]
        t, d, ex, xend = _word(rng, n, style, x0)
        extras += ex
        parts_t.append(t)
        parts_d.append(d)
        comps.append(Component(start, np.vstack(parts_t), np.concatenate(parts_d), "name"))
        return xend

    if structure == "initial_name":
        cs, ct, cd = capital(0.0)
        comps.append(Component(cs, ct, cd, "capital"))
        x = ct[:, 0].max() + rng.uniform(0.3, 0.8)
        x = word_component(x, int(rng.integers(3, 8)), True, rng.random() < 0.4)
    elif structure == "two_words":
        x = word_component(0.0, int(rng.integers(2, 6)), True, rng.random() < 0.4)
        x = word_component(x + rng.uniform(0.6, 1.2), int(rng.integers(3, 7)), True, rng.random() < 0.4)
    else:
        x = word_component(0.0, int(rng.integers(4, 9)), rng.random() < 0.85, rng.random() < 0.35)

    # flourish
    allt = np.vstack([c.targets for c in comps])
    xmin, xmax = allt[:, 0].min(), allt[:, 0].max()
    last = comps[-1]
    end = last.targets[-1]
    kind = rng.choice(["none", "underline", "paraph", "tail", "line"], p=[0.2, 0.3, 0.2, 0.15, 0.15])
    if kind == "underline":  # connected: sweep back left under the name, then a return to the right
        depth = rng.uniform(0.6, 1.4)
        back = xmin + rng.uniform(-0.3, 0.4) * (xmax - xmin) * 0.5
        t = [(end[0] + rng.uniform(0.2, 0.6), end[1] - 0.5, -1.0), (back, -depth, -0.35)]
        if rng.random() < 0.6:
            t.append((back + rng.uniform(0.5, 0.9) * (xmax - back), -depth - rng.uniform(0.0, 0.5), 0.5))
        last.targets = np.vstack([last.targets, np.array([p[:2] for p in t])])
        last.dtheta = np.concatenate([last.dtheta, [p[2] for p in t]])
    elif kind == "paraph":  # a big counter-clockwise loop around the name
        w = xmax - xmin
        t = [(end[0] + 0.4, 0.8, 0.6), (xmin + 0.6 * w, cap_h * 0.95 + 0.4, 1.1), (xmin - 0.3, 0.3, 1.1),
             (xmin + 0.4 * w, -0.9, 1.0), (xmax + rng.uniform(0.3, 1.0), -0.3, 0.4)]
        last.targets = np.vstack([last.targets, np.array([p[:2] for p in t])])
        last.dtheta = np.concatenate([last.dtheta, [p[2] for p in t]]) * 1.0
    elif kind == "tail":  # a long stroke rising to the right after a small hook
        t = [(end[0] + 0.3, -0.4, -1.4), (end[0] + rng.uniform(1.5, 3.0), rng.uniform(0.5, 2.0), 0.3)]
        last.targets = np.vstack([last.targets, np.array([p[:2] for p in t])])
        last.dtheta = np.concatenate([last.dtheta, [p[2] for p in t]])
    elif kind == "line":  # a separate underline, slightly curved
        y = -rng.uniform(0.5, 1.2)
        s = np.array([xmin + rng.uniform(-0.3, 0.5), y])
        extras.append(Component(s, np.array([[xmax + rng.uniform(-0.5, 0.8), y + rng.uniform(-0.4, 0.4)]]),
                                np.array([rng.uniform(-0.4, 0.4)]), "flourish"))
    comps += extras

    mu = rng.uniform(-1.9, -1.5)
    tpl = Template(
        components=comps,
        height_px=0.0,
        slant=np.tan(np.deg2rad(rng.normal(12, 10))),
        rotation=np.deg2rad(rng.normal(3, 5)),
        mu=mu,
        sigma=rng.uniform(0.2, 0.32),
        overlap=rng.uniform(0.45, 0.7),
        pen=rng.uniform(0.9, 1.7),
        ink=rng.uniform(25, 85),
        gain=rng.uniform(2.5, 5.0),
    )
    for c in comps:
        n = len(c.targets)
        tpl.stroke_mu.append(rng.normal(0, 0.08, n))
        tpl.stroke_gap.append(np.exp(rng.normal(0, 0.12, n)))
    # size: x-height so that the name is 450-1000 px wide, within the largest ink box
    pts = np.vstack([np.vstack([c.start[None], c.targets]) for c in comps])
    w = np.ptp(pts[:, 0] + tpl.slant * pts[:, 1]) + 0.6
    h = np.ptp(pts[:, 1]) + 0.6
    height = np.clip(rng.uniform(550, 1100) / w, 26, 80)
    height = min(height, 0.75 * MAX_INK_BOX[1] / w, 0.75 * MAX_INK_BOX[0] / h)
    tpl.height_px = float(height)
    return tpl


# =====================================================================================================
# variations (genuine and skilled forgeries)

@dataclass
class _Hand:
    """How one particular signature deviates from the template."""

    target_sd: float = 0.055     # iid target noise (x-height units)
    drift_sd: float = 0.07       # smooth drift of targets along the sequence
    dtheta_sd: float = 0.14
    gap_sd: float = 0.12         # log onset intervals
    mu_sd: float = 0.05
    sigma_sd: float = 0.06       # log sigma
    scale_sd: float = 0.07
    aspect_sd: float = 0.05
    slant_sd: float = 0.06
    rotation_sd: float = 0.05    # radians
    slowness: float = 1.0        # onset-interval multiplier (> 1: less overlap, less fluent)
    sigma_mult: float = 1.0
    tremor: float = 0.0          # pixels
    tremor_time: float = 0.025   # seconds (correlation time of the tremor)
    hesitations: float = 0.0     # expected number of extra pen lifts
    taper: float = 1.0           # 1: flying (tapered) stroke ends, 0: blunt
    # systematic offsets of a forger (applied to all its attempts)
    offsets: Optional[list] = None
    dtheta_offsets: Optional[list] = None
    scale: float = 1.0
    aspect: float = 1.0
    slant: float = 0.0
    rotation: float = 0.0
    pen: Optional[float] = None
    ink: Optional[float] = None
    drop_extras: float = 0.0     # probability of forgetting a dot / bar


@functools.lru_cache(maxsize=2048)
def _forger(seed: int, user: int, forger: int) -> _Hand:
    tpl = writer_template(seed, user)
    rng = _rng(seed, user, _STREAM_FORGER, forger)
    offsets = [rng.normal(0, 0.05, c.targets.shape) + _smooth_walk(rng, len(c.targets), 0.04)
               for c in tpl.components]
    dtheta_offsets = [rng.normal(0, 0.22, len(c.targets)) for c in tpl.components]
    return _Hand(
        target_sd=0.07, drift_sd=0.08, dtheta_sd=0.18, gap_sd=0.2, mu_sd=0.08, sigma_sd=0.15,
        scale_sd=0.07, aspect_sd=0.05, slant_sd=0.07, rotation_sd=0.06,
        slowness=rng.uniform(1.2, 1.8), sigma_mult=rng.uniform(0.8, 1.0),
        tremor=rng.uniform(0.5, 1.3), tremor_time=rng.uniform(0.02, 0.05),
        hesitations=rng.uniform(0.3, 2.0), taper=rng.uniform(0.0, 0.4),
        offsets=offsets, dtheta_offsets=dtheta_offsets,
        scale=float(np.exp(rng.normal(0, 0.07))), aspect=float(np.exp(rng.normal(0, 0.06))),
        slant=rng.normal(0, 0.08), rotation=rng.normal(0, 0.04),
        pen=float(np.clip(0.6 * tpl.pen + 0.4 * rng.uniform(0.9, 1.7), 0.8, 2.0)),
        ink=float(np.clip(0.6 * tpl.ink + 0.4 * rng.uniform(25, 85), 20, 90)),
        drop_extras=0.15,
    )


_GENUINE_HAND = _Hand()


def _smooth_walk(rng, n, sd):
    """A smooth random offset sequence of shape (n, 2) with standard deviation about ``sd``."""
    if n == 0:
        return np.zeros((0, 2))
    w = gaussian_filter1d(rng.normal(0, 1, (n, 2)), sigma=3.0, axis=0, mode="nearest")
    return w / (w.std() + 1e-9) * sd if n > 3 else w * sd


# =====================================================================================================
# trajectories and rendering

def _component_paths(tpl: Template, hand: _Hand, rng) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Pen paths in pixels (y down) of one realisation: list of (points (M, 2), pressure (M,))."""
    scale = tpl.height_px * hand.scale * float(np.exp(rng.normal(0, hand.scale_sd)))
    aspect = hand.aspect * float(np.exp(rng.normal(0, hand.aspect_sd)))
    slant = tpl.slant + hand.slant + rng.normal(0, hand.slant_sd)
    rot = tpl.rotation + hand.rotation + rng.normal(0, hand.rotation_sd)
    c, s = np.cos(rot), np.sin(rot)
    A = scale * np.array([[c, -s], [s, c]]) @ np.array([[aspect, slant], [0.0, 1.0]])
    A = np.array([[1.0, 0.0], [0.0, -1.0]]) @ A  # y down in the image
    spacing = 0.4
    paths = []
    for ci, comp in enumerate(tpl.components):
        if comp.role in ("dot", "bar") and rng.random() < hand.drop_extras:
            continue
        n = len(comp.targets)
        tg = comp.targets + rng.normal(0, hand.target_sd, comp.targets.shape) + \
            _smooth_walk(rng, n, hand.drift_sd)
        dth = comp.dtheta + rng.normal(0, hand.dtheta_sd, n)
        if hand.offsets is not None:
            tg = tg + hand.offsets[ci]
            dth = dth + hand.dtheta_offsets[ci]
        start = comp.start + rng.normal(0, hand.target_sd, 2)
        mu = tpl.mu + tpl.stroke_mu[ci] + rng.normal(0, hand.mu_sd, n)
        sigma = np.clip(tpl.sigma * hand.sigma_mult * np.exp(rng.normal(0, hand.sigma_sd, n)), 0.1, 0.6)
        gaps = tpl.overlap * hand.slowness * tpl.stroke_gap[ci] * np.exp(rng.normal(0, hand.gap_sd, n))
        # hesitation pen lifts: split the component at random targets (never in dots and bars)
        cuts = []
        if hand.hesitations > 0 and n > 6 and comp.role != "dot":
            k = rng.poisson(hand.hesitations)
            if k:
                cuts = sorted(set(rng.integers(2, n - 2, size=k).tolist()))
        bounds = [0] + cuts + [n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            st = start if a == 0 else tg[a - 1] + rng.normal(0, 0.04, 2)
            t0 = np.concatenate([[0.0], np.cumsum(gaps[a:b - 1] * np.exp(mu[a:b - 1]))])
            strokes = strokes_from_targets(st, tg[a:b], dth[a:b], t0, mu[a:b], sigma[a:b])
            xy, t = trajectory(strokes, dt=0.002)
            xy = xy @ A.T
            if hand.tremor > 0 and len(xy) > 4:
                noise = gaussian_filter1d(rng.normal(0, 1, xy.shape), hand.tremor_time / 0.002, axis=0,
                                          mode="nearest")
                noise /= noise.std() + 1e-9
                xy = xy + hand.tremor * noise
            v = np.hypot(*np.gradient(xy, axis=0).T) / 0.002
            pts, sl, vs = resample_by_length(xy, spacing, v)
            paths.append((pts, _pressure(sl, vs, hand, rng)))
    return paths


def _pressure(s, v, hand: _Hand, rng) -> np.ndarray:
    """Pen pressure along a path: lighter when fast, fading in at the start and (fluent) at the end."""
    L = s[-1] if len(s) else 0.0
    vmax = np.percentile(v, 95) + 1e-6 if len(v) else 1.0
    p = 1.0 - 0.35 * np.clip(v / vmax, 0, 1.2) * (1.0 if hand.taper > 0.5 else 0.5)
    p *= np.exp(rng.normal(0, 0.08))
    start = np.clip(s / 6.0, 0.3, 1.0)
    tail = 10 + 40 * hand.taper
    end = np.clip((L - s) / tail, 0.0, 1.0) ** 0.7 * hand.taper + (1 - hand.taper)
    end = np.maximum(end, 0.08)
    return np.clip(p * start * end, 0.05, 1.3)


@functools.lru_cache(maxsize=1)
def _paper_field() -> np.ndarray:
    """A fixed paper texture and ink grain, float32 (1024, 1536) each, in grey levels around 0.

    Slow shading (about +-2 levels), a faint fibre texture and sparse dust specks. The texture is kept
    faint on purpose: fine noise on every pixel would make the PNG files several times larger and slower
    to write, for no benefit to the pre-processing, which removes the background anyway.
    """
    g = np.random.default_rng(20240917)
    shape = (1024, 1536)
    coarse = gaussian_filter(g.standard_normal((shape[0] // 8, shape[1] // 8), dtype=np.float32), 3)
    coarse = np.kron(coarse / coarse.std(), np.ones((8, 8), np.float32))
    coarse = gaussian_filter(coarse, 6)
    coarse /= coarse.std()
    fibre = gaussian_filter(g.standard_normal(shape, dtype=np.float32), 1.5)
    fibre /= fibre.std()
    dust = np.zeros(shape, np.float32)
    n = 2500
    r, c = g.integers(0, shape[0], n), g.integers(0, shape[1], n)
    dust[r, c] = g.normal(-40, 25, n).astype(np.float32)
    dust = gaussian_filter(dust, 0.6)
    return (2.0 * coarse + 0.5 * fibre + dust).astype(np.float32), fibre.astype(np.float32)


def _crop_field(rng, h, w, which: int = 0) -> np.ndarray:
    f = _paper_field()[which]
    r = int(rng.integers(0, f.shape[0] - h + 1))
    c = int(rng.integers(0, f.shape[1] - w + 1))
    out = f[r:r + h, c:c + w]
    if rng.random() < 0.5:
        out = out[::-1]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return out


def _render(paths, pen: float, ink: float, gain: float, rng) -> np.ndarray:
    """Rasterise pen paths into a uint8 scan: dark ink on light, slightly noisy paper.

    The paths are splatted (bilinear) into a float image over the ink bounding box only, blurred with a
    Gaussian pen of standard deviation ``pen`` pixels, and mapped to ink coverage ``1 - exp(-gain * d)``
    (so heavier pressure gives wider, darker lines and edges are anti-aliased).
    """
    pts = np.vstack([p for p, _ in paths])
    w8 = np.concatenate([w for _, w in paths])
    lo, hi = pts.min(0), pts.max(0)
    size = hi - lo
    limit = np.array(MAX_INK_BOX[::-1], float) - 12 * pen  # (x, y)
    if np.any(size > limit):  # rare: shrink an unusually large realisation about its centre
        k = float(np.min(limit / np.maximum(size, 1)))
        centre = (lo + hi) / 2
        pts = (pts - centre) * k + centre
        lo, hi = pts.min(0), pts.max(0)
        size = hi - lo
    pad = int(np.ceil(4 * pen)) + 2
    bw, bh = int(np.ceil(size[0])) + 2 * pad + 1, int(np.ceil(size[1])) + 2 * pad + 1
    x = pts[:, 0] - lo[0] + pad
    y = pts[:, 1] - lo[1] + pad
    ix, iy = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - ix, y - iy
    idx = iy * bw + ix
    acc = np.bincount(idx, w8 * (1 - fx) * (1 - fy), minlength=bh * bw)
    acc[: bh * bw - 1] += np.bincount(idx, w8 * fx * (1 - fy), minlength=bh * bw)[: bh * bw - 1]
    acc[bw:] += np.bincount(idx, w8 * (1 - fx) * fy, minlength=bh * bw)[: bh * bw - bw]
    acc[bw + 1:] += np.bincount(idx, w8 * fx * fy, minlength=bh * bw)[: bh * bw - bw - 1]
    dens = gaussian_filter(acc.reshape(bh, bw).astype(np.float32), pen, truncate=3.0)
    dens *= np.float32(0.4 * np.sqrt(2 * np.pi) * pen)  # 1 at the centre of a unit-pressure line
    cover = 1.0 - np.exp(-gain * dens)

    # page: GPDS-like scan size around the ink box
    H = int(np.clip(bh + rng.uniform(100, 450), 450, 1000))
    W = int(np.clip(bw + rng.uniform(150, 600), 800, 1500))
    r0 = int(rng.integers(25, H - bh - 25 + 1))
    c0 = int(rng.integers(25, W - bw - 25 + 1))
    paper_level = np.float32(rng.uniform(228, 248))
    page = _crop_field(rng, H, W) + paper_level
    grain = _crop_field(rng, bh, bw, 1)
    ink_img = np.float32(ink) + np.float32(5.0) * grain
    region = page[r0:r0 + bh, c0:c0 + bw]
    region += cover * (ink_img - region)
    np.rint(page, out=page)
    np.clip(page, 0, 255, out=page)
    return page.astype(np.uint8)


def encode_png(img: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) image as an 8-bit grayscale PNG, fast.

    Uses the PNG "Up" filter on every row and zlib level 1 with run-length strategy: about twice as fast as
    Pillow's encoder at its fastest level, and smaller files for scans of paper.
    """
    import struct
    import zlib

    a = np.ascontiguousarray(img, dtype=np.uint8)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 image, got shape {a.shape}")
    h, w = a.shape
    raw = np.empty((h, w + 1), np.uint8)
    raw[:, 0] = 2  # filter type "Up"
    raw[0, 1:] = a[0]
    np.subtract(a[1:], a[:-1], out=raw[1:, 1:])
    comp = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = comp.compress(raw.data) + comp.flush()

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def render_signature(seed: int, user: int, kind: int, index: int) -> np.ndarray:
    """Render one synthetic signature.

    Parameters
    ----------
    seed : int
        Generator seed.
    user : int
        Writer id.
    kind : int
        :data:`GENUINE` (0) or :data:`SKILLED` (1).
    index : int
        Number of the signature within its kind (1-based like GPDS file names; any integer works).

    Returns
    -------
    ndarray, uint8, shape (H, W)
        Dark ink on light paper, ``500 <= H <= 1000``, ``900 <= W <= 1500`` (the ink box is at most
        :data:`MAX_INK_BOX`).
    """
    tpl = writer_template(seed, user)
    if kind == GENUINE:
        rng = _rng(seed, user, _STREAM_GENUINE, index)
        hand = _GENUINE_HAND
        pen, ink = tpl.pen, tpl.ink
    elif kind == SKILLED:
        rng = _rng(seed, user, _STREAM_SKILLED, index)
        hand = _forger(int(seed), int(user), int(index) % N_FORGERS)
        pen, ink = hand.pen, hand.ink
    else:
        raise ValueError(f"kind must be GENUINE (0) or SKILLED (1), got {kind!r}")
    paths = _component_paths(tpl, hand, rng)
    pen = float(np.clip(pen * np.exp(rng.normal(0, 0.05)), 0.7, 2.2))
    ink = float(np.clip(ink + rng.normal(0, 5), 15, 95))
    gain = tpl.gain * float(np.exp(rng.normal(0, 0.1)))
    return _render(paths, pen, ink, gain, rng)


# =====================================================================================================
# the reader

class SyntheticSignatures(SignatureDataset):
    """A reader whose items are rendered on demand: ``n_users`` simulated writers, GPDS-like.

    Parameters
    ----------
    n_users : int
        Number of writers (>= 1).
    genuine : int
        Genuine signatures per writer (>= 1; GPDS has 24).
    forgeries : int
        Skilled forgeries per writer (>= 0; GPDS has 30).
    seed : int
        Generator seed (>= 0). Every image is a pure function of ``(seed, user, kind, index)``.
    first_user : int
        Writers are numbered ``first_user + 1 .. first_user + n_users`` (GPDS numbers from 1). Two readers
        with the same seed and disjoint ranges have disjoint writers (e.g. development and exploitation
        sets); overlapping ranges share writers.

    Notes
    -----
    Items are tuples ``(user, kind, index)`` with ``kind`` :data:`GENUINE` or :data:`SKILLED` and ``index``
    from 1; :meth:`item_name` gives the GPDS file name (``c-001-01.png``, ``cf-001-01.png``). ``maxsize`` is
    the GPDS canvas (952, 1360).
    """

    maxsize = GPDS_CANVAS
    simple_per_user = 0

    def __init__(self, n_users: int = 100, genuine: int = 24, forgeries: int = 30, seed: int = 0,
                 first_user: int = 0):
        self.n_users = _check_int("n_users", n_users, 1)
        self.genuine_per_user = _check_int("genuine", genuine, 1)
        self.skilled_per_user = _check_int("forgeries", forgeries, 0)
        self.seed = _check_int("seed", seed, 0)
        self.first_user = _check_int("first_user", first_user, 0)

    def get_user_list(self) -> List[int]:
        """Writer ids ``first_user + 1 .. first_user + n_users``."""
        return list(range(self.first_user + 1, self.first_user + self.n_users + 1))

    def list_genuine(self, user) -> List[Tuple[int, int, int]]:
        """Items ``(user, GENUINE, i)``, ``i = 1 .. genuine``."""
        return [(int(user), GENUINE, i) for i in range(1, self.genuine_per_user + 1)]

    def list_skilled(self, user) -> List[Tuple[int, int, int]]:
        """Items ``(user, SKILLED, i)``, ``i = 1 .. forgeries``."""
        return [(int(user), SKILLED, i) for i in range(1, self.skilled_per_user + 1)]

    def load(self, item) -> np.ndarray:
        """Render the item: uint8 (H, W), dark ink on light paper."""
        user, kind, index = item
        return render_signature(self.seed, user, kind, index)

    def item_name(self, item) -> str:
        """GPDS file name of the item: ``c-{user:03d}-{index:02d}.png`` or ``cf-...``."""
        user, kind, index = item
        return f"{_KIND_NAMES[kind]}-{int(user):03d}-{int(index):02d}.png"

    def __repr__(self) -> str:
        return (f"SyntheticSignatures(n_users={self.n_users}, genuine={self.genuine_per_user}, "
                f"forgeries={self.skilled_per_user}, seed={self.seed}, first_user={self.first_user})")


def _check_int(name, value, minimum) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SigverError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise SigverError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


# =====================================================================================================
# writing a GPDS-layout folder

_NAME_RE = re.compile(r"^cf?-\d{3,}-\d{2,}\.png$")


def _is_synthetic_file(name: str) -> bool:
    """Whether ``name`` is an image name this generator writes (``c-001-01.png``, ``cf-001-01.png``)."""
    return bool(_NAME_RE.match(name))


def _prepare_folder(out: Path, overwrite: bool) -> None:
    """Check the output folder; clear the images of a previous synthetic run in it."""
    if out.exists() and not out.is_dir():
        raise SigverError(f"--out {out} exists and is not a folder; choose a folder path")
    if not out.exists():
        out.mkdir(parents=True)
        return
    entries = [e for e in os.listdir(out) if not e.startswith(".")]
    if not entries:
        return
    if (out / _MARKER).is_file():  # a previous synthetic output: replace its images
        for e in entries:
            d = out / e
            if d.is_dir() and e.isdigit():
                for f in os.listdir(d):
                    if _is_synthetic_file(f):
                        (d / f).unlink()
                if not os.listdir(d):
                    d.rmdir()
        return
    if not overwrite:
        raise SigverError(f"--out {out} is not empty and is not a synthetic signature folder (no {_MARKER}); "
                          f"choose an empty or new folder, or pass --overwrite to write into it anyway")


def _write_user(task) -> int:
    """Render and save every image of one writer (run in worker processes). Returns the image count."""
    out, seed, user, genuine, forgeries = task
    folder = Path(out) / f"{user:03d}"
    folder.mkdir(exist_ok=True)
    n = 0
    for kind, count in ((GENUINE, genuine), (SKILLED, forgeries)):
        for i in range(1, count + 1):
            img = render_signature(seed, user, kind, i)
            name = f"{_KIND_NAMES[kind]}-{user:03d}-{i:02d}.png"
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(encode_png(img))
            os.replace(tmp, folder / name)
            n += 1
    return n


def _map(func, tasks, workers: int):
    """``imap_unordered`` over a process pool (in this process when ``workers == 1``)."""
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield func(t)
        return
    import multiprocessing

    with multiprocessing.get_context().Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap_unordered(func, tasks)


def write_folder(dataset: SyntheticSignatures, out, workers: Optional[int] = None, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """Write the images of ``dataset`` in the GPDS layout ``out/{user:03d}/{c|cf}-{user:03d}-{i:02d}.png``.

    Parameters
    ----------
    dataset : SyntheticSignatures
    out : str or path-like
        Output folder: new, empty, or a previous synthetic output (its images are replaced). Any other
        non-empty folder is refused unless ``overwrite`` is true (then files are written into it, and nothing
        is deleted).
    workers : int, optional
        Processes (default: number of CPUs). The images do not depend on it.
    overwrite : bool
        Allow writing into a non-empty folder that is not a synthetic output.
    progress : bool
        Show a progress bar (tqdm) on stderr.

    Returns
    -------
    pathlib.Path
        The folder. It holds ``synthetic.json`` (the generator parameters; ``"complete": true`` once every
        image is written). Each image is written to a temporary name and renamed.
    """
    out = Path(out)
    workers = _check_int("workers", workers if workers is not None else (os.cpu_count() or 1), 1)
    _prepare_folder(out, overwrite)
    meta = {"generator": "sigver.datasets.synthetic", "seed": dataset.seed, "n_users": dataset.n_users,
            "first_user": dataset.first_user, "genuine": dataset.genuine_per_user,
            "forgeries": dataset.skilled_per_user, "layout": "gpds", "complete": False}
    _write_json(out / _MARKER, meta)
    tasks = [(str(out), dataset.seed, u, dataset.genuine_per_user, dataset.skilled_per_user)
             for u in dataset.get_user_list()]
    total = len(tasks) * (dataset.genuine_per_user + dataset.skilled_per_user)
    from tqdm import tqdm

    with tqdm(total=total, desc="synthetic signatures", unit="img", disable=not progress,
              file=sys.stderr) as bar:
        for n in _map(_write_user, tasks, workers):
            bar.update(n)
    meta["complete"] = True
    _write_json(out / _MARKER, meta)
    return out


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


# =====================================================================================================
# contact sheets, generate_dataset and the command line

def synthetic_contact_sheet(path, seed: int = 0, users: Sequence[int] = range(1, 9), genuine: int = 4,
                            forgeries: int = 2, preprocessed: bool = False, **kwargs) -> Path:
    """A PNG grid: one row per writer, ``genuine`` genuine signatures then ``forgeries`` skilled forgeries.

    Parameters
    ----------
    path : str or path-like
        Output PNG.
    seed : int
        Generator seed.
    users : sequence of int
        Writer ids (rows).
    genuine, forgeries : int
        Columns of each kind.
    preprocessed : bool
        Show what the network sees (the 150 x 220 pre-processed crop, displayed as dark ink on white)
        instead of the raw scans.
    **kwargs
        Passed to :func:`sigver.visualize.contact_sheet`.

    Returns
    -------
    pathlib.Path
    """
    from ..visualize import contact_sheet

    images, titles = [], []
    for u in users:
        for kind, count in ((GENUINE, genuine), (SKILLED, forgeries)):
            for i in range(1, count + 1):
                img = render_signature(seed, u, kind, i)
                if preprocessed:
                    from ..preprocessing.normalize import preprocess_signature

                    img = preprocess_signature(img, GPDS_CANVAS)
                images.append(img)
                titles.append(f"writer {u}: {'genuine' if kind == GENUINE else 'skilled forgery'} {i}")
    if not images:
        raise SigverError("the contact sheet needs at least one writer and one image per writer")
    kwargs.setdefault("ncols", genuine + forgeries)
    kwargs.setdefault("fontsize", 7)
    kwargs.setdefault("suptitle", f"synthetic signatures (seed {seed}): genuine | skilled forgeries")
    if preprocessed:
        kwargs.setdefault("invert", True)
        kwargs.setdefault("cell_size", (2.4, 1.8))
    else:
        kwargs.setdefault("cell_size", (3.0, 2.0))
    return contact_sheet(images, path, titles=titles, **kwargs)


@dataclass
class SyntheticOutput:
    """What :func:`generate_dataset` wrote: the folder, the dataset file (loaded), the contact sheet."""

    folder: Optional[Path] = None
    data: Optional[object] = None
    contact_sheet: Optional[Path] = None


def generate_dataset(n_users: int = 100, genuine: int = 24, forgeries: int = 30, seed: int = 0,
                     out=None, npz=None, first_user: int = 0, workers: Optional[int] = None,
                     overwrite: bool = False, img_size: Tuple[int, int] = (170, 242), contact_sheet=None,
                     progress: bool = True) -> SyntheticOutput:
    """Generate a synthetic signature set as a GPDS-layout folder and/or a pre-processed dataset file.

    Parameters
    ----------
    n_users, genuine, forgeries, seed, first_user
        See :class:`SyntheticSignatures`.
    out : str or path-like, optional
        Folder to write in the GPDS layout (see :func:`write_folder`).
    npz : str or path-like, optional
        Dataset file to write (:func:`sigver.preprocessing.process_dataset.process_dataset` with the GPDS
        canvas): ``x`` uint8 (N, 1, H, W) inverted, ``y``, ``yforg``, ``user_mapping`` (the writer ids),
        ``filenames``.
    workers : int, optional
        Processes (default: number of CPUs); the results do not depend on it.
    overwrite : bool
        Allow ``out`` to be a non-empty folder that is not a synthetic output.
    img_size : (int, int)
        ``(height, width)`` of the images stored in ``npz``.
    contact_sheet : str or path-like, optional
        PNG of the first (up to) 8 writers: 4 genuine signatures and 2 skilled forgeries each.
    progress : bool
        Progress bars on stderr.

    Returns
    -------
    SyntheticOutput
    """
    dataset = SyntheticSignatures(n_users, genuine, forgeries, seed, first_user)
    if out is None and npz is None and contact_sheet is None:
        raise SigverError("nothing to do: give --out DIR, --npz FILE and/or --contact-sheet PNG")
    workers = _check_int("workers", workers if workers is not None else (os.cpu_count() or 1), 1)
    if npz is not None:  # before any work: never over foreign files, never over the --out folder
        from .format import check_target

        check_target(npz, flag="--npz", inputs=[out], overwrite=overwrite)
    result = SyntheticOutput()
    if out is not None:
        result.folder = write_folder(dataset, out, workers=workers, overwrite=overwrite, progress=progress)
    if npz is not None:
        from ..preprocessing.process_dataset import process_dataset

        result.data = process_dataset(dataset, npz, img_size=tuple(img_size), workers=workers,
                                      progress=progress)
    if contact_sheet is not None:
        users = dataset.get_user_list()[:8]
        result.contact_sheet = synthetic_contact_sheet(contact_sheet, seed, users,
                                                       genuine=min(4, dataset.genuine_per_user),
                                                       forgeries=min(2, dataset.skilled_per_user))
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sigver.datasets.synthetic",
        description="Generate synthetic offline signatures (sigma-lognormal writers, genuine signatures and "
                    "skilled forgeries) as a GPDS-layout folder and/or a pre-processed dataset file.")
    parser.add_argument("--users", type=positive_int, default=100, help="number of writers (default 100)")
    parser.add_argument("--genuine", type=positive_int, default=24,
                        help="genuine signatures per writer (default 24)")
    parser.add_argument("--forgeries", type=nonnegative_int, default=30,
                        help="skilled forgeries per writer (default 30)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="generator seed (default 0)")
    parser.add_argument("--first-user", "--first_user", dest="first_user", type=nonnegative_int, default=0,
                        help="writers are numbered FIRST_USER+1 .. FIRST_USER+USERS (default 0)")
    parser.add_argument("--out", default=None, help="folder to write in the GPDS layout (DIR/001/c-001-01.png)")
    parser.add_argument("--npz", default=None, help="pre-processed dataset file to write (.npz, or a folder)")
    parser.add_argument("--image-size", "--image_size", dest="image_size", nargs=2, type=positive_int,
                        default=[170, 242], metavar=("H", "W"), help="image size stored in --npz (170 242)")
    parser.add_argument("--contact-sheet", dest="contact_sheet", default=None,
                        help="PNG contact sheet of the first writers (genuine | skilled forgeries)")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="processes (default: number of CPUs); the output does not depend on it")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty --out folder that is not a previous synthetic output")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None and args.npz is None and args.contact_sheet is None:
        raise SigverError("nothing to do: give --out DIR, --npz FILE and/or --contact-sheet PNG")
    res = generate_dataset(args.users, args.genuine, args.forgeries, args.seed, out=args.out, npz=args.npz,
                           first_user=args.first_user, workers=args.workers, overwrite=args.overwrite,
                           img_size=tuple(args.image_size), contact_sheet=args.contact_sheet,
                           progress=args.progress)
    n = args.users * (args.genuine + args.forgeries)
    if res.folder is not None:
        print(f"wrote {n} images of {args.users} writers to {res.folder}")
    if res.data is not None:
        print(f"saved {args.npz}: x {tuple(res.data.x.shape)}, {args.users} writers")
    if res.contact_sheet is not None:
        print(f"contact sheet: {res.contact_sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
