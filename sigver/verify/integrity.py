"""Tamper evidence for user files: a SHA-256 of the content, and an HMAC-SHA256 with a secret key.

A user file holds a user's classifier and threshold; editing it (threshold -100, intercept 1e6) would make
every signature accepted. Two seals are stored beside the content, in the ``integrity`` entry:

* ``sha256``: the hash of the content (metadata and arrays). It detects accidental damage (a bad disk, a
  truncated copy, a careless edit); anyone can recompute it, so it does not stop a deliberate edit.
* ``hmac_sha256``: with a secret key, a keyed hash that only holders of the key can produce. Give the key
  at enrolment and at verification (``--key-file FILE``, or the environment variable ``SIGVER_USER_KEY``);
  a file whose HMAC does not match, or that has none while a key is given, is refused.

The content digest covers the metadata text and, for each array in name order, its name, dtype, shape and
bytes, so any change to a number, a shape or the metadata changes it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from ..errors import SigverError

__all__ = ["KEY_ENV", "read_key", "content_digest", "seal", "check_seal", "IntegrityError"]

#: environment variable holding the HMAC key (its UTF-8 bytes) when no ``--key-file`` is given
KEY_ENV = "SIGVER_USER_KEY"


class IntegrityError(SigverError, ValueError):
    """A file's content does not match its seal (damaged or edited), or a key cannot be read."""


def read_key(key_file: Optional[Union[str, os.PathLike]] = None) -> Optional[bytes]:
    """The HMAC key: the bytes of ``key_file`` (a trailing newline dropped), else ``$SIGVER_USER_KEY``, else None.

    Raises :class:`IntegrityError` for a missing, unreadable or empty key file, or an empty variable.
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes()
        except OSError as e:
            raise IntegrityError(f"--key-file {key_file}: cannot read it ({e.strerror or e})") from None
        key = key.rstrip(b"\r\n")
        if not key:
            raise IntegrityError(f"--key-file {key_file}: the key file is empty")
        return key
    env = os.environ.get(KEY_ENV)
    if env is None:
        return None
    if not env:
        raise IntegrityError(f"environment variable {KEY_ENV} is set but empty; unset it or give a key")
    return env.encode("utf-8")


def content_digest(meta_text: str, arrays: Mapping[str, np.ndarray], algorithm=hashlib.sha256):
    """A hash object over the metadata text and the arrays (name, dtype, shape and bytes, in name order)."""
    h = algorithm()
    _feed(h, meta_text, arrays)
    return h


def _feed(h, meta_text: str, arrays: Mapping[str, np.ndarray]) -> None:
    meta = meta_text.encode("utf-8")
    h.update(b"sigver-user-file\0" + len(meta).to_bytes(8, "little") + meta)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        head = f"{name}|{a.dtype.str}|{a.shape}|".encode()
        h.update(len(head).to_bytes(8, "little") + head)
        h.update(a.tobytes())


def seal(meta_text: str, arrays: Mapping[str, np.ndarray], key: Optional[bytes] = None) -> dict:
    """``{"sha256": hex}`` of the content, plus ``"hmac_sha256"`` when a key is given."""
    out = {"sha256": content_digest(meta_text, arrays).hexdigest()}
    if key is not None:
        mac = hmac.new(key, digestmod=hashlib.sha256)
        _feed(mac, meta_text, arrays)
        out["hmac_sha256"] = mac.hexdigest()
    return out


def check_seal(where: str, meta_text: str, arrays: Mapping[str, np.ndarray], stored: Mapping[str, str],
               key: Optional[bytes] = None) -> bool:
    """Check a stored seal against the content; raise :class:`IntegrityError` naming ``where`` if it fails.

    Returns whether an HMAC was verified (False: only the SHA-256, i.e. no key was given).
    """
    expected = seal(meta_text, arrays, key)
    if not hmac.compare_digest(str(stored.get("sha256", "")), expected["sha256"]):
        raise IntegrityError(f"{where}: the content does not match its SHA-256 (the file was damaged or "
                             f"edited); enrol the user again")
    if key is None:
        return False
    if "hmac_sha256" not in stored:
        raise IntegrityError(f"{where}: the file has no HMAC but a key was given (it was enrolled without the "
                             f"key, or the HMAC was removed); enrol the user again with the key")
    if not hmac.compare_digest(str(stored["hmac_sha256"]), expected["hmac_sha256"]):
        raise IntegrityError(f"{where}: the HMAC does not match (the file was edited, or another key was "
                             f"used); enrol the user again with the key")
    return True
