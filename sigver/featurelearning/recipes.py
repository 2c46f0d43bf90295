"""Named training recipes: presets of ``python -m sigver.featurelearning.train`` flags (``--recipe NAME``).

A recipe only changes the *defaults* of the flags it names: a flag given on the command line keeps its
value, and every flag keeps its original meaning. ``original`` is the original code's defaults (no change).
``real`` is the recipe measured best for verifying writers of another real dataset than the training one
(``scripts/bench_real.py``, BENCHMARKS.md): it is what the shipped model was trained with.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, Optional, Sequence

__all__ = ["TRAINING_RECIPES", "parse_with_recipe"]

#: recipe name -> {argparse dest: default}
TRAINING_RECIPES: Dict[str, Dict[str, Any]] = {
    "original": {},
    "real": {"augment": "scanner"},
}


def parse_with_recipe(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv``; when ``--recipe NAME`` is given, re-parse with that recipe's defaults.

    Flags given explicitly win over the recipe. ``args.recipe`` holds the name (None without one).
    """
    args = parser.parse_args(argv)
    name = getattr(args, "recipe", None)
    if name:
        preset = TRAINING_RECIPES[name]
        saved = {k: parser.get_default(k) for k in preset}
        parser.set_defaults(**preset)
        try:
            args = parser.parse_args(argv)
        finally:
            parser.set_defaults(**saved)
    return args
