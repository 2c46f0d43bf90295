"""Batched, seeded image augmentation on the device, for training feature extractors across scanners and pens.

A model trained on one dataset meets scans from other scanners, pens and resolutions: bilevel or grey ink,
thin or thick strokes, faint or saturated ink, a slightly different size or slant. The ``scanner`` policy
draws, per image, a random combination of

- a small affine jitter (rotation, scale, shear, translation; bilinear, background 0),
- a stroke-width change (half-strength 3 x 3 grey dilation or erosion),
- a Gaussian blur (sigma 0.3 - 1.2 pixels),
- an ink-intensity change (gamma and a gain, so saturated strokes become grey and grey ones saturated),
- a random binarisation (ink above a random level becomes 1, the rest 0),

each applied with its own probability. Everything runs on the batch's device in a few tensor operations
(``affine_grid``/``grid_sample``, ``max_pool2d``, a grouped convolution), with the random numbers drawn from
a CPU :class:`torch.Generator`, so a run is reproducible on any device and resumable (the generator's state
is saved with the training state).

Input and output: float tensors ``(B, 1, h, w)`` in [0, 1], background 0, ink bright (the network input);
dtype, shape and range are kept.
"""
from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F

__all__ = ["AUGMENTATIONS", "augment_batch", "Augmenter"]

#: Policies and the probability of each transformation.
AUGMENTATIONS: Dict[str, Dict[str, float]] = {
    "none": {},
    "scanner": {"affine": 0.5, "stroke": 0.3, "blur": 0.3, "intensity": 0.5, "binarize": 0.2},
}


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _affine(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    angle = _uniform(b, -5.0, 5.0, g) * math.pi / 180
    scale = _uniform(b, 0.9, 1.1, g)
    shear = _uniform(b, -0.1, 0.1, g)
    tx, ty = _uniform(b, -0.03, 0.03, g), _uniform(b, -0.03, 0.03, g)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    theta = theta.to(device=x.device, dtype=torch.float32)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False).to(x.dtype)


def _stroke(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    # half-strength grey dilation / erosion: a full 3 x 3 erosion would erase the 1-2 pixel strokes
    thicker = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device).view(-1, 1, 1, 1)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return 0.5 * (x + torch.where(thicker, dilated, eroded))


def _blur(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    sigma = _uniform(b, 0.3, 1.2, g).view(b, 1)
    radius = 3
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32).view(1, -1)
    k1 = torch.exp(-0.5 * (taps / sigma) ** 2)
    k1 = k1 / k1.sum(1, keepdim=True)
    kernel = (k1.view(b, -1, 1) * k1.view(b, 1, -1)).view(b, 1, 2 * radius + 1, 2 * radius + 1)
    kernel = kernel.to(device=x.device, dtype=x.dtype)
    out = F.conv2d(x.reshape(1, b, *x.shape[-2:]), kernel, padding=radius, groups=b)
    return out.view_as(x)


def _intensity(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    gamma = torch.exp(_uniform(b, math.log(0.5), math.log(2.0), g)).view(b, 1, 1, 1).to(x.device, x.dtype)
    gain = _uniform(b, 0.5, 1.0, g).view(b, 1, 1, 1).to(x.device, x.dtype)
    return x.clamp(min=0).pow(gamma) * gain


def _binarize(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    level = _uniform(x.shape[0], 0.15, 0.5, g).view(-1, 1, 1, 1).to(x.device, x.dtype)
    peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
    return (x > level * peak).to(x.dtype)


_STEPS = (("affine", _affine), ("stroke", _stroke), ("blur", _blur), ("intensity", _intensity),
          ("binarize", _binarize))


def augment_batch(x: torch.Tensor, generator: torch.Generator, policy: str = "scanner") -> torch.Tensor:
    """Augment a batch of network inputs.

    Parameters
    ----------
    x : Tensor of float, shape (B, 1, h, w)
        Images in [0, 1], background 0 (any device, any memory format).
    generator : torch.Generator
        CPU generator the random choices are drawn from (same stream on every device).
    policy : str
        A key of :data:`AUGMENTATIONS`.

    Returns
    -------
    Tensor
        Same shape, dtype, device and memory format as ``x``, values in [0, 1].
    """
    if policy not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation policy {policy!r}; available: {', '.join(AUGMENTATIONS)}")
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"expected a float batch (B, C, h, w), got {x.dtype} {tuple(x.shape)}")
    probs = AUGMENTATIONS[policy]
    if not probs or x.shape[0] == 0:
        return x
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    out = x.contiguous()
    b = x.shape[0]
    for name, fn in _STEPS:
        p = probs.get(name, 0.0)
        if p <= 0:
            continue
        chosen = torch.rand(b, generator=generator) < p
        changed = fn(out, generator)  # drawn for the whole batch, so the stream does not depend on `chosen`
        out = torch.where(chosen.to(x.device).view(-1, 1, 1, 1), changed, out)
    out = out.clamp_(0.0, 1.0)
    if channels_last:
        out = out.contiguous(memory_format=torch.channels_last)
    return out


class Augmenter:
    """``batch -> batch`` callable for the training loop: augments ``batch.x`` of a (x, y, yforg) batch.

    Parameters
    ----------
    policy : str
        A key of :data:`AUGMENTATIONS`.
    generator : torch.Generator
        CPU generator (save its state with the training state to resume exactly).
    """

    def __init__(self, policy: str, generator: torch.Generator):
        if policy not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation policy {policy!r}; available: {', '.join(AUGMENTATIONS)}")
        self.policy, self.generator = policy, generator

    def __call__(self, batch):
        x, *rest = batch
        return type(batch)(augment_batch(x, self.generator, self.policy), *rest) if hasattr(batch, "_fields") \
            else (augment_batch(x, self.generator, self.policy), *rest)
