"""The training engine every trainer shares (feature learning, distillation, meta-learning, adversarial).

- :mod:`sigver.training.loop`: :class:`TrainLoop`, the one loop (epochs, validation in eval mode, model
  files, ``log.jsonl``, exact ``--resume``), and the run-folder files (``args.json``, ...).
- :mod:`sigver.training.batching`: :class:`DeviceBatches`, the uint8 dataset kept on the device and cropped
  there in batch; the seeded train / validation split.
- :mod:`sigver.training.logging`: live curves (TensorBoard, visdom).
- :mod:`sigver.training.average`: stochastic weight averaging (``--swa``) and BatchNorm re-estimation.
- :mod:`sigver.training.run`: the run set-up (:func:`add_run_arguments`, device and torchrun processes,
  run-folder checks, SGD + StepLR, ``--swa``, resume, :func:`fit_run`).

Nothing here knows a model or a loss: a trainer gives the loop its ``step`` and ``evaluate``.
"""
from .batching import VAL_FRACTION, Batch, DataSplitError, DeviceBatches, as_generator, crop_batch, split_indices
from .loop import (
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
from .run import (
    add_run_arguments,
    add_sgd_arguments,
    args_record,
    check_run_folder,
    distributed_run,
    fit_run,
    lr_decay_times,
    sgd_step_lr,
)

__all__ = [
    "TrainLoop", "TrainingError", "write_run_info", "git_revision", "append_jsonl",
    "STATE_FILE", "LOG_FILE", "ARGS_FILE", "BEST_FILE", "LAST_FILE",
    "Batch", "DeviceBatches", "DataSplitError", "as_generator", "crop_batch", "split_indices", "VAL_FRACTION",
    "add_run_arguments", "add_sgd_arguments", "args_record", "check_run_folder", "distributed_run", "fit_run",
    "lr_decay_times", "sgd_step_lr",
]
