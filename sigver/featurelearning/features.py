"""Feature extraction: stored uint8 images -> model features, batch by batch."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..cli import default_device
from .models import INPUT_SIZE

__all__ = ["extract_features", "extract_features_with", "CROPS", "feature_layers", "feature_size",
           "features_module", "LayerTap"]

#: Test-time crops of :func:`extract_features`: ``center`` (the original's), or ``five`` (the centre and the
#: four corners, features averaged).
CROPS = ("center", "five")


def _model_device(model: nn.Module) -> Optional[torch.device]:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return None


def feature_layers(model: nn.Module) -> Tuple[str, ...]:
    """Names of the fc blocks whose output :func:`extract_features` can return (``layer=``), in order; the
    last one is the model's own output. Empty for a model without ``conv_layers`` / ``fc_layers``."""
    fc = getattr(model, "fc_layers", None)
    if not isinstance(fc, nn.Sequential) or not isinstance(getattr(model, "conv_layers", None), nn.Module):
        return ()
    return tuple(name for name, _ in fc.named_children())


def feature_size(model: nn.Module, layer: Optional[str] = None) -> int:
    """Width of the features :func:`extract_features` returns for ``layer`` (default: the model's output,
    ``model.feature_space_size``)."""
    if layer is None:
        return int(model.feature_space_size)
    features_module(model, layer)  # the one check of the name, with its message
    return int(dict(model.fcs)[layer])


class LayerTap:
    """The output of one fc block of a SigNet-family model, kept at each forward pass of the model (a forward
    hook): a training step gets an inner layer's features (e.g. ``fc1``) from the same forward pass that gives
    the model's output, gradients included.

    Parameters
    ----------
    model : nn.Module
        A SigNet-family model.
    layer : str, optional
        One of :func:`feature_layers`; default: the model's output (its last fc block).
    """

    def __init__(self, model: nn.Module, layer: Optional[str] = None):
        names = feature_layers(model)
        if layer is None and names:
            layer = names[-1]
        features_module(model, layer)  # the one check of the name, with its message
        self.layer = layer
        self.output: Optional[torch.Tensor] = None
        self._handle = getattr(model.fc_layers, layer).register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        self.output = output

    def remove(self) -> None:
        """Detach the hook from the model."""
        self._handle.remove()


class _UpTo(nn.Module):
    """The conv layers and the first fc blocks of a SigNet-family model, up to one of them (shared weights)."""

    def __init__(self, model: nn.Module, n_blocks: int):
        super().__init__()
        self.conv_layers = model.conv_layers
        self.fc_layers = nn.Sequential(*list(model.fc_layers.children())[:n_blocks])

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.fc_layers(torch.flatten(self.conv_layers(batch), 1))


def features_module(model: nn.Module, layer: Optional[str] = None) -> nn.Module:
    """``model``, or (``layer``) a module sharing its weights that returns the post-ReLU output of that fc block
    of a SigNet-family model (what :func:`extract_features` returns with ``layer=``; ONNX export uses it)."""
    if layer is None:
        return model
    names = feature_layers(model)
    if layer not in names:
        raise ValueError(f"layer {layer!r}: the {type(model).__name__} model has "
                         + (f"the feature layers {', '.join(names)}" if names else "no named fc layers")
                         + "; leave it out for the model's output")
    if layer == names[-1]:
        return model
    return _UpTo(model, names.index(layer) + 1)


def extract_features(model: nn.Module, x: Union[np.ndarray, torch.Tensor], batch_size: int = 256,
                     device: Union[str, torch.device, None] = None,
                     input_size: Tuple[int, int] = INPUT_SIZE, progress: bool = False,
                     layer: Optional[str] = None, crops: str = "center") -> np.ndarray:
    """Features of a set of pre-processed images.

    Each batch is centre-cropped to ``input_size`` (offsets ``(H - h) // 2``, ``(W - w) // 2``, as the
    original's validation ``CenterCrop``), moved to ``device`` as uint8, scaled to [0, 1] there and fed to
    the model in eval mode under ``torch.inference_mode``. Only one batch is copied at a time, so ``x`` may
    be a memory-mapped dataset larger than memory.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, 1, h, w)`` float in [0, 1] to ``(B, D)`` features (e.g. ``SigNet``). Its train/eval mode
        and its device are restored when the call returns.
    x : ndarray or Tensor of uint8, shape (N, 1, H, W) or (N, H, W)
        Inverted pre-processed images (background 0), e.g. ``load_dataset(path).x`` (170 x 242);
        ``H >= h`` and ``W >= w``.
    batch_size : int, default 256
        Images per forward pass; does not change the result.
    device : str or torch.device, optional
        Where to compute; default ``cuda`` when available, else ``cpu``.
    input_size : (int, int), default (150, 220)
        ``(h, w)`` of the centre crop fed to the model.
    progress : bool, default False
        Show a tqdm progress bar.
    layer : str, optional
        An fc block of a SigNet-family model (:func:`feature_layers`, e.g. ``"fc1"``) whose post-ReLU output
        is returned instead of the model's output (default: the model's output, the last block).
    crops : {"center", "five"}, default "center"
        ``five``: the features of the centre crop and of the four corner crops ``input_size`` of each image,
        averaged (test-time augmentation; five forward passes).

    Returns
    -------
    ndarray of float32, shape (N, D)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if x.ndim == 3:
        x = x[:, None]
    dtype_ok = x.dtype == (torch.uint8 if isinstance(x, torch.Tensor) else np.uint8)
    if not dtype_ok or x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be uint8 images of shape (N, 1, H, W) with values 0..255, got {x.dtype} "
                         f"{tuple(x.shape)}")
    h, w = int(input_size[0]), int(input_size[1])
    H, W = int(x.shape[2]), int(x.shape[3])
    if h > H or w > W:
        from ..errors import ImageSizeError

        raise ImageSizeError(f"images of {H} x {W} pixels are smaller than the model input {h} x {w}; "
                             f"pre-process them to at least that size (process_dataset --image-size)")
    if crops not in CROPS:
        raise ValueError(f"crops must be one of {', '.join(CROPS)}, got {crops!r}")
    centre = ((H - h) // 2, (W - w) // 2)
    # centre only: the crop is taken before the copy to the device (only it travels); five crops: the whole
    # images travel once and the crops are taken there
    window = None if crops == "five" else centre
    offsets = [centre, (0, 0), (0, W - w), (H - h, 0), (H - h, W - w)] if crops == "five" else [(0, 0)]
    forward = features_module(model, layer)

    device = torch.device(device if device is not None else default_device())
    was_training, old_device = model.training, _model_device(model)
    n = int(x.shape[0])
    starts = range(0, n, int(batch_size))
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="features", unit="batch")
    out = None
    try:
        model.to(device).eval()
        with torch.inference_mode():
            for start in starts:
                images = x[start:start + batch_size] if window is None else \
                    x[start:start + batch_size, :, window[0]:window[0] + h, window[1]:window[1] + w]
                if isinstance(images, np.ndarray):
                    images = torch.from_numpy(np.ascontiguousarray(images))
                images = images.to(device, non_blocking=True)
                feats = None
                for r, c in offsets:
                    crop = forward(images[:, :, r:r + h, c:c + w].float().div_(255))
                    feats = crop if feats is None else feats.add_(crop)
                if len(offsets) > 1:
                    feats.div_(len(offsets))
                if out is None:
                    out = np.empty((n, feats.shape[1]), dtype=np.float32)
                out[start:start + len(feats)] = feats.float().cpu().numpy()
    finally:
        model.train(was_training)
        if old_device is not None and old_device != device:
            model.to(old_device)
    if out is None:  # no images
        size = getattr(model, "feature_space_size", 0)
        out = np.empty((0, size), dtype=np.float32)
    return out


def extract_features_with(x: Union[np.ndarray, torch.Tensor], process_function, batch_size: int,
                          input_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """The original ``extract_features(x, process_function, batch_size, input_size=None)``.

    ``process_function`` gets each batch as the original's data loader gave it, a one-element list
    ``[images]``: with ``input_size`` the images are centre-cropped to it (offsets ``round((H - h) / 2)``,
    ``round((W - w) / 2)``) and scaled to float in [0, 1]; without it they are the stored values as they are.
    Prefer :func:`extract_features` (a model, batches on the device, no Python callback).

    Parameters
    ----------
    x : ndarray or Tensor (N, 1, H, W)
        Stored images (uint8, inverted).
    process_function : callable
        ``[images] -> features`` Tensor (B, D), e.g. ``lambda batch: model(batch[0].to(device))``.
    batch_size : int
    input_size : (int, int), optional

    Returns
    -------
    ndarray (N, D)
        The concatenated outputs, on the CPU.
    """
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    out = []
    with torch.no_grad():
        for start in range(0, len(x), int(batch_size)):
            batch = x[start:start + int(batch_size)]
            if input_size is not None:
                h, w = int(input_size[0]), int(input_size[1])
                top, left = int(round((batch.shape[-2] - h) / 2.0)), int(round((batch.shape[-1] - w) / 2.0))
                batch = batch[..., top:top + h, left:left + w].float().div(255)
            out.append(process_function([batch]))
    return torch.cat(out).cpu().numpy()
