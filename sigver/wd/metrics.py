"""Former home of :mod:`sigver.evaluation.metrics` (shared by every evaluating stage); this module re-exports it."""
from ..evaluation.metrics import *  # noqa: F401,F403
from ..evaluation.metrics import __all__  # noqa: F401
