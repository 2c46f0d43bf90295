"""Reading signature scans as 2-D uint8 grayscale arrays (dark ink on light background).

:func:`read_image` is what every dataset reader uses to load a file. It decodes with Pillow (PNG, JPEG, BMP, GIF,
TIFF with any of Pillow's compressions, including LZW, deflate and CCITT Group 3/4 for bilevel scans, ...) and
falls back to ``tifffile`` for the few TIFF flavours Pillow cannot decode (e.g. 16-bit RGB) when ``tifffile`` is
installed.

Compatibility: for ordinary 8-bit grayscale and 8-bit RGB files the result is identical to what the original
code computed, ``skimage.img_as_ubyte(skimage.io.imread(path, as_gray=True))`` (grayscale unchanged; RGB through
``skimage.color.rgb2gray``'s luminance weights ``0.2125 R + 0.7154 G + 0.0721 B`` and ``img_as_ubyte``'s
rounding), so features computed on our pre-processed images match the published weights.

The pixel limit :data:`MAX_IMAGE_PIXELS` protects against decompression bombs (a tiny file that claims to hold a
gigantic image): images above it are refused before any pixel is decoded. Raise it by setting
``sigver.datasets.images.MAX_IMAGE_PIXELS`` or the environment variable ``SIGVER_MAX_IMAGE_PIXELS``.
"""
from __future__ import annotations

import os
import re
import threading
import warnings
from typing import List, Optional, Union

import numpy as np

from ..errors import DatasetLayoutError, ImageReadError

__all__ = ["IMAGE_EXTENSIONS", "MAX_IMAGE_PIXELS", "is_image_file", "list_images", "natural_key", "read_image"]

#: File extensions (lower case, with the dot) that dataset readers treat as images; others are skipped.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".pgm", ".pbm", ".ppm", ".pnm", ".webp"}
)


def _default_max_pixels() -> int:
    value = os.environ.get("SIGVER_MAX_IMAGE_PIXELS", "")
    try:
        limit = int(value) if value.strip() else 200_000_000
    except ValueError:
        limit = 0
    if limit < 1:  # never silently: a typo would otherwise change what is read
        warnings.warn(f"SIGVER_MAX_IMAGE_PIXELS={value!r} is not a positive integer; it is ignored and the "
                      f"default limit of 200000000 pixels is used", UserWarning, stacklevel=2)
        return 200_000_000
    return limit


#: Largest image (width x height, in pixels) that :func:`read_image` accepts: 200 megapixels by default
#: (a whole A4 page scanned at 600 dpi is about 35 megapixels). The environment variable
#: ``SIGVER_MAX_IMAGE_PIXELS``, read when sigver is imported, overrides the default; set it (or this attribute,
#: at any time) to a larger number to read bigger scans.
MAX_IMAGE_PIXELS: int = _default_max_pixels()

# rows converted at once for colour images, so that a large scan does not need H x W x 3 float64 temporaries
_CHUNK_PIXELS = 4_000_000

_PIL_LIMIT_LOCK = threading.Lock()


def is_image_file(name: Union[str, os.PathLike]) -> bool:
    """Whether ``name`` looks like an image file that a reader should list.

    True for the extensions in :data:`IMAGE_EXTENSIONS` (case-insensitive); false for hidden files and macOS
    resource forks (names starting with ``.``, such as ``._001_01.PNG``) and anything else (``Thumbs.db``,
    ``.DS_Store``, ``readme.txt``).
    """
    base = os.path.basename(os.fspath(name))
    if base.startswith("."):
        return False
    return os.path.splitext(base)[1].lower() in IMAGE_EXTENSIONS


def natural_key(name: str):
    """Sort key: case-insensitive, with runs of digits compared as numbers (``a2`` before ``a10``).

    Ties (names differing only in case or zero padding) are broken by the name itself, so the order is total
    and deterministic.
    """
    parts = re.split(r"(\d+)", name.lower())
    return tuple((0, int(p), p) if p.isdecimal() else (1, 0, p) for p in parts if p != ""), name


def list_images(folder: Union[str, os.PathLike]) -> List[str]:
    """Base names of the image files directly inside ``folder`` (see :func:`is_image_file`), naturally sorted.

    Sub-folders, hidden files and non-image files are left out. Returns an empty list if ``folder`` is not a
    folder.
    """
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if is_image_file(e.name) and e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(names, key=natural_key)


def require_dataset_folder(path: Union[str, os.PathLike], reader: str, layout: str) -> str:
    """Check that a dataset root exists and is a folder; return it as an absolute ``str``.

    Raises
    ------
    DatasetLayoutError
        Naming the path and the layout the ``reader`` expects.
    """
    root = os.path.abspath(os.fspath(path))
    if not os.path.exists(root):
        raise DatasetLayoutError(f"dataset folder {root} does not exist; the {reader} reader expects {layout}")
    if not os.path.isdir(root):
        raise DatasetLayoutError(f"dataset path {root} is a file, not a folder; the {reader} reader expects {layout}")
    return root


def numeric_subfolders(root: str) -> List[str]:
    """Names of the sub-folders of ``root`` made only of ASCII digits (e.g. ``001``), sorted as strings.

    Other entries (``.DS_Store``, ``Thumbs.db``, ``notes/``, files) are ignored.
    """
    with os.scandir(root) as it:
        names = [e.name for e in it if e.name.isascii() and e.name.isdigit() and e.is_dir()]
    return sorted(names)


def _fail(path: str, problem: str, fix: str) -> ImageReadError:
    return ImageReadError(f"cannot read image {path}: {problem}; {fix}")


def _too_big(path: str, width: int, height: int, limit: int) -> ImageReadError:
    return _fail(
        path,
        f"it claims {width} x {height} = {width * height:,} pixels, more than the limit of {limit:,} "
        "(a corrupt file or a decompression bomb)",
        "if the scan is genuine, raise the limit with the environment variable SIGVER_MAX_IMAGE_PIXELS "
        "or sigver.datasets.images.MAX_IMAGE_PIXELS",
    )


# -- conversion of decoded arrays to grayscale uint8 ----------------------------------------------------------
def _gray_from_rgb(rgb: np.ndarray, alpha: Optional[np.ndarray] = None) -> np.ndarray:
    """RGB(A) uint8 (H, W, 3) -> uint8 (H, W) exactly as ``img_as_ubyte(rgb2gray(img_as_float(rgb)))``.

    With ``alpha``, the colour is first composited on white like ``skimage.color.rgba2rgb``. Converted in
    row blocks to bound memory; the operations are per pixel, so the result does not depend on the blocks.
    """
    from skimage import img_as_float, img_as_ubyte
    from skimage.color import rgb2gray

    h, w = rgb.shape[:2]
    out = np.empty((h, w), dtype=np.uint8)
    step = max(1, _CHUNK_PIXELS // max(w, 1))
    for r0 in range(0, h, step):
        block = img_as_float(rgb[r0:r0 + step])
        if alpha is not None:
            a = img_as_float(alpha[r0:r0 + step])[..., None]
            block = np.clip(a * block + (1 - a), 0, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[r0:r0 + step] = img_as_ubyte(rgb2gray(block))
    return out


def _gray_with_alpha(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Gray + alpha (uint8) composited on white, rounded to uint8."""
    g = gray.astype(np.float64) / 255.0
    a = alpha.astype(np.float64) / 255.0
    return np.rint(np.clip(a * g + (1 - a), 0, 1) * 255.0).astype(np.uint8)


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """A 2-D array of any numeric type -> uint8 (H, W).

    ``uint16`` (and int data in 0..65535) is scaled like ``skimage.img_as_ubyte`` (``value // 256``); floats in
    [0, 1] are multiplied by 255 and rounded; bool gives 0/255; anything else is stretched from its minimum to
    its maximum.
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return np.where(arr, np.uint8(255), np.uint8(0))
    if arr.dtype.kind in "ui":
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo >= 0 and hi <= 255 and arr.dtype.itemsize > 2:
            # 32-bit container with 8-bit data (e.g. Pillow mode "I" from an 8-bit source)
            return arr.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return (arr.astype(np.uint32) >> 8).astype(np.uint8)
    elif arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if lo >= 0.0 and hi <= 1.0:
            return np.rint(np.nan_to_num(arr, nan=1.0) * 255.0).clip(0, 255).astype(np.uint8)
    else:
        raise TypeError(f"unsupported pixel type {arr.dtype}")
    # stretch whatever range the data has to 0..255
    a = np.nan_to_num(arr.astype(np.float64), nan=hi, posinf=hi, neginf=lo)
    if hi <= lo:
        return np.full(arr.shape, 255, dtype=np.uint8)
    return np.rint((a - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)


def _array_to_gray(arr: np.ndarray) -> np.ndarray:
    """Decoded array (H, W), (H, W, 1..4) of any numeric type -> uint8 (H, W) grayscale."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] not in (1, 2, 3, 4) and arr.shape[0] in (1, 2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) -> (H, W, C)
    while arr.ndim > 3:  # e.g. a stack of pages: keep the first
        arr = arr[0]
    if arr.ndim == 2:
        return _scale_to_uint8(arr)
    if arr.ndim != 3:
        raise TypeError(f"unsupported array shape {arr.shape}")
    channels = arr.shape[-1]
    if channels == 1:
        return _scale_to_uint8(arr[..., 0])
    if channels == 2:
        return _gray_with_alpha(_scale_to_uint8(arr[..., 0]), _scale_to_uint8(arr[..., 1]))
    if channels in (3, 4):
        planes = [_scale_to_uint8(arr[..., c]) for c in range(channels)]
        rgb = np.stack(planes[:3], axis=-1)
        return _gray_from_rgb(rgb, planes[3] if channels == 4 else None)
    # more channels (e.g. CMYK stored raw by tifffile is rare): use the first three as RGB
    return _gray_from_rgb(np.stack([_scale_to_uint8(arr[..., c]) for c in range(3)], axis=-1))


def _pil_to_gray(img) -> np.ndarray:
    """A loaded Pillow image of any mode -> uint8 (H, W)."""
    mode = img.mode
    if mode == "L":
        return np.array(img, dtype=np.uint8)
    if mode == "1":
        return np.array(img.convert("L"), dtype=np.uint8)  # 0 / 255
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        mode = img.mode
    if mode == "RGBa":
        img, mode = img.convert("RGBA"), "RGBA"
    if mode == "La":
        img, mode = img.convert("LA"), "LA"
    if mode == "RGB":
        return _gray_from_rgb(np.asarray(img))
    if mode == "RGBA":
        arr = np.asarray(img)
        return _gray_from_rgb(arr[..., :3], arr[..., 3])
    if mode == "LA":
        arr = np.asarray(img)
        return _gray_with_alpha(arr[..., 0], arr[..., 1])
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if mode.startswith("I;16"):
            arr = arr.astype(np.uint16)  # native byte order
        return _scale_to_uint8(arr)
    # CMYK, YCbCr, LAB, HSV, RGBX, ...: let Pillow convert to RGB
    return _gray_from_rgb(np.asarray(img.convert("RGB")))


# -- decoding -------------------------------------------------------------------------------------------------
def _open_pil(path: str):
    """Open with Pillow (header only) honouring our pixel limit instead of Pillow's global one."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError:
            pass
        # Pillow's own (global) limit is lower than ours: retry with it lifted, then check ours
        with _PIL_LIMIT_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                img = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    return img


def _read_with_tifffile(path: str, limit: int) -> Optional[np.ndarray]:
    """First page of a TIFF with ``tifffile`` (if installed); None when it cannot help."""
    try:
        import tifffile
    except ImportError:
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            shape = page.shape
            if len(shape) >= 2:
                h, w = (shape[1], shape[2]) if page.planarconfig == 2 and len(shape) == 3 else shape[:2]
                if h * w > limit:
                    raise _too_big(path, w, h, limit)
            return page.asarray()
    except ImageReadError:
        raise
    except Exception:
        return None


def read_image(path: Union[str, os.PathLike]) -> np.ndarray:
    """Read an image file as a 2-D uint8 grayscale array, dark ink on light background.

    Parameters
    ----------
    path : str or os.PathLike
        Image file (PNG, JPEG, TIFF, BMP, GIF, WebP, PNM, ... anything Pillow decodes).

    Returns
    -------
    numpy.ndarray
        uint8 array of shape (H, W) (rows, columns in pixels).

    Raises
    ------
    ImageReadError
        The file is missing, empty, truncated or corrupt, not an image, or larger than
        :data:`MAX_IMAGE_PIXELS` pixels. The one-line message names the file and what to do.

    Notes
    -----
    Conversions, by kind of input:

    - 8-bit grayscale: unchanged. 8-bit RGB: ``0.2125 R + 0.7154 G + 0.0721 B`` then rounding, exactly
      ``skimage.img_as_ubyte(skimage.io.imread(path, as_gray=True))`` as in the original code.
    - palette: expanded to RGB (RGBA when it has a transparent entry), then as RGB.
    - RGBA / LA (gray + alpha): composited on a white background, then as RGB / gray.
    - 16-bit grayscale: ``value // 256`` (as ``skimage.img_as_ubyte``); floating-point data in [0, 1] is
      scaled by 255; other ranges are stretched to 0..255.
    - bilevel (1-bit, including CCITT Group 4 and LZW compressed TIFF): 0 and 255. Images already binarised to
      0/255 (most BHSig260 scans) are ordinary grayscale and stay as they are.
    - CMYK, YCbCr, LAB, ...: converted to RGB by Pillow, then as RGB.
    - multi-page files (TIFF, GIF): the first page.

    The EXIF orientation tag is **not** applied: pixels are returned as stored in the file, as the original
    code did (signature datasets are scanned, not photographed).

    The whole image is decoded (``Image.load()``), so a truncated file is detected here rather than giving
    a partly grey image.
    """
    from PIL import UnidentifiedImageError

    path = os.fspath(path)
    limit = int(MAX_IMAGE_PIXELS)
    if not os.path.exists(path):
        raise _fail(path, "no such file", "check the path and the dataset folder")
    if os.path.isdir(path):
        raise _fail(path, "it is a folder, not a file", "pass the path of an image file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise _fail(path, f"cannot access it ({exc.strerror or exc})", "check the file's permissions") from exc
    if size == 0:
        raise _fail(path, "the file is empty (0 bytes)", "re-copy it from the original dataset or remove it")

    is_tiff = os.path.splitext(path)[1].lower() in (".tif", ".tiff")
    try:
        img = _open_pil(path)
    except PermissionError as exc:
        raise _fail(path, "permission denied", "check the file's permissions") from exc
    except UnidentifiedImageError as exc:
        if is_tiff:
            arr = _read_with_tifffile(path, limit)
            if arr is not None:
                return _array_to_gray(arr)
        raise _fail(
            path, "not an image file Pillow can decode (wrong extension, unsupported format or corrupt header)",
            "convert it to PNG or remove it from the dataset folder",
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise _fail(path, f"corrupt image header ({exc})", "re-copy it from the original dataset or remove it") \
            from exc

    with img:
        width, height = img.size
        if width * height > limit:
            raise _too_big(path, width, height, limit)
        if width == 0 or height == 0:
            raise _fail(path, "the image has no pixels", "re-copy it from the original dataset or remove it")
        try:
            img.seek(0)
            img.load()
            gray = _pil_to_gray(img)
        except MemoryError as exc:
            raise _fail(path, f"not enough memory to decode {width} x {height} pixels",
                        "free memory or reduce the scan's resolution") from exc
        except (OSError, ValueError, SyntaxError, EOFError, TypeError) as exc:
            # Pillow raises OSError("image file is truncated ...") / "broken data stream" for damaged data,
            # and for TIFF flavours it cannot decode (e.g. 16-bit RGB), which tifffile may read
            if is_tiff:
                arr = _read_with_tifffile(path, limit)
                if arr is not None:
                    return _array_to_gray(arr)
            raise _fail(
                path, f"the file is truncated or corrupt ({exc})",
                "re-copy it from the original dataset or remove it",
            ) from exc
    return np.ascontiguousarray(gray)
