"""Former home of the shared training loop, now :mod:`sigver.training.loop` (this module re-exports it)."""
from ..training.loop import (  # noqa: F401
    ARGS_FILE,
    BEST_FILE,
    LAST_FILE,
    LOG_FILE,
    STATE_FILE,
    TrainingError,
    TrainLoop,
    append_jsonl,
    git_revision,
    write_run_info,
)

__all__ = ["TrainLoop", "TrainingError", "write_run_info", "git_revision", "append_jsonl", "STATE_FILE",
           "LOG_FILE", "ARGS_FILE", "BEST_FILE", "LAST_FILE"]
