"""``python -m sigver.distillation.invert``: the optimisation, the output file, resume, bad input."""
import json

import numpy as np
import pytest
import torch

from sigver.datasets import load_dataset, save_dataset
from sigver.distillation.invert import DeepInversion, main
from sigver.featurelearning import load_checkpoint

from .conftest import CPU, TEACHER_CLASSES


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_synthesize_fits_the_teacher_and_its_statistics(teacher):
    model, head, _, _ = load_checkpoint(teacher)
    targets = torch.arange(TEACHER_CLASSES)
    inv = DeepInversion(model, head, iterations=1, lr=0.05, jitter=0)
    _, first = inv.synthesize(targets, torch.Generator().manual_seed(0))
    inv.iterations = 15
    images, stats = inv.synthesize(targets, torch.Generator().manual_seed(0))
    inv.close()
    assert images.shape == (TEACHER_CLASSES, 1, 150, 220) and images.dtype == torch.float32
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    assert stats["ce"] < first["ce"] and stats["bn"] < first["bn"]
    assert 0 <= stats["teacher_acc"] <= 1
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_output_file_and_contact_sheet(inverted, teacher, tmp_path):
    data = load_dataset(inverted)
    assert data.x.dtype == np.uint8 and data.x.shape == (4 * TEACHER_CLASSES, 1, 150, 220)
    assert np.array_equal(np.bincount(data.y), [4] * TEACHER_CLASSES) and not data.yforg.any()
    assert data.n_users == TEACHER_CLASSES
    assert list(data.user_mapping) == load_checkpoint(teacher).metadata["writer_ids"]  # teacher's writer ids
    assert data.filenames[0] == "inv-c0000-000"
    info = json.loads(inverted.with_suffix(".json").read_text())
    assert info["num_classes"] == TEACHER_CLASSES and info["images"] == len(data.y)
    assert data.x.max() > 0  # not blank
    from sigver.visualize import contact_sheet

    assert contact_sheet(list(data.x[:6]), tmp_path / "sheet.png", invert=True).is_file()


def test_resume_adds_only_missing_images_and_equals_one_run(capsys, teacher, tmp_path):
    common = ["--t-model", "signet_thin", "--t-checkpoint", teacher, "--iterations", 3, "--batch-size", 3,
              "--classes", 0, 3, *CPU]
    one = tmp_path / "one.npz"
    assert run(capsys, *common, "--per-class", 2, "--save-path", one)[0] == 0
    two = tmp_path / "two.npz"
    assert run(capsys, *common, "--per-class", 1, "--save-path", two)[0] == 0
    first = load_dataset(two).x.copy()
    code, err = run(capsys, *common, "--per-class", 2, "--save-path", two)
    assert code == 0 and "3 images already" in err and "3 to make" in err
    a, b = load_dataset(one), load_dataset(two)
    assert np.array_equal(b.x[:3], first)
    order_a, order_b = np.lexsort((a.filenames,)), np.lexsort((b.filenames,))
    assert np.array_equal(a.x[order_a], b.x[order_b]) and np.array_equal(a.y[order_a], b.y[order_b])
    code, err = run(capsys, *common, "--per-class", 2, "--save-path", two)  # nothing left to do
    assert code == 0 and "0 to make" in err


def test_competition_with_a_student(capsys, teacher, tmp_path):
    out = tmp_path / "comp.npz"
    code, err = run(capsys, "--t-model", "signet_thin", "--t-checkpoint", teacher, "--s-model", "signet_thin",
                    "--s-checkpoint", teacher, "--competition-weight", 1.0, "--per-class", 1, "--iterations", 2,
                    "--save-path", out, *CPU)
    assert code == 0, err
    assert len(load_dataset(out).y) == TEACHER_CLASSES


def _truncated(path, tmp_path):
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(path.read_bytes()[:2000])
    return bad


@pytest.mark.parametrize("case, message", [
    ("arch", "it looks like 'signet_thin'"),
    ("truncated", "truncated or corrupt"),
    ("missing", "no such checkpoint"),
    ("shape", "170x242 images"),
    ("competition", "needs a student"),
    ("classes", "--classes 0 99"),
])
def test_bad_input_one_line_and_nothing_lost(capsys, teacher, dist_data, tmp_path, case, message):
    out = tmp_path / "out.npz"
    t_model, t_ckpt, extra = "signet_thin", teacher, []
    if case == "arch":
        t_model = "signet"
    elif case == "truncated":
        t_ckpt = _truncated(teacher, tmp_path)
    elif case == "missing":
        t_ckpt = tmp_path / "nope.pth"
    elif case == "shape":  # an existing output of another shape: a 170 x 242 dataset
        d = load_dataset(dist_data)
        save_dataset(out, d.x[:4], np.zeros(4, int), np.zeros(4, int), [0], d.filenames[:4])
    elif case == "competition":
        extra = ["--competition-weight", 1]
    elif case == "classes":
        extra = ["--classes", 0, 99]
    before = out.read_bytes() if out.exists() else None
    code, err = run(capsys, "--t-model", t_model, "--t-checkpoint", t_ckpt, "--per-class", 1, "--iterations", 1,
                    "--save-path", out, *extra, *CPU)
    assert code == 2
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert (out.read_bytes() if out.exists() else None) == before
