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
           "--recipes", "original-loop", "sigver-train", "binarize", "signet-f-0.7+binarize+fc1+five-crop",
           "signet-f-0.5+binarize+fc1+ensemble3", "signet-f-0.5-2x+binarize", "signet-f-0.5-kd3+binarize",
           "signet-f-0.5-kdf3+binarize"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((out / "results.json").read_text())
    assert set(result["recipes"]) == {"original-loop", "sigver-train", "binarize",
                                      "signet-f-0.7+binarize+fc1+five-crop", "signet-f-0.5+binarize+fc1+ensemble3",
                                      "signet-f-0.5-2x+binarize", "signet-f-0.5-kd3+binarize",
                                      "signet-f-0.5-kdf3+binarize"}
    for recipe, table in result["recipes"].items():
        assert table["summary"]["n_seeds"] == 1
        (row,) = table["seeds"]
        assert len(row["wd_folds"]) == 2 and len(row["wi_folds"]) == 2  # --quick: 2 folds
        extract_flags = (["--layer", "fc1"] if "fc1" in recipe else []) + (["--crops", "five"] if "five" in recipe
                                                                           else [])
        assert table["extract"] == extract_flags
        for fold in row["wd_folds"]:
            assert 0.0 <= fold["EER_userthresholds"] <= 1.0 and 0.0 <= fold["mean_AUC"] <= 1.0
        run = out / "runs" / recipe / "seed1"
        # one features file: the 8 test writers first, the 8 training writers after them
        with np.load(run / "features.npz") as f:
            assert sorted(np.unique(f["y"])) == list(range(16))
            assert len(f["y"]) == 8 * 18 + 8 * 16
            assert str(f["layer"]) == ("fc1" if "fc1" in recipe else "fc2")
            assert str(f["crops"]) == ("five" if "five" in recipe else "center")
    # 'binarize' trains as 'sigver-train' (only its test set differs): one training run for both
    # (and the ensemble's three SigNet-F 0.5 models are seeds 1-3 of that recipe)
    # (+ the 2x and the two distilled runs of seed 1, the distillation's teachers are seeds 7-9 of SigNet-F 0.5)
    assert len(list((out / "train").glob("*/seed1/model_last.pth"))) == 7
    assert len(list((out / "train").glob("*lamb_0.5_amp_channels-last/seed*/model_last.pth"))) == 6
    # twice the epochs (--quick: 2 x 2), its ratio against the baseline trained as long (not run here: "-")
    assert result["recipes"]["signet-f-0.5-2x+binarize"]["epochs"] == 4
    (log2x,) = (out / "train").glob("*epochs4/seed1/log.jsonl")
    assert len(log2x.read_text().splitlines()) == 4
    assert "| `signet-f-0.5-2x+binarize` | 1 |" in (out / "results.md").read_text()
    assert "compared with `original-loop-2x`" in (out / "results.md").read_text()
    # the distilled model learnt from the three teachers; its training time counts theirs
    (kd_dir,) = (out / "train").glob("*lamb_0.5_amp_channels-last_teachers7-8-9/seed1")
    assert "distilling from 3 teacher(s)" in (kd_dir / "train.log").read_text()
    (kdf_dir,) = (out / "train").glob("*kd-features_1_kd-layer_fc1*teachers7-8-9/seed1")
    assert "features of fc1, weight 1.0, 3072 values" in (kdf_dir / "train.log").read_text()
    assert "train_kd_feature_loss" in (kdf_dir / "log.jsonl").read_text()
    kd_seconds = [json.loads(p.read_text())["seconds"] for p in
                  [kd_dir / "DONE.json", *(out / "train").glob("*lamb_0.5_amp_channels-last/seed[789]/DONE.json")]]
    assert result["recipes"]["signet-f-0.5-kd3+binarize"]["seeds"][0]["train_seconds"] == pytest.approx(
        sum(kd_seconds))
    ensemble = out / "runs" / "signet-f-0.5+binarize+fc1+ensemble3" / "seed1"
    with np.load(ensemble / "features.npz") as f, \
            np.load(out / "runs" / "signet-f-0.5+binarize+fc1" / "seed3" / "features.npz") as member:
        assert f["features"].shape[1] == 3 * member["features"].shape[1]
        np.testing.assert_array_equal(f["features"][:, -member["features"].shape[1]:], member["features"])
    assert json.loads((ensemble / "wd.json").read_text())["args"]["svm_gamma"] == pytest.approx(2 ** -11 / 3)
    row = result["recipes"]["signet-f-0.5+binarize+fc1+ensemble3"]["seeds"][0]
    member_seconds = [json.loads(p.read_text())["seconds"]
                      for p in (out / "train").glob("*lamb_0.5_amp_channels-last/seed[123]/DONE.json")]
    assert row["train_seconds"] == pytest.approx(sum(member_seconds))  # the three models' training
    md = (out / "results.md").read_text()
    assert "| `original-loop` | 1 |" in md and "1.00x" in md
    assert "extract --layer fc1 --crops five)" in md
    assert (out / "roc_det.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "runs" / "sigver-train" / "seed1" / "plots" / "roc.png").is_file()
    # a second call finds everything done and only rewrites the report
    mtime = (out / "runs" / "sigver-train" / "seed1" / "wd.json").stat().st_mtime
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "runs" / "sigver-train" / "seed1" / "wd.json").stat().st_mtime == mtime
    assert "training" not in proc.stderr


def _bench_real_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_real", REPO / "scripts" / "bench_real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(seed, eer):
    fold = {"EER_userthresholds": eer, "EER": eer + 0.04, "mean_AUC": 0.95, "FRR": 0.02, "FAR_skilled": 0.3,
            "FAR_random": 0.03}
    return {"seed": seed, "wd_folds": [fold, fold], "wi_folds": [], "train_seconds": 100.0,
            "train_images_per_s": 50.0}


def test_report_includes_an_earlier_results_file(tmp_path):
    bench = _bench_real_module()
    previous = {"recipes": {
        "original-loop": {"note": "baseline", "model": "signet_thin", "flags": [], "seeds": [_row(1, 0.10)]},
        "binarize": {"note": "binarised", "model": "signet_thin", "flags": [], "seeds": [_row(1, 0.08), _row(2, 0.09)]},
    }}
    for recipe in previous["recipes"].values():
        recipe["summary"] = bench.summarize(recipe["seeds"])
    path = tmp_path / "previous.json"
    path.write_text(json.dumps(previous))
    # 'binarize' seed 2 finished here too (0.07): it replaces the earlier seed 2; seed 1 is kept
    here = {"binarize": {"note": "binarised", "model": "signet_thin", "flags": [], "seeds": [_row(2, 0.07)]}}
    here["binarize"]["summary"] = bench.summarize(here["binarize"]["seeds"])
    table = bench.include_previous(here, path)
    assert list(table) == ["original-loop", "binarize"]
    assert [r["seed"] for r in table["binarize"]["seeds"]] == [1, 2]
    assert table["binarize"]["summary"]["wd_EER_userthresholds"]["mean"] == pytest.approx(0.075)
    assert table["binarize"]["summary"]["n_seeds"] == 2
    # the report of the merged table: the baseline row from the earlier file
    md = bench.markdown(table, bench.argparse.Namespace(train_name="A", test_name="B", epochs=15, references=6,
                                                        genuine_test=6, folds=2))
    assert "| `binarize` | 2 | 7.50" in md and "0.75x" in md
    path.write_text("{not json")
    with pytest.raises(SystemExit, match="previous.json"):
        bench.include_previous(here, path)
