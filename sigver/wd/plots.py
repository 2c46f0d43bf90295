"""Former home of :mod:`sigver.evaluation.plots` (shared by every evaluating stage); this module re-exports it."""
from ..evaluation.plots import *  # noqa: F401,F403
from ..evaluation.plots import __all__  # noqa: F401
