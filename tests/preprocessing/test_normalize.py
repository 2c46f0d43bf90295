"""Pre-processing compatibility (docs/protocols.md) and fast == reference equality."""
import warnings

import numpy as np
import pytest

from sigver.errors import BlankImageError
from sigver.preprocessing.normalize import (
    CanvasTooSmallWarning,
    crop_center,
    crop_center_multiple,
    find_signature,
    normalize_image,
    preprocess_signature,
    remove_background,
    resize_image,
)

SAMPLES = ["some_signature", "a1", "a2", "b1", "b2"]
# docs/formats.md: Otsu T, fg bbox rows / cols, CoM offset, sum / non-zero / max of the 150x220 output
REFERENCE_VALUES = {
    "some_signature": (162, (42, 351), (27, 585), (163, 206), 109129, 1634, 213),
    "a1": (181, (41, 666), (42, 1063), (281, 393), 127756, 2618, 188),
    "a2": (166, (152, 664), (64, 1244), (235, 447), 140057, 2338, 222),
    "b1": (163, (104, 698), (99, 807), (215, 393), 136712, 2017, 197),
    "b2": (158, (106, 550), (65, 727), (144, 362), 110651, 1536, 210),
}
GPDS = (952, 1360)


def read_gray(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


@pytest.fixture(scope="module")
def samples(shared_data):
    return {n: read_gray(shared_data / "samples" / f"{n}.png") for n in SAMPLES}


@pytest.fixture(scope="module")
def golden(shared_data):
    with np.load(shared_data / "reference" / "preprocessed_samples.npz") as z:
        return {k: z[k] for k in z.files}


# --- golden: the original's outputs (exact, no tolerance needed with scikit-image 0.26 / NumPy 2) ------
@pytest.mark.parametrize("method", ["fast", "reference"])
@pytest.mark.parametrize("name", SAMPLES)
def test_golden_samples(samples, golden, name, method):
    out = preprocess_signature(samples[name], GPDS, method=method)
    assert out.dtype == np.uint8 and out.shape == (150, 220)
    np.testing.assert_array_equal(out, golden[name])
    full = preprocess_signature(samples[name], GPDS, input_size=None, method=method)
    assert full.shape == (170, 242)
    np.testing.assert_array_equal(full, golden[f"{name}_170x242"])
    np.testing.assert_array_equal(crop_center(full, (150, 220)), out)


@pytest.mark.parametrize("name", SAMPLES)
def test_spec_9_4_values(samples, name):
    threshold, rows, cols, center, total, nonzero, maximum = REFERENCE_VALUES[name]
    for method in ("fast", "reference"):
        loc = find_signature(samples[name], method=method)
        assert loc.threshold == threshold
        assert loc.rows == rows and loc.cols == cols and loc.center == center
    out = preprocess_signature(samples[name], GPDS)
    assert int(out.sum()) == total
    assert np.count_nonzero(out) == nonzero
    assert int(out.max()) == maximum


def test_otsu_matches_skimage(samples):
    from skimage.filters import threshold_otsu

    for img in samples.values():
        assert find_signature(img).threshold == threshold_otsu(img)


def test_normalize_image_methods_agree(samples):
    for img in samples.values():
        a = normalize_image(img, GPDS)
        b = normalize_image(img, GPDS, method="reference")
        assert a.shape == GPDS and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)


# --- fast == reference on the real sigcomp2011 images ----------------------------------------------------
def _sigcomp_files(shared_data, step):
    root = shared_data / "sigcomp2011_dutch"
    if not root.is_dir():
        pytest.skip("sigcomp2011_dutch not present")
    return sorted(p for p in root.rglob("*") if p.is_file())[::step]


# (300, 427) is smaller than many of these signatures: exercises the larger-than-canvas crop
@pytest.mark.parametrize("canvas", [(730, 1042), (300, 427)])
def test_fast_equals_reference_sigcomp_subset(shared_data, canvas):
    for path in _sigcomp_files(shared_data, 12):
        img = read_gray(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CanvasTooSmallWarning)
            ref = preprocess_signature(img, canvas, input_size=None, method="reference")
            fast = preprocess_signature(img, canvas, input_size=None)
        np.testing.assert_array_equal(fast, ref, err_msg=str(path))


@pytest.mark.slow
@pytest.mark.parametrize("canvas", [(730, 1042), (952, 1360), (913, 1300)])
def test_fast_equals_reference_sigcomp_all(shared_data, canvas):
    for path in _sigcomp_files(shared_data, 1):
        img = read_gray(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CanvasTooSmallWarning)
            np.testing.assert_array_equal(
                preprocess_signature(img, canvas, input_size=None),
                preprocess_signature(img, canvas, input_size=None, method="reference"), err_msg=str(path))


# --- fast == reference on randomized inputs -------------------------------------------------------------
def random_scan(rng, h, w, edge=False, bilevel=False):
    """A light noisy page with a few dark random-walk strokes (optionally reaching the borders)."""
    img = (rng.integers(200, 256, (h, w))).astype(np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        n = int(rng.integers(20, 400))
        r = np.cumsum(rng.integers(-2, 3, n)) + rng.integers(0, h)
        c = np.cumsum(rng.integers(-2, 3, n)) + rng.integers(0, w)
        if edge:
            r[0], c[-1] = 0, w - 1
        r, c = np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)
        thick = int(rng.integers(1, 4))
        for dr in range(thick):
            img[np.clip(r + dr, 0, h - 1), c] = rng.integers(0, 120, n)
    if bilevel:
        img = np.where(img < 128, 0, 255).astype(np.uint8)
    return img


def _cases():
    rng = np.random.default_rng(1234)
    cases = []
    for i in range(40):
        h, w = int(rng.integers(9, 260)), int(rng.integers(9, 360))
        canvas = (int(rng.integers(20, 400)), int(rng.integers(20, 500)))
        img_size = [(170, 242), (150, 220), (37, 53), (171, 241)][i % 4]
        cases.append((i, h, w, canvas, img_size, i % 3 == 0, i % 7 == 0))
    # canvases smaller than the stored image (upsampling, no anti-aliasing on one or both axes)
    cases.append((100, 80, 120, (100, 140), (170, 242), False, False))
    cases.append((101, 80, 120, (300, 200), (170, 242), True, False))
    cases.append((102, 40, 40, (40, 60), (170, 242), True, False))
    return cases


@pytest.mark.parametrize("seed,h,w,canvas,img_size,edge,bilevel", _cases())
def test_fast_equals_reference_random(seed, h, w, canvas, img_size, edge, bilevel):
    rng = np.random.default_rng(seed)
    img = random_scan(rng, h, w, edge=edge, bilevel=bilevel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CanvasTooSmallWarning)
        try:
            ref = preprocess_signature(img, canvas, img_size, input_size=None, method="reference")
        except BlankImageError:
            with pytest.raises(BlankImageError):
                preprocess_signature(img, canvas, img_size, input_size=None)
            return
        fast = preprocess_signature(img, canvas, img_size, input_size=None)
    np.testing.assert_array_equal(fast, ref)


def test_resize_image_fast_equals_skimage():
    rng = np.random.default_rng(7)
    for _ in range(30):
        H, W = int(rng.integers(5, 300)), int(rng.integers(5, 300))
        img = np.zeros((H, W), np.uint8)
        h, w = int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))
        r, c = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        img[r:r + h, c:c + w] = rng.integers(0, 256, (h, w)) * (rng.random((h, w)) < 0.3)
        size = (int(rng.integers(3, 120)), int(rng.integers(3, 120)))
        np.testing.assert_array_equal(resize_image(img, size), resize_image(img, size, method="reference"))
    full = rng.integers(1, 256, (50, 70)).astype(np.uint8)  # no zero at all: clip range starts above 0
    np.testing.assert_array_equal(resize_image(full, (20, 30)), resize_image(full, (20, 30), method="reference"))
    np.testing.assert_array_equal(resize_image(np.zeros((40, 40), np.uint8), (10, 10)), np.zeros((10, 10)))


def test_resize_geometry_of_builtin_canvases():
    # docs/protocols.md table: resized size and kept crop of each canvas
    for canvas in [(952, 1360), (600, 850), (730, 1042), (700, 1000), (2078, 3307), (840, 1360)]:
        img = np.zeros(canvas, np.uint8)
        img[canvas[0] // 2, canvas[1] // 2] = 255
        assert resize_image(img, (170, 242)).shape == (170, 242)


# --- errors and warnings -------------------------------------------------------------------------------
def test_blank_image_raises_clear_error():
    with pytest.raises(BlankImageError, match="blank"):
        preprocess_signature(np.full((100, 120), 255, np.uint8), (200, 300))
    speck = np.full((100, 120), 250, np.uint8)
    speck[50, 60] = 0  # isolated dark pixels vanish in the blur
    speck[20, 30] = 100
    for method in ("fast", "reference"):
        with pytest.raises(BlankImageError, match="no ink"):
            preprocess_signature(speck, (200, 300), method=method)
    with pytest.raises(BlankImageError):
        preprocess_signature(np.zeros((0, 5), np.uint8), (200, 300))


def test_large_signature_warns_not_prints(capsys):
    img = np.full((120, 400), 255, np.uint8)
    img[40:80, 10:390] = 0
    with pytest.warns(CanvasTooSmallWarning, match="larger than the canvas"):
        out = preprocess_signature(img, (100, 142), input_size=None)
    assert out.shape == (170, 242) and out.max() > 0
    assert capsys.readouterr().out == ""


def test_bad_arguments():
    img = np.full((50, 50), 255, np.uint8)
    img[20:30, 20:30] = 0
    with pytest.raises(ValueError, match="method"):
        preprocess_signature(img, (100, 100), method="nope")
    with pytest.raises(ValueError, match="2-D"):
        preprocess_signature(np.zeros((5, 5, 3), np.uint8), (100, 100))
    with pytest.raises(ValueError, match="canvas_size"):
        preprocess_signature(img, (0, 100))


# --- bilevel scans --------------------------------------------------------------------------------------
@pytest.mark.parametrize("levels", [(0, 255), (0, 1), (30, 220)])
def test_bilevel_image_finds_ink(levels):
    lo, hi = levels
    img = np.full((200, 400), hi, np.uint8)
    t = np.linspace(0, 1, 3000)
    r = (100 + 60 * np.sin(6 * t)).astype(int)
    c = (40 + 320 * t).astype(int)
    img[r, c] = lo  # 1-pixel strokes: the original's Otsu mask finds nothing after blurring
    img[r + 1, c] = lo
    for method in ("fast", "reference"):
        loc = find_signature(img, method=method)
        assert loc.rows[0] <= r.min() + 2 and loc.rows[1] >= r.max() - 2
        assert loc.cols[0] <= c.min() + 2 and loc.cols[1] >= c.max() - 2
    out = preprocess_signature(img, (300, 428), input_size=None)
    ref = preprocess_signature(img, (300, 428), input_size=None, method="reference")
    np.testing.assert_array_equal(out, ref)
    assert out.max() > 50
    canvas = normalize_image(img, (300, 428))
    assert set(np.unique(canvas)) <= {lo, 255}  # background removed, ink kept


def test_bilevel_thick_strokes_unchanged_background_removal():
    img = np.full((100, 200), 255, np.uint8)
    img[30:70, 40:160] = 0
    canvas = normalize_image(img, (200, 284))
    assert set(np.unique(canvas)) == {0, 255}
    assert np.count_nonzero(canvas == 0) == 39 * 119  # the tight crop drops the last row and column


# --- small helpers --------------------------------------------------------------------------------------
def test_remove_background_does_not_modify_input():
    img = np.array([[10, 200, 250], [20, 240, 30]], np.uint8)
    before = img.copy()
    out = remove_background(img)
    np.testing.assert_array_equal(img, before)
    assert out[0, 0] == 10 and out[1, 2] == 30 and out[0, 2] == 255
    np.testing.assert_array_equal(remove_background(np.full((3, 3), 7, np.uint8)), np.full((3, 3), 7))


def test_crop_center_offsets():
    img = np.arange(170 * 242).reshape(170, 242)
    out = crop_center(img, (150, 220))
    assert out.shape == (150, 220) and out[0, 0] == img[10, 11]
    batch = np.arange(2 * 1 * 170 * 242).reshape(2, 1, 170, 242)
    outb = crop_center_multiple(batch, (150, 220))
    assert outb.shape == (2, 1, 150, 220) and outb[1, 0, 0, 0] == batch[1, 0, 10, 11]
    with pytest.raises(ValueError):
        crop_center(img, (171, 10))
