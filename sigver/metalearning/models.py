"""Functional models for meta-learning (docs/formats.md): the weights are passed to every call.

MAML adapts a copy of the weights to each task, so the models hold no trainable parameters: ``build_weights``
returns an ``OrderedDict`` of leaf tensors (Xavier-uniform weights, zero biases) and ``forward(x, weights,
training)`` computes the logit with them. The same code runs on one task (``x`` of shape ``(N, 1, h, w)``) or,
with ``stacked=True``, on a stack of tasks each with its own weights (leading dimension ``T`` on the input and on
every weight; see :class:`Ops` and :mod:`sigver.metalearning.maml`).

- :class:`SigNetModel` (``'signet'``): SigNet's topology (docs/formats.md); every conv / dense is followed by a
  non-affine batch normalisation, then the bias is added, then ReLU; a last linear ``w8/b8`` gives one logit.
  Batch normalisation is written out functionally: in training mode it uses the statistics of the batch and
  returns them (``return_stats=True``) so the caller updates the running statistics with
  :meth:`SigNetModel.update_bn` when it chooses; in eval mode it uses the running statistics (buffers
  ``bn1.running_mean`` ... ``bn7.num_batches_tracked``, the keys of the original's ``state_dict``).
- :class:`SmallCNN` (``'smallcnn'``): two 5x5 convs with 5x5 max-pools and three dense layers with dropout;
  no batch normalisation. For quick experiments and tests.
- :class:`PretrainWrapper`: an ``nn.Module`` over a functional model and its weights (the very same
  ``nn.Parameter`` objects, so pre-training changes the weights MAML starts from), whose ``forward`` returns the
  features; used to pre-train with the ordinary SigNet losses and training loop (docs/protocols.md).

Input: ``N x 1 x h x w`` float in [0, 1], ``(h, w) = input_size`` (default 150 x 220, the original's only size;
the input dimension of the first dense layer follows from it, so smaller crops give smaller, faster models).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SigverError
from ..shapes import INPUT_SIZE

__all__ = ["SigNetModel", "SmallCNN", "PretrainWrapper", "available_meta_models", "create_meta_model", "available_models",
           "create_model", "FunctionalModel", "Ops"]

Weights = Mapping[str, torch.Tensor]
BNStats = List[Tuple[torch.Tensor, torch.Tensor]]

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def _conv_unfold(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """Per-task convolution as unfold + batched matrix product: ``x`` (T, N, C, H, W), ``w`` (T, O, C, k, k)."""
    T, N, C, H, W = x.shape
    O, k = w.shape[1], w.shape[-1]
    cols = F.unfold(x.reshape(T * N, C, H, W), k, padding=padding, stride=stride)  # (T*N, C*k*k, L)
    L = cols.shape[-1]
    cols = cols.view(T, N, C * k * k, L).transpose(1, 2).reshape(T, C * k * k, N * L)
    out = torch.bmm(w.reshape(T, O, C * k * k), cols)
    ho, wo = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
    return out.view(T, O, N, ho, wo).transpose(1, 2)


class Ops:
    """The tensor operations of the functional models, for one task or for a stack of tasks.

    ``Ops(stacked=False)``: ``x`` is ``(N, ...)`` and the weights have their own shapes (the plain PyTorch
    functions). ``Ops(stacked=True)``: ``x`` is ``(T, N, ...)`` and every weight has a leading task dimension
    ``T``; convolutions run as one grouped convolution (``groups=T``), or as unfold + batched matrix product
    when there is a single input channel (CPU grouped kernels are slow there), dense layers as batched matrix
    products, pooling on the flattened batch.
    """

    def __init__(self, stacked: bool = False):
        self.stacked = bool(stacked)
        self.lead = 1 if stacked else 0  # dimensions before the sample dimension

    def conv2d(self, x, w, stride: int = 1, padding: int = 0):
        if not self.stacked:
            return F.conv2d(x, w, None, stride, padding)
        T, N, C, H, W = x.shape
        if C == 1:
            return _conv_unfold(x, w, stride, padding)
        out = F.conv2d(x.transpose(0, 1).reshape(N, T * C, H, W), w.reshape(T * w.shape[1], *w.shape[2:]),
                       None, stride, padding, groups=T)
        return out.view(N, T, w.shape[1], *out.shape[-2:]).transpose(0, 1)

    def linear(self, x, w, b=None):
        if not self.stacked:
            return F.linear(x, w, b)
        out = torch.bmm(x, w.transpose(1, 2))
        return out if b is None else out + b.unsqueeze(1)

    def add_bias(self, x, b):
        """``x + b`` over the channel dimension (``b``: (C,) or (T, C))."""
        shape = (b.shape[0] if self.stacked else 1, *([1] * self.lead), -1) + (1,) * (x.dim() - 2 - self.lead)
        return x + b.view(shape)

    def max_pool2d(self, x, kernel: int, stride: int):
        if not self.stacked:
            return F.max_pool2d(x, kernel, stride)
        out = F.max_pool2d(x.flatten(0, 1), kernel, stride)
        return out.view(*x.shape[:2], *out.shape[1:])

    def flatten(self, x):
        return x.flatten(1 + self.lead)


class FunctionalModel(nn.Module):
    """Base class: a model whose weights live outside it.

    Subclasses declare ``shapes`` (``name -> shape``, in order, for 150 x 220 inputs; 1-d tensors are biases),
    ``flat_weight`` (the first dense layer, whose input dimension depends on the input size) and
    :meth:`flat_size`, and implement :meth:`get_features`. The module's own ``state_dict`` holds only buffers.

    Parameters
    ----------
    input_size : (int, int), default INPUT_SIZE (150, 220)
        ``(h, w)`` of the inputs; sets the instance's ``shapes``.
    """

    shapes: Sequence[Tuple[str, Tuple[int, ...]]] = ()
    flat_weight: str = ""
    feature_space_size: int = 0
    bn_sizes: Sequence[int] = ()

    def __init__(self, input_size: Sequence[int] = INPUT_SIZE) -> None:
        super().__init__()
        h, w = (int(v) for v in input_size)
        self.input_size = (h, w)
        flat = self.flat_size(h, w) if self.flat_weight else 0
        if self.flat_weight and flat < 1:
            raise SigverError(f"--input-size {h} {w} is too small for {type(self).__name__} (no pixels left before "
                              f"the dense layers)")
        self.shapes = tuple((n, (s[0], flat) if n == self.flat_weight else s) for n, s in type(self).shapes)
        # the original's buffer names: bn1.running_mean, ... (sub-modules holding buffers only)
        for i, size in enumerate(self.bn_sizes, start=1):
            holder = nn.Module()
            holder.register_buffer("running_mean", torch.zeros(size))
            holder.register_buffer("running_var", torch.ones(size))
            holder.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
            self.add_module(f"bn{i}", holder)

    def build_weights(self, device: Union[str, torch.device, None] = None,
                      generator: Optional[torch.Generator] = None) -> "OrderedDict[str, torch.Tensor]":
        """New weights: Xavier-uniform for weights, zeros for biases (leaf tensors, ``requires_grad``).

        Parameters
        ----------
        device : str or torch.device, optional
        generator : torch.Generator, optional
            Source of the random numbers (a CPU generator; default: the global one).
        """
        out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        for name, shape in self.shapes:
            if len(shape) == 1:
                t = torch.zeros(shape)
            else:
                t = torch.empty(shape)
                field = math.prod(shape[2:])
                fan_in, fan_out = shape[1] * field, shape[0] * field
                bound = (6.0 / (fan_in + fan_out)) ** 0.5
                t.uniform_(-bound, bound, generator=generator)
            out[name] = t.to(device).requires_grad_(True)
        return out

    def check_weights(self, weights: Weights, source: str = "weights") -> None:
        """Raise :class:`SigverError` when ``weights`` lacks a tensor or has a wrong shape."""
        for name, shape in self.shapes:
            if name not in weights:
                raise SigverError(f"{source}: no tensor {name!r} (expected {[n for n, _ in self.shapes]})")
            if tuple(weights[name].shape) != tuple(shape):
                raise SigverError(f"{source}: {name!r} has shape {tuple(weights[name].shape)}, "
                                  f"{type(self).__name__} needs {tuple(shape)}")

    # -- batch normalisation (functional, per task) ---------------------------------------------------------

    def _bn(self, x: torch.Tensor, i: int, training: bool, stats: Optional[BNStats], ops: Ops) -> torch.Tensor:
        c = 1 + ops.lead  # channel dimension
        dims = [d for d in range(x.dim()) if d not in (c, 0 if ops.stacked else c)]
        shape = [1] * x.dim()
        shape[c] = -1
        if training:
            mean = x.mean(dims, keepdim=True)
            var = x.var(dims, unbiased=False, keepdim=True)
            if stats is not None:
                n = x.numel() // (x.shape[c] * (x.shape[0] if ops.stacked else 1))
                flat = (x.shape[0], -1) if ops.stacked else (-1,)
                stats.append((mean.detach().reshape(flat), var.detach().reshape(flat) * (n / max(n - 1, 1))))
        else:
            bn = getattr(self, f"bn{i}")
            mean, var = bn.running_mean.view(shape), bn.running_var.view(shape)
        return (x - mean) * torch.rsqrt(var + BN_EPS)

    @torch.no_grad()
    def update_bn(self, stats: Sequence[Tuple[torch.Tensor, torch.Tensor]], momentum: float = BN_MOMENTUM) -> None:
        """Fold one forward's batch statistics into the running statistics (as ``nn.BatchNorm`` does).

        Parameters
        ----------
        stats : sequence of (mean, unbiased var)
            One pair per batch-norm layer, in order, as returned with ``return_stats=True``.
        """
        if len(stats) != len(self.bn_sizes):
            raise ValueError(f"expected {len(self.bn_sizes)} (mean, var) pairs, got {len(stats)}")
        for i, (mean, var) in enumerate(stats, start=1):
            bn = getattr(self, f"bn{i}")
            bn.running_mean.mul_(1 - momentum).add_(mean.to(bn.running_mean), alpha=momentum)
            bn.running_var.mul_(1 - momentum).add_(var.to(bn.running_var), alpha=momentum)
            bn.num_batches_tracked.add_(1)

    def get_features(self, x: torch.Tensor, weights: Weights, training: bool = False,
                     return_stats: bool = False, stacked: bool = False):  # pragma: no cover - abstract
        """Features ``(N, feature_space_size)``; with ``return_stats`` also the batch-norm statistics.

        With ``stacked=True``, ``x`` is ``(T, N, 1, h, w)``, every weight has a leading dimension ``T`` and
        the outputs (and statistics) one too.
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor, weights: Weights, training: bool = False, return_stats: bool = False,
                stacked: bool = False):
        """Logits ``(N,)`` (``(T, N)`` when ``stacked``), and the batch-norm statistics with ``return_stats``:
        a list, one ``(mean, unbiased var)`` pair per batch-norm layer (empty in eval mode)."""
        feats, stats = self.get_features(x, weights, training, True, stacked)
        names = [n for n, _ in self.shapes[-2:]]
        logits = Ops(stacked).linear(feats, weights[names[0]], weights[names[1]]).squeeze(-1)
        return (logits, stats) if return_stats else logits

    def flat_size(self, h: int, w: int) -> int:  # pragma: no cover - abstract
        """Input dimension of ``flat_weight`` for ``h x w`` inputs (< 1 when the input is too small)."""
        raise NotImplementedError


def _out(n: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (n + 2 * padding - kernel) // stride + 1


class SigNetModel(FunctionalModel):
    """Functional SigNet with a one-logit head (docs/formats.md, ``normalize=True``).

    Parameters
    ----------
    input_size : (int, int), default INPUT_SIZE (150, 220)
    """

    shapes = (("conv1", (96, 1, 11, 11)), ("b1", (96,)), ("conv2", (256, 96, 5, 5)), ("b2", (256,)),
              ("conv3", (384, 256, 3, 3)), ("b3", (384,)), ("conv4", (384, 384, 3, 3)), ("b4", (384,)),
              ("conv5", (256, 384, 3, 3)), ("b5", (256,)), ("w6", (2048, 3840)), ("b6", (2048,)),
              ("w7", (2048, 2048)), ("b7", (2048,)), ("w8", (1, 2048)), ("b8", (1,)))
    flat_weight = "w6"
    feature_space_size = 2048
    bn_sizes = (96, 256, 384, 384, 256, 2048, 2048)
    #: (stride, padding, max-pool after) of conv1..conv5
    convs = ((4, 0, True), (1, 2, True), (1, 1, False), (1, 1, False), (1, 1, True))

    def flat_size(self, h, w):
        """``256 x h' x w'`` after the five convolutions and three poolings (3840 for 150 x 220)."""
        kernels = dict(type(self).shapes)
        dims = []
        for n in (h, w):
            for i, (stride, pad, pool) in enumerate(self.convs, start=1):
                n = _out(n, kernels[f"conv{i}"][-1], stride, pad)
                n = _out(n, 3, 2) if pool else n
                if n < 1:
                    return 0
            dims.append(n)
        return 256 * dims[0] * dims[1]

    def get_features(self, x, weights, training=False, return_stats=False, stacked=False):
        """fc7 output ``(N, 2048)`` (post-ReLU); with ``return_stats`` also the list of batch statistics."""
        ops = Ops(stacked)
        stats: BNStats = []
        for i, (stride, pad, pool) in enumerate(self.convs, start=1):
            x = ops.conv2d(x, weights[f"conv{i}"], stride, pad)
            x = F.relu(ops.add_bias(self._bn(x, i, training, stats, ops), weights[f"b{i}"]))
            if pool:
                x = ops.max_pool2d(x, 3, 2)
        x = ops.flatten(x)
        for i in (6, 7):
            x = ops.linear(x, weights[f"w{i}"])
            x = F.relu(ops.add_bias(self._bn(x, i, training, stats, ops), weights[f"b{i}"]))
        return (x, stats) if return_stats else x


class SmallCNN(FunctionalModel):
    """A small functional CNN for quick experiments (docs/formats.md, ``'smallcnn'``).

    Parameters
    ----------
    dropout : float, default 0.2
        Dropout probability after the two hidden dense layers (training mode only).
    input_size : (int, int), default INPUT_SIZE (150, 220)
    """

    shapes = (("conv1", (32, 1, 5, 5)), ("b1", (32,)), ("conv2", (32, 32, 5, 5)), ("b2", (32,)),
              ("w3", (1024, 1120)), ("b3", (1024,)), ("w4", (256, 1024)), ("b4", (256,)),
              ("w5", (1, 256)), ("b5", (1,)))
    flat_weight = "w3"
    feature_space_size = 256

    def __init__(self, dropout: float = 0.2, input_size: Sequence[int] = INPUT_SIZE) -> None:
        super().__init__(input_size)
        self.dropout = float(dropout)

    def flat_size(self, h, w):
        """``32 x h' x w'`` after two 5x5 convolutions and 5x5 poolings (1120 for 150 x 220)."""
        for _ in range(2):
            h, w = (h - 4) // 5, (w - 4) // 5
        return 32 * max(h, 0) * max(w, 0)

    def get_features(self, x, weights, training=False, return_stats=False, stacked=False):
        """Output of ``w4`` ``(N, 256)`` after ReLU and dropout."""
        ops = Ops(stacked)
        for i in (1, 2):
            x = ops.max_pool2d(F.relu(ops.add_bias(ops.conv2d(x, weights[f"conv{i}"]), weights[f"b{i}"])), 5, 5)
        x = ops.flatten(x)
        for i in (3, 4):
            x = F.dropout(F.relu(ops.linear(x, weights[f"w{i}"], weights[f"b{i}"])), self.dropout, training)
        return (x, []) if return_stats else x


#: Registry of the functional meta-learning models, name -> class. Its ``"signet"`` is :class:`SigNetModel`
#: (functional, for MAML), not :class:`sigver.featurelearning.SigNet`: hence a name of its own.
available_meta_models = {"signet": SigNetModel, "smallcnn": SmallCNN}


def create_meta_model(name: str, **kwargs) -> FunctionalModel:
    """A functional meta-learning model by registry name (``'signet'`` or ``'smallcnn'``)."""
    if name not in available_meta_models:
        raise SigverError(f"unknown meta-learning model {name!r}; available: {', '.join(available_meta_models)}")
    return available_meta_models[name](**kwargs)


# the former names, kept for code that imported them (they shadowed featurelearning's registry names)
available_models = available_meta_models
create_model = create_meta_model


class PretrainWrapper(nn.Module):
    """A functional model as an ordinary feature extractor (docs/formats.md), for supervised pre-training.

    Parameters
    ----------
    model : FunctionalModel
        Its batch-norm running statistics are updated in training mode.
    weights : nn.ParameterDict
        The weights; registered as ``w_parameters`` (the same ``nn.Parameter`` objects, so training this
        wrapper trains them).

    ``forward(x)`` returns ``model.get_features(x, weights, self.training)``; ``feature_space_size`` is the
    model's.
    """

    def __init__(self, model: FunctionalModel, weights: nn.ParameterDict):
        super().__init__()
        self.model = model
        self.w_parameters = weights
        self.feature_space_size = model.feature_space_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, stats = self.model.get_features(x, self.w_parameters, self.training, return_stats=True)
        if self.training and stats:
            self.model.update_bn(stats)
        return feats
