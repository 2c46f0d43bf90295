"""Distillation of a teacher's feature space into a student, with continual learning (docs/protocols.md).

- ``python -m sigver.distillation.invert``: deep inversion with competition, a teacher checkpoint -> a dataset
  file of synthetic 150 x 220 images labelled with the teacher's classes (:class:`DeepInversion`);
- ``python -m sigver.distillation.train``: teacher -> student distillation on those images (``L_d``), learning new
  writers from a continual set (``L_c``) while keeping the teacher's space (``L_p``); the student is saved in the
  standard checkpoint format;
- :mod:`sigver.distillation.losses`: ``L_d``, ``L_c``, ``L_p`` and the Jensen-Shannon competition term.
"""
from .inversion import DeepInversion, InversionError
from .losses import continual_loss, distillation_loss, js_divergence, kl_to_teacher, preservation_loss

__all__ = ["DeepInversion", "InversionError", "distillation_loss", "continual_loss", "preservation_loss",
           "kl_to_teacher", "js_divergence"]

