"""Former home of device-side batching, now :mod:`sigver.training.batching` (this module re-exports it), and
the original's ``extract_features`` / ``TransformDataset`` import path."""
import numpy as np
import torch

from ..training.batching import *  # noqa: F401,F403
from ..training.batching import __all__ as _batching_all

__all__ = list(_batching_all) + ["extract_features", "TransformDataset"]


def extract_features(*args, **kwargs) -> np.ndarray:
    """``sigver.featurelearning.data.extract_features``, the original's import path, with either call.

    ``extract_features(model, x, ...)`` is :func:`sigver.featurelearning.extract_features`; the original's
    ``extract_features(x, process_function, batch_size, input_size=None)`` is
    :func:`sigver.featurelearning.features.extract_features_with`.
    """
    from . import features

    if (args and isinstance(args[0], torch.nn.Module)) or "model" in kwargs:
        return features.extract_features(*args, **kwargs)
    return features.extract_features_with(*args, **kwargs)


class TransformDataset(torch.utils.data.Dataset):
    """The original's ``TransformDataset``: a map-style dataset whose items' element ``transform_index``
    goes through ``transform`` (for per-sample transforms in a ``DataLoader``; this library's training crops
    whole batches on the device instead, :class:`DeviceBatches`)."""

    def __init__(self, dataset, transform, transform_index: int = 0):
        self.dataset, self.transform, self.transform_index = dataset, transform, int(transform_index)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        data = list(self.dataset[item])
        data[self.transform_index] = self.transform(data[self.transform_index])
        return tuple(data)
