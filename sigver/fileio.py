"""Atomic file writing shared by every stage (dataset files, checkpoints, results).

A file is written to a temporary name beside its target and renamed over it only once complete, so an
interrupted or failed run never leaves a partial file and never destroys the previous one.

Temporary names are ``.<target name>.<pid>-<random>.tmp`` (``.old`` for a folder being swapped out): a run
that was killed while writing leaves one behind, and the next write to the same target removes it
(:func:`clean_leftovers`) once the process that made it is gone.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, List, Union

__all__ = ["atomic_write", "default_mode", "temp_prefix", "clean_leftovers", "file_sha256"]

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[^.]*\.(?:tmp|old)$")


def default_mode(is_dir: bool = False) -> int:
    """Permissions a plain ``open`` / ``mkdir`` gives under the current umask (``mkstemp`` leaves 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if is_dir else 0o666) & ~umask


def temp_prefix(path: Union[str, os.PathLike]) -> str:
    """Prefix of the temporary names of a write to ``path`` by this process (see :func:`clean_leftovers`)."""
    return f".{Path(path).name}.{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_leftovers(path: Union[str, os.PathLike]) -> List[Path]:
    """Remove the temporary files and folders that killed writes to ``path`` left beside it.

    Only names of the form ``.<name>.<pid>-<random>.tmp`` / ``.old`` whose process no longer runs are removed
    (a write in progress in another process is left alone). Returns the removed paths.
    """
    path = Path(path)
    removed = []
    try:
        entries = list(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        return removed
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m is None or m.group("name") != path.name or _alive(int(m.group("pid"))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def atomic_write(path: Union[str, os.PathLike], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file is flushed and fsync'ed before the rename and gets the usual umask permissions. On any
    exception the temporary file is removed and ``path`` is left as it was. Leftovers of earlier killed
    writes to ``path`` are removed first.
    """
    path = Path(path)
    clean_leftovers(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
