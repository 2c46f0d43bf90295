"""Who may talk to the service: the bearer token and the loopback rule.

* :func:`read_token` reads ``--token-file``: the token is its first line, at least :data:`MIN_TOKEN_LENGTH`
  printable characters without spaces (``python -c "import secrets; print(secrets.token_urlsafe(32))"``).
* :func:`check_host` refuses to listen beyond loopback without a token: without one, anyone who reaches the
  port could enrol, delete and verify users.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Optional, Union

from ..errors import SigverError

__all__ = ["read_token", "check_host", "is_loopback", "MIN_TOKEN_LENGTH"]

#: shortest token accepted
MIN_TOKEN_LENGTH = 16


def read_token(path: Optional[Union[str, os.PathLike]]) -> Optional[str]:
    """The token in ``path`` (None: no token). Raises :class:`SigverError` for a missing, empty or weak one."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SigverError(f"--token-file {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    hint = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))" > FILE'
    if not token:
        raise SigverError(f"--token-file {path}: the file is empty; {hint}")
    if len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or any(c.isspace() for c in token) \
            or not token.isascii():
        raise SigverError(f"--token-file {path}: the token must be at least {MIN_TOKEN_LENGTH} printable ASCII "
                          f"characters without spaces; {hint}")
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, token: Optional[str]) -> None:
    """Refuse a non-loopback ``host`` without a token (one line saying what to do)."""
    if token is None and not is_loopback(host):
        raise SigverError(f"--host {host}: without --token-file the service listens on loopback only (127.0.0.1 "
                          "or ::1); give --token-file to listen on other addresses")
