"""Adversarial examples: attacks, the countermeasures (Madry and ensemble adversarial training) and the
evaluation of a whole verification system under attack (docs/protocols.md).

- :func:`pgd_l2` / :class:`PGD_max_l2_truncate`: PGD with a maximum L2 norm (fast and normal schedules);
  :func:`fast_gradient_l2`: the single-step L2 fast-gradient attack; both batched on the device;
- :class:`TorchWDClassifier`: a fitted per-user SVM pipeline as a differentiable module (equal to sklearn's
  ``decision_function``); :class:`VerificationSystem`: feature extractor + that classifier;
- commands: ``python -m sigver.adversarial.train_madry``, ``python -m sigver.adversarial.train_ensadv``,
  ``python -m sigver.adversarial.evaluate``.
"""
from .attacks import (
    PGD_max_l2_truncate,
    eval_mode,
    fast_gradient_l2,
    l2_norm,
    pgd_l2,
    restrict_l2_norm,
    squared_l2_norm,
)
from .svm import TorchWDClassifier, VerificationSystem, decision_logits

__all__ = [
    "PGD_max_l2_truncate", "pgd_l2", "fast_gradient_l2", "restrict_l2_norm", "l2_norm", "squared_l2_norm",
    "eval_mode", "TorchWDClassifier", "VerificationSystem", "decision_logits",
]
