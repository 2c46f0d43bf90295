"""Enrolled users of the service: an SQLite index and one user file per user, in one folder.

::

    STORE/
      index.sqlite        users (id, name, file, created, threshold, ...) and their pre-processed references
      users/<hex>.npz     user files (:meth:`sigver.verify.EnrolledUser.save`: atomic, sealed, no pickle)
      uploads/            scans being read (one sub-folder per request, removed when it is answered)

A user id only names a row of the index; the user file's name is random (``users/<32 hex digits>.npz``), so no
id, however it is spelled, reaches the file system. Ids are checked anyway (:func:`check_user_id`).

A user appears in one step: the user file is written completely (atomically) under a new name, then the row
is inserted or replaced in one transaction; a replaced or deleted user's file is removed after the commit.
A reader therefore sees the old user or the new one, never half of one. User files are loaded with
:func:`sigver.verify.load_user` (seal checked; the HMAC too with a key) and cached while unchanged on disk.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import SigverError
from ..verify import EnrolledUser, UserFileError, load_user

__all__ = ["UserStore", "StoreError", "UserNotFoundError", "UserExistsError", "UserIdError", "check_user_id",
           "USER_ID_PATTERN"]

PathLike = Union[str, os.PathLike]

#: user ids: ASCII letters, digits, ``.``, ``_`` and ``-``, 1 to 64 characters, starting with a letter or digit
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_USER_ID = re.compile(USER_ID_PATTERN)
_INDEX = "index.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL UNIQUE, created TEXT NOT NULL,
    threshold REAL NOT NULL, n_references INTEGER NOT NULL, model_sha256 TEXT NOT NULL, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refs (
    user_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, png BLOB NOT NULL,
    PRIMARY KEY (user_id, idx));
"""


class StoreError(SigverError, ValueError):
    """The store folder cannot be used (not a store, not writable, damaged index)."""


class UserNotFoundError(SigverError, LookupError):
    """No user with this id is enrolled."""


class UserExistsError(SigverError, ValueError):
    """A user with this id is already enrolled (replace it explicitly)."""


class UserIdError(SigverError, ValueError):
    """A user id that is not allowed (see :data:`USER_ID_PATTERN`)."""


def check_user_id(user_id: str) -> str:
    """Return ``user_id`` if it matches :data:`USER_ID_PATTERN`, else raise :class:`UserIdError`."""
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        shown = repr(user_id)[:80]
        raise UserIdError(f"user id {shown}: use 1-64 ASCII letters, digits, '.', '_' or '-', starting with a "
                          "letter or digit (e.g. alice or client-0042)")
    return user_id


class UserStore:
    """The enrolled users in ``root`` (created if missing; its parent folder must exist).

    Parameters
    ----------
    root : path
        The store folder. An existing folder must be empty or a store (it holds ``index.sqlite``); any other
        folder is refused, so that the service never writes among files it does not own.
    key : bytes, optional
        HMAC key of the user files (:mod:`sigver.verify.integrity`): written into new files, required of
        every file read.
    cache_size : int
        Loaded users kept in memory.
    """

    def __init__(self, root: PathLike, key: Optional[bytes] = None, cache_size: int = 256):
        self.root = Path(root).absolute()
        self.key = key
        self._cache: "OrderedDict[Tuple[str, int, int], EnrolledUser]" = OrderedDict()
        self._cache_size = int(cache_size)
        self._lock = threading.RLock()
        self._open()

    # -- set-up ---------------------------------------------------------------------------------------
    def _open(self) -> None:
        root = self.root
        if root.exists() and not root.is_dir():
            raise StoreError(f"--store {root}: is a file; give a folder (created if missing)")
        if not root.exists():
            if not root.parent.is_dir():
                raise StoreError(f"--store {root}: the folder {root.parent} does not exist; create it first")
            try:
                root.mkdir()
            except OSError as e:
                raise StoreError(f"--store {root}: cannot create it ({e.strerror or e})") from None
        elif not (root / _INDEX).is_file() and any(root.iterdir()):
            raise StoreError(f"--store {root}: the folder holds files and no {_INDEX}, so it is not a sigver "
                             "store; give an empty or new folder")
        if not os.access(root, os.W_OK | os.X_OK):
            raise StoreError(f"--store {root}: the folder is not writable; choose another one")
        (root / "users").mkdir(exist_ok=True)
        shutil.rmtree(root / "uploads", ignore_errors=True)  # what a killed server left behind
        (root / "uploads").mkdir()
        try:
            self._db = sqlite3.connect(str(root / _INDEX), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            files = {r[0] for r in self._db.execute("SELECT file FROM users")}
        except sqlite3.DatabaseError as e:
            raise StoreError(f"--store {root}: the index {_INDEX} cannot be read ({e}); restore it from a backup "
                             "or start a new store") from None
        # user files no row names: a server killed between writing a file and committing its row
        for path in (root / "users").iterdir():
            if path.name not in files:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def upload_dir(self) -> Path:
        """A new empty folder for one request's uploads (remove it with :func:`shutil.rmtree` when done)."""
        path = self.root / "uploads" / uuid.uuid4().hex
        path.mkdir()
        return path

    # -- queries --------------------------------------------------------------------------------------
    def exists(self, user_id: str) -> bool:
        check_user_id(user_id)
        with self._lock:
            return self._db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None

    def list(self) -> List[Dict[str, Any]]:
        """Summaries of every user, ordered by id."""
        with self._lock:
            rows = self._db.execute("SELECT id, name, created, threshold, n_references, model_sha256 FROM users "
                                    "ORDER BY id").fetchall()
        return [_summary(r) for r in rows]

    def info(self, user_id: str, references: bool = False) -> Dict[str, Any]:
        """A user's summary, threshold details and enrolment details; with ``references``, their
        pre-processed reference images as PNG bytes (``[{"name", "png"}]``)."""
        check_user_id(user_id)
        with self._lock:
            row = self._db.execute("SELECT id, name, created, threshold, n_references, model_sha256, info "
                                   "FROM users WHERE id = ?", (user_id,)).fetchone()
            refs = self._db.execute("SELECT name, png FROM refs WHERE user_id = ? ORDER BY idx",
                                    (user_id,)).fetchall() if row and references else []
        if row is None:
            raise _not_found(user_id)
        out = {**_summary(row[:6]), **json.loads(row[6])}
        if references:
            out["references"] = [{"name": n, "png": bytes(p)} for n, p in refs]
        return out

    def get(self, user_id: str) -> EnrolledUser:
        """The user's verifier (user file loaded and checked; cached while the file is unchanged)."""
        check_user_id(user_id)
        for attempt in range(3):
            with self._lock:
                row = self._db.execute("SELECT file FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise _not_found(user_id)
            path = self.root / "users" / row[0]
            try:
                st = path.stat()
            except FileNotFoundError:
                if attempt < 2:  # replaced or deleted between the query and here: look again
                    time.sleep(0.01)
                    continue
                raise UserFileError(f"user {user_id!r}: its user file is missing from the store; enrol the user "
                                    "again") from None
            key = (row[0], st.st_mtime_ns, st.st_size)
            with self._lock:
                user = self._cache.get(key)
                if user is not None:
                    self._cache.move_to_end(key)
                    return user
            try:
                user = load_user(path, key=self.key)
            except UserFileError as e:
                # a replace or delete that ran while this file was read (the old file is removed once the new
                # one is published): look again; the same file still published is really damaged
                with self._lock:
                    now = self._db.execute("SELECT file FROM users WHERE id = ?", (user_id,)).fetchone()
                if attempt < 2 and (now is None or now[0] != row[0] or not path.exists()):
                    continue
                raise UserFileError(str(e).replace(str(path), f"user {user_id!r}")) from None  # the user, not the path
            user.source = f"user {user_id!r}"
            with self._lock:
                for k in [k for k in self._cache if k[0] == row[0]]:
                    del self._cache[k]
                self._cache[key] = user
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return user
        raise _not_found(user_id)  # pragma: no cover

    # -- changes --------------------------------------------------------------------------------------
    def put(self, user_id: str, user: EnrolledUser, references: Sequence[Tuple[str, bytes]],
            replace: bool = False) -> Dict[str, Any]:
        """Publish an enrolled user (atomically; see the module docstring) with its pre-processed references
        ``[(name, png bytes)]``. Raises :class:`UserExistsError` if the id is taken and not ``replace``."""
        check_user_id(user_id)
        name = uuid.uuid4().hex + ".npz"
        path = self.root / "users" / name
        user.save(path, key=self.key)
        user.source = f"user {user_id!r}"  # messages name the user, not the server's path
        meta = user.meta
        info = {"threshold_info": meta.get("threshold_info"), "enrollment": meta.get("enrollment"),
                "model": {k: meta["model"].get(k) for k in ("sha256", "architecture", "input_size", "layer")},
                "preprocessing": meta.get("preprocessing")}
        row = (user_id, user.name, name, meta["enrollment"]["created"], user.threshold,
               int(meta["enrollment"]["n_references"]), str(meta["model"]["sha256"]),
               json.dumps(info, allow_nan=False))
        old = None
        try:
            with self._lock:
                cur = self._db.execute("SELECT file FROM users WHERE id = ?", (user_id,)).fetchone()
                if cur is not None and not replace:
                    raise UserExistsError(f"user {user_id!r} is already enrolled; delete it first or enrol with "
                                          "replace=true")
                old = cur[0] if cur else None
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM users WHERE id = ?", (user_id,))
                    self._db.execute("DELETE FROM refs WHERE user_id = ?", (user_id,))
                    self._db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                    self._db.executemany("INSERT INTO refs VALUES (?, ?, ?, ?)",
                                         [(user_id, i, n, sqlite3.Binary(p)) for i, (n, p) in enumerate(references)])
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if old:
            (self.root / "users" / old).unlink(missing_ok=True)
        return self.info(user_id)

    def delete(self, user_id: str) -> None:
        """Remove a user (its row, then its file). Raises :class:`UserNotFoundError` if there is none."""
        check_user_id(user_id)
        with self._lock:
            row = self._db.execute("SELECT file FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise _not_found(user_id)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM users WHERE id = ?", (user_id,))
                self._db.execute("DELETE FROM refs WHERE user_id = ?", (user_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            for k in [k for k in self._cache if k[0] == row[0]]:
                del self._cache[k]
        (self.root / "users" / row[0]).unlink(missing_ok=True)


def _summary(row) -> Dict[str, Any]:
    uid, name, created, threshold, n_refs, sha = row
    return {"id": uid, "name": name, "created": created, "threshold": threshold, "n_references": n_refs,
            "model_sha256": sha}


def _not_found(user_id: str) -> UserNotFoundError:
    return UserNotFoundError(f"user {user_id!r} is not enrolled; enrol it first (POST /users/{user_id})")
