"""Tests of the dataset file format (sigver/datasets/format.py)."""
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

from sigver.datasets import (
    DatasetWriter,
    SignatureData,
    get_subset,
    load_dataset,
    remove_forgeries,
    save_dataset,
)
from sigver.errors import DatasetFileError


def make_arrays(n_users=3, per_user=4, size=(17, 24), seed=0):
    rng = np.random.default_rng(seed)
    n = n_users * per_user
    x = rng.integers(0, 256, size=(n, 1) + size, dtype=np.uint8)
    y = np.repeat(np.arange(n_users), per_user).astype(np.int32)
    yforg = np.tile([0, 0, 1, 1][:per_user] + [0] * (per_user - 4), n_users).astype(np.int32)
    filenames = np.array([f"c-{u:03d}-{i:02d}.png" for u in range(n_users) for i in range(per_user)])
    mapping = np.array([10 + 5 * u for u in range(n_users)])
    return x, y, yforg, mapping, filenames


@pytest.mark.parametrize("name", ["data.npz", "data_folder"])
def test_roundtrip(tmp_path, name):
    x, y, yforg, mapping, filenames = make_arrays()
    path = tmp_path / name
    save_dataset(path, x, y, yforg, mapping, filenames)
    data = load_dataset(path)
    assert isinstance(data, SignatureData)
    x2, y2, yforg2, mapping2, filenames2 = data  # unpacks like the original 5-tuple
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(yforg2, yforg)
    np.testing.assert_array_equal(mapping2, mapping)
    np.testing.assert_array_equal(filenames2, filenames)
    assert x2.dtype == np.uint8 and y2.dtype == np.int32 and yforg2.dtype == np.int32
    assert mapping2.dtype == np.int64
    assert data.n_users == 3 and data.image_size == (17, 24)
    assert "12 images of 3 writers (6 genuine, 6 skilled, 0 simple forgeries)" in data.summary()
    # no temporary files left beside the target
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_npz_has_original_keys_and_no_pickle(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    path = tmp_path / "d.npz"
    save_dataset(path, x, y, yforg, mapping, filenames)
    # the original code opens files with allow_pickle=True; ours must not need it
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {"x", "y", "yforg", "user_mapping", "filenames"}
        assert npz["user_mapping"].dtype == np.int64
        assert npz["y"].dtype == np.int32
    # stored uncompressed like the original's np.savez
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_string_writer_ids(tmp_path):
    x, y, yforg, _, filenames = make_arrays()
    save_dataset(tmp_path / "d.npz", x, y, yforg, ["alice", "bob", "carol"], filenames)
    data = load_dataset(tmp_path / "d.npz")
    assert data.user_mapping.dtype.kind == "U"
    assert list(data.user_mapping) == ["alice", "bob", "carol"]


def write_original_file(path, x, y, yforg, mapping, filenames):
    """What the original process_dataset writes: user_mapping as a pickled dict in a 0-d object array."""
    user_mapping = {i: int(u) for i, u in enumerate(mapping)}
    np.savez(path, x=x, y=y, yforg=yforg, user_mapping=user_mapping, filenames=filenames)


def test_original_file_not_unpickled_by_default(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    path = tmp_path / "orig.npz"
    write_original_file(path, x, y, yforg, mapping, filenames)
    with pytest.warns(UserWarning, match=r"orig\.npz: user_mapping is a pickled object.*allow_pickle=True"):
        data = load_dataset(path)
    np.testing.assert_array_equal(data.user_mapping, [0, 1, 2])
    np.testing.assert_array_equal(data.x, x)


def test_original_file_with_opt_in(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    path = tmp_path / "orig.npz"
    write_original_file(path, x, y, yforg, mapping, filenames)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_dataset(path, allow_pickle=True)
    np.testing.assert_array_equal(data.user_mapping, mapping)
    assert data.user_mapping.dtype == np.int64


def test_original_folder_variant_memory_mapped(tmp_path):
    """continual_sigver's folder of .npy files, with its pickled user_mapping.npy."""
    x, y, yforg, mapping, filenames = make_arrays()
    folder = tmp_path / "big"
    folder.mkdir()
    for key, arr in (("x", x), ("y", y), ("yforg", yforg), ("filenames", filenames)):
        np.save(folder / f"{key}.npy", arr)
    np.save(folder / "user_mapping.npy", np.array({i: int(u) for i, u in enumerate(mapping)}), allow_pickle=True)
    with pytest.warns(UserWarning, match="pickled"):
        data = load_dataset(folder)
    assert isinstance(data.x, np.memmap)
    np.testing.assert_array_equal(data.x, x)
    # copy-on-write: changing the loaded array does not touch the file
    data.x[0] = 0
    np.testing.assert_array_equal(np.load(folder / "x.npy"), x)
    np.testing.assert_array_equal(load_dataset(folder, allow_pickle=True).user_mapping, mapping)


def test_our_file_loads_in_original_loader(tmp_path):
    """The original load_dataset: np.load(allow_pickle=True) and read the five keys."""
    x, y, yforg, mapping, filenames = make_arrays()
    save_dataset(tmp_path / "d.npz", x, y, yforg, mapping, filenames)
    with np.load(tmp_path / "d.npz", allow_pickle=True) as data:
        x2, y2, yforg2, um, fn = (data[k] for k in ("x", "y", "yforg", "user_mapping", "filenames"))
    np.testing.assert_array_equal(x2, x)
    assert um.tolist() == mapping.tolist()


# -- bad input -------------------------------------------------------------------------------------

def one_line(err):
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(DatasetFileError) as e:
        load_dataset(tmp_path / "nope.npz")
    assert "nope.npz: no such dataset file" in one_line(e)


def test_truncated_npz(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays(size=(170, 242))
    path = tmp_path / "d.npz"
    save_dataset(path, x, y, yforg, mapping, filenames)
    raw = path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 10, 100):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(DatasetFileError) as e:
            load_dataset(bad)
        assert f"cut{cut}.npz" in one_line(e) and "truncated or corrupt" in one_line(e)


def test_corrupt_member(tmp_path):
    """Flip bytes inside the x member: the zip CRC check catches it."""
    x, y, yforg, mapping, filenames = make_arrays(size=(170, 242))
    path = tmp_path / "d.npz"
    save_dataset(path, x, y, yforg, mapping, filenames)
    raw = bytearray(path.read_bytes())
    raw[5000:5010] = b"\x00" * 10 if raw[5000] else b"\x01" * 10
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetFileError, match="truncated or corrupt"):
        load_dataset(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(DatasetFileError, match="text.npz"):
        load_dataset(path)


def test_missing_key(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    np.savez(tmp_path / "d.npz", x=x, y=y, filenames=filenames)
    with pytest.raises(DatasetFileError) as e:
        load_dataset(tmp_path / "d.npz")
    assert "missing key(s) yforg" in one_line(e)


def test_mismatched_lengths(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    np.savez(tmp_path / "d.npz", x=x, y=y[:-1], yforg=yforg, user_mapping=mapping, filenames=filenames)
    with pytest.raises(DatasetFileError) as e:
        load_dataset(tmp_path / "d.npz")
    assert "mismatched lengths (x=12, y=11, yforg=12, filenames=12)" in one_line(e)


@pytest.mark.parametrize("key,value,expected", [
    ("x", lambda a: a.astype(np.float32) * 2, "x has dtype float32 with values in [0, 510]"),
    ("x", lambda a: a.astype(np.int64), "x has dtype int64, expected uint8"),
    ("y", lambda a: a.astype(np.float64), "y has dtype float64"),
    ("yforg", lambda a: a + 5, "yforg has values"),
    ("filenames", lambda a: np.arange(len(a)), "filenames has dtype int64"),
    ("x", lambda a: a[:, 0, :, :5].reshape(len(a), 1, 17, 5, 1), "x has shape"),
    ("user_mapping", lambda a: a[:1], "user_mapping has 1 writer ids but y goes up to 2"),
])
def test_wrong_dtypes_and_shapes(tmp_path, key, value, expected):
    arrays = dict(zip(["x", "y", "yforg", "user_mapping", "filenames"], make_arrays()))
    arrays[key] = value(arrays[key])
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DatasetFileError) as e:
        load_dataset(tmp_path / "d.npz")
    assert expected in one_line(e) and "d.npz" in one_line(e)


def test_truncated_npy_in_folder(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays(size=(170, 242))
    save_dataset(tmp_path / "f", x, y, yforg, mapping, filenames)
    f = tmp_path / "f" / "x.npy"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(DatasetFileError) as e:
        load_dataset(tmp_path / "f")
    assert "x.npy" in one_line(e) and "truncated" in one_line(e)


def test_folder_missing_file(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    save_dataset(tmp_path / "f", x, y, yforg, mapping, filenames)
    (tmp_path / "f" / "yforg.npy").unlink()
    with pytest.raises(DatasetFileError, match="lacks yforg.npy"):
        load_dataset(tmp_path / "f")


# -- the writer -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["w.npz", "wfolder"])
def test_writer_trims_to_count_and_is_atomic(tmp_path, name):
    x, y, yforg, mapping, filenames = make_arrays(size=(170, 242))
    target = tmp_path / name
    with DatasetWriter(target, capacity=100, img_size=(170, 242)) as w:
        for i in range(len(x)):
            w.add(x[i, 0], y[i], yforg[i], filenames[i])
            assert not target.exists()  # nothing visible before commit
        w.commit(mapping)
    data = load_dataset(target)
    assert data.x.shape == (12, 1, 170, 242)
    np.testing.assert_array_equal(data.x, x)
    if target.is_dir():
        assert (target / "x.npy").stat().st_size < 12 * 170 * 242 + 1024
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name", ["w.npz", "wfolder"])
def test_failed_write_keeps_previous_file(tmp_path, name):
    x, y, yforg, mapping, filenames = make_arrays()
    target = tmp_path / name
    save_dataset(target, x, y, yforg, mapping, filenames)
    with pytest.raises(RuntimeError, match="boom"):
        with DatasetWriter(target, capacity=5, img_size=(17, 24)) as w:
            w.add(np.zeros((17, 24), np.uint8), 0, 0, "a.png")
            raise RuntimeError("boom")
    # writer abandoned without commit: same
    w = DatasetWriter(target, capacity=5, img_size=(17, 24))
    w.add(np.zeros((17, 24), np.uint8), 0, 0, "a.png")
    w.abort()
    data = load_dataset(target)
    np.testing.assert_array_equal(data.x, x)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_overwrite_folder_replaces(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    save_dataset(tmp_path / "f", x, y, yforg, mapping, filenames)
    save_dataset(tmp_path / "f", x[:4], y[:4], yforg[:4], mapping[:1], filenames[:4])
    assert len(load_dataset(tmp_path / "f").y) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_writer_bad_use(tmp_path):
    with pytest.raises(DatasetFileError, match="does not exist"):
        DatasetWriter(tmp_path / "no" / "d.npz", capacity=1)
    with DatasetWriter(tmp_path / "d.npz", capacity=1, img_size=(4, 4)) as w:
        with pytest.raises(ValueError, match="expected a uint8 image of shape"):
            w.add(np.zeros((5, 4), np.uint8), 0, 0, "a")
        w.add(np.zeros((4, 4), np.uint8), 0, 0, "a")
        with pytest.raises(ValueError, match="capacity"):
            w.add(np.zeros((4, 4), np.uint8), 0, 0, "b")
        w.commit([1])
        with pytest.raises(RuntimeError, match="already committed"):
            w.add(np.zeros((4, 4), np.uint8), 0, 0, "b")


def test_kill_during_write_leaves_old_file(tmp_path):
    """A process killed while writing (SIGKILL) leaves the previous file intact."""
    x, y, yforg, mapping, filenames = make_arrays()
    target = tmp_path / "d.npz"
    save_dataset(target, x, y, yforg, mapping, filenames)
    code = (
        "import os, signal, numpy as np\n"
        "from sigver.datasets import DatasetWriter\n"
        f"w = DatasetWriter({str(target)!r}, capacity=3, img_size=(17, 24))\n"
        "w.add(np.zeros((17, 24), np.uint8), 0, 0, 'a')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    np.testing.assert_array_equal(load_dataset(target).x, x)


# -- subsets ----------------------------------------------------------------------------------------

def test_get_subset_and_remove_forgeries(tmp_path):
    x, y, yforg, mapping, filenames = make_arrays()
    save_dataset(tmp_path / "d.npz", x, y, yforg, mapping, filenames)
    data = load_dataset(tmp_path / "d.npz")
    sub = get_subset(data, range(1, 3))
    assert isinstance(sub, SignatureData)
    np.testing.assert_array_equal(np.unique(sub.y), [1, 2])
    assert len(sub.x) == len(sub.filenames) == 8
    np.testing.assert_array_equal(sub.user_mapping, mapping)  # indices stay valid
    gen = remove_forgeries(sub)
    assert (gen.yforg == 0).all() and len(gen.y) == 4
    # plain tuples, as the original scripts use them
    t = get_subset((x, y, yforg), [0])
    assert isinstance(t, tuple) and len(t) == 3 and len(t[0]) == 4
    t = remove_forgeries((x, y, yforg))
    assert len(t[0]) == 6
    # a 3-writer mapping in a plain tuple with 3 samples would look per-sample; a SignatureData does not
    small = SignatureData(x[:3], np.zeros(3, np.int32), np.zeros(3, np.int32), mapping, filenames[:3])
    np.testing.assert_array_equal(get_subset(small, [0]).user_mapping, mapping)


def test_check_target_fails_early(tmp_path):
    from sigver.datasets.format import check_target

    assert check_target(tmp_path / "ok.npz") == tmp_path / "ok.npz"
    with pytest.raises(DatasetFileError, match="does not exist; create it first"):
        check_target(tmp_path / "missing" / "d.npz")
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(DatasetFileError, match="is a folder"):
        check_target(tmp_path / "dir.npz")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetFileError, match="exists and is not a folder"):
        check_target(tmp_path / "file")


@pytest.mark.parametrize("name", ["d.npz", "dfolder"])
def test_written_files_have_default_permissions(tmp_path, name):
    """Temporary files are private (0600); the committed dataset gets the usual umask permissions."""
    x, y, yforg, mapping, filenames = make_arrays()
    umask = os.umask(0o022)
    try:
        save_dataset(tmp_path / name, x, y, yforg, mapping, filenames)
    finally:
        os.umask(umask)
    mode = (tmp_path / name).stat().st_mode & 0o777
    assert mode == (0o644 if name.endswith(".npz") else 0o755)


def test_sample_per_writer():
    from sigver.datasets import sample_per_writer

    y = np.array([0, 0, 0, 1, 1, 2, 0, 1])
    yforg = np.array([0, 0, 1, 0, 1, 1, 0, 0])
    idx = sample_per_writer(y, yforg, 2, 1, np.random.RandomState(0))
    # writer 0: 2 of its 3 genuine + its forgery; writer 1: 2 genuine + 1 forgery; writer 2: its forgery only
    assert [int(y[i]) for i in idx] == [0, 0, 0, 1, 1, 1, 2]
    assert [int(yforg[i]) for i in idx] == [0, 0, 1, 0, 0, 1, 1]
    assert np.array_equal(idx, sample_per_writer(y, yforg, 2, 1, np.random.RandomState(0)))
    assert len(sample_per_writer(y, yforg, 0, 0, np.random.RandomState(0))) == 0
