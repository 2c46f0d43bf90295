"""The evaluation engine every evaluating stage shares (wd, wi, metalearning, adversarial, verify, demo).

- :mod:`sigver.evaluation.metrics`: FRR, FAR, ROC, AUC, EER (global and per-user thresholds), thresholds at a
  target FAR / FRR (definitions in ``docs/protocols.md``);
- :mod:`sigver.evaluation.results`: result files (JSON with the summary over folds, per-user scores ``.npz``,
  the original's pickle on request);
- :mod:`sigver.evaluation.plots`: ROC, DET, score distributions, per-user EER (PNG);
- :mod:`sigver.evaluation.svm`: the SVC of the WD and WI protocols and its backends (``--svm-backend``);
- :mod:`sigver.evaluation.protocol`: the argument groups, input checks, feature loading, console summary and
  output writing of the evaluation commands.
"""
from .metrics import (
    compute_metrics,
    error_rates,
    roc_auc,
    roc_curve,
    threshold_at_far,
    threshold_at_frr,
)
from .protocol import EvaluationInputError

__all__ = ["compute_metrics", "error_rates", "roc_auc", "roc_curve", "threshold_at_far", "threshold_at_frr",
           "EvaluationInputError"]
