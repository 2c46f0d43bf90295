"""Reader of the MCYT-75 offline signature corpus (registry key ``mcyt``).

Layout (docs/formats.md)::

    <path>/0000/0000v00.bmp     genuine signatures: names starting with "<writer>v"
    <path>/0000/0000f00.bmp     skilled forgeries: names containing "<writer>f"
    <path>/0001/...

One sub-folder per writer, named with the writer id on 4 digits.
"""
from __future__ import annotations

import os
from typing import Dict, List

from ..errors import DatasetLayoutError
from .base import SignatureDataset
from .images import is_image_file, numeric_subfolders, require_dataset_folder

__all__ = ["MCYTDataset"]


class MCYTDataset(SignatureDataset):
    """MCYT-75 (75 writers, 15 genuine and 15 skilled forgeries each).

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding one sub-folder per writer (``0000/``, ``0001/``, ...).

    Notes
    -----
    Writers are the integer values of the numeric sub-folder names, in the order of the names sorted as strings
    (as the original). In the folder of writer ``0003``, genuine signatures are the image files whose lower-case
    name starts with ``0003v`` and skilled forgeries those whose lower-case name contains ``0003f``; each list
    is sorted by name. Other entries are ignored.
    """

    maxsize = (600, 850)
    genuine_per_user = 15
    skilled_per_user = 15
    simple_per_user = 0

    reader_name = "mcyt"
    layout = "one sub-folder per writer (<path>/0000/) holding 0000v00.bmp (genuine) and 0000f00.bmp (forgeries)"

    def __init__(self, path):
        self.path = require_dataset_folder(path, self.reader_name, self.layout)
        folders: Dict[int, str] = {}
        for name in numeric_subfolders(self.path):
            folders.setdefault(int(name), name)
        if not folders:
            raise DatasetLayoutError(
                f"no writer folders in {self.path}; the {self.reader_name} reader expects {self.layout}"
            )
        self._folders = folders

    def get_user_list(self) -> List[int]:
        """Writer ids (ints) in the order of the folder names sorted as strings."""
        return list(self._folders)

    def _files(self, user):
        try:
            name = self._folders[int(user)]
        except (KeyError, ValueError, TypeError):
            raise DatasetLayoutError(f"writer {user!r} not found in {self.path}") from None
        folder = os.path.join(self.path, name)
        files = sorted(n for n in os.listdir(folder) if is_image_file(n))
        return folder, name.lower(), files

    def list_genuine(self, user) -> List[str]:
        """Paths of the genuine signatures (``NNNNv*``) of ``user``, sorted by name."""
        folder, key, files = self._files(user)
        return [os.path.join(folder, n) for n in files if n.lower().startswith(key + "v")]

    def list_skilled(self, user) -> List[str]:
        """Paths of the skilled forgeries (names containing ``NNNNf``) of ``user``, sorted by name."""
        folder, key, files = self._files(user)
        return [os.path.join(folder, n) for n in files if (key + "f") in n.lower()]
