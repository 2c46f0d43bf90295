"""``python -m sigver.distillation.train``: distillation with continual learning (the command).

The training itself is :mod:`sigver.distillation.trainer` (flags, data, losses, loop; see its docstring);
its public names are re-exported here for code that imported them from this module.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from ..cli import cli_main
from .trainer import build_parser, prepare_distillation_data, run  # noqa: F401

__all__ = ["main", "run", "build_parser", "prepare_distillation_data"]


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.distillation.train`` (see ``--help``)."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
