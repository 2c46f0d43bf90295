"""Argument validation: finite numbers, ranges, and what a ``--resume`` changed.

A value outside its valid range is an error naming the flag and the range, never a silent clamp. The
argparse types here (:func:`finite_float`, :func:`float_in`) reject NaN and infinities; :func:`check_range`
checks an ``A B`` pair against the number of items it indexes; :func:`changed_arguments` compares the
arguments of a resumed run with the ones it was started with.
"""
from __future__ import annotations

import argparse
import math
import os
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

from .errors import SigverError

__all__ = ["finite_float", "float_in", "check_range", "check_finite", "changed_arguments", "env_int",
           "NonFiniteError"]


class NonFiniteError(SigverError, ValueError):
    """A number that must be finite (a loss, weights, features, scores) is NaN or infinite."""


def _parse(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: any finite number (NaN and infinities refused)."""
    return _parse(text)


def float_in(low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False,
             high_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number in the interval given (``None``: unbounded on that side).

    >>> float_in(0, low_open=True)("0.01")
    0.01
    """
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{hi}"

    def parse(text: str) -> float:
        value = _parse(text)
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if bad_low or bad_high:
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {value:g}")
        return value

    parse.__name__ = f"number in {interval}"
    return parse


def check_range(flag: str, a: int, b: int, n: int, what: str = "writers", error=SigverError) -> Tuple[int, int]:
    """Check an ``A B`` pair selecting positions ``A..B-1`` of ``n`` items: ``0 <= A < B <= n``.

    Raises ``error`` naming the flag and the valid range (a reversed, empty or out-of-range pair).
    """
    a, b = int(a), int(b)
    if n <= 0:
        raise error(f"{flag} {a} {b}: there are no {what} to select from")
    if a < 0 or b <= a or b > n:
        why = ("is reversed" if b < a else "is empty" if a == b else "is out of range")
        raise error(f"{flag} {a} {b}: the range {why}; there are {n} {what}, so give 0 <= A < B <= {n} "
                    f"(e.g. {flag} 0 {n})")
    return a, b


def check_finite(values, what: str, error=NonFiniteError) -> None:
    """Raise ``error`` (one line naming ``what``) if an array or tensor holds NaN or an infinity."""
    import numpy as np

    try:
        import torch

        if isinstance(values, torch.Tensor):
            bad = int((~torch.isfinite(values.detach())).sum())
            total = values.numel()
        else:
            raise TypeError
    except (ImportError, TypeError):
        a = np.asarray(values)
        if not np.issubdtype(a.dtype, np.floating):
            return
        bad = int((~np.isfinite(a)).sum())
        total = a.size
    if bad:
        raise error(f"{what}: {bad} of {total} values are NaN or infinite (the model or its input is broken)")


def changed_arguments(old: Mapping[str, Any], new: Mapping[str, Any], keys: Iterable[str]) -> Dict[str, Tuple]:
    """``{key: (old, new)}`` for the ``keys`` whose value differs between two runs' arguments.

    Lists and tuples compare equal (JSON turns tuples into lists); keys absent from ``old`` are skipped.
    """
    def norm(v):
        return list(v) if isinstance(v, (list, tuple)) else v

    return {k: (old[k], new.get(k)) for k in keys if k in old and norm(old[k]) != norm(new.get(k))}


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """An integer environment variable ``>= minimum`` (unset or empty: ``default``); else a SigverError."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SigverError(f"environment variable {name}={text!r}: expected an integer >= {minimum}") from None
    if value < minimum:
        raise SigverError(f"environment variable {name}={value}: expected an integer >= {minimum}")
    return value
