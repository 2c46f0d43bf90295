"""Tests of :func:`sigver.datasets.merge_datasets` and ``python -m sigver.datasets.merge``."""
import subprocess
import sys

import numpy as np
import pytest

from sigver.datasets import load_dataset, merge_datasets, save_dataset
from sigver.datasets.merge import main
from sigver.errors import DatasetFileError


def _write(path, n_users, n_per_user, ids, seed, size=(12, 16)):
    rng = np.random.RandomState(seed)
    n = n_users * n_per_user
    x = rng.randint(0, 256, size=(n, 1) + size).astype(np.uint8)
    y = np.repeat(np.arange(n_users), n_per_user)
    yforg = np.tile(np.arange(n_per_user) % 2, n_users)
    save_dataset(path, x, y, yforg, ids, [f"{path.stem}-{i}.png" for i in range(n)])
    return load_dataset(path)


def test_merge_shifts_writers_and_keeps_everything(tmp_path):
    a = _write(tmp_path / "real.npz", 3, 4, [1, 2, 3], seed=0)
    b = _write(tmp_path / "synthetic.npz", 2, 4, [1, 2], seed=1)
    merge_datasets([tmp_path / "real.npz", tmp_path / "synthetic.npz"], tmp_path / "both.npz")
    m = load_dataset(tmp_path / "both.npz")
    np.testing.assert_array_equal(m.x, np.concatenate([a.x, b.x]))
    np.testing.assert_array_equal(m.y, np.concatenate([a.y, b.y + 3]))
    np.testing.assert_array_equal(m.yforg, np.concatenate([a.yforg, b.yforg]))
    np.testing.assert_array_equal(m.filenames, np.concatenate([a.filenames, b.filenames]))
    # the two files both number their writers 1, 2, ...: the ids name their file
    assert list(m.user_mapping) == ["real/1", "real/2", "real/3", "synthetic/1", "synthetic/2"]


def test_distinct_ids_are_kept(tmp_path):
    _write(tmp_path / "a.npz", 2, 2, [1, 2], seed=0)
    _write(tmp_path / "b.npz", 2, 2, [7, 8], seed=1)
    merge_datasets([tmp_path / "a.npz", tmp_path / "b.npz"], tmp_path / "m")  # a .npy folder
    assert load_dataset(tmp_path / "m").user_mapping.tolist() == [1, 2, 7, 8]


def test_bad_input_is_refused_and_nothing_written(tmp_path):
    _write(tmp_path / "a.npz", 2, 2, [1, 2], seed=0)
    _write(tmp_path / "small.npz", 2, 2, [1, 2], seed=1, size=(10, 16))
    with pytest.raises(DatasetFileError, match="small.npz.*same --image-size"):
        merge_datasets([tmp_path / "a.npz", tmp_path / "small.npz"], tmp_path / "m.npz")
    with pytest.raises(DatasetFileError):  # the output may not be one of the inputs
        merge_datasets([tmp_path / "a.npz", tmp_path / "small.npz"], tmp_path / "a.npz")
    assert not (tmp_path / "m.npz").exists()
    assert load_dataset(tmp_path / "a.npz").n_users == 2  # untouched


def test_command(tmp_path, capsys):
    _write(tmp_path / "a.npz", 2, 3, [1, 2], seed=0)
    _write(tmp_path / "b.npz", 1, 3, [5], seed=1)
    assert main([str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--out", str(tmp_path / "m.npz")]) == 0
    assert "3 writers" in capsys.readouterr().out
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    r = subprocess.run([sys.executable, "-m", "sigver.datasets.merge", str(tmp_path / "a.npz"),
                        str(tmp_path / "bad.npz"), "--out", str(tmp_path / "m2.npz")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.npz" in r.stderr
    assert not (tmp_path / "m2.npz").exists()
