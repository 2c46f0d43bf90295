import contextlib
import io
import json
import subprocess
import sys

import pytest
import torch

from sigver.metalearning.train import main
from tests.metalearning.conftest import INPUT_SIZE

# 16 writers x 10 genuine + 5 skilled, 85 x 121 (conftest.py): meta-train on 0-4, evaluate on 5-7, 75 x 110 crops
TINY = ["--model", "smallcnn", "--num-updates", "1", "--num-gen", "3", "--num-rf", "1", "--num-gen-test", "2",
        "--num-rf-test", "1", "--num-sk-test", "1", "--dev-users", "0", "5", "--exp-users", "5", "8",
        "--meta-batch-size", "5", "--folds", "2", "--device", "cpu", "--no-progress",
        "--input-size", *map(str, INPUT_SIZE)]


@pytest.fixture(scope="module")
def run(meta_dataset, tmp_path_factory):
    """One end-to-end run (SigNet-F pre-training, 1 meta-epoch, final evaluation), shared by the tests below."""
    logdir = tmp_path_factory.mktemp("meta") / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["--dataset-path", str(meta_dataset), "--logdir", str(logdir), "--epochs", "1",
                     "--pretrain-epochs", "1", "--pretrain-forg", "--save-file", "res.json", *TINY])
    assert code == 0, err.getvalue()
    return logdir, err.getvalue()


def test_run_folder_and_results(run):
    run, stderr = run
    for name in ("args.json", "log.jsonl", "best_model.pth", "training_state.pth", "res.json", "res_scores.npz",
                 "pretrain/log.jsonl"):
        assert (run / name).is_file(), name
    res = json.loads((run / "res.json").read_text())
    assert res["users"] == [5, 6, 7] and len(res["folds"]) == 2
    assert 0 <= res["summary"]["EER"]["mean"] <= 1
    # pre-training honoured --dev-users (5 writers, not all 16), ran as SigNet-F and logged its epochs
    state = torch.load(run / "pretrain" / "training_state.pth", weights_only=True)
    assert state["modules"]["heads"]["classification.weight"].shape == (5, 256)
    assert "forg.weight" in state["modules"]["heads"]
    assert "val_acc" in json.loads((run / "pretrain" / "log.jsonl").read_text().splitlines()[0])
    assert "pretrain: Epoch 1/1." in stderr
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[0]["best"] and "val_acc_1" in log[0]
    # the meta-training summary counts tasks, not images
    epoch_line = next(line for line in stderr.splitlines() if line.startswith("Epoch 1/1."))
    assert "tasks/s" in epoch_line and "images/s" not in epoch_line
    assert torch.load(run / "best_model.pth", weights_only=True)["input_size"] == list(INPUT_SIZE)


def test_test_in_a_new_process_gives_the_same_numbers(run, meta_dataset):
    run, _ = run
    cmd = [sys.executable, "-m", "sigver.metalearning.train", "--dataset-path", str(meta_dataset), "--logdir",
           str(run), "--test", "--checkpoint", str(run / "best_model.pth"), "--save-file", "again.json", *TINY]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    a, b = (json.loads((run / n).read_text()) for n in ("res.json", "again.json"))
    assert a["folds"][0]["metrics"] == b["folds"][0]["metrics"]
    assert a["summary"] == b["summary"]


def test_task_batching_together_scores_like_one_at_a_time(run, meta_dataset):
    """--task-batching together (the GPU default) adapts the evaluation tasks together: the same scores as the
    CPU default (one at a time) up to float32 rounding."""
    import numpy as np

    run, _ = run
    assert json.loads((run / "args.json").read_text())["args"]["task_batching"] == "auto"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["--dataset-path", str(meta_dataset), "--logdir", str(run), "--test", "--checkpoint",
                     str(run / "best_model.pth"), "--save-file", "together.json", "--task-batching", "together",
                     *TINY]) == 0
    with np.load(run / "res_scores.npz") as a, np.load(run / "together_scores.npz") as b:
        assert set(a.files) == set(b.files)
        for k in a.files:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5)


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_bad_input_one_line(run, meta_dataset, tmp_path, capsys):
    run, _ = run
    base = ["--logdir", str(tmp_path / "r"), *TINY]
    assert "missing.npz: no such dataset" in _error(capsys, ["--dataset-path", str(tmp_path / "missing.npz"), *base])
    data = ["--dataset-path", str(meta_dataset)]
    msg = _error(capsys, [*data, *base, "--num-gen", "9"])
    assert "--num-gen 9 + --num-gen-test 2 = 11" in msg and "has 10 genuine" in msg
    assert "--dev-users 0 50" in _error(capsys, [*data, *base, "--dev-users", "0", "50"])
    assert "--input-size 100 130 is larger than the images" in _error(capsys, [*data, *base, "--input-size", "100",
                                                                               "130"])
    assert "--input-size 40 60 is too small for SmallCNN" in _error(capsys, [*data, *base, "--input-size", "40",
                                                                             "60"])
    cut = tmp_path / "cut.pth"
    cut.write_bytes(b"PK\x03\x04 truncated")
    assert "cut.pth: cannot be read" in _error(capsys, [*data, *base, "--test", "--checkpoint", str(cut)])
    assert "--test needs --checkpoint" in _error(capsys, [*data, *base, "--test"])
    msg = _error(capsys, [*data, *base, "--test", "--checkpoint", str(run / "best_model.pth"), "--input-size", "70",
                          "100"])
    assert "trained with --input-size 75 110, got 70 100" in msg
