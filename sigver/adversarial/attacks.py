"""Adversarial attacks with a maximum L2 norm, batched on the device (docs/protocols.md).

- :class:`PGD_max_l2_truncate` / :func:`pgd_l2`: projected gradient descent on a perturbation ``delta`` that
  starts at zero; after every step ``x + delta`` is clamped to the image box and ``delta`` is projected onto
  the L2 ball of radius ``max_l2`` (per sample). ``fast=True`` normalises every sample's gradient to unit
  L2 norm and decays the step size linearly from 1 to 0.01 (the schedule used for Madry training);
  ``fast=False`` takes raw gradient steps of size 1, multiplied by 0.3 every ``steps // 4`` steps.
- :func:`fast_gradient_l2`: the single-step L2 fast-gradient attack of ensemble adversarial training,
  ``clamp(x + eps * g / ||g||, box)``.

Fixed with respect to the original: a zero perturbation or a zero gradient gives no NaN (the original
divided by ``||delta||`` and ``||g||``); the step-size schedule is not off by one (the original stepped its
scheduler before the first step); gradients are taken with respect to the perturbation only, so the
attacked model's parameter gradients are left untouched; ``max_l2`` may differ per sample. The attacks do
not change the model's train/eval mode: wrap the call in :func:`eval_mode` to attack the model as it is
used at test time (the original attacked SigNet in train mode, docs/compatibility.md).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["squared_l2_norm", "l2_norm", "restrict_l2_norm", "pgd_l2", "pgd_step_sizes", "fast_gradient_l2",
           "PGD_max_l2_truncate", "eval_mode"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Budget = Union[float, torch.Tensor]

#: Last step size of the fast schedule (the original's ``final_lr``).
FAST_FINAL_LR = 0.01


def squared_l2_norm(x: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of each sample: ``(B, ...) -> (B,)``."""
    return x.reshape(x.shape[0], -1).pow(2).sum(1)


def l2_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of each sample: ``(B, ...) -> (B,)``."""
    return squared_l2_norm(x).sqrt()


def _per_sample(value: Budget, like: torch.Tensor) -> torch.Tensor:
    """``value`` (a number or a (B,) tensor) as a (B, 1, 1, ...) tensor broadcasting over ``like``."""
    v = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if v.dim() == 0:
        v = v.expand(like.shape[0])
    if v.shape != (like.shape[0],):
        raise ValueError(f"a per-sample value must be a number or have shape ({like.shape[0]},), got "
                         f"{tuple(v.shape)}")
    return v.reshape((-1,) + (1,) * (like.dim() - 1))


def _unit(g: torch.Tensor) -> torch.Tensor:
    """Each sample of ``g`` divided by its L2 norm; samples with a zero norm stay zero (no NaN)."""
    norm = l2_norm(g).reshape((-1,) + (1,) * (g.dim() - 1))
    return torch.where(norm > 0, g / norm.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(g))


def restrict_l2_norm(delta: torch.Tensor, max_l2: Budget) -> torch.Tensor:
    """Project each sample of ``delta`` onto the L2 ball of radius ``max_l2``.

    A sample with ``||delta|| > max_l2`` is rescaled to norm ``max_l2``; the others (including a zero
    ``delta``, where the original gave NaN) are returned unchanged.

    Parameters
    ----------
    delta : Tensor, shape (B, ...)
    max_l2 : float or Tensor of shape (B,)
        Radius, the same for all samples or one per sample (>= 0).

    Returns
    -------
    Tensor, shape (B, ...)
    """
    radius = _per_sample(max_l2, delta)
    norm = l2_norm(delta).reshape(radius.shape)
    scale = torch.where(norm > radius, radius / norm.clamp_min(torch.finfo(delta.dtype).tiny),
                        torch.ones_like(norm))
    return delta * scale


def pgd_step_sizes(steps: int, fast: bool) -> list:
    """Step size of each PGD iteration.

    ``fast``: linear from 1 (first step) to 0.01 (last step). Otherwise 1, multiplied by 0.3 every
    ``max(1, steps // 4)`` steps (the original's ``StepLR``, without its off-by-one).
    """
    if steps <= 0:
        return []
    if fast:
        if steps == 1:
            return [1.0]
        return [1.0 - (1.0 - FAST_FINAL_LR) * i / (steps - 1) for i in range(steps)]
    every = max(1, steps // 4)
    return [0.3 ** (i // every) for i in range(steps)]


def _check_box(image_constraints: Sequence[float]) -> Tuple[float, float]:
    lo, hi = float(image_constraints[0]), float(image_constraints[1])
    if not lo < hi:
        raise ValueError(f"image_constraints must be (min, max) with min < max, got {tuple(image_constraints)}")
    return lo, hi


def _check_budget(max_l2: Budget) -> None:
    if bool((torch.as_tensor(max_l2) < 0).any()):
        raise ValueError(f"the L2 budget must be >= 0, got {max_l2}")


def pgd_l2(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, steps: int, max_l2: Budget,
           image_constraints: Sequence[float] = (0.0, 1.0), fast: bool = False, targeted: bool = False,
           loss_fn: Optional[LossFn] = None,
           callback: Optional[Callable[[int, torch.Tensor], None]] = None) -> torch.Tensor:
    """PGD attack with a maximum L2 norm per sample (docs/protocols.md).

    Parameters
    ----------
    model : nn.Module
        Maps ``inputs`` to logits ``(B, C)`` (or whatever ``loss_fn`` takes). Its mode is not changed.
    inputs : Tensor of float, shape (B, ...)
        Clean images inside ``image_constraints`` (e.g. (B, 1, 150, 220) in [0, 1]).
    labels : Tensor, shape (B,)
        True labels (untargeted: the loss is maximised) or target labels (``targeted``: minimised).
    steps : int
        Gradient steps (0 returns ``inputs``).
    max_l2 : float or Tensor of shape (B,)
        L2 budget, in the units of ``inputs`` (for [0, 1] images, 1 = one pixel changed from black to white).
    image_constraints : (float, float)
        Box of valid pixel values.
    fast : bool
        Normalised gradients and a linearly decaying step size (see :func:`pgd_step_sizes`).
    targeted : bool
    loss_fn : callable ``(outputs, labels) -> scalar``, optional
        Default: mean cross-entropy. Per-sample losses must not depend on other samples (true of a mean).
    callback : callable ``(step, loss)``, optional
        Called after every step with the loss (e.g. to plot it).

    Returns
    -------
    Tensor, same shape as ``inputs``, detached
        ``inputs + delta`` with ``||delta|| <= max_l2`` per sample and every pixel inside the box.
    """
    lo, hi = _check_box(image_constraints)
    _check_budget(max_l2)
    loss_fn = loss_fn or F.cross_entropy
    sign = -1.0 if targeted else 1.0
    inputs = inputs.detach()
    delta = torch.zeros_like(inputs)
    for i, lr in enumerate(pgd_step_sizes(int(steps), fast)):
        delta.requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(model(inputs + delta), labels)
            (grad,) = torch.autograd.grad(loss, delta)
        grad = grad.float() if grad.dtype != inputs.dtype else grad
        with torch.no_grad():
            direction = _unit(grad) if fast else grad
            delta = delta.detach() + sign * lr * direction.to(inputs.dtype)
            delta = (inputs + delta).clamp_(lo, hi) - inputs
            delta = restrict_l2_norm(delta, max_l2)
        if callback is not None:
            callback(i, loss.detach())
    return (inputs + delta).detach()


def fast_gradient_l2(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, eps: Budget,
                     image_constraints: Sequence[float] = (0.0, 1.0), targeted: bool = False,
                     loss_fn: Optional[LossFn] = None) -> torch.Tensor:
    """Single-step L2 fast-gradient attack: ``clamp(x + eps * g / ||g||_2, box)`` (docs/protocols.md).

    ``g`` is the gradient of the loss (default: cross-entropy) with respect to the input, per sample;
    ``targeted`` steps against it. A sample with a zero gradient is returned unchanged (the original gave
    NaN). The model's mode and parameter gradients are not changed.

    Returns
    -------
    Tensor, same shape as ``inputs``, detached
    """
    lo, hi = _check_box(image_constraints)
    _check_budget(eps)
    loss_fn = loss_fn or F.cross_entropy
    x = inputs.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(model(x), labels), x)
    with torch.no_grad():
        step = _per_sample(eps, inputs) * _unit(grad.to(inputs.dtype))
        adv = inputs.detach() + (-step if targeted else step)
        return adv.clamp_(lo, hi)


class PGD_max_l2_truncate:  # noqa: N801 - the original's name
    """The original attack object: ``PGD_max_l2_truncate(steps, max_l2, ...).attack(model, x, y)``.

    Parameters
    ----------
    steps : int
    max_l2 : float
    image_constraints : (float, float), default (0, 1)
    num_classes : int, default 1000
        Unused (kept for the original's signature).
    fast : bool, default False
    device : torch.device, optional
        Unused: the attack runs where ``inputs`` are.
    callback : object with ``scalar(name, x, y)``, optional
        Receives ``ce_loss`` after every step (a visdom-style logger).
    """

    def __init__(self, steps: int, max_l2: float, image_constraints: Tuple[float, float] = (0, 1),
                 num_classes: int = 1000, fast: bool = False, device: Optional[torch.device] = None,
                 callback=None) -> None:
        self.steps = int(steps)
        self.max_l2 = max_l2
        self.image_constraints = _check_box(image_constraints)
        self.num_classes = num_classes
        self.fast = fast
        self.device = device
        self.callback = callback

    def attack(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
               targeted: bool = False) -> torch.Tensor:
        """Adversarial versions of ``inputs`` (see :func:`pgd_l2`)."""
        cb = None
        if self.callback is not None:
            cb = lambda i, loss: self.callback.scalar("ce_loss", i, float(loss))  # noqa: E731
        return pgd_l2(model, inputs, labels, self.steps, self.max_l2, self.image_constraints, fast=self.fast,
                      targeted=targeted, callback=cb)

    __call__ = attack


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put ``modules`` in eval mode for the block, then restore each one's previous mode."""
    previous = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, flag in zip(modules, previous):
            m.train(flag)
