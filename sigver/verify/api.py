"""Enrol a user from a few reference signatures, and verify questioned signatures (docs/compatibility.md, sigver#25).

Enrolment pre-processes the raw scans (:func:`sigver.preprocessing.preprocess_signature` on the canvas),
extracts their features with the model, and trains the user's writer-dependent SVM (the original's
pipeline, :func:`sigver.wd.training.train_wdclassifier_user`): the references (+1) against random forgeries
(-1), i.e. genuine signatures of other writers from a negative pool:

* a dataset file (``.npz`` or ``.npy`` folder) or a features file (``sigver.featurelearning.extract``):
  ``negatives_per_writer`` genuine signatures of each of its writers (drawn with ``seed``);
* by default, a built-in pool of synthetic writers (:class:`sigver.datasets.SyntheticSignatures`), rendered
  on the fly and the same every time.

The threshold is the SVM margin 0 by default; with ``target_far`` it is chosen on development writers of the
pool (:func:`sigver.wd.training.calibrate_threshold`): each gets a classifier trained like the user's, and
the threshold is the lowest with a false acceptance rate of at most ``target_far`` on their forgeries (skilled
when the pool has any; the synthetic pool has). It is fixed before any questioned signature is seen
(sigver#23).
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import __version__
from ..errors import BlankImageError, SigverError
from ..validation import check_finite
from ..datasets.format import sample_per_writer
from .user import FORMAT, FORMAT_VERSION, EnrolledUser, EnrollmentError, ModelMismatchError, load_user

__all__ = ["enroll", "verify", "weights_sha256", "default_model_path", "model_preprocessing", "load_model",
           "model_features", "check_model", "score_features", "MIN_REFERENCES", "DEFAULT_CANVAS", "IMG_SIZE",
           "SHIPPED_MODEL"]

PathLike = Union[str, os.PathLike]
ImageLike = Union[PathLike, np.ndarray]

#: fewest reference signatures accepted (the papers use 12; more gives a better classifier)
MIN_REFERENCES = 2
#: default canvas (the GPDS canvas of the published SigNet weights and of the synthetic signatures)
DEFAULT_CANVAS = (952, 1360)
#: size of the pre-processed image (the dataset files'); the model input is its centre crop
IMG_SIZE = (170, 242)
#: the built-in synthetic negative pool: writers, seed
POOL_WRITERS, POOL_SEED = 24, 20250
#: per development writer in --target-far calibration: genuine tested, skilled forgeries
CAL_TEST_GENUINE, CAL_SKILLED = 4, 5
#: development writers used for --target-far calibration (at most half of the pool)
CAL_WRITERS = 50
#: file name of the model shipped in the repository's ``models/`` folder (trained on real signatures)
SHIPPED_MODEL = "sigver_thin_bhsig260_hindi.pth"


def default_model_path() -> Path:
    """The model used when none is given: ``$SIGVER_MODEL``, else the shipped ``models/`` model.

    Raises
    ------
    EnrollmentError
        Neither is there (e.g. a wheel installed without the repository's ``models/`` folder).
    """
    env = os.environ.get("SIGVER_MODEL")
    if env:
        return Path(env)
    path = Path(__file__).resolve().parents[2] / "models" / SHIPPED_MODEL
    if not path.is_file():
        raise EnrollmentError(f"no model given and the shipped model {path} is not there; pass --model-path "
                              "(model_path=...) or set SIGVER_MODEL to a checkpoint")
    return path


def model_preprocessing(model_path: PathLike) -> Dict[str, Any]:
    """Pre-processing a model was made for, from its JSON sidecar: ``canvas`` (default the GPDS canvas),
    ``binarize`` (default False) and ``negatives`` (path of its negative pool, or None)."""
    import json

    from ..featurelearning.checkpoint import sidecar_path

    out: Dict[str, Any] = {"canvas": DEFAULT_CANVAS, "binarize": False, "negatives": None}
    sidecar = sidecar_path(model_path)
    try:
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    except (OSError, ValueError):
        meta = {}
    pre = meta.get("preprocessing") or {}
    if isinstance(pre.get("canvas"), (list, tuple)) and len(pre["canvas"]) == 2:
        out["canvas"] = (int(pre["canvas"][0]), int(pre["canvas"][1]))
    out["binarize"] = bool(pre.get("binarize", False))
    pool = meta.get("negative_pool")
    if isinstance(pool, str) and (sidecar.parent / pool).is_file():
        out["negatives"] = sidecar.parent / pool
    return out


# ---------------------------------------------------------------------------------------------------
# model

def weights_sha256(model) -> str:
    """SHA-256 of a model's weights: :func:`sigver.featurelearning.checkpoint.weights_sha256` (imported when
    called, so that importing this module does not import torch)."""
    from ..featurelearning.checkpoint import weights_sha256 as sha

    return sha(model)


def load_model(model_path: PathLike, device: Optional[str] = None) -> Tuple[Any, Dict[str, Any]]:
    """Load a feature extractor once, for several :func:`enroll` / :func:`model_features` calls (a service).

    Returns
    -------
    (model, info)
        The model in eval mode on ``device`` (default cuda when available), and its identity: ``path``
        (absolute), ``sha256`` (of the weights), ``architecture``, ``input_size`` ``[h, w]``,
        ``feature_size``, and ``layer`` when the model's sidecar names an fc block to take the features from
        (``"features": {"layer": "fc1"}``) instead of the model's output; :func:`enroll` takes the pair as
        ``loaded=``.
    """
    return _load_model(model_path, _device(device))


def _load_model(model_path: PathLike, device: str):
    from ..errors import CheckpointError
    from ..featurelearning.checkpoint import load_checkpoint, sidecar_path
    from ..featurelearning.features import feature_layers, feature_size

    loaded = load_checkpoint(model_path, device=device)
    input_size = tuple(int(v) for v in (loaded.metadata.get("input_size") or loaded.model.input_size))
    layer = loaded.feature_layer
    try:
        size = feature_size(loaded.model, layer)
    except ValueError as e:
        raise CheckpointError(f"{sidecar_path(model_path)}: features.layer: {e}") from None
    layers = feature_layers(loaded.model)
    if layers and layer == layers[-1]:
        layer = None  # the last block is the model's output
    info = {"path": os.path.abspath(os.fspath(model_path)), "sha256": weights_sha256(loaded.model),
            "architecture": loaded.arch, "input_size": list(input_size), "feature_size": size}
    if layer is not None:
        info["layer"] = layer
    return loaded.model, info


def _device(device: Optional[str]) -> str:
    from ..cli import default_device

    return device if device is not None else default_device()


# ---------------------------------------------------------------------------------------------------
# images

def _as_list(images) -> list:
    if isinstance(images, (str, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim == 2):
        return [images]
    return list(images)


def _name(img, i: int) -> str:
    return os.fspath(img) if isinstance(img, (str, os.PathLike)) else f"image[{i}]"


def _read(img, name: str) -> np.ndarray:
    from ..datasets.images import read_image

    if isinstance(img, (str, os.PathLike)):
        return read_image(img)
    a = np.asarray(img)
    if a.ndim != 2 or a.size == 0:
        raise SigverError(f"{name}: expected a grey scan as a 2-D uint8 array (H, W), got shape {a.shape}")
    if a.dtype != np.uint8:
        if a.dtype == bool or not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() > 255:
            raise SigverError(f"{name}: expected a grey scan as a 2-D uint8 array (values 0-255), got {a.dtype}")
        a = a.astype(np.uint8)
    return a


def preprocess_images(images: Sequence[ImageLike], canvas: Tuple[int, int],
                      binarize: bool = False) -> Tuple[np.ndarray, List[str]]:
    """Read (paths) and pre-process raw scans: uint8 ``(N, 1, 170, 242)`` inverted, and their names."""
    import warnings

    from ..preprocessing import preprocess_signature
    from ..preprocessing.ink import check_ink

    out, names = [], []
    for i, img in enumerate(images):
        name = _name(img, i)
        a = _read(img, name)
        check_ink(a, name)  # blank paper, noise, specks or ruled lines alone are not a signature
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a signature larger than the canvas: its centre is kept
                x = preprocess_signature(a, canvas, img_size=IMG_SIZE, input_size=None, binarize=binarize)
        except BlankImageError as e:
            raise BlankImageError(f"{name}: no signature found ({e}); give a scan with the signature on it") \
                from None
        out.append(x)
        names.append(name)
    return np.stack(out)[:, None], names


def model_features(model, x: np.ndarray, info: Dict[str, Any], device: str) -> np.ndarray:
    """Features ``(N, D)`` float32 of pre-processed images ``x`` (uint8 ``(N, 1, 170, 242)``, from
    :func:`preprocess_images`) as :func:`verify` computes them: their centre ``info["input_size"]`` crop
    through ``model``, the output of ``info["layer"]`` when it names one (``info`` from :func:`load_model`),
    one forward pass for up to 256 images."""
    from ..featurelearning.features import extract_features

    return extract_features(model, x, batch_size=max(1, min(len(x), 256)), device=device,
                            input_size=tuple(info["input_size"]), layer=info.get("layer"))


# ---------------------------------------------------------------------------------------------------
# negative pool

#: features of the built-in synthetic pool, per (weights hash, input size, device, counts, canvas)
_POOL_FEATURES: dict = {}


@functools.lru_cache(maxsize=4)
def _synthetic_pool_images(writers: int, genuine: int, forgeries: int, seed: int, canvas: Tuple[int, int]):
    from ..datasets import SyntheticSignatures, load_dataset
    from ..preprocessing.pipeline import process_dataset

    ds = SyntheticSignatures(n_users=writers, genuine=genuine, forgeries=forgeries, seed=seed)
    with tempfile.TemporaryDirectory(prefix="sigver-pool-") as tmp:
        process_dataset(ds, Path(tmp) / "pool.npz", img_size=IMG_SIZE, workers=min(2, os.cpu_count() or 1),
                        canvas_size=canvas, progress=False)
        data = load_dataset(Path(tmp) / "pool.npz")
        x, y, yforg = np.array(data.x), np.asarray(data.y).astype(np.int64), np.asarray(data.yforg).astype(np.int64)
    for a in (x, y, yforg):
        a.flags.writeable = False
    return x, y, yforg


def _negative_pool(negatives, model, model_info, canvas, device, n_genuine, n_skilled, seed, allow_pickle):
    """Features ``(x, y, yforg)`` of the pool writers, and a description of the pool."""
    rng = np.random.RandomState(seed)
    if negatives is None:
        x, y, yforg = _synthetic_pool_images(POOL_WRITERS, n_genuine, n_skilled, POOL_SEED, tuple(canvas))
        key = (model_info["sha256"], tuple(model_info["input_size"]), model_info.get("layer"), str(device),
               n_genuine, n_skilled, tuple(canvas))
        feats = _POOL_FEATURES.get(key)
        if feats is None:  # the same model enrolling several users extracts the pool's features once
            feats = model_features(model, x, model_info, device)
            feats.flags.writeable = False
            if len(_POOL_FEATURES) >= 4:
                _POOL_FEATURES.pop(next(iter(_POOL_FEATURES)))
            _POOL_FEATURES[key] = feats
        return (feats, y, yforg), {"source": "synthetic", "writers": POOL_WRITERS, "seed": POOL_SEED}
    path = Path(negatives)
    if not path.exists():
        raise EnrollmentError(f"--negatives {path}: no such dataset or features file")
    files = ()
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                files = tuple(z.files)
        except Exception as e:
            raise EnrollmentError(f"--negatives {path}: cannot read it, it is truncated or corrupt "
                                  f"({type(e).__name__})") from None
    if "features" in files or "feats" in files:
        from ..datasets.features import load_features

        f = load_features(path)
        recorded = str(f["model_sha256"]) if "model_sha256" in f else None
        if recorded is not None and recorded != model_info["sha256"]:
            raise EnrollmentError(f"--negatives {path}: features of other model weights (sha256 {recorded[:12]}...) "
                                  f"than the model (sha256 {model_info['sha256'][:12]}...); extract them with "
                                  "this model")
        _check_features_model(path, f, model_info, model)
        if f["features"].shape[1] != model_info["feature_size"]:
            raise EnrollmentError(f"--negatives {path}: features of size {f['features'].shape[1]}, but the model "
                                  f"gives {model_info['feature_size']}; extract them with this model")
        arch = str(f["architecture"]) if "architecture" in f else None
        if arch is not None and arch != model_info["architecture"]:
            raise EnrollmentError(f"--negatives {path}: features of a {arch} model, but the model is "
                                  f"{model_info['architecture']}; extract them with this model")
        keep = sample_per_writer(f["y"], f["yforg"], n_genuine, n_skilled, rng)
        triple = (f["features"][keep], f["y"][keep], f["yforg"][keep])
    else:
        from ..datasets import load_dataset

        data = load_dataset(path, allow_pickle=allow_pickle)
        y, yforg = np.asarray(data.y).astype(np.int64), np.asarray(data.yforg).astype(np.int64)
        keep = sample_per_writer(y, yforg, n_genuine, n_skilled, rng)
        feats = model_features(model, data.x[keep], model_info, device)
        triple = (feats, y[keep], yforg[keep])
    if len(np.unique(triple[1][triple[2] == 0])) < 2:
        raise EnrollmentError(f"--negatives {path}: needs genuine signatures of at least 2 writers")
    _warn_if_fewer(path, triple[1], triple[2], n_genuine)
    return triple, {"source": os.path.abspath(path), "writers": int(len(np.unique(triple[1]))), "seed": seed}


def _check_features_model(path, f: dict, model_info: Dict[str, Any], model) -> None:
    """A features file is used only with the model that made it (its weights' hash and input size), and only
    when it holds what verification extracts: the model's layer (its output unless its sidecar names an fc
    block, ``model_info["layer"]``) on the centre crop."""
    import warnings

    from ..featurelearning.features import feature_layers

    layers = feature_layers(model)
    layer = str(f["layer"]) if "layer" in f else None
    if layer == "output" or (layers and layer == layers[-1]):
        layer = None  # the model's output (the last block; "output" for a model without named fc blocks)
    crops = str(f["crops"]) if "crops" in f else "center"
    want = model_info.get("layer")
    if layer != want or crops != "center":
        uses = f"the features of {want}" if want else f"the model's output ({layers[-1] if layers else 'output'})"
        raise EnrollmentError(f"--negatives {path}: features of {layer or 'the output'} with {crops} crops, but "
                              f"verification uses {uses} on the centre crop; extract them "
                              + (f"with --layer {want}" if want else "without --layer") + " and without --crops")

    if "model_sha256" not in f:
        warnings.warn(f"--negatives {path}: the features file does not record its model's weights, so it cannot "
                      "be checked against this model; re-extract it with `python -m sigver.featurelearning."
                      "extract` to record them", UserWarning, stacklevel=3)
    if "input_size" in f and [int(v) for v in np.ravel(f["input_size"])] != list(model_info["input_size"]):
        raise EnrollmentError(f"--negatives {path}: features of {tuple(int(v) for v in np.ravel(f['input_size']))} "
                              f"inputs, but the model takes {tuple(model_info['input_size'])}; extract them with "
                              "this model")


def _warn_if_fewer(path, y: np.ndarray, yforg: np.ndarray, wanted: int) -> None:
    """Say so when the pool has fewer genuine signatures per writer than asked (never a silent clamp)."""
    import warnings

    counts = np.bincount(y[yforg == 0])
    most = int(counts.max()) if counts.size else 0
    if 0 < most < wanted:
        warnings.warn(f"--negatives {path}: at most {most} genuine signatures per writer, {wanted} were asked "
                      f"(--negatives-per-writer); using {most}", UserWarning, stacklevel=3)


def _refuse_duplicates(x: np.ndarray, names: Sequence[str]) -> None:
    """The same reference given twice (same file, or the same pre-processed image) is refused."""
    seen: Dict[bytes, str] = {}
    for img, name in zip(x, names):
        digest = hashlib.sha256(np.ascontiguousarray(img).tobytes()).digest()
        if digest in seen:
            raise EnrollmentError(f"reference {name} is the same signature as {seen[digest]}; give each "
                                  "reference once (distinct signatures of the user)")
        seen[digest] = name


# ---------------------------------------------------------------------------------------------------
# enrol and verify

def enroll(model_path: Optional[PathLike], references: Sequence[ImageLike], name: str = "user",
           negatives: Optional[PathLike] = None, target_far: Optional[float] = None,
           canvas: Optional[Tuple[int, int]] = None, device: Optional[str] = None, svm_type: str = "rbf",
           C: float = 1.0, gamma: float = 2 ** -11, negatives_per_writer: int = 14, seed: int = 1234,
           allow_pickle: bool = False, loaded: Optional[Tuple[Any, Dict[str, Any]]] = None,
           svm_backend: str = "libsvm") -> EnrolledUser:
    """Enrol a user: train their writer-dependent classifier from reference signatures.

    Parameters
    ----------
    model_path : path or None
        Checkpoint (``.pth``) of the feature extractor; the architecture is inferred. None: the shipped
        model (:func:`default_model_path`), trained on real signatures.
    references : sequence of path or ndarray
        At least :data:`MIN_REFERENCES` genuine signatures of the user: image files, or 2-D uint8 grey
        scans (dark ink on light paper).
    name : str
        The user's name (stored in the user file).
    negatives : path, optional
        Dataset file / folder or features file of *other* writers (random forgeries); default: the model's
        own pool when its sidecar names one (the shipped model has one: features of its training writers),
        else the built-in synthetic pool.
    target_far : float in [0, 1], optional
        Choose the threshold at this false acceptance rate on the pool's development writers (their skilled
        forgeries if any, else random forgeries); default: the SVM margin 0.
    canvas : (int, int), optional
        Canvas ``(height, width)`` in pixels the scans are centred on; default: the model sidecar's
        ``preprocessing.canvas``, else GPDS 952 x 1360. It must hold the largest signature. The sidecar's
        ``preprocessing.binarize`` (ink set to black, for models trained on bilevel scans) is applied too.
    device : str, optional
        Torch device (default cuda when available).
    svm_type, C, gamma :
        The SVM (as ``python -m sigver.wd.test``: RBF, C = 1, gamma = 2^-11).
    negatives_per_writer : int
        Genuine signatures of each pool writer used as negatives (the original's ``--forg-from-dev`` 14).
    seed : int
        Seed of the draws from the pool (enrolment is deterministic).
    allow_pickle : bool
        Unpickle the ``user_mapping`` of a dataset file written by the original code (trusted files only).
    loaded : (model, info), optional
        ``model_path`` already loaded by :func:`load_model` (on ``device``): it is not read again.
    svm_backend : {'libsvm', 'sklearnex'}
        SVC implementation of the user's and the calibration writers' classifiers
        (:mod:`sigver.evaluation.svm`; libsvm by default). The user file stores the support vectors either way.

    Returns
    -------
    EnrolledUser
        ``.save(path)`` writes the user file; ``.threshold``, ``.name``.
    """
    from ..evaluation.svm import check_svm_backend
    from ..wd.training import calibrate_threshold, train_wdclassifier_user

    check_svm_backend(svm_backend)

    references = _as_list(references)
    if len(references) < MIN_REFERENCES:
        raise EnrollmentError(f"user {name!r}: {len(references)} reference signature(s) given, at least "
                              f"{MIN_REFERENCES} are needed (more is better; the papers use 12)")
    if target_far is not None and not 0.0 <= float(target_far) <= 1.0:
        raise EnrollmentError(f"target_far must be in [0, 1] (e.g. 0.05 for 5%), got {target_far}")
    if int(negatives_per_writer) < 1:
        raise EnrollmentError(f"negatives_per_writer must be >= 1, got {negatives_per_writer}")
    if model_path is None:
        model_path = default_model_path()
    settings = model_preprocessing(model_path)
    canvas = settings["canvas"] if canvas is None else canvas
    canvas = (int(canvas[0]), int(canvas[1]))
    binarize = settings["binarize"]
    if negatives is None:
        negatives = settings["negatives"]
    device = _device(device)
    t0 = time.perf_counter()
    model, model_info = _load_model(model_path, device) if loaded is None else loaded
    x, names = preprocess_images(references, canvas, binarize)
    _refuse_duplicates(x, names)
    ref_feats = model_features(model, x, model_info, device)
    check_finite(ref_feats, f"features of the references by {model_path}", EnrollmentError)

    n_refs, per_writer = len(ref_feats), int(negatives_per_writer)
    calibrate = target_far is not None
    n_genuine = max(per_writer, n_refs + CAL_TEST_GENUINE) if calibrate else per_writer
    pool, pool_info = _negative_pool(negatives, model, model_info, canvas, device, n_genuine,
                                     CAL_SKILLED if calibrate else 0, seed, allow_pickle)
    px, py, pyforg = pool
    neg_idx = sample_per_writer(py, pyforg, per_writer, 0, np.random.RandomState(seed))
    negs = px[neg_idx]
    train_x = np.concatenate([ref_feats, negs])
    train_y = np.r_[np.ones(n_refs), -np.ones(len(negs))]
    pipeline = train_wdclassifier_user((train_x, train_y), svm_type, C, gamma, svm_backend)

    if calibrate:
        genuine_counts = np.bincount(py[pyforg == 0])
        per_dev = int(min(per_writer, genuine_counts[genuine_counts > 0].min()))
        try:
            cal = calibrate_threshold(pool, float(target_far), n_writers=CAL_WRITERS, num_gen_train=n_refs,
                                      num_gen_test=CAL_TEST_GENUINE, num_forg_from_exp=0,
                                      num_forg_from_dev=per_dev, svm_type=svm_type, C=C, gamma=gamma,
                                      rng=np.random.RandomState(seed + 1), svm_backend=svm_backend)
        except SigverError as e:
            raise EnrollmentError(f"--target-far: {e} (the negative pool {pool_info['source']} is too small "
                                  f"for {n_refs} references)") from None
        threshold = float(cal["threshold"])
        threshold_info = {"method": "target_far", "target_far": float(target_far), "forgeries": cal["forgeries"],
                          "dev_writers": len(cal["dev_users"]), "dev_FAR": cal["dev_FAR"],
                          "dev_FRR": cal["dev_FRR"]}
    else:
        threshold = 0.0
        threshold_info = {"method": "svm_margin"}

    meta: Dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": str(name), "threshold": threshold,
        "threshold_info": threshold_info, "model": model_info,
        "preprocessing": {"canvas": list(canvas), "img_size": list(IMG_SIZE),
                          "input_size": model_info["input_size"], "binarize": binarize},
        "svm": {"type": svm_type, "backend": svm_backend},
        "enrollment": {"n_references": n_refs, "references": names, "negatives": pool_info,
                       "n_negatives": int(len(negs)), "negatives_per_writer": per_writer, "seed": int(seed),
                       "seconds": round(time.perf_counter() - t0, 3),
                       "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "sigver_version": __version__},
    }
    return EnrolledUser.from_pipeline(pipeline, meta)


def verify(user: Union[EnrolledUser, PathLike], images: Sequence[ImageLike], model_path: Optional[PathLike] = None,
           device: Optional[str] = None) -> List[Dict[str, Any]]:
    """Is each questioned signature the user's? One forward pass for all of them.

    Parameters
    ----------
    user : EnrolledUser or path of a user file
    images : sequence of path or ndarray (or one of them)
        Raw scans (files, or 2-D uint8 grey arrays), pre-processed like the references.
    model_path : path, optional
        The model; default the one recorded at enrolment. Its weights must be the enrolment model's.
    device : str, optional

    Returns
    -------
    list of dict
        Per image, in order: ``{"image": path or "image[i]", "score": float, "accepted": bool}``
        (``accepted`` = ``score >= user.threshold``).

    Raises
    ------
    ModelMismatchError
        The model's weights are not those the user was enrolled with.
    """
    if not isinstance(user, EnrolledUser):
        user = load_user(user)
    images = _as_list(images)
    where = user.label
    recorded = user.model.get("path")
    if model_path is None:
        model_path = recorded
        if not model_path or not Path(model_path).is_file():
            raise ModelMismatchError(f"{where}: the enrolment model {recorded} is not there any more; pass its "
                                     "new location with --model-path (model_path=...)")
    device = _device(device)
    model, info = _load_model(model_path, device)
    check_model(user, info, model_path)
    if not images:
        return []
    x, names = preprocess_images(images, user.canvas, bool(user.meta["preprocessing"].get("binarize", False)))
    return score_features(user, model_features(model, x, info, device), names)


def check_model(user: EnrolledUser, info: Dict[str, Any], model_path: Optional[PathLike] = None) -> None:
    """Raise :class:`ModelMismatchError` unless ``info`` (from :func:`load_model`) is the model ``user`` was
    enrolled with (the SHA-256 of its weights; then the input size is the same too) and the same feature layer."""
    if info["sha256"] != user.model.get("sha256"):
        raise ModelMismatchError(
            f"{user.label}: enrolled with other model weights (sha256 {str(user.model.get('sha256'))[:12]}..., "
            f"{user.model.get('path')}) than {model_path or info.get('path')} (sha256 {info['sha256'][:12]}...); "
            "verify with the enrolment model or enrol the user again with this one")
    if info.get("layer") != user.model.get("layer"):  # the same weights, but the sidecar names another layer
        raise ModelMismatchError(
            f"{user.label}: enrolled with the features of layer {user.model.get('layer')}, but "
            f"{model_path or info.get('path')} gives those of layer {info.get('layer')} (its sidecar changed); "
            "restore the sidecar or enrol the user again")


def score_features(user: EnrolledUser, features: np.ndarray, names: Sequence[str]) -> List[Dict[str, Any]]:
    """:func:`verify`'s answers for features ``(N, D)`` of questioned signatures named ``names``:
    ``[{"image": name, "score": float, "accepted": bool}]`` (``accepted`` = ``score >= user.threshold``)."""
    scores = user.decision_function(features)
    check_finite(scores, f"{user.label}: scores")
    t = user.threshold
    return [{"image": n, "score": float(s), "accepted": bool(s >= t)} for n, s in zip(names, scores)]
