"""Ensemble adversarial training: ``python -m sigver.adversarial.train_ensadv`` (docs/protocols.md).

SigNet / SigNet-F training (:mod:`sigver.featurelearning.trainer`, the library of ``sigver.featurelearning.train``: same flags, data, optimiser, schedule,
validation, run folder and checkpoints) where each batch also gets single-step L2 fast-gradient adversarial
examples (:func:`sigver.adversarial.attacks.fast_gradient_l2`, norm ``--eps``, box [0, 1]) crafted on a
source model that rotates, batch by batch, over the model being trained and the static models of
``--trained-models``. The loss is ``alpha * (clean SigNet / SigNet-F loss) + (1 - alpha) * CE(writer |
adversarial images, all samples)``.

``--trained-models`` takes pairs ``<architecture> <checkpoint>``; each static model (features + writer head)
must have as many classes as the training writers. Differences from the original: ``--alpha`` is a number in
[0, 1] (the original had no type, so a value given on the command line crashed), ``--eps`` takes any
positive number, a checkpoint is read safely (``weights_only``) with a one-line error when it does not fit,
the rotation is resumed exactly with ``--resume``, no ``--loss-type`` (as the original). The training log
has ``adv_loss`` and ``adv_acc`` (on the adversarial images) beside the clean ``loss`` terms and ``acc``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import nn

from ..cli import cli_main, positive_float, unit_float
from ..featurelearning import trainer as fl_train
from ..featurelearning.checkpoint import load_checkpoint
from ..training.loop import TrainingError
from ..featurelearning.models import available_models
from .attacks import eval_mode, fast_gradient_l2

__all__ = ["main", "build_parser", "make_ensadv_step", "parse_trained_models", "load_static_models"]


def build_parser():
    """The featurelearning flags without ``--loss-type``, plus ``--trained-models``, ``--alpha``, ``--eps``."""
    p = fl_train.build_parser(prog="python -m sigver.adversarial.train_ensadv",
                              description="Ensemble adversarial training of SigNet / SigNet-F: clean loss plus "
                                          "the loss on fast-gradient L2 adversarial examples crafted on the "
                                          "model and on static pre-trained models.", loss_type=False)
    p.add_argument("--trained-models", nargs="*", default=None, metavar="MODEL_OR_PATH",
                   help="static source models: pairs <architecture> <checkpoint.pth> [<architecture> "
                        "<checkpoint.pth> ...]")
    p.add_argument("--alpha", type=unit_float, default=0.5,
                   help="weight of the clean loss; 1 - alpha weighs the adversarial loss (default: 0.5)")
    p.add_argument("--eps", type=positive_float, default=5,
                   help="L2 norm of the adversarial perturbation, pixels in [0, 1] (default: 5)")
    p.set_defaults(loss_type="L2")
    return p


def parse_trained_models(values: Optional[Sequence[str]]) -> List[Tuple[str, Path]]:
    """``[arch, path, arch, path, ...]`` -> ``[(arch, Path), ...]``, checked (names known, files present)."""
    values = list(values or [])
    if len(values) % 2:
        raise TrainingError(f"--trained-models takes pairs <architecture> <checkpoint.pth>, got {len(values)} "
                            f"value(s): {' '.join(values)}")
    pairs = []
    for name, path in zip(values[0::2], values[1::2]):
        if name not in available_models:
            raise TrainingError(f"--trained-models: unknown architecture {name!r} (expected one of "
                                f"{', '.join(sorted(available_models))}; pairs are <architecture> <checkpoint>)")
        if not Path(path).is_file():
            raise TrainingError(f"--trained-models: {path}: no such checkpoint file")
        pairs.append((name, Path(path)))
    return pairs


def load_static_models(pairs: Sequence[Tuple[str, Path]], n_classes: int, device) -> List[nn.Module]:
    """The static source models ``Sequential(features, writer head)``, frozen, in eval mode on ``device``."""
    models = []
    for name, path in pairs:
        loaded = load_checkpoint(path, device=device, arch=name)
        head = loaded.classification_layer
        if head is None or head.out_features != n_classes:
            have = "no classification head" if head is None else f"{head.out_features} classes"
            raise TrainingError(f"--trained-models: {path} has {have}, the training writers (--users) are "
                                f"{n_classes}; static models must be trained on the same writers")
        model = nn.Sequential(loaded.model, head).eval()
        for param in model.parameters():
            param.requires_grad_(False)
        models.append(model)
    return models


def make_ensadv_step(context, signet_step):
    """The training step: fast-gradient examples from the rotating source, clean + adversarial loss."""
    args = context.args
    static = load_static_models(parse_trained_models(args.trained_models), context.n_classes, context.device)
    pool = [nn.Sequential(context.model, context.classification)] + static

    def step(batch):
        xb, yb, fb = batch
        # the source of this batch: round robin over the pool, counted in optimiser steps (resumable)
        source = pool[context.loop.global_step % len(pool)] if context.loop is not None else pool[0]
        with eval_mode(source):
            adv = fast_gradient_l2(source, xb, yb, args.eps, (0.0, 1.0))
        out = dict(signet_step(batch))
        adv_logits, _ = context.net(adv)
        adv_loss = F.cross_entropy(adv_logits.float(), yb)
        out["clean_loss"] = out["loss"]
        out["loss"] = args.alpha * out["loss"] + (1.0 - args.alpha) * adv_loss
        out["adv_loss"] = adv_loss
        out["adv_acc"] = (adv_logits.argmax(1) == yb).float().mean()
        return out

    return step


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.adversarial.train_ensadv`` (see ``--help``)."""
    args = build_parser().parse_args(argv)
    parse_trained_models(args.trained_models)  # bad pairs fail before the data is loaded
    return fl_train.run(args, make_step=make_ensadv_step)


if __name__ == "__main__":
    sys.exit(main())
