import json
import subprocess
import sys

import pytest
import torch

from sigver.metalearning.train import main

# 8 writers x 12 genuine + 2 skilled (tests/featurelearning/conftest.py): meta-train on 0-4, evaluate on 5-7
TINY = ["--model", "smallcnn", "--num-updates", "1", "--num-gen", "3", "--num-rf", "1", "--num-gen-test", "2",
        "--num-rf-test", "1", "--num-sk-test", "1", "--dev-users", "0", "5", "--exp-users", "5", "8",
        "--meta-batch-size", "5", "--folds", "2", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def run(tiny_dataset, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("meta") / "run"
    code = main(["--dataset-path", str(tiny_dataset), "--logdir", str(logdir), "--epochs", "1",
                 "--pretrain-epochs", "1", "--pretrain-forg", "--save-file", "res.json", *TINY])
    assert code == 0
    return logdir


def test_run_folder_and_results(run):
    for name in ("args.json", "log.jsonl", "best_model.pth", "training_state.pth", "res.json", "res_scores.npz",
                 "pretrain/log.jsonl"):
        assert (run / name).is_file(), name
    res = json.loads((run / "res.json").read_text())
    assert res["users"] == [5, 6, 7] and len(res["folds"]) == 2
    assert 0 <= res["summary"]["EER"]["mean"] <= 1
    # pre-training honoured --dev-users (5 writers, not all 8) and ran as SigNet-F
    state = torch.load(run / "pretrain" / "training_state.pth", weights_only=True)
    assert state["modules"]["heads"]["classification.weight"].shape == (5, 256)
    assert "forg.weight" in state["modules"]["heads"]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[0]["best"] and "val_acc_1" in log[0]


def test_test_in_a_new_process_gives_the_same_numbers(run, tiny_dataset):
    cmd = [sys.executable, "-m", "sigver.metalearning.train", "--dataset-path", str(tiny_dataset), "--logdir",
           str(run), "--test", "--checkpoint", str(run / "best_model.pth"), "--save-file", "again.json", *TINY]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    a, b = (json.loads((run / n).read_text()) for n in ("res.json", "again.json"))
    assert a["folds"][0]["metrics"] == b["folds"][0]["metrics"]
    assert a["summary"] == b["summary"]


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_bad_input_one_line(tiny_dataset, tmp_path, capsys):
    base = ["--logdir", str(tmp_path / "r"), *TINY]
    assert "missing.npz: no such dataset" in _error(capsys, ["--dataset-path", str(tmp_path / "missing.npz"), *base])
    data = ["--dataset-path", str(tiny_dataset)]
    msg = _error(capsys, [*data, *base, "--num-gen", "10"])
    assert "--num-gen 10 + --num-gen-test 2 = 12" in msg and "has 12 genuine" not in msg
    assert "--dev-users 0 50" in _error(capsys, [*data, *base, "--dev-users", "0", "50"])
    cut = tmp_path / "cut.pth"
    cut.write_bytes(b"PK\x03\x04 truncated")
    assert "cut.pth: cannot be read" in _error(capsys, [*data, *base, "--test", "--checkpoint", str(cut)])
    assert "--test needs --checkpoint" in _error(capsys, [*data, *base, "--test"])
