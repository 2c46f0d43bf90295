"""``python -m sigver`` (or the ``sigver`` command): list the stages and their commands.

Every command is a module run with ``python -m``; ``sigver <command> ARGS`` is a shortcut for
``python -m sigver.<command> ARGS``.
"""
from __future__ import annotations

import importlib.util
import runpy
import sys
from typing import List, Optional

from . import __version__

#: (module, what it does); a command is listed only once its module exists in this installation
COMMANDS = [
    ("demo", "the main job on synthetic signatures: generate, pre-process, train, WD evaluation, report"),
    ("datasets.info", "describe, check or convert a dataset file (e.g. one written by the original code)"),
    ("datasets.merge", "one dataset file from the writers of several (e.g. real and synthetic writers)"),
    ("datasets.synthetic", "generate synthetic signatures (GPDS folder layout or a dataset file)"),
    ("preprocessing.process_dataset", "raw dataset folder -> pre-processed dataset file (.npz)"),
    ("featurelearning.train", "train SigNet / SigNet-F"),
    ("featurelearning.extract", "extract features of a dataset file with a trained model"),
    ("featurelearning.export", "export a feature extractor to ONNX (dynamic batch)"),
    ("wd.test", "writer-dependent SVMs: train, test, metrics, plots"),
    ("wi.test", "writer-independent (dissimilarity) classifier"),
    ("metalearning.train", "meta-learn fast adaptation to new users (MAML)"),
    ("distillation.invert", "invert a teacher into synthetic training images"),
    ("distillation.train", "distil a student from a teacher, with continual learning"),
    ("adversarial.train_madry", "Madry adversarial training"),
    ("adversarial.train_ensadv", "ensemble adversarial training"),
    ("adversarial.evaluate", "attack a verification system and report"),
    ("verify", "enrol a user and verify questioned signatures"),
    ("serve", "HTTP service and web page: enrol users, verify signatures (the serve extra)"),
]


def available_commands() -> List[tuple]:
    out = []
    for mod, doc in COMMANDS:
        try:
            found = importlib.util.find_spec(f"sigver.{mod}") is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out.append((mod, doc))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    cmds = available_commands()
    if argv and argv[0] not in ("-h", "--help", "--version"):
        name = argv[0]
        if name not in {m for m, _ in cmds}:
            print(f"error: unknown command {name!r}; run `python -m sigver` for the list", file=sys.stderr)
            return 2
        sys.argv = [f"python -m sigver.{name}"] + argv[1:]
        runpy.run_module(f"sigver.{name}", run_name="__main__", alter_sys=True)
        return 0
    if argv and argv[0] == "--version":
        print(f"sigver {__version__}")
        return 0
    width = max((len(m) for m, _ in cmds), default=0) + 2
    print(f"sigver {__version__}: offline handwritten signature verification\n")
    print("Commands (run `python -m sigver.<command> --help`, or `sigver <command> --help`):")
    for mod, doc in cmds:
        print(f"  {mod:<{width}}{doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
