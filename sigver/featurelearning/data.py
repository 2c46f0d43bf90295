"""Former home of device-side batching, now :mod:`sigver.training.batching` (this module re-exports it)."""
from ..training.batching import (  # noqa: F401
    VAL_FRACTION,
    Batch,
    DataSplitError,
    DeviceBatches,
    as_generator,
    crop_batch,
    split_indices,
)

__all__ = ["Batch", "DeviceBatches", "crop_batch", "split_indices", "DataSplitError", "as_generator",
           "VAL_FRACTION"]
