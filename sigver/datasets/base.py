"""The base class of every dataset reader (raw folder of signature images -> items to pre-process).

A reader lists, for each writer, its *items* (usually file paths) of genuine signatures, skilled forgeries
and simple forgeries, and knows how to load one item as a grayscale uint8 image (dark ink on light paper).
Listing and loading are separate so that ``process_dataset`` can hand items to worker processes; readers
must therefore be picklable (keep only plain attributes such as the root path).

The original code's iterator interface (``iter_genuine(user)`` yielding ``(image, filename)``) is kept on
top of it for compatibility.
"""
from __future__ import annotations

import os
from typing import Any, Hashable, Iterator, List, Sequence, Tuple

import numpy as np

__all__ = ["IterableDataset", "SignatureDataset"]


class SignatureDataset:
    """Abstract reader of a raw signature dataset.

    Subclasses set :attr:`maxsize` (the canvas ``(height, width)`` in pixels used to centre signatures,
    docs/formats.md), the nominal counts per writer, and implement :meth:`get_user_list` and the ``list_*``
    methods. The nominal counts are used only to size buffers; readers must cope with writers that have
    fewer (or more) files than declared.
    """

    #: canvas (height, width) used by pre-processing to centre the signatures of this dataset
    maxsize: Tuple[int, int] = (952, 1360)
    genuine_per_user: int = 0
    skilled_per_user: int = 0
    simple_per_user: int = 0

    # -- to implement -------------------------------------------------------------------------------
    def get_user_list(self) -> List[Hashable]:
        """Writer ids in processing order (ints for the public datasets, strings for ``folder``)."""
        raise NotImplementedError

    def list_genuine(self, user) -> List[Any]:
        """Items (usually absolute file paths) of the genuine signatures of ``user``, in reader order."""
        raise NotImplementedError

    def list_skilled(self, user) -> List[Any]:
        """Items of the skilled forgeries of ``user``."""
        return []

    def list_simple(self, user) -> List[Any]:
        """Items of the simple forgeries of ``user`` (only the Brazilian PUC-PR set has them)."""
        return []

    # -- defaults for file-based readers ------------------------------------------------------------
    def load(self, item) -> np.ndarray:
        """Load one item as a 2-D uint8 grayscale image, dark ink on light background."""
        from .images import read_image

        return read_image(item)

    def item_name(self, item) -> str:
        """The file name stored in the dataset file for this item (base name, as in the original)."""
        return os.path.basename(str(item))

    # -- the original iterator interface ------------------------------------------------------------
    def _iter(self, items: Sequence[Any]) -> Iterator[Tuple[np.ndarray, str]]:
        for item in items:
            yield self.load(item), self.item_name(item)

    def iter_genuine(self, user) -> Iterator[Tuple[np.ndarray, str]]:
        return self._iter(self.list_genuine(user))

    def iter_forgery(self, user) -> Iterator[Tuple[np.ndarray, str]]:
        return self._iter(self.list_skilled(user))

    def iter_simple_forgery(self, user) -> Iterator[Tuple[np.ndarray, str]]:
        return self._iter(self.list_simple(user))

    def __repr__(self) -> str:
        root = getattr(self, "path", None)
        return f"{type(self).__name__}({root!r})" if root is not None else f"{type(self).__name__}()"


#: the original name of the base class (``sigver.datasets.base.IterableDataset``)
IterableDataset = SignatureDataset
