"""The original module ``sigver.datasets.util``, kept so that its users' imports work unchanged.

The functions live elsewhere now (one name, one implementation):

=========================== ===========================================================================
original name               where it is now
=========================== ===========================================================================
``load_dataset``            :func:`sigver.datasets.load_dataset` (returns a named tuple that unpacks like
                            the original 5-tuple; ``user_mapping`` is an array of writer ids, not a pickled
                            dict, so ``user_mapping[i]`` works and ``.item()`` is not needed)
``get_subset``              :func:`sigver.datasets.get_subset`
``remove_forgeries``        :func:`sigver.datasets.remove_forgeries`
``process_dataset``         :func:`sigver.preprocessing.pipeline.process_dataset` (returns the
                            loaded file instead of ``None``)
``process_dataset_images``  below: the original's in-memory loop with any ``preprocess_fn``
=========================== ===========================================================================
"""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np

from .format import _as_id_array, get_subset, load_dataset, remove_forgeries

__all__ = ["load_dataset", "get_subset", "remove_forgeries", "process_dataset", "process_dataset_images"]


def process_dataset(dataset, save_path, img_size: Tuple[int, int] = (170, 242), subset: slice = slice(None),
                    **kwargs):
    """Pre-process a reader's images into a dataset file: :func:`sigver.preprocessing.process_dataset.
    process_dataset` (same first four arguments as the original; ``workers``, ``canvas_size``, ...)."""
    from ..preprocessing.pipeline import process_dataset as _process  # imported late: preprocessing uses us

    return _process(dataset, save_path, img_size, subset, **kwargs)


def process_dataset_images(dataset, preprocess_fn: Callable[[np.ndarray], np.ndarray], img_size: Tuple[int, int],
                           subset: slice = slice(None)):
    """Pre-process the images of a reader in memory with any ``preprocess_fn`` (the original's helper).

    For each writer of ``dataset.get_user_list()[subset]``, in order: its genuine signatures (``yforg`` 0),
    skilled forgeries (1) and simple forgeries (2); ``y`` is the writer's position in the subset. For the
    standard pipeline (centring on the reader's canvas, worker processes, a file written atomically) use
    :func:`process_dataset`.

    Parameters
    ----------
    dataset : SignatureDataset
        A reader (``sigver.datasets.get_dataset(name, path)``).
    preprocess_fn : callable
        Maps a uint8 (H0, W0) scan to a uint8 ``img_size`` image, e.g. ``functools.partial(
        preprocess_signature, canvas_size=dataset.maxsize, img_size=(170, 242), input_size=(170, 242))``.
    img_size : (int, int)
        ``(H, W)`` of ``preprocess_fn``'s output.
    subset : slice
        Positions in the writer list.

    Returns
    -------
    x : ndarray of uint8 (N, 1, H, W)
    y, yforg : ndarray of int32 (N,)
    user_mapping : ndarray (U,)
        Original id of each writer position (an array, as :func:`load_dataset` returns it).
    filenames : ndarray of str (N,)
    """
    users = list(dataset.get_user_list())[subset]
    h, w = int(img_size[0]), int(img_size[1])
    images, ys, forg, names = [], [], [], []
    for i, user in enumerate(users):
        for kind, items in enumerate((dataset.iter_genuine(user), dataset.iter_forgery(user),
                                      dataset.iter_simple_forgery(user))):
            for img, name in items:
                out = np.asarray(preprocess_fn(img))
                if out.shape != (h, w):
                    raise ValueError(f"preprocess_fn returned an image of shape {out.shape} for {name}, "
                                     f"expected img_size {(h, w)}")
                images.append(out)
                ys.append(i)
                forg.append(kind)
                names.append(name)
    x = np.stack(images)[:, None] if images else np.zeros((0, 1, h, w), np.uint8)
    return (x.astype(np.uint8, copy=False), np.asarray(ys, np.int32), np.asarray(forg, np.int32),
            _as_id_array(users), np.asarray(names, dtype=str))
