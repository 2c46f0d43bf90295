"""Former home of the shared training loop, now :mod:`sigver.training.loop` (this module re-exports it)."""
from ..training.loop import *  # noqa: F401,F403
from ..training.loop import __all__  # noqa: F401
