"""Figures of the WD evaluation: every file written, valid PNG, works without skilled forgeries."""
import numpy as np
import pytest

from sigver.evaluation import plots as P

PNG = b"\x89PNG\r\n\x1a\n"


def predictions(n_folds=2, n_users=5, skilled=True, seed=0):
    rs = np.random.RandomState(seed)
    return [{"genuinePreds": [rs.randn(6) + 1 for _ in range(n_users)],
             "randomPreds": [rs.randn(20) - 1.5 for _ in range(n_users)],
             "skilledPreds": [rs.randn(5) if skilled else np.zeros(0) for _ in range(n_users)]}
            for _ in range(n_folds)]


def check_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 500


@pytest.mark.parametrize("skilled", [True, False])
def test_plot_all(tmp_path, skilled):
    out = P.plot_all(tmp_path / "plots", predictions(skilled=skilled), {"--thr": 0.0, "dev": 0.4})
    assert sorted(p.name for p in out.values()) == sorted(P.PLOT_FILES)
    for p in out.values():
        check_png(p)
    assert sorted(f.name for f in (tmp_path / "plots").iterdir()) == sorted(P.PLOT_FILES)


def test_per_user_eer_hand_computed():
    # user 0: genuine 2, 3; skilled 1, 2.5. The original's rule picks the ROC threshold where |FPR - FNR| is
    # smallest: t = 2.5 (FPR = FNR = 1/2), so the user's EER is (1/2 + 1/2) / 2 = 0.5
    # user 1: perfectly separated -> 0; user 2: no skilled -> NaN
    e = P.per_user_eer([np.array([2.0, 3.0]), np.array([5.0]), np.array([1.0])],
                       [np.array([1.0, 2.5]), np.array([0.0]), np.zeros(0)])
    assert e[0] == pytest.approx(0.5) and e[1] == 0 and np.isnan(e[2])
