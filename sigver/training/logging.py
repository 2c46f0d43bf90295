"""Live training curves: a tiny logger interface with TensorBoard and visdom back-ends (optional extras).

Every logger has ``scalar(name, step, value)`` and ``close()``. :class:`~sigver.training.loop.TrainLoop`
calls ``scalar`` every ``log_every`` optimiser steps with the running means of the step's metrics
(``train/loss``, ``train/acc``, ...) and once per epoch with the epoch's record (``val/loss``, ``val/acc``,
``epoch/train_loss``, ``lr``, ...); ``step`` is the number of optimiser steps done so far (it continues across
``--resume``). The JSON-lines log of the run folder holds the same per-epoch numbers without any extra.

- :class:`TensorBoardLogger`: ``torch.utils.tensorboard.SummaryWriter`` (``pip install tensorboard``); view
  with ``tensorboard --logdir RUN_FOLDER``.
- :class:`VisdomLogger`: line plots on a running visdom server (``pip install visdom``; start the server
  with ``python -m visdom.server -port 8097``), one window per curve.
- :class:`MultiLogger`: several at once.
"""
from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from typing import Iterable, Optional

from ..errors import SigverError

__all__ = ["Logger", "TensorBoardLogger", "VisdomLogger", "MultiLogger", "LoggingError", "make_loggers",
           "record_scalars"]


class LoggingError(SigverError, RuntimeError):
    """A logger cannot be created: its package is missing or its server cannot be reached."""


class Logger:
    """Interface of the curve loggers (this base class ignores everything)."""

    def scalar(self, name: str, step: int, value: float) -> None:
        """Record ``value`` of curve ``name`` at ``step`` (optimiser steps done)."""

    def flush(self) -> None:
        """Make what was logged visible now (e.g. write buffered events)."""

    def close(self) -> None:
        """Flush and release the back-end."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _finite(value) -> Optional[float]:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class TensorBoardLogger(Logger):
    """Scalars as TensorBoard event files in ``logdir``.

    Parameters
    ----------
    logdir : path-like
        Folder of the event files (created if missing); usually the run folder.
    flush_secs : int, default 30
        How often buffered events are written.

    Raises
    ------
    LoggingError
        The ``tensorboard`` package is not installed.
    """

    def __init__(self, logdir, flush_secs: int = 30):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise LoggingError("--tensorboard needs the tensorboard package (pip install tensorboard, or pip "
                               "install 'sigver[tensorboard]'); the curves are also in log.jsonl in --logdir"
                               ) from None
        self.logdir = str(logdir)
        self.writer = SummaryWriter(log_dir=self.logdir, flush_secs=flush_secs)

    def scalar(self, name: str, step: int, value: float) -> None:
        value = _finite(value)
        if value is not None:
            self.writer.add_scalar(name, value, global_step=int(step))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class VisdomLogger(Logger):
    """Line plots on a visdom server, one window per curve (window id = curve name).

    Parameters
    ----------
    port : int
        Port of the visdom server.
    server : str, default 'http://localhost'
    env : str, default 'main'
        Visdom environment the windows go to.
    timeout : float, default 5
        Seconds to keep trying to reach the server when connecting.

    Raises
    ------
    LoggingError
        The ``visdom`` package is not installed, or no server answers at ``server:port``.

    Notes
    -----
    A server that goes away during training does not stop it: the first failed request gives one warning
    and later points are dropped.
    """

    def __init__(self, port: int, server: str = "http://localhost", env: str = "main", timeout: float = 5.0):
        try:
            import visdom
        except ImportError:
            raise LoggingError("--visdomport needs the visdom package (pip install visdom, or pip install "
                               "'sigver[visdom]'); the curves are also in log.jsonl in --logdir") from None
        self.port, self.server, self.env = int(port), server, env
        self.viz, deadline = None, time.monotonic() + timeout
        while self.viz is None:
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    # raise_exceptions: the constructor fails when no server answers
                    self.viz = visdom.Visdom(server=server, port=self.port, env=env, raise_exceptions=True,
                                             use_incoming_socket=False)
            except Exception:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        if self.viz is None:
            raise LoggingError(f"no visdom server answers at {server}:{self.port}; start one with `python -m "
                               f"visdom.server -port {self.port}` or drop --visdomport")
        self._known = set()
        self._broken = False

    def scalar(self, name: str, step: int, value: float) -> None:
        value = _finite(value)
        if value is None or self._broken:
            return
        try:
            if name not in self._known:
                exists = bool(self.viz.win_exists(name, env=self.env))
                self._known.add(name)
                if not exists:
                    self.viz.line(X=[step], Y=[value], win=name, env=self.env,
                                  opts={"title": name, "xlabel": "step"})
                    return
            self.viz.line(X=[step], Y=[value], win=name, env=self.env, update="append")
        except Exception as e:  # connection lost: keep training
            self._broken = True
            warnings.warn(f"visdom at {self.server}:{self.port} stopped answering ({type(e).__name__}); no "
                          f"more curves are sent there (log.jsonl still has them)", RuntimeWarning)

    def close(self) -> None:
        pass


class MultiLogger(Logger):
    """Sends every call to each of ``loggers``."""

    def __init__(self, loggers: Iterable[Logger]):
        self.loggers = list(loggers)

    def scalar(self, name: str, step: int, value: float) -> None:
        for lg in self.loggers:
            lg.scalar(name, step, value)

    def flush(self) -> None:
        for lg in self.loggers:
            lg.flush()

    def close(self) -> None:
        for lg in self.loggers:
            lg.close()


def make_loggers(tensorboard_dir=None, visdom_port: Optional[int] = None, visdom_server: str = "http://localhost",
                 visdom_env: str = "main") -> Optional[Logger]:
    """The loggers asked for on the command line, as one :class:`Logger` (None when none is asked for)."""
    loggers = []
    if visdom_port is not None:
        loggers.append(VisdomLogger(visdom_port, server=visdom_server, env=visdom_env))
    if tensorboard_dir is not None:
        loggers.append(TensorBoardLogger(tensorboard_dir))
    if not loggers:
        return None
    return loggers[0] if len(loggers) == 1 else MultiLogger(loggers)


def record_scalars(record) -> Iterable[tuple]:
    """``(name, value)`` curves of one per-epoch record of :class:`TrainLoop` (numbers only).

    ``val_x`` -> ``val/x``; ``train_x`` (epoch means) -> ``epoch/train_x``; ``train_images_per_s`` ->
    ``speed/train_images_per_s``; ``lr`` -> ``lr``. Counters (``epoch``, ``train_images``, ``train_seconds``,
    ``best``) are left out.
    """
    for key, value in record.items():
        if key in ("epoch", "train_images", "train_seconds", "best") or isinstance(value, bool):
            continue
        if _finite(value) is None:
            continue
        if key.startswith("val_"):
            yield f"val/{key[4:]}", value
        elif key == "train_images_per_s":
            yield f"speed/{key}", value
        elif key.startswith("train_"):
            yield f"epoch/{key}", value
        else:
            yield key, value
