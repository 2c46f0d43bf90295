"""``python -m sigver.adversarial.evaluate``: attacks on the whole system, results, figures, bad input."""
import json

import numpy as np
import pytest
import torch

from sigver.adversarial.evaluate import attack_user, main, summarize_attacks
from sigver.adversarial.svm import VerificationSystem
from sigver.wd.training import train_wdclassifier_user

SMALL = ["--exp-users", "0", "2", "--dev-users", "2", "6", "--gen-for-train", "4", "--gen-for-test", "2",
         "--forg-from-dev", "3", "--svm-gamma", "0.001", "--device", "cpu", "--no-progress"]


def test_cli_writes_results_and_figures(capsys, tmp_path, adv_dataset, thin_checkpoint):
    out = tmp_path / "eval"
    code = main(["--model-path", str(thin_checkpoint), "--data-path", str(adv_dataset), *SMALL, "--budgets", "0.2",
                 "3", "--attack-steps", "3", "--max-per-user", "1", "--examples", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "L2 <= 0.2:" in err and "L2 <= 3:" in err
    res = json.loads((out / "results.json").read_text())
    assert [b["budget"] for b in res["budgets"]] == [0.2, 3.0]
    for b in res["budgets"]:
        for kind in ("type1", "type2"):
            k = b[kind]
            assert k["signatures"] == 2 and 0 <= k["succeeded"] <= k["attacked"] <= 2
            if k["l2"] is not None:
                assert k["l2"]["max"] <= b["budget"] + 1e-4
                assert k["rmse"]["mean"] == pytest.approx(k["l2"]["mean"] / np.sqrt(150 * 220))
    assert res["attack"] == {"name": "pgd", "steps": 3, "schedule": "fast"}
    assert res["timing"]["images_per_s"] > 0
    for name in ("success_rate.png", "examples_type1.png", "examples_type2.png"):
        if name.startswith("examples") and not any(b[name[9:14]]["succeeded"] for b in res["budgets"]):
            continue
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("extra, message", [
    (["--model-path", "{tmp}/missing.pth", "--data-path", "{data}"], "no such model file"),
    (["--model-path", "{ckpt}", "--data-path", "{data}", "--dev-users", "1", "4"], "overlap"),
    (["--model-path", "{ckpt}", "--data-path", "{data}", "--dev-users", "2", "9"], "writers 0 to 5"),
    (["--model-path", "{ckpt}", "--data-path", "{data}", "--forg-from-dev", "0"], "no negative"),
])
def test_bad_input_one_line(capsys, tmp_path, adv_dataset, thin_checkpoint, extra, message):
    extra = [e.format(tmp=tmp_path, data=adv_dataset, ckpt=thin_checkpoint) for e in extra]
    code = main([*SMALL, *extra, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_attack_user_and_summary(tiny_net):
    rng = np.random.RandomState(0)
    feats = np.abs(rng.randn(40, 32))
    feats[:8] += 1.0
    pipeline = train_wdclassifier_user((feats, np.r_[np.ones(8), -np.ones(32)]), "linear", 1.0, None)
    system = VerificationSystem(tiny_net.eval(), pipeline).eval()
    images = torch.rand(4, 1, 150, 220)
    genuine = np.array([True, True, False, False])
    for attack in ("pgd", "fgm"):
        res = attack_user(system, images, genuine, 0.5, attack=attack, steps=3, batch_size=3)
        assert res["adversarial"].shape == (4, 1, 150, 220) and (res["l2"] <= 0.5 + 1e-4).all()
        # a genuine attack never raises its score much, a forgery attack never lowers it much
        assert (res["adv_score"][genuine] <= res["score"][genuine] + 1e-6).all()
        assert (res["adv_score"][~genuine] >= res["score"][~genuine] - 1e-6).all()
    rec = {"genuine": genuine, "score": np.array([1.0, -1.0, -1.0, 1.0]), "adv_score": np.array([-1.0, -2, 1, 2]),
           "l2": np.array([0.5, 0.1, 0.3, 0.2]), "rmse": np.array([0.5, 0.1, 0.3, 0.2]) / 10}
    s = summarize_attacks([rec], thr=0.0)
    assert (s["type1"]["attacked"], s["type1"]["succeeded"], s["type1"]["success_rate"]) == (1, 1, 1.0)
    assert s["type1"]["clean_error_rate"] == 0.5 and s["type1"]["error_rate_after"] == 1.0
    assert (s["type2"]["attacked"], s["type2"]["succeeded"], s["type2"]["l2"]["mean"]) == (1, 1, 0.3)
