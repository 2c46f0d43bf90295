"""Writer-independent (WI) classification in the dissimilarity space (docs/protocols.md, continual_sigver).

One SVM for all writers, trained on absolute feature differences ``|f_a - f_b|`` of development writers
(pairs of the same writer = +1, of different writers = -1). A questioned signature is compared with each
reference of the claimed writer and the SVM scores are fused (``max``, ``min``, ``mean`` or ``median``).

- :mod:`sigver.wi.data`: splits and the dissimilarity training set (the original's random draws, vectorised);
- :mod:`sigver.wi.training`: the SVM, fused scores, training and testing of all users;
- ``python -m sigver.wi.test``: the evaluation CLI (metrics from :mod:`sigver.wd.metrics`).
"""
from .data import create_training_set, set_to_genuine_array, split_ref_test, split_train
from .training import (
    FUSIONS,
    fused_scores,
    test_all_users,
    train_test_all_users,
    train_wiclassifier,
)

__all__ = [
    "split_ref_test", "split_train", "set_to_genuine_array", "create_training_set", "FUSIONS", "fused_scores",
    "train_wiclassifier", "test_all_users", "train_test_all_users",
]
