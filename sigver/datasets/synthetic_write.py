"""Synthetic signatures as data: the on-demand reader (:class:`SyntheticSignatures`), a GPDS-layout folder
writer, contact sheets and :func:`generate_dataset` (what ``python -m sigver.datasets.synthetic`` runs)."""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import SigverError
from ..fileio import atomic_write
from ..shapes import IMG_SIZE
from .base import SignatureDataset
from .synthetic_render import encode_png, render_signature
from .synthetic_sim import _KIND_NAMES, GENUINE, GPDS_CANVAS, SKILLED

__all__ = ["SyntheticSignatures", "generate_dataset", "synthetic_contact_sheet", "write_folder", "SyntheticOutput"]

_MARKER = "synthetic.json"


# =====================================================================================================
# the reader

class SyntheticSignatures(SignatureDataset):
    """A reader whose items are rendered on demand: ``n_users`` simulated writers, GPDS-like.

    Parameters
    ----------
    n_users : int
        Number of writers (>= 1).
    genuine : int
        Genuine signatures per writer (>= 1; GPDS has 24).
    forgeries : int
        Skilled forgeries per writer (>= 0; GPDS has 30).
    seed : int
        Generator seed (>= 0). Every image is a pure function of ``(seed, user, kind, index)``.
    first_user : int
        Writers are numbered ``first_user + 1 .. first_user + n_users`` (GPDS numbers from 1). Two readers
        with the same seed and disjoint ranges have disjoint writers (e.g. development and exploitation
        sets); overlapping ranges share writers.

    Notes
    -----
    Items are tuples ``(user, kind, index)`` with ``kind`` :data:`GENUINE` or :data:`SKILLED` and ``index``
    from 1; :meth:`item_name` gives the GPDS file name (``c-001-01.png``, ``cf-001-01.png``). ``maxsize`` is
    the GPDS canvas (952, 1360).
    """

    maxsize = GPDS_CANVAS
    simple_per_user = 0

    def __init__(self, n_users: int = 100, genuine: int = 24, forgeries: int = 30, seed: int = 0,
                 first_user: int = 0):
        self.n_users = _check_int("n_users", n_users, 1)
        self.genuine_per_user = _check_int("genuine", genuine, 1)
        self.skilled_per_user = _check_int("forgeries", forgeries, 0)
        self.seed = _check_int("seed", seed, 0)
        self.first_user = _check_int("first_user", first_user, 0)

    def get_user_list(self) -> List[int]:
        """Writer ids ``first_user + 1 .. first_user + n_users``."""
        return list(range(self.first_user + 1, self.first_user + self.n_users + 1))

    def list_genuine(self, user) -> List[Tuple[int, int, int]]:
        """Items ``(user, GENUINE, i)``, ``i = 1 .. genuine``."""
        return [(int(user), GENUINE, i) for i in range(1, self.genuine_per_user + 1)]

    def list_skilled(self, user) -> List[Tuple[int, int, int]]:
        """Items ``(user, SKILLED, i)``, ``i = 1 .. forgeries``."""
        return [(int(user), SKILLED, i) for i in range(1, self.skilled_per_user + 1)]

    def load(self, item) -> np.ndarray:
        """Render the item: uint8 (H, W), dark ink on light paper."""
        user, kind, index = item
        return render_signature(self.seed, user, kind, index)

    def item_name(self, item) -> str:
        """GPDS file name of the item: ``c-{user:03d}-{index:02d}.png`` or ``cf-...``."""
        user, kind, index = item
        return f"{_KIND_NAMES[kind]}-{int(user):03d}-{int(index):02d}.png"

    def __repr__(self) -> str:
        return (f"SyntheticSignatures(n_users={self.n_users}, genuine={self.genuine_per_user}, "
                f"forgeries={self.skilled_per_user}, seed={self.seed}, first_user={self.first_user})")


def _check_int(name, value, minimum) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SigverError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise SigverError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


# =====================================================================================================
# writing a GPDS-layout folder

_NAME_RE = re.compile(r"^cf?-\d{3,}-\d{2,}\.png$")


def _is_synthetic_file(name: str) -> bool:
    """Whether ``name`` is an image name this generator writes (``c-001-01.png``, ``cf-001-01.png``)."""
    return bool(_NAME_RE.match(name))


def _prepare_folder(out: Path, overwrite: bool) -> None:
    """Check the output folder; clear the images of a previous synthetic run in it."""
    if out.exists() and not out.is_dir():
        raise SigverError(f"--out {out} exists and is not a folder; choose a folder path")
    if not out.exists():
        out.mkdir(parents=True)
        return
    entries = [e for e in os.listdir(out) if not e.startswith(".")]
    if not entries:
        return
    if (out / _MARKER).is_file():  # a previous synthetic output: replace its images
        for e in entries:
            d = out / e
            if d.is_dir() and e.isdigit():
                for f in os.listdir(d):
                    if _is_synthetic_file(f):
                        (d / f).unlink()
                if not os.listdir(d):
                    d.rmdir()
        return
    if not overwrite:
        raise SigverError(f"--out {out} is not empty and is not a synthetic signature folder (no {_MARKER}); "
                          f"choose an empty or new folder, or pass --overwrite to write into it anyway")


def _write_user(task) -> int:
    """Render and save every image of one writer (run in worker processes). Returns the image count."""
    out, seed, user, genuine, forgeries = task
    folder = Path(out) / f"{user:03d}"
    folder.mkdir(exist_ok=True)
    n = 0
    for kind, count in ((GENUINE, genuine), (SKILLED, forgeries)):
        for i in range(1, count + 1):
            img = render_signature(seed, user, kind, i)
            name = f"{_KIND_NAMES[kind]}-{user:03d}-{i:02d}.png"
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(encode_png(img))
            os.replace(tmp, folder / name)
            n += 1
    return n


def _map(func, tasks, workers: int):
    """``imap_unordered`` over a process pool (in this process when ``workers == 1``)."""
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield func(t)
        return
    import multiprocessing

    with multiprocessing.get_context().Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap_unordered(func, tasks)


def write_folder(dataset: SyntheticSignatures, out, workers: Optional[int] = None, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """Write the images of ``dataset`` in the GPDS layout ``out/{user:03d}/{c|cf}-{user:03d}-{i:02d}.png``.

    Parameters
    ----------
    dataset : SyntheticSignatures
    out : str or path-like
        Output folder: new, empty, or a previous synthetic output (its images are replaced). Any other
        non-empty folder is refused unless ``overwrite`` is true (then files are written into it, and nothing
        is deleted).
    workers : int, optional
        Processes (default: number of CPUs). The images do not depend on it.
    overwrite : bool
        Allow writing into a non-empty folder that is not a synthetic output.
    progress : bool
        Show a progress bar (tqdm) on stderr.

    Returns
    -------
    pathlib.Path
        The folder. It holds ``synthetic.json`` (the generator parameters; ``"complete": true`` once every
        image is written). Each image is written to a temporary name and renamed.
    """
    out = Path(out)
    workers = _check_int("workers", workers if workers is not None else (os.cpu_count() or 1), 1)
    _prepare_folder(out, overwrite)
    meta = {"generator": "sigver.datasets.synthetic", "seed": dataset.seed, "n_users": dataset.n_users,
            "first_user": dataset.first_user, "genuine": dataset.genuine_per_user,
            "forgeries": dataset.skilled_per_user, "layout": "gpds", "complete": False}
    _write_json(out / _MARKER, meta)
    tasks = [(str(out), dataset.seed, u, dataset.genuine_per_user, dataset.skilled_per_user)
             for u in dataset.get_user_list()]
    total = len(tasks) * (dataset.genuine_per_user + dataset.skilled_per_user)
    from tqdm import tqdm

    with tqdm(total=total, desc="synthetic signatures", unit="img", disable=not progress,
              file=sys.stderr) as bar:
        for n in _map(_write_user, tasks, workers):
            bar.update(n)
    meta["complete"] = True
    _write_json(out / _MARKER, meta)
    return out


def _write_json(path: Path, obj) -> None:
    text = json.dumps(obj, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


# =====================================================================================================
# contact sheets, generate_dataset and the command line

def synthetic_contact_sheet(path, seed: int = 0, users: Sequence[int] = range(1, 9), genuine: int = 4,
                            forgeries: int = 2, preprocessed: bool = False, **kwargs) -> Path:
    """A PNG grid: one row per writer, ``genuine`` genuine signatures then ``forgeries`` skilled forgeries.

    Parameters
    ----------
    path : str or path-like
        Output PNG.
    seed : int
        Generator seed.
    users : sequence of int
        Writer ids (rows).
    genuine, forgeries : int
        Columns of each kind.
    preprocessed : bool
        Show what the network sees (the 150 x 220 pre-processed crop, displayed as dark ink on white)
        instead of the raw scans.
    **kwargs
        Passed to :func:`sigver.visualize.contact_sheet`.

    Returns
    -------
    pathlib.Path
    """
    from ..visualize import contact_sheet

    images, titles = [], []
    for u in users:
        for kind, count in ((GENUINE, genuine), (SKILLED, forgeries)):
            for i in range(1, count + 1):
                img = render_signature(seed, u, kind, i)
                if preprocessed:
                    from ..preprocessing.normalize import preprocess_signature

                    img = preprocess_signature(img, GPDS_CANVAS)
                images.append(img)
                titles.append(f"writer {u}: {'genuine' if kind == GENUINE else 'skilled forgery'} {i}")
    if not images:
        raise SigverError("the contact sheet needs at least one writer and one image per writer")
    kwargs.setdefault("ncols", genuine + forgeries)
    kwargs.setdefault("fontsize", 7)
    kwargs.setdefault("suptitle", f"synthetic signatures (seed {seed}): genuine | skilled forgeries")
    if preprocessed:
        kwargs.setdefault("invert", True)
        kwargs.setdefault("cell_size", (2.4, 1.8))
    else:
        kwargs.setdefault("cell_size", (3.0, 2.0))
    return contact_sheet(images, path, titles=titles, **kwargs)


@dataclass
class SyntheticOutput:
    """What :func:`generate_dataset` wrote: the folder, the dataset file (loaded), the contact sheet."""

    folder: Optional[Path] = None
    data: Optional[object] = None
    contact_sheet: Optional[Path] = None


def generate_dataset(n_users: int = 100, genuine: int = 24, forgeries: int = 30, seed: int = 0,
                     out=None, npz=None, first_user: int = 0, workers: Optional[int] = None,
                     overwrite: bool = False, img_size: Tuple[int, int] = IMG_SIZE, contact_sheet=None,
                     progress: bool = True) -> SyntheticOutput:
    """Generate a synthetic signature set as a GPDS-layout folder and/or a pre-processed dataset file.

    Parameters
    ----------
    n_users, genuine, forgeries, seed, first_user
        See :class:`SyntheticSignatures`.
    out : str or path-like, optional
        Folder to write in the GPDS layout (see :func:`write_folder`).
    npz : str or path-like, optional
        Dataset file to write (:func:`sigver.preprocessing.process_dataset.process_dataset` with the GPDS
        canvas): ``x`` uint8 (N, 1, H, W) inverted, ``y``, ``yforg``, ``user_mapping`` (the writer ids),
        ``filenames``.
    workers : int, optional
        Processes (default: number of CPUs); the results do not depend on it.
    overwrite : bool
        Allow ``out`` to be a non-empty folder that is not a synthetic output.
    img_size : (int, int)
        ``(height, width)`` of the images stored in ``npz``.
    contact_sheet : str or path-like, optional
        PNG of the first (up to) 8 writers: 4 genuine signatures and 2 skilled forgeries each.
    progress : bool
        Progress bars on stderr.

    Returns
    -------
    SyntheticOutput
    """
    dataset = SyntheticSignatures(n_users, genuine, forgeries, seed, first_user)
    if out is None and npz is None and contact_sheet is None:
        raise SigverError("nothing to do: give --out DIR, --npz FILE and/or --contact-sheet PNG")
    workers = _check_int("workers", workers if workers is not None else (os.cpu_count() or 1), 1)
    if npz is not None:  # before any work: never over foreign files, never over the --out folder
        from .format import check_target

        check_target(npz, flag="--npz", inputs=[out], overwrite=overwrite)
    result = SyntheticOutput()
    if out is not None:
        result.folder = write_folder(dataset, out, workers=workers, overwrite=overwrite, progress=progress)
    if npz is not None:
        # the one import of datasets from the layer above: --npz is "generate, then pre-process" in one call;
        # it is lazy, so that the datasets package itself never needs preprocessing
        from ..preprocessing.pipeline import process_dataset

        result.data = process_dataset(dataset, npz, img_size=tuple(img_size), workers=workers,
                                      progress=progress)
    if contact_sheet is not None:
        users = dataset.get_user_list()[:8]
        result.contact_sheet = synthetic_contact_sheet(contact_sheet, seed, users,
                                                       genuine=min(4, dataset.genuine_per_user),
                                                       forgeries=min(2, dataset.skilled_per_user))
    return result
