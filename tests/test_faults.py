"""Fault injection (issue 16): ``process_dataset`` and ``train`` are killed (SIGKILL) at random points (a fixed
set of seeds); the previous output is never lost or damaged, and the next run leaves nothing behind."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sigver.datasets import load_dataset
from sigver.datasets.synthetic import encode_png, render_signature

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def kill_after(cmd, delay):
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()


def hidden(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw") / "my"
    for w in range(4):
        for i in range(3):
            p = root / f"w{w}" / "genuine" / f"g{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(encode_png(render_signature(2, w, 0, i)))
    return root


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("target", ["out.npz", "outdir"])
def test_killed_process_dataset_loses_nothing_and_leaves_nothing(raw, tmp_path, seed, target):
    cmd = [sys.executable, "-m", "sigver.preprocessing.process_dataset", "--dataset", "folder", "--path", str(raw),
           "--workers", "1", "--no-progress", "--save-path", str(tmp_path / target)]
    assert subprocess.run(cmd, env=ENV, capture_output=True).returncode == 0
    before = load_dataset(tmp_path / target)
    x0 = np.array(before.x)
    kill_after(cmd + ["--users", "0", "2"], random.Random(seed).uniform(1.0, 6.0))
    after = load_dataset(tmp_path / target)  # the old dataset, or the complete new one
    assert len(after.y) in (len(before.y), 6)
    if len(after.y) == len(before.y):
        np.testing.assert_array_equal(np.asarray(after.x), x0)
    assert subprocess.run(cmd, env=ENV, capture_output=True).returncode == 0
    assert hidden(tmp_path) == []  # whatever the killed run left was removed by the next one
    assert sorted(p.name for p in raw.rglob("*.png")) == sorted(f"g{i}.png" for _ in range(4) for i in range(3))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_killed_training_resumes_and_leaves_nothing(tmp_path, seed, train_data):
    logdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "sigver.featurelearning.train", "--model", "signet_thin", "--epochs", "3",
           "--batch-size", "16", "--device", "cpu", "--no-progress", "--dataset-path", str(train_data),
           "--users", "0", "8", "--logdir", str(logdir)]
    kill_after(cmd, random.Random(seed).uniform(8.0, 40.0))
    resume = cmd + (["--resume"] if (logdir / "training_state.pth").exists() else
                    ["--overwrite"] if logdir.exists() else [])
    r = subprocess.run(resume, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (logdir / "model_last.pth").is_file() and hidden(logdir) == []
    assert len((logdir / "log.jsonl").read_text().splitlines()) == 3
