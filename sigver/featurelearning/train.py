"""Train SigNet / SigNet-F: ``python -m sigver.featurelearning.train``.

Writer classification on the development writers ``--users A B`` of a dataset file; SigNet-F (``--forg
--lamb``) adds the forgery head and loss. Same flags and defaults as the original, with its bugs fixed (see
``docs/compatibility.md``): validation in eval mode, no NaN or crash on batches without genuine signatures,
``--checkpoint`` initialises the weights for fine-tuning, ``--resume`` continues an interrupted run exactly,
``--lr-decay-times`` is an integer, ``--visdom-port`` is accepted beside ``--visdomport``.

Data: the images stay uint8 on ``--device``; random crops for training and the centre crop for validation are
taken there in batch (:mod:`sigver.training.batching`). Multi-GPU: ``torchrun --nproc_per_node N -m
sigver.featurelearning.train ...`` trains with DistributedDataParallel (NCCL on GPUs, gloo on CPU).

Run folder (``--logdir``): ``args.json`` (arguments, git revision), ``log.jsonl`` (one line per epoch),
``model_best.pth`` / ``model_last.pth`` (checkpoint 3-tuple plus ``.json`` sidecar with the training arguments
and the writer ids of the classes), ``training_state.pth`` (for ``--resume``); with ``--tensorboard`` the
TensorBoard event files. Live curves (``--tensorboard``, ``--visdomport``; :mod:`sigver.training.logging`):
``train/loss``, ``train/acc`` (+ ``train/forg_loss``, ``train/forg_acc``) every ``--log-every`` steps,
``val/loss``, ``val/acc`` (+ forgery), ``epoch/train_*`` and ``lr`` per epoch; x = optimiser steps.

This module is the command only; the training itself is :mod:`sigver.featurelearning.trainer` (its public
names are re-exported here for code that imported them from this module).
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from ..cli import cli_main
from ..training.loop import TrainingError  # noqa: F401  (former home)
from ..training.run import check_resume_args, check_run_folder, fit_run  # noqa: F401  (former home of these)
from .trainer import (  # noqa: F401
    VAL_FRACTION,
    Net,
    TrainContext,
    build_parser,
    evaluate_split,
    prepare_data,
    run,
    training_step,
)

__all__ = ["main", "build_parser", "prepare_data", "evaluate_split", "run", "TrainContext"]


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.featurelearning.train`` (see ``--help``)."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
