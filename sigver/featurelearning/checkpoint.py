"""Model checkpoints: the original ``.pth`` 3-tuple plus an optional JSON sidecar (docs/formats.md).

File layout (what the original code and the published weights use, and what the original ``torch.load``\\ s)::

    torch.save((base_state_dict, classification_state_dict, forg_state_dict), "model.pth")

- ``base_state_dict``: the feature extractor's keys (docs/formats.md; 42 for SigNet), ``num_batches_tracked``
  included when we save, optional when we load (files older than PyTorch 0.4.1 lack it);
- ``classification_state_dict``: ``weight`` (num_classes, D), ``bias`` (num_classes,);
- ``forg_state_dict``: ``weight`` (1, D), ``bias`` (1,) for SigNet-F, else an empty ``OrderedDict()``
  (the state dict of the original's placeholder ``nn.Module``). A missing classification head is saved
  the same way.

Metadata goes in ``model.json`` beside ``model.pth`` (same stem): architecture, feature size, number of
classes, input size, pixel range, training arguments, sigver and torch versions. It is optional on read:
without it (published weights) the architecture is inferred from the state dict's keys and shapes.

Loading never unpickles arbitrary objects (``torch.load(..., weights_only=True)``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .. import __version__
from ..errors import CheckpointError
from ..fileio import atomic_write
from .models import INPUT_SIZE, available_models, create_model, model_name

__all__ = ["save_checkpoint", "load_checkpoint", "LoadedCheckpoint", "sidecar_path", "infer_architecture",
           "CheckpointWarning", "resolve_input_size", "read_checkpoint_file", "weights_sha256"]

PathLike = Union[str, os.PathLike]
StateDict = Mapping[str, torch.Tensor]

#: Keys of the sidecar that describe the saved tensors; always computed, never taken from ``metadata``.
_FACTS = ("feature_space_size", "num_classes", "forg", "input_size", "pixel_range")


class CheckpointWarning(UserWarning):
    """A checkpoint's JSON sidecar is unreadable or contradicts the weights; it was ignored."""


class LoadedCheckpoint(NamedTuple):
    """A loaded checkpoint; unpacks as ``model, classification_layer, forg_layer, metadata``.

    Attributes
    ----------
    model : nn.Module
        The feature extractor, in eval mode, on the requested device.
    classification_layer : nn.Linear or None
        ``D -> num_classes`` writer classifier; ``None`` when the file holds no such head.
    forg_layer : nn.Linear or None
        ``D -> 1`` forgery logit (SigNet-F); ``None`` otherwise.
    metadata : dict
        The sidecar's content (when readable and consistent) with the facts read from the weights
        written over it: ``architecture``, ``feature_space_size``, ``num_classes`` (or None), ``forg``,
        ``input_size``, ``pixel_range``; ``sidecar`` tells whether a sidecar was used.
    """

    model: nn.Module
    classification_layer: Optional[nn.Linear]
    forg_layer: Optional[nn.Linear]
    metadata: Dict[str, Any]

    @property
    def arch(self) -> str:
        """Registry name of the architecture."""
        return self.metadata["architecture"]

    @property
    def feature_layer(self) -> Optional[str]:
        """The fc block whose output the sidecar says to take as the features (``features.layer``, e.g. ``fc1``,
        as ``scripts/export_model.py --layer`` writes it); None: the model's output. Not checked here."""
        layer = (self.metadata.get("features") or {}).get("layer")
        return layer if isinstance(layer, str) or layer is None else str(layer)


def sidecar_path(path: PathLike) -> Path:
    """The JSON metadata file beside a checkpoint: same folder and stem, suffix ``.json``."""
    return Path(path).with_suffix(".json")


# ---------------------------------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------------------------------

def _plain_state_dict(obj: Union[nn.Module, StateDict, None]) -> "OrderedDict[str, torch.Tensor]":
    """A fresh ``OrderedDict`` of detached CPU tensors (no ``_metadata``, as the original wrote it)."""
    if obj is None:
        return OrderedDict()
    state = obj.state_dict() if isinstance(obj, nn.Module) else obj
    return OrderedDict((k, v.detach().cpu()) for k, v in state.items())


def save_checkpoint(path: PathLike, base_model: Union[nn.Module, StateDict],
                    classification_layer: Union[nn.Module, StateDict, None] = None,
                    forg_layer: Union[nn.Module, StateDict, None] = None,
                    metadata: Optional[Mapping[str, Any]] = None) -> Path:
    """Write a checkpoint the original code can read, and its JSON sidecar.

    Both files are written to temporary files first and renamed into place, so an interrupted save never
    leaves a truncated checkpoint (an existing one is kept until the new one is complete).

    Parameters
    ----------
    path : str or path-like
        Target ``.pth`` file; its folder must exist. The sidecar is ``path`` with suffix ``.json``.
    base_model : nn.Module or state dict
        The feature extractor (e.g. :class:`~sigver.featurelearning.models.SigNet`).
    classification_layer : nn.Linear or state dict, optional
        Writer classifier; saved as an empty dict when omitted.
    forg_layer : nn.Linear or state dict, optional
        Forgery head (SigNet-F); saved as an empty dict when omitted, as the original did.
    metadata : mapping, optional
        Extra JSON-serialisable entries for the sidecar, e.g. ``{"training_args": vars(args)}``.
        ``architecture`` may be given for a model outside the registry; the entries describing the tensors
        (feature size, classes, input size, pixel range) are always computed from the weights.

    Returns
    -------
    Path
        The written checkpoint path.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise CheckpointError(f"{path}: the folder {path.parent} does not exist; create it first")
    base = _plain_state_dict(base_model)
    if not base:
        raise ValueError("base_model has an empty state dict; pass the feature extractor (e.g. a SigNet)")
    cls_sd = _plain_state_dict(classification_layer)
    forg_sd = _plain_state_dict(forg_layer)

    info: Dict[str, Any] = {"format": "sigver-checkpoint", "format_version": 1}
    info.update(dict(metadata or {}))
    arch = model_name(base_model) if isinstance(base_model, nn.Module) else None
    if arch is None and not info.get("architecture"):
        arch = infer_architecture(base)
    if arch is not None:
        info["architecture"] = arch
    described = base_model
    if not isinstance(base_model, nn.Module) and info.get("architecture") in available_models:
        with torch.device("meta"):
            described = create_model(info["architecture"])
    info.update(_facts(described, cls_sd, forg_sd))
    info["sigver_version"] = __version__
    info["torch_version"] = torch.__version__.split("+")[0]
    text = json.dumps(info, indent=2, sort_keys=False, default=str) + "\n"

    atomic_write(path, lambda f: torch.save((base, cls_sd, forg_sd), f))
    atomic_write(sidecar_path(path), lambda f: f.write(text.encode("utf-8")))
    return path


def _facts(base_model, cls_sd: StateDict, forg_sd: StateDict) -> Dict[str, Any]:
    size = getattr(base_model, "feature_space_size", None)
    if size is None and "weight" in cls_sd:
        size = int(cls_sd["weight"].shape[1])
    return {
        "feature_space_size": None if size is None else int(size),
        "num_classes": int(cls_sd["weight"].shape[0]) if "weight" in cls_sd else None,
        "forg": bool(forg_sd),
        "input_size": list(getattr(base_model, "input_size", INPUT_SIZE)),
        "pixel_range": [0, 1],
    }


# ---------------------------------------------------------------------------------------------------
# architecture inference
# ---------------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _expected_shapes(arch: str) -> Tuple[Tuple[str, Tuple[int, ...]], ...]:
    """``(key, shape)`` of every state-dict entry of a registered model (built on the meta device)."""
    with torch.device("meta"):
        model = create_model(arch)
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


def _is_nbt(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def _first_mismatch(state: StateDict, arch: str) -> Optional[str]:
    """Description of the first key of ``state`` that does not fit ``arch`` (None when all fit).

    ``num_batches_tracked`` entries may be missing.
    """
    expected = dict(_expected_shapes(arch))
    for key, shape in expected.items():
        if key not in state:
            if _is_nbt(key):
                continue
            return f"key {key!r} is missing"
        got = tuple(state[key].shape)
        if got != shape:
            return f"key {key!r} has shape {list(got)}, expected {list(shape)}"
    for key in state:
        if key not in expected:
            return f"unexpected key {key!r}"
    return None


def infer_architecture(state: StateDict) -> Optional[str]:
    """Registry name of the model whose keys and shapes match ``state`` exactly (None when none does).

    ``num_batches_tracked`` entries are optional.
    """
    for arch in available_models:
        if _first_mismatch(state, arch) is None:
            return arch
    return None


def _closest(state: StateDict) -> str:
    def score(arch):
        expected = dict(_expected_shapes(arch))
        return sum(1 for k, v in state.items() if k in expected and tuple(v.shape) == expected[k])
    return max(available_models, key=score)


# ---------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------

def resolve_input_size(explicit: Optional[Sequence[int]] = None, checkpoint: Optional["LoadedCheckpoint"] = None,
                       arch: Optional[str] = None) -> Tuple[int, int]:
    """The model input size ``(h, w)`` a command uses: the one rule for every ``--input-size``.

    ``explicit`` (a flag's value) when given; else the checkpoint's (its sidecar's ``input_size``, else its
    model's); else the architecture ``arch``'s; else :data:`sigver.shapes.INPUT_SIZE` (150 x 220).
    The :data:`~sigver.shapes.INPUT_SIZE` object itself counts as not given: an ``--input-size`` flag has it as
    its default, so that ``--help`` shows 150 220 while a checkpoint of another size still decides.
    """
    if explicit is not None and explicit is not INPUT_SIZE:
        return int(explicit[0]), int(explicit[1])
    if checkpoint is not None:
        stored = (checkpoint.metadata or {}).get("input_size") or getattr(checkpoint.model, "input_size", None)
        if stored:
            return int(stored[0]), int(stored[1])
    if arch is not None and arch in available_models:
        size = available_models[arch].input_size
        return int(size[0]), int(size[1])
    return INPUT_SIZE


def read_checkpoint_file(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with one-line :class:`CheckpointError` s for a
    missing, truncated or pickled-object file (shared by the checkpoint readers of every stage)."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file; check the path, or train one with "
                              f"`python -m sigver.featurelearning.train`")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; give the path of a .pth checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, unsafe globals, ...
        text = str(e)
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            raise CheckpointError(
                f"{path}: holds a pickled Python object ({found.group(1)}), not only tensors and dicts; sigver "
                f"reads checkpoints of state dicts (torch.save((base_sd, cls_sd, forg_sd), path)) and never "
                f"unpickles arbitrary objects; re-save the state dicts from a trusted session") from None
        inner = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        lines = [line.strip() for line in (inner.group(1) if inner else text).splitlines() if line.strip()]
        detail = lines[0].split(". ")[0].rstrip(".") if lines else "the file ends early"
        raise CheckpointError(f"{path}: cannot be read as a torch checkpoint, it is truncated or corrupt "
                              f"({type(e).__name__}: {detail[:160]}); copy or download it again") from None


def _as_state_dict(path: Path, obj: Any, what: str) -> Dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: the {what} is a {type(obj).__name__}, expected a state dict (a mapping "
                              f"of names to tensors)")
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{path}: the {what} has entry {k!r} of type {type(v).__name__}, expected "
                                  f"a tensor named by a string")
    return dict(obj)


def _split(path: Path, obj: Any) -> Tuple[Dict, Dict, Dict]:
    if not isinstance(obj, (tuple, list)) or len(obj) != 3:
        if isinstance(obj, Mapping):
            got = f"a dict with {len(obj)} entries"
            hint = ("; if it is a bare model state dict, re-save it as torch.save((state_dict, {}, {}), path) "
                    "or use sigver.featurelearning.save_checkpoint")
        elif isinstance(obj, (tuple, list)):
            got, hint = f"a {type(obj).__name__} of {len(obj)} items", ""
        else:
            got, hint = f"a {type(obj).__name__}", ""
        raise CheckpointError(f"{path}: expected the 3-tuple (base_state_dict, classification_state_dict, "
                              f"forg_state_dict) of a sigver checkpoint, got {got}{hint}")
    names = ("base state dict", "classification state dict", "forgery state dict")
    return tuple(_as_state_dict(path, o, n) for o, n in zip(obj, names))


def _read_sidecar(path: Path) -> Dict[str, Any]:
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError(f"expected a JSON object, got {type(info).__name__}")
    except (OSError, ValueError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        warnings.warn(f"{side}: unreadable checkpoint metadata ({detail}); ignored it, the architecture is "
                      f"inferred from the weights. Delete or fix the file to silence this warning.",
                      CheckpointWarning, stacklevel=3)
        return {}
    return info


def _head(path: Path, sd: Dict[str, torch.Tensor], size: int, outputs: Optional[int], what: str
          ) -> Optional[nn.Linear]:
    """Build the ``nn.Linear`` of a head state dict (None when empty); ``outputs`` None = from the shape."""
    if not sd:
        return None
    if set(sd) != {"weight", "bias"}:
        raise CheckpointError(f"{path}: the {what} has keys {sorted(sd)}, expected ['bias', 'weight'] of an "
                              f"nn.Linear")
    w, b = sd["weight"], sd["bias"]
    n = w.shape[0] if w.dim() == 2 else -1
    if (w.dim() != 2 or w.shape[1] != size or b.shape != (n,) or (outputs is not None and n != outputs)):
        want = f"[{outputs if outputs is not None else 'C'}, {size}]"
        raise CheckpointError(f"{path}: the {what} has weight {list(w.shape)} and bias {list(b.shape)}, "
                              f"expected weight {want} for features of size {size}")
    layer = nn.Linear(size, n)
    layer.load_state_dict({"weight": w, "bias": b})
    return layer


def _choose_arch(path: Path, base: Dict[str, torch.Tensor], arch: Optional[str], info: Dict[str, Any]
                 ) -> Tuple[str, bool]:
    """Architecture for ``base`` and whether the sidecar is trusted."""
    if arch is not None:
        if arch not in available_models:
            raise CheckpointError(f"{path}: unknown architecture {arch!r}; available models: "
                                  f"{', '.join(available_models)}")
        problem = _first_mismatch(base, arch)
        if problem is not None:
            found = infer_architecture(base)
            hint = f" (it looks like {found!r})" if found else ""
            raise CheckpointError(f"{path}: the base state dict is not a {arch!r} model: {problem}; pass the "
                                  f"right arch{hint}")
        return arch, info.get("architecture", arch) == arch
    side_arch = info.get("architecture")
    if side_arch is not None:
        if side_arch in available_models and _first_mismatch(base, side_arch) is None:
            return side_arch, True
        warnings.warn(f"{sidecar_path(path)}: says architecture {side_arch!r}, which does not match the weights; "
                      f"ignored the metadata file and inferred the architecture", CheckpointWarning, stacklevel=3)
    found = infer_architecture(base)
    if found is None:
        closest = _closest(base)
        raise CheckpointError(f"{path}: the base state dict matches no known architecture (closest "
                              f"{closest!r}: {_first_mismatch(base, closest)}); this is not a checkpoint of "
                              f"{', '.join(available_models)}")
    return found, False


def weights_sha256(model) -> str:
    """SHA-256 of a model's weights (state dict tensors in key order, ``num_batches_tracked`` left out).

    It identifies the weights, not the file: the same weights saved again, moved or converted from the
    original's format give the same hash.
    """
    h = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        if key.endswith("num_batches_tracked"):
            continue
        a = t.detach().cpu().contiguous().numpy()
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _check_finite_weights(path: Path, *state_dicts) -> None:
    """Weights with NaN or infinite values (a diverged run) are refused: they would give NaN features."""
    for sd in state_dicts:
        for key, t in (sd or {}).items():
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise CheckpointError(f"{path}: the weights {key!r} hold NaN or infinite values (the training "
                                      f"diverged); use an earlier checkpoint of the run")


def load_checkpoint(path: PathLike, device: Union[str, torch.device] = "cpu", arch: Optional[str] = None
                    ) -> LoadedCheckpoint:
    """Load a checkpoint saved by sigver, by the original code, or published with the paper.

    Parameters
    ----------
    path : str or path-like
        A ``.pth`` file holding ``(base_state_dict, classification_state_dict, forg_state_dict)``.
        Legacy (pre-1.6, non-zip) and current ``torch.save`` formats are read, with or without the
        ``num_batches_tracked`` buffers.
    device : str or torch.device, default 'cpu'
        Where the model and heads are placed.
    arch : str, optional
        Registry name of the architecture. By default it comes from the sidecar ``.json`` when that
        agrees with the weights, else it is inferred from the base state dict's keys and shapes. When
        given, the weights must match it.

    Returns
    -------
    LoadedCheckpoint
        ``(model, classification_layer, forg_layer, metadata)``; the model is in eval mode. Head sizes
        are read from the tensor shapes.

    Raises
    ------
    CheckpointError
        Missing, truncated or corrupt file; not the 3-tuple of state dicts; weights of another model (the
        message names the first mismatching key); heads that do not fit the features.
    """
    path = Path(path)
    base, cls_sd, forg_sd = _split(path, read_checkpoint_file(path))
    _check_finite_weights(path, base, cls_sd, forg_sd)
    info = _read_sidecar(path)
    name, trusted = _choose_arch(path, base, arch, info)

    model = create_model(name)
    # files older than PyTorch 0.4.1 have no num_batches_tracked: fill them as the BN loader would (0)
    state = dict(base)
    for key, shape in _expected_shapes(name):
        if _is_nbt(key) and key not in state:
            state[key] = torch.zeros(shape, dtype=torch.long)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # dtype problems: shapes and keys were checked above
        raise CheckpointError(f"{path}: the base state dict cannot be loaded into {name!r} "
                              f"({str(e).splitlines()[0]})") from None
    size = model.feature_space_size
    classification_layer = _head(path, cls_sd, size, None, "classification state dict")
    forg_layer = _head(path, forg_sd, size, 1, "forgery state dict")

    metadata: Dict[str, Any] = dict(info) if trusted else {}
    metadata["architecture"] = name
    metadata.update(_facts(model, cls_sd, forg_sd))
    metadata["sidecar"] = trusted
    model.to(device).eval()
    for head in (classification_layer, forg_layer):
        if head is not None:
            head.to(device).eval()
    return LoadedCheckpoint(model, classification_layer, forg_layer, metadata)

