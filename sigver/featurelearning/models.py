"""The SigNet family of feature extractors (docs/formats.md) and a timm-like registry.

Each architecture is declared as two tables: the convolutional blocks (``conv`` -> ``bn`` -> ``relu``, or a
3x3 stride-2 max-pool) and the fully-connected blocks (``fc`` -> ``bn`` -> ``relu``). The module names are
those of the original code, so ``state_dict()`` keys and shapes are identical and the published ``.pth``
weights load with ``strict=True``.

Input: ``N x 1 x 150 x 220`` float in [0, 1] (pre-processed uint8 / 255, background 0). Output: the
post-ReLU features of the last fc block, ``N x feature_space_size``.

The classification heads (writer identity and, for SigNet-F, forgery) are not part of the model: they are
separate ``nn.Linear`` layers with their own state dicts (docs/formats.md); :func:`make_heads` builds them.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Type

import torch
from torch import nn

from ..errors import SigverError
from ..shapes import INPUT_SIZE as _INPUT_SIZE

__all__ = [
    "SigNet",
    "SigNet_thin",
    "SigNet_smaller",
    "SigNetFamily",
    "available_models",
    "create_model",
    "model_name",
    "make_heads",
    "INPUT_SIZE",
]

#: ``(height, width)`` of the model input (the centre crop of the stored 170 x 242 images); see
#: :mod:`sigver.shapes`.
INPUT_SIZE: Tuple[int, int] = _INPUT_SIZE

# (name, out_channels, kernel, stride, padding) for a conv-bn-relu block; (name,) for a 3x3/2 max-pool.
ConvSpec = Tuple
# (name, out_features) for a linear-bn-relu block.
FcSpec = Tuple[str, int]


def _conv_block(in_channels: int, out_channels: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
    """``Conv2d`` (no bias) -> ``BatchNorm2d`` -> ``ReLU``, children named ``conv``, ``bn``, ``relu``."""
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)),
        ("bn", nn.BatchNorm2d(out_channels)),
        ("relu", nn.ReLU()),
    ]))


def _fc_block(in_features: int, out_features: int) -> nn.Sequential:
    """``Linear`` (no bias) -> ``BatchNorm1d`` -> ``ReLU``, children named ``fc``, ``bn``, ``relu``."""
    return nn.Sequential(OrderedDict([
        ("fc", nn.Linear(in_features, out_features, bias=False)),
        ("bn", nn.BatchNorm1d(out_features)),
        ("relu", nn.ReLU()),
    ]))


def _output_hw(size: Tuple[int, int], kernel: int, stride: int, padding: int) -> Tuple[int, int]:
    return tuple((s + 2 * padding - kernel) // stride + 1 for s in size)


class SigNetFamily(nn.Module):
    """Base class: builds ``conv_layers`` and ``fc_layers`` from the class tables ``convs`` and ``fcs``.

    Subclasses only declare the tables. Attributes
    ----------
    feature_space_size : int
        Size of the output features (out features of the last fc block).
    input_size : (int, int)
        ``(150, 220)``: the only input size the fc layers accept.
    """

    convs: Sequence[ConvSpec] = ()
    fcs: Sequence[FcSpec] = ()
    input_size: Tuple[int, int] = INPUT_SIZE

    def __init__(self) -> None:
        super().__init__()
        conv_layers, channels, hw = OrderedDict(), 1, self.input_size
        for spec in self.convs:
            if len(spec) == 1:
                conv_layers[spec[0]] = nn.MaxPool2d(3, 2)
                hw = _output_hw(hw, 3, 2, 0)
            else:
                name, out, kernel, stride, padding = spec
                conv_layers[name] = _conv_block(channels, out, kernel, stride, padding)
                channels, hw = out, _output_hw(hw, kernel, stride, padding)
        self.conv_layers = nn.Sequential(conv_layers)

        fc_layers, features = OrderedDict(), channels * hw[0] * hw[1]
        self.flat_size = features
        for name, out in self.fcs:
            fc_layers[name] = _fc_block(features, out)
            features = out
        self.fc_layers = nn.Sequential(fc_layers)
        self.feature_space_size = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch.

        Parameters
        ----------
        x : Tensor of float, shape (N, 1, 150, 220)
            Pre-processed images scaled to [0, 1] (uint8 / 255), background 0.

        Returns
        -------
        Tensor of float, shape (N, feature_space_size)
            Post-ReLU output of the last fc block.
        """
        if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != tuple(self.input_size):
            raise ValueError(f"{type(self).__name__} expects input of shape (N, 1, {self.input_size[0]}, "
                             f"{self.input_size[1]}), got {tuple(x.shape)}; centre-crop the stored images first")
        x = self.conv_layers(x)
        x = torch.flatten(x, 1)  # row-major (C, H, W), as the original's view(N, C*H*W)
        return self.fc_layers(x)


class SigNet(SigNetFamily):
    """SigNet (Hafemann et al., 2017): 5 conv blocks, 3 max-pools, 2 fc blocks; 2048-d features.

    15,792,160 trainable parameters; ``state_dict`` keys as docs/formats.md (42 entries).
    """

    convs = (
        ("conv1", 96, 11, 4, 0), ("maxpool1",),
        ("conv2", 256, 5, 1, 2), ("maxpool2",),
        ("conv3", 384, 3, 1, 1),
        ("conv4", 384, 3, 1, 1),
        ("conv5", 256, 3, 1, 1), ("maxpool3",),
    )
    fcs = (("fc1", 2048), ("fc2", 2048))


class SigNet_thin(SigNetFamily):  # noqa: N801 - the original's name
    """SigNet with 128 channels after conv1 and 1024-d fc layers (docs/formats.md); 3,781,152 parameters."""

    convs = (
        ("conv1", 96, 11, 4, 0), ("maxpool1",),
        ("conv2", 128, 5, 1, 2), ("maxpool2",),
        ("conv3", 128, 3, 1, 1),
        ("conv4", 128, 3, 1, 1),
        ("conv5", 128, 3, 1, 1), ("maxpool3",),
    )
    fcs = (("fc1", 1024), ("fc2", 1024))


class SigNet_smaller(SigNetFamily):  # noqa: N801 - the original's name
    """SigNet without conv4 and fc2 (docs/formats.md; the last conv block keeps the name ``conv5``); 10,265,888 parameters."""

    convs = (
        ("conv1", 96, 11, 4, 0), ("maxpool1",),
        ("conv2", 256, 5, 1, 2), ("maxpool2",),
        ("conv3", 384, 3, 1, 1),
        ("conv5", 256, 3, 1, 1), ("maxpool3",),
    )
    fcs = (("fc1", 2048),)


#: Registry of architectures, name -> class (the original's ``available_models``).
available_models: Dict[str, Type[SigNetFamily]] = {
    "signet": SigNet,
    "signet_thin": SigNet_thin,
    "signet_smaller": SigNet_smaller,
}


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name.

    Parameters
    ----------
    name : str
        A key of :data:`available_models` (``signet``, ``signet_thin``, ``signet_smaller``).
    **kwargs
        Passed to the model's constructor.

    Raises
    ------
    SigverError
        Unknown name; the message lists the available ones.
    """
    try:
        cls = available_models[name]
    except (KeyError, TypeError):
        raise SigverError(f"unknown model {name!r}; available models: {', '.join(available_models)}") from None
    return cls(**kwargs)


def model_name(model: nn.Module) -> Optional[str]:
    """Registry name of ``model``'s class (exact type match), or ``None`` when it is not registered."""
    for name, cls in available_models.items():
        if type(model) is cls:
            return name
    return None


def make_heads(feature_space_size: int, num_classes: int, forg: bool = False
               ) -> Tuple[nn.Linear, Optional[nn.Linear]]:
    """The classification heads trained on top of the features (docs/formats.md).

    Parameters
    ----------
    feature_space_size : int
        Size of the model's features (``model.feature_space_size``).
    num_classes : int
        Number of writers in the training set.
    forg : bool, default False
        Also build the forgery head (SigNet-F).

    Returns
    -------
    classification_layer : nn.Linear, ``feature_space_size -> num_classes``
        State dict keys ``weight`` (num_classes, feature_space_size) and ``bias`` (num_classes,).
    forg_layer : nn.Linear ``feature_space_size -> 1``, or None
        One logit (positive = forgery); ``None`` unless ``forg``.
    """
    for value, what in ((feature_space_size, "feature_space_size"), (num_classes, "num_classes")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive integer, got {value!r}")
    classification_layer = nn.Linear(feature_space_size, num_classes)
    forg_layer = nn.Linear(feature_space_size, 1) if forg else None
    return classification_layer, forg_layer
