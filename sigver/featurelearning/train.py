"""Train SigNet / SigNet-F: ``python -m sigver.featurelearning.train`` (SPEC 4).

Writer classification on the development writers ``--users A B`` of a dataset file; SigNet-F (``--forg
--lamb``) adds the forgery head and loss. Same flags and defaults as the original, with its bugs fixed
(SPEC 11.1 items 1-3): validation in eval mode, no NaN or crash on batches without genuine signatures,
``--checkpoint`` initialises the weights for fine-tuning, ``--resume`` continues an interrupted run exactly,
``--lr-decay-times`` is an integer, ``--visdom-port`` is accepted beside ``--visdomport``.

Data: the images stay uint8 on ``--device``; random crops for training and the centre crop for validation are
taken there in batch (:mod:`sigver.featurelearning.data`). Multi-GPU: ``torchrun --nproc_per_node N -m
sigver.featurelearning.train ...`` trains with DistributedDataParallel (NCCL on GPUs, gloo on CPU).

Run folder (``--logdir``): ``args.json`` (arguments, git revision), ``log.jsonl`` (one line per epoch),
``model_best.pth`` / ``model_last.pth`` (checkpoint 3-tuple plus ``.json`` sidecar with the training arguments
and the writer ids of the classes), ``training_state.pth`` (for ``--resume``); with ``--tensorboard`` the
TensorBoard event files. Live curves (``--tensorboard``, ``--visdomport``; :mod:`sigver.featurelearning.logging`):
``train/loss``, ``train/acc`` (+ ``train/forg_loss``, ``train/forg_acc``) every ``--log-every`` steps,
``val/loss``, ``val/acc`` (+ forgery), ``epoch/train_*`` and ``lr`` per epoch; x = optimiser steps.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..cli import cli_main, default_device, positive_int, unit_float
from ..datasets import get_subset, load_dataset, remove_forgeries
from ..outputs import OutputError, check_output
from ..validation import float_in
from .checkpoint import load_checkpoint, save_checkpoint
from .data import DataSplitError, DeviceBatches, as_generator, split_indices
from .loop import LOG_FILE, STATE_FILE, TrainingError, TrainLoop, write_run_info
from .logging import make_loggers
from .losses import LOSS_TYPES, classification_stats, signet_f_loss, signet_loss
from .augment import AUGMENTATIONS, Augmenter
from .models import available_models, create_model, make_heads
from .recipes import TRAINING_RECIPES, parse_with_recipe

__all__ = ["main", "build_parser", "prepare_data", "evaluate_split", "run", "TrainContext"]

VAL_FRACTION = 0.1


# ---------------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------------

def _lr_decay_times(text: str) -> int:
    # the original parsed it as float; accept "3.0" but keep an integer
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(value)


def build_parser(prog: str = "python -m sigver.featurelearning.train",
                 description: str = "Train SigNet (writer classification) or SigNet-F (--forg --lamb) on a "
                                    "dataset file.",
                 loss_type: bool = True) -> argparse.ArgumentParser:
    """The command-line parser (original flags and defaults, SPEC 4.1, plus the new ones).

    Other training commands (adversarial training) start from it: ``prog`` and ``description`` name them,
    ``loss_type=False`` leaves out ``--loss-type`` (their originals had none).
    """
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--dataset-path", help="dataset .npz file (or .npy folder) from process_dataset")
    p.add_argument("--input-size", nargs=2, type=positive_int, default=(150, 220), metavar=("H", "W"),
                   help="crop size (default: 150 220)")
    p.add_argument("--users", nargs=2, type=int, default=(350, 881), metavar=("A", "B"),
                   help="train on writer indices range(A, B) (default: 350 881, GPDS development set)")
    p.add_argument("--model", "-m", required=True, choices=list(available_models), help="architecture")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", "-lr", type=float_in(0, low_open=True), default=0.001, help="initial learning rate (default: 0.001)")
    p.add_argument("--lr-decay", type=float_in(0, 1, low_open=True), default=0.1, help="StepLR gamma (default: 0.1)")
    p.add_argument("--lr-decay-times", type=_lr_decay_times, default=3,
                   help="number of LR decays: step size = epochs // this (default: 3)")
    p.add_argument("--momentum", type=float_in(0, 1, high_open=True), default=0.9)
    p.add_argument("--weight-decay", type=float_in(0), default=1e-4)
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--checkpoint", help="initialise from this .pth (fine-tuning); with --test: the model to test")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="STATE",
                   help=f"continue an interrupted run from its {STATE_FILE} (default: the one in --logdir)")
    p.add_argument("--test", action="store_true", help="evaluate --checkpoint on the validation split and exit")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--forg", action="store_true", help="SigNet-F: also learn to detect forgeries (needs --lamb)")
    p.add_argument("--lamb", type=unit_float, default=None, help="weight of the forgery loss, e.g. 0.95")
    if loss_type:
        p.add_argument("--loss-type", choices=LOSS_TYPES, default="L2",
                       help="SigNet-F loss: L2 = writer CE on genuine only (default), L1 = on all samples")
    p.add_argument("--gpu-idx", type=int, default=0, help="GPU index when --device is cuda (default: 0)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--logdir", required=True, help="run folder (created if missing)")
    p.add_argument("--visdomport", "--visdom-port", dest="visdomport", type=int, default=None,
                   help="plot live curves to a visdom server on this port (needs the visdom package; start "
                        "the server first: python -m visdom.server -port PORT)")
    p.add_argument("--visdom-server", default="http://localhost", help="visdom server address "
                   "(default: http://localhost)")
    p.add_argument("--visdom-env", default="main", help="visdom environment of the plots (default: main)")
    p.add_argument("--tensorboard", action="store_true",
                   help="write live curves as TensorBoard event files into --logdir (needs the tensorboard "
                        "package); view with: tensorboard --logdir LOGDIR")
    p.add_argument("--log-every", type=positive_int, default=100,
                   help="steps between two points of the training curves (default: 100)")
    p.add_argument("--recipe", choices=list(TRAINING_RECIPES), default=None,
                   help="a preset of the defaults below (flags given explicitly win): 'original' = the "
                        "original code's; 'real' = the recipe measured best across real datasets "
                        f"({', '.join(f'--{k.replace(chr(95), chr(45))} {v}' for k, v in TRAINING_RECIPES['real'].items())})")
    p.add_argument("--augment", choices=list(AUGMENTATIONS), default="none",
                   help="training augmentation policy (default: none, as the original); 'scanner': random "
                        "affine jitter, stroke width, blur, ink intensity and binarisation, on the device")
    p.add_argument("--amp", action="store_true", help="mixed precision (bfloat16 autocast)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only; ignored on CPU)")
    p.add_argument("--overwrite", action="store_true",
                   help="allow a new run in a --logdir that already holds one (its files are replaced)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
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
                  loss_type: str = "L2") -> Dict[str, torch.Tensor]:
    """Forward and loss of one training batch (the ``step`` of :class:`TrainLoop`).

    Parameters
    ----------
    net : nn.Module
        ``x -> (writer logits, forgery logits or None)`` (the model with its heads).
    batch : (x, y, yforg)
    forg, lamb, loss_type
        SigNet-F loss (``--forg --lamb --loss-type``); plain SigNet loss when ``forg`` is False.

    Returns
    -------
    dict
        ``loss``, ``acc`` (writer accuracy; on genuine samples under SigNet-F) and with ``forg`` the terms of
        :func:`signet_f_loss` and ``forg_acc``.
    """
    xb, yb, fb = batch
    logits, forg_logits = net(xb)
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
    return out


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------

def _distributed():
    """``(rank, world_size, local_rank)`` from the torchrun environment ((0, 1, 0) without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _device(args, local_rank: int, world: int) -> torch.device:
    name = args.device or default_device()
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"--device {name}: CUDA is not available here; use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", local_rank if world > 1 else args.gpu_idx)
        torch.cuda.set_device(dev)
    return dev


def _check_args(args) -> None:
    if args.forg and args.lamb is None:
        raise TrainingError("--forg needs --lamb (weight of the forgery loss in [0, 1], e.g. --lamb 0.95)")
    if args.test and not args.checkpoint:
        raise TrainingError("--test needs --checkpoint (the .pth to evaluate)")
    if args.resume is not None and args.checkpoint and not args.test:
        raise TrainingError("--resume and --checkpoint exclude each other: --resume continues a run from its "
                            "training state, --checkpoint starts a new one from a model")
    if args.dataset_path is None:
        raise TrainingError("--dataset-path is required (a .npz from `python -m sigver.preprocessing."
                            "process_dataset` or `python -m sigver.datasets.synthetic --npz FILE`)")
    if args.visdomport is not None:
        try:
            import visdom  # noqa: F401
        except ImportError:
            raise TrainingError("--visdomport needs the visdom package (pip install visdom); the curves are "
                                "also in log.jsonl in --logdir") from None
    check_run_folder(args)


def check_run_folder(args) -> None:
    """Checks shared by the training CLIs: ``--tensorboard`` importable, ``--logdir`` usable and not holding a
    run unless ``--resume``, ``--overwrite`` or ``--test`` (``args`` needs those four attributes)."""
    if args.tensorboard:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise TrainingError("--tensorboard needs the tensorboard package (pip install tensorboard); the "
                                "curves are also in log.jsonl in --logdir") from None
    logdir = Path(args.logdir)
    if logdir.exists() and not logdir.is_dir():
        raise TrainingError(f"--logdir {logdir}: exists and is not a folder")
    try:
        check_output(logdir, "folder", "--logdir")
    except OutputError as e:
        raise TrainingError(str(e)) from None
    if (not args.test and args.resume is None and not args.overwrite
            and any((logdir / f).exists() for f in (STATE_FILE, LOG_FILE))):  # a model file alone: the
        # first epoch's saving failed (e.g. a full disk) before its state was written; restarting loses nothing
        raise TrainingError(f"--logdir {logdir} already holds a run; pass --resume to continue it, --overwrite to "
                            f"replace it, or choose another --logdir")


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


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.featurelearning.train`` (see ``--help``)."""
    return run(parse_with_recipe(build_parser(), argv))


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
    rank, world, local_rank = _distributed()
    is_main = rank == 0
    device = _device(args, local_rank, world)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _run(args, device, rank, world, is_main, make_step)
    finally:
        if world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _log(is_main: bool, message: str) -> None:
    if is_main:
        print(message, file=sys.stderr, flush=True)


def _run(args, device: torch.device, rank: int, world: int, is_main: bool, make_step=None) -> int:
    torch.manual_seed(args.seed)
    x, y, yforg, classes, writer_ids = prepare_data(args.dataset_path, args.users, args.forg)
    n_classes = len(classes)
    split_gen = as_generator(args.seed)
    train_idx, val_idx = split_indices(len(y), VAL_FRACTION, split_gen)
    full = DeviceBatches(x, y, yforg, tuple(args.input_size), device, channels_last=args.channels_last)
    train_data, val_data = full.subset(train_idx), full.subset(val_idx)
    del full
    if len(train_data) < world:
        raise DataSplitError(f"{len(train_data)} training images cannot be shared by {world} processes")
    _log(is_main, f"{len(y)} images of {n_classes} writers: {len(train_data)} for training, "
                  f"{len(val_data)} for validation")

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
        _log(is_main, "Test. " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None))
        return 0

    if args.checkpoint:
        _log(is_main, _init_from_checkpoint(args.checkpoint, args.model, model, classification, forg_layer))

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    classification.to(device)
    if forg_layer is not None:
        forg_layer.to(device)

    params = list(model.parameters()) + list(classification.parameters())
    if forg_layer is not None:
        params += list(forg_layer.parameters())
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=True,
                                weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, max(1, args.epochs // args.lr_decay_times),
                                                args.lr_decay)

    # the forward of one training step: model + heads together, so that DDP syncs all their gradients
    heads = nn.ModuleDict({"classification": classification})
    if forg_layer is not None:
        heads["forg"] = forg_layer
    net: nn.Module = Net(model, heads)
    if world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:
        if device.type == "cuda":
            net = torch.compile(net)
        else:
            _log(is_main, "--compile: ignored on CPU")

    augment_gen = as_generator(args.seed + 2)
    augmenter = Augmenter(args.augment, augment_gen) if getattr(args, "augment", "none") != "none" else None

    def step(batch):
        if augmenter is not None:
            batch = augmenter(batch)
        return training_step(net, batch, args.forg, args.lamb, args.loss_type)

    context = None
    if make_step is not None:
        context = TrainContext(args=args, device=device, model=model, classification=classification,
                               forg_layer=forg_layer, net=net, n_classes=n_classes, classes=classes, loop=None)
        step = make_step(context, step)

    def evaluate(epoch):
        return evaluate_split(model, classification, forg_layer, val_data, args.batch_size, rank, world)

    training_args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}

    def save_model(path, info):
        save_checkpoint(path, model, classification, forg_layer, metadata={
            "training_args": training_args,
            "classes": [int(c) for c in classes],
            "writer_ids": writer_ids,
            "epoch": info["epoch"],
            "metrics": {k: info.get(k) for k in ("val_loss", "val_acc", "val_forg_loss", "val_forg_acc")
                        if k in info},
        })

    data_gen = as_generator(args.seed + 1)
    loop = TrainLoop(
        modules={"model": model, "classification": classification, **({"forg": forg_layer} if forg_layer else {})},
        optimizer=optimizer, scheduler=scheduler,
        train_batches=lambda epoch: train_data.train_batches(args.batch_size, data_gen, rank, world),
        num_batches=lambda epoch: train_data.num_batches(args.batch_size, rank, world),
        step=step, evaluate=evaluate, save_model=save_model, logdir=args.logdir, epochs=args.epochs,
        generators={"data": data_gen, "augment": augment_gen}, monitor="val_acc", mode="max", grad_clip_value=10.0, amp=args.amp,
        device=device, progress=args.progress, is_main=is_main)
    if context is not None:
        context.loop = loop

    return fit_run(loop, args, training_args, is_main,
                   lambda: make_loggers(tensorboard_dir=args.logdir if args.tensorboard else None,
                                        visdom_port=args.visdomport, visdom_server=args.visdom_server,
                                        visdom_env=args.visdom_env))


def fit_run(loop: TrainLoop, args, training_args: Dict[str, Any], is_main: bool = True,
            make_logger: Optional[Callable[[], Any]] = None) -> int:
    """The end of every training CLI on the shared loop: ``--resume`` (``args.resume``: None, '' = the run
    folder's state, or a path), the live-curve logger, ``args.json`` (``args.resume.json`` when resuming),
    ``loop.fit()``, and a line naming the best epoch. Returns 0."""
    if args.resume is not None:
        state = args.resume or Path(args.logdir) / STATE_FILE
        check_resume_args(args.logdir, training_args, is_main)
        start = loop.resume(state)
        _log(is_main, f"resumed from {state} at epoch {start + 1}/{args.epochs}")
    if is_main:
        Path(args.logdir).mkdir(parents=True, exist_ok=True)
        loop.logger = make_logger() if make_logger is not None else None
        if getattr(args, "log_every", None):
            loop.log_every = args.log_every
        write_run_info(args.logdir, training_args, name="args.json" if args.resume is None else "args.resume.json")
    try:
        loop.fit()
    finally:
        if loop.logger is not None:
            loop.logger.close()
    if is_main and loop.best_epoch is not None:
        _log(is_main, f"best val_acc {loop.best * 100:.2f}% at epoch {loop.best_epoch + 1}; models in {args.logdir}")
    return 0


#: arguments that may change on --resume without a word (where and how the run is shown, not what it computes)
RESUME_FREE = {"resume", "overwrite", "logdir", "device", "gpu_idx", "progress", "visdomport", "visdom_server",
               "visdom_env", "tensorboard", "log_every", "epochs", "compile", "checkpoint", "test"}
#: arguments whose change makes the resumed run a different one: refused
RESUME_FIXED = {"model", "dataset_path", "users", "forg", "input_size", "seed", "loss_type", "augment"}


def check_resume_args(logdir, training_args: Dict[str, Any], is_main: bool = True) -> None:
    """``--resume`` with other hyper-parameters than the run was started with: refuse what would make it
    another run (data, model, seed), warn about the rest (learning rate, batch size, ...), naming them."""
    import json

    from ..validation import changed_arguments

    try:
        old = json.loads((Path(logdir) / "args.json").read_text())
    except (OSError, ValueError):
        return  # no record of the original arguments (a state given by path, an old run)
    if not isinstance(old, dict):
        return
    old = old.get("args", old) if isinstance(old.get("args", old), dict) else old
    keys = [k for k in training_args if k not in RESUME_FREE]
    changed = changed_arguments(old, training_args, keys)
    if not changed:
        return
    text = ", ".join(f"--{k.replace('_', '-')} {a} -> {b}" for k, (a, b) in changed.items())
    fixed = [k for k in changed if k in RESUME_FIXED]
    if fixed:
        raise TrainingError(f"--resume: the run in {logdir} was started with other arguments ({text}); "
                            f"resume with the original ones, or start a new run (another --logdir or --overwrite)")
    _log(is_main, f"warning: --resume with changed hyper-parameters ({text}); the run continues with the new "
                  f"values")


class Net(nn.Module):
    """Model and heads in one module: ``x -> (writer logits, forgery logits or None)``."""

    def __init__(self, model: nn.Module, heads: nn.ModuleDict):
        super().__init__()
        self.model = model
        self.heads = heads

    def forward(self, x):
        feats = self.model(x)
        forg = self.heads["forg"](feats) if "forg" in self.heads else None
        return self.heads["classification"](feats), forg


_Net = Net  # the former private name


if __name__ == "__main__":
    sys.exit(main())
