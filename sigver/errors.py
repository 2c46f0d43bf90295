"""Exceptions for bad user input.

Every error a user can cause (a missing or corrupt file, an image with no ink, a wrong flag value) is a
:class:`SigverError`. Its message is one line that names the file and says what to do. Command-line entry
points print that line and exit with status 2 instead of showing a traceback (see :mod:`sigver.cli`).
"""


class SigverError(Exception):
    """Base class of user-facing errors (printed as one line by the CLIs)."""


class DatasetFileError(SigverError, ValueError):
    """A dataset file (``.npz`` or ``.npy`` folder) is missing, truncated or malformed."""


class ImageReadError(SigverError, ValueError):
    """An image file cannot be read or decoded."""


class BlankImageError(SigverError, ValueError):
    """An image has no ink (nothing darker than the background), so it cannot be pre-processed."""


class DatasetLayoutError(SigverError, ValueError):
    """A raw dataset folder does not have the layout its reader expects."""


class CheckpointError(SigverError, ValueError):
    """A model checkpoint (``.pth``) is missing, truncated, malformed or holds another model's weights."""


class ImageSizeError(SigverError, ValueError):
    """Images are smaller than the model input (they were pre-processed to another size)."""
