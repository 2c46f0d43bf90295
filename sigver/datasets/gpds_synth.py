"""The continual-learning code's module ``sigver.datasets.gpds_synth``: the reader is
:class:`sigver.datasets.gpds.GPDSSynthDataset` (registry key ``gpds_synth``)."""
from .gpds import GPDSSynthDataset

__all__ = ["GPDSSynthDataset"]
