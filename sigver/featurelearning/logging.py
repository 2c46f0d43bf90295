"""Former home of the live-curve loggers, now :mod:`sigver.training.logging` (this module re-exports it)."""
from ..training.logging import (  # noqa: F401
    Logger,
    LoggingError,
    MultiLogger,
    TensorBoardLogger,
    VisdomLogger,
    make_loggers,
    record_scalars,
)

__all__ = ["Logger", "TensorBoardLogger", "VisdomLogger", "MultiLogger", "LoggingError", "make_loggers",
           "record_scalars"]
