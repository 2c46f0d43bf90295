"""``python -m sigver.featurelearning.distill``: the continual-learning code's spelling of the distillation command.

Viana et al.'s code ran teacher -> student distillation with continual learning as ``python -m
sigver.featurelearning.distill``. This module keeps that command, its flags and its defaults, and runs the same
code as ``python -m sigver.distillation.train`` (:func:`sigver.distillation.trainer.run`). The one default that
differs between the two spellings is the original's ``--d-users 350 881``: its inverted ``data.npz`` labels
the images with the GPDS writer indices 350..880, and the teacher class is ``y - 350``. The new command keeps
every row by default (``y`` = teacher class, as ``python -m sigver.distillation.invert`` writes it), so with
one of those files pass ``--d-users 0 C`` here, or use the new command.

The original's ``data.npz`` stores ``x`` as floats in [0, 1]: it is read as uint8 (``round(x * 255)``, exact for
uint8 levels) with a one-line notice; ``python -m sigver.datasets.info data.npz --convert data_u8.npz`` converts
it once and for all.

Example (the continual-learning README's command)::

    python -um sigver.featurelearning.distill --s-model signet --c-dataset-path gpds_synth.npz \\
        --c-users 2000 9950 --p-lamb 1.7 --logdir continual_model
"""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import Optional, Sequence

from ..cli import cli_main

__all__ = ["main", "build_parser", "ORIGINAL_D_USERS"]

#: the continual-learning code's default ``--d-users`` (GPDS development writers of its inverted set)
ORIGINAL_D_USERS = (350, 881)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``sigver.distillation.train`` with this command's name and the original's defaults."""
    from ..distillation.trainer import build_parser as distill_parser

    p = distill_parser()
    p.prog = "python -m sigver.featurelearning.distill"
    p.description = (p.description or "") + " The continual-learning code's spelling of python -m " \
                                            "sigver.distillation.train (same flags, --d-users 350 881 by default)."
    p.set_defaults(d_users=list(ORIGINAL_D_USERS))
    for action in p._actions:
        if action.dest == "d_users":
            action.help = ("only rows with y in range(A, B) (default: 350 881, the original's: its data.npz labels "
                           "the images with writer indices 350..880 and the teacher class is y - 350; for a file "
                           "of python -m sigver.distillation.invert, whose y is the teacher class, pass 0 C)")
    return p


def _one_line(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=file or sys.stderr, flush=True)


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.featurelearning.distill`` (see ``--help``)."""
    from ..distillation.trainer import run

    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line  # notices (e.g. float images converted) as one line each
        return run(args)


if __name__ == "__main__":
    sys.exit(main())
