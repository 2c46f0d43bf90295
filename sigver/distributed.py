"""Dask (``distributed``) as the engine past one machine: per-user evaluation and pre-processing on a cluster.

Training scales out with ``torchrun`` (DistributedDataParallel); the per-user work of the evaluation protocols
(``wd.test``, ``wi.test``, ``verify enroll --target-far``) and the per-image work of ``process_dataset`` run on
a Dask cluster when a scheduler is named:

- ``--scheduler ADDRESS`` on those commands, or the environment variable ``SIGVER_DASK_SCHEDULER``;
  ``ADDRESS`` is a scheduler address (``tcp://10.0.0.5:8786``) or ``local:N``, a cluster of ``N`` worker
  processes started on this machine for the run (one thread each);
- in Python, ``with sigver.distributed.cluster("tcp://...")`` (or :func:`use_client` with a
  ``distributed.Client`` of your own) around the calls: every per-user job inside the block goes to the cluster.

The large arrays of a call (features, negatives, the dataset reader) are scattered once to the cluster and the
tasks refer to them; the random draws are all made in the calling process, in the original order, so the
results are those of a local run, number for number (tested against a real ``LocalCluster``).

What the workers need: the same ``sigver`` version, its dependencies and ``dask[distributed]`` (``pip install
sigver[dask]``); for ``process_dataset``, the raw image folder at the same path on every worker (a shared file
system), because each worker reads its own images. The evaluation commands send the workers everything they
need.

Dask is an optional extra: importing this module does not import it; naming a scheduler without it installed
is a one-line error saying how to install it.
"""
from __future__ import annotations

import contextvars
import os
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, Optional

from .errors import SigverError

__all__ = ["ENV_VAR", "DaskError", "add_scheduler_argument", "scheduler_address", "connect", "cluster",
           "use_client", "active_client", "scatter", "map_unordered", "imap_chunks"]

#: environment variable naming the scheduler when ``--scheduler`` is not given
ENV_VAR = "SIGVER_DASK_SCHEDULER"

#: seconds to wait for a scheduler named by address
CONNECT_TIMEOUT = 30.0

_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("sigver_dask_client", default=None)


class DaskError(SigverError, RuntimeError):
    """Dask is not installed, or the scheduler cannot be reached."""


def add_scheduler_argument(p, what: str, needs: str = "") -> None:
    """``--scheduler ADDRESS`` on a command: ``what`` says which work goes to the cluster, ``needs`` what the
    workers must have beyond ``sigver[dask]``."""
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"run {what} on a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
                        f"(N worker processes on this machine); default: ${ENV_VAR} if set, else this machine "
                        f"only. Results do not depend on it. Workers need sigver[dask]{needs}")


def scheduler_address(value: Optional[str] = None) -> Optional[str]:
    """The scheduler to use: ``value`` (``--scheduler``), else ``$SIGVER_DASK_SCHEDULER``, else None (local)."""
    value = value if value is not None else os.environ.get(ENV_VAR)
    value = (value or "").strip()
    return value or None


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise DaskError("a Dask scheduler was named but dask[distributed] is not installed; "
                        "pip install 'sigver[dask]' (or unset --scheduler / $" + ENV_VAR + ")") from None
    return distributed


def connect(address: str, timeout: Optional[float] = None):
    """A ``distributed.Client`` for ``address`` (``tcp://...``, or ``local:N`` for a new ``LocalCluster`` of
    N single-threaded worker processes, closed with the client)."""
    distributed = _import_distributed()
    if address.startswith("local:"):
        try:
            n = int(address[len("local:"):])
        except ValueError:
            n = 0
        if n < 1:
            raise DaskError(f"--scheduler {address}: expected local:N with N >= 1 worker processes")
        local = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
        client = distributed.Client(local)
        client._sigver_local_cluster = local  # closed by cluster()
        return client
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT if timeout is None else timeout)
    except (OSError, TimeoutError) as e:
        raise DaskError(f"--scheduler {address}: cannot reach the Dask scheduler ({type(e).__name__}: {e}); "
                        "check the address and that `dask scheduler` runs there") from None


@contextmanager
def use_client(client) -> Iterator[Any]:
    """Within the block, per-user jobs of sigver go to ``client`` (None: this machine)."""
    token = _ACTIVE.set(client)
    try:
        yield client
    finally:
        _ACTIVE.reset(token)


@contextmanager
def cluster(address: Optional[str] = None) -> Iterator[Any]:
    """Connect to :func:`scheduler_address` ``(address)`` (nothing when it is None) for the block, make it the
    active client and close it afterwards; yields the client or None."""
    address = scheduler_address(address)
    if address is None:
        with use_client(None):
            yield None
        return
    client = connect(address)
    try:
        with use_client(client):
            yield client
    finally:
        local = getattr(client, "_sigver_local_cluster", None)
        client.close()
        if local is not None:
            local.close()


def active_client():
    """The ``distributed.Client`` set by :func:`cluster` / :func:`use_client`, or None (run locally)."""
    return _ACTIVE.get()


def scatter(client, arrays: Dict[str, Any]) -> Dict[str, Any]:
    """Send each value to the cluster once; returns ``{name: Future}`` for the tasks to refer to (the workers
    copy it from each other when they first need it, not from this process again)."""
    return {name: _scatter_one(client, value) for name, value in arrays.items()}


def _scatter_one(client, value):
    # wrapped in a list: Client.scatter splits a list, tuple or dict into one future per item (and takes a
    # dict's keys as task keys, which would collide between calls)
    return client.scatter([value], hash=False)[0]


def map_unordered(client, func: Callable, jobs: Iterable[tuple], *, progress=None) -> Iterator[Any]:
    """``func(*job)`` for every job on the cluster, results as they complete (Futures nested in a job's
    tuples are replaced by their values on the worker). ``progress(iterator, total)`` wraps the results."""
    distributed = _import_distributed()
    futures = [client.submit(func, *job, pure=False) for job in jobs]
    done = distributed.as_completed(futures)
    results = (f.result() for f in done)
    return progress(results, len(futures)) if progress is not None else results


def _run_chunk(func: Callable, setup: Optional[Callable], context: Any, items: list) -> list:
    if setup is not None:
        setup(context)
    return [func(item) for item in items]


def imap_chunks(client, func: Callable, items: Iterable, *, chunk: int = 32, setup: Optional[Callable] = None,
                context: Any = None, in_flight: Optional[int] = None) -> Iterator[Any]:
    """Ordered ``map(func, items)`` on the cluster, ``chunk`` items a task: like ``Pool.imap``.

    ``setup(context)`` runs on the worker before each chunk (e.g. installing a dataset reader); ``context`` is
    scattered once. At most ``in_flight`` chunks (default 4 per worker thread) are pending at a time, so
    results do not pile up on the workers when this process consumes them slowly.
    """
    items = list(items)
    ctx = _scatter_one(client, context) if context is not None else None
    if in_flight is None:
        in_flight = max(2, 4 * sum(client.nthreads().values()))
    chunks = (items[i:i + chunk] for i in range(0, len(items), chunk))
    pending: deque = deque()

    def submit_next() -> bool:
        part = next(chunks, None)
        if part is None:
            return False
        pending.append(client.submit(_run_chunk, func, setup, ctx, part, pure=False))
        return True

    while len(pending) < in_flight and submit_next():
        pass
    while pending:
        future = pending.popleft()
        results = future.result()
        future.release()
        submit_next()
        yield from results
