"""Optional numba kernels for the Gaussian filters and the zoom of the fast pre-processing path.

Without them :mod:`sigver.preprocessing.normalize` (``method='fast'``) spends most of its time in two
``scipy.ndimage`` Gaussian filters: the sigma-2 blur (mode ``'nearest'``) used to locate the signature, and
the anti-aliasing filter (mode ``'grid-constant'``, cval 0) of the resize, then in the numpy bilinear zoom.
The kernels here compute the same float64 values **bit for bit**, with less work:

- the summation order of scipy's ``NI_Correlate1D`` for a symmetric kernel is reproduced exactly: for each
  output sample ``acc = x[i] * w_c``, then ``acc += (x[i - d] + x[i + d]) * w_d`` for ``d = R, R-1, ..., 1``
  (farthest pair first), all in float64, with the weights scipy itself uses (taken from its own filter of a
  unit impulse, see :func:`weights`). The kernels are compiled without ``fastmath``, so LLVM neither
  reorders these sums nor fuses a multiply and an add into an FMA (the tests compare with
  ``np.array_equal``); the loops are vectorised across output samples, not across the sum;
- in the 'nearest' pass, uint8 pairs are added as integers before the conversion to float64: the same
  double as scipy's sum of the two converted values (both exact, at most 510);
- :func:`dark_mask_counts` fuses both passes of the sigma-2 blur with the ``<= threshold`` comparison and
  returns only the per-row and per-column counts of the mask, skipping the pixels that have no pixel
  ``<= threshold`` within the kernel radius (a square of side ``2R + 1``). Such a pixel is a weighted sum of
  values ``>= threshold + 1`` with positive weights summing to 1 up to a few ulps, so its computed value is
  above ``(threshold + 1) * (1 - 1e-13)``, i.e. above ``threshold`` (at most 255): it is never in the mask.
  The vertical pass is computed only on the columns that the horizontal pass reads for the other pixels;
- :func:`filter_rows_constant` computes the two passes of the anti-aliasing filter only on the rows the
  zoom reads, for an image that is zero outside a patch (zero samples are added literally, as scipy does);
- :func:`gaussian_nearest` is the whole sigma-2 blur and :func:`histogram_uniform` numpy's histogram of equal
  bins (the bin of each value computed with numpy's arithmetic and its two corrections): together the Otsu
  threshold of the blurred scan that locates the signature in bilevel scans (BHSig260), whose mask
  :func:`counts_at_most` counts per row and column without building it; :func:`histogram_u8` counts the grey
  levels of a scan (integers: trivially the same as ``np.bincount``);
- :func:`zoom_bilinear` is the bilinear zoom of ``normalize._resize_sparse`` (products and sums in the
  order of scipy's ``NI_ZoomShift``) without numpy's temporaries.

numba is a dependency of ``pip install sigver`` (the ``fast`` extra is kept as an empty alias). When it cannot
be imported (a platform without its wheels; :func:`warm_up` then says so once, on stderr), or when the environment
variable ``SIGVER_NO_NUMBA=1`` is set (numba is then not even imported), :data:`AVAILABLE` is ``False`` and
:mod:`~sigver.preprocessing.normalize` uses scipy (same results). Compiled kernels are cached on disk
(``cache=True``); call :func:`warm_up` before timing or before starting workers so that the first image does
not pay the compilation or the cache load.
"""
from __future__ import annotations

import functools
import os

import numpy as np

__all__ = ["AVAILABLE", "DISABLED", "weights", "dark_mask_counts", "gaussian_nearest", "histogram_uniform",
           "histogram_u8", "counts_at_most", "filter_rows_constant", "zoom_bilinear", "warm_up"]

#: ``SIGVER_NO_NUMBA`` is set (to anything but ``''``/``'0'``): the scipy code is used, numba is not imported
DISABLED = os.environ.get("SIGVER_NO_NUMBA", "").strip() not in ("", "0")

#: numba imported: the kernels below are defined (they compile on first call, see :func:`warm_up`)
AVAILABLE = False
_IMPORT_ERROR = None  # why numba could not be imported, for diagnostics
if not DISABLED:
    try:
        from numba import njit
    except Exception as exc:  # ImportError, or a broken numba / llvmlite install
        _IMPORT_ERROR = exc
    else:
        AVAILABLE = True


@functools.lru_cache(maxsize=128)
def weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The weights scipy's ``gaussian_filter1d(sigma, truncate=truncate)`` applies, in the kernels' order.

    Returns ``w`` of length ``R + 1`` (``R = int(truncate * sigma + 0.5)``): ``w[k]`` multiplies the pair at
    distance ``R - k`` (farthest first, scipy's order) and ``w[R]`` the centre sample. They are read off
    scipy's own filter of a unit impulse: output ``j`` is exactly ``1.0 * w_c`` (``j = R``) or a single
    ``(1.0 + 0.0) * w_d`` added to ``0.0``, so these are the very doubles scipy's symmetric loop uses.
    """
    from scipy import ndimage as ndi

    radius = int(truncate * float(sigma) + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    out = ndi.gaussian_filter1d(impulse, float(sigma), output=np.float64, mode="constant", cval=0.0,
                                truncate=truncate)
    w = np.ascontiguousarray(out[:radius + 1])
    w.flags.writeable = False
    return w


if AVAILABLE:
    _jit = njit(cache=True, nogil=True)

    # ---------------------------------------------------------------------------------------------------
    # 1-D passes. Each output sample gets exactly scipy's operations in scipy's order; the loops run over
    # output samples (vectorised), four pairs of taps per loop to keep the accumulator in a register.

    @_jit
    def _hpass(line, off, n, w, dst):
        """``dst[j] = line[off+j]*w[R]``, then ``+= (line[off+j-d] + line[off+j+d]) * w[R-d]``, d = R..1."""
        R = w.shape[0] - 1
        x = line[off:off + n]
        wc = w[R]
        for j in range(n):
            dst[j] = x[j] * wc
        t = 0
        while t + 4 <= R:
            d0, d1, d2, d3 = R - t, R - t - 1, R - t - 2, R - t - 3
            w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
            a0, b0 = line[off - d0:off - d0 + n], line[off + d0:off + d0 + n]
            a1, b1 = line[off - d1:off - d1 + n], line[off + d1:off + d1 + n]
            a2, b2 = line[off - d2:off - d2 + n], line[off + d2:off + d2 + n]
            a3, b3 = line[off - d3:off - d3 + n], line[off + d3:off + d3 + n]
            for j in range(n):
                acc = dst[j]
                acc += (a0[j] + b0[j]) * w0
                acc += (a1[j] + b1[j]) * w1
                acc += (a2[j] + b2[j]) * w2
                acc += (a3[j] + b3[j]) * w3
                dst[j] = acc
            t += 4
        while t < R:
            d = R - t
            wt = w[t]
            a0, b0 = line[off - d:off - d + n], line[off + d:off + d + n]
            for j in range(n):
                dst[j] += (a0[j] + b0[j]) * wt
            t += 1

    @_jit
    def _vpass_nearest(img, i, a, b, w, dst):
        """Axis-0 pass, mode 'nearest', of row ``i`` of a uint8 image, columns ``a:b``, into ``dst[:b-a]``.

        A uint8 pair is summed in int32 then converted: exact, as scipy's sum of the two converted values.
        """
        H = img.shape[0]
        R = w.shape[0] - 1
        n = b - a
        x = img[i, a:b]
        wc = w[R]
        for j in range(n):
            dst[j] = np.float64(x[j]) * wc
        t = 0
        while t + 4 <= R:
            w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
            a0, b0 = img[max(i - R + t, 0), a:b], img[min(i + R - t, H - 1), a:b]
            a1, b1 = img[max(i - R + t + 1, 0), a:b], img[min(i + R - t - 1, H - 1), a:b]
            a2, b2 = img[max(i - R + t + 2, 0), a:b], img[min(i + R - t - 2, H - 1), a:b]
            a3, b3 = img[max(i - R + t + 3, 0), a:b], img[min(i + R - t - 3, H - 1), a:b]
            for j in range(n):
                acc = dst[j]
                acc += np.float64(np.int32(a0[j]) + np.int32(b0[j])) * w0
                acc += np.float64(np.int32(a1[j]) + np.int32(b1[j])) * w1
                acc += np.float64(np.int32(a2[j]) + np.int32(b2[j])) * w2
                acc += np.float64(np.int32(a3[j]) + np.int32(b3[j])) * w3
                dst[j] = acc
            t += 4
        while t < R:
            wt = w[t]
            a0, b0 = img[max(i - R + t, 0), a:b], img[min(i + R - t, H - 1), a:b]
            for j in range(n):
                dst[j] += np.float64(np.int32(a0[j]) + np.int32(b0[j])) * wt
            t += 1

    @_jit
    def _vpass_constant(patch, zero, p, w, dst):
        """Axis-0 pass, cval 0, at row ``p`` (may be outside) of ``patch`` padded with zero rows, into ``dst``.

        Rows outside the patch are read from ``zero`` (a row of zeros), so zero samples are added literally
        (``x + 0.0``, ``acc + (0.0 + 0.0) * w``) as scipy does.
        """
        h, n = patch.shape
        R = w.shape[0] - 1
        x = patch[p] if 0 <= p < h else zero
        wc = w[R]
        for j in range(n):
            dst[j] = np.float64(x[j]) * wc
        t = 0
        while t + 4 <= R:
            w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
            d0, d1, d2, d3 = R - t, R - t - 1, R - t - 2, R - t - 3
            a0 = patch[p - d0] if 0 <= p - d0 < h else zero
            b0 = patch[p + d0] if 0 <= p + d0 < h else zero
            a1 = patch[p - d1] if 0 <= p - d1 < h else zero
            b1 = patch[p + d1] if 0 <= p + d1 < h else zero
            a2 = patch[p - d2] if 0 <= p - d2 < h else zero
            b2 = patch[p + d2] if 0 <= p + d2 < h else zero
            a3 = patch[p - d3] if 0 <= p - d3 < h else zero
            b3 = patch[p + d3] if 0 <= p + d3 < h else zero
            for j in range(n):
                acc = dst[j]
                acc += (np.float64(a0[j]) + np.float64(b0[j])) * w0
                acc += (np.float64(a1[j]) + np.float64(b1[j])) * w1
                acc += (np.float64(a2[j]) + np.float64(b2[j])) * w2
                acc += (np.float64(a3[j]) + np.float64(b3[j])) * w3
                dst[j] = acc
            t += 4
        while t < R:
            d = R - t
            wt = w[t]
            a0 = patch[p - d] if 0 <= p - d < h else zero
            b0 = patch[p + d] if 0 <= p + d < h else zero
            for j in range(n):
                dst[j] += (np.float64(a0[j]) + np.float64(b0[j])) * wt
            t += 1

    # ---------------------------------------------------------------------------------------------------
    # the sigma-2 blur ('nearest') fused with the threshold

    @_jit
    def _merge_runs(starts, ends, n, grow, lo, hi, out_starts, out_ends):
        """Runs ``[starts[k] - grow, ends[k] + grow)`` clipped to ``[lo, hi)`` and merged; returns their count."""
        m = 0
        for k in range(n):
            a = max(starts[k] - grow, lo)
            b = min(ends[k] + grow, hi)
            if a >= b:
                continue
            if m > 0 and a <= out_ends[m - 1]:
                if b > out_ends[m - 1]:
                    out_ends[m - 1] = b
            else:
                out_starts[m] = a
                out_ends[m] = b
                m += 1
        return m

    @_jit
    def dark_mask_counts(img, threshold, w):
        """Per-row and per-column counts of ``gaussian_filter(img, sigma, mode='nearest') <= threshold``.

        Parameters
        ----------
        img : ndarray of uint8, shape (H, W), C-contiguous
            The scan.
        threshold : int
            Grey level (0-255).
        w : ndarray of float64, shape (R + 1,)
            :func:`weights` of the blur (``R`` is the kernel radius).

        Returns
        -------
        (per_row, per_col, r0, c0)
            Counts of the mask over rows ``r0 .. r0 + len(per_row) - 1`` and columns ``c0 .. c0 +
            len(per_col) - 1``, the pixels within ``R`` of a pixel ``<= threshold`` (the mask is empty
            elsewhere); empty arrays when no pixel is ``<= threshold``.
        """
        H, W = img.shape
        R = w.shape[0] - 1
        if threshold < 0 or H == 0 or W == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), 0, 0
        t8 = np.uint8(min(threshold, 255))  # uint8 comparisons vectorise better; same dark pixels
        tf = np.float64(threshold)
        # bounding box of the dark pixels (row minimum first: a vectorised reduction)
        rmin, rmax, cmin, cmax = H, -1, W, -1
        for i in range(H):
            row = img[i]
            m = row[0]
            for j in range(W):
                v = row[j]
                m = v if v < m else m
            if m > t8:
                continue
            if rmin == H:
                rmin = i
            rmax = i
            j = 0  # only the columns left of cmin / right of cmax can move them
            while j < cmin and row[j] > t8:
                j += 1
            cmin = j
            j = W - 1
            while j > cmax and row[j] > t8:
                j -= 1
            cmax = j
        if rmax < 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), 0, 0
        ir0, ir1 = max(rmin - R, 0), min(rmax + 1 + R, H)
        ic0, ic1 = max(cmin - R, 0), min(cmax + 1 + R, W)
        vlo, vhi = max(ic0 - R, 0), min(ic1 + R, W)  # columns of the vertical pass the horizontal one reads
        per_row = np.zeros(ir1 - ir0, np.int64)
        per_col = np.zeros(ic1 - ic0, np.int64)
        nc = cmax + 1 - cmin
        # vcount[j]: dark pixels of column cmin + j in rows i - R .. i + R (at most 2R + 1 <= 255), zero
        # padded to whole 64-bit words, scanned a word at a time for runs
        if 2 * R + 1 > 255:
            raise ValueError("dark_mask_counts: kernel radius above 127")
        nw = (nc + 7) // 8
        vcount = np.zeros(8 * nw, np.uint8)
        vwords = vcount.view(np.uint64)
        ones = np.uint64(0x0101010101010101)
        highs = np.uint64(0x8080808080808080)
        for i in range(max(ir0 - R, 0), min(ir0 + R + 1, H)):
            src = img[i, cmin:cmax + 1]
            for j in range(nc):
                vcount[j] += src[j] <= t8
        dstarts = np.empty(nc, np.int64)
        dends = np.empty(nc, np.int64)
        hstarts = np.empty(nc, np.int64)
        hends = np.empty(nc, np.int64)
        vstarts = np.empty(nc, np.int64)
        vends = np.empty(nc, np.int64)
        vrow = np.zeros(W + 2 * R)  # vertical pass of row i at [R + c], edge values repeated on the pads
        hrow = np.zeros(W)
        for i in range(ir0, ir1):
            if i > ir0:  # slide the row window of vcount: add row i + R, drop row i - R - 1
                if i + R < H:
                    src = img[i + R, cmin:cmax + 1]
                    for j in range(nc):
                        vcount[j] += src[j] <= t8
                if i - R - 1 >= 0:
                    src = img[i - R - 1, cmin:cmax + 1]
                    for j in range(nc):
                        vcount[j] -= src[j] <= t8
            # runs of columns with a dark pixel in rows i - R .. i + R; a word of 8 counts is skipped when
            # all are zero, or all non-zero (no zero byte: (x - 0x01..01) & ~x & 0x80..80 == 0)
            nd = 0
            inrun = False
            for q in range(nw):
                x = vwords[q]
                if x == 0:
                    if inrun:
                        dends[nd] = cmin + 8 * q
                        nd += 1
                        inrun = False
                    continue
                if ((x - ones) & ~x & highs) == 0:
                    if not inrun:
                        dstarts[nd] = cmin + 8 * q
                        inrun = True
                    continue
                for j in range(8 * q, 8 * q + 8):
                    if vcount[j] != 0:
                        if not inrun:
                            dstarts[nd] = cmin + j
                            inrun = True
                    elif inrun:
                        dends[nd] = cmin + j
                        nd += 1
                        inrun = False
            if inrun:  # the padding is zero: only when nc is a multiple of 8
                dends[nd] = cmin + nc
                nd += 1
            if nd == 0:
                continue
            # the mask can be set only within R columns of those runs; the horizontal pass there reads the
            # vertical pass within 2R columns (including the 'nearest' pads, copies of columns 0 and W - 1)
            nh = _merge_runs(dstarts, dends, nd, R, ic0, ic1, hstarts, hends)
            nv = _merge_runs(dstarts, dends, nd, 2 * R, vlo, vhi, vstarts, vends)
            for k in range(nv):
                a, b = vstarts[k], vends[k]
                _vpass_nearest(img, i, a, b, w, vrow[R + a:R + b])
            for t in range(R):
                vrow[t] = vrow[R]
                vrow[R + W + t] = vrow[R + W - 1]
            cnt = 0
            for k in range(nh):
                a, b = hstarts[k], hends[k]
                n = b - a
                dst = hrow[a:b]
                _hpass(vrow, R + a, n, w, dst)
                col = per_col[a - ic0:b - ic0]
                for j in range(n):
                    inside = dst[j] <= tf
                    col[j] += inside
                    cnt += inside
            per_row[i - ir0] = cnt
        return per_row, per_col, ir0, ic0

    @_jit
    def gaussian_nearest(img, w):
        """Full ``gaussian_filter(img, sigma, output=float64, mode='nearest')`` of a uint8 image (bilevel scans).

        The same passes as :func:`dark_mask_counts`, on every pixel.
        """
        H, W = img.shape
        R = w.shape[0] - 1
        out = np.empty((H, W))
        if H == 0 or W == 0:
            return out
        vrow = np.zeros(W + 2 * R)
        for i in range(H):
            _vpass_nearest(img, i, 0, W, w, vrow[R:R + W])
            for t in range(R):
                vrow[t] = vrow[R]
                vrow[R + W + t] = vrow[R + W - 1]
            _hpass(vrow, R, W, w, out[i])
        return out

    @_jit
    def histogram_uniform(a, first, last, edges):
        """``np.histogram(a, bins=len(edges) - 1, range=(first, last))[0]`` for float64 ``a`` (2-D, C order) and
        numpy's own ``edges`` (``np.linspace(first, last, n + 1)``): numpy's index of each value, then its
        two corrections against the edges, value by value (int64 counts)."""
        n = edges.shape[0] - 1
        counts = np.zeros(n, np.int64)
        denom = last - first
        H, W = a.shape
        prev, prev_i = np.nan, -1  # a value equal to the previous one has its bin (most of a blurred page)
        for r in range(H):
            for c in range(W):
                x = a[r, c]
                if x == prev:
                    counts[prev_i] += 1
                    continue
                if not (x >= first and x <= last):
                    continue
                i = int(((x - first) / denom) * n)
                if i == n:
                    i -= 1
                if x < edges[i]:
                    i -= 1
                if x >= edges[i + 1] and i != n - 1:
                    i += 1
                counts[i] += 1
                prev, prev_i = x, i
        return counts

    @_jit
    def histogram_u8(img):
        """``np.bincount(img.ravel(), minlength=256)`` of a 2-D uint8 image (int64)."""
        counts = np.zeros(256, np.int64)
        H, W = img.shape
        for r in range(H):
            for c in range(W):
                counts[img[r, c]] += 1
        return counts

    @_jit
    def counts_at_most(a, t):
        """Per-row and per-column counts of ``a <= t`` (2-D float64), as ``np.count_nonzero`` of the mask."""
        H, W = a.shape
        per_row = np.zeros(H, np.int64)
        per_col = np.zeros(W, np.int64)
        for r in range(H):
            n = 0
            for c in range(W):
                if a[r, c] <= t:
                    n += 1
                    per_col[c] += 1
            per_row[r] = n
        return per_row, per_col

    # ---------------------------------------------------------------------------------------------------
    # the anti-aliasing filter of the resize ('grid-constant', cval 0)

    @_jit
    def filter_rows_constant(patch, prow, pcol, rows, ncols, wv, wh, out, ocol):
        """Both passes of ``gaussian_filter(mode='grid-constant', cval=0)`` of a window, on some rows only.

        The window (``rows`` index its rows, ``ncols`` columns) is zero except for ``patch`` placed at row
        ``prow`` and column ``pcol``; the padding beyond the window is zero too. Row ``rows[k]`` of the
        filtered window is written to ``out[k, ocol:ocol + ncols]``.

        Parameters
        ----------
        patch : ndarray of uint8 or float64, shape (h, w), C-contiguous
        prow, pcol : int
            Position of the patch in the window (inside it).
        rows : ndarray of int64
            Window rows to compute.
        ncols : int
            Width of the window.
        wv, wh : ndarray of float64
            :func:`weights` of the axis-0 and axis-1 passes; ``[1.0]`` for an axis that is not filtered
            (``x * 1.0 == x``, as scipy's skipped pass).
        out : ndarray of float64, shape (>= len(rows), >= ocol + ncols), C-contiguous
        ocol : int
        """
        pw = patch.shape[1]
        Rh = wh.shape[0] - 1
        line = np.zeros(ncols + 2 * Rh)  # the row, zero-padded by Rh on each side
        seg = line[Rh + pcol:Rh + pcol + pw]
        zero = np.zeros(pw, patch.dtype)
        for k in range(rows.shape[0]):
            _vpass_constant(patch, zero, rows[k] - prow, wv, seg)
            _hpass(line, Rh, ncols, wh, out[k, ocol:ocol + ncols])

    @_jit
    def zoom_bilinear(filtered, top, bottom, a0, a1, ci, b0, b1, out, r0, c0):
        """Bilinear zoom samples ``out[r0 + i, c0 + j]`` from rows ``top[i]``, ``bottom[i]`` of ``filtered``.

        ``v = T[c] * a0 * b0 + T[c+1] * a0 * b1 + B[c] * a1 * b0 + B[c+1] * a1 * b1`` with ``c = ci[j]``,
        ``T = filtered[top[i]]``, ``B = filtered[bottom[i]]``, summed left to right (the order of scipy's
        ``NI_ZoomShift`` and of the numpy fallback in ``normalize._resize_sparse``).
        """
        nr = top.shape[0]
        nc = ci.shape[0]
        for i in range(nr):
            T = filtered[top[i]]
            B = filtered[bottom[i]]
            wa0, wa1 = a0[i], a1[i]
            o = out[r0 + i, c0:c0 + nc]
            for j in range(nc):
                c = ci[j]
                v = T[c] * wa0 * b0[j]
                v += T[c + 1] * wa0 * b1[j]
                v += B[c] * wa1 * b0[j]
                v += B[c + 1] * wa1 * b1[j]
                o[j] = v


_NOTED = False


def _note_slow_path() -> None:
    """Say once per process why the compiled kernels are not used (not when SIGVER_NO_NUMBA asks for it)."""
    global _NOTED
    if _NOTED or DISABLED:
        return
    _NOTED = True
    import sys

    print(f"sigver: numba is not importable ({type(_IMPORT_ERROR).__name__}: {_IMPORT_ERROR}); pre-processing "
          "uses scipy (the same output, 3-4x slower). For the compiled kernels: pip install 'numba>=0.59' "
          "(SIGVER_NO_NUMBA=1 silences this)", file=sys.stderr)


def warm_up() -> bool:
    """Compile (or load from the on-disk cache) the kernels for the argument types the pre-processing uses.

    Call it before timing and in worker initialisers, so that no image pays for a compilation (seconds the
    first time, then a cache load of about 0.3 s). Returns :data:`AVAILABLE` (``False``:
    nothing to do, scipy is used).
    """
    if not AVAILABLE:
        _note_slow_path()
        return False
    w2 = weights(2.0)
    wa = weights(0.8)
    rows = np.arange(2, dtype=np.int64)
    out = np.zeros((3, 9))
    for dtype in (np.uint8, np.float64):
        for writeable in (True, False):  # e.g. np.asarray(PIL image) is read-only: another specialisation
            img = np.full((5, 7), 200, dtype)
            img[2, 3] = 10
            img.flags.writeable = writeable
            if dtype == np.uint8:
                dark_mask_counts(img, 100, w2)
                histogram_u8(img)
                blurred = gaussian_nearest(img, w2)
                histogram_uniform(blurred, 0.0, 255.0, np.linspace(0.0, 255.0, 257))
                counts_at_most(blurred, 100.0)
            filter_rows_constant(img, 0, 0, rows, 7, w2, wa, out, 1)
    idx = np.zeros(2, np.int64)
    half = np.full(2, 0.5)
    zoom_bilinear(out, idx, idx + 1, half, half, idx, half, half, np.zeros((3, 3)), 1, 1)
    return True
