"""Property tests of the dataset format (Hypothesis): any valid dataset round-trips to equal arrays, and any
byte corruption or truncation of a dataset file gives a DatasetFileError (never another exception, never a
silent wrong load)."""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from sigver.datasets import load_dataset, save_dataset  # noqa: E402
from sigver.errors import DatasetFileError  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def datasets(draw):
    n = draw(st.integers(1, 6))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    x = np.array(draw(st.lists(st.integers(0, 255), min_size=n * h * w, max_size=n * h * w)),
                 dtype=np.uint8).reshape(n, 1, h, w)
    y = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    yforg = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    mapping = draw(st.lists(st.integers(0, 10 ** 6), min_size=4, max_size=4, unique=True))
    names = draw(st.lists(st.text("abc-_.0123456789", min_size=1, max_size=8), min_size=n, max_size=n))
    return x, y, yforg, mapping, names


@SETTINGS
@given(data=datasets(), suffix=st.sampled_from([".npz", ""]))
def test_valid_datasets_round_trip(tmp_path_factory, data, suffix):
    x, y, yforg, mapping, names = data
    path = tmp_path_factory.mktemp("rt") / f"d{suffix}"
    save_dataset(path, x, y, yforg, mapping, names)
    got = load_dataset(path)
    np.testing.assert_array_equal(np.asarray(got.x), x)
    np.testing.assert_array_equal(got.y, y)
    np.testing.assert_array_equal(got.yforg, yforg)
    np.testing.assert_array_equal(got.user_mapping, mapping)
    assert list(got.filenames) == names


@SETTINGS
@given(data=datasets(), cut=st.floats(0, 0.999), flips=st.lists(st.tuples(st.floats(0, 0.999), st.integers(1, 255)),
                                                                   min_size=1, max_size=4),
       truncate=st.booleans())
def test_corruption_or_truncation_gives_dataset_file_error(tmp_path_factory, data, cut, flips, truncate):
    x, y, yforg, mapping, names = data
    path = tmp_path_factory.mktemp("bad") / "d.npz"
    save_dataset(path, x, y, yforg, mapping, names)
    raw = bytearray(path.read_bytes())
    if truncate:
        raw = raw[:int(cut * len(raw))]
    else:
        for where, xor in flips:
            raw[int(where * len(raw))] ^= xor
    path.write_bytes(bytes(raw))
    try:
        got = load_dataset(path)
    except DatasetFileError:
        return
    # a flip the format cannot see (e.g. in zip padding or a header's spaces) must leave the data as it was
    np.testing.assert_array_equal(np.asarray(got.x), x)
    np.testing.assert_array_equal(got.y, y)
    np.testing.assert_array_equal(got.yforg, yforg)
    np.testing.assert_array_equal(got.user_mapping, mapping)
    assert list(got.filenames) == names
