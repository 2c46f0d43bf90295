"""The verification service without HTTP: one model, a store of users, batched verification.

:class:`VerificationService` loads the model once (:func:`sigver.verify.api.load_model`), keeps enrolled users
in a :class:`~sigver.serve.store.UserStore`, enrols with :func:`sigver.verify.enroll` and verifies as
:func:`sigver.verify.verify` does, with the forward passes of concurrent verifications batched together
(:class:`~sigver.serve.batching.FeatureBatcher`). Uploaded scans are bytes with the client's file name: they
are written into the store's ``uploads/`` folder under a cleaned name, read with the library's image reader
(decompression-bomb limit, one-line errors) and removed when the request is answered; error messages name the
client's file, never a server path. :mod:`sigver.serve.app` puts HTTP in front of it.
"""
from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .. import __version__
from ..errors import SigverError
from ..fileio import file_sha256
from .batching import FeatureBatcher
from .store import UserExistsError, UserStore, check_user_id

__all__ = ["VerificationService", "RequestError", "Upload", "MAX_FILES"]

PathLike = Union[str, os.PathLike]
#: an uploaded scan: (the client's file name, its bytes)
Upload = Tuple[str, bytes]
#: most scans in one request (references of an enrolment, or questioned scans of a verification)
MAX_FILES = 64


class RequestError(SigverError, ValueError):
    """A request the service cannot take as it is; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def display_name(filename: Optional[str], i: int) -> str:
    """The client's file name reduced to a safe base name (letters, digits, ``._- ``; at most 80 characters)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")[:80]
    return base or f"upload-{i + 1}"


class VerificationService:
    """Enrol users and verify questioned scans against them, with one model loaded once.

    Parameters
    ----------
    model_path : path, optional
        Checkpoint of the feature extractor (default: :func:`sigver.verify.api.default_model_path`, the shipped
        model); its sidecar's pre-processing and negative pool are used as :func:`sigver.verify.enroll` does.
    store : path
        The store folder (:class:`~sigver.serve.store.UserStore`).
    device : str, optional
        Torch device (default cuda when available).
    key : bytes, optional
        HMAC key of the user files.
    max_batch, max_wait_ms :
        Batching of the forward passes (:class:`~sigver.serve.batching.FeatureBatcher`).
    workers : int
        Threads that read and pre-process uploads (and wait for their features): verifications in flight.
    """

    def __init__(self, model_path: Optional[PathLike], store: PathLike, device: Optional[str] = None,
                 key: Optional[bytes] = None, max_batch: int = 32, max_wait_ms: float = 2.0, workers: int = 8):
        from ..verify.api import default_model_path, load_model, model_features, model_preprocessing

        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        self.store = UserStore(store, key=key)
        self.model, self.model_info = load_model(self.model_path, device)
        self.device = str(next(self.model.parameters()).device)
        self.settings = model_preprocessing(self.model_path)
        self.file_sha256 = file_sha256(self.model_path)
        self.batcher = FeatureBatcher(lambda x: model_features(self.model, x, self.model_info, self.device),
                                      max_batch=max_batch, max_wait_ms=max_wait_ms)
        self.workers = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="sigver-verify")
        self.enroller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sigver-enroll")
        self._enrolling: set = set()
        self._enrolling_lock = threading.Lock()

    def close(self) -> None:
        self.enroller.shutdown(wait=True)
        self.workers.shutdown(wait=True)
        self.batcher.close()
        self.store.close()

    # -- identity -------------------------------------------------------------------------------------
    def version(self) -> Dict[str, Any]:
        """sigver's version and the model's identity (SHA-256 of its weights and of its file)."""
        info = self.model_info
        return {"sigver": __version__,
                "model": {"file": self.model_path.name, "sha256": info["sha256"], "file_sha256": self.file_sha256,
                          "architecture": info["architecture"], "input_size": info["input_size"],
                          "feature_size": info["feature_size"], "layer": info.get("layer")},
                "preprocessing": {"canvas": list(self.settings["canvas"]), "binarize": self.settings["binarize"]}}

    def health(self) -> Dict[str, Any]:
        return {"status": "ok", "device": self.device, "users": len(self.store.list()),
                "batching": {"max_batch": self.batcher.max_batch, "max_wait_ms": self.batcher.max_wait * 1000,
                             **self.batcher.stats}}

    # -- uploads --------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _uploaded(self, uploads: Sequence[Upload]):
        """Write the uploads into a new folder of the store; yields their paths and display names. A
        :class:`~sigver.errors.SigverError` raised inside names the client's files, not the server's paths.
        The folder is removed on exit."""
        folder = self.store.upload_dir()
        try:
            paths, names = [], []
            for i, (filename, data) in enumerate(uploads):
                name = display_name(filename, i)
                (folder / str(i)).mkdir()
                (folder / str(i) / name).write_bytes(data)
                paths.append(folder / str(i) / name)
                names.append(name)
            try:
                yield paths, names
            except SigverError as e:
                message = re.sub(re.escape(str(folder)) + r"[\\/]\d+[\\/]", "", str(e))
                if message == str(e):
                    raise
                raise _same_kind(e, message) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _check_count(uploads: Sequence[Upload], what: str, least: int) -> None:
        if len(uploads) < least:
            raise RequestError(f"{what}: {len(uploads)} file(s) uploaded, at least {least} needed", 422)
        if len(uploads) > MAX_FILES:
            raise RequestError(f"{what}: {len(uploads)} files uploaded, at most {MAX_FILES} per request", 413)

    def network_input_png(self, x: np.ndarray) -> bytes:
        """PNG of the network input of one pre-processed image (its centre crop; white ink on black)."""
        from ..datasets.synthetic_render import encode_png
        from ..preprocessing import crop_center

        return encode_png(crop_center(x[0] if x.ndim == 3 else x, tuple(self.model_info["input_size"])))

    # -- enrol ----------------------------------------------------------------------------------------
    def enroll(self, user_id: str, references: Sequence[Upload], name: Optional[str] = None,
               target_far: Optional[float] = None, replace: bool = False) -> Dict[str, Any]:
        """Enrol (or with ``replace``, re-enrol) a user from uploaded reference scans; returns its info.

        Blocking (seconds): the HTTP layer runs it on the enrolment thread.
        """
        from ..verify.api import MIN_REFERENCES, enroll, preprocess_images

        check_user_id(user_id)
        self._check_count(references, "references", MIN_REFERENCES)
        if target_far is not None and not (np.isfinite(target_far) and 0.0 <= target_far <= 1.0):
            raise RequestError(f"target_far must be in [0, 1] (e.g. 0.05 for 5%), got {target_far}", 422)
        if not replace and self.store.exists(user_id):  # checked again when the user is published
            raise UserExistsError(f"user {user_id!r} is already enrolled; delete it first or enrol with "
                                  "replace=true")
        with self._enrolling_lock:
            if user_id in self._enrolling:
                raise RequestError(f"user {user_id!r} is being enrolled by another request; try again when it is "
                                   "done", 409)
            self._enrolling.add(user_id)
        try:
            with self._uploaded(references) as (paths, names):
                x, _ = preprocess_images(paths, self.settings["canvas"], self.settings["binarize"])
                user = enroll(self.model_path, paths, name=name or user_id, target_far=target_far,
                              device=self.device, loaded=(self.model, self.model_info))
            user.meta["enrollment"]["references"] = names
            pool = user.meta["enrollment"]["negatives"]
            if os.path.isabs(str(pool.get("source"))):  # the server's paths stay on the server
                pool["source"] = os.path.basename(pool["source"])
            pngs = [(n, self.network_input_png(xi)) for n, xi in zip(names, x)]
            return self.store.put(user_id, user, pngs, replace=replace)
        finally:
            with self._enrolling_lock:
                self._enrolling.discard(user_id)

    # -- verify ---------------------------------------------------------------------------------------
    def verify(self, user_id: str, images: Sequence[Upload], preprocessed: bool = False) -> Dict[str, Any]:
        """Verify uploaded questioned scans against a user (blocking; the forward pass is batched with other
        requests'). Per scan: ``image`` (its name), ``score``, ``accepted``, ``decision`` and, with
        ``preprocessed``, ``network_input_png`` (base64 PNG)."""
        from ..verify.api import check_model, preprocess_images, score_features

        check_user_id(user_id)
        self._check_count(images, "images", 1)
        user = self.store.get(user_id)
        check_model(user, self.model_info, self.model_path)
        with self._uploaded(images) as (paths, names):
            x, _ = preprocess_images(paths, user.canvas, bool(user.meta["preprocessing"].get("binarize", False)))
        results = score_features(user, self.batcher(x), names)
        for r, xi in zip(results, x):
            r["decision"] = "accepted" if r["accepted"] else "rejected"
            if preprocessed:
                r["network_input_png"] = base64.b64encode(self.network_input_png(xi)).decode("ascii")
        return {"user": user_id, "threshold": user.threshold, "results": results}


def _same_kind(e: SigverError, message: str) -> SigverError:
    """``e`` with another message (same class; a :class:`RequestError` keeps its status)."""
    try:
        out = type(e)(message)
    except TypeError:
        out = SigverError(message)
    if isinstance(e, RequestError):
        out = RequestError(message, e.status)
    return out
