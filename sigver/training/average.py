"""Stochastic weight averaging (SWA, Izmailov et al., 2018) for :class:`~sigver.training.loop.TrainLoop`.

From epoch ``start`` (0-based) on, the learning rate is held at ``lr`` and, after each epoch, the weights
of the trained modules are folded into an equal-weight running mean. The mean is what is validated and
saved (``model_last.pth`` / ``model_best.pth``); the optimiser keeps training the un-averaged weights. A
mean of weights has no BatchNorm statistics of its own, so ``refresh_batchnorm`` (e.g. one pass over the
training images, :func:`recompute_batchnorm`) re-estimates them each time the mean changes.

The loop uses it as::

    average.set_lr(optimizer, epoch)          # before the epoch's training (held lr in averaged epochs)
    ... train the epoch ...
    with average.applied(epoch):              # the mean loaded into the modules (BN refreshed) ...
        validate, save the models             # ... and the trained weights back on exit
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional

import torch
from torch import nn

from .loop import _unwrap  # the same package's helper: the module inside DDP / torch.compile wrappers

__all__ = ["WeightAverage", "recompute_batchnorm"]


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, batches: Iterable[Any], amp: bool = False,
                        device_type: str = "cpu") -> int:
    """Re-estimate the BatchNorm running statistics of ``model`` as the plain mean over ``batches``.

    ``batches`` yields inputs or tuples whose first item is the input. The model's mode is restored.
    Returns the number of images seen (0: the statistics are left as they were).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    saved = {m: (m.momentum, m.running_mean.clone(), m.running_var.clone()) for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the mean over all batches
    was_training = model.training
    model.train()
    seen = 0
    autocast = torch.autocast(device_type=device_type, dtype=torch.bfloat16) if amp else nullcontext()
    try:
        with autocast:
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x)
                seen += len(x)
    finally:
        for m, (momentum, mean, var) in saved.items():
            m.momentum = momentum
            if seen == 0:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
        model.train(was_training)
    return seen


class WeightAverage:
    """Equal-weight running mean of the parameters of ``modules`` over the epochs from ``start`` on.

    Parameters
    ----------
    modules : mapping of str -> nn.Module
        The trained modules (the loop's; DDP / compiled wrappers are fine).
    start : int
        First averaged epoch, 0-based.
    lr : float
        Learning rate held from epoch ``start`` on (overrides the schedule's).
    refresh_batchnorm : callable, optional
        Called with the mean loaded into the modules, to re-estimate their BatchNorm statistics.
    """

    def __init__(self, modules: Mapping[str, nn.Module], start: int, lr: float,
                 refresh_batchnorm: Optional[Callable[[], Any]] = None):
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be a non-negative integer, got {start!r}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        self.modules = {k: _unwrap(m) for k, m in modules.items()}
        self.start = start
        self.lr = float(lr)
        self.refresh_batchnorm = refresh_batchnorm
        self.count = 0
        self.mean: Dict[str, Dict[str, torch.Tensor]] = {}

    def active(self, epoch: int) -> bool:
        return epoch >= self.start

    def set_lr(self, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        """Hold the learning rate at ``lr`` in averaged epochs (nothing before ``start``)."""
        if self.active(epoch):
            for group in optimizer.param_groups:
                group["lr"] = self.lr

    @torch.no_grad()
    def update(self) -> None:
        """Fold the modules' current parameters into the mean."""
        self.count += 1
        for name, module in self.modules.items():
            mean = self.mean.setdefault(name, {})
            for key, p in module.named_parameters():
                if key not in mean:
                    mean[key] = p.detach().float().clone()
                else:
                    mean[key].add_(p.detach().float() - mean[key], alpha=1.0 / self.count)

    @torch.no_grad()
    def _load(self, params: Mapping[str, Mapping[str, torch.Tensor]],
              buffers: Optional[Mapping[str, Mapping[str, torch.Tensor]]] = None) -> None:
        """Copy ``params`` (and ``buffers``: module name -> tensor name -> tensor) into the modules."""
        for name, module in self.modules.items():
            for source, named in ((params, dict(module.named_parameters())),
                                  (buffers or {}, dict(module.named_buffers()))):
                for key, value in source.get(name, {}).items():
                    named[key].copy_(value)

    def _snapshot(self, buffers: bool = False) -> Dict[str, Dict[str, torch.Tensor]]:
        if buffers:
            return {n: {k: b.detach().clone() for k, b in m.named_buffers()} for n, m in self.modules.items()}
        return {n: {k: p.detach().clone() for k, p in m.named_parameters()} for n, m in self.modules.items()}

    @contextmanager
    def applied(self, epoch: int) -> Iterator[bool]:
        """In an averaged epoch: fold the current weights in, load the mean (BatchNorm refreshed) for the
        body, then put the trained weights and statistics back. Elsewhere: nothing. Yields whether the
        mean is loaded."""
        if not self.active(epoch):
            yield False
            return
        self.update()
        trained, trained_buffers = self._snapshot(), self._snapshot(buffers=True)
        try:
            self._load(self.mean)
            if self.refresh_batchnorm is not None:
                self.refresh_batchnorm()
            yield True
        finally:
            self._load(trained, trained_buffers)

    def state_dict(self) -> Dict[str, Any]:
        """The mean and its count (what ``--resume`` needs; the BatchNorm statistics are re-estimated)."""
        return {"start": self.start, "lr": self.lr, "count": self.count, "mean": self.mean}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])
        self.mean = {n: dict(v) for n, v in state["mean"].items()}
