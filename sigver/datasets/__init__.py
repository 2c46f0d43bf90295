"""Datasets: the one dataset file format and its loader, raw-folder readers, synthetic signatures.

- :func:`load_dataset` / :func:`save_dataset` / :class:`DatasetWriter`: the ``.npz`` (or ``.npy`` folder)
  format shared by every stage (see ``sigver/datasets/format.py``).
- :func:`load_features` / :func:`save_features`: feature files (features extracted once, read by later stages).
- :data:`available_datasets` / :func:`get_dataset`: readers of raw dataset folders.
- ``python -m sigver.datasets.synthetic``: the built-in synthetic signature generator.
"""
from .base import IterableDataset, SignatureDataset
from .features import FeatureFileError, load_features, save_features
from .format import (
    DatasetWriter,
    SignatureData,
    get_subset,
    load_dataset,
    merge_datasets,
    remove_forgeries,
    sample_per_writer,
    save_dataset,
)
from .registry import available_datasets, get_dataset

__all__ = [
    "load_features",
    "save_features",
    "FeatureFileError",
    "SignatureData", "load_dataset", "save_dataset", "merge_datasets", "DatasetWriter", "get_subset", "remove_forgeries", "sample_per_writer",
    "SignatureDataset", "IterableDataset", "available_datasets", "get_dataset",
    "SyntheticSignatures", "generate_dataset",
]


def __getattr__(name):
    # lazy: the generator (scipy, the simulation) is only imported when used
    if name in ("SyntheticSignatures", "generate_dataset"):
        from . import synthetic_write

        return getattr(synthetic_write, name)
    if name == "process_dataset_images":  # the original's helper (sigver.datasets.util)
        from .util import process_dataset_images

        return process_dataset_images
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
