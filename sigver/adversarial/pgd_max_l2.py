"""The original module ``sigver.adversarial.pgd_max_l2``, kept so that its users' imports work unchanged.

Everything is in :mod:`sigver.adversarial.attacks` (also exported by :mod:`sigver.adversarial`):
``PGD_max_l2_truncate`` (same constructor and ``attack(model, inputs, labels, targeted=False)``; the attack
itself is :func:`sigver.adversarial.pgd_l2`), ``restrict_l2_norm``, ``l2_norm`` and ``squared_l2_norm``.
"""
from .attacks import PGD_max_l2_truncate, l2_norm, restrict_l2_norm, squared_l2_norm

__all__ = ["PGD_max_l2_truncate", "restrict_l2_norm", "l2_norm", "squared_l2_norm"]
