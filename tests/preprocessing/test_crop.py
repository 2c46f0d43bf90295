"""Numpy crops (SPEC 2.4) with explicit random generators and inclusive offsets."""
import numpy as np
import pytest

from sigver.preprocessing.crop import center_crop, center_crop_multiple, random_crop, random_crop_multiple


def test_center_crops():
    img = np.arange(3 * 10 * 12).reshape(3, 10, 12)
    out = center_crop(img, (6, 7))
    assert out.shape == (3, 6, 7) and out[0, 0, 0] == img[0, 2, 2]
    batch = np.stack([img, img + 1])
    outb = center_crop_multiple(batch, (6, 7))
    assert outb.shape == (2, 3, 6, 7)
    np.testing.assert_array_equal(outb[1], out + 1)


def test_random_crop_is_seedable_and_in_bounds():
    img = np.arange(10 * 12, dtype=np.uint8).reshape(1, 10, 12)
    a = random_crop(img, (4, 5), rng=np.random.default_rng(3))
    b = random_crop(img, (4, 5), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1, 4, 5)
    np.testing.assert_array_equal(random_crop(img, (4, 5), rng=5), random_crop(img, (4, 5), rng=5))
    legacy = random_crop(img, (4, 5), rng=np.random.RandomState(0))
    assert legacy.shape == (1, 4, 5)


@pytest.mark.parametrize("rng_factory", [np.random.default_rng, np.random.RandomState])
def test_random_offsets_include_last_position(rng_factory):
    # the original's randint(0, H - h) never chose the last offset; ours does
    img = np.arange(6 * 7).reshape(1, 6, 7)
    rng = rng_factory(0)
    seen = {int(random_crop(img, (4, 5), rng=rng)[0, 0, 0]) for _ in range(200)}
    expected = {int(img[0, r, c]) for r in range(3) for c in range(3)}
    assert seen == expected
    assert random_crop(img, (6, 7), rng=rng).shape == (1, 6, 7)  # full-size crop works


def test_random_crop_multiple_keeps_dtype_and_varies():
    imgs = np.random.default_rng(0).integers(0, 255, (16, 1, 20, 30)).astype(np.uint8)
    out = random_crop_multiple(imgs, (10, 12), rng=np.random.default_rng(1))
    assert out.shape == (16, 1, 10, 12) and out.dtype == np.uint8
    again = random_crop_multiple(imgs, (10, 12), rng=np.random.default_rng(1))
    np.testing.assert_array_equal(out, again)
    # each crop is a window of its own image
    for i in range(16):
        windows = np.lib.stride_tricks.sliding_window_view(imgs[i, 0], (10, 12))
        assert (windows == out[i, 0]).all(axis=(-2, -1)).any()


def test_bad_crop_size():
    img = np.zeros((1, 5, 5))
    with pytest.raises(ValueError):
        random_crop(img, (6, 5))
    with pytest.raises(ValueError):
        center_crop(img, (0, 5))
    with pytest.raises(ValueError):
        random_crop_multiple(np.zeros((5, 5)), (2, 2))
