"""Writer-dependent (WD) classification: per-user SVMs on learned features, and the verification metrics.

- :mod:`sigver.wd.data`: reproducible splits (the original's order of random draws), per-user training sets.
- :mod:`sigver.wd.training`: per-user SVM pipelines, training and testing of all users (``n_jobs``).
- the metrics (FRR, FAR, AUC, EER, deployment thresholds) are :mod:`sigver.evaluation.metrics`, shared by every
  evaluating stage; ``sigver.wd.metrics`` / ``results`` / ``plots`` re-export their former contents.
"""
from .data import (
    WDSplitError,
    create_training_set_for_user,
    get_random_forgeries_from_dev,
    split_train_test,
)
from ..evaluation.metrics import (
    compute_metrics,
    error_rates,
    roc_auc,
    roc_curve,
    threshold_at_far,
    threshold_at_frr,
)
from .training import (
    test_all_users,
    test_user,
    train_all_users,
    train_test_all_users,
    train_wdclassifier_user,
)

__all__ = [
    "WDSplitError", "split_train_test", "get_random_forgeries_from_dev", "create_training_set_for_user",
    "compute_metrics", "error_rates", "roc_auc", "roc_curve", "threshold_at_far", "threshold_at_frr",
    "train_wdclassifier_user", "test_user", "train_all_users", "test_all_users", "train_test_all_users",
]
