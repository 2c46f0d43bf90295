"""The writer-dependent classifier as a differentiable torch module, to attack the whole system.

:class:`TorchWDClassifier` re-implements the ``decision_function`` of a fitted per-user pipeline of
:func:`sigver.wd.training.make_wdclassifier` (``StandardScaler(with_mean=False)`` then ``SVC``, RBF or linear
kernel) from its fitted attributes::

    z = x / scale_                                   (the scaler divides by the std, no centring)
    f(x) = sum_i dual_coef_[i] * K(sv_i, z) + intercept_
    K(a, b) = exp(-gamma * ||a - b||^2)  (rbf)   or   <a, b>  (linear)

sklearn's ``dual_coef_`` and ``intercept_`` already carry the sign of its binary ``decision_function``
(positive = the second class, +1 = genuine). The result equals sklearn's ``decision_function`` to rounding
(float64 by default). :class:`VerificationSystem` chains a feature extractor and such a classifier: images
``(B, 1, 150, 220)`` in [0, 1] -> score ``(B,)``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["TorchWDClassifier", "VerificationSystem", "decision_logits"]


def _fitted(pipeline):
    steps = getattr(pipeline, "named_steps", None)
    if steps is None:  # a bare SVC
        return None, pipeline
    scaler = steps.get("scaler")
    svc = steps.get("classifier", pipeline.steps[-1][1])
    return scaler, svc


class TorchWDClassifier(nn.Module):
    """Differentiable decision function of a fitted scaler + SVC pipeline (or a bare SVC).

    Parameters
    ----------
    pipeline : sklearn Pipeline or SVC
        Fitted; as made by :func:`sigver.wd.training.train_wdclassifier_user`. The scaler must not centre
        (``with_mean=False``, as the original); a centring scaler is also handled (its mean is subtracted).
    dtype : torch.dtype, default torch.float64
        Precision of the computation (float64 matches sklearn to ~1e-12).

    Attributes (buffers)
    --------------------
    scale, mean : (D,)
    support_vectors : (S, D), already scaled
    dual_coef : (S,)
    intercept : ()
    """

    def __init__(self, pipeline, dtype: torch.dtype = torch.float64):
        super().__init__()
        scaler, svc = _fitted(pipeline)
        if not hasattr(svc, "support_vectors_"):
            raise ValueError("expected a fitted sklearn SVC (or a pipeline ending with one)")
        if len(getattr(svc, "classes_", [])) != 2:
            raise ValueError("only binary SVCs (genuine vs forgery) are supported")
        kernel = svc.kernel
        if kernel not in ("rbf", "linear"):
            raise ValueError(f"kernel {kernel!r} is not supported (rbf or linear)")
        sv = np.asarray(svc.support_vectors_, dtype=np.float64)
        d = sv.shape[1]
        scale = np.ones(d) if scaler is None or getattr(scaler, "scale_", None) is None else scaler.scale_
        mean = np.zeros(d) if scaler is None or getattr(scaler, "mean_", None) is None or not scaler.with_mean \
            else scaler.mean_
        self.kernel = kernel
        self.gamma = float(svc._gamma) if kernel == "rbf" else None
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype)  # noqa: E731
        self.register_buffer("scale", t(scale))
        self.register_buffer("mean", t(mean))
        self.register_buffer("support_vectors", t(sv))          # libsvm keeps them in the scaled space
        self.register_buffer("dual_coef", t(np.asarray(svc.dual_coef_).reshape(-1)))
        self.register_buffer("intercept", t(np.asarray(svc.intercept_).reshape(())))
        if kernel == "linear":
            self.register_buffer("coef", self.dual_coef @ self.support_vectors)
        self.register_buffer("sv_sq", self.support_vectors.pow(2).sum(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(B,)`` of features ``(B, D)`` (positive = genuine)."""
        z = (x.to(self.scale.dtype) - self.mean) / self.scale
        if self.kernel == "linear":
            return z @ self.coef + self.intercept
        # ||z - sv||^2 expanded (differentiable everywhere, unlike cdist at zero distance)
        sq = (z.pow(2).sum(1, keepdim=True) + self.sv_sq - 2.0 * z @ self.support_vectors.T).clamp_min(0)
        return torch.exp(-self.gamma * sq) @ self.dual_coef + self.intercept


class VerificationSystem(nn.Module):
    """Images -> writer-dependent score: ``classifier(feature_extractor(x))``.

    Parameters
    ----------
    feature_extractor : nn.Module
        E.g. a SigNet, ``(B, 1, h, w)`` in [0, 1] -> ``(B, D)``.
    classifier : TorchWDClassifier or fitted pipeline
    """

    def __init__(self, feature_extractor: nn.Module, classifier):
        super().__init__()
        self.feature_extractor = feature_extractor
        if not isinstance(classifier, nn.Module):
            classifier = TorchWDClassifier(classifier)
        self.classifier = classifier.to(next(feature_extractor.parameters()).device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_extractor(x))


def decision_logits(scores: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Two logits ``(B, 2)`` = ``[0, score - threshold]``: class 1 (genuine) wins when ``score > threshold``.

    Cross-entropy on them is ``softplus(-(s - t))`` for class 1 and ``softplus(s - t)`` for class 0, so the
    classification attacks (:func:`~sigver.adversarial.attacks.pgd_l2`) apply to a verification system.
    """
    s = scores.reshape(-1, 1) - threshold
    return torch.cat([torch.zeros_like(s), s], dim=1)
