"""Registry of raw-dataset readers: :data:`available_datasets` and :func:`get_dataset`.

Keys and layouts are those of the original code (docs/formats.md) plus ``bhsig260``, ``sigcomp2011`` and ``folder``::

    >>> from sigver.datasets import get_dataset
    >>> ds = get_dataset("cedar", "/data/CEDAR")          # doctest: +SKIP
    >>> ds.get_user_list()[:3], ds.maxsize                 # doctest: +SKIP
    ([1, 2, 3], (730, 1042))
"""
from __future__ import annotations

import inspect
from typing import Dict, Type

from ..errors import DatasetLayoutError, SigverError
from .base import SignatureDataset
from .bhsig260 import BHSig260Dataset
from .brazilian import BrazilianDataset, BrazilianDatasetWithoutSimpleForgeries
from .cedar import CedarDataset
from .folder import FolderDataset
from .gpds import GPDSDataset, GPDSSynthDataset
from .mcyt import MCYTDataset
from .sigcomp2011 import SigComp2011Dataset

__all__ = ["available_datasets", "get_dataset"]

#: reader classes by registry key (the ``--dataset`` choices of ``process_dataset``)
available_datasets: Dict[str, Type[SignatureDataset]] = {
    "gpds": GPDSDataset,
    "gpds_synth": GPDSSynthDataset,
    "mcyt": MCYTDataset,
    "cedar": CedarDataset,
    "brazilian": BrazilianDataset,
    "brazilian-nosimple": BrazilianDatasetWithoutSimpleForgeries,
    "bhsig260": BHSig260Dataset,
    "sigcomp2011": SigComp2011Dataset,
    "folder": FolderDataset,
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def get_dataset(name: str, path, **options) -> SignatureDataset:
    """Create the reader registered as ``name`` for the raw dataset folder ``path``.

    Parameters
    ----------
    name : str
        A key of :data:`available_datasets` (case and ``-``/``_`` are not significant: ``GPDS-synth`` works).
    path : str or os.PathLike
        The dataset folder, in the layout of that reader (see each reader's docstring).
    **options
        Reader options, e.g. ``file_extension='png'`` for ``brazilian``, ``language='Hindi'`` for ``bhsig260``,
        ``canvas=(H, W)`` for ``folder``.

    Returns
    -------
    SignatureDataset

    Raises
    ------
    SigverError
        Unknown ``name`` (the message lists the valid names) or an option the reader does not take.
    DatasetLayoutError
        ``path`` does not exist, or holds no writer in the expected layout (the message names the path and
        the layout).
    """
    if not isinstance(name, str):
        raise SigverError(f"dataset name must be a string; valid names: {', '.join(available_datasets)}")
    lookup = {_normalise(key): key for key in available_datasets}
    key = lookup.get(_normalise(name))
    if key is None:
        raise SigverError(f"unknown dataset {name!r}; valid names: {', '.join(available_datasets)}")
    cls = available_datasets[key]
    params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "path")]
    unknown = sorted(set(options) - set(params))
    if unknown:
        valid = ", ".join(params) if params else "none"
        raise SigverError(f"dataset {key!r} does not take option(s) {', '.join(unknown)}; its options: {valid}")
    if path is None:
        raise DatasetLayoutError(f"no dataset path given; the {key} reader expects {cls.layout}")
    return cls(path, **options)
