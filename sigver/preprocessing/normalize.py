"""Signature image normalisation: centre on a canvas, remove the background, resize, crop (docs/protocols.md).

The functions reproduce the original ``sigver.preprocessing.normalize`` pixel for pixel on grayscale images,
quirks included, because the published SigNet weights were trained on its output:

- the tight bounding-box crop excludes the last ink row and column (off-by-one);
- the centre of mass and the placement use truncating ``int()`` casts;
- the resized size uses Python's ``round`` (banker's rounding) and the resized image is cast to uint8 by
  truncation;
- resizing is ``skimage.transform.resize(mode='constant', anti_aliasing=True, preserve_range=True)``.

Two implementations compute the same result:

``method='reference'``
    The straightforward way of the original code: Gaussian blur and Otsu threshold of the whole scan, a
    full-size canvas, ``skimage.transform.resize`` of the whole canvas.
``method='fast'`` (default)
    Bit-identical output, far cheaper. The canvas is never built: after inversion it is 0 everywhere except
    where the signature was pasted, so the anti-aliasing Gaussian filter is run only on the pasted patch
    padded by the kernel radius (the rest of the filtered canvas is exactly 0) and the bilinear zoom is
    evaluated only for the output pixels whose two taps per axis reach that window, with the same
    coordinates, weights and summation order as ``scipy.ndimage.zoom(grid_mode=True, order=1)``. The
    blur used to locate the signature is computed only around pixels darker than the Otsu threshold (a
    pixel with no such pixel within the kernel radius cannot fall below the threshold after blurring),
    and the Otsu threshold comes from one 256-bin histogram (Pillow's, twice as fast as ``np.bincount``).
    When numba is importable (a dependency of sigver), the two Gaussian filters and the zoom run as
    compiled kernels (:mod:`sigver.preprocessing._kernels`) doing the same float64 operations in the same
    order (same bytes, several times faster); the blur is then fused with the threshold and computed
    only near the dark pixels. For bilevel scans (below) the whole blur and the 256-bin histogram of its
    Otsu threshold are compiled too (numpy's bin arithmetic, the same counts). ``SIGVER_NO_NUMBA=1`` forces
    the scipy code.

Differences from the original, on purpose:

- a blank image (a single grey level, or no pixel dark enough after blurring) raises
  :class:`~sigver.errors.BlankImageError` instead of crashing on a NaN;
- a signature larger than the canvas emits a :class:`CanvasTooSmallWarning` (``warnings``) instead of a
  ``print``;
- images whose Otsu threshold is their darkest grey level (bilevel scans such as BHSig260's 0/255, and
  nearly bilevel palette scans with levels 0, 254 and 255 where a faint band of 254 lies under part of
  the page): the dark class is a single grey level, so the original's blurred mask (blur <= threshold)
  finds (almost) no ink and crashes. For these images only, the mask used to locate the signature
  thresholds the blurred image at the Otsu threshold *of the blurred image*; background removal is
  unchanged. Every other image is processed exactly as in the original.
"""
from __future__ import annotations

import functools
import warnings
from typing import NamedTuple, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from ..errors import BlankImageError

__all__ = [
    "preprocess_signature",
    "normalize_image",
    "remove_background",
    "resize_image",
    "crop_center",
    "crop_center_multiple",
    "find_signature",
    "SignatureLocation",
    "CanvasTooSmallWarning",
    "METHODS",
]

#: the two implementations (they give identical results)
METHODS = ("fast", "reference")

_BLUR_SIGMA = 2.0      # sigma (pixels) of the blur used to locate the signature
_TRUNCATE = 4.0        # scipy / skimage default kernel truncation, in standard deviations


class CanvasTooSmallWarning(UserWarning):
    """A signature is larger than the canvas; its central part was kept and the sides cropped off."""


class SignatureLocation(NamedTuple):
    """Where :func:`find_signature` found the signature in a scan.

    Attributes
    ----------
    threshold : int
        Otsu threshold of the scan (grey level, 0-255); pixels brighter than it are background.
    rows, cols : (int, int)
        First and last row / column (inclusive) of the blurred ink mask, in scan pixels.
    center : (int, int)
        Truncated centre of mass of the mask relative to ``(rows[0], cols[0])``, in pixels.
    """

    threshold: int
    rows: Tuple[int, int]
    cols: Tuple[int, int]
    center: Tuple[int, int]

    @property
    def crop_shape(self) -> Tuple[int, int]:
        """(height, width) of the tight crop, which excludes the last row and column (as the original)."""
        return self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]


# ---------------------------------------------------------------------------------------------------
# helpers

_KERNELS = None  # sigver.preprocessing._kernels, imported on first use (importing numba takes a while)


def _numba():
    """The numba kernels module :mod:`._kernels` when it is usable, else ``None`` (scipy is used).

    Not usable: numba is not installed, or ``SIGVER_NO_NUMBA=1``. Both give the same results.
    """
    global _KERNELS
    if _KERNELS is None:
        from . import _kernels

        _KERNELS = _kernels
    return _KERNELS if _KERNELS.AVAILABLE else None


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _as_uint8_image(img) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image (H, W), got an array of shape {img.shape}")
    if img.size == 0:
        raise BlankImageError("the image is empty (0 pixels)")
    return img.astype(np.uint8, copy=False)


def _check_size(size, name: str) -> Tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (height, width) of integers, got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, got {(h, w)}")
    return h, w


def _histogram(img: np.ndarray) -> np.ndarray:
    """Counts of the 256 grey levels of a uint8 image (``np.bincount(img.ravel(), minlength=256)``)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).histogram(), dtype=np.int64)


def _otsu_from_counts(counts: np.ndarray) -> int:
    """Otsu threshold from a 256-bin uint8 histogram; the same arithmetic as ``skimage.filters.threshold_otsu``."""
    nz = np.flatnonzero(counts)
    counts = counts[nz[0]:nz[-1] + 1].astype(np.float32)
    centers = np.arange(nz[0], nz[-1] + 1)
    weight1 = np.cumsum(counts)
    weight2 = np.cumsum(counts[::-1])[::-1]
    mean1 = np.cumsum(counts * centers) / weight1
    mean2 = (np.cumsum((counts * centers)[::-1]) / weight2[::-1])[::-1]
    variance12 = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    return int(centers[np.argmax(variance12)])


def _blur(img: np.ndarray) -> np.ndarray:
    """``skimage.filters.gaussian(img, 2, preserve_range=True)``: float64, mode 'nearest', truncate 4."""
    # a uint8 input with a float64 output gives the same values as filtering ``img.astype(float)``
    return ndi.gaussian_filter(img, _BLUR_SIGMA, output=np.float64, mode="nearest", truncate=_TRUNCATE)


def _dark_mask_window(img: np.ndarray, threshold: int):
    """Blurred-image mask ``blur(img) <= threshold`` computed only where it can be true.

    Returns ``(mask, row_offset, col_offset)``: the mask of a sub-window of the scan and its position.
    A pixel whose ``(2R+1)^2`` neighbourhood (R = kernel radius) holds no pixel ``<= threshold`` has a
    blurred value above ``threshold``: exactly it is ``>= threshold + 1`` (positive weights summing to 1);
    computed in float64 it can be a few ulps below (a page of 251 blurs to ``251 - 2.8e-14``) but the
    relative rounding error of the two passes is below 1e-13, far from reaching ``threshold``. So the mask
    lies within R pixels of the dark pixels; blurring that region needs R more pixels of context, which
    with mode 'nearest' is the same as blurring the whole scan.
    """
    dark = img <= threshold
    rows = np.flatnonzero(dark.any(axis=1))
    if rows.size == 0:
        return np.zeros((0, 0), dtype=bool), 0, 0
    cols = np.flatnonzero(dark[rows[0]:rows[-1] + 1].any(axis=0))
    radius = int(_TRUNCATE * _BLUR_SIGMA + 0.5)
    h, w = img.shape
    # region where the mask can be set, and the context needed to blur it exactly
    ir0, ir1 = max(rows[0] - radius, 0), min(rows[-1] + 1 + radius, h)
    ic0, ic1 = max(cols[0] - radius, 0), min(cols[-1] + 1 + radius, w)
    wr0, wr1 = max(ir0 - radius, 0), min(ir1 + radius, h)
    wc0, wc1 = max(ic0 - radius, 0), min(ic1 + radius, w)
    blurred = _blur(img[wr0:wr1, wc0:wc1])
    inner = blurred[ir0 - wr0:ir1 - wr0, ic0 - wc0:ic1 - wc0]
    return inner <= threshold, ir0, ic0


def _dark_counts_window(img: np.ndarray, threshold: int):
    """Per-row and per-column counts of the mask of :func:`_dark_mask_window`.

    Returns ``(per_row, per_col, row_offset, col_offset)``. With numba (:mod:`._kernels`) the blur, the
    comparison and the counts are fused and only the pixels near a dark pixel are blurred; the counts are
    the same.
    """
    kernels = _numba()
    if kernels is not None:
        return kernels.dark_mask_counts(np.ascontiguousarray(img), int(threshold),
                                        kernels.weights(_BLUR_SIGMA, _TRUNCATE))
    mask, r_off, c_off = _dark_mask_window(img, threshold)
    return np.count_nonzero(mask, axis=1), np.count_nonzero(mask, axis=0), r_off, c_off


def find_signature(img, method: str = "fast") -> SignatureLocation:
    """Locate the signature in a scan: Otsu threshold, blurred ink mask, bounding box, centre of mass.

    This is step 1 of :func:`normalize_image` (docs/protocols.md). The scan is blurred with a Gaussian
    of sigma 2 pixels (only to locate the signature: it removes isolated specks) and the mask is the set
    of pixels whose blurred value is at most the Otsu threshold of the un-blurred scan. Scans whose Otsu
    threshold is their darkest grey level (bilevel and nearly bilevel scans) use the Otsu threshold of the
    blurred scan for the mask (see the module notes).

    Parameters
    ----------
    img : array_like, shape (H, W)
        Grayscale scan, dark ink on light paper (cast to uint8).
    method : {'fast', 'reference'}
        Implementation (identical results).

    Returns
    -------
    SignatureLocation

    Raises
    ------
    BlankImageError
        The image has a single grey level, or nothing dark enough after blurring.
    """
    _check_method(method)
    img = _as_uint8_image(img)
    kernels = _numba() if method == "fast" else None
    counts = _histogram(img) if kernels is None else kernels.histogram_u8(np.ascontiguousarray(img))
    levels = np.count_nonzero(counts)
    if levels < 2:
        raise BlankImageError(
            f"the image is blank (every pixel has grey level {int(img.flat[0])}): no signature to process")
    if method == "reference":
        from skimage.filters import threshold_otsu

        threshold = int(threshold_otsu(img))
    else:
        threshold = _otsu_from_counts(counts)

    if threshold == int(np.flatnonzero(counts)[0]):
        # the dark class is a single grey level (bilevel scans, and nearly bilevel ones such as palette
        # scans with levels 0, 254 and 255): Otsu of the raw image is the dark level itself, so the blurred
        # scan is almost never at or below it and the original finds no ink; threshold the blur adaptively
        blurred = _blur(img) if method == "reference" else _blur_full(img)
        if method == "reference":
            from skimage.filters import threshold_otsu

            mask_threshold = threshold_otsu(blurred)
        else:
            mask_threshold = _otsu_float(blurred)
        if kernels is not None:  # the counts of the mask below, without the mask
            mask, r_off, c_off = None, 0, 0
            per_row, per_col = kernels.counts_at_most(blurred, float(mask_threshold))
        else:
            mask, r_off, c_off = blurred <= mask_threshold, 0, 0
    elif method == "reference":
        from skimage.filters import gaussian

        blurred = gaussian(img, _BLUR_SIGMA, preserve_range=True)
        mask, r_off, c_off = blurred <= threshold, 0, 0
    else:
        mask = None
        per_row, per_col, r_off, c_off = _dark_counts_window(img, threshold)
    if mask is not None:
        per_row, per_col = np.count_nonzero(mask, axis=1), np.count_nonzero(mask, axis=0)

    # bounding box and centre of mass of the mask; the means are exact integer sums divided once, which
    # is what ``np.mean`` of the coordinate arrays computes (float64 partial sums of integers are exact)
    total = int(per_row.sum())
    if total == 0:
        raise BlankImageError(
            f"no ink found: no pixel is darker than the Otsu threshold ({threshold}) after blurring "
            "(blank page or only isolated specks)")
    r_idx = np.flatnonzero(per_row)
    c_idx = np.flatnonzero(per_col)
    r_min, r_max = int(r_idx[0]) + r_off, int(r_idx[-1]) + r_off
    c_min, c_max = int(c_idx[0]) + c_off, int(c_idx[-1]) + c_off
    r_sum = int(per_row @ np.arange(per_row.size, dtype=np.int64)) + r_off * total
    c_sum = int(per_col @ np.arange(per_col.size, dtype=np.int64)) + c_off * total
    r_center = int(r_sum / total - r_min)
    c_center = int(c_sum / total - c_min)
    return SignatureLocation(threshold, (r_min, r_max), (c_min, c_max), (r_center, c_center))


def _blur_full(img: np.ndarray) -> np.ndarray:
    """:func:`_blur` of a whole uint8 scan; the numba kernel when available (the same doubles)."""
    kernels = _numba()
    if kernels is None:
        return _blur(img)
    return kernels.gaussian_nearest(np.ascontiguousarray(img), kernels.weights(_BLUR_SIGMA, _TRUNCATE))


def _otsu_float(image: np.ndarray) -> float:
    """``skimage.filters.threshold_otsu(image)`` of a float64 image (256 bins over its range).

    With numba the histogram (numpy's ``np.histogram(image, 256)``, which skimage calls) is counted by
    :func:`._kernels.histogram_uniform` with numpy's own edges and index arithmetic, and skimage computes the
    threshold from it: the same counts, the same threshold.
    """
    from skimage.filters import threshold_otsu

    kernels = _numba()
    if kernels is None or image.ndim != 2:
        return threshold_otsu(image)
    first, last = image.min(), image.max()
    if first == last:  # skimage returns the value of a constant image
        return threshold_otsu(image)
    edges = np.linspace(first, last, 257, endpoint=True, dtype=np.result_type(first, last, image))
    counts = kernels.histogram_uniform(np.ascontiguousarray(image, dtype=np.float64), float(first), float(last),
                                       edges)
    return threshold_otsu(hist=(counts, (edges[:-1] + edges[1:]) / 2.0))


def _place_axis(size: int, center: int, canvas: int, axis_name: str, shape, canvas_size):
    """Start of the crop in the canvas and the slice of the crop kept, along one axis (docs/protocols.md)."""
    start = canvas // 2 - center
    if size > canvas:
        warnings.warn(
            f"the signature ({shape[0]} x {shape[1]} pixels) is larger than the canvas "
            f"({canvas_size[0]} x {canvas_size[1]}) in {axis_name}; its central part is kept and the "
            "rest cropped off. Use a larger canvas.", CanvasTooSmallWarning, stacklevel=4)
        crop_start = (size - canvas) // 2
        return 0, slice(crop_start, crop_start + canvas)
    extra = start + size - canvas
    if extra > 0:
        start -= extra
    return max(start, 0), slice(0, size)


def _place(img: np.ndarray, canvas_size, method: str):
    """Locate, crop and place the signature: returns (crop uint8, r_start, c_start, threshold)."""
    loc = find_signature(img, method)
    (r0, r1), (c0, c1) = loc.rows, loc.cols
    cropped = img[r0:r1, c0:c1]  # the last row / column is excluded, as in the original
    max_rows, max_cols = canvas_size
    shape = cropped.shape
    r_start, r_keep = _place_axis(shape[0], loc.center[0], max_rows, "height", shape, canvas_size)
    c_start, c_keep = _place_axis(shape[1], loc.center[1], max_cols, "width", shape, canvas_size)
    return cropped[r_keep, c_keep], r_start, c_start, loc.threshold


# ---------------------------------------------------------------------------------------------------
# public API

def normalize_image(img, canvas_size=(840, 1360), method: str = "fast") -> np.ndarray:
    """Remove noise and centre the signature on a blank canvas (docs/protocols.md).

    Parameters
    ----------
    img : array_like, shape (H, W)
        Grayscale scan, dark ink on light paper (cast to uint8).
    canvas_size : (int, int)
        Canvas ``(height, width)`` in pixels; it should hold the largest signature of the dataset.
    method : {'fast', 'reference'}
        How the signature is located (identical results).

    Returns
    -------
    ndarray of uint8, shape canvas_size
        Background 255, ink kept grayscale; the tight crop of the signature (last row and column excluded)
        placed so that its centre of mass is at the canvas centre when it fits; every pixel brighter than
        the Otsu threshold set to 255.

    Raises
    ------
    BlankImageError
        The image has no ink.

    Warns
    -----
    CanvasTooSmallWarning
        The signature is larger than the canvas (its central part is kept).
    """
    img = _as_uint8_image(img)
    canvas_size = _check_size(canvas_size, "canvas_size")
    cropped, r_start, c_start, threshold = _place(img, canvas_size, method)
    canvas = np.full(canvas_size, 255, dtype=np.uint8)
    h, w = cropped.shape
    canvas[r_start:r_start + h, c_start:c_start + w] = cropped
    canvas[canvas > threshold] = 255
    return canvas


def remove_background(img) -> np.ndarray:
    """Set every pixel brighter than the Otsu threshold to 255 (no centring; used by SPP-style models).

    Parameters
    ----------
    img : array_like, shape (H, W)
        Grayscale image (cast to uint8).

    Returns
    -------
    ndarray of uint8, shape (H, W)
        A new array (the original modified its argument in place when it was already uint8).
    """
    img = np.array(img, dtype=np.uint8)  # copy
    if img.size == 0:
        return img
    counts = _histogram(img)
    if np.count_nonzero(counts) < 2:
        return img  # Otsu of a constant image is its value: nothing is brighter
    img[img > _otsu_from_counts(counts)] = 255
    return img


def _resize_geometry(shape, size):
    """Resized shape and the crop kept (docs/protocols.md): ``((rh, rw), (row slice, col slice))``."""
    height, width = size
    width_ratio = float(shape[1]) / width
    height_ratio = float(shape[0]) / height
    if width_ratio > height_ratio:
        rh, rw = height, int(round(shape[1] / height_ratio))
        start = int(round((rw - width) / 2.0))
        return (rh, rw), (slice(None), slice(start, start + width))
    rh, rw = int(round(shape[0] / width_ratio)), width
    start = int(round((rh - height) / 2.0))
    return (rh, rw), (slice(start, start + height), slice(None))


def _zoom_axis(n_out: int, zoom: float):
    """First tap and the two weights of each output sample, as ``ndimage.zoom(grid_mode=True, order=1)``."""
    cc = ((np.arange(n_out, dtype=np.float64) + 0.5) * zoom) - 0.5
    first = np.floor(cc)
    x = cc - first
    w0 = 1.0 - x
    w1 = 1.0 - w0  # scipy derives the last weight from the others
    return first.astype(np.int64), w0, w1


class _Geometry(NamedTuple):
    sigma: np.ndarray
    radius: Tuple[int, int]
    taps: tuple


@functools.lru_cache(maxsize=64)
def _sparse_geometry(H: int, W: int, oh: int, ow: int) -> _Geometry:
    """Anti-aliasing sigma and kernel radius, and zoom taps, of ``resize`` from (H, W) to (oh, ow)."""
    factors = np.divide((H, W), (oh, ow))
    anti_aliasing = oh < H or ow < W
    sigma = np.maximum(0, (factors - 1) / 2) if anti_aliasing else np.zeros(2)
    radius = tuple(int(_TRUNCATE * float(s) + 0.5) if s > 1e-15 else 0 for s in sigma)
    taps = _zoom_axis(oh, factors[0]) + _zoom_axis(ow, factors[1])
    for a in taps:
        a.flags.writeable = False
    sigma.flags.writeable = False
    return _Geometry(sigma, radius, taps)


def _filter_window_rows(patch, prow, pcol, nrows, ncols, sigma, needed, filtered):
    """Anti-aliasing filter of a zero window holding ``patch``, rows ``needed`` only, into ``filtered``.

    The window (``nrows`` x ``ncols``) is 0 except for ``patch`` at ``(prow, pcol)``. Computes
    ``gaussian_filter(window, sigma, mode='grid-constant', cval=0, truncate=4)`` (float64; an axis with
    ``sigma <= 1e-15`` is not filtered, as scipy) and writes its rows ``needed`` to ``filtered[:-1, 1:-1]``.
    The numba kernel (:mod:`._kernels`) gives the same doubles.
    """
    h, w = patch.shape
    native = patch.dtype == np.uint8 or not np.issubdtype(patch.dtype, np.integer)
    kernels = _numba()
    if kernels is not None and native:
        # uint8 as is; floats converted as the scipy path does (astype float64)
        work = np.ascontiguousarray(patch, dtype=None if patch.dtype == np.uint8 else np.float64)
        wv, wh = (kernels.weights(float(s), _TRUNCATE) if s > 1e-15 else _UNIT_WEIGHTS for s in sigma)
        kernels.filter_rows_constant(work, prow, pcol, needed, ncols, wv, wh, filtered, 1)
        return
    # first pass (axis 0) on the patch padded with zero rows; an integer input with a float64 output
    # gives the same values as filtering the float64 image
    work = patch if np.issubdtype(patch.dtype, np.integer) else patch.astype(np.float64)
    window = np.zeros((nrows, w), dtype=work.dtype)
    window[prow:prow + h] = work
    if sigma[0] > 1e-15:  # gaussian_filter: axis 0 then axis 1, skipping sigma <= 1e-15
        window = ndi.gaussian_filter1d(window, sigma[0], axis=0, output=np.float64,
                                       mode="grid-constant", cval=0.0, truncate=_TRUNCATE)
    # second pass (axis 1) only on the rows read by the zoom
    band = np.zeros((needed.size, ncols), dtype=np.float64)
    band[:, pcol:pcol + w] = window[needed]
    if sigma[1] > 1e-15:
        ndi.gaussian_filter1d(band, sigma[1], axis=1, output=filtered[:-1, 1:-1],
                              mode="grid-constant", cval=0.0, truncate=_TRUNCATE)
    else:
        filtered[:-1, 1:-1] = band


#: weights of an axis that is not filtered (``x * 1.0 == x``)
_UNIT_WEIGHTS = np.ones(1)
_UNIT_WEIGHTS.flags.writeable = False


def _resize_sparse(patch: np.ndarray, r0: int, c0: int, full_shape, out_shape) -> np.ndarray:
    """``skimage.transform.resize`` of an image that is 0 except for ``patch`` at ``(r0, c0)``.

    Bit-identical to ``resize(full, out_shape, mode='constant', anti_aliasing=True, preserve_range=True)``
    of the full image (float64 output, clipped to the input range), computing only around the patch:

    - the anti-aliasing Gaussian (``ndimage.gaussian_filter``, mode 'grid-constant', cval 0) is run on the
      patch padded by the kernel radius; beyond that every filtered value of the full image is exactly 0.
      Its second pass (along columns) is run only on the rows the zoom reads;
    - the bilinear zoom (``ndimage.zoom(order=1, grid_mode=True)``) is evaluated only for the output
      samples whose taps reach that window, with scipy's coordinates, weights and summation order.

    Parameters
    ----------
    patch : ndarray, shape (h, w)
        The non-zero part of the image (any real dtype; computed in float64).
    r0, c0 : int
        Position of the patch in the full image; the patch must lie inside it.
    full_shape, out_shape : (int, int)
        Shapes of the (virtual) full image and of the output.

    Returns
    -------
    ndarray of float64, shape out_shape
    """
    H, W = full_shape
    oh, ow = out_shape
    h, w = patch.shape
    out = np.zeros((oh, ow), dtype=np.float64)
    if h and w:
        geo = _sparse_geometry(H, W, oh, ow)
        sigma, (rad_r, rad_c) = geo.sigma, geo.radius
        rows, rw0, rw1, cols, cw0, cw1 = geo.taps
        # window of the full image holding every non-zero filtered value (the rest is exactly 0)
        wr0, wr1 = max(r0 - rad_r, 0), min(r0 + h + rad_r, H)
        wc0, wc1 = max(c0 - rad_c, 0), min(c0 + w + rad_c, W)
        # output samples whose taps (first, first + 1) reach the window
        rsel = np.flatnonzero((rows >= wr0 - 1) & (rows <= wr1 - 1))
        csel = np.flatnonzero((cols >= wc0 - 1) & (cols <= wc1 - 1))
        if rsel.size and csel.size:
            # rows of the window read by the zoom
            taps = np.concatenate([rows[rsel], rows[rsel] + 1]) - wr0
            needed = np.unique(taps[(taps >= 0) & (taps < wr1 - wr0)])
            # filtered rows, with one zero column each side and a last zero row ("outside the window")
            filtered = np.zeros((needed.size + 1, wc1 - wc0 + 2), dtype=np.float64)
            _filter_window_rows(patch, r0 - wr0, c0 - wc0, wr1 - wr0, wc1 - wc0, sigma, needed, filtered)

            def row_index(tap):
                local = tap - wr0
                inside = (local >= 0) & (local < wr1 - wr0)
                return np.where(inside, np.searchsorted(needed, local), needed.size)

            top, bottom = row_index(rows[rsel]), row_index(rows[rsel] + 1)
            ci = cols[csel] - (wc0 - 1)
            b0, b1 = cw0[csel], cw1[csel]
            kernels = _numba()
            if kernels is not None:
                kernels.zoom_bilinear(filtered, top, bottom, rw0[rsel], rw1[rsel], ci, b0, b1, out,
                                       int(rsel[0]), int(csel[0]))
            else:
                top, bottom = filtered[top], filtered[bottom]
                a0, a1 = rw0[rsel][:, None], rw1[rsel][:, None]
                # same products and summation order as scipy's NI_ZoomShift
                t = top[:, ci] * a0 * b0
                t += top[:, ci + 1] * a0 * b1
                t += bottom[:, ci] * a1 * b0
                t += bottom[:, ci + 1] * a1 * b1
                out[rsel[0]:rsel[-1] + 1, csel[0]:csel[-1] + 1] = t
    # clip to the range of the input, as skimage does (cval 0 widens it only in a corner case)
    covers = h == H and w == W
    pmin = float(patch.min()) if patch.size else 0.0
    pmax = float(patch.max()) if patch.size else 0.0
    min_val = pmin if covers else min(pmin, 0.0)
    max_val = pmax if covers else max(pmax, 0.0)
    if not min_val <= 0 <= max_val and out.min() <= 0 <= out.max():
        min_val, max_val = min(min_val, 0.0), max(max_val, 0.0)
    np.clip(out, min_val, max_val, out=out)
    return out


def _reference_resize(img: np.ndarray, out_shape) -> np.ndarray:
    from skimage.transform import resize

    return resize(img, out_shape, mode="constant", anti_aliasing=True, preserve_range=True)


def resize_image(img, size, method: str = "fast") -> np.ndarray:
    """Resize keeping the aspect ratio so that the image covers ``size``, then centre-crop (docs/protocols.md).

    The image is resized to ``size[0]`` rows or ``size[1]`` columns (whichever makes it cover the target;
    the other side uses Python's banker's ``round``), with ``skimage.transform.resize(mode='constant',
    anti_aliasing=True, preserve_range=True)``, cast to uint8 by truncation and cropped along the long
    axis starting at ``int(round(excess / 2))``.

    Parameters
    ----------
    img : array_like, shape (H, W)
        Image with background 0 (e.g. an inverted canvas); values in 0-255.
    size : (int, int)
        Target ``(height, width)`` in pixels.
    method : {'fast', 'reference'}
        ``'fast'`` filters and interpolates only around the non-zero pixels of an integer image (identical
        result); float images always take the reference path.

    Returns
    -------
    ndarray of uint8, shape size
    """
    _check_method(method)
    img = np.asarray(img)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image (H, W), got an array of shape {img.shape}")
    size = _check_size(size, "size")
    out_shape, keep = _resize_geometry(img.shape, size)
    if method == "fast" and (np.issubdtype(img.dtype, np.integer)):
        rows = np.flatnonzero(img.any(axis=1))
        if rows.size:
            cols = np.flatnonzero(img[rows[0]:rows[-1] + 1].any(axis=0))
            patch = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            resized = _resize_sparse(patch, int(rows[0]), int(cols[0]), img.shape, out_shape)
        else:
            resized = np.zeros(out_shape)
    else:
        resized = _reference_resize(img, out_shape)
    return resized.astype(np.uint8)[keep]


def crop_center(img, size) -> np.ndarray:
    """Central crop of an image.

    Parameters
    ----------
    img : ndarray, shape (H, W)
    size : (int, int)
        ``(h, w)`` of the crop, at most ``(H, W)``; offsets ``(H - h) // 2`` and ``(W - w) // 2``.

    Returns
    -------
    ndarray, shape (h, w)
        A view of ``img``.
    """
    img = np.asarray(img)
    h, w = _check_size(size, "size")
    if h > img.shape[0] or w > img.shape[1]:
        raise ValueError(f"crop size {(h, w)} is larger than the image {img.shape[:2]}")
    r = (img.shape[0] - h) // 2
    c = (img.shape[1] - w) // 2
    return img[r:r + h, c:c + w]


def crop_center_multiple(imgs, size) -> np.ndarray:
    """Central crop of a batch of images.

    Parameters
    ----------
    imgs : ndarray, shape (N, C, H, W)
    size : (int, int)
        ``(h, w)`` of the crop; offsets ``(H - h) // 2`` and ``(W - w) // 2``.

    Returns
    -------
    ndarray, shape (N, C, h, w)
        A view of ``imgs``.
    """
    imgs = np.asarray(imgs)
    h, w = _check_size(size, "size")
    if h > imgs.shape[-2] or w > imgs.shape[-1]:
        raise ValueError(f"crop size {(h, w)} is larger than the images {imgs.shape[-2:]}")
    r = (imgs.shape[-2] - h) // 2
    c = (imgs.shape[-1] - w) // 2
    return imgs[..., r:r + h, c:c + w]


def preprocess_signature(img, canvas_size, img_size=(170, 242), input_size=(150, 220),
                         method: str = "fast", binarize: bool = False) -> np.ndarray:
    """Pre-process one signature as the original SigNet pipeline (docs/protocols.md).

    Centre it on a ``canvas_size`` canvas and remove the background (:func:`normalize_image`), invert
    (background 0, ink bright), resize to ``img_size`` (:func:`resize_image`) and, when ``input_size`` is
    given and differs, crop the centre to ``input_size``.

    Parameters
    ----------
    img : array_like, shape (H, W)
        Grayscale scan, dark ink on light paper (cast to uint8).
    canvas_size : (int, int)
        Canvas ``(height, width)`` in pixels; it should have the aspect ratio of ``img_size`` and hold the
        largest signature (e.g. 952 x 1360 for GPDS, 730 x 1042 for CEDAR).
    img_size : (int, int)
        Size after resizing, default 170 x 242 (the size stored in dataset files).
    input_size : (int, int) or None
        Final centre crop, default 150 x 220 (the network input); ``None`` keeps ``img_size``.
    method : {'fast', 'reference'}
        ``'reference'`` does it the original way (full canvas through scikit-image); ``'fast'`` gives the
        same bytes without building the canvas.
    binarize : bool, default False
        Set every ink pixel (at or below the Otsu threshold) to full black before inverting and resizing,
        as in a bilevel scan. Not in the original pipeline: it removes the difference between grey ink and
        bilevel scans, for models trained on bilevel scans (such as the shipped BHSig260 model).

    Returns
    -------
    ndarray of uint8, shape input_size (or img_size)
        Background 0, ink bright; divide by 255 for the network.

    Raises
    ------
    BlankImageError
        The image has no ink.

    Warns
    -----
    CanvasTooSmallWarning
        The signature is larger than the canvas (its sides are cropped off).
    """
    _check_method(method)
    img = _as_uint8_image(img)
    canvas_size = _check_size(canvas_size, "canvas_size")
    img_size = _check_size(img_size, "img_size")
    if method == "reference":
        canvas = normalize_image(img, canvas_size, method="reference")
        if binarize:
            canvas[canvas < 255] = 0  # after background removal, every pixel below 255 is ink
        inverted = 255 - canvas
        resized = resize_image(inverted, img_size, method="reference")
    else:
        cropped, r_start, c_start, threshold = _place(img, canvas_size, "fast")
        inverted = 255 - cropped
        inverted[cropped > threshold] = 0  # background removal, then inversion
        if binarize:
            inverted[cropped <= threshold] = 255
        out_shape, keep = _resize_geometry(canvas_size, img_size)
        resized = _resize_sparse(inverted, r_start, c_start, canvas_size, out_shape)
        resized = resized.astype(np.uint8)[keep]
    if input_size is not None and tuple(input_size) != tuple(img_size):
        resized = crop_center(resized, input_size)
    return resized
