"""One forward pass for many requests: a small batching queue in front of the feature extractor.

Requests put their pre-processed images on a queue and wait for their features. One thread takes the first
waiting request, gathers the requests that arrive in the next ``max_wait_ms`` milliseconds (or until
``max_batch`` images), runs the network once on all their images and hands each request its rows. Under load
the network is busy while requests queue up, so batches fill without waiting; a lone request waits at most
``max_wait_ms``. With ``max_batch=1`` every request has its own forward pass (the unbatched baseline of
``scripts/bench_serve.py``).

The features of an image do not depend on which other images share its batch, up to float32 rounding (a few
1e-6 on the CPU), so a batched answer equals :func:`sigver.verify.verify`'s for the same scan.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

__all__ = ["FeatureBatcher"]


class FeatureBatcher:
    """Batch the feature extraction of concurrent requests.

    Parameters
    ----------
    extract : callable
        ``extract(x) -> features``: uint8 images ``(N, 1, H, W)`` to float32 features ``(N, D)``.
    max_batch : int
        Most images in one forward pass (a request with more images is still one pass of its own).
    max_wait_ms : float
        How long the first request of a batch waits for others.
    """

    def __init__(self, extract: Callable[[np.ndarray], np.ndarray], max_batch: int = 32, max_wait_ms: float = 2.0):
        if int(max_batch) < 1 or not max_wait_ms >= 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        self.extract = extract
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait_ms) / 1000.0
        self._queue: "queue.Queue[Optional[Tuple[np.ndarray, Future]]]" = queue.Queue()
        self._stats = {"batches": 0, "images": 0, "requests": 0, "largest_batch": 0}
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sigver-batcher", daemon=True)
        self._thread.start()

    def submit(self, x: np.ndarray) -> "Future[np.ndarray]":
        """Queue images ``(n, 1, H, W)``; the future gives their features ``(n, D)``."""
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.put((x, fut))
        return fut

    def __call__(self, x: np.ndarray, timeout: Optional[float] = None) -> np.ndarray:
        """Features of ``x``, computed in a batch with whatever else is waiting (blocks)."""
        return self.submit(x).result(timeout)

    @property
    def stats(self) -> Dict[str, Any]:
        """Counts so far: ``batches`` (forward passes), ``images``, ``requests``, ``largest_batch``."""
        with self._lock:
            return dict(self._stats)

    def close(self) -> None:
        """Answer what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            items: List[Tuple[np.ndarray, Future]] = [first]
            n = len(first[0])
            deadline = time.monotonic() + self.max_wait
            while n < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
                n += len(item[0])
            self._answer(items)

    def _answer(self, items: List[Tuple[np.ndarray, Future]]) -> None:
        items = [(x, f) for x, f in items if f.set_running_or_notify_cancel()]
        if not items:
            return
        try:
            feats = self.extract(np.concatenate([x for x, _ in items]) if len(items) > 1 else items[0][0])
        except BaseException as e:  # every waiting request gets the error
            for _, f in items:
                f.set_exception(e)
            return
        with self._lock:
            self._stats["batches"] += 1
            self._stats["images"] += len(feats)
            self._stats["requests"] += len(items)
            self._stats["largest_batch"] = max(self._stats["largest_batch"], len(feats))
        start = 0
        for x, f in items:
            f.set_result(feats[start:start + len(x)])
            start += len(x)
