"""The continual-learning code's ``sigver.performance.metrics`` (a copy of the original ``sigver.wd.metrics``).

Its functions are those of :mod:`sigver.wd.metrics`, the one metrics module of this library:
``compute_metrics(genuine_preds, random_preds, skilled_preds, global_threshold)``, ``compute_AUCs``,
``compute_EER`` and ``calculate_EER_user_thresholds``.
"""
from ..wd.metrics import calculate_EER_user_thresholds, compute_AUCs, compute_EER, compute_metrics

__all__ = ["compute_metrics", "compute_AUCs", "compute_EER", "calculate_EER_user_thresholds"]
