"""The original module ``sigver.metalearning.maml_pytorch``, kept so that its users' imports work unchanged.

=====================================  ==============================================================
original name                          now
=====================================  ==============================================================
``MAML``                               :class:`sigver.metalearning.MAML` (an ``nn.Module``; built
                                       from a model name or a functional model, see its docstring:
                                       the original's constructor arguments differ)
``get_per_step_loss_importance_vector``  the same function, arguments in the original's order,
                                       computed by :func:`sigver.metalearning.per_step_loss_weights`
``balanced_binary_cross_entropy``      the same function, computed by
                                       :func:`sigver.metalearning.balanced_bce`
=====================================  ==============================================================
"""
from __future__ import annotations

import torch

from .maml import MAML, balanced_bce, per_step_loss_weights

__all__ = ["MAML", "get_per_step_loss_importance_vector", "balanced_binary_cross_entropy"]


def get_per_step_loss_importance_vector(number_of_training_steps_per_iter: int, multi_step_loss_num_epochs: int,
                                        current_epoch: int) -> torch.Tensor:
    """Multi-step loss weights of the ``K`` inner steps at ``current_epoch`` (the original's argument order)."""
    return per_step_loss_weights(current_epoch, number_of_training_steps_per_iter, multi_step_loss_num_epochs)


def balanced_binary_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Class-balanced BCE of one task's logits and 0/1 labels (plain mean BCE when one class is absent)."""
    return balanced_bce(logits, y)
