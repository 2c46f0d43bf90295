"""Every real scan in ``../shared/data`` pre-processes, and the original's output is kept wherever it had one.

The original located the ink with ``gaussian(img, 2) <= otsu(img)``. On a scan whose Otsu threshold is its
darkest grey level (bilevel scans, and BHSig260's palette scans with levels 0, 254 and 255) that mask is
empty and the original crashed; only there does sigver threshold the blurred scan adaptively. These tests
check both halves on the real sets: nothing is refused, and the adaptive rule fires only where the original's
mask was empty or a speck (under 1 % of the ink: its output would have been a crop of a few pixels around
one blot), so every real output the original produced is unchanged (the rest of the pipeline being the
original's, tested against its outputs in ``test_normalize.py``).
"""
from multiprocessing import Pool

import numpy as np
import pytest

from sigver.datasets import get_dataset
from sigver.preprocessing import normalize
from sigver.preprocessing.process_dataset import process_dataset

SETS = [("bhsig260", "bhsig260", {"language": "Hindi"}, 8640),
        ("sigcomp2011", "sigcomp2011_dutch", {}, 1649)]


def _check(item):
    """(item, adaptive rule used, pixels in the original's ink mask, dark pixels) for one raw scan."""
    dataset, it = item
    img = dataset.load(it)
    counts = np.bincount(img.ravel(), minlength=256)
    threshold = normalize._otsu_from_counts(counts)
    adaptive = threshold == int(np.flatnonzero(counts)[0])
    # the original's mask, blur(img) <= threshold: the same float64 blur values as scipy / scikit-image
    per_row, _, _, _ = normalize._dark_counts_window(img, threshold)
    normalize.find_signature(img)  # must not raise
    return str(it), adaptive, int(per_row.sum()), int(counts[:threshold + 1].sum())


@pytest.mark.slow
@pytest.mark.parametrize("name,folder,options,n_files", SETS, ids=[s[0] for s in SETS])
def test_no_real_scan_is_refused(shared_data, tmp_path, name, folder, options, n_files):
    dataset = get_dataset(name, shared_data / folder, **options)
    data = process_dataset(dataset, tmp_path / "out.npz", workers=2, progress=False)
    assert len(data.y) == n_files


@pytest.mark.slow
@pytest.mark.parametrize("name,folder,options,n_files", SETS, ids=[s[0] for s in SETS])
def test_adaptive_rule_only_where_the_original_failed(shared_data, name, folder, options, n_files):
    dataset = get_dataset(name, shared_data / folder, **options)
    items = [(dataset, it) for u in dataset.get_user_list()
             for it in dataset.list_genuine(u) + dataset.list_skilled(u)]
    with Pool(2) as pool:
        results = pool.map(_check, items, chunksize=64)
    assert len(results) == n_files
    adaptive = [r for r in results if r[1]]
    # where the adaptive rule fires, the original's mask is empty (it crashed) or a speck of under 1 % of
    # the ink (its crop would have been a few pixels around one blot: 13 BHSig260 scans, 1-24 pixels)
    kept = [r for r in adaptive if r[2] > 0.01 * r[3]]
    assert kept == [], f"adaptive rule used where the original found the ink: {kept[:5]}"
    if name == "bhsig260":
        assert len(adaptive) == n_files  # every Hindi scan is (nearly) bilevel
    else:
        assert adaptive == []  # grey scans: processed exactly as the original


def test_three_level_palette_scan_is_located():
    """A synthetic 0/254/255 scan like BHSig260's palette ones: thin strokes at 0, a faint band of 254."""
    img = np.full((120, 300), 255, np.uint8)
    img[:, 150:] = 254                       # faint band under half of the page
    img[50:52, 40:260] = 0                   # a thin stroke
    img[40:70, 100:102] = 0
    loc = normalize.find_signature(img)
    assert loc.rows[0] <= 42 and loc.rows[1] >= 66 and loc.cols[0] <= 42 and loc.cols[1] >= 255
    for method in ("fast", "reference"):
        out = normalize.preprocess_signature(img, (300, 430), method=method)
        assert out.max() > 0
    np.testing.assert_array_equal(normalize.preprocess_signature(img, (300, 430), method="fast"),
                                  normalize.preprocess_signature(img, (300, 430), method="reference"))


def test_blank_and_single_speck_pages_still_refused():
    from sigver.errors import BlankImageError

    with pytest.raises(BlankImageError):
        normalize.find_signature(np.full((50, 80), 200, np.uint8))


def test_binarize_sets_ink_to_full_intensity():
    img = np.full((120, 300), 255, np.uint8)
    img[50:62, 40:260] = 120                 # grey ink, strokes thick enough to survive the resize
    img[40:90, 100:112] = 60
    for method in ("fast", "reference"):
        grey = normalize.preprocess_signature(img, (300, 430), method=method)
        binary = normalize.preprocess_signature(img, (300, 430), method=method, binarize=True)
        assert binary.max() > grey.max() and binary.max() >= 250
        # same place: only the ink intensity changes (faint edge pixels that truncated to 0 may now show)
        assert np.all(binary[grey > 0] > 0) and np.count_nonzero(binary) < 1.2 * np.count_nonzero(grey)
    np.testing.assert_array_equal(normalize.preprocess_signature(img, (300, 430), binarize=True),
                                  normalize.preprocess_signature(img, (300, 430), method="reference",
                                                                 binarize=True))
