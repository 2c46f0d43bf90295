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

This module is the simulation (writers, hands, pen trajectories); :mod:`sigver.datasets.synthetic_render`
draws the images, :mod:`sigver.datasets.synthetic_write` reads and writes them, and
``python -m sigver.datasets.synthetic`` is the command.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ._lognormal import resample_by_length, strokes_from_targets, trajectory

__all__ = ["writer_template", "Template", "Component", "GENUINE", "SKILLED", "GPDS_CANVAS", "MAX_INK_BOX",
           "N_FORGERS"]

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
