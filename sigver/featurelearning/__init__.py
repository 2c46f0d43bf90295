"""Feature learning: the SigNet family, checkpoints and feature extraction.

- :data:`available_models` / :func:`create_model`: ``signet``, ``signet_thin``, ``signet_smaller`` with the
  original module names (published weights load with ``strict=True``); :func:`make_heads` builds the
  writer and forgery heads;
- :func:`save_checkpoint` / :func:`load_checkpoint`: the original ``.pth`` 3-tuple plus a JSON sidecar;
- :func:`extract_features`: stored uint8 images (N, 1, H, W) -> float32 features (N, D).
"""
from .checkpoint import CheckpointWarning, LoadedCheckpoint, load_checkpoint, save_checkpoint
from .features import extract_features
from .models import (
    INPUT_SIZE,
    SigNet,
    SigNet_smaller,
    SigNet_thin,
    available_models,
    create_model,
    make_heads,
)

__all__ = [
    "SigNet",
    "SigNet_thin",
    "SigNet_smaller",
    "available_models",
    "create_model",
    "make_heads",
    "INPUT_SIZE",
    "save_checkpoint",
    "load_checkpoint",
    "LoadedCheckpoint",
    "CheckpointWarning",
    "extract_features",
]

# the shared training engine, re-exported here for code written before it moved to sigver.training
from ..training.batching import DeviceBatches  # noqa: E402
from ..training.loop import TrainingError, TrainLoop  # noqa: E402
from .losses import signet_f_loss, signet_loss  # noqa: E402

__all__ += ["TrainLoop", "TrainingError", "DeviceBatches", "signet_loss", "signet_f_loss"]
