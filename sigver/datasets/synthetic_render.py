"""Rendering of synthetic signatures: pen trajectories (:mod:`sigver.datasets.synthetic_sim`) drawn as
dark ink on light, textured paper, and a fast PNG encoder."""
from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import gaussian_filter

from .synthetic_sim import (GENUINE, MAX_INK_BOX, N_FORGERS, SKILLED, _STREAM_GENUINE, _STREAM_SKILLED, _GENUINE_HAND,
                            _component_paths, _forger, _rng, writer_template)

__all__ = ["render_signature", "encode_png"]


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
