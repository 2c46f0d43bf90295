"""SigNet / SigNet-F training, the library behind ``python -m sigver.featurelearning.train``.

The command module (:mod:`sigver.featurelearning.train`) only parses and calls :func:`run`; the adversarial
trainers build on :func:`build_parser` and :func:`run` with their own step (``make_step``). What every
trainer shares (run flags, device, run folder, optimiser, resume, the loop) is :mod:`sigver.training`; here is
what is SigNet's: the data selection (:func:`prepare_data`), the model with its heads (:class:`Net`), the
step (:func:`training_step`) and the validation (:func:`evaluate_split`).
"""
from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch
from torch import nn

from ..cli import positive_int, unit_float
from ..validation import float_in
from ..datasets import get_subset, load_dataset, remove_forgeries
from ..training.batching import VAL_FRACTION, DataSplitError, DeviceBatches, as_generator, split_indices
from ..training.loop import TrainingError, TrainLoop
from ..training.average import recompute_batchnorm
from ..training.run import (add_run_arguments, add_sgd_arguments, add_swa_arguments, args_record, check_run_folder,
                            distributed_run, fit_run, log, make_weight_average, sgd_step_lr)
from .checkpoint import load_checkpoint, resolve_input_size, save_checkpoint
from .augment import AUGMENTATIONS, Augmenter
from .features import LayerTap, feature_size
from .losses import (LOSS_TYPES, classification_stats, feature_loss, kl_to_teacher, signet_f_loss, signet_loss,
                     supcon_loss)
from .models import INPUT_SIZE, available_models, create_model, make_heads

__all__ = ["build_parser", "prepare_data", "evaluate_split", "training_step", "run", "TrainContext", "Net",
           "Teachers", "VAL_FRACTION"]


# ---------------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------------

def build_parser(prog: str = "python -m sigver.featurelearning.train",
                 description: str = "Train SigNet (writer classification) or SigNet-F (--forg --lamb) on a "
                                    "dataset file.",
                 loss_type: bool = True) -> argparse.ArgumentParser:
    """The command-line parser (original flags and defaults, docs/protocols.md, plus the new ones).

    Other training commands (adversarial training) start from it: ``prog`` and ``description`` name them,
    ``loss_type=False`` leaves out ``--loss-type`` (their originals had none).
    """
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--dataset-path", help="dataset .npz file (or .npy folder) from process_dataset")
    p.add_argument("--input-size", nargs=2, type=positive_int, default=INPUT_SIZE, metavar=("H", "W"),
                   help="crop size (default: 150 220)")
    p.add_argument("--users", nargs=2, type=int, default=(350, 881), metavar=("A", "B"),
                   help="train on writer indices range(A, B) (default: 350 881, GPDS development set)")
    p.add_argument("--model", "-m", required=True, choices=list(available_models), help="architecture")
    p.add_argument("--batch-size", type=positive_int, default=32)
    add_sgd_arguments(p, epochs=20)
    p.add_argument("--checkpoint", help="initialise from this .pth (fine-tuning); with --test: the model to test")
    p.add_argument("--test", action="store_true", help="evaluate --checkpoint on the validation split and exit")
    p.add_argument("--forg", action="store_true", help="SigNet-F: also learn to detect forgeries (needs --lamb)")
    p.add_argument("--lamb", type=unit_float, default=None, help="weight of the forgery loss, e.g. 0.95")
    if loss_type:
        p.add_argument("--loss-type", choices=LOSS_TYPES, default="L2",
                       help="SigNet-F loss: L2 = writer CE on genuine only (default), L1 = on all samples")
    p.add_argument("--augment", choices=list(AUGMENTATIONS), default="none",
                   help="training augmentation policy (default: none, as the original); 'scanner': random "
                        "affine jitter, stroke width, blur, ink intensity and binarisation, on the device "
                        "(measured across real datasets in BENCHMARKS.md: it did not help there)")
    metric = p.add_argument_group("metric learning (not in the original)")
    metric.add_argument("--supcon", type=float_in(0), default=0.0, metavar="WEIGHT",
                        help="add WEIGHT x a supervised contrastive loss on the features (genuine signatures of "
                             "a writer are positives; everything else, that writer's forgeries included, "
                             "negatives); default 0: off, as the original")
    metric.add_argument("--supcon-temperature", type=float_in(0, low_open=True), default=0.1,
                        help="temperature of the contrastive loss (default: 0.1)")
    metric.add_argument("--group-size", type=positive_int, default=None, metavar="K",
                        help="draw batches writer-grouped, K signatures of a writer together (default: 4 with "
                             "--supcon, else 1: plain shuffling as the original)")
    kd = p.add_argument_group("distillation from trained models (not in the original)")
    kd.add_argument("--teacher", nargs="+", default=None, metavar="PTH",
                    help="learn also from these trained checkpoints (one, or several: an ensemble) of the same "
                         "writers: WEIGHT x T^2 x KL(teachers' mean writer distribution at temperature T || "
                         "the model's) on the genuine signatures of each batch, added to the loss; the "
                         "teachers see the same crops")
    kd.add_argument("--kd-weight", type=float_in(0), default=1.0, metavar="WEIGHT",
                    help="weight of the distillation term (default: 1)")
    kd.add_argument("--kd-temperature", type=float_in(0, low_open=True), default=4.0, metavar="T",
                    help="softmax temperature of the distillation term (default: 4)")
    kd.add_argument("--kd-features", type=float_in(0), default=0.0, metavar="WEIGHT",
                    help="with --teacher: also add WEIGHT x the relative squared distance between the model's "
                         "features at --kd-layer, through a linear map trained with it (not saved), and the "
                         "teachers' features at that layer side by side, on every image of the batch "
                         "(default 0: off; --kd-weight 0 leaves the features alone)")
    kd.add_argument("--kd-layer", default=None, metavar="LAYER",
                    help="the fc block whose features --kd-features matches, in the model and in the teachers "
                         "(e.g. fc1, the layer the features are extracted from; default: the model's output)")
    add_swa_arguments(p)
    add_run_arguments(p, seed=42)
    return p


# ---------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------

def prepare_data(dataset_path, users, forg: bool):
    """Load the dataset file, keep ``range(*users)``, drop forgeries unless ``forg``, re-encode labels.

    Returns
    -------
    x : ndarray of uint8 (N, 1, H, W)
    y : ndarray of int64 (N,), labels 0..C-1
    yforg : ndarray of int64 (N,)
    classes : ndarray (C,)
        Writer index (in the dataset file) of each label.
    writer_ids : list (C,)
        The original writer ids (``user_mapping``) of each label.

    Raises
    ------
    DatasetFileError, DataSplitError
        Missing file; ``users`` outside the data; fewer than 2 writers left.
    """
    data = load_dataset(dataset_path)
    n_users = data.n_users
    a, b = int(users[0]), int(users[1])
    if a < 0 or b <= a:
        raise DataSplitError(f"--users {a} {b}: expected 0 <= A < B (writer indices range(A, B))")
    if b > n_users:
        raise DataSplitError(f"--users {a} {b}: {dataset_path} has {n_users} writers (indices 0..{n_users - 1}); "
                             f"pass --users A B with B <= {n_users}, e.g. --users 0 {n_users}")
    data = get_subset(data, range(a, b))
    if not forg:
        data = remove_forgeries(data)
    y_raw = np.asarray(data.y)
    classes, y = np.unique(y_raw, return_inverse=True)
    if len(classes) < 2:
        raise DataSplitError(f"--users {a} {b} selects {len(classes)} writer(s) with signatures in "
                             f"{dataset_path}; writer classification needs at least 2")
    writer_ids = [data.user_mapping[c].item() if hasattr(data.user_mapping[c], "item") else data.user_mapping[c]
                  for c in classes]
    return (np.ascontiguousarray(data.x), y.astype(np.int64), np.asarray(data.yforg, dtype=np.int64),
            classes, writer_ids)


@torch.no_grad()
def evaluate_split(model: nn.Module, classification: nn.Module, forg_layer: Optional[nn.Module],
                   data: DeviceBatches, batch_size: int, rank: int = 0, world_size: int = 1) -> Dict[str, Any]:
    """Validation metrics, averaged per sample (not per batch), with the modules as they are (eval mode).

    Returns
    -------
    dict
        ``val_loss``, ``val_acc`` (writer CE and accuracy on genuine samples; None when there are none) and
        with ``forg_layer``: ``val_forg_loss``, ``val_forg_acc``. Under DDP the sums are all-reduced.
    """
    sums: Dict[str, torch.Tensor] = {}
    for xb, yb, fb in data.eval_batches(batch_size, rank, world_size):
        feats = model(xb)
        stats = classification_stats(classification(feats), yb, fb,
                                     forg_layer(feats) if forg_layer is not None else None)
        for k, v in stats.items():
            sums[k] = sums.get(k, 0) + v
    keys = ["n_genuine", "class_loss_sum", "class_correct"] + (["n", "forg_loss_sum", "forg_correct"]
                                                               if forg_layer is not None else [])
    vec = torch.stack([torch.as_tensor(sums.get(k, 0.0), dtype=torch.float64, device=data.device).reshape(())
                       for k in keys])
    if world_size > 1:
        torch.distributed.all_reduce(vec)
    s = dict(zip(keys, vec.tolist()))
    out: Dict[str, Any] = {"val_loss": None, "val_acc": None}
    if s["n_genuine"] > 0:
        out["val_loss"] = s["class_loss_sum"] / s["n_genuine"]
        out["val_acc"] = s["class_correct"] / s["n_genuine"]
    if forg_layer is not None and s["n"] > 0:
        out["val_forg_loss"] = s["forg_loss_sum"] / s["n"]
        out["val_forg_acc"] = s["forg_correct"] / s["n"]
    return out


def training_step(net: nn.Module, batch, forg: bool = False, lamb: Optional[float] = None,
                  loss_type: str = "L2", supcon: float = 0.0,
                  supcon_temperature: float = 0.1, teachers: Optional["Teachers"] = None,
                  kd_weight: float = 1.0, kd_features: float = 0.0) -> Dict[str, torch.Tensor]:
    """Forward and loss of one training batch (the ``step`` of :class:`TrainLoop`).

    Parameters
    ----------
    net : nn.Module
        ``x -> (writer logits, forgery logits or None)`` (the model with its heads).
    batch : (x, y, yforg)
    forg, lamb, loss_type
        SigNet-F loss (``--forg --lamb --loss-type``); plain SigNet loss when ``forg`` is False.
    supcon, supcon_temperature
        Weight and temperature of the supervised contrastive term (:func:`supcon_loss`, ``--supcon``); with
        a weight > 0, ``net`` must also return the features (``Net(..., return_features=True)``).
    teachers, kd_weight, kd_features
        Distillation (``--teacher``, ``--kd-weight``, ``--kd-features``): ``kd_weight`` x the ``kd_loss`` of
        :meth:`Teachers.loss` (writer distributions, on the genuine samples of the batch) is added to the loss,
        and with ``kd_features`` > 0 ``kd_features`` x its ``kd_feature_loss`` (features, on all samples;
        ``net`` must then return the mapped features: ``Net(..., tap=...)`` with a ``kd_map`` head).

    Returns
    -------
    dict
        ``loss``, ``acc`` (writer accuracy; on genuine samples under SigNet-F) and with ``forg`` the terms of
        :func:`signet_f_loss` and ``forg_acc``; with ``supcon``: ``supcon_loss``; with ``teachers``:
        ``kd_loss`` (and ``kd_feature_loss`` with ``kd_features``).
    """
    xb, yb, fb = batch
    logits, forg_logits, *rest = net(xb)
    features, mapped = (rest + [None, None])[:2]
    if forg:
        out = signet_f_loss(logits, forg_logits, yb, fb, lamb, loss_type)
        genuine = fb == 0
        correct = ((logits.argmax(1) == yb) & genuine).sum()
        out["forg_acc"] = ((forg_logits.reshape(-1) > 0) == (fb > 0)).float().mean()
        # accuracy over the genuine samples of the batch, weighted later by batch size (approximate)
        out["acc"] = correct.double() / genuine.sum().clamp(min=1)
    else:
        out = {"loss": signet_loss(logits, yb)}
        out["acc"] = (logits.argmax(1) == yb).float().mean()
    if supcon > 0:
        if features is None:
            raise ValueError("supcon > 0 needs a net that returns the features (Net(..., return_features=True))")
        out["supcon_loss"] = supcon_loss(features, yb, fb, supcon_temperature)
        out["loss"] = out["loss"] + supcon * out["supcon_loss"]
    if teachers is not None:
        if kd_features > 0 and mapped is None:
            raise ValueError("kd_features > 0 needs a net that returns the mapped features (Net(..., tap=...))")
        kd = teachers.loss(xb, logits, fb == 0, mapped if kd_features > 0 else None)
        out.update(kd)
        out["loss"] = out["loss"] + kd_weight * kd["kd_loss"]
        if "kd_feature_loss" in kd:
            out["loss"] = out["loss"] + kd_features * kd["kd_feature_loss"]
    return out


class Teachers:
    """Trained models whose writer distribution a new model learns from (``--teacher``; Hinton et al.'s
    knowledge distillation, with several teachers: their ensemble).

    The teachers' writer heads must cover the training writers in the same order: each checkpoint's sidecar
    ``writer_ids`` must equal those of the run (a checkpoint without them must at least have as many classes).
    With ``feature_layer`` (``--kd-features``) the teachers also give their features at that fc block, side by
    side (:attr:`feature_size` values per image), from the same forward pass.

    Parameters
    ----------
    paths : list of str
        Checkpoints (``model_last.pth`` of ``featurelearning.train`` runs on the same ``--users``).
    writer_ids : list
        The run's writer id of each class.
    temperature : float
    device : torch.device
    channels_last : bool
    feature_layer : str, optional
        Give the features of this fc block too (``""`` or None: no features; ``"output"``: each teacher's
        output).
    """

    def __init__(self, paths, writer_ids, temperature: float, device: torch.device, channels_last: bool = False,
                 feature_layer: Optional[str] = None):
        self.temperature = float(temperature)
        self.members = []
        self.taps = []
        self.feature_size = 0
        for path in paths:
            loaded = load_checkpoint(path, device=device)
            head = loaded.classification_layer
            n = None if head is None else head.out_features
            if n != len(writer_ids):
                raise TrainingError(f"--teacher {path}: its writer head has {n} classes, the training writers "
                                    f"are {len(writer_ids)}; give checkpoints trained on the same --users")
            theirs = loaded.metadata.get("writer_ids")
            if theirs is not None and [str(w) for w in theirs] != [str(w) for w in writer_ids]:
                raise TrainingError(f"--teacher {path}: trained on other writers (or in another order) than "
                                    f"--users gives here; give checkpoints trained on the same dataset and --users")
            if channels_last:
                loaded.model.to(memory_format=torch.channels_last)
            for p in [*loaded.model.parameters(), *head.parameters()]:
                p.requires_grad_(False)
            if feature_layer:
                layer = None if feature_layer == "output" else feature_layer
                try:
                    self.taps.append(LayerTap(loaded.model, layer))
                except ValueError as e:
                    raise TrainingError(f"--teacher {path}: {e}; give --kd-layer a layer of every teacher") from None
                self.feature_size += feature_size(loaded.model, self.taps[-1].layer)
            self.members.append((loaded.model.eval(), head.eval()))

    @torch.no_grad()
    def targets(self, x: torch.Tensor):
        """One forward pass of each teacher: ``(T log(mean_k softmax(z_k / T)), features)``: logits whose
        softmax at temperature T is the teachers' mean distribution (a single teacher's own distribution), and
        their features side by side (float32, shape ``(N, feature_size)``; None without ``feature_layer``)."""
        t = self.temperature
        logp = torch.stack([torch.log_softmax(head(model(x)).float() / t, dim=1) for model, head in self.members])
        features = torch.cat([tap.output.float() for tap in self.taps], dim=1) if self.taps else None
        return t * (torch.logsumexp(logp, dim=0) - np.log(len(self.members))), features

    def target_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The first of :meth:`targets`."""
        return self.targets(x)[0]

    def loss(self, x: torch.Tensor, logits: torch.Tensor, keep: torch.Tensor,
             mapped: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """``kd_loss``: ``T^2 KL(teachers || model)`` at temperature T over the samples ``keep`` (0 when there
        are none); with ``mapped`` (the model's features through its linear map, ``(N, feature_size)``),
        ``kd_feature_loss``: :func:`feature_loss` to the teachers' features over all samples."""
        if mapped is None:  # the teachers see only the samples that the KL needs
            if not bool(keep.any()):
                return {"kd_loss": logits.sum() * 0.0}
            target, _ = self.targets(x[keep])
            return {"kd_loss": self.temperature ** 2 * kl_to_teacher(logits[keep], target, self.temperature)}
        if not self.taps:
            raise ValueError("mapped features given to teachers built without feature_layer")
        target, features = self.targets(x)
        kd = (self.temperature ** 2 * kl_to_teacher(logits[keep], target[keep], self.temperature)
              if bool(keep.any()) else logits.sum() * 0.0)
        return {"kd_loss": kd, "kd_feature_loss": feature_loss(mapped, features)}


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------

def _check_args(args) -> None:
    if args.forg and args.lamb is None:
        raise TrainingError("--forg needs --lamb (weight of the forgery loss in [0, 1], e.g. --lamb 0.95)")
    if args.test and not args.checkpoint:
        raise TrainingError("--test needs --checkpoint (the .pth to evaluate)")
    if args.resume is not None and args.checkpoint and not args.test:
        raise TrainingError("--resume and --checkpoint exclude each other: --resume continues a run from its "
                            "training state, --checkpoint starts a new one from a model")
    if getattr(args, "teacher", None) and args.test:
        raise TrainingError("--teacher is for training; leave it out with --test")
    if getattr(args, "kd_features", 0.0) > 0 and not getattr(args, "teacher", None):
        raise TrainingError("--kd-features needs --teacher (the trained checkpoints whose features to learn)")
    if args.dataset_path is None:
        raise TrainingError("--dataset-path is required (a .npz from `python -m sigver.preprocessing."
                            "process_dataset` or `python -m sigver.datasets.synthetic --npz FILE`)")
    check_run_folder(args)


def _init_from_checkpoint(path, arch, model, classification, forg_layer) -> str:
    loaded = load_checkpoint(path, arch=arch)
    model.load_state_dict(loaded.model.state_dict())
    notes = []
    for name, have, got in (("classification", classification, loaded.classification_layer),
                            ("forgery", forg_layer, loaded.forg_layer)):
        if have is None:
            continue
        if got is not None and got.weight.shape == have.weight.shape:
            have.load_state_dict(got.state_dict())
        else:
            notes.append(f"{name} head newly initialised")
    return f"initialised from {path}" + (f" ({'; '.join(notes)})" if notes else "")


class TrainContext(SimpleNamespace):
    """What a training command that changes the step function gets (see :func:`run`).

    Attributes: ``args``, ``device``, ``model``, ``classification``, ``forg_layer`` (None without
    ``--forg``), ``net`` (model and heads, ``x -> (writer logits, forgery logits or None)``, DDP-wrapped
    under torchrun), ``n_classes``, ``classes``, and ``loop`` (the :class:`TrainLoop`, set before training
    starts; ``loop.global_step`` counts the optimiser steps done, across ``--resume``).
    """


def run(args, make_step: Optional[Callable[[TrainContext, Callable], Callable]] = None) -> int:
    """Train (or ``--test``) with parsed arguments; ``make_step(context, signet_step)`` may replace the step.

    ``signet_step(batch)`` is the SigNet / SigNet-F step (forward of ``net``, loss and accuracy); the step
    returned by ``make_step`` is given every training batch and returns a dict with ``loss`` (see
    :class:`~sigver.featurelearning.loop.TrainLoop`). It is built after the data and model are ready and
    before anything is written to ``--logdir``, so it may raise :class:`TrainingError` on bad input.
    """
    _check_args(args)
    with distributed_run(args) as (device, rank, world):
        return _run(args, device, rank, world, rank == 0, make_step)


def _run(args, device: torch.device, rank: int, world: int, is_main: bool, make_step=None) -> int:
    torch.manual_seed(args.seed)
    args.input_size = resolve_input_size(args.input_size, arch=args.model)
    x, y, yforg, classes, writer_ids = prepare_data(args.dataset_path, args.users, args.forg)
    n_classes = len(classes)
    split_gen = as_generator(args.seed)
    train_idx, val_idx = split_indices(len(y), VAL_FRACTION, split_gen)
    full = DeviceBatches(x, y, yforg, tuple(args.input_size), device, channels_last=args.channels_last)
    train_data, val_data = full.subset(train_idx), full.subset(val_idx)
    del full
    if len(train_data) < world:
        raise DataSplitError(f"{len(train_data)} training images cannot be shared by {world} processes")
    log(f"{len(y)} images of {n_classes} writers: {len(train_data)} for training, "
        f"{len(val_data)} for validation", is_main)

    model = create_model(args.model)
    if tuple(args.input_size) != tuple(model.input_size):
        raise TrainingError(f"--input-size {args.input_size[0]} {args.input_size[1]}: {args.model} takes "
                            f"{model.input_size[0]}x{model.input_size[1]} inputs")
    classification, forg_layer = make_heads(model.feature_space_size, n_classes, forg=args.forg)

    if args.test:
        loaded = load_checkpoint(args.checkpoint, device=device, arch=args.model)
        if loaded.classification_layer is None or loaded.classification_layer.out_features != n_classes:
            have = None if loaded.classification_layer is None else loaded.classification_layer.out_features
            raise TrainingError(f"{args.checkpoint}: its classification head has {have} classes, --users "
                                f"{args.users[0]} {args.users[1]} gives {n_classes}")
        metrics = evaluate_split(loaded.model, loaded.classification_layer.eval(),
                                 loaded.forg_layer if args.forg else None, val_data, args.batch_size, rank, world)
        log("Test. " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None), is_main)
        return 0

    if args.checkpoint:
        log(_init_from_checkpoint(args.checkpoint, args.model, model, classification, forg_layer), is_main)

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    classification.to(device)
    if forg_layer is not None:
        forg_layer.to(device)

    kd_features = getattr(args, "kd_features", 0.0)
    kd_layer = (getattr(args, "kd_layer", None) or "output") if kd_features > 0 else None
    tap = kd_map = None
    if kd_layer is not None:
        try:
            tap = LayerTap(model, None if kd_layer == "output" else kd_layer)
        except ValueError as e:
            raise TrainingError(f"--kd-layer: {e}") from None
    teachers = (Teachers(args.teacher, writer_ids, args.kd_temperature, device, args.channels_last, kd_layer)
                if getattr(args, "teacher", None) else None)
    if tap is not None:
        # the model's features -> the teachers' side by side: trained with the model, not saved in it
        kd_map = nn.Linear(feature_size(model, tap.layer), teachers.feature_size).to(device)
    if teachers is not None:
        log(f"distilling from {len(teachers.members)} teacher(s) (weight {args.kd_weight}, temperature "
            f"{args.kd_temperature}" + (f"; features of {tap.layer}, weight {kd_features}, "
                                        f"{teachers.feature_size} values" if tap is not None else "") + ")",
            is_main)

    params = list(model.parameters()) + list(classification.parameters())
    if forg_layer is not None:
        params += list(forg_layer.parameters())
    if kd_map is not None:
        params += list(kd_map.parameters())
    optimizer, scheduler = sgd_step_lr(params, args)

    # the forward of one training step: model + heads together, so that DDP syncs all their gradients
    heads = nn.ModuleDict({"classification": classification})
    if forg_layer is not None:
        heads["forg"] = forg_layer
    if kd_map is not None:
        heads["kd_map"] = kd_map
    net: nn.Module = Net(model, heads, return_features=args.supcon > 0, tap=tap)
    if world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:
        if device.type == "cuda":
            net = torch.compile(net)
        else:
            log("--compile: ignored on CPU", is_main)

    augment_gen = as_generator(args.seed + 2)
    augmenter = Augmenter(args.augment, augment_gen) if getattr(args, "augment", "none") != "none" else None

    def step(batch):
        if augmenter is not None:
            batch = augmenter(batch)
        return training_step(net, batch, args.forg, args.lamb, args.loss_type, args.supcon,
                             args.supcon_temperature, teachers, getattr(args, "kd_weight", 1.0), kd_features)

    context = None
    if make_step is not None:
        context = TrainContext(args=args, device=device, model=model, classification=classification,
                               forg_layer=forg_layer, net=net, n_classes=n_classes, classes=classes, loop=None)
        step = make_step(context, step)

    def evaluate(epoch):
        return evaluate_split(model, classification, forg_layer, val_data, args.batch_size, rank, world)

    training_args = args_record(args)

    def save_model(path, info):
        save_checkpoint(path, model, classification, forg_layer, metadata={
            "training_args": training_args,
            "classes": [int(c) for c in classes],
            "writer_ids": writer_ids,
            "epoch": info["epoch"],
            "metrics": {k: info.get(k) for k in ("val_loss", "val_acc", "val_forg_loss", "val_forg_acc")
                        if k in info},
        })

    modules = {"model": model, "classification": classification, **({"forg": forg_layer} if forg_layer else {}),
               **({"kd_map": kd_map} if kd_map is not None else {})}
    # the mean of the weights gets BatchNorm statistics from the training images (centre crops)
    average = make_weight_average(args, modules, lambda: recompute_batchnorm(
        model, train_data.eval_batches(args.batch_size, rank, world), args.amp, device.type))

    data_gen = as_generator(args.seed + 1)
    group = args.group_size if args.group_size is not None else (4 if args.supcon > 0 else 1)
    loop = TrainLoop(
        modules=modules, optimizer=optimizer, scheduler=scheduler,
        train_batches=lambda epoch: train_data.train_batches(args.batch_size, data_gen, rank, world, group),
        num_batches=lambda epoch: train_data.num_batches(args.batch_size, rank, world),
        step=step, evaluate=evaluate, save_model=save_model, logdir=args.logdir, epochs=args.epochs,
        generators={"data": data_gen, "augment": augment_gen}, monitor="val_acc", mode="max", grad_clip_value=10.0,
        amp=args.amp, device=device, progress=args.progress, is_main=is_main, average=average)
    if context is not None:
        context.loop = loop

    return fit_run(loop, args, training_args, is_main)


class Net(nn.Module):
    """Model and heads in one module: ``x -> (writer logits, forgery logits or None)``; with
    ``return_features=True`` the features as a third output, and with ``tap`` (a :class:`LayerTap` on the
    model) the tapped layer's features through the ``kd_map`` head as a fourth (None where not asked for)."""

    def __init__(self, model: nn.Module, heads: nn.ModuleDict, return_features: bool = False,
                 tap: Optional[LayerTap] = None):
        super().__init__()
        self.model = model
        self.heads = heads
        self.return_features = return_features
        self.tap = tap

    def forward(self, x):
        feats = self.model(x)
        forg = self.heads["forg"](feats) if "forg" in self.heads else None
        logits = self.heads["classification"](feats)
        if self.tap is not None:
            mapped = self.heads["kd_map"](self.tap.output)
            return logits, forg, feats if self.return_features else None, mapped
        if self.return_features:
            return logits, forg, feats
        return logits, forg

