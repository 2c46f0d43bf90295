"""sigver.distillation.evaluate: the measures against small hand-computed values."""
import numpy as np
import pytest

from sigver.distillation.evaluate import linear_cka, wd_metrics, writer_separation


def test_writer_separation_hand_computed():
    f = np.array([[0.0, 0], [0, 1], [3, 0], [3, 2]])
    y = np.array([0, 0, 1, 1])
    # within-writer distances 1 and 2 (mean 1.5); between: 3, sqrt(13), sqrt(10), sqrt(10)
    between = np.mean([3, np.sqrt(13), np.sqrt(10), np.sqrt(10)] * 2)
    out = writer_separation(f, y)
    assert out["nn_acc"] == 1.0 and out["ratio"] == pytest.approx(between / 1.5)
    with pytest.raises(ValueError, match="at least 2 writers"):
        writer_separation(f[:2], y[:2])


def test_linear_cka_invariances():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 5))
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert linear_cka(a, 3 * a @ q + 1) == pytest.approx(1.0)
    assert linear_cka(a, rng.normal(size=(20, 7))) < 0.6
    with pytest.raises(ValueError, match="same images"):
        linear_cka(a, a[:3])


def test_wd_metrics_separable_writers():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 8)) * 10
    y = np.repeat(np.arange(4), 8)
    yforg = np.tile([0] * 6 + [1] * 2, 4)
    f = centres[y] + rng.normal(size=(32, 8))
    m = wd_metrics(f, y, yforg, num_gen_train=4, num_gen_test=2, num_forg_from_exp=2)
    assert m["EER_random"] == 0.0 and set(m) == {"EER", "EER_random", "mean_AUC", "FAR_random", "FRR"}
