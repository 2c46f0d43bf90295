"""Pre-processing of a whole raw dataset folder into one dataset file: the library behind
``python -m sigver.preprocessing.process_dataset`` (:func:`process_dataset`, :func:`measure_canvas`).

The order of the images, the canvas rules, how unreadable images and lost writers are handled, and how this
differs from the original are described in the command's module, :mod:`sigver.preprocessing.process_dataset`.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np

from ..distributed import active_client, imap_chunks
from ..errors import BlankImageError, SigverError
from ..shapes import IMG_SIZE
from .normalize import CanvasTooSmallWarning, find_signature, preprocess_signature

__all__ = ["process_dataset", "measure_canvas", "ProcessReport", "WriterLostError"]

#: a user-given canvas may differ from the aspect ratio of the stored image by this much (relative)
RATIO_TOLERANCE = 0.02
_KINDS = ((0, "list_genuine"), (1, "list_skilled"), (2, "list_simple"))


class WriterLostError(SigverError):
    """Every genuine signature of at least one writer was unreadable or blank (nothing was written).

    Its ``report`` attribute is the :class:`ProcessReport` of the run.
    """

    def __init__(self, report: "ProcessReport", message: str):
        super().__init__(message)
        self.report = report


@dataclass
class ProcessReport:
    """What happened during :func:`process_dataset`.

    Attributes
    ----------
    canvas : (int, int)
        Canvas used, ``(height, width)`` in pixels.
    n_items : int
        Images listed by the reader for the selected writers.
    n_written : int
        Images written to the file.
    skipped : list of (str, str)
        ``(path or name, reason)`` of every image skipped (unreadable or blank).
    too_large : list of str
        Images whose signature was larger than the canvas (their central part was kept).
    lost_writers : list
        Writer ids left without any genuine signature.
    """

    canvas: Tuple[int, int] = (0, 0)
    n_items: int = 0
    n_written: int = 0
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    too_large: List[str] = field(default_factory=list)
    lost_writers: List[Any] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the end of a run."""
        lines = [f"{self.n_written} of {self.n_items} images written "
                 f"(canvas {self.canvas[0]} x {self.canvas[1]})"]
        if self.skipped:
            lines.append(f"{len(self.skipped)} images skipped (unreadable or blank):")
            lines += [f"  {name}: {reason}" for name, reason in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"  ... and {len(self.skipped) - 20} more")
        if self.too_large:
            shown = ", ".join(self.too_large[:5]) + (" ..." if len(self.too_large) > 5 else "")
            lines.append(f"{len(self.too_large)} signatures larger than the canvas were cropped to it "
                         f"({shown}); use a larger --canvas or --canvas auto")
        if self.lost_writers:
            ids = ", ".join(str(u) for u in self.lost_writers)
            lines.append(f"{len(self.lost_writers)} writers have no genuine signature left: {ids}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# work done in the worker processes (module-level functions, so they pickle by reference)

_DATASET = None


def _set_dataset(dataset) -> None:
    global _DATASET
    _DATASET = dataset


def _label(dataset, item) -> str:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    try:
        return dataset.item_name(item)
    except Exception:  # pragma: no cover - a reader whose names fail still gets its items reported
        return repr(item)


def _load(item):
    """Load one item; returns (image, None) or (None, reason)."""
    try:
        img = _DATASET.load(item)
    except SigverError as e:
        return None, str(e)
    except (OSError, ValueError) as e:
        return None, f"cannot read it ({type(e).__name__}: {e})"
    return img, None


def _preprocess_task(task):
    """Worker: ``(item, canvas, img_size, binarize)`` -> ``(status, image or reason, too_large)``."""
    item, canvas, img_size, binarize = task
    img, reason = _load(item)
    if img is None:
        return "error", reason, False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CanvasTooSmallWarning)
        try:
            out = preprocess_signature(img, canvas, img_size=img_size, input_size=None, binarize=binarize)
        except BlankImageError as e:
            return "blank", str(e), False
        except ValueError as e:  # e.g. a 3-D array from a custom reader
            return "error", str(e), False
    too_large = any(issubclass(w.category, CanvasTooSmallWarning) for w in caught)
    return "ok", np.ascontiguousarray(out), too_large


def _measure_task(item):
    """Worker: ``item`` -> ``(status, (top, bottom, left, right) or reason)``.

    ``top``/``left`` are the rows / columns of the tight crop above / left of its centre of mass,
    ``bottom``/``right`` the rest; a canvas holds the signature as placed when its half sizes cover them.
    """
    img, reason = _load(item)
    if img is None:
        return "error", reason
    try:
        loc = find_signature(img)
    except BlankImageError as e:
        return "blank", str(e)
    except ValueError as e:
        return "error", str(e)
    h, w = loc.crop_shape
    rc, cc = loc.center
    return "ok", (rc, h - rc, cc, w - cc)


# ---------------------------------------------------------------------------------------------------

@contextmanager
def _mapper(dataset, workers: int) -> Iterator[Callable]:
    """Yield ``imap(func, iterable)``: ordered, in ``workers`` processes (or in this one when 1), or on the
    Dask cluster of :func:`sigver.distributed.cluster` when one is active."""
    from . import _kernels

    # compile (first run on a machine) or load the numba kernels once here: forked workers inherit them,
    # spawned ones load the on-disk cache instead of compiling in parallel (no-op without numba)
    _kernels.warm_up()
    client = active_client()
    if client is not None:  # a Dask cluster (sigver.distributed): the reader scattered once, 32 images a task
        yield lambda func, iterable: imap_chunks(client, func, iterable, chunk=32, setup=_set_dataset,
                                                 context=dataset)
        return
    if workers <= 1:
        previous = _DATASET
        _set_dataset(dataset)
        try:
            yield map
        finally:
            _set_dataset(previous)
        return
    ctx = multiprocessing.get_context()
    with ctx.Pool(workers, initializer=_set_dataset, initargs=(dataset,)) as pool:
        def imap(func, iterable):
            tasks = list(iterable)
            chunk = max(1, min(32, len(tasks) // (workers * 8)))
            return pool.imap(func, tasks, chunksize=chunk)

        yield imap


def _progress(iterable, total: int, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True)


def _note(message: str, progress: bool) -> None:
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)


def _list_items(dataset, users) -> List[Tuple[int, int, Any]]:
    """``(user position, yforg, item)`` in output order."""
    tasks = []
    for y, user in enumerate(users):
        for yforg, method in _KINDS:
            for item in getattr(dataset, method)(user):
                tasks.append((y, yforg, item))
    return tasks


def _select_users(dataset, subset) -> list:
    from ..validation import check_range

    users = list(dataset.get_user_list())
    if isinstance(subset, slice):
        if subset.step is None and (subset.start is not None or subset.stop is not None):
            a = 0 if subset.start is None else subset.start
            b = len(users) if subset.stop is None else subset.stop
            check_range("--users", a, b, len(users))  # reversed, empty or past the end: never clamped
        return users[subset]
    raise TypeError(f"subset must be a slice over positions in the user list, got {subset!r}")


def _canvas_from_extents(extents: np.ndarray, img_size) -> Tuple[int, int]:
    """Smallest canvas of the aspect ratio of ``img_size`` holding every signature as placed.

    A crop with ``a`` rows above its centre of mass and ``b`` from it downwards is placed at
    ``H // 2 - a`` without shifting nor cropping when ``H // 2 >= a`` and ``H - H // 2 >= b``, i.e.
    ``H >= max(2a, 2b - 1)`` (the same per column).
    """
    top, bottom, left, right = (int(v) for v in extents.max(axis=0))
    h_min = max(2 * top, 2 * bottom - 1, 1)
    w_min = max(2 * left, 2 * right - 1, 1)
    ih, iw = img_size
    height = max(h_min, math.ceil(w_min * ih / iw))
    width = max(w_min, round(height * iw / ih))
    height = max(height, round(width * ih / iw))
    return int(height), int(width)


def measure_canvas(dataset, img_size=IMG_SIZE, subset=slice(None), workers: int = 1,
                   progress: bool = False, _imap=None, _report: Optional[ProcessReport] = None
                   ) -> Tuple[int, int]:
    """Measure the canvas a dataset needs: every signature fits, centred by its centre of mass.

    Each image is located exactly as :func:`~sigver.preprocessing.normalize.normalize_image` does (Otsu
    threshold, blurred mask, tight crop, centre of mass), and the canvas is the smallest with the aspect
    ratio of ``img_size`` that holds every crop placed with its centre of mass at the canvas centre (so
    nothing is shifted or cropped, and resizing to ``img_size`` crops no ink).

    Parameters
    ----------
    dataset : SignatureDataset
        The reader.
    img_size : (int, int)
        ``(height, width)`` of the stored images, which fixes the aspect ratio.
    subset : slice
        Positions in ``dataset.get_user_list()`` to measure.
    workers : int
        Processes.
    progress : bool
        Show a progress bar.

    Returns
    -------
    (int, int)
        Canvas ``(height, width)`` in pixels.

    Raises
    ------
    SigverError
        No image could be measured.
    """
    users = _select_users(dataset, subset)
    items = [item for _, _, item in _list_items(dataset, users)]
    if _imap is None:
        with _mapper(dataset, workers) as imap:
            return measure_canvas(dataset, img_size, subset, workers, progress, imap, _report)
    extents = []
    results = _imap(_measure_task, items)
    for item, (status, value) in zip(items, _progress(results, len(items), progress, "measuring")):
        if status == "ok":
            extents.append(value)
    if not extents:
        raise SigverError(f"cannot measure a canvas: none of the {len(items)} images of {dataset!r} "
                          "could be read and has ink")
    return _canvas_from_extents(np.asarray(extents), img_size)


def _check_canvas_ratio(canvas, img_size) -> None:
    ratio = (canvas[0] / canvas[1]) / (img_size[0] / img_size[1])
    if abs(ratio - 1) > RATIO_TOLERANCE:
        suggested = (canvas[0], round(canvas[0] * img_size[1] / img_size[0]))
        raise SigverError(
            f"the canvas {canvas[0]} x {canvas[1]} (height/width {canvas[0] / canvas[1]:.3f}) does not have "
            f"the aspect ratio of the image size {img_size[0]} x {img_size[1]} "
            f"({img_size[0] / img_size[1]:.3f}), so resizing would crop ink off the sides; use e.g. "
            f"--canvas {suggested[0]} {suggested[1]}, or --canvas auto")


def _run(dataset, save_path, img_size=IMG_SIZE, subset=slice(None), workers: int = 1,
         canvas_size=None, progress: bool = True, allow_lost_writers: bool = False, binarize: bool = False,
         overwrite: bool = False, load: bool = True):
    """Pre-process and write; returns ``(the file loaded back, or None when not load, report)``."""
    from ..datasets.format import DatasetWriter, check_target, load_dataset

    img_size = (int(img_size[0]), int(img_size[1]))
    check_target(save_path, overwrite=overwrite)  # before any work
    users = _select_users(dataset, subset)
    tasks = _list_items(dataset, users)
    report = ProcessReport(n_items=len(tasks))
    if progress:
        print(f"{len(users)} writers, {len(tasks)} images", file=sys.stderr)
    with _mapper(dataset, workers) as imap:
        if canvas_size is None:
            canvas_size = dataset.maxsize
        if canvas_size is None or (isinstance(canvas_size, str) and canvas_size == "auto"):
            canvas_size = measure_canvas(dataset, img_size, subset, workers, progress, _imap=imap)
            if progress:
                print(f"canvas: {canvas_size[0]} x {canvas_size[1]} (measured)", file=sys.stderr)
        canvas_size = (int(canvas_size[0]), int(canvas_size[1]))
        report.canvas = canvas_size
        genuine_left = np.zeros(len(users), dtype=np.int64)
        with DatasetWriter(save_path, capacity=len(tasks), img_size=img_size, overwrite=overwrite) as writer:
            results = imap(_preprocess_task, ((item, canvas_size, img_size, binarize) for _, _, item in tasks))
            for (y, yforg, item), (status, value, too_large) in zip(
                    tasks, _progress(results, len(tasks), progress, "pre-processing")):
                name = _label(dataset, item)
                if status != "ok":
                    report.skipped.append((name, value))
                    _note(f"skipped {name}: {value}", progress)
                    continue
                if too_large:
                    report.too_large.append(name)
                writer.add(value, y, yforg, dataset.item_name(item))
                genuine_left[y] += yforg == 0
            report.n_written = len(writer)
            report.lost_writers = [users[i] for i in np.flatnonzero(genuine_left == 0)]
            if report.lost_writers and not allow_lost_writers:
                raise WriterLostError(report, 
                    f"{len(report.lost_writers)} writers have no readable genuine signature "
                    f"({', '.join(str(u) for u in report.lost_writers[:10])}"
                    f"{' ...' if len(report.lost_writers) > 10 else ''}); nothing was written to {save_path}")
            writer.commit(list(users))
    return (load_dataset(save_path) if load else None), report


def process_dataset(dataset, save_path, img_size=IMG_SIZE, subset=slice(None), workers: int = 1,
                    canvas_size=None, progress: bool = True, allow_lost_writers: bool = False,
                    binarize: bool = False):
    """Pre-process the images of a dataset reader and save them as one dataset file.

    Parameters
    ----------
    dataset : SignatureDataset
        The reader (picklable; its items are loaded with ``dataset.load(item)`` in the worker processes).
    save_path : str or path-like
        Output ``.npz`` file, or a folder of ``.npy`` files for sets larger than memory. Written atomically.
    img_size : (int, int)
        ``(height, width)`` of the stored images, default 170 x 242.
    subset : slice
        Positions in ``dataset.get_user_list()`` to process; ``y`` counts from 0 within the subset.
    workers : int
        Processes (1: in this process). The output does not depend on it.
    canvas_size : (int, int), 'auto' or None
        Canvas ``(height, width)``; ``None`` uses ``dataset.maxsize`` (and measures it when that is None),
        ``'auto'`` measures it (:func:`measure_canvas`).
    progress : bool
        Show progress bars and report skipped images on stderr.
    allow_lost_writers : bool
        Write the file even when some writer has no genuine signature left.
    binarize : bool
        Ink pixels set to full black before resizing, as in a bilevel scan (see
        :func:`~sigver.preprocessing.normalize.preprocess_signature`); not in the original pipeline.

    Returns
    -------
    SignatureData
        The file as loaded back (``x`` uint8 (N, 1, H, W), ``y``, ``yforg``, ``user_mapping``,
        ``filenames``).

    Raises
    ------
    WriterLostError
        A writer lost all its genuine signatures (the file is not written).
    """
    data, report = _run(dataset, save_path, img_size, subset, workers, canvas_size, progress,
                        allow_lost_writers, binarize)
    if progress:
        print(report.summary(), file=sys.stderr)
    return data
