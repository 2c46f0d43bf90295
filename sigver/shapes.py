"""The image shapes every stage agrees on (one definition; see ``docs/formats.md``).

- :data:`IMG_SIZE`: ``(height, width)`` of the images stored in a dataset file by default (170 x 242).
- :data:`INPUT_SIZE`: ``(height, width)`` of the model input, the centre (or, in training, random) crop of a
  stored image (150 x 220); the SigNet family's dense layers only accept this size.

Which input size a command uses is resolved in one place,
:func:`sigver.featurelearning.checkpoint.resolve_input_size` (an explicit value, else the checkpoint's, else
the architecture's).
"""
from typing import Tuple

__all__ = ["IMG_SIZE", "INPUT_SIZE"]

IMG_SIZE: Tuple[int, int] = (170, 242)
INPUT_SIZE: Tuple[int, int] = (150, 220)
