"""Madry adversarial training: ``python -m sigver.adversarial.train_madry`` (docs/protocols.md).

SigNet / SigNet-F training (:mod:`sigver.featurelearning.trainer`, the library of ``sigver.featurelearning.train``: same flags, data, optimiser, schedule,
validation, run folder and checkpoints) where every batch is replaced by adversarial examples before the
update: a fast PGD attack (:func:`sigver.adversarial.attacks.pgd_l2`, ``fast=True``, box [0, 1], L2 norm at
most ``--attack-l2``, ``--attack-steps`` steps) against the writer classifier (features + classification
head) with the writer labels, forgeries included, and the loss on the adversarial images only (SigNet loss, or
the SigNet-F loss with the writer CE on genuine signatures only).

Differences from the original: the attack is crafted with the model in **eval mode** (the original ran its
200 attack steps in train mode, updating the BatchNorm statistics with perturbed images, docs/compatibility.md)
and without touching the parameter gradients; ``--attack-l2`` takes any positive number; no ``--loss-type``
(as the original). The training log also has ``acc_clean`` (accuracy on the clean batch, eval mode) beside
``acc`` (on the adversarial batch). Checkpoints are the standard 3-tuple, so ``sigver.wd.test``,
``sigver.featurelearning.extract`` and ``sigver.adversarial.evaluate`` read them unchanged.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

import torch
from torch import nn

from ..cli import cli_main, positive_float, positive_int
from ..featurelearning import trainer as fl_train
from ..training.batching import Batch
from .attacks import eval_mode, pgd_l2

__all__ = ["main", "build_parser", "make_madry_step"]


def build_parser():
    """The featurelearning flags without ``--loss-type``, plus ``--attack-steps`` and ``--attack-l2``."""
    p = fl_train.build_parser(prog="python -m sigver.adversarial.train_madry",
                              description="Madry adversarial training of SigNet / SigNet-F: train on PGD "
                                          "adversarial examples with a maximum L2 norm.", loss_type=False)
    p.add_argument("--attack-steps", type=positive_int, default=200,
                   help="PGD steps per batch (default: 200)")
    p.add_argument("--attack-l2", type=positive_float, default=20,
                   help="maximum L2 norm of the perturbation, pixels in [0, 1] (default: 20)")
    p.set_defaults(loss_type="L2")
    return p


def make_madry_step(context, signet_step):
    """The training step: attack the batch (eval mode), then ``signet_step`` on the adversarial images."""
    args = context.args
    classifier = nn.Sequential(context.model, context.classification)

    def step(batch):
        xb, yb, fb = batch
        with eval_mode(context.model, context.classification):
            adv = pgd_l2(classifier, xb, yb, args.attack_steps, args.attack_l2, (0.0, 1.0), fast=True)
            with torch.no_grad():
                correct = (classifier(xb).argmax(1) == yb).float()
        # as ``acc``: over the genuine signatures of the batch under --forg
        counted = (fb == 0).float() if args.forg else torch.ones_like(correct)
        acc_clean = (correct * counted).sum() / counted.sum().clamp(min=1)
        out = dict(signet_step(Batch(adv, yb, fb)))
        out["acc_clean"] = acc_clean
        return out

    return step


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.adversarial.train_madry`` (see ``--help``)."""
    return fl_train.run(build_parser().parse_args(argv), make_step=make_madry_step)


if __name__ == "__main__":
    sys.exit(main())
