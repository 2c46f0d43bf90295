"""SigNet and SigNet-F training losses (docs/protocols.md) and the matching batch metrics.

- SigNet (paper Eq. 1): cross-entropy of the writer logits; forgeries are removed from the data beforehand.
- SigNet-F, ``loss_type='L2'`` (paper Eq. 4, the default): ``(1 - lamb) * CE(writer | genuine only) +
  lamb * BCE(forgery logit, is_forgery)`` over all samples. A batch without genuine signatures has a CE term
  of 0 (a zero tensor connected to the graph, never NaN).
- SigNet-F, ``loss_type='L1'`` (paper Eq. 3): CE over all samples (a forgery is labelled with the writer it
  imitates) plus the same ``lamb``-weighted BCE.

- Supervised contrastive term (``supcon_loss``, Khosla et al. 2020), an option added to either loss: on the
  L2-normalised features, each genuine signature is pulled towards the other genuine signatures of its writer
  in the batch and pushed from everything else, the skilled forgeries of that writer included (hard
  negatives). Forgeries are never positives.

- Knowledge distillation (``kl_to_teacher``, ``--teacher``; also the distillation stage's ``L_d``): KL from a
  teacher's writer distribution to the model's at a temperature; ``feature_loss`` (``--kd-features``; the
  distillation stage's ``L_f``): relative squared distance from a model's (mapped) features to a teacher's.

The forgery target is ``yforg > 0``: skilled (1) and simple (2) forgeries are both positives (the original
would have fed a target of 2 to the BCE, docs/compatibility.md).
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F

__all__ = ["LOSS_TYPES", "signet_loss", "signet_f_loss", "supcon_loss", "classification_stats", "kl_to_teacher",
           "check_temperature", "feature_loss"]

#: Accepted values of ``loss_type``.
LOSS_TYPES = ("L1", "L2")


def signet_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SigNet loss: mean cross-entropy of the writer logits.

    Parameters
    ----------
    logits : Tensor of float, shape (B, C)
        Writer logits.
    y : Tensor of int64, shape (B,)
        Writer labels 0..C-1.

    Returns
    -------
    Tensor, scalar
    """
    return F.cross_entropy(logits.float(), y)


def _masked_ce(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean CE over the rows where ``mask`` is true; 0 (still in the graph) when there are none."""
    per_sample = F.cross_entropy(logits.float(), y, reduction="none")
    count = mask.sum()
    return (per_sample * mask).sum() / count.clamp(min=1)


def signet_f_loss(logits: torch.Tensor, forg_logits: torch.Tensor, y: torch.Tensor, yforg: torch.Tensor,
                  lamb: float, loss_type: str = "L2") -> Dict[str, torch.Tensor]:
    """SigNet-F loss: writer classification plus forgery detection.

    Parameters
    ----------
    logits : Tensor of float, shape (B, C)
        Writer logits of all samples (genuine and forgeries).
    forg_logits : Tensor of float, shape (B,) or (B, 1)
        Forgery logits (positive = forgery).
    y : Tensor of int64, shape (B,)
        Writer labels (for a forgery: the writer it imitates).
    yforg : Tensor of int, shape (B,)
        0 genuine, 1 skilled, 2 simple forgery.
    lamb : float
        Weight of the forgery term, in [0, 1] (the published SigNet-F used 0.95).
    loss_type : {'L2', 'L1'}
        ``L2``: CE on genuine samples only; ``L1``: CE on all samples.

    Returns
    -------
    dict of str -> Tensor (scalars)
        ``loss`` (the total, to back-propagate), ``class_loss`` (the CE term, 0 when an L2 batch has no
        genuine sample), ``forg_loss`` (the BCE term).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if not 0.0 <= float(lamb) <= 1.0:
        raise ValueError(f"lamb must be in [0, 1], got {lamb}")
    target = (yforg > 0).float()
    forg_loss = F.binary_cross_entropy_with_logits(forg_logits.float().reshape(-1), target)
    if loss_type == "L2":
        class_loss = _masked_ce(logits, y, (yforg == 0).float())
    else:
        class_loss = F.cross_entropy(logits.float(), y)
    loss = (1.0 - lamb) * class_loss + lamb * forg_loss
    return {"loss": loss, "class_loss": class_loss, "forg_loss": forg_loss}


def supcon_loss(features: torch.Tensor, y: torch.Tensor, yforg: torch.Tensor,
                temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss of a batch of features (Khosla et al. 2020, the "L_out" form).

    Parameters
    ----------
    features : Tensor of float, shape (B, D)
        Features (normalised here to unit length).
    y : Tensor of int64, shape (B,)
        Writer labels (for a forgery: the writer it imitates).
    yforg : Tensor of int, shape (B,)
        0 genuine; forgeries (> 0) are negatives of every anchor and anchors of none.
    temperature : float
        Softmax temperature, > 0.

    Returns
    -------
    Tensor, scalar
        ``mean over anchors with a positive of -mean_p log(exp(z_a.z_p / t) / sum_{b != a} exp(z_a.z_b / t))``,
        where the positives ``p`` of a genuine anchor ``a`` are the other genuine signatures of its writer.
        0 (still in the graph) when no anchor has a positive.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = F.normalize(features.float().flatten(1), dim=1)
    sim = z @ z.t() / temperature
    b = len(y)
    self_mask = torch.eye(b, dtype=torch.bool, device=z.device)
    genuine = yforg == 0
    positive = (y.view(-1, 1) == y.view(1, -1)) & genuine.view(-1, 1) & genuine.view(1, -1) & ~self_mask
    # log-softmax over all other samples of the batch (the anchor itself left out)
    log_prob = sim - torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    n_pos = positive.sum(1)
    has_pos = n_pos > 0
    per_anchor = -(log_prob * positive).sum(1) / n_pos.clamp(min=1)
    return (per_anchor * has_pos).sum() / has_pos.sum().clamp(min=1)


def classification_stats(logits: torch.Tensor, y: torch.Tensor, yforg: torch.Tensor,
                         forg_logits: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """Sums for per-sample averaged metrics (validation, docs/protocols.md, without the NaN of empty batches).

    Writer CE and accuracy count genuine samples only; forgery BCE and accuracy (``logit > 0``) count all.

    Returns
    -------
    dict of str -> Tensor (scalars, float64 sums)
        ``n_genuine``, ``class_loss_sum``, ``class_correct``, and with ``forg_logits``: ``n``,
        ``forg_loss_sum``, ``forg_correct``. Divide the sums by the counts after adding up the batches.
    """
    genuine = yforg == 0
    ce = F.cross_entropy(logits.float(), y, reduction="none")
    out = {
        "n_genuine": genuine.sum().double(),
        "class_loss_sum": ce[genuine].double().sum(),
        "class_correct": (logits.argmax(1) == y)[genuine].double().sum(),
    }
    if forg_logits is not None:
        f = forg_logits.float().reshape(-1)
        target = (yforg > 0).float()
        out["n"] = torch.tensor(float(len(y)), dtype=torch.float64, device=y.device)
        out["forg_loss_sum"] = F.binary_cross_entropy_with_logits(f, target, reduction="sum").double()
        out["forg_correct"] = ((f > 0).float() == target).double().sum()
    return out


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float; ValueError unless it is a positive finite number."""
    t = float(temperature)
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return t


def kl_to_teacher(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
                  ) -> torch.Tensor:
    """``sum_c q_c (log q_c - log p_c)`` averaged over the batch, ``q = softmax(t/T)``, ``p = softmax(s/T)``.

    Parameters
    ----------
    student_logits, teacher_logits : Tensor of float, shape (B, C)
    temperature : float, default 1

    Returns
    -------
    Tensor, scalar (>= 0)
    """
    t = check_temperature(temperature)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits differ in shape: {tuple(student_logits.shape)} vs "
                         f"{tuple(teacher_logits.shape)}")
    log_p = F.log_softmax(student_logits.float() / t, dim=1)
    log_q = F.log_softmax(teacher_logits.float().detach() / t, dim=1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True)


def feature_loss(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """``L_f``: ``||s - t||^2 / ||t||^2`` per sample, averaged over the batch (0 when equal, 1 for ``s = 0``).

    Parameters
    ----------
    student_features : Tensor of float, shape (B, D)
        Already projected to the teacher's dimension when the two differ.
    teacher_features : Tensor of float, shape (B, D)
    """
    if student_features.shape != teacher_features.shape:
        raise ValueError(f"student and teacher features differ in shape: {tuple(student_features.shape)} vs "
                         f"{tuple(teacher_features.shape)}")
    t = teacher_features.float().detach().flatten(1)
    d = (student_features.float().flatten(1) - t).pow(2).sum(1)
    return (d / t.pow(2).sum(1).clamp_min(1e-12)).mean()
