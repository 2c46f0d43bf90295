"""Former home of :mod:`sigver.evaluation.results` (shared by every evaluating stage); this module re-exports it."""
from ..evaluation.results import *  # noqa: F401,F403
from ..evaluation.results import __all__  # noqa: F401
