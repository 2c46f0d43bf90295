"""Data inversion from a teacher (the library behind ``python -m sigver.distillation.invert``).

Deep inversion with competition (Yin et al., CVPR 2020, "Dreaming to Distill"), as used by Viana et al.
(ICDAR 2024) to make the "inverted" SigNet data set whose files are not available: batches of images
``1 x 150 x 220`` in [0, 1] are optimised (Adam, cosine learning-rate decay, random jitter) so that

* the teacher classifies them as chosen writers: ``CE(teacher(x), target)``;
* their activations match the running mean and variance stored in every batch-norm layer of the teacher:
  ``bn_weight * sum_l (||mu_l(x) - running_mean_l||_2 + ||var_l(x) - running_var_l||_2)`` (forward hooks);
* they look like images: ``tv_weight * TV(x)`` (mean absolute difference of neighbouring pixels),
  ``l2_weight * mean(x**2)`` and ``l1_weight * mean(x)`` (sparse ink: background 0, as real inputs);
* optionally (``competition_weight > 0`` and a student): they are images on which the student still disagrees
  with the teacher, ``competition_weight * (1 - JS(teacher(x), student(x)) / log 2)``, the Jensen-Shannon
  divergence of their predictive distributions over the teacher's classes.

The command ``python -m sigver.distillation.invert`` writes the images as a dataset file.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from ..errors import CheckpointError, SigverError
from ..featurelearning.checkpoint import load_checkpoint
from ..featurelearning.models import INPUT_SIZE
from .losses import js_divergence

__all__ = ["DeepInversion", "InversionError", "load_teacher", "image_prior_tv"]



class InversionError(SigverError, ValueError):
    """Bad input to data inversion (teacher, student, an existing output that does not fit)."""


# ---------------------------------------------------------------------------------------------------
# the optimisation
# ---------------------------------------------------------------------------------------------------

def image_prior_tv(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean absolute difference of vertically and horizontally neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


class _BNStatistics:
    """Forward hooks on every batch-norm layer: distance of the batch statistics to the running ones."""

    def __init__(self, model: nn.Module):
        self.losses: List[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not self.handles:
            raise InversionError("the teacher has no batch-norm layer with running statistics to match")

    def _hook(self, module, inputs, output) -> None:
        x = inputs[0].float()
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        self.losses.append(torch.linalg.vector_norm(mean - module.running_mean, 2)
                           + torch.linalg.vector_norm(var - module.running_var, 2))

    def pop(self) -> torch.Tensor:
        total = torch.stack(self.losses).sum()
        self.losses = []
        return total

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


class DeepInversion:
    """Synthesise images that a teacher classifies as given writers (see the module docstring).

    Parameters
    ----------
    teacher : nn.Module
        Feature extractor (eval mode is set; its parameters are not changed).
    teacher_head : nn.Linear
        Its writer classifier, ``D -> C_t``.
    student, student_head : nn.Module, optional
        For the competition term: the student and its head (``>= C_t`` outputs; the first ``C_t`` are compared).
    iterations : int
        Optimisation steps per batch.
    lr : float
        Adam learning rate (cosine decay to 0 over ``iterations``).
    bn_weight, tv_weight, l2_weight, competition_weight : float
        Weights of the terms (the cross-entropy has weight 1).
    jitter : int
        Each step rolls the images by up to this many pixels (random, both axes) before the forward pass.
    init_scale : float
        Initial pixels are uniform in ``[0, init_scale]`` (pixel parametrisation).
    logit_init : float, optional
        Optimise logits ``z`` with ``x = sigmoid(z)`` instead of the pixels, starting at ``z = logit_init +
        N(0, 1)`` (e.g. -4: a background near 0 like real inputs, and a different random start per image).
        None (default): the pixels themselves, clamped to [0, 1] after each step.
    l1_weight : float
        Weight of ``mean(x)`` (sparsity of the ink).
    input_size : (int, int)
        ``(H, W)`` of the images (the teacher's input size).
    device : torch.device
    """

    def __init__(self, teacher: nn.Module, teacher_head: nn.Module, student: Optional[nn.Module] = None,
                 student_head: Optional[nn.Module] = None, *, iterations: int = 2000, lr: float = 0.05,
                 bn_weight: float = 0.01, tv_weight: float = 1.0, l2_weight: float = 0.0,
                 competition_weight: float = 0.0, jitter: int = 8, init_scale: float = 0.2,
                 logit_init: Optional[float] = None, l1_weight: float = 0.0,
                 input_size: Tuple[int, int] = INPUT_SIZE, device="cpu"):
        self.device = torch.device(device)
        self.teacher = nn.Sequential(teacher, teacher_head).to(self.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.n_classes = int(teacher_head.out_features)
        self.student = None
        if competition_weight > 0:
            if student is None or student_head is None:
                raise InversionError("the competition term needs a student (--s-model and --s-checkpoint)")
            self.student = nn.Sequential(student, student_head).to(self.device).eval()
            for p in self.student.parameters():
                p.requires_grad_(False)
        self.iterations, self.lr, self.jitter, self.init_scale = int(iterations), float(lr), int(jitter), init_scale
        self.logit_init = None if logit_init is None else float(logit_init)
        self.weights = {"bn": bn_weight, "tv": tv_weight, "l2": l2_weight, "l1": l1_weight,
                        "competition": competition_weight}
        self.input_size = tuple(input_size)
        self._bn = _BNStatistics(self.teacher)

    def close(self) -> None:
        """Remove the hooks from the teacher."""
        self._bn.close()

    def synthesize(self, targets: torch.Tensor, generator: torch.Generator
                   ) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Optimise one batch of images for the target classes.

        Parameters
        ----------
        targets : Tensor of int64, shape (B,)
            Teacher classes ``0..C_t-1``.
        generator : torch.Generator
            CPU generator for the initial images and the jitter (same images on every device).

        Returns
        -------
        images : Tensor of float, shape (B, 1, H, W), in [0, 1], on the CPU
        stats : dict
            Last step's terms (``ce``, ``bn``, ``tv``, ``l2``, ``l1``, ``competition``, ``loss``) and ``teacher_acc``
            (fraction of images the teacher assigns to their target).
        """
        targets = torch.as_tensor(targets, dtype=torch.long)
        if len(targets) < 2:
            raise InversionError("a batch needs at least 2 images (batch-norm statistics)")
        if targets.min() < 0 or targets.max() >= self.n_classes:
            raise InversionError(f"target classes must be in 0..{self.n_classes - 1}")
        b = len(targets)
        h, w = self.input_size
        if self.logit_init is None:
            x0 = torch.rand((b, 1, h, w), generator=generator) * self.init_scale
        else:
            x0 = torch.randn((b, 1, h, w), generator=generator) + self.logit_init
        shifts = torch.randint(-self.jitter, self.jitter + 1, (self.iterations, 2), generator=generator) \
            if self.jitter > 0 else torch.zeros((self.iterations, 2), dtype=torch.long)
        z = x0.to(self.device).requires_grad_(True)
        image = (lambda: z) if self.logit_init is None else (lambda: torch.sigmoid(z))
        y = targets.to(self.device)
        opt = torch.optim.Adam([z], lr=self.lr, betas=(0.5, 0.9))
        wt = self.weights
        stats: Dict[str, float] = {}
        for it in range(self.iterations):
            for group in opt.param_groups:
                group["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * it / self.iterations))
            opt.zero_grad(set_to_none=True)
            x = image()
            dy, dx = (int(v) for v in shifts[it])
            xj = torch.roll(x, shifts=(dy, dx), dims=(2, 3)) if (dy or dx) else x
            self._bn.losses = []
            logits = self.teacher(xj)
            terms = {"ce": nn.functional.cross_entropy(logits, y), "bn": self._bn.pop(),
                     "tv": image_prior_tv(x), "l2": x.pow(2).mean(), "l1": x.mean()}
            loss = terms["ce"] + sum(wt[k] * terms[k] for k in ("bn", "tv", "l2", "l1"))
            if self.student is not None:
                s_logits = self.student(xj)[:, :self.n_classes]
                js = js_divergence(logits, s_logits).mean()
                terms["competition"] = 1.0 - js / math.log(2.0)
                loss = loss + wt["competition"] * terms["competition"]
            loss.backward()
            opt.step()
            if self.logit_init is None:
                with torch.no_grad():
                    z.clamp_(0.0, 1.0)
            if it == self.iterations - 1:
                stats = {k: float(v.detach()) for k, v in terms.items()}
                stats["loss"] = float(loss.detach())
        with torch.no_grad():
            x = image()
            self._bn.losses = []
            pred = self.teacher(x).argmax(1)
            self._bn.losses = []
            stats["teacher_acc"] = float((pred == y).float().mean())
        return x.detach().cpu(), stats


# ---------------------------------------------------------------------------------------------------
# loading the teacher
# ---------------------------------------------------------------------------------------------------

def load_teacher(path, arch: Optional[str], device, what: str = "--t-checkpoint"):
    """Load a checkpoint that must have a writer head; returns :class:`LoadedCheckpoint`."""
    loaded = load_checkpoint(path, device=device, arch=arch)
    if loaded.classification_layer is None:
        raise CheckpointError(f"{what} {path}: has no classification head (its second state dict is empty); "
                              f"a teacher needs the writer classifier it was trained with")
    return loaded
