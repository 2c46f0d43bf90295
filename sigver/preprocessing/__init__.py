"""Pre-processing: centre a signature on a canvas, remove the background, invert, resize, crop.

- :func:`preprocess_signature` (and its steps :func:`normalize_image`, :func:`resize_image`,
  :func:`crop_center`, ...) reproduces the original pipeline byte for byte, much faster
  (``method='reference'`` keeps the straightforward scikit-image implementation);
- ``python -m sigver.preprocessing.process_dataset``: raw dataset folder -> dataset file
  (:func:`~sigver.preprocessing.pipeline.process_dataset`).
"""
from .normalize import (
    CanvasTooSmallWarning,
    SignatureLocation,
    crop_center,
    crop_center_multiple,
    find_signature,
    normalize_image,
    preprocess_signature,
    remove_background,
    resize_image,
)

__all__ = [
    "preprocess_signature",
    "normalize_image",
    "remove_background",
    "resize_image",
    "crop_center",
    "crop_center_multiple",
    "find_signature",
    "SignatureLocation",
    "CanvasTooSmallWarning",
    "center_crop",
    "center_crop_multiple",
]

# the former sigver.preprocessing.crop names of the centre crop (crop_center_multiple crops the last two axes of
# an image or of a batch, as they did); its random crops are gone: training crops on the device
# (sigver.training.batching)
center_crop = center_crop_multiple = crop_center_multiple
