"""process_dataset: library function and CLI (docs/formats.md) on tiny readers."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sigver.datasets.base import SignatureDataset
from sigver.datasets.format import load_dataset
from sigver.preprocessing.normalize import preprocess_signature
from sigver.preprocessing.pipeline import WriterLostError, _canvas_from_extents, measure_canvas, process_dataset
from sigver.preprocessing.process_dataset import main

REPO = Path(__file__).resolve().parents[2]


def stroke_image(seed, h=90, w=140, dark=40):
    rng = np.random.default_rng(seed)
    img = rng.integers(225, 256, (h, w)).astype(np.uint8)
    t = np.linspace(0, 1, 400)
    r = (h / 2 + h / 4 * np.sin(2 * np.pi * (t + rng.random()))).astype(int)
    c = (10 + (w - 20) * t).astype(int)
    for d in range(9):  # thick enough to survive the sigma-2 blur used to locate the ink
        img[r + d - 4, np.clip(c + d % 3, 0, w - 1)] = dark + d * 3
    return img


def save_png(path, img):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


class TinyReader(SignatureDataset):
    """Flat folder: ``u{user}_{g|f}{i}.png``."""

    maxsize = (150, 214)

    def __init__(self, path, maxsize=(150, 214)):
        self.path = str(path)
        self.maxsize = maxsize

    def get_user_list(self):
        return sorted({int(n.split("_")[0][1:]) for n in os.listdir(self.path)})

    def _list(self, user, kind):
        return sorted(os.path.join(self.path, n) for n in os.listdir(self.path)
                      if n.startswith(f"u{user}_{kind}"))

    def list_genuine(self, user):
        return self._list(user, "g")

    def list_skilled(self, user):
        return self._list(user, "f")


class TupleReader(SignatureDataset):
    """Items are tuples, images generated on the fly (like the synthetic generator)."""

    maxsize = (150, 214)

    def get_user_list(self):
        return [10, 20]

    def list_genuine(self, user):
        return [(user, 0, i) for i in range(3)]

    def list_skilled(self, user):
        return [(user, 1, 0)]

    def list_simple(self, user):
        return [(user, 2, 0)] if user == 20 else []

    def load(self, item):
        user, kind, i = item
        return stroke_image(user * 100 + kind * 10 + i)

    def item_name(self, item):
        return "s{}-{}-{}.png".format(*item)


@pytest.fixture
def tiny(tmp_path):
    root = tmp_path / "raw"
    for user in (1, 2, 3):
        for i in range(3):
            save_png(root / f"u{user}_g{i}.png", stroke_image(user * 10 + i))
        save_png(root / f"u{user}_f0.png", stroke_image(user * 10 + 9, dark=60))
    (root / "u2_g1.png").write_bytes(b"not a png")  # corrupt
    save_png(root / "u3_g2.png", np.full((50, 60), 255, np.uint8))  # blank
    return root


def test_process_dataset_end_to_end(tiny, tmp_path, capsys):
    out = tmp_path / "out.npz"
    data = process_dataset(TinyReader(tiny), out, img_size=(170, 242), workers=1)
    err = capsys.readouterr().err
    assert "u2_g1.png" in err and "u3_g2.png" in err and "2 images skipped" in err
    assert "10 of 12 images written" in err
    assert out.is_file()
    assert data.x.shape == (10, 1, 170, 242) and data.x.dtype == np.uint8
    assert data.y.dtype == np.int32 and data.yforg.dtype == np.int32
    np.testing.assert_array_equal(data.y, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(data.yforg, [0, 0, 0, 1, 0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(data.user_mapping, [1, 2, 3])
    assert list(data.filenames[:4]) == ["u1_g0.png", "u1_g1.png", "u1_g2.png", "u1_f0.png"]
    expected = preprocess_signature(stroke_image(10), (150, 214), input_size=None)
    np.testing.assert_array_equal(data.x[0, 0], expected)


def test_workers_give_same_output_and_tuple_items(tmp_path):
    a = process_dataset(TupleReader(), tmp_path / "a.npz", workers=1, progress=False)
    b = process_dataset(TupleReader(), tmp_path / "b.npz", workers=2, progress=False)
    for key in ("x", "y", "yforg", "user_mapping", "filenames"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    np.testing.assert_array_equal(a.yforg, [0, 0, 0, 1, 0, 0, 0, 1, 2])
    assert a.filenames[0] == "s10-0-0.png"


def test_subset_restarts_y(tmp_path):
    data = process_dataset(TupleReader(), tmp_path / "s.npz", subset=slice(1, 2), progress=False)
    assert set(data.y) == {0} and list(data.user_mapping) == [20]


def test_lost_writer_fails_and_leaves_existing_file(tiny, tmp_path):
    for n in range(3):
        (tiny / f"u1_g{n}.png").write_bytes(b"")  # writer 1 loses every genuine signature
    out = tmp_path / "out.npz"
    with pytest.raises(WriterLostError, match="1 writers"):
        process_dataset(TinyReader(tiny), out, progress=False)
    assert not out.exists()
    from sigver.datasets import save_dataset

    save_dataset(out, np.zeros((1, 1, 4, 4), np.uint8), [0], [0], [7], ["previous.png"])
    previous = out.read_bytes()
    with pytest.raises(WriterLostError):
        process_dataset(TinyReader(tiny), out, progress=False)
    assert out.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    data = process_dataset(TinyReader(tiny), out, progress=False, allow_lost_writers=True)
    assert 0 not in set(data.y[data.yforg == 0])


def test_measure_canvas_holds_every_signature(tmp_path):
    reader = TupleReader()
    canvas = measure_canvas(reader, img_size=(170, 242))
    assert abs(canvas[0] / canvas[1] - 170 / 242) < 0.01
    import warnings

    from sigver.preprocessing.normalize import CanvasTooSmallWarning, find_signature

    with warnings.catch_warnings():
        warnings.simplefilter("error", CanvasTooSmallWarning)
        for user in reader.get_user_list():
            for item in reader.list_genuine(user) + reader.list_skilled(user) + reader.list_simple(user):
                img = reader.load(item)
                loc = find_signature(img)
                h, w = loc.crop_shape
                # placed by its centre of mass without shifting
                r0 = canvas[0] // 2 - loc.center[0]
                c0 = canvas[1] // 2 - loc.center[1]
                assert r0 >= 0 and c0 >= 0 and r0 + h <= canvas[0] and c0 + w <= canvas[1]
                preprocess_signature(img, canvas)


def test_canvas_from_extents_minimal():
    # crop 10 rows with centre at 3: H//2 >= 3 and H - H//2 >= 7 -> H = 13
    canvas = _canvas_from_extents(np.array([[3, 7, 5, 5]]), (10, 10))
    assert canvas == (13, 13)


# --- command line ---------------------------------------------------------------------------------------
@pytest.fixture
def folder_tree(tmp_path):
    root = tmp_path / "writers"
    for w in ("alice", "bob"):
        for i in range(2):
            save_png(root / w / "genuine" / f"{w}{i}.png", stroke_image(hash(w) % 100 + i))
        save_png(root / w / "forgeries" / f"{w}-f.png", stroke_image(hash(w) % 100 + 50))
    return root


def test_cli_canvas_auto(folder_tree, tmp_path, capsys):
    out = tmp_path / "f.npz"
    code = main(["--dataset", "folder", "--path", str(folder_tree), "--save-path", str(out),
                 "--canvas", "auto", "--workers", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "canvas" in captured.err.lower() or "canvas" in captured.out.lower()
    data = load_dataset(out)
    assert data.x.shape == (6, 1, 170, 242)
    assert list(data.user_mapping) == ["alice", "bob"]


def test_cli_bad_canvas_ratio_one_line(folder_tree, tmp_path, capsys):
    out = tmp_path / "f.npz"
    code = main(["--dataset", "folder", "--path", str(folder_tree), "--save-path", str(out),
                 "--canvas", "800", "800", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "aspect ratio" in err and not out.exists()


def test_cli_lost_writer_exit_status(tiny, tmp_path, capsys):
    for n in range(3):
        (tiny / f"u2_g{n}.png").write_bytes(b"junk")
    # the 'folder' layout is not this one: drive main through a registered reader instead
    root = tmp_path / "writers"
    save_png(root / "w1" / "genuine" / "a.png", stroke_image(1))
    (root / "w2" / "genuine").mkdir(parents=True)
    (root / "w2" / "genuine" / "b.png").write_bytes(b"junk")
    out = tmp_path / "x.npz"
    code = main(["--dataset", "folder", "--path", str(root), "--save-path", str(out),
                 "--canvas", "170", "242", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "w2" in err and "b.png" in err and not out.exists()


def test_cli_subprocess(folder_tree, tmp_path):
    out = tmp_path / "sub.npz"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "sigver.preprocessing.process_dataset", "--dataset", "folder", "--path",
         str(folder_tree), "--save-path", str(out), "--canvas", "300", "428", "--workers", "2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert load_dataset(out).x.shape == (6, 1, 170, 242)
    bad = subprocess.run(
        [sys.executable, "-m", "sigver.preprocessing.process_dataset", "--dataset", "folder", "--path",
         str(folder_tree), "--save-path", str(out), "--canvas", "300", "300"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_missing_output_folder_fails_before_any_work(tmp_path):
    """The output folder is checked first: no image is loaded when it cannot be written."""
    from sigver.datasets.base import SignatureDataset
    from sigver.errors import DatasetFileError

    class Exploding(SignatureDataset):
        maxsize = (100, 142)

        def get_user_list(self):
            return [1]

        def list_genuine(self, user):
            return ["a"]

        def load(self, item):
            raise AssertionError("an image was loaded before the output path was checked")

    with pytest.raises(DatasetFileError, match="does not exist"):
        process_dataset(Exploding(), tmp_path / "nope" / "out.npz", progress=False)
