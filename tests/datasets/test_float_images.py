"""Dataset files whose ``x`` holds float images (the continual-learning code's inverted data, float in [0, 1]).

"Exactly" means: every value that is a uint8 level ``k / 255`` (stored in float16, float32 or float64) loads as
``k``, so the network input ``uint8 / 255`` equals the file's value to the float's precision; any other value
in [0, 1] loads as the nearest level (``round(x * 255)``, at most ``0.5 / 255`` away); whole numbers in
[0, 255] load unchanged. "Once": the loader converts, the rest of the pipeline sees uint8 and divides by 255
once; ``datasets.info --convert`` writes the uint8 file so that later loads convert nothing.
"""
import subprocess
import sys
import warnings

import numpy as np
import pytest

from sigver.datasets import load_dataset
from sigver.datasets.format import FloatImagesWarning
from sigver.datasets.info import main as info_main
from sigver.errors import DatasetFileError

from .test_format import make_arrays


def write(path, x, **override):
    _, y, yforg, mapping, filenames = make_arrays()
    arrays = dict(x=x, y=y, yforg=yforg, user_mapping=mapping, filenames=filenames)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def load_with_notice(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(path)
    notices = [w for w in caught if issubclass(w.category, FloatImagesWarning)]
    assert len(notices) == 1 and "\n" not in str(notices[0].message)
    return data, str(notices[0].message)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_unit_range_levels_convert_exactly(tmp_path, dtype):
    x, *_ = make_arrays()
    x.reshape(-1)[:256] = np.arange(256)                  # every level 0..255 appears
    xf = (x.astype(np.float64) / 255).astype(dtype)       # what `uint8 / 255` stored as float gives
    data, notice = load_with_notice(write(tmp_path / "f.npz", xf))
    assert data.x.dtype == np.uint8
    np.testing.assert_array_equal(data.x, x)              # k / 255 -> k for every level, in every float type
    assert f"x is {np.dtype(dtype)} in [0, 1] (12 images)" in notice and "round(x * 255)" in notice
    assert "f.npz" in notice and "--convert" in notice


def test_unit_range_other_values_go_to_nearest_level(tmp_path):
    rng = np.random.default_rng(0)
    xf = rng.random((12, 1, 17, 24)).astype(np.float32)   # e.g. sigmoid outputs of an inversion
    xf[0, 0, 0, :2] = (0.0, 1.0)
    data, _ = load_with_notice(write(tmp_path / "f.npz", xf))
    np.testing.assert_array_equal(data.x, np.rint(xf.astype(np.float64) * 255).astype(np.uint8))
    assert tuple(data.x[0, 0, 0, :2]) == (0, 255)
    assert np.abs(data.x / 255.0 - xf).max() <= 0.5 / 255 + 1e-7


def test_whole_numbers_0_255_kept(tmp_path):
    x, *_ = make_arrays()
    data, notice = load_with_notice(write(tmp_path / "f.npz", x.astype(np.float32)))
    np.testing.assert_array_equal(data.x, x)
    assert "in [0, 255]" in notice and "kept as they are" in notice


def test_npy_folder_with_float_x(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    folder = tmp_path / "inv"
    folder.mkdir()
    for k, v in dict(x=x.astype(np.float32) / 255, y=y, yforg=yforg, user_mapping=mapping,
                     filenames=filenames).items():
        np.save(folder / f"{k}.npy", v)
    data, _ = load_with_notice(folder)
    np.testing.assert_array_equal(data.x, x)


@pytest.mark.parametrize("values,expected", [
    ((-0.5, 0.5), "with values in [-0.5, 0.5]"),
    ((0, 300), "with values in [0, 300]"),
    ((0, 12.5), "with fractions with values in [0, 12.5]"),
    ((0, np.nan), "NaN or infinite"),
])
def test_other_float_ranges_are_an_error_naming_the_range(tmp_path, values, expected):
    xf = np.zeros((12, 1, 17, 24), np.float32)
    xf[0, 0, 0, :2] = values
    with pytest.raises(DatasetFileError) as e:
        load_dataset(write(tmp_path / "f.npz", xf))
    msg = str(e.value)
    assert "f.npz" in msg and expected in msg and "\n" not in msg


def test_info_convert_writes_uint8_once(tmp_path, capsys):
    x, *_ = make_arrays()
    src = write(tmp_path / "f.npz", x.astype(np.float32) / 255)
    assert info_main([str(src), "--convert", str(tmp_path / "u8.npz")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 1 and "converted once on loading" in err
    with np.load(tmp_path / "u8.npz", allow_pickle=False) as npz:
        assert npz["x"].dtype == np.uint8
        np.testing.assert_array_equal(npz["x"], x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # the converted file loads with no conversion
        np.testing.assert_array_equal(load_dataset(tmp_path / "u8.npz").x, x)


def test_info_cli_bad_range_one_line(tmp_path):
    bad = write(tmp_path / "f.npz", np.full((12, 1, 17, 24), 2.5, np.float32))
    r = subprocess.run([sys.executable, "-m", "sigver.datasets.info", str(bad), "--convert", str(tmp_path / "o.npz")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "[2.5, 2.5]" in r.stderr
    assert not (tmp_path / "o.npz").exists()
