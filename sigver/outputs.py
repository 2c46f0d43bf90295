"""The one output rule every command follows (checked before any work starts).

* Outputs are written atomically (:func:`sigver.fileio.atomic_write`): a failed or killed run leaves the
  previous file as it was, and the next run removes what a killed write left behind.
* An existing output is replaced only when it is of the same kind and was written by sigver (recognised by
  its content: a dataset file, a dataset folder, a features file, a user file, ...), when it is empty, or
  with ``--overwrite``.
* A folder is never replaced wholesale, and never one that holds anything sigver did not write (not even
  with ``--overwrite``).
* An output that is also an input (or a folder holding an input) is refused.
* The output's folder must exist and be writable, and hold at least a rough estimate of the output's size.

:func:`check_output` applies these rules and raises :class:`OutputError` (one line naming the flag).
"""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Union

from .errors import SigverError
from .fileio import clean_leftovers

__all__ = ["OutputError", "check_output", "recognise", "KINDS", "DATASET_KEYS"]

PathLike = Union[str, os.PathLike]

#: arrays of a dataset (``<key>.npy`` in a dataset folder, ``<key>.npy`` members of a dataset ``.npz``)
DATASET_KEYS = ("x", "y", "yforg", "filenames", "user_mapping")


class OutputError(SigverError, ValueError):
    """An output path that would lose data, or cannot be written."""


def _npz_members(path: Path) -> Optional[set]:
    try:
        with zipfile.ZipFile(path) as z:
            return {n[:-4] for n in z.namelist() if n.endswith(".npy")}
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def _npz_with(*keys: str) -> Callable[[Path], bool]:
    def check(path: Path) -> bool:
        members = _npz_members(path)
        return members is not None and all(k in members for k in keys)
    return check


def _is_npy(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(6) == b"\x93NUMPY"
    except OSError:
        return False


def _dataset_folder(path: Path) -> bool:
    """Only the arrays of a dataset (and leftovers of killed writes, which are dot files)."""
    names = [p for p in path.iterdir() if not p.name.startswith(".")]
    allowed = {f"{k}.npy" for k in DATASET_KEYS}
    return all(p.name in allowed and p.is_file() and _is_npy(p) for p in names)


def _json_file(path: Path) -> bool:
    import json

    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


#: kind -> recogniser of an existing file of that kind that sigver wrote
KINDS: Dict[str, Callable[[Path], bool]] = {
    "dataset": _npz_with("x", "y", "yforg"),
    "features": lambda p: _npz_with("y", "yforg")(p) and bool({"features", "feats"} & (_npz_members(p) or set())),
    "user": _npz_with("meta", "support_vectors", "dual_coef"),
    "scores": _npz_with(),
    "json": _json_file,
    "image": lambda p: p.suffix.lower() in (".png", ".pdf", ".svg", ".jpg"),
    "pickle": lambda p: p.open("rb").read(1) == b"\x80",
}

_DESCRIBE = {"dataset": "a dataset file", "features": "a features file", "user": "a user file",
             "scores": "a scores file", "json": "a JSON file", "image": "an image", "pickle": "a pickle file"}


def recognise(path: PathLike, kind: str) -> bool:
    """Whether the existing ``path`` is an output of ``kind`` sigver could have written (or is empty)."""
    path = Path(path)
    if path.is_dir():
        return kind == "dataset" and _dataset_folder(path)
    if path.is_file() and path.stat().st_size == 0:
        return True
    return path.is_file() and KINDS[kind](path)


def _same_or_inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output(path: PathLike, kind: str, flag: str, inputs: Iterable[Optional[PathLike]] = (),
                 overwrite: bool = False, estimate: int = 0, folder: Optional[bool] = None,
                 overwrite_flag: Optional[str] = "--overwrite", create_parents: bool = False) -> Path:
    """Check that ``path`` can take an output of ``kind`` under the output rule; clean up leftovers.

    Parameters
    ----------
    path : path-like
        The output (a file, or a folder where ``folder`` is true; for datasets, a path not ending in ``.npz``).
    kind : str
        One of :data:`KINDS`, or ``'folder'`` for an output folder that files are written into (a run folder,
        plots): it may exist and hold other files; only its being a folder and writable is checked.
    flag : str
        The option that named ``path`` (used in the messages, e.g. ``'--save-path'``).
    inputs : paths
        The inputs of the command (None entries ignored): the output may not be one of them nor hold one.
    overwrite : bool
        Replace an existing file of another kind (never a folder holding foreign files).
    estimate : int
        Rough size of the output in bytes; refused when its file system has less free space.
    folder : bool, optional
        Whether the output is a folder (default: ``kind == 'folder'``, or a dataset path not ending in .npz).
    overwrite_flag : str or None
        How the command spells its overwrite option (None: it has none).
    create_parents : bool
        The command creates missing parent folders (default: only for ``kind='folder'``).

    Returns
    -------
    Path
    """
    path = Path(path)
    if folder is None:
        folder = kind == "folder" or (kind == "dataset" and path.suffix.lower() != ".npz")
    where = f"{flag} {path}" if flag else str(path)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as e:
        raise OutputError(f"{where}: cannot resolve the path ({e})") from None
    for inp in inputs:
        if inp is None:
            continue
        try:
            inp_resolved = Path(inp).resolve()
        except (OSError, RuntimeError):
            continue
        if _same_or_inside(inp_resolved, resolved):
            what = "is" if inp_resolved == resolved else "holds"
            raise OutputError(f"{where}: {what} an input of this command ({inp}); choose another output path")
    # a run / plots folder is created with its parents; any other output needs its folder to exist
    parent = _existing_parent(resolved.parent) if kind == "folder" or create_parents else resolved.parent
    if not parent.is_dir():
        raise OutputError(f"{where}: the folder {path.parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: the folder {path.parent} is not writable; choose another output path")
    if path.exists() or path.is_symlink():
        _check_existing(path, kind, where, folder, overwrite, overwrite_flag)
    if estimate > 0:
        try:
            free = shutil.disk_usage(parent).free
        except OSError:
            free = None
        if free is not None and free < estimate:
            raise OutputError(f"{where}: needs about {_size(estimate)}, only {_size(free)} free in {path.parent}; "
                              f"free some space or choose another output path")
    clean_leftovers(path)
    return path


def _existing_parent(p: Path) -> Path:
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def _check_existing(path: Path, kind: str, where: str, folder: bool, overwrite: bool,
                    overwrite_flag: Optional[str]) -> None:
    if kind == "folder":
        if not path.is_dir():
            raise OutputError(f"{where}: exists and is not a folder; give a folder path")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"{where}: the folder is not writable; choose another output path")
        return
    if folder:
        if not path.is_dir():
            raise OutputError(f"{where}: exists and is not a folder; give a folder path, or a path ending in "
                              f".npz for a file")
        if not _dataset_folder(path):
            raise OutputError(f"{where}: the folder holds files sigver did not write; it is never replaced "
                              f"(give a new or empty folder, or a path ending in .npz)")
        return
    if path.is_dir():
        raise OutputError(f"{where}: is a folder; give the path of the file to write")
    if recognise(path, kind) or overwrite:
        return
    how = f"pass {overwrite_flag} to replace it" if overwrite_flag else "remove it first"
    raise OutputError(f"{where}: exists and is not {_DESCRIBE[kind]} sigver wrote; {how}, or choose another "
                      f"output path")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover
