"""MAML for per-writer classifiers (docs/protocols.md), with the tasks of a meta-batch adapted in parallel.

The meta-learned state is the weight dict ``theta`` of a functional model (:mod:`sigver.metalearning.models`)
and, with ``learn_task_lr``, the per-step, per-tensor inner learning rates ``task_lr`` (``K x n_tensors``,
MAML++ "LSLR"). For a task, ``K`` gradient steps on the support loss give fast weights
``theta_{k+1} = theta_k - task_lr[k, j] * grad_j L_support(theta_k)`` for every tensor ``j`` (all layers adapt),
with ``create_graph=True`` in meta-training (full second order). The meta-objective of a task is
``sum_k w_k L_query(theta_{k+1})`` with the multi-step loss weights ``w`` (:func:`per_step_loss_weights`).

**Batched tasks.** The original adapts one task at a time in Python. Here the ``T`` tasks of a meta-batch carry
their own fast weights stacked along a leading dimension (``theta`` expanded, no copy) and the model runs once
for all of them (``stacked=True``: grouped convolutions and batched matrix products, :class:`~sigver.metalearning.
models.Ops`). Because the tasks are
independent, the gradient of the *sum* of the support losses with respect to the stacked weights is the stack
of the per-task gradients, so one ``autograd.grad`` call adapts all tasks; one ``backward`` of the summed
meta-objective gives the meta-gradient. ``batched=False`` runs the same algorithm task by task (the
original's way; :mod:`scripts.bench_meta` checks both give the same loss and gradients).

**Batch normalisation** (SigNet): support forwards in meta-training use the statistics of the support batch;
query forwards, and all forwards at validation / test time, use the running statistics. The running statistics
are updated after each meta-step with the support statistics of its tasks and steps (in task order, as if run
one after the other); within a meta-step every task sees the running statistics of its start, so the batched
and the task-by-task paths agree exactly. They are saved with the weights (the original did not save them,
docs/compatibility.md).

Loss: :func:`balanced_bce`. Meta-step: gradients averaged over the tasks, clipped to +-10, Adam.
"""
from __future__ import annotations

import json
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..errors import CheckpointError
from ..fileio import atomic_write
from ..shapes import INPUT_SIZE
from .data import TaskBatch
from .models import FunctionalModel, available_meta_models, create_meta_model

__all__ = ["MAML", "AdaptResult", "balanced_bce", "balanced_weights", "per_step_loss_weights",
           "save_maml", "load_maml", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "sigver-maml"
GRAD_CLIP = 10.0


def balanced_weights(y: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-sample weights of :func:`balanced_bce`: ``1/(2P)`` for positives and ``1/(2N)`` for negatives when
    both classes are present, else ``1/(P+N)`` (plain mean); 0 where ``mask`` is False.

    Parameters
    ----------
    y : Tensor of float (..., n)
        Labels, 1 positive (genuine), 0 negative.
    mask : Tensor of bool (..., n), optional
        Real samples (default: all).
    """
    m = torch.ones_like(y) if mask is None else mask.to(y.dtype)
    pos, neg = y * m, (1 - y) * m
    P, N = pos.sum(-1, keepdim=True), neg.sum(-1, keepdim=True)
    both = (P > 0) & (N > 0)
    balanced = pos / (2 * P.clamp(min=1)) + neg / (2 * N.clamp(min=1))
    return torch.where(both, balanced, m / (P + N).clamp(min=1))


def balanced_bce(logits: torch.Tensor, y: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Class-balanced binary cross-entropy per task (docs/protocols.md).

    The mean of the positives' mean BCE and the negatives' mean BCE when both classes are present; the plain
    mean BCE otherwise (one-class support sets, ``--num-rf 0``).

    Parameters
    ----------
    logits, y : Tensor (..., n)
        Logits and labels (1 genuine, 0 forgery); the last dimension holds the samples of a task.
    mask : Tensor of bool (..., n), optional

    Returns
    -------
    Tensor (...,)
        One loss per task.
    """
    w = balanced_weights(y, mask)
    return (w * F.binary_cross_entropy_with_logits(logits, y, reduction="none")).sum(-1)


def per_step_loss_weights(epoch: int, num_updates: int, msl_epochs: int) -> torch.Tensor:
    """Multi-step loss weights of MAML++ (docs/protocols.md) for ``epoch`` (0-based).

    Start uniform ``1/K``; each non-final weight decreases by ``epoch / (K * msl_epochs)`` down to ``0.03/K``,
    the final one grows by ``epoch * (K - 1) / (K * msl_epochs)`` up to ``1 - (K - 1) * 0.03 / K``. With
    ``msl_epochs == 0`` only the last step counts.
    """
    K = int(num_updates)
    w = np.full(K, 1.0 / K)
    if msl_epochs <= 0:
        w[:] = 0.0
        w[-1] = 1.0
        return torch.as_tensor(w, dtype=torch.float32)
    decay = 1.0 / K / msl_epochs
    floor = 0.03 / K
    w[:-1] = np.maximum(w[:-1] - epoch * decay, floor)
    w[-1] = min(w[-1] + epoch * (K - 1) * decay, 1.0 - (K - 1) * floor)
    return torch.as_tensor(w, dtype=torch.float32)


class AdaptResult(NamedTuple):
    """What :meth:`MAML.adapt` returns.

    Attributes
    ----------
    query_logits : list of K Tensors (T, n_q)
        Query logits after each inner step.
    query_loss : Tensor (K, T)
        Balanced BCE of the query set after each step (with the graph to ``theta`` in meta-training).
    query_acc : Tensor (K, T)
        Accuracy (``logit > 0``) on the query set after each step.
    support_stats : list of K lists of (mean, var) Tensors (T, C)
        Batch statistics of the support forwards (empty without batch norm or in eval mode).
    fast_weights : dict of Tensors (T, ...)
        The adapted weights after the last step.
    """

    query_logits: List[torch.Tensor]
    query_loss: torch.Tensor
    query_acc: torch.Tensor
    support_stats: List[list]
    fast_weights: Dict[str, torch.Tensor]


class MAML(nn.Module):
    """Meta-learned initial weights (and inner learning rates) of a functional model.

    Parameters
    ----------
    model : FunctionalModel or str
        The functional model (or its registry name).
    num_updates : int
        ``K``, inner gradient steps per task.
    train_lr : float, default 1e-3
        Initial value of every inner learning rate.
    learn_task_lr : bool, default False
        Meta-learn ``task_lr`` (a parameter) instead of keeping it fixed (a buffer).
    weights : mapping of str -> Tensor, optional
        Initial weights (default: ``model.build_weights(generator=generator)``).
    generator : torch.Generator, optional
        For the initial weights.

    Attributes
    ----------
    weights : nn.ParameterDict
        ``theta``.
    task_lr : Tensor (K, n_tensors)
    """

    def __init__(self, model: Union[FunctionalModel, str], num_updates: int, train_lr: float = 1e-3,
                 learn_task_lr: bool = False, weights: Optional[Mapping[str, torch.Tensor]] = None,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        if isinstance(num_updates, bool) or not isinstance(num_updates, int) or num_updates < 1:
            raise ValueError(f"num_updates must be a positive integer, got {num_updates!r}")
        self.model = create_meta_model(model) if isinstance(model, str) else model
        w = weights if weights is not None else self.model.build_weights(generator=generator)
        self.model.check_weights(w)
        #: weight names in the model's order (the columns of ``task_lr``, the order of the original's lists;
        #: ``nn.ParameterDict`` itself keeps its keys sorted)
        self.names = [n for n, _ in self.model.shapes]
        self.weights = nn.ParameterDict({k: nn.Parameter(w[k].detach().clone()) for k in self.names})
        lr = torch.full((num_updates, len(self.names)), float(train_lr))
        self.learn_task_lr = bool(learn_task_lr)
        if self.learn_task_lr:
            self.task_lr = nn.Parameter(lr)
        else:
            self.register_buffer("task_lr", lr)
        self.num_updates = num_updates

    @property
    def model_name(self) -> str:
        return next(k for k, v in available_meta_models.items() if type(self.model) is v)

    # -- forward over a stack of tasks ------------------------------------------------------------------

    def _forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor], training: bool, stacked: bool):
        """Logits (T, n) and batch statistics for ``x`` (T, n, C, H, W); weights stacked (T, ...) or one task's."""
        if stacked:
            return self.model(x, weights, training, return_stats=True, stacked=True)
        logits, stats = self.model(x[0], weights, training, return_stats=True)
        return logits.unsqueeze(0), [(m.unsqueeze(0), v.unsqueeze(0)) for m, v in stats]

    def adapt(self, batch: TaskBatch, meta_train: bool, stacked: bool = True,
              loss_weights: Optional[torch.Tensor] = None) -> AdaptResult:
        """Adapt ``theta`` to the ``T`` tasks of ``batch`` and evaluate each step on their query sets.

        Parameters
        ----------
        batch : TaskBatch
            ``T`` tasks (``T`` must be 1 when ``stacked`` is False).
        meta_train : bool
            True: second-order graph to ``theta``, support batch norm in training mode (batch statistics),
            dropout on. False (validation / test): first-order steps on detached weights, running statistics,
            no dropout, query logits without graph.
        stacked : bool, default True
            Run the tasks together (True) or as one plain task (False, ``T == 1``).
        loss_weights : Tensor (K,), optional
            With ``meta_train``, query losses of steps whose weight is 0 are computed without graph.
        """
        if not stacked and batch.support_x.shape[0] != 1:
            raise ValueError("stacked=False adapts one task at a time: pass batch.task(t)")
        T = batch.support_x.shape[0]
        names = self.names
        with torch.enable_grad():
            if meta_train:
                base = {k: self.weights[k] for k in names}
            else:
                base = {k: self.weights[k].detach().requires_grad_(True) for k in names}
            fast = {k: v.expand(T, *v.shape) for k, v in base.items()} if stacked else dict(base)
            lr = self.task_lr if meta_train else self.task_lr.detach()
            logits_all, losses, accs, stats_all = [], [], [], []
            for k in range(self.num_updates):
                s_logits, stats = self._forward(batch.support_x, fast, meta_train, stacked)
                s_loss = balanced_bce(s_logits, batch.support_y).sum()
                grads = torch.autograd.grad(s_loss, [fast[n] for n in names], create_graph=meta_train)
                fast = {n: fast[n] - lr[k, j] * g for j, (n, g) in enumerate(zip(names, grads))}
                if not meta_train:
                    fast = {n: w.detach().requires_grad_(True) for n, w in fast.items()}
                stats_all.append(stats)
                need_graph = meta_train and (loss_weights is None or float(loss_weights[k]) != 0.0)
                with torch.set_grad_enabled(need_graph):
                    q_logits, _ = self._forward(batch.query_x, fast, False, stacked)
                    q_loss = balanced_bce(q_logits, batch.query_y, batch.query_mask)
                logits_all.append(q_logits if need_graph else q_logits.detach())
                losses.append(q_loss)
                accs.append(_accuracy(q_logits.detach(), batch.query_y, batch.query_mask))
        if not meta_train:
            fast = {n: w.detach() for n, w in fast.items()}
        return AdaptResult(logits_all, torch.stack(losses), torch.stack(accs), stats_all, fast)

    # -- meta-training ----------------------------------------------------------------------------------

    def meta_gradients(self, batch: TaskBatch, loss_weights: torch.Tensor, batched: bool = True
                       ) -> Dict[str, Any]:
        """Accumulate into ``.grad`` the meta-gradient of the batch (averaged over its tasks).

        Does not clip, step or update the batch-norm statistics; returns what :meth:`apply_bn_stats` needs.

        Returns
        -------
        dict
            ``loss`` (the meta-objective averaged over tasks, float), ``query_loss`` and ``query_acc`` (K,) per
            step averaged over tasks, ``stats`` (list over tasks of lists over steps of (mean, var) pairs).
        """
        T = batch.support_x.shape[0]
        lw = loss_weights.to(batch.support_x.device)
        if batched:
            results = [self.adapt(batch, True, stacked=True, loss_weights=lw)]
            tasks_of = [list(range(T))]
        else:
            results, tasks_of = [], []
            for t in range(T):
                results.append(self.adapt(batch.task(t), True, stacked=False, loss_weights=lw))
                tasks_of.append([t])
        total = 0.0
        q_loss = torch.zeros(self.num_updates, T)
        q_acc = torch.zeros(self.num_updates, T)
        stats: List[list] = [[] for _ in range(T)]
        for res, tasks in zip(results, tasks_of):
            objective = (lw.view(-1, 1) * res.query_loss).sum()
            if objective.requires_grad:
                objective.backward()
            total += float(objective.detach())
            q_loss[:, tasks] = res.query_loss.detach().float().cpu()
            q_acc[:, tasks] = res.query_acc.float().cpu()
            for i, t in enumerate(tasks):
                stats[t] = [[(m[i], v[i]) for m, v in step] for step in res.support_stats]
        for p in self.parameters():
            if p.grad is not None:
                p.grad.div_(T)
        return {"loss": total / T, "query_loss": q_loss.mean(1), "query_acc": q_acc.mean(1), "stats": stats}

    def apply_bn_stats(self, stats: Sequence[Sequence[Sequence]]) -> None:
        """Fold the support statistics of a meta-step into the running statistics (task by task, step by step)."""
        for per_task in stats:
            for step in per_task:
                if step:
                    self.model.update_bn(step)

    def meta_step(self, batch: TaskBatch, optimizer: torch.optim.Optimizer, loss_weights: torch.Tensor,
                  batched: bool = True) -> Dict[str, Any]:
        """One meta-learning step (docs/protocols.md): zero grads, meta-gradient, clip to +-10, optimiser step,
        update the batch-norm running statistics. Returns the metrics of :meth:`meta_gradients`."""
        optimizer.zero_grad(set_to_none=True)
        out = self.meta_gradients(batch, loss_weights, batched)
        nn.utils.clip_grad_value_([p for p in self.parameters() if p.grad is not None], GRAD_CLIP)
        optimizer.step()
        self.apply_bn_stats(out.pop("stats"))
        return out

    # -- validation / test ------------------------------------------------------------------------------

    def evaluate(self, batches, batched: bool = True) -> Dict[str, Any]:
        """Adapt to every task of ``batches`` (an iterable of :class:`TaskBatch`) and score the query sets.

        Returns
        -------
        dict
            ``query_loss``, ``query_acc`` (K,) averaged over tasks; ``users`` (list of int); ``genuine``,
            ``random``, ``skilled`` (lists, one array of final-step logits per task).
        """
        losses, accs, users = [], [], []
        scores: Dict[str, List[np.ndarray]] = {"genuine": [], "random": [], "skilled": []}
        for batch in batches:
            parts = [batch] if batched else [batch.task(t) for t in range(batch.support_x.shape[0])]
            for part in parts:
                res = self.adapt(part, False, stacked=batched)
                losses.append(res.query_loss.detach().cpu())
                accs.append(res.query_acc.cpu())
                final = res.query_logits[-1].detach().cpu().numpy()
                y, forg = part.query_y.cpu().numpy(), part.query_forg.cpu().numpy()
                mask = part.query_mask.cpu().numpy()
                for t in range(final.shape[0]):
                    m = mask[t]
                    scores["genuine"].append(final[t][m & (y[t] == 1)].astype(np.float64))
                    scores["random"].append(final[t][m & (y[t] == 0) & (forg[t] == 0)].astype(np.float64))
                    scores["skilled"].append(final[t][m & (y[t] == 0) & (forg[t] == 1)].astype(np.float64))
                users += part.users.cpu().tolist()
        loss = torch.cat(losses, 1).mean(1) if losses else torch.zeros(self.num_updates)
        acc = torch.cat(accs, 1).mean(1) if accs else torch.zeros(self.num_updates)
        return {"query_loss": loss, "query_acc": acc, "users": users, **scores}


def _accuracy(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    correct = (((logits > 0).to(y.dtype) == y) & mask).sum(-1).to(torch.float32)
    return correct / mask.sum(-1).clamp(min=1).to(torch.float32)


# ---------------------------------------------------------------------------------------------------
# checkpoint
# ---------------------------------------------------------------------------------------------------

def save_maml(path: Union[str, Path], maml: MAML, metadata: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``maml`` atomically: weights, inner learning rates **and batch-norm running statistics**.

    The file is ``torch.save`` of a dict of plain types and tensors (readable with ``weights_only=True``):
    ``format`` (``'sigver-maml'``), ``version``, ``model`` (registry name), ``input_size`` ([h, w]),
    ``weights`` (name -> tensor),
    ``task_lr``, ``learn_task_lr``, ``bn`` (the model's buffers), ``metadata`` (a JSON string).
    """
    import io

    obj = {
        "format": CHECKPOINT_FORMAT, "version": 1, "sigver_version": __version__, "model": maml.model_name,
        "input_size": list(maml.model.input_size),
        "weights": OrderedDict((k, maml.weights[k].detach().cpu().clone()) for k in maml.names),
        "task_lr": maml.task_lr.detach().cpu().clone(), "learn_task_lr": maml.learn_task_lr,
        "bn": OrderedDict((k, v.detach().cpu().clone()) for k, v in maml.model.state_dict().items()),
        "metadata": json.dumps(dict(metadata or {}), default=str),
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))


def load_maml(path: Union[str, Path], model: Optional[str] = None, num_updates: Optional[int] = None,
              train_lr: float = 1e-3, device: Union[str, torch.device] = "cpu",
              input_size: Optional[Sequence[int]] = None) -> MAML:
    """Read a checkpoint of :func:`save_maml`, or the original's ``best_model.pth`` (a list of tensors).

    Parameters
    ----------
    path : path-like
    model : str, optional
        Registry name; required for the original's lists, checked against sigver files.
    num_updates : int, optional
        ``K``; required for an original list without learned rates (else read from ``task_lr``).
    train_lr : float
        Inner learning rate of an original list without learned rates.
    device : str or torch.device
    input_size : (int, int), optional
        ``(h, w)`` of the inputs: checked against sigver files (which store it), used for the original's lists
        (default 150 x 220).

    Raises
    ------
    CheckpointError
        Missing, truncated or foreign file, wrong model or shapes; the message names the file.
    """
    from ..featurelearning.checkpoint import read_checkpoint_file

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file; a meta-learning run writes best_model.pth in "
                              f"its --logdir")
    obj = read_checkpoint_file(path)
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        name = obj.get("model")
        if model is not None and name != model:
            raise CheckpointError(f"{path}: holds a {name!r} model, --model is {model!r}")
        if name not in available_meta_models:
            raise CheckpointError(f"{path}: unknown model {name!r}")
        task_lr = obj["task_lr"]
        if num_updates is not None and task_lr.shape[0] != num_updates:
            raise CheckpointError(f"{path}: trained with --num-updates {task_lr.shape[0]}, got {num_updates}")
        stored = tuple(int(v) for v in obj.get("input_size", INPUT_SIZE))
        if input_size is not None and tuple(input_size) != stored:
            raise CheckpointError(f"{path}: trained with --input-size {stored[0]} {stored[1]}, got "
                                  f"{input_size[0]} {input_size[1]}")
        maml = _build(path, name, obj["weights"], task_lr.shape[0], train_lr, bool(obj.get("learn_task_lr")),
                      stored)
        with torch.no_grad():
            maml.task_lr.copy_(task_lr)
        try:
            maml.model.load_state_dict(obj["bn"])
        except (RuntimeError, KeyError) as e:
            raise CheckpointError(f"{path}: batch-norm statistics do not fit {name} "
                                  f"({str(e).splitlines()[0][:160]})") from None
        return maml.to(device)
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(t, torch.Tensor) for t in obj):
        return _load_original(path, list(obj), model, num_updates, train_lr, input_size or INPUT_SIZE).to(device)
    raise CheckpointError(f"{path}: not a meta-learning checkpoint (expected a file written by "
                          f"sigver.metalearning.train, or the original's list of tensors)")


def _build(path, name, weights, num_updates, train_lr, learn_task_lr, input_size) -> MAML:
    model = create_meta_model(name, input_size=input_size)
    try:
        model.check_weights(weights, source=str(path))
    except Exception as e:
        raise CheckpointError(str(e)) from None
    return MAML(model, int(num_updates), train_lr, learn_task_lr, weights=weights)


def _load_original(path, tensors, model, num_updates, train_lr, input_size) -> MAML:
    if model is None:
        raise CheckpointError(f"{path}: an original meta-learning checkpoint (a list of tensors); pass --model")
    shapes = create_meta_model(model, input_size=input_size).shapes
    n = len(shapes)
    if len(tensors) not in (n, n + 1):
        raise CheckpointError(f"{path}: {len(tensors)} tensors, a {model} checkpoint has {n} (+1 with learned "
                              f"task learning rates)")
    weights = OrderedDict((name, t) for (name, _), t in zip(shapes, tensors))
    learned = len(tensors) == n + 1
    K = tensors[-1].shape[0] if learned else num_updates
    if K is None:
        raise CheckpointError(f"{path}: pass --num-updates (not stored in an original checkpoint)")
    maml = _build(path, model, weights, K, train_lr, learned, input_size)
    if learned:
        if tuple(tensors[-1].shape) != (K, n):
            raise CheckpointError(f"{path}: task_lr has shape {tuple(tensors[-1].shape)}, expected ({K}, {n})")
        with torch.no_grad():
            maml.task_lr.copy_(tensors[-1])
    if maml.model.bn_sizes:
        warnings.warn(f"{path}: an original checkpoint has no batch-norm statistics (docs/compatibility.md); the "
                      f"running statistics start from mean 0, variance 1", UserWarning, stacklevel=3)
    return maml
