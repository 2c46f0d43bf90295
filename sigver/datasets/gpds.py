"""Readers of the GPDS signature datasets: GPDS-960 grayscale (``gpds``) and GPDS synthetic (``gpds_synth``).

Layout (docs/formats.md)::

    <path>/001/c-001-01.png     genuine signatures: names starting with "c-"
    <path>/001/cf-001-01.png    skilled forgeries: names starting with "cf"
    <path>/002/...

One sub-folder per writer, named with the writer id zero-padded to at least 3 digits.
"""
from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

from ..errors import DatasetLayoutError
from .base import SignatureDataset
from .images import is_image_file, numeric_subfolders, read_image, require_dataset_folder

__all__ = ["GPDSDataset", "GPDSSynthDataset"]


class GPDSDataset(SignatureDataset):
    """GPDS-960 grayscale ("GPDS-960 corpus", 881 writers used): registry key ``gpds``.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding one sub-folder per writer (``001/``, ``002/``, ...).
    extension : str, default 'png'
        File extension used by :meth:`get_signature` to build a file name. Listing accepts any image extension.

    Notes
    -----
    Writers are the integer values of the numeric sub-folder names, in the order of the folder names sorted as
    strings (as the original code). Genuine signatures are the image files whose name starts with ``c-``,
    skilled forgeries those starting with ``cf`` (case-insensitive), each sorted by name. Non-numeric folders,
    hidden files and non-image files (``Thumbs.db``, ``.DS_Store``) are ignored.
    """

    maxsize = (952, 1360)
    genuine_per_user = 24
    skilled_per_user = 30
    simple_per_user = 0

    reader_name = "gpds"
    layout = "one sub-folder per writer (<path>/001/) holding c-001-01.png (genuine) and cf-001-01.png (forgeries)"

    def __init__(self, path, extension: str = "png"):
        self.path = require_dataset_folder(path, self.reader_name, self.layout)
        self.extension = str(extension).lstrip(".")
        folders: Dict[int, str] = {}
        for name in numeric_subfolders(self.path):
            folders.setdefault(int(name), name)  # "001" and "1" both present: keep the first
        if not folders:
            raise DatasetLayoutError(
                f"no writer folders in {self.path}; the {self.reader_name} reader expects {self.layout}"
            )
        self._folders = folders
        self._users = self._order_users(folders)

    @staticmethod
    def _order_users(folders: Dict[int, str]) -> List[int]:
        # the original iterates os.listdir sorted as strings; numeric_subfolders already sorted them
        return list(folders)

    def get_user_list(self) -> List[int]:
        """Writer ids (ints) in processing order."""
        return list(self._users)

    def _user_dir(self, user) -> str:
        try:
            return os.path.join(self.path, self._folders[int(user)])
        except (KeyError, ValueError, TypeError):
            raise DatasetLayoutError(f"writer {user!r} not found in {self.path}") from None

    def _list(self, user, prefix: str) -> List[str]:
        folder = self._user_dir(user)
        names = [n for n in os.listdir(folder) if is_image_file(n) and n.lower().startswith(prefix)]
        return [os.path.join(folder, n) for n in sorted(names)]

    def list_genuine(self, user) -> List[str]:
        """Paths of the genuine signatures (``c-*``) of ``user``, sorted by name."""
        return self._list(user, "c-")

    def list_skilled(self, user) -> List[str]:
        """Paths of the skilled forgeries (``cf*``) of ``user``, sorted by name."""
        return self._list(user, "cf")

    def get_signature(self, user: int, img_idx: int, forgery: bool) -> np.ndarray:
        """Load one signature by number, as the original ``get_signature``.

        Parameters
        ----------
        user : int
            Writer id.
        img_idx : int
            Signature number (1-based, as in the file name ``c-001-01``).
        forgery : bool
            True for the skilled forgery ``cf-UUU-NN``, False for the genuine ``c-UUU-NN``.

        Returns
        -------
        numpy.ndarray
            uint8 (H, W) image.

        Notes
        -----
        The file is ``{c|cf}-{user:03d}-{img_idx:02d}.{extension}`` inside the writer's folder; when that name
        does not exist, a file with the same stem and another image extension (any case) is used instead.
        """
        folder = self._user_dir(user)
        stem = "{}-{:03d}-{:02d}".format("cf" if forgery else "c", int(user), int(img_idx))
        path = os.path.join(folder, f"{stem}.{self.extension}")
        if not os.path.exists(path):
            for name in sorted(os.listdir(folder)):
                if is_image_file(name) and os.path.splitext(name)[0].lower() == stem:
                    path = os.path.join(folder, name)
                    break
        return read_image(path)


class GPDSSynthDataset(GPDSDataset):
    """GPDS synthetic signatures (10,000 writers): registry key ``gpds_synth``.

    Same layout and file naming as :class:`GPDSDataset`; writers are sorted numerically. The canvas is much
    larger (2078 x 3307), as in continual_sigver.
    """

    maxsize = (2078, 3307)
    genuine_per_user = 24
    skilled_per_user = 30
    simple_per_user = 0

    reader_name = "gpds_synth"

    @staticmethod
    def _order_users(folders: Dict[int, str]) -> List[int]:
        return sorted(folders)
