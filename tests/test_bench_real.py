"""The real-data benchmark's protocol (``scripts/bench_real.py``) end to end on tiny synthetic stand-ins."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO, synthetic_dataset_file


@pytest.mark.slow  # two small trainings, extraction, WD and WI evaluations in subprocesses (a few minutes)
def test_bench_real_quick_on_synthetic_sets(tmp_path_factory, tmp_path):
    train = synthetic_dataset_file(tmp_path_factory, "train.npz", n_users=8, genuine=14, forgeries=2, seed=11)
    test = synthetic_dataset_file(tmp_path_factory, "test.npz", n_users=8, genuine=12, forgeries=6, seed=12)
    out = tmp_path / "bench"
    cmd = [sys.executable, str(REPO / "scripts" / "bench_real.py"), "--quick", "--out", str(out),
           "--train-data", str(train), "--test-data", str(test), "--parallel", "1",
           "--recipes", "original-loop", "sigver-train", "binarize"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((out / "results.json").read_text())
    assert set(result["recipes"]) == {"original-loop", "sigver-train", "binarize"}
    for recipe, table in result["recipes"].items():
        assert table["summary"]["n_seeds"] == 1
        (row,) = table["seeds"]
        assert len(row["wd_folds"]) == 2 and len(row["wi_folds"]) == 2  # --quick: 2 folds
        for fold in row["wd_folds"]:
            assert 0.0 <= fold["EER_userthresholds"] <= 1.0 and 0.0 <= fold["mean_AUC"] <= 1.0
        run = out / "runs" / recipe / "seed1"
        # one features file: the 8 test writers first, the 8 training writers after them
        with np.load(run / "features.npz") as f:
            assert sorted(np.unique(f["y"])) == list(range(16))
            assert len(f["y"]) == 8 * 18 + 8 * 16
    # 'binarize' trains as 'sigver-train' (only its test set differs): one training run for both
    assert len(list((out / "train").glob("*/seed1/model_last.pth"))) == 2
    md = (out / "results.md").read_text()
    assert "| `original-loop` | 1 |" in md and "1.00x" in md
    assert (out / "roc_det.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "runs" / "sigver-train" / "seed1" / "plots" / "roc.png").is_file()
    # a second call finds everything done and only rewrites the report
    mtime = (out / "runs" / "sigver-train" / "seed1" / "wd.json").stat().st_mtime
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "runs" / "sigver-train" / "seed1" / "wd.json").stat().st_mtime == mtime
    assert "training" not in proc.stderr
