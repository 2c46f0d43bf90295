"""Is there a signature on this scan? A check that blank paper, scanner noise, specks and ruled lines fail.

Pre-processing only needs two grey levels to find "ink", so a blank scan with scanner noise or a single dark
pixel would be centred, resized and enrolled as a signature (and later accepted). :func:`check_ink` asks for
more: at least one *connected stroke* that is

* dark: darker than the paper (its median grey level) by at least :data:`MIN_CONTRAST` grey levels and by
  several times the paper's own noise (a robust standard deviation), and
* of signature size: its bounding box at least :data:`MIN_STROKE_EXTENT` of the image's smaller side (and
  :data:`MIN_STROKE_PIXELS` pixels) in *both* directions, so a speck or a thin ruled line alone does not count.

The thresholds were measured on real scans (SigComp 2011 Dutch, BHSig260 Hindi, the original repository's
samples) and on the synthetic generator's signatures: the smallest real value is several times the
threshold (see ``tests/preprocessing/test_ink.py``).
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from scipy import ndimage as ndi

from ..errors import BlankImageError

__all__ = ["check_ink", "ink_stats", "MIN_CONTRAST", "MIN_STROKE_EXTENT", "MIN_STROKE_PIXELS"]

#: grey levels a stroke must be darker than the paper
MIN_CONTRAST = 40
#: how many times the paper's noise (robust standard deviation) a stroke must be darker than the paper
NOISE_FACTOR = 6.0
#: smallest bounding-box side of the largest stroke, as a fraction of the image's smaller side
MIN_STROKE_EXTENT = 0.04
#: smallest bounding-box side of the largest stroke, in pixels (for small images)
MIN_STROKE_PIXELS = 4


def ink_stats(img: np.ndarray) -> Dict[str, float]:
    """Paper level, noise, ink threshold and the largest stroke's bounding box of a grey scan (uint8, H x W).

    Returns a dict with ``paper``, ``noise``, ``threshold`` (grey levels at or below it are ink), ``stroke_h``,
    ``stroke_w`` (bounding box of the connected ink component with the largest smaller side, 8-connected)
    and ``extent`` (``min(stroke_h, stroke_w) / min(H, W)``).
    """
    img = np.asarray(img)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"expected a 2-D grey image, got shape {img.shape}")
    # the paper: the median grey level; its noise from the median absolute deviation of the brighter half
    paper = float(np.median(img))
    bright = img[img >= paper].astype(np.float64)
    noise = 1.4826 * float(np.median(np.abs(bright - paper))) if bright.size else 0.0
    threshold = paper - max(MIN_CONTRAST, NOISE_FACTOR * noise)
    mask = img <= threshold
    out = {"paper": paper, "noise": noise, "threshold": threshold, "stroke_h": 0, "stroke_w": 0, "extent": 0.0}
    if threshold < 0 or not mask.any():
        return out
    labels, n = ndi.label(mask, structure=np.ones((3, 3), dtype=bool))
    best = (0, 0)
    for sl in ndi.find_objects(labels):
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if min(h, w) > min(best):
            best = (h, w)
    out["stroke_h"], out["stroke_w"] = best
    out["extent"] = min(best) / min(img.shape)
    return out


def check_ink(img: np.ndarray, name: str = "the image") -> Dict[str, float]:
    """Raise :class:`~sigver.errors.BlankImageError` unless a stroke of signature size and contrast is found.

    Parameters
    ----------
    img : ndarray of uint8, shape (H, W)
        A raw grey scan, dark ink on light paper.
    name : str
        How the message names the image.

    Returns
    -------
    dict
        :func:`ink_stats` of the image.
    """
    stats = ink_stats(img)
    needed = max(MIN_STROKE_PIXELS, MIN_STROKE_EXTENT * min(np.shape(img)))
    if min(stats["stroke_h"], stats["stroke_w"]) < needed:
        found = ("nothing darker than the paper" if stats["stroke_h"] == 0 else
                 f"only marks of at most {stats['stroke_h']} x {stats['stroke_w']} pixels (specks, noise or "
                 f"lines; a signature's strokes span at least {needed:.0f} pixels both ways)")
        raise BlankImageError(f"{name}: no signature found on the scan ({found}); give a scan with the "
                              "signature on it")
    return stats
