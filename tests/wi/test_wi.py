"""``sigver.wi``: the dissimilarity training set and draws of the original, fused scores, and the CLI."""
import json

import numpy as np
import pytest

from sigver.wd.data import select_test_samples
from sigver.wi import create_training_set, fused_scores, split_ref_test, split_train, train_wiclassifier
from sigver.wi import test as witest
from sigver.wi.training import test_all_users

from ..wd.test_cli import make_features

SMALL = ["--exp-users", "0", "8", "--dev-users", "8", "16", "--gen-for-train", "6", "--gen-for-ref", "6",
         "--gen-for-test", "4", "--folds", "2", "--svm-gamma", "0.05", "--no-progress"]


def original_training_set(dev_train, n, rng):
    """The continual_sigver loops (set_to_genuine_array, pairwise within / between), for comparison."""
    x, y, yforg = dev_train
    users = np.unique(y)
    S = np.zeros((len(users), n, x.shape[1]))
    for i, u in enumerate(users):
        S[i] = x[np.flatnonzero((y == u) & (yforg == 0))[:n]]
    within = []
    for i in range(len(users)):
        for j in range(n):
            within.extend(np.abs(S[i] - S[i][j])[j + 1:n])
    G = S[:, :n - 1]
    between = []
    for i in range(len(users)):
        candidates = [k for k in range(len(users)) if k != i]
        for j in rng.choice(candidates, n // 2, replace=False):
            between.extend(np.abs(G[i] - G[j][rng.randint(n - 1)]))
    return np.concatenate((within, between)), np.r_[np.ones(len(within)), -np.ones(len(between))]


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    return make_features(tmp_path_factory.mktemp("wi") / "feats.npz")


def load(path):
    with np.load(path) as z:
        return z["features"], z["y"], z["yforg"]


def test_training_set_equals_original(feats):
    x, y, yforg = load(feats)
    dev = (x[y >= 8], y[y >= 8], yforg[y >= 8])
    for n in (6, 7):
        dev_train = split_train(dev, n, np.random.RandomState(3))
        ours = create_training_set(dev_train, n, np.random.RandomState(4))
        ref = original_training_set(dev_train, n, np.random.RandomState(4))
        np.testing.assert_array_equal(ours[0], ref[0])
        np.testing.assert_array_equal(ours[1], ref[1])
        n_pos = 8 * n * (n - 1) // 2
        assert int(np.sum(ours[1] == 1)) == n_pos and int(np.sum(ours[1] == -1)) == 8 * (n - 1) * (n // 2)


def test_fused_scores_and_test_draws(feats):
    x, y, yforg = load(feats)
    exp, dev = (x[y < 8], y[y < 8], yforg[y < 8]), (x[y >= 8], y[y >= 8], yforg[y >= 8])
    model = train_wiclassifier(create_training_set(split_train(dev, 6, 0), 6, 0), "rbf", 1.0, 0.05)
    refs, q = x[:5], x[20:27]
    raw = np.array([model.decision_function(np.abs(qi - refs)) for qi in q])
    for name, f in (("max", np.max), ("min", np.min), ("mean", np.mean), ("median", np.median)):
        np.testing.assert_allclose(fused_scores(model, refs, q, name), f(raw, axis=1), rtol=1e-12)
    with pytest.raises(ValueError, match="fusion"):
        fused_scores(model, refs, q, "sum")
    ref_set, test_set = split_ref_test(exp, 6, 4, np.random.RandomState(5))
    res = test_all_users(model, ref_set, test_set, 4, "max", 0.0, np.random.RandomState(6))
    sel = select_test_samples(test_set, 4, None, np.random.RandomState(6))  # the same draws
    xr, yr, _ = ref_set
    for k, u in enumerate(sorted(sel)):
        g = fused_scores(model, xr[yr == u], test_set[0][sel[u][0]])
        np.testing.assert_allclose(res["predictions"]["genuinePreds"][k], g, rtol=1e-12)
    m = res["all_metrics"]
    assert m["EER"] < 0.25 and m["FAR_random"] < 0.2  # writers are told apart


def test_cli_end_to_end(tmp_path, feats, capsys):
    code = witest.main(["--features-path", str(feats), *SMALL, "--save-path", str(tmp_path / "wi.json"),
                        "--plots", str(tmp_path / "plots")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "EER" in out and "mean" in out
    res = json.loads((tmp_path / "wi.json").read_text())
    assert res["command"] == "python -m sigver.wi.test" and len(res["folds"]) == 2
    assert res["args"]["fusion"] == "max" and res["users"] == list(range(8))
    assert (tmp_path / "wi_scores.npz").is_file() and (tmp_path / "plots" / "roc.png").is_file()
    # reproducible; another fusion gives other scores
    assert witest.main(["--features-path", str(feats), *SMALL, "--save-path", str(tmp_path / "again")]) == 0
    assert witest.main(["--features-path", str(feats), *SMALL, "--fusion", "mean", "--save-path",
                        str(tmp_path / "mean")]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "wi_scores.npz") as a, np.load(tmp_path / "again_scores.npz") as b, \
            np.load(tmp_path / "mean_scores.npz") as c:
        np.testing.assert_array_equal(a["genuine"], b["genuine"])
        assert not np.array_equal(a["genuine"], c["genuine"])


def test_cli_with_checkpoint(tmp_path, capsys):
    import torch

    from sigver.datasets import save_dataset
    from sigver.featurelearning import create_model, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pth", create_model("signet_thin"))
    rs = np.random.RandomState(0)
    x, y, f = [], [], []
    for u in range(6):
        base = (rs.rand(1, 150, 220) < 0.05) * 200
        for k in range(6):
            x.append(np.clip(base + (rs.rand(1, 150, 220) < 0.01) * 255, 0, 255).astype(np.uint8))
            y.append(u)
            f.append(0 if k < 4 else 1)
    save_dataset(tmp_path / "d.npz", np.stack(x), np.array(y), np.array(f), list(range(6)),
                 [f"{i}.png" for i in range(len(y))])
    code = witest.main(["--model-path", str(tmp_path / "m.pth"), "--data-path", str(tmp_path / "d.npz"),
                        "--exp-users", "0", "3", "--dev-users", "3", "6", "--gen-for-train", "4", "--gen-for-ref",
                        "2", "--gen-for-test", "2", "--folds", "1", "--device", "cpu", "--no-progress"])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--exp-users", "0", "9"], "overlap"),
    (["--gen-for-ref", "9"], "fewer than --gen-for-ref 9 + --gen-for-test 4"),
    (["--gen-for-test", "5"], "skilled forgeries, fewer than --gen-for-test 5"),
    (["--gen-for-train", "13"], "fewer than --gen-for-train 13"),
    (["--dev-users", "8", "20"], "has writers 0 to 15 only"),
])
def test_bad_input(feats, capsys, extra, message):
    code = witest.main(["--features-path", str(feats), *SMALL, *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_missing_features_file(tmp_path, capsys):
    assert witest.main(["--features-path", str(tmp_path / "nope.npz")]) == 2
    assert "no such features file" in capsys.readouterr().err


def test_cli_svm_backend_sklearnex_close_to_libsvm(tmp_path, feats, capsys):
    """The WI SVM through scikit-learn-intelex (--svm-backend sklearnex): not exact, close (measured on SMALL:
    the same fold metrics, scores within 1e-3)."""
    pytest.importorskip("sklearnex")
    for backend in ("libsvm", "sklearnex"):
        assert witest.main(["--features-path", str(feats), *SMALL, "--svm-backend", backend, "--save-path",
                            str(tmp_path / backend)]) == 0
    capsys.readouterr()
    exact = [f["metrics"] for f in json.loads((tmp_path / "libsvm.json").read_text())["folds"]]
    fast = [f["metrics"] for f in json.loads((tmp_path / "sklearnex.json").read_text())["folds"]]
    for a, b in zip(exact, fast):
        for name in ("EER", "EER_userthresholds", "mean_AUC"):
            assert abs(a[name] - b[name]) <= 0.01, (name, a[name], b[name])
    with np.load(tmp_path / "libsvm_scores.npz") as a, np.load(tmp_path / "sklearnex_scores.npz") as b:
        for k in ("genuine", "random", "skilled"):
            np.testing.assert_allclose(b[k], a[k], atol=5e-3)
