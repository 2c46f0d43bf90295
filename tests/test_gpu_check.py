"""scripts/gpu_check.sh: its plumbing on the CPU (tiny mode); the GPU table itself needs a GPU."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_signet_forward_is_about_1_2_gflop():
    assert _module().forward_flops("signet", "cpu") == pytest.approx(1.2e9, rel=0.05)


def _run(env_extra, tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, SIGVER_GPU_CHECK_OUT=str(tmp_path / "work"), **env_extra)
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=900)


def test_without_cuda_it_says_so(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = _run({"SIGVER_GPU_CHECK_DEVICE": "cuda"}, tmp_path)
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


@pytest.mark.slow
def test_tiny_mode_runs_every_step_on_the_cpu(tmp_path):
    proc = _run({"SIGVER_GPU_CHECK_DEVICE": "cpu", "SIGVER_GPU_CHECK_TINY": "1"}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    steps = [line.split("|")[1].strip() for line in table]
    assert len(steps) == 8 and all(" ok " in line for line in table)
    for name in ("torchrun DDP, 1 epoch", "wd.test --device", "train_madry, 1 epoch", "meta-learning, 1 epoch",
                 "inversion, 5 iterations"):
        assert name in steps
    assert "GFLOP per 150x220 image" in proc.stdout
