"""The original's ``sigver.preprocessing.crop`` import path: numpy crops of channel-first images.

The centre crops are :func:`sigver.preprocessing.normalize.crop_center_multiple`; the random crops are here.
Differences from the original module:

- the random crops take an explicit ``rng`` (a ``numpy.random.Generator``, a legacy ``RandomState`` or an
  integer seed); the original used an unseeded module-level ``RandomState`` by default, so runs could not
  be reproduced;
- the random offsets are drawn from ``0 .. H - h`` *inclusive*; the original used ``randint(0, H - h)``,
  whose upper bound is exclusive, so the last offset was never chosen (and a crop of the full size raised);
- ``random_crop_multiple`` keeps the input dtype (the original returned float64).
"""
from __future__ import annotations

from typing import Tuple, Union

import numpy as np

from .normalize import crop_center_multiple

__all__ = ["center_crop", "center_crop_multiple", "random_crop", "random_crop_multiple"]

RNGLike = Union[None, int, np.random.Generator, np.random.RandomState]


def _as_rng(rng: RNGLike):
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    return np.random.default_rng(rng)


def _offsets_bound(shape_hw, size) -> Tuple[int, int, int, int]:
    h, w = int(size[0]), int(size[1])
    H, W = int(shape_hw[0]), int(shape_hw[1])
    if h < 1 or w < 1 or h > H or w > W:
        raise ValueError(f"crop size {(h, w)} must be positive and at most the image size {(H, W)}")
    return H, W, h, w


def _draw(rng, high: int, n=None):
    """Integers uniform in ``0 .. high`` inclusive."""
    if isinstance(rng, np.random.RandomState):
        return rng.randint(0, high + 1, size=n)
    return rng.integers(0, high, size=n, endpoint=True)


#: central crops of one image (C, H, W) or a batch (N, C, H, W): :func:`sigver.preprocessing.normalize.
#: crop_center_multiple` under the original's names
center_crop = center_crop_multiple = crop_center_multiple


def random_crop(img: np.ndarray, shape, rng: RNGLike = None) -> np.ndarray:
    """Crop of one image at a random offset.

    Parameters
    ----------
    img : ndarray, shape (C, H, W)
    shape : (int, int)
        ``(h, w)`` of the crop.
    rng : numpy Generator, RandomState, int seed or None
        Source of the offsets, drawn uniformly in ``0 .. H - h`` and ``0 .. W - w`` (both inclusive).

    Returns
    -------
    ndarray, shape (C, h, w)
        A view of ``img``.
    """
    H, W, h, w = _offsets_bound(img.shape[-2:], shape)
    rng = _as_rng(rng)
    r = int(_draw(rng, H - h))
    c = int(_draw(rng, W - w))
    return img[..., r:r + h, c:c + w]


def random_crop_multiple(imgs: np.ndarray, shape, rng: RNGLike = None) -> np.ndarray:
    """Crop each image of a batch at its own random offset.

    Parameters
    ----------
    imgs : ndarray, shape (N, C, H, W)
    shape : (int, int)
        ``(h, w)`` of the crops.
    rng : numpy Generator, RandomState, int seed or None
        Source of the offsets (inclusive upper bounds, see :func:`random_crop`).

    Returns
    -------
    ndarray, shape (N, C, h, w)
        A new array of the input dtype.
    """
    imgs = np.asarray(imgs)
    if imgs.ndim != 4:
        raise ValueError(f"expected a batch (N, C, H, W), got shape {imgs.shape}")
    H, W, h, w = _offsets_bound(imgs.shape[-2:], shape)
    rng = _as_rng(rng)
    n = imgs.shape[0]
    rows = np.asarray(_draw(rng, H - h, n))
    cols = np.asarray(_draw(rng, W - w, n))
    out = np.empty(imgs.shape[:2] + (h, w), dtype=imgs.dtype)
    for i in range(n):
        out[i] = imgs[i, :, rows[i]:rows[i] + h, cols[i]:cols[i] + w]
    return out
