"""Losses of distillation with continual learning (docs/protocols.md) and of data inversion with competition.

Notation: ``C_t`` teacher classes, ``C_c`` continual (new) writers; the student's head has ``C_t + C_c``
outputs, the first ``C_t`` of them the teacher's classes.

- :func:`distillation_loss` ``L_d``: ``KL(softmax(t / T) || softmax(s / T))`` on inverted images, averaged
  over the batch (``KLDivLoss(reduction='batchmean')``), no ``T**2`` factor (as the original).
- :func:`continual_loss` ``L_c``: cross-entropy of the student's continual logits ``s[:, C_t:]`` with the
  continual writer labels ``0..C_c-1``.
- :func:`preservation_loss` ``L_p``: the same KL as ``L_d``, on continual images, restricted to the first
  ``C_t`` logits: the student keeps the teacher's (real) feature space while it learns the new writers.
- :func:`feature_loss` ``L_f`` (not in the original): relative squared distance between the student's and the
  teacher's feature vectors, ``||s - t||^2 / ||t||^2`` averaged over the batch: the student regresses the
  teacher's feature space itself, not only its writer posteriors (FitNets-style hint on the last layer).
- :func:`js_divergence`: Jensen-Shannon divergence of two predictive distributions (the competition term of
  data inversion).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..featurelearning.losses import check_temperature, feature_loss, kl_to_teacher  # one place each

__all__ = ["kl_to_teacher", "distillation_loss", "continual_loss", "preservation_loss", "feature_loss",
           "js_divergence"]


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                      pad_teacher: bool = True) -> torch.Tensor:
    """``L_d``: KL from the teacher's to the student's distribution on inverted images.

    Parameters
    ----------
    student_logits : Tensor, shape (B, C_t + C_c)
    teacher_logits : Tensor, shape (B, C_t)
    temperature : float
    pad_teacher : bool, default True
        The original: the teacher's logits are padded with zeros to the student's width, so the new classes
        get logit 0 in the teacher's distribution. False: the KL is taken over the first ``C_t`` logits only.
    """
    c_t = teacher_logits.shape[1]
    if student_logits.shape[1] < c_t:
        raise ValueError(f"the student has {student_logits.shape[1]} outputs, fewer than the teacher's {c_t}")
    if not pad_teacher:
        return kl_to_teacher(student_logits[:, :c_t], teacher_logits, temperature)
    pad = student_logits.shape[1] - c_t
    return kl_to_teacher(student_logits, F.pad(teacher_logits.float(), (0, pad)), temperature)


def continual_loss(student_logits: torch.Tensor, labels: torch.Tensor, n_teacher_classes: int) -> torch.Tensor:
    """``L_c``: cross-entropy of the continual logits ``student_logits[:, C_t:]`` with labels ``0..C_c-1``."""
    return F.cross_entropy(student_logits[:, n_teacher_classes:].float(), labels)


def preservation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
                      ) -> torch.Tensor:
    """``L_p``: KL between teacher and student on continual images, over the teacher's ``C_t`` classes."""
    return kl_to_teacher(student_logits[:, :teacher_logits.shape[1]], teacher_logits, temperature)


def js_divergence(logits_a: torch.Tensor, logits_b: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Jensen-Shannon divergence (natural log, in [0, log 2]) per sample of two sets of logits.

    Returns
    -------
    Tensor, shape (B,)
    """
    t = check_temperature(temperature)
    p = F.softmax(logits_a.float() / t, dim=1)
    q = F.softmax(logits_b.float() / t, dim=1)
    m = (0.5 * (p + q)).clamp_min(1e-12).log()
    kl_pm = (p * (p.clamp_min(1e-12).log() - m)).sum(1)
    kl_qm = (q * (q.clamp_min(1e-12).log() - m)).sum(1)
    return 0.5 * (kl_pm + kl_qm)
