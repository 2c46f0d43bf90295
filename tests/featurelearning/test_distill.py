"""``python -m sigver.featurelearning.distill``: the continual-learning code's command, flags and defaults,
running the code of ``python -m sigver.distillation.train`` on its inverted-data files (y in 350..880, x uint8
or float in [0, 1])."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from sigver.distillation.train import build_parser as new_parser
from sigver.featurelearning import create_model, load_checkpoint, make_heads, save_checkpoint
from sigver.featurelearning.distill import build_parser, main

CPU = ["--device", "cpu", "--no-progress"]
WRITERS = (350, 615, 880)  # the original's inverted set spans the GPDS development writers 350..880
PER_WRITER = 4


def test_flags_and_defaults_are_the_originals():
    argv = ["--s-model", "signet", "--logdir", "x"]
    old, new = vars(build_parser().parse_args(argv)), vars(new_parser().parse_args(argv))
    assert old.pop("d_users") == [350, 881] and new.pop("d_users") is None
    assert old == new  # every other flag and default is the new command's (the continual code's values, tested there)
    assert build_parser().prog == "python -m sigver.featurelearning.distill"


def test_help_runs_as_a_module():
    r = subprocess.run([sys.executable, "-m", "sigver.featurelearning.distill", "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "sigver.featurelearning.distill" in r.stdout and "350 881" in r.stdout


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A signet_thin with the original's 531-class head (GPDS writers 350..880)."""
    torch.manual_seed(0)
    model = create_model("signet_thin")
    head, _ = make_heads(model.feature_space_size, 531)
    path = tmp_path_factory.mktemp("teacher") / "signet_thin_531.pth"
    save_checkpoint(path, model, head)
    return path


def original_inverted_file(path, as_float: bool, writers=WRITERS):
    """Written like the original's data.npz: np.savez, x (N, 1, 150, 220), y = writer index, pickled mapping."""
    rng = np.random.default_rng(0)
    n = len(writers) * PER_WRITER
    x = (rng.integers(0, 256, (n, 1, 150, 220)) * (rng.random((n, 1, 150, 220)) < 0.1)).astype(np.uint8)
    y = np.repeat(writers, PER_WRITER).astype(np.int32)
    np.savez(path, x=x.astype(np.float32) / 255 if as_float else x, y=y, yforg=np.zeros(n, np.int32),
             user_mapping=np.array({i: i for i in range(881)}), filenames=np.array([f"{i}.png" for i in range(n)]))
    return x


def run_distill(capsys, teacher, data, logdir):
    code = main(["--s-model", "signet_thin", "--t-model", "signet_thin", "--t-checkpoint", str(teacher),
                 "--d-dataset-path", str(data), "--epochs", "1", "--d-batch-size", "4", "--logdir", str(logdir),
                 *CPU])
    return code, capsys.readouterr().err


def test_original_inverted_files_work_with_the_default_d_users(capsys, tmp_path, teacher):
    """uint8 and float [0, 1] files whose y spans 350..880 run with the default --d-users 350 881 (labels
    y - 350), and the float file trains exactly as its uint8 twin (converted exactly, once)."""
    original_inverted_file(tmp_path / "u8.npz", as_float=False)
    code, err = run_distill(capsys, teacher, tmp_path / "u8.npz", tmp_path / "u8")
    assert code == 0, err
    assert "12 images of 3 teacher classes (of 531; labels = y - 350)" in err
    model, head, _, meta = load_checkpoint(tmp_path / "u8" / "model_last.pth")
    assert head.out_features == 531

    original_inverted_file(tmp_path / "f32.npz", as_float=True)
    code, err = run_distill(capsys, teacher, tmp_path / "f32.npz", tmp_path / "f32")
    assert code == 0, err
    notices = [line for line in err.splitlines() if "converted once on loading" in line]
    assert len(notices) == 1 and notices[0].startswith("warning: ") and "float32 in [0, 1]" in notices[0]
    model2, head2, _, _ = load_checkpoint(tmp_path / "f32" / "model_last.pth")
    for a, b in zip([*model.state_dict().values(), *head.state_dict().values()],
                    [*model2.state_dict().values(), *head2.state_dict().values()]):
        assert torch.equal(a, b)


def test_new_files_need_d_users_here(capsys, tmp_path, teacher):
    """A file of sigver.distillation.invert (y = teacher class 0..C-1) with the original's default keeps only
    y in 350..880 and says so; --d-users 0 531 keeps all of it."""
    original_inverted_file(tmp_path / "new.npz", as_float=False, writers=(0, 100, 400))
    code, err = run_distill(capsys, teacher, tmp_path / "new.npz", tmp_path / "a")
    assert code == 0, err
    assert "--d-users 350 881: 4 of the 12 images" in err and "4 images of 1 teacher classes" in err
    code = main(["--s-model", "signet_thin", "--t-model", "signet_thin", "--t-checkpoint", str(teacher),
                 "--d-dataset-path", str(tmp_path / "new.npz"), "--d-users", "0", "531", "--epochs", "1",
                 "--d-batch-size", "4", "--logdir", str(tmp_path / "b"), *CPU])
    assert code == 0 and "12 images of 3 teacher classes (of 531; labels = y - 0)" in capsys.readouterr().err
