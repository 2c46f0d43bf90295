"""Metrics against hand-computed values (ties included) and against the original formulas."""
import math

import numpy as np
import pytest
import sklearn.metrics as skm

from sigver.evaluation import metrics as M

# user A: no ties. Sorted: .9g .5s .4g .2s .1g -.3s
GA, SA, RA = [0.9, 0.4, 0.1], [0.5, 0.2, -0.3], [-1.0, 0.0, 0.2, 0.05]
# user B: ties across classes. 1 (g, g, s), 0 (g, s, s), -1 (s)
GB, SB, RB = [1.0, 1.0, 0.0], [1.0, 0.0, 0.0, -1.0], [-0.5]


def test_hand_user_a():
    # AUC: 0.9 beats 3, 0.4 beats 2, 0.1 beats 1 -> 6/9
    assert M.roc_auc([1, 1, 1, -1, -1, -1], GA + SA) == pytest.approx(2 / 3, abs=1e-15)
    fpr, tpr, thr = M.roc_curve([1, 1, 1, -1, -1, -1], GA + SA)
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    assert thr.tolist() == [math.inf, 0.9, 0.5, 0.4, 0.2, 0.1, -0.3]
    # |fpr - (1 - tpr)| = 1, 2/3, 1/3, 0, ... -> t = 0.4; FRR = 1/3 (0.1), FAR = 1/3 (0.5)
    eer, t = M.compute_EER(np.array(GA), np.array(SA))
    assert t == 0.4 and eer == pytest.approx(1 / 3, abs=1e-15)


def test_hand_user_b_ties():
    # AUC: each g=1 beats 3 and ties 1 (3.5); g=0 beats 1 and ties 2 (2) -> 9/12
    assert M.roc_auc([1, 1, 1, 0, 0, 0, 0], GB + SB) == 0.75
    fpr, tpr, thr = M.roc_curve([1, 1, 1, 0, 0, 0, 0], GB + SB)
    assert thr.tolist() == [math.inf, 1.0, 0.0, -1.0]
    np.testing.assert_allclose(fpr, [0, 1 / 4, 3 / 4, 1])
    np.testing.assert_allclose(tpr, [0, 2 / 3, 1, 1])
    # |.| = 1, 1/12, 3/4, 1 -> t = 1: FRR = 1/3 (the 0), FAR = 1/4 (the tied 1 is accepted)
    eer, t = M.compute_EER(np.array(GB), np.array(SB))
    assert t == 1.0 and eer == pytest.approx(7 / 24, abs=1e-15)


def test_hand_drop_intermediate_matters():
    # 5g 4s 3s 2s 1s 0.5g: the points at thresholds 4, 3, 2 are collinear and dropped, so the EER threshold
    # is 5 (|.| = 0.5, first of two), not 3 (|.| = 0, which the full curve would give)
    g, s = np.array([5.0, 0.5]), np.array([4.0, 3.0, 2.0, 1.0])
    assert M.roc_curve([1, 1, 0, 0, 0, 0], [5, 0.5, 4, 3, 2, 1])[2].tolist() == [math.inf, 5, 1, 0.5]
    assert len(M.roc_curve([1, 1, 0, 0, 0, 0], [5, 0.5, 4, 3, 2, 1], drop_intermediate=False)[2]) == 7
    eer, t = M.compute_EER(g, s)
    assert t == 5.0 and eer == 0.25


def test_hand_compute_metrics_two_users():
    m = M.compute_metrics([np.array(GA), np.array(GB)], [np.array(RA), np.array(RB)],
                          [np.array(SA), np.array(SB)], 0.0)
    assert m["FRR"] == 0.0  # no genuine below 0
    assert m["FAR_random"] == pytest.approx(3 / 5, abs=1e-15)  # 0.0, 0.2, 0.05 accepted
    assert m["FAR_skilled"] == pytest.approx(5 / 7, abs=1e-15)  # 0.5, 0.2, 1, 0, 0
    assert m["auc_list"] == pytest.approx([2 / 3, 0.75], abs=1e-15)
    assert m["mean_AUC"] == pytest.approx(17 / 24, abs=1e-15)
    # pooled curve (P=6, N=7): min |fps/7 - (6 - tps)/6| at (fps, tps) = (2, 4), threshold 0.4
    assert m["global_threshold"] == 0.4
    assert m["EER"] == pytest.approx((2 / 6 + 2 / 7) / 2, abs=1e-15)
    # user thresholds 0.4 and 1: genuine errors 1 + 1 of 6, skilled errors 1 + 1 of 7
    assert m["EER_userthresholds"] == pytest.approx((2 / 6 + 2 / 7) / 2, abs=1e-15)
    assert all(type(v) is float for k, v in m.items() if k != "auc_list")


def test_hand_fixed_threshold_and_deployment():
    r = M.error_rates([GA, GB], [RA, RB], [SA, SB], threshold=0.3)
    assert r["FRR"] == pytest.approx(2 / 6) and r["FAR_random"] == 0.0 and r["FAR_skilled"] == pytest.approx(2 / 7)
    # per-user thresholds 0.4 and 1 (as the EER_userthresholds case)
    r = M.error_rates([GA, GB], skilled_preds=[SA, SB], threshold=[0.4, 1.0])
    assert r == pytest.approx({"FRR": 2 / 6, "FAR_skilled": 2 / 7})
    forg = [0.1, 0.5, 0.3, 0.9, 0.7]
    assert M.threshold_at_far(forg, 0.2) == np.nextafter(0.7, np.inf)  # accepts 0.9 only
    assert M.threshold_at_far(forg, 0.0) == np.nextafter(0.9, np.inf)
    assert M.threshold_at_far(forg, 1.0) == -math.inf
    assert M.threshold_at_far([1, 1, 1, 0], 0.5) == np.nextafter(1.0, np.inf)  # ties cannot be split
    assert M.threshold_at_far([[0.1, 0.5], [0.3, 0.9, 0.7]], 0.4) == np.nextafter(0.5, np.inf)
    assert M.threshold_at_frr([0.2, 0.8, 0.5, 1.0], 0.25) == 0.5  # rejects 0.2 only
    assert M.threshold_at_frr([0.2, 0.8, 0.5, 1.0], 1.0) == math.inf
    assert M.threshold_at_frr([0.2, 0.8, 0.5, 1.0], 0.0) == 0.2
    for target in np.linspace(0, 1, 21):
        assert M.error_rates(forg, threshold=M.threshold_at_frr(forg, target))["FRR"] <= target + 1e-12
        assert M.error_rates(None, forg, threshold=M.threshold_at_far(forg, target))["FAR_random"] <= target + 1e-12
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.threshold_at_far(forg, 1.5)


def test_empty_classes_give_nan():
    assert math.isnan(M.roc_auc([1, 1], [0.1, 0.2]))
    aucs, mean = M.compute_AUCs([np.array([1.0]), np.array([1.0, 2.0])], [np.zeros(0), np.array([1.5])])
    assert math.isnan(aucs[0]) and aucs[1] == 0.5 and mean == 0.5
    with pytest.raises(ValueError, match="one score array per user"):
        M.compute_metrics([np.zeros(1)], [], [np.zeros(1)])


# ---- the original formulas, written out (sklearn + Python sort), for randomized comparison ----

def ref_threshold(g, s):
    ys = np.concatenate([np.ones_like(g), -np.ones_like(s)])
    fpr, tpr, thr = skm.roc_curve(ys, np.concatenate([g, s]))
    return thr[sorted(enumerate(abs(fpr - (1 - tpr))), key=lambda v: v[1])[0][0]]


def ref_metrics(gp, rp, sp, t0):
    ag, ar, as_ = np.concatenate(gp), np.concatenate(rp), np.concatenate(sp)
    aucs = [skm.roc_auc_score(np.r_[np.ones(len(g)), -np.ones(len(s))], np.r_[g, s]) for g, s in zip(gp, sp)]
    t = ref_threshold(ag, as_)
    eer = ((1 - np.mean(ag >= t).item()) + (1 - np.mean(as_ < t).item())) / 2.0
    ge = se = ng = ns = 0
    for g, s in zip(gp, sp):
        tu = ref_threshold(g, s)
        ge += np.sum(g < tu)
        se += np.sum(s >= tu)
        ng += len(g)
        ns += len(s)
    return {"FRR": 1 - np.mean(ag >= t0), "FAR_random": 1 - np.mean(ar < t0), "FAR_skilled": 1 - np.mean(as_ < t0),
            "mean_AUC": np.mean(aucs).item(), "EER": eer,
            "EER_userthresholds": (float(ge) / ng + float(se) / ns) / 2.0, "auc_list": aucs, "global_threshold": t}


@pytest.mark.parametrize("seed", range(40))
def test_same_as_original_formulas(seed):
    rs = np.random.RandomState(seed)
    n_users = rs.randint(1, 6)
    quantised = seed % 2 == 0  # many ties

    def draw(n, shift):
        v = rs.randn(n) + shift
        return np.round(v * 2) / 2 if quantised else v

    gp = [draw(rs.randint(1, 8), 1.0) for _ in range(n_users)]
    sp = [draw(rs.randint(1, 8), 0.0) for _ in range(n_users)]
    rp = [draw(rs.randint(1, 8), -1.0) for _ in range(n_users)]
    t0 = [0.0, 0.5, -0.25][seed % 3]
    ours, ref = M.compute_metrics(gp, rp, sp, t0), ref_metrics(gp, rp, sp, t0)
    assert ours["global_threshold"] == ref["global_threshold"]
    for key in ("FRR", "FAR_random", "FAR_skilled", "EER", "EER_userthresholds"):
        assert ours[key] == ref[key], key  # same float expressions: bit-identical
    np.testing.assert_allclose(ours["auc_list"], ref["auc_list"], rtol=1e-12)
    assert ours["mean_AUC"] == pytest.approx(ref["mean_AUC"], rel=1e-12)


@pytest.mark.parametrize("drop", [True, False])
def test_roc_curve_same_as_sklearn(drop):
    rs = np.random.RandomState(1)
    for i in range(300):
        n = rs.randint(2, 40)
        s = rs.randint(0, 5, n).astype(float) if i % 2 else rs.randn(n)
        y = rs.randint(0, 2, n)
        if y.min() == y.max():
            continue
        for a, b in zip(skm.roc_curve(y, s, drop_intermediate=drop), M.roc_curve(y, s, drop)):
            np.testing.assert_array_equal(a, b)
        assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), rel=1e-12)
        assert M.eer_threshold(y, s) == ref_threshold(s[y == 1], s[y == 0])
