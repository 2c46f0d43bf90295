"""The one dataset file format of sigver, its loader and its writer.

A dataset file holds pre-processed signature images and their labels (docs/formats.md):

============== ========= ============ ===================================================================
key            dtype     shape        meaning
============== ========= ============ ===================================================================
``x``          uint8     (N, 1, H, W) pre-processed images, inverted (background 0, ink bright), usually
                                      170 x 242 (not yet cropped to the 150 x 220 network input)
``y``          int32     (N,)         writer index 0..U-1 (position of the writer in the processed list)
``yforg``      int32     (N,)         0 genuine, 1 skilled forgery, 2 simple forgery
``filenames``  str       (N,)         base file name of each image
``user_mapping`` int64   (U,)         original writer id of each writer index (a plain array, no pickle;
                                      a str array when the ids are names, as with the ``folder`` reader)
============== ========= ============ ===================================================================

Two containers hold these arrays:

- an uncompressed ``.npz`` file (what the original ``process_dataset`` writes; the original code loads ours
  too, since ``user_mapping`` is a plain array), or
- a folder with one ``<key>.npy`` file per key, for sets larger than memory: ``x.npy`` is memory-mapped
  (copy-on-write) when loaded, the rest is read into memory.

Files whose ``x`` holds float images (the continual-learning code's inverted data stores float in [0, 1]) are
read too: they are converted to uint8 on loading, exactly (``round(x * 255)``; whole numbers in [0, 255] kept),
with a :class:`FloatImagesWarning`; other float ranges are refused.

Files written by the original code store ``user_mapping`` as a pickled dict. Unpickling a file someone
handed you can run arbitrary code, so :func:`load_dataset` does not do it unless asked
(``allow_pickle=True``): it warns and rebuilds the mapping as ``user_mapping[i] = i``.

Every write is atomic: arrays go to a temporary file (or folder) beside the target, which replaces the
target only once complete, so an interrupted or failed run never leaves a partial file nor destroys the
previous one.
"""
from __future__ import annotations

import ast
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import DatasetFileError
from ..fileio import atomic_write, default_mode, temp_prefix

__all__ = [
    "SignatureData",
    "load_dataset",
    "save_dataset",
    "DatasetWriter",
    "check_target",
    "get_subset",
    "remove_forgeries",
    "sample_per_writer",
    "KEYS",
    "FloatImagesWarning",
]

#: keys of a dataset file, in the order of the tuple returned by :func:`load_dataset`
KEYS = ("x", "y", "yforg", "user_mapping", "filenames")
_REQUIRED = ("x", "y", "yforg", "filenames")
_MAKE_ONE = ("create one with `python -m sigver.preprocessing.process_dataset` "
             "or `python -m sigver.datasets.synthetic --npz FILE`")

PathLike = Union[str, os.PathLike]


class FloatImagesWarning(UserWarning):
    """A dataset file stores ``x`` as float images (the original's inverted data); they were converted to uint8."""


class SignatureData(NamedTuple):
    """A loaded dataset; unpacks like the original 5-tuple ``x, y, yforg, user_mapping, filenames``.

    Attributes
    ----------
    x : ndarray of uint8, shape (N, 1, H, W)
        Inverted pre-processed images (background 0). A ``np.memmap`` for ``.npy`` folders.
    y : ndarray of int32, shape (N,)
        Writer index of each image, 0..U-1.
    yforg : ndarray of int32, shape (N,)
        0 genuine, 1 skilled forgery, 2 simple forgery.
    user_mapping : ndarray, shape (U,)
        ``user_mapping[i]`` is the original id of writer index ``i`` (int64, or str for named writers).
    filenames : ndarray of str, shape (N,)
        Base file name of each image.
    """

    x: np.ndarray
    y: np.ndarray
    yforg: np.ndarray
    user_mapping: np.ndarray
    filenames: np.ndarray

    @property
    def n_users(self) -> int:
        """Number of writer indices (``len(user_mapping)``)."""
        return int(len(self.user_mapping))

    @property
    def image_size(self) -> Tuple[int, int]:
        """``(H, W)`` of the stored images."""
        return int(self.x.shape[2]), int(self.x.shape[3])

    def summary(self) -> str:
        """One line: images, writers, genuine / skilled / simple counts and image size."""
        counts = np.bincount(np.asarray(self.yforg), minlength=3)
        return (f"{len(self.y)} images of {len(np.unique(self.y))} writers "
                f"({counts[0]} genuine, {counts[1]} skilled, {counts[2]} simple forgeries), "
                f"{self.image_size[0]}x{self.image_size[1]} pixels")


# ---------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------

def load_dataset(path: PathLike, allow_pickle: bool = False, mmap_mode: Optional[str] = "c") -> SignatureData:
    """Load a dataset file (``.npz``) or a dataset folder of ``.npy`` files.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` file written by sigver or by the original code, or a folder holding ``x.npy``,
        ``y.npy``, ``yforg.npy``, ``filenames.npy`` and ``user_mapping.npy``.
    allow_pickle : bool, default False
        Unpickle the ``user_mapping`` of files written by the original code. Only do this for files you
        trust: unpickling can run arbitrary code. Without it the mapping is rebuilt from ``y``
        (``user_mapping[i] = i``) and a warning says so.
    mmap_mode : {'c', 'r', None}, default 'c'
        How ``x.npy`` of a dataset folder is opened: copy-on-write memory map (the original's choice),
        read-only memory map, or read into memory. Ignored for ``.npz`` files.

    Returns
    -------
    SignatureData
        Named tuple ``(x, y, yforg, user_mapping, filenames)``.

    Raises
    ------
    DatasetFileError
        The file is missing, truncated or corrupt, lacks a key, or its arrays have wrong dtypes or shapes
        (float images outside [0, 1] that are not whole numbers in [0, 255]). The message names the file
        and the problem.

    Warns
    -----
    FloatImagesWarning
        ``x`` holds float images in [0, 1] (converted as ``round(x * 255)``) or whole numbers in [0, 255]
        (kept): the returned ``x`` is uint8 all the same (read into memory, not memory-mapped).
    """
    path = Path(path)
    if path.is_dir():
        arrays, mapping_is_pickled = _read_folder(path, mmap_mode)
    elif path.is_file():
        arrays, mapping_is_pickled = _read_npz(path)
    else:
        raise DatasetFileError(f"{path}: no such dataset file or folder; {_MAKE_ONE}")

    x, y, yforg, filenames = _validate(path, arrays)
    n_users = int(y.max()) + 1 if len(y) else 0
    mapping = arrays.get("user_mapping")
    if mapping_is_pickled:
        if allow_pickle:
            mapping = _unpickle_mapping(path, n_users)
        else:
            warnings.warn(
                f"{path}: user_mapping is a pickled object (a file written by the original sigver); it was not "
                f"unpickled for safety and the writer ids were replaced by the writer indices 0..{n_users - 1}. "
                f"Pass allow_pickle=True (or --allow-pickle) if you trust this file.",
                UserWarning, stacklevel=2)
            mapping = np.arange(n_users, dtype=np.int64)
    elif mapping is None:
        warnings.warn(f"{path}: no user_mapping key; writer ids replaced by the writer indices", UserWarning,
                      stacklevel=2)
        mapping = np.arange(n_users, dtype=np.int64)
    else:
        mapping = _validate_mapping(path, mapping, n_users)
    return SignatureData(x, y, yforg, mapping, filenames)


def _corrupt(path: Path, what: str, err: BaseException) -> DatasetFileError:
    detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    return DatasetFileError(f"{path}: {what} is truncated or corrupt ({detail}); re-create it ({_MAKE_ONE})")


def _read_npz(path: Path):
    """Read every key of a ``.npz`` without unpickling; report a pickled ``user_mapping``."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise _corrupt(path, "the dataset file", e) from None
    if not (magic.startswith(b"PK") or magic == b"\x93NUMPY"):  # np.load would call anything else "pickled"
        raise DatasetFileError(f"{path}: not a dataset file (neither a .npz archive nor a .npy array; it starts "
                               f"with {magic!r}); {_MAKE_ONE}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise _corrupt(path, "the dataset file", e) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetFileError(f"{path}: expected a .npz archive of arrays (keys {', '.join(KEYS)}), "
                               f"got a single array; {_MAKE_ONE}")
    arrays = {}
    mapping_is_pickled = False
    with npz:
        keys = set(npz.files)
        missing = [k for k in _REQUIRED if k not in keys]
        if missing:
            raise DatasetFileError(f"{path}: missing key(s) {', '.join(missing)} (found: {', '.join(sorted(keys))}); "
                                   f"a dataset file needs {', '.join(KEYS)}")
        for key in KEYS:
            if key not in keys:
                continue
            try:
                arrays[key] = npz[key]
            except ValueError as e:
                if key == "user_mapping" and "allow_pickle" in str(e):
                    mapping_is_pickled = True
                    continue
                raise _corrupt(path, f"array {key!r}", e) from None
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise _corrupt(path, f"array {key!r}", e) from None
    return arrays, mapping_is_pickled


def _read_folder(path: Path, mmap_mode: Optional[str]):
    missing = [k for k in _REQUIRED if not (path / f"{k}.npy").is_file()]
    if missing:
        raise DatasetFileError(f"{path}: dataset folder lacks {', '.join(k + '.npy' for k in missing)}; "
                               f"a dataset folder holds {', '.join(k + '.npy' for k in KEYS)}")
    arrays = {}
    mapping_is_pickled = False
    for key in KEYS:
        f = path / f"{key}.npy"
        if not f.is_file():
            continue
        try:
            arrays[key] = np.load(f, mmap_mode=mmap_mode if key == "x" else None, allow_pickle=False)
        except ValueError as e:
            if key == "user_mapping" and "allow_pickle" in str(e):
                mapping_is_pickled = True
                continue
            raise _corrupt(f, "the array file", e) from None
        except (OSError, EOFError) as e:
            raise _corrupt(f, "the array file", e) from None
    return arrays, mapping_is_pickled


def _validate(path: Path, arrays: dict):
    x, y, yforg, filenames = (arrays[k] for k in _REQUIRED)
    if x.dtype.kind == "f" and x.ndim in (3, 4):
        x = _float_images_to_uint8(path, x)
    if x.dtype != np.uint8:
        raise DatasetFileError(f"{path}: x has dtype {x.dtype}, expected uint8 images (0..255, inverted); "
                               f"{_MAKE_ONE}")
    if x.ndim == 3:  # (N, H, W): add the channel axis
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise DatasetFileError(f"{path}: x has shape {x.shape}, expected (N, 1, H, W) grayscale images")
    for name, arr in (("y", y), ("yforg", yforg)):
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise DatasetFileError(f"{path}: {name} has dtype {arr.dtype} and shape {arr.shape}, "
                                   f"expected a 1-D integer array")
    if filenames.ndim != 1 or filenames.dtype.kind not in "US":
        raise DatasetFileError(f"{path}: filenames has dtype {filenames.dtype} and shape {filenames.shape}, "
                               f"expected a 1-D string array")
    n = len(x)
    lengths = {"x": n, "y": len(y), "yforg": len(yforg), "filenames": len(filenames)}
    if len(set(lengths.values())) != 1:
        raise DatasetFileError(f"{path}: arrays have mismatched lengths "
                               f"({', '.join(f'{k}={v}' for k, v in lengths.items())})")
    if n and y.min() < 0:
        raise DatasetFileError(f"{path}: y has negative writer indices (min {y.min()})")
    if n and not np.isin(yforg, (0, 1, 2)).all():
        bad = np.setdiff1d(np.unique(yforg), (0, 1, 2))
        raise DatasetFileError(f"{path}: yforg has values {bad.tolist()}, expected 0 (genuine), "
                               f"1 (skilled) or 2 (simple forgery)")
    if filenames.dtype.kind == "S":
        filenames = filenames.astype(str)
    return x, y.astype(np.int32, copy=False), yforg.astype(np.int32, copy=False), filenames


_CHUNK_VALUES = 1 << 24  # values converted at a time (a 128 MiB float64 temporary)


def _float_images_to_uint8(path: Path, x: np.ndarray) -> np.ndarray:
    """Float images of a file (the original's inverted data: float in [0, 1]) -> uint8, exactly, once, with a notice.

    * values in [0, 1]: ``round(x * 255)`` (``x * 255`` in float64, rounded half to even). Exact for every value
      that is a uint8 level ``k / 255`` stored in float16, float32 or float64 (it gives ``k`` back, so
      ``uint8 / 255`` equals the file's value to the float's precision); any other value moves to the nearest
      level, at most ``0.5 / 255`` away.
    * values in [0, 255] (some above 1): must all be whole numbers, which are kept as they are (exact).
    * anything else (negative values, above 255, NaN, fractions above 1) is an error naming the range found.

    An all-zero or all-one image set counts as [0, 1]. The file is not changed; ``python -m sigver.datasets.info
    FILE --convert OUT`` writes the uint8 file once and for all.
    """
    n = len(x)
    step = max(1, _CHUNK_VALUES // max(1, int(np.prod(x.shape[1:]))))
    lo, hi, finite, whole = np.inf, -np.inf, True, True
    for s in range(0, n, step):
        c = np.asarray(x[s:s + step])
        if c.size == 0:
            continue
        finite = finite and bool(np.isfinite(c).all())
        if not finite:
            break
        lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
        whole = whole and bool((c == np.rint(c)).all())
    if not finite:
        raise DatasetFileError(f"{path}: x has dtype {x.dtype} with NaN or infinite values; expected images in "
                               f"[0, 1] (or uint8 0..255)")
    if n == 0 or lo == np.inf:
        return np.zeros(x.shape, np.uint8)
    if lo >= 0 and hi <= 1:
        scale, how = 255.0, "round(x * 255)"
    elif lo >= 0 and hi <= 255 and whole:
        scale, how = 1.0, "its whole numbers kept as they are"
    else:
        kind = "with fractions " if lo >= 0 and hi <= 255 else ""
        raise DatasetFileError(
            f"{path}: x has dtype {x.dtype} {kind}with values in [{lo:g}, {hi:g}]; float images must be in [0, 1] "
            f"(the original's inverted data) or whole numbers in [0, 255]; expected uint8 images (0..255, inverted)")
    out = np.empty(x.shape, np.uint8)
    for s in range(0, n, step):
        c = np.asarray(x[s:s + step], dtype=np.float64)
        out[s:s + step] = np.rint(c * scale) if scale != 1.0 else c
    warnings.warn(
        f"{path}: x is {x.dtype} in [0, {1 if scale != 1 else 255}] ({n} images), converted once on loading to "
        f"uint8 ({how}); `python -m sigver.datasets.info {path} --convert NEW.npz` writes the standard uint8 file",
        FloatImagesWarning, stacklevel=4)
    return out


def _validate_mapping(path: Path, mapping: np.ndarray, n_users: int) -> np.ndarray:
    mapping = np.asarray(mapping)
    if mapping.ndim != 1 or mapping.dtype.kind not in "iuUS":
        raise DatasetFileError(f"{path}: user_mapping has dtype {mapping.dtype} and shape {mapping.shape}, "
                               f"expected a 1-D array of writer ids")
    if len(mapping) < n_users:
        raise DatasetFileError(f"{path}: user_mapping has {len(mapping)} writer ids but y goes up to "
                               f"{n_users - 1}")
    if mapping.dtype.kind == "S":
        mapping = mapping.astype(str)
    elif mapping.dtype.kind in "iu":
        mapping = mapping.astype(np.int64, copy=False)
    return mapping


def _unpickle_mapping(path: Path, n_users: int) -> np.ndarray:
    """Explicit opt-in: read the original's pickled ``{index: id}`` dict and return it as an array."""
    try:
        if path.is_dir():
            raw = np.load(path / "user_mapping.npy", allow_pickle=True)
        else:
            with np.load(path, allow_pickle=True) as npz:
                raw = npz["user_mapping"]
        raw = raw.item() if raw.ndim == 0 else raw
    except Exception as e:  # noqa: BLE001 - anything unpickling throws is a corrupt file here
        raise _corrupt(path, "user_mapping", e) from None
    if isinstance(raw, dict):
        size = max(n_users, max((int(k) for k in raw), default=-1) + 1)
        ids = [raw.get(i, i) for i in range(size)]
    else:
        ids = list(np.asarray(raw).ravel())
    return _as_id_array(ids)


def _as_id_array(ids: Sequence[Any]) -> np.ndarray:
    """Writer ids as int64 when they are all integers, else as a str array (never an object array)."""
    ids = list(ids)
    if all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids):
        return np.asarray(ids, dtype=np.int64)
    return np.asarray([str(i) for i in ids], dtype=str)


# ---------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------

def _is_npz(path: Path) -> bool:
    return path.suffix.lower() == ".npz"


def check_target(path: PathLike, overwrite: bool = False, estimate: int = 0, flag: str = "",
                 inputs: Sequence[Any] = ()) -> Path:
    """Fail early (before hours of work) if a dataset cannot be written to ``path``.

    The output rule of :func:`sigver.outputs.check_output`: the parent folder must exist, be writable and
    have room for about ``estimate`` bytes; an existing target is replaced only when it is a dataset file
    (or a folder holding nothing but a dataset's ``.npy`` files), when it is empty, or (a file) with
    ``overwrite``; it may not be one of ``inputs``. Raises :class:`DatasetFileError`.
    """
    from ..outputs import OutputError, check_output

    try:
        return check_output(path, "dataset", flag, inputs=inputs, overwrite=overwrite, estimate=estimate)
    except OutputError as e:
        raise DatasetFileError(str(e)) from None


def save_dataset(path: PathLike, x: np.ndarray, y: np.ndarray, yforg: np.ndarray,
                 user_mapping: Sequence[Any], filenames: Sequence[str], overwrite: bool = False) -> Path:
    """Write a dataset atomically: a ``.npz`` file when ``path`` ends in ``.npz``, else a ``.npy`` folder.

    Parameters
    ----------
    path : str or path-like
        Target file (``*.npz``) or folder. Replaced only once the new data is completely written.
    x : array of uint8, shape (N, 1, H, W) or (N, H, W)
        Inverted pre-processed images.
    y, yforg : arrays of int, shape (N,)
        Writer index and forgery type (0 genuine, 1 skilled, 2 simple).
    user_mapping : sequence, length U
        Original writer id of each writer index (ints, or names).
    filenames : sequence of str, length N
    overwrite : bool
        Replace an existing file that is not a dataset file (a folder holding other files is never replaced).

    Returns
    -------
    Path
        The written path.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be uint8 of shape (N, 1, H, W), got {x.dtype} {x.shape}")
    writer = DatasetWriter(path, capacity=len(x), img_size=x.shape[2:], overwrite=overwrite)
    with writer:
        writer.add_batch(x, y, yforg, filenames)
        writer.commit(user_mapping)
    return Path(path)


def merge_datasets(paths: Sequence[PathLike], out: PathLike, overwrite: bool = False) -> Path:
    """Write one dataset holding the writers of several dataset files, one file after the other.

    The writers of ``paths[k]`` get the indices after those of ``paths[k - 1]`` (``y`` is shifted). When the
    files' writer ids overlap (two datasets numbering their writers 1, 2, ...), each id becomes
    ``"STEM/ID"`` (``STEM``: the file's name without its suffix) so that every writer keeps a distinct id;
    otherwise the ids are kept. Images and filenames are kept as they are. Used, for example, to train on real
    writers and synthetic ones together.

    Raises
    ------
    DatasetFileError
        A file cannot be read, or its images do not have the size of the first file's (pre-process both with
        the same ``--image-size``).
        ``out`` cannot be written (it is one of the inputs, or an existing file that is not a dataset).
    ValueError
        Fewer than two files.
    """
    paths = [Path(p) for p in paths]
    out = Path(out)
    if len(paths) < 2:
        raise ValueError("merge_datasets needs at least two dataset files")
    check_target(out, overwrite=overwrite, inputs=paths)
    datasets = [load_dataset(p) for p in paths]
    size = datasets[0].image_size
    for p, d in zip(paths[1:], datasets[1:]):
        if d.image_size != size:
            raise DatasetFileError(f"{p}: images of size {d.image_size[0]} x {d.image_size[1]}, but {paths[0]} has "
                                   f"{size[0]} x {size[1]}; pre-process both with the same --image-size")
    ids = [[v.item() if hasattr(v, "item") else v for v in d.user_mapping] for d in datasets]
    all_ids = [v for part in ids for v in part]
    if len(set(map(str, all_ids))) != len(all_ids):
        ids = [[f"{p.stem if p.suffix == '.npz' else p.name}/{v}" for v in part] for p, part in zip(paths, ids)]
    with DatasetWriter(out, capacity=sum(len(d.y) for d in datasets), img_size=size, overwrite=overwrite) as w:
        offset = 0
        for d, part in zip(datasets, ids):
            for start in range(0, len(d.y), 4096):  # bounded memory for memory-mapped folders
                sl = slice(start, start + 4096)
                w.add_batch(np.asarray(d.x[sl]), np.asarray(d.y[sl]) + offset, d.yforg[sl], d.filenames[sl])
            offset += len(part)
        w.commit([v for part in ids for v in part])
    return out


class DatasetWriter:
    """Write a dataset incrementally, then commit it atomically.

    Images are added one at a time (or in batches) into a buffer of ``capacity`` images: in memory for a
    ``.npz`` target, a memory-mapped ``.npy`` file in a temporary folder for a folder target (so sets
    larger than memory can be written). :meth:`commit` writes the labels and replaces the target; leaving
    the ``with`` block without committing (or with an exception) discards everything and leaves any
    existing target untouched.

    Parameters
    ----------
    path : str or path-like
        Target ``.npz`` file or dataset folder.
    capacity : int
        Maximum number of images that will be added (the buffer is trimmed to the real count at commit).
    img_size : (int, int), default (170, 242)
        ``(H, W)`` of every image.
    overwrite : bool
        Replace an existing target that is not a dataset (see :func:`check_target`).

    Examples
    --------
    >>> with DatasetWriter("out.npz", capacity=2, img_size=(170, 242)) as w:  # doctest: +SKIP
    ...     w.add(img, y=0, yforg=0, filename="c-001-01.png")
    ...     w.commit(user_mapping=[1])
    """

    def __init__(self, path: PathLike, capacity: int, img_size: Tuple[int, int] = (170, 242),
                 overwrite: bool = False):
        self.path = Path(path)
        self.capacity = int(capacity)
        self.img_size = (int(img_size[0]), int(img_size[1]))
        if self.capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.n = 0
        self._y, self._yforg, self._filenames = [], [], []
        self._committed = False
        self.overwrite = bool(overwrite)
        check_target(self.path, overwrite=self.overwrite,
                     estimate=self.capacity * self.img_size[0] * self.img_size[1])
        parent = self.path.parent
        if _is_npz(self.path):
            self._tmpdir = None
            self._x = np.empty((self.capacity, 1) + self.img_size, dtype=np.uint8)
        else:
            self._tmpdir = Path(tempfile.mkdtemp(prefix=temp_prefix(self.path), suffix=".tmp", dir=parent))
            os.chmod(self._tmpdir, default_mode(is_dir=True))
            self._x = np.lib.format.open_memmap(self._tmpdir / "x.npy", mode="w+", dtype=np.uint8,
                                                shape=(self.capacity, 1) + self.img_size)

    # -- adding ----------------------------------------------------------------------------------------
    def add(self, img: np.ndarray, y: int, yforg: int, filename: str) -> None:
        """Append one image (uint8, ``(H, W)`` or ``(1, H, W)``) with its labels."""
        self._check_open()
        if self.n >= self.capacity:
            raise ValueError(f"{self.path}: more images than the declared capacity {self.capacity}")
        img = np.asarray(img)
        if img.ndim == 3:
            img = img[0]
        if img.shape != self.img_size or img.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image of shape {self.img_size}, got {img.dtype} {img.shape}")
        self._x[self.n, 0] = img
        self._y.append(int(y))
        self._yforg.append(int(yforg))
        self._filenames.append(str(filename))
        self.n += 1

    def add_batch(self, x: np.ndarray, y: Sequence[int], yforg: Sequence[int], filenames: Sequence[str]) -> None:
        """Append ``len(x)`` images (uint8, ``(B, 1, H, W)`` or ``(B, H, W)``) with their labels."""
        self._check_open()
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[:, None]
        b = len(x)
        if not (len(y) == len(yforg) == len(filenames) == b):
            raise ValueError(f"mismatched lengths: x={b}, y={len(y)}, yforg={len(yforg)}, filenames={len(filenames)}")
        if x.shape[1:] != (1,) + self.img_size or x.dtype != np.uint8:
            raise ValueError(f"expected uint8 images of shape (B, 1, {self.img_size[0]}, {self.img_size[1]}), "
                             f"got {x.dtype} {x.shape}")
        if self.n + b > self.capacity:
            raise ValueError(f"{self.path}: more images than the declared capacity {self.capacity}")
        self._x[self.n:self.n + b] = x
        self._y.extend(int(v) for v in y)
        self._yforg.extend(int(v) for v in yforg)
        self._filenames.extend(str(f) for f in filenames)
        self.n += b

    def __len__(self) -> int:
        return self.n

    # -- finishing ------------------------------------------------------------------------------------
    def commit(self, user_mapping: Sequence[Any]) -> Path:
        """Write labels and mapping, then atomically replace the target. Returns the target path."""
        self._check_open()
        y = np.asarray(self._y, dtype=np.int32)
        yforg = np.asarray(self._yforg, dtype=np.int32)
        filenames = np.asarray(self._filenames, dtype=str) if self._filenames else np.zeros(0, dtype="<U1")
        mapping = _as_id_array(user_mapping)
        if len(y) and len(mapping) < int(y.max()) + 1:
            raise ValueError(f"user_mapping has {len(mapping)} ids but y goes up to {int(y.max())}")
        if self._tmpdir is None:
            self._commit_npz(y, yforg, filenames, mapping)
        else:
            self._commit_folder(y, yforg, filenames, mapping)
        self._committed = True
        return self.path

    def _commit_npz(self, y, yforg, filenames, mapping) -> None:
        x = self._x[:self.n]
        check_target(self.path, overwrite=self.overwrite)  # nothing else appeared there meanwhile
        atomic_write(self.path, lambda f: np.savez(f, x=x, y=y, yforg=yforg, user_mapping=mapping,
                                                   filenames=filenames))
        self._x = None

    def _commit_folder(self, y, yforg, filenames, mapping) -> None:
        tmpdir = self._tmpdir
        self._x.flush()
        del self._x
        self._x = None
        _shrink_npy_rows(tmpdir / "x.npy", self.n)
        for key, arr in (("y", y), ("yforg", yforg), ("user_mapping", mapping), ("filenames", filenames)):
            np.save(tmpdir / f"{key}.npy", arr, allow_pickle=False)
        check_target(self.path, overwrite=self.overwrite)  # still only a dataset there
        if self.path.exists():  # swap: old (a dataset folder) -> backup, new -> target, then drop the backup
            backup = Path(tempfile.mkdtemp(prefix=temp_prefix(self.path), suffix=".old", dir=self.path.parent))
            os.rmdir(backup)
            os.replace(self.path, backup)
            os.replace(tmpdir, self.path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmpdir, self.path)
        self._tmpdir = None

    def abort(self) -> None:
        """Discard everything written so far (the target is untouched)."""
        self._x = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self._committed = True  # closed

    def _check_open(self) -> None:
        if self._committed:
            raise RuntimeError(f"{self.path}: the writer is already committed or aborted")

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            self.abort()

    def __del__(self):  # pragma: no cover - best effort cleanup of a forgotten writer
        try:
            if not self._committed:
                self.abort()
        except Exception:
            pass


def _shrink_npy_rows(f: Path, n: int) -> None:
    """Shrink the first dimension of a C-ordered ``.npy`` file to ``n`` rows in place.

    The header is rewritten with the same length (padding with spaces, which the format allows) and the
    file is truncated, so no data is copied.
    """
    with open(f, "r+b") as fh:
        version = np.lib.format.read_magic(fh)
        if version != (1, 0):
            raise RuntimeError(f"{f}: unexpected .npy version {version}")
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        offset = fh.tell()
        if shape[0] == n:
            return
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran,
                  "shape": (n,) + tuple(shape[1:])}
        text = repr(header).encode("latin1")
        room = offset - 10  # magic (6) + version (2) + header length (2)
        if len(text) + 1 > room:
            raise RuntimeError(f"{f}: cannot rewrite the header in place")
        text = text + b" " * (room - len(text) - 1) + b"\n"
        assert ast.literal_eval(text.decode("latin1").strip()) == header
        fh.seek(8)
        fh.write(np.uint16(room).tobytes())
        fh.write(text)
        fh.truncate(offset + n * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)


# ---------------------------------------------------------------------------------------------------
# subsets
# ---------------------------------------------------------------------------------------------------

def _per_sample(data: Tuple[Any, ...]) -> Tuple[bool, ...]:
    """Which elements of ``data`` are per-sample arrays (to be filtered)."""
    if isinstance(data, SignatureData):
        return tuple(name != "user_mapping" for name in SignatureData._fields)
    n = len(data[0])
    return tuple(isinstance(d, np.ndarray) and d.ndim > 0 and len(d) == n for d in data)


def _filter(data: Tuple[Any, ...], keep: np.ndarray):
    out = [d[keep] if per else d for d, per in zip(data, _per_sample(data))]
    return type(data)(*out) if isinstance(data, SignatureData) else tuple(out)


def get_subset(data: Tuple[np.ndarray, ...], subset, y_idx: int = 1):
    """Keep the samples whose writer index ``data[y_idx]`` is in ``subset`` (docs/formats.md).

    Parameters
    ----------
    data : tuple of arrays
        ``(x, y, yforg, ...)`` or a :class:`SignatureData`; every per-sample array is filtered
        (``user_mapping`` of a :class:`SignatureData` is kept whole, so indices stay valid).
    subset : iterable of int
        Writer indices to keep, e.g. ``range(300)``.
    y_idx : int, default 1
        Position of the writer index array in ``data``.
    """
    keep = np.isin(np.asarray(data[y_idx]), np.asarray(list(subset)))
    return _filter(data, keep)


def sample_per_writer(y, yforg, n_genuine: int, n_skilled: int, rng: np.random.RandomState) -> np.ndarray:
    """Indices of up to ``n_genuine`` genuine and ``n_skilled`` skilled samples of every writer, drawn at random.

    Writers in ascending order, genuine before skilled, each draw sorted; a writer with fewer samples of a kind
    gives all of them. ``rng`` is consumed only for the kinds asked for (``n > 0``) and present.
    """
    y, yforg = np.asarray(y), np.asarray(yforg)
    idx = []
    for u in np.unique(y):
        for kind, n in ((0, n_genuine), (1, n_skilled)):
            cand = np.flatnonzero((y == u) & (yforg == kind))
            if n > 0 and len(cand):
                idx.append(np.sort(rng.choice(cand, min(n, len(cand)), replace=False)))
    return np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)


def remove_forgeries(data: Tuple[np.ndarray, ...], forg_idx: int = 2):
    """Keep only genuine signatures (``data[forg_idx] == 0``): drops skilled and simple forgeries."""
    keep = np.asarray(data[forg_idx]) == 0
    return _filter(data, keep)
