"""Optional numba kernels of the fast pre-processing (sigver.preprocessing._kernels): bit-exact with scipy.

Every float64 comparison here is bitwise (``np.array_equal`` of the int64 views: not ``allclose``, and even
``-0.0`` vs ``0.0`` would fail). The kernel tests skip when numba is not installed (or ``SIGVER_NO_NUMBA=1``);
the fallback tests always run.
"""
import os
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from sigver.errors import BlankImageError
from sigver.preprocessing import _kernels, normalize
from sigver.preprocessing.normalize import CanvasTooSmallWarning, find_signature, preprocess_signature

REPO = Path(__file__).resolve().parents[2]
needs_numba = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba not installed (or SIGVER_NO_NUMBA=1)")

SIGMAS = [2.0, 1.64, 1.6468, 2.3, 0.8, 0.1, 3.7]  # 0.1: radius 0 (a single weight)
SHAPES = [(1, 1), (1, 40), (40, 1), (3, 5), (5, 3), (7, 9), (17, 17), (33, 61), (120, 97), (270, 650)]


def seed(*args) -> int:
    """A seed that does not depend on PYTHONHASHSEED."""
    return zlib.crc32(repr(args).encode())


def bits_equal(a, b) -> bool:
    a, b = np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def random_u8(rng, shape, sparse=False):
    img = rng.integers(0, 256, shape).astype(np.uint8)
    if sparse:  # a light page with a few dark pixels, as a scan
        img = np.where(rng.random(shape) < 0.97, rng.integers(200, 256, shape), img).astype(np.uint8)
    return img


@pytest.fixture
def scipy_only(monkeypatch):
    """Force the scipy code of normalize (as SIGVER_NO_NUMBA=1 does) for the duration of a test."""
    normalize._numba()  # import _kernels
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    assert normalize._numba() is None


# --- weights -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", SIGMAS)
def test_weights_are_scipys(sigma):
    from scipy.ndimage._filters import _gaussian_kernel1d  # private: what gaussian_filter1d uses

    radius = int(4.0 * sigma + 0.5)
    w = _kernels.weights(sigma)
    assert w.shape == (radius + 1,) and not w.flags.writeable
    # gaussian_filter1d correlates with the reversed kernel; the symmetric loop reads its first half
    assert bits_equal(w, _gaussian_kernel1d(sigma, 0, radius)[::-1][:radius + 1])


# --- FMA / reassociation canary --------------------------------------------------------------------------
@needs_numba
def test_numba_does_not_fuse_or_reassociate():
    """``acc + (a + b) * w`` compiled by numba rounds like numpy's separate operations (no FMA, no reorder)."""
    from numba import njit

    @njit(cache=False)
    def f(acc, a, b, w, out):
        for j in range(acc.shape[0]):
            out[j] = ((acc[j] + (a[j] + b[j]) * w[j]) + a[j] * w[j]) + b[j]

    rng = np.random.default_rng(0)
    acc, a, b, w = (rng.random(100_000) * 10 ** rng.uniform(-5, 5, 100_000) for _ in range(4))
    out = np.empty_like(acc)
    f(acc, a, b, w, out)
    expected = ((acc + (a + b) * w) + a * w) + b
    assert bits_equal(out, expected)
    # and the check is sensitive: a fused multiply-add does differ on this data
    fused = np.array([float(np.longdouble(x) + np.longdouble(y) * np.longdouble(z))
                      for x, y, z in zip(acc[:2000], (a + b)[:2000], w[:2000])])
    if np.finfo(np.longdouble).nmant > 52:
        assert not bits_equal(fused, acc[:2000] + (a + b)[:2000] * w[:2000])


# --- the 'nearest' blur ----------------------------------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_gaussian_nearest_bit_exact(shape, sigma):
    rng = np.random.default_rng(seed(shape, sigma))
    img = random_u8(rng, shape)
    ref = ndi.gaussian_filter(img, sigma, output=np.float64, mode="nearest", truncate=4.0)
    assert bits_equal(_kernels.gaussian_nearest(img, _kernels.weights(sigma)), ref)
    assert bits_equal(normalize._blur(img), ndi.gaussian_filter(img.astype(float), 2.0, mode="nearest"))


def _mask_counts_reference(img, threshold):
    mask = ndi.gaussian_filter(img, 2.0, output=np.float64, mode="nearest", truncate=4.0) <= threshold
    return mask.sum(axis=1), mask.sum(axis=0)


@needs_numba
@pytest.mark.parametrize("shape", SHAPES)
def test_dark_mask_counts_equal_scipy_mask(shape):
    rng = np.random.default_rng(sum(shape))
    w = _kernels.weights(2.0)
    for sparse in (False, True):
        img = random_u8(rng, shape, sparse)
        for threshold in [-1, 0, 1, 37, 100, 127, 180, 200, 211, 230, 254, 255, 256]:
            per_row, per_col, r0, c0 = _kernels.dark_mask_counts(img, threshold, w)
            rows, cols = _mask_counts_reference(img, threshold)
            if not (img <= threshold).any():
                assert per_row.size == per_col.size == 0 and rows.sum() == 0
                continue
            # outside the returned window the mask is empty
            assert rows[:r0].sum() == rows[r0 + per_row.size:].sum() == 0
            assert cols[:c0].sum() == cols[c0 + per_col.size:].sum() == 0
            np.testing.assert_array_equal(per_row, rows[r0:r0 + per_row.size])
            np.testing.assert_array_equal(per_col, cols[c0:c0 + per_col.size])


@needs_numba
def test_dark_mask_counts_at_blurred_values():
    """Thresholds equal to blurred values (ties ``==``) and the pixels just beside dark ones."""
    rng = np.random.default_rng(5)
    w = _kernels.weights(2.0)
    for _ in range(20):
        h, w_ = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        img = np.full((h, w_), int(rng.integers(1, 256)), np.uint8)  # constant page: blurred == value?
        k = int(rng.integers(1, 6))
        img[rng.integers(0, h, k), rng.integers(0, w_, k)] = rng.integers(0, 256, k)
        blurred = ndi.gaussian_filter(img, 2.0, output=np.float64, mode="nearest")
        candidates = {int(np.floor(v)) for v in blurred.ravel()[::7]} | {int(img.min()), int(img.max()) - 1}
        for threshold in sorted(candidates):
            per_row, per_col, r0, c0 = _kernels.dark_mask_counts(img, threshold, w)
            rows, cols = _mask_counts_reference(img, threshold)
            full_r = np.zeros(h, np.int64)
            full_c = np.zeros(w_, np.int64)
            full_r[r0:r0 + per_row.size] = per_row
            full_c[c0:c0 + per_col.size] = per_col
            np.testing.assert_array_equal(full_r, rows)
            np.testing.assert_array_equal(full_c, cols)


@needs_numba
def test_empty_images():
    w = _kernels.weights(2.0)
    for shape in [(0, 0), (0, 5), (5, 0)]:
        img = np.zeros(shape, np.uint8)
        per_row, per_col, _, _ = _kernels.dark_mask_counts(img, 100, w)
        assert per_row.size == per_col.size == 0
        assert _kernels.gaussian_nearest(img, w).shape == shape


@needs_numba
def test_dark_mask_counts_pages_just_above_threshold():
    """A page of ``t + 1`` blurs to a few ulps below ``t + 1`` (251 -> 251 - 2.8e-14), never to ``t``."""
    w = _kernels.weights(2.0)
    for value in range(1, 256):
        img = np.full((40, 50), value, np.uint8)
        img[20, 25] = value - 1
        for threshold in (value - 1, value):
            per_row, per_col, r0, c0 = _kernels.dark_mask_counts(img, threshold, w)
            rows, cols = _mask_counts_reference(img, threshold)
            assert per_row.sum() == rows.sum()
            np.testing.assert_array_equal(per_row, rows[r0:r0 + per_row.size])
            np.testing.assert_array_equal(per_col, cols[c0:c0 + per_col.size])


@needs_numba
def test_dark_counts_window_matches_mask_window():
    rng = np.random.default_rng(11)
    for _ in range(30):
        img = random_u8(rng, (int(rng.integers(1, 200)), int(rng.integers(1, 300))), sparse=True)
        threshold = int(rng.integers(0, 256))
        mask, r0, c0 = normalize._dark_mask_window(img, threshold)
        per_row, per_col, r1, c1 = normalize._dark_counts_window(img, threshold)
        if mask.sum() == 0:
            assert per_row.sum() == 0
            continue
        full = np.zeros(img.shape, bool)
        full[r0:r0 + mask.shape[0], c0:c0 + mask.shape[1]] = mask
        rows, cols = full.sum(axis=1), full.sum(axis=0)
        np.testing.assert_array_equal(per_row, rows[r1:r1 + per_row.size])
        np.testing.assert_array_equal(per_col, cols[c1:c1 + per_col.size])
        assert rows.sum() == per_row.sum()


# --- the anti-aliasing filter ('grid-constant', cval 0) ----------------------------------------------------
def _constant_reference(window, sigmas):
    out = window if window.dtype == np.float64 else window.astype(np.float64)
    for axis, s in enumerate(sigmas):
        if s is not None:
            out = ndi.gaussian_filter1d(window if axis == 0 else out, s, axis=axis, output=np.float64,
                                        mode="grid-constant", cval=0.0, truncate=4.0)
    return out


@needs_numba
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sigmas", [(2.0, 2.0), (1.64, 1.6468), (2.3, 0.8), (0.8, 2.3), (0.1, 3.7),
                                    (None, 1.64), (1.64, None), (None, None)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_filter_rows_constant_bit_exact(shape, sigmas, dtype):
    rng = np.random.default_rng(seed(shape, sigmas, np.dtype(dtype).name))
    h, w = shape
    patch = random_u8(rng, shape).astype(dtype)
    if dtype == np.float64:
        patch = patch * rng.random(shape) - 40.0 * (rng.random(shape) < 0.1)  # negatives too
    # the patch inside a zero window with margins (0 on some sides), as in _resize_sparse
    top, bottom, left, right = (int(m) for m in rng.integers(0, 12, 4))
    window = np.zeros((h + top + bottom, w + left + right), dtype)
    window[top:top + h, left:left + w] = patch
    ref = _constant_reference(window, sigmas)
    wv, wh = (_kernels.weights(s) if s is not None else normalize._UNIT_WEIGHTS for s in sigmas)
    for rows in (np.arange(window.shape[0]), np.unique(rng.integers(0, window.shape[0], 5))):
        out = np.full((rows.size + 1, window.shape[1] + 2), 7.0)
        _kernels.filter_rows_constant(patch, top, left, rows.astype(np.int64), window.shape[1], wv, wh, out, 1)
        assert bits_equal(out[:-1, 1:-1], ref[rows])
        assert (out[-1] == 7.0).all() and (out[:, 0] == 7.0).all() and (out[:, -1] == 7.0).all()


@needs_numba
def test_filter_window_rows_numba_equals_scipy(monkeypatch):
    rng = np.random.default_rng(3)
    for _ in range(40):
        h, w = int(rng.integers(1, 120)), int(rng.integers(1, 160))
        patch = (rng.integers(0, 256, (h, w)) * (rng.random((h, w)) < 0.4)).astype(np.uint8)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]  # not contiguous
        top, bottom, left, right = (int(m) for m in rng.integers(0, 10, 4))
        sigma = np.array([rng.choice([0.0, 0.6, 1.64, 2.3]), rng.choice([0.0, 0.8, 1.6468, 3.1])])
        needed = np.unique(rng.integers(0, h + top + bottom, int(rng.integers(1, 30))))
        got = np.zeros((needed.size + 1, w + left + right + 2))
        normalize._filter_window_rows(patch, top, left, h + top + bottom, w + left + right, sigma, needed, got)
        with monkeypatch.context() as m:
            m.setattr(_kernels, "AVAILABLE", False)
            ref = np.zeros_like(got)
            normalize._filter_window_rows(patch, top, left, h + top + bottom, w + left + right, sigma, needed,
                                          ref)
        assert bits_equal(got, ref)


@needs_numba
def test_zoom_bilinear_matches_numpy():
    rng = np.random.default_rng(9)
    filtered = rng.random((12, 40))
    top = rng.integers(0, 12, 7)
    bottom = rng.integers(0, 12, 7)
    ci = np.sort(rng.integers(0, 39, 15))
    a0, b0 = rng.random(7), rng.random(15)
    a1, b1 = 1.0 - a0, 1.0 - b0
    out = np.zeros((10, 20))
    _kernels.zoom_bilinear(filtered, top, bottom, a0, a1, ci, b0, b1, out, 2, 3)
    T, B = filtered[top], filtered[bottom]
    t = T[:, ci] * a0[:, None] * b0
    t += T[:, ci + 1] * a0[:, None] * b1
    t += B[:, ci] * a1[:, None] * b0
    t += B[:, ci + 1] * a1[:, None] * b1
    assert bits_equal(out[2:9, 3:18], t)
    assert not out[:2].any() and not out[9:].any() and not out[:, :3].any() and not out[:, 18:].any()


# --- the whole pipeline, numba on and off ----------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_scans():
    from sigver.datasets.synthetic import SyntheticSignatures

    ds = SyntheticSignatures(n_users=3, genuine=3, forgeries=2, seed=4)
    return [ds.load(it) for u in ds.get_user_list() for it in ds.list_genuine(u) + ds.list_skilled(u)]


def _pipeline(imgs, canvas, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CanvasTooSmallWarning)
        return [preprocess_signature(im, canvas, input_size=None, method=method) for im in imgs]


@pytest.mark.parametrize("numba_on", [True, False], ids=["numba", "scipy"])
@pytest.mark.parametrize("canvas", [(952, 1360), (730, 1042), (500, 700)])
def test_fast_equals_reference_synthetic(synthetic_scans, canvas, numba_on, monkeypatch):
    if numba_on and not _kernels.AVAILABLE:
        pytest.skip("numba not installed (or SIGVER_NO_NUMBA=1)")
    if not numba_on:
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
    assert (normalize._numba() is not None) == numba_on
    ref = _pipeline(synthetic_scans, canvas, "reference")
    fast = _pipeline(synthetic_scans, canvas, "fast")
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)


@needs_numba
def test_resize_sparse_float64_identical_with_and_without_numba(synthetic_scans, monkeypatch):
    """Stronger than the uint8 outputs: the float64 resized image before the cast, bit for bit."""
    canvas, size = (730, 1042), (170, 242)
    out_shape, _ = normalize._resize_geometry(canvas, size)
    for img in synthetic_scans[:6]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CanvasTooSmallWarning)
            cropped, r, c, threshold = normalize._place(img, canvas, "fast")
        inverted = 255 - cropped
        inverted[cropped > threshold] = 0
        with_numba = normalize._resize_sparse(inverted, r, c, canvas, out_shape)
        loc = find_signature(img)
        with monkeypatch.context() as m:
            m.setattr(_kernels, "AVAILABLE", False)
            without = normalize._resize_sparse(inverted, r, c, canvas, out_shape)
            assert find_signature(img) == loc
        assert bits_equal(with_numba, without)
        assert with_numba.any()


def test_random_scans_with_scipy_fallback(scipy_only):
    from tests.preprocessing.test_normalize import random_scan

    rng = np.random.default_rng(21)
    for _ in range(10):
        img = random_scan(rng, int(rng.integers(9, 200)), int(rng.integers(9, 300)))
        try:
            ref = preprocess_signature(img, (200, 300), input_size=None, method="reference")
        except BlankImageError:
            continue
        np.testing.assert_array_equal(preprocess_signature(img, (200, 300), input_size=None), ref)


def test_resize_image_other_dtypes(monkeypatch):
    """int64 / uint16 images take the scipy filter (numba kernels are for uint8 / float64): same result."""
    rng = np.random.default_rng(2)
    img = np.zeros((90, 130), np.int64)
    img[20:60, 30:100] = rng.integers(0, 256, (40, 70)) * (rng.random((40, 70)) < 0.3)
    for dtype in (np.int64, np.uint16, np.uint8):
        a = normalize.resize_image(img.astype(dtype), (37, 53))
        np.testing.assert_array_equal(a, normalize.resize_image(img.astype(dtype), (37, 53), method="reference"))


@needs_numba
def test_warm_up_covers_the_pipeline_types(synthetic_scans):
    """After warm_up(), pre-processing a scan (writable or read-only, as PIL's) compiles nothing more."""
    assert _kernels.warm_up() is True
    dispatchers = [_kernels.dark_mask_counts, _kernels.filter_rows_constant, _kernels.zoom_bilinear]
    before = [len(d.signatures) for d in dispatchers]
    img = synthetic_scans[0].copy()
    preprocess_signature(img, (952, 1360))
    img.flags.writeable = False
    preprocess_signature(img, (952, 1360))
    normalize.resize_image(np.ascontiguousarray(255 - img), (50, 70))
    assert [len(d.signatures) for d in dispatchers] == before


def test_no_numba_env_uses_scipy_and_does_not_import_numba():
    code = (
        "import sys, numpy as np\n"
        "from sigver.preprocessing import _kernels, normalize\n"
        "from sigver.preprocessing.normalize import preprocess_signature\n"
        "img = np.full((60, 90), 230, np.uint8); img[20:40, 10:80] = 30\n"
        "out = preprocess_signature(img, (80, 120), input_size=None)\n"
        "ref = preprocess_signature(img, (80, 120), input_size=None, method='reference')\n"
        "assert (out == ref).all() and out.any()\n"
        "assert _kernels.DISABLED and not _kernels.AVAILABLE and normalize._numba() is None\n"
        "assert _kernels.warm_up() is False\n"
        "assert 'numba' not in sys.modules, 'numba was imported'\n"
        "print('ok')\n"
    )
    env = dict(os.environ, SIGVER_NO_NUMBA="1", PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_normalize_import_does_not_import_numba():
    code = ("import sys\nimport sigver.preprocessing\nimport sigver.preprocessing.normalize\n"
            "print('numba' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and res.stdout.strip() == "False", res.stderr


@pytest.mark.slow
@needs_numba
def test_sigcomp_float64_identical_with_and_without_numba(shared_data, monkeypatch):
    """Real scans: the signature location and the float64 resized image (before the uint8 cast), bitwise."""
    from PIL import Image

    files = sorted(p for p in (shared_data / "sigcomp2011_dutch").rglob("*") if p.is_file())[::5]
    if not files:
        pytest.skip("no SigComp images")
    for path in files:
        with Image.open(path) as im:
            img = np.asarray(im.convert("L"))
        for canvas in [(730, 1042), (300, 427)]:
            results = []
            for on in (True, False):
                monkeypatch.setattr(_kernels, "AVAILABLE", on)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CanvasTooSmallWarning)
                    loc = find_signature(img)
                    cropped, r, c, threshold = normalize._place(img, canvas, "fast")
                inverted = 255 - cropped
                inverted[cropped > threshold] = 0
                out_shape, _ = normalize._resize_geometry(canvas, (170, 242))
                results.append((loc, normalize._resize_sparse(inverted, r, c, canvas, out_shape)))
            (loc_nb, res_nb), (loc_sp, res_sp) = results
            assert loc_nb == loc_sp, path
            assert bits_equal(res_nb, res_sp), path


@needs_numba
@pytest.mark.parametrize("case", range(12))
def test_histogram_uniform_equals_numpy(case):
    """numpy's histogram of 256 equal bins over the data range, count for count, including values on the
    edges (where numpy's two corrections act) and the blurred bilevel scans the kernel is used on."""
    rng = np.random.default_rng(seed("hist", case))
    if case < 4:
        a = rng.random((int(rng.integers(1, 90)), int(rng.integers(1, 90)))) * 10 ** float(rng.integers(-3, 4))
    elif case < 8:  # values exactly on the edges and repeated extremes
        lo, hi = float(rng.random()), float(rng.random()) + 1.0
        edges = np.linspace(lo, hi, 257)
        a = rng.choice(np.r_[edges, edges + 1e-17, np.nextafter(edges, -np.inf)[1:]], (37, 53))
        a = np.clip(a, lo, hi)
    else:  # the sigma-2 blur of a bilevel scan
        img = np.where(rng.random((120, 240)) < 0.05, 0, 255).astype(np.uint8)
        a = _kernels.gaussian_nearest(img, _kernels.weights(2.0))
    first, last = a.min(), a.max()
    if first == last:
        return
    edges = np.linspace(first, last, 257)
    counts = _kernels.histogram_uniform(np.ascontiguousarray(a), float(first), float(last), edges)
    np.testing.assert_array_equal(counts, np.histogram(a, bins=256)[0])


@needs_numba
@pytest.mark.parametrize("case", range(6))
def test_otsu_of_blurred_bilevel_scan_equals_skimage(case):
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(seed("otsu", case))
    img = np.full((150, 300), 255, np.uint8)
    img[rng.random(img.shape) < 0.03 * (case + 1)] = 0
    if case % 2:
        img[40:60] = np.where(img[40:60] == 255, 254, img[40:60])  # a faint band, as BHSig260's palette scans
    blurred = normalize._blur_full(img)
    assert bits_equal(blurred, normalize._blur(img))
    assert normalize._otsu_float(blurred) == threshold_otsu(blurred)
