"""Reader of the Brazilian PUC-PR signature database (registry keys ``brazilian`` and ``brazilian-nosimple``).

Layout (docs/formats.md): one flat folder of files ``a{writer:03d}_{number:02d}.{ext}``::

    <path>/a001_01.jpg ... a001_40.jpg    genuine signatures (numbers 1-40)
    <path>/a001_41.jpg ... a001_50.jpg    simple forgeries (41-50)
    <path>/a001_51.jpg ... a001_60.jpg    skilled forgeries (51-60)

168 writers; only writers 1-60 have forgeries.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Tuple

from ..errors import DatasetLayoutError
from .base import SignatureDataset
from .images import is_image_file, natural_key, require_dataset_folder

__all__ = ["BrazilianDataset", "BrazilianDatasetWithoutSimpleForgeries"]

_NAME = re.compile(r"^a(\d+)_(\d+)\.([^.]+)$", re.IGNORECASE)

_GENUINE = range(1, 41)
_SIMPLE = range(41, 51)
_SKILLED = range(51, 61)


class BrazilianDataset(SignatureDataset):
    """Brazilian PUC-PR: genuine signatures, simple and skilled forgeries (registry key ``brazilian``).

    Parameters
    ----------
    path : str or os.PathLike
        The flat folder of ``aUUU_NN.<ext>`` files.
    file_extension : str, default 'jpg'
        Extension of the files to read (compared case-insensitively; ``'jpg'`` also matches ``.JPG``).

    Notes
    -----
    Writers are the numbers found in the file names, sorted numerically (the original assumed 1..168). Each
    list is ordered by signature number. Files with another extension, or whose number is outside 1-60, are
    ignored.
    """

    maxsize = (700, 1000)
    genuine_per_user = 40
    skilled_per_user = 10
    simple_per_user = 10

    reader_name = "brazilian"
    layout = "one flat folder of files a001_01.jpg (genuine 01-40, simple forgeries 41-50, skilled forgeries 51-60)"

    def __init__(self, path, file_extension: str = "jpg"):
        self.path = require_dataset_folder(path, self.reader_name, self.layout)
        self.file_extension = str(file_extension).lstrip(".")
        wanted = self.file_extension.lower()
        files: Dict[int, List[Tuple[int, str]]] = {}
        other_ext = set()
        for name in os.listdir(self.path):
            m = _NAME.match(name)
            if not m or not is_image_file(name):
                continue
            if m.group(3).lower() != wanted:
                other_ext.add(m.group(3).lower())
                continue
            files.setdefault(int(m.group(1)), []).append((int(m.group(2)), name))
        if not files:
            hint = ""
            if other_ext:
                hint = f" (found files with extension {', '.join(sorted(other_ext))}: pass file_extension=" \
                       f"{sorted(other_ext)[0]!r})"
            raise DatasetLayoutError(
                f"no a001_01.{self.file_extension} files in {self.path}{hint}; "
                f"the {self.reader_name} reader expects {self.layout}"
            )
        self._files = {
            u: sorted(v, key=lambda t: (t[0], natural_key(t[1]))) for u, v in files.items()
        }
        self._users = self._select_users(sorted(files))
        if not self._users:
            raise DatasetLayoutError(
                f"no writers 1-60 in {self.path}; the {self.reader_name} reader expects {self.layout}"
            )

    @staticmethod
    def _select_users(users: List[int]) -> List[int]:
        return users

    def get_user_list(self) -> List[int]:
        """Writer ids (ints), sorted."""
        return list(self._users)

    def _list(self, user, numbers: range) -> List[str]:
        return [os.path.join(self.path, name) for idx, name in self._files.get(int(user), []) if idx in numbers]

    def list_genuine(self, user) -> List[str]:
        """Paths of signatures 01-40 of ``user``."""
        return self._list(user, _GENUINE)

    def list_skilled(self, user) -> List[str]:
        """Paths of signatures 51-60 of ``user`` (skilled forgeries)."""
        return self._list(user, _SKILLED)

    def list_simple(self, user) -> List[str]:
        """Paths of signatures 41-50 of ``user`` (simple forgeries)."""
        return self._list(user, _SIMPLE)


class BrazilianDatasetWithoutSimpleForgeries(BrazilianDataset):
    """Brazilian PUC-PR restricted to writers 1-60 (those with forgeries), without the simple forgeries.

    Registry key ``brazilian-nosimple``; same parameters and layout as :class:`BrazilianDataset`.
    """

    simple_per_user = 0
    reader_name = "brazilian-nosimple"

    @staticmethod
    def _select_users(users: List[int]) -> List[int]:
        # as the original: only the first 60 writers, who have skilled forgeries
        return [u for u in users if 1 <= u <= 60]

    def list_simple(self, user) -> List[str]:
        """No simple forgeries in this variant: always empty."""
        return []
