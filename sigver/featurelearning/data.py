"""Former home of device-side batching, now :mod:`sigver.training.batching` (this module re-exports it)."""
from ..training.batching import *  # noqa: F401,F403
from ..training.batching import __all__  # noqa: F401
