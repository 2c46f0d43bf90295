"""Helpers shared by the command-line entry points: the conventions every ``python -m sigver...`` command follows.

- **Exit codes** (:func:`cli_main`): 0 success; 2 bad input (a :class:`~sigver.errors.SigverError`: one line
  ``error: ...`` on stderr, no traceback; argparse's own usage errors exit 2 too); 130 interrupted (Ctrl-C).
- **--device** (:func:`add_device_arguments`, :func:`resolve_device`): ``cpu``, ``cuda`` or ``cuda:N``;
  default cuda when a GPU is available, else cpu; ``--gpu-idx N`` picks the GPU when ``--device`` names none.
- **--no-progress** (:func:`add_progress_argument`): turns the progress bars off (``args.progress`` False).
- **--overwrite**: a command that writes into a run folder that may already hold a run (training) refuses
  unless ``--overwrite`` (or ``--resume``); single result files are written atomically and replaced.
"""
from __future__ import annotations

import argparse
import errno
import functools
import math
import os
import sys
from typing import Callable, Optional, Sequence

from .errors import SigverError

__all__ = ["cli_main", "run_command", "default_device", "resolve_device", "add_device_arguments", "add_progress_argument",
           "DeviceError", "positive_int", "nonnegative_int", "unit_float", "positive_float",
           "nonnegative_float"]


def cli_main(func: Callable[[Optional[Sequence[str]]], int | None]):
    """Wrap a ``main(argv)`` so that a :class:`SigverError` prints one line and exits with status 2.

    Anything else (a real bug) keeps its traceback. ``KeyboardInterrupt`` exits with 130 quietly.
    """

    @functools.wraps(func)
    def wrapper(argv: Optional[Sequence[str]] = None) -> int:
        try:
            code = func(argv)
        except SigverError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # e.g. `... | head -1`: the reader is gone, nothing to report
            _silence_stdout()
            return 141
        except OSError as e:
            if e.errno not in _ENVIRONMENT_ERRNOS:
                raise
            where = f"{e.filename}: " if e.filename else ""
            print(f"error: {where}cannot write ({e.strerror}); nothing was replaced; free some space or choose "
                  f"another output path", file=sys.stderr)
            return 2
        return 0 if code is None else int(code)

    return wrapper


def run_command(module: str, argv: Sequence[str]) -> int:
    """Run the command ``python -m <module> ARGV`` in this process (its ``main(argv)``) and return its exit
    status: how one command runs another (e.g. the demo runs training then the WD evaluation) without importing
    a command module by name, so that command modules stay leaves."""
    import importlib

    return importlib.import_module(module).main(list(argv))
#: I/O errors caused by the environment (full disk, read-only or forbidden location), not by a bug
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def default_device() -> str:
    """``cuda`` when a GPU is available, else ``cpu`` (the default of every ``--device`` flag)."""
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # pragma: no cover - torch is a hard dependency
        return "cpu"


class DeviceError(SigverError, ValueError):
    """A ``--device`` that cannot be used here (CUDA missing, a name torch does not know)."""


def add_device_arguments(p, gpu_idx: bool = True, help: Optional[str] = None) -> None:
    """``--device`` (and ``--gpu-idx``, the original's flag) on parser or argument group ``p``."""
    p.add_argument("--device", default=None,
                   help=help or "cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    if gpu_idx:
        p.add_argument("--gpu-idx", type=nonnegative_int, default=0,
                       help="GPU index when --device is cuda without an index (default: 0)")


def add_progress_argument(p) -> None:
    """``--no-progress``: no progress bars (``args.progress`` is False)."""
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def resolve_device(name: Optional[str] = None, gpu_idx: int = 0, local_rank: Optional[int] = None):
    """The :class:`torch.device` of a ``--device`` value (the one rule of every command).

    ``name`` None: :func:`default_device`. A CUDA device without an index gets ``local_rank`` (under
    ``torchrun``) or else ``gpu_idx``.

    Raises
    ------
    DeviceError
        An unknown device name, or CUDA asked for where it is not available.
    """
    import torch

    name = name or default_device()
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"--device {name}: not a device (expected cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available here; use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", local_rank if local_rank is not None else gpu_idx)
    return dev


def _int_at_least(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1, "positive")


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0, "non-negative")


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def unit_float(text: str) -> float:
    """argparse type: a number in [0, 1] (a rate such as 0.05, or a loss weight such as 0.95)."""
    value = _float(text, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1] (e.g. 0.05 for 5%), got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _float(text, "a positive number")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (e.g. the weight of a loss term)."""
    value = _float(text, "a number >= 0")
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value
