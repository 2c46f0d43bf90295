"""Former home of the live-curve loggers, now :mod:`sigver.training.logging` (this module re-exports it)."""
from ..training.logging import *  # noqa: F401,F403
from ..training.logging import __all__  # noqa: F401
