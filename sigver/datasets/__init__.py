"""Datasets: the one dataset file format and its loader, raw-folder readers, synthetic signatures.

- :func:`load_dataset` / :func:`save_dataset` / :class:`DatasetWriter`: the ``.npz`` (or ``.npy`` folder)
  format shared by every stage (see ``sigver/datasets/format.py``).
- :data:`available_datasets` / :func:`get_dataset`: readers of raw dataset folders.
- ``python -m sigver.datasets.synthetic``: the built-in synthetic signature generator.
"""
from .base import IterableDataset, SignatureDataset
from .format import (
    DatasetWriter,
    SignatureData,
    get_subset,
    load_dataset,
    remove_forgeries,
    save_dataset,
)
from .registry import available_datasets, get_dataset

__all__ = [
    "SignatureData", "load_dataset", "save_dataset", "DatasetWriter", "get_subset", "remove_forgeries",
    "SignatureDataset", "IterableDataset", "available_datasets", "get_dataset",
    "SyntheticSignatures", "generate_dataset",
]


def __getattr__(name):
    # lazy, so that ``python -m sigver.datasets.synthetic`` does not find its module already imported
    if name in ("SyntheticSignatures", "generate_dataset"):
        from . import synthetic

        return getattr(synthetic, name)
    if name == "process_dataset_images":  # the original's helper (sigver.datasets.util)
        from .util import process_dataset_images

        return process_dataset_images
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
