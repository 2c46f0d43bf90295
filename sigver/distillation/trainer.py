"""Distillation with continual learning: ``python -m sigver.distillation.train`` (docs/protocols.md).

Viana et al., ICDAR 2024, "Robust handwritten signature representation with continual learning of synthetic
data over predefined real feature space": a student learns the teacher's (SigNet's) feature space from
images inverted out of the teacher (``python -m sigver.distillation.invert``), and, with a continual set
(e.g. synthetic signatures), learns new writers while keeping that space.

Per step, one batch of the distillation set (inverted images, label = teacher class) and, with
``--c-dataset-path``, one batch of the continual set (label = new writer ``0..C_c-1``):

* ``L_d`` = KL(teacher || student) at ``--temperature`` on the distillation batch
  (:func:`sigver.distillation.losses.distillation_loss`; by default the teacher's logits are zero-padded to
  the student's ``C_t + C_c`` outputs as the original, ``--d-loss-classes teacher`` restricts it to the
  teacher's ``C_t`` classes);
* ``L_c`` = CE of the student's continual logits ``[:, C_t:]`` on the continual batch;
* ``L_p`` = KL(teacher || student) over the first ``C_t`` logits on the continual batch;
* loss = ``--d-lamb * L_d + --c-lamb * L_c + --p-lamb * L_p`` (``L_d`` alone without a continual set).

Beyond the original (both off by default):

* ``--f-lamb W`` adds ``W * L_f``, the relative squared distance between the student's and the teacher's
  feature vectors (:func:`sigver.distillation.losses.feature_loss`) on every image the teacher sees (the
  distillation batch, and the continual batch when there is one). The student then regresses the teacher's
  feature space itself, which is what WD classifiers use, instead of only its writer posteriors. When the
  feature sizes differ a linear map (student -> teacher, trained with it, not saved in the model) is used.
* ``--d-mixup`` replaces each distillation image by a random convex combination of it and another image of
  the batch (weight uniform in [0, 1]); the teacher labels the mixed image, so a small inverted set covers
  more of the input space.

Fixes of the original (docs/compatibility.md): the number of teacher classes comes from the teacher's
checkpoint (no 531), labels are ``y - offset`` with the offset read from the data (no hard-coded ``y - 350``),
both sets cycle for as many steps as the longer one needs (no StopIteration), validation runs in eval mode,
and distillation images already at the input size are used as they are (larger ones are centre-cropped,
randomly cropped with ``--d-transform``).

The shared :class:`~sigver.training.loop.TrainLoop` runs the epochs: ``args.json``, ``log.jsonl``,
``model_best.pth`` / ``model_last.pth`` (the standard checkpoint 3-tuple with a JSON sidecar, so
``python -m sigver.wd.test --model-path LOGDIR/model_best.pth`` evaluates the student), ``training_state.pth``
for ``--resume``. ``model_best.pth`` is chosen by ``val_acc``: the mean of the accuracies on the validation
splits of the distillation set (teacher classes) and of the continual set (new writers).
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch
from torch import nn

from ..cli import nonnegative_float, positive_float, positive_int
from ..datasets import get_subset, load_dataset, remove_forgeries
from ..featurelearning.checkpoint import load_checkpoint, save_checkpoint
from ..featurelearning.models import INPUT_SIZE, available_models, create_model
from ..featurelearning.trainer import prepare_data
from ..training.batching import VAL_FRACTION, DataSplitError, DeviceBatches, as_generator, split_indices
from ..training.loop import TrainingError, TrainLoop
from ..training.run import (add_run_arguments, add_sgd_arguments, args_record, check_run_folder, fit_run, log,
                            run_device, sgd_step_lr)
from .inversion import load_teacher
from .losses import continual_loss, distillation_loss, feature_loss, preservation_loss

__all__ = ["run", "build_parser", "prepare_distillation_data"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (the original's flags and defaults, docs/protocols.md, plus the new ones)."""
    p = argparse.ArgumentParser(
        prog="python -m sigver.distillation.train",
        description="Distil a teacher into a student from inverted images (L_d), optionally learning new writers "
                    "from a continual set (L_c) while keeping the teacher's space (L_p).")
    data = p.add_argument_group("data")
    data.add_argument("--d-dataset-path", default="data/data.npz",
                      help="distillation set: images inverted from the teacher (python -m "
                           "sigver.distillation.invert), y = teacher class (default: data/data.npz)")
    data.add_argument("--d-users", nargs=2, type=int, default=None, metavar=("A", "B"),
                      help="only rows with y in range(A, B) (default: all; the original's 350 881 was all of its "
                           "inverted set)")
    data.add_argument("--d-label-offset", type=int, default=None,
                      help="teacher class = y - this (default: 0 when every y is a teacher class, else the first "
                           "of --d-users: the original's data.npz has y in 350..880, --d-users 350 881 gives y - 350)")
    data.add_argument("--d-transform", action="store_true",
                      help="random crops of distillation images larger than --input-size (default: centre crop; "
                           "images at the input size are never cropped)")
    data.add_argument("--c-dataset-path", default=None, help="continual set (e.g. synthetic signatures); "
                                                             "without it: distillation only")
    data.add_argument("--c-users", nargs=2, type=int, default=(2000, 9950), metavar=("A", "B"),
                      help="continual writers range(A, B) (default: 2000 9950)")
    data.add_argument("--input-size", nargs=2, type=positive_int, default=INPUT_SIZE, metavar=("H", "W"))
    models = p.add_argument_group("models")
    models.add_argument("--t-model", default="signet", choices=list(available_models),
                        help="teacher architecture (default: signet)")
    models.add_argument("--t-checkpoint", default="models/signet.pth",
                        help="teacher .pth with its writer head (default: models/signet.pth)")
    models.add_argument("--s-model", required=True, choices=list(available_models), help="student architecture")
    models.add_argument("--s-checkpoint", default=None,
                        help="initialise the student (base; head fully, or its teacher rows); with --test: the "
                             "student to evaluate")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--d-batch-size", type=positive_int, default=32)
    opt.add_argument("--c-batch-size", type=positive_int, default=32)
    add_sgd_arguments(opt, epochs=60)
    opt.add_argument("--d-lamb", type=float, default=1.0, help="weight of L_d (default: 1)")
    opt.add_argument("--c-lamb", type=float, default=1.0, help="weight of L_c (default: 1)")
    opt.add_argument("--p-lamb", type=float, default=1.7, help="weight of L_p (default: 1.7)")
    opt.add_argument("--temperature", type=positive_float, default=1.0, help="softmax temperature of the KLs")
    opt.add_argument("--d-loss-classes", choices=["all", "teacher"], default="all",
                     help="L_d over the student's full output with the teacher zero-padded (all, the original) "
                          "or over the teacher's classes only")
    opt.add_argument("--f-lamb", type=nonnegative_float, default=0.0,
                     help="weight of the feature term L_f = ||f_s - f_t||^2 / ||f_t||^2 (default: 0, off as in the "
                          "original)")
    opt.add_argument("--d-mixup", action="store_true",
                     help="mix pairs of distillation images (uniform weights) before the teacher labels them")
    run = add_run_arguments(p, seed=42, compile=False)
    run.add_argument("--test", action="store_true", help="evaluate --s-checkpoint on the validation splits and exit")
    return p


# ---------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------

def prepare_distillation_data(path, users, label_offset: Optional[int], n_teacher_classes: int,
                              input_size, random_crops: bool):
    """Load the distillation set: rows of ``range(*users)`` (all when None), genuine only, teacher labels.

    Returns
    -------
    x : ndarray of uint8 (N, 1, H, W)
        At ``input_size`` unless ``random_crops`` (then as stored).
    labels : ndarray of int64 (N,)
        Teacher classes ``y - offset`` in ``0..n_teacher_classes-1``.
    offset : int
    """
    data = load_dataset(path)
    if users is not None:
        a, b = int(users[0]), int(users[1])
        if a < 0 or b <= a:
            raise DataSplitError(f"--d-users {a} {b}: expected 0 <= A < B")
        n_all = len(data.y)
        data = get_subset(data, range(a, b))
        if len(data.y) < n_all:
            log(f"--d-users {a} {b}: {len(data.y)} of the {n_all} images of {path} have y in {a}..{b - 1}; the "
                f"others are left out")
    data = remove_forgeries(data)
    y = np.asarray(data.y, dtype=np.int64)
    if len(y) == 0:
        raise DataSplitError(f"{path}: no genuine image selected (--d-users {users}); the distillation set needs "
                             f"images labelled with teacher classes")
    if label_offset is None:
        label_offset = 0 if (y.max() < n_teacher_classes or users is None) else int(users[0])
    labels = y - label_offset
    if labels.min() < 0 or labels.max() >= n_teacher_classes:
        raise DataSplitError(f"{path}: y - {label_offset} spans {labels.min()}..{labels.max()}, but the teacher "
                             f"has classes 0..{n_teacher_classes - 1}; is it an inversion of this teacher? (set "
                             f"--d-label-offset, or --d-users)")
    x = data.x
    h, w = input_size
    H, W = x.shape[2:]
    if H < h or W < w:
        raise DataSplitError(f"{path}: images are {H}x{W}, smaller than --input-size {h} {w}")
    if not random_crops and (H, W) != (h, w):
        t, l = (H - h) // 2, (W - w) // 2
        x = x[:, :, t:t + h, l:l + w]
    return np.ascontiguousarray(x), labels, int(label_offset)


def _cycle(make) -> Iterator[Any]:
    """Batches of ``make()``, restarted (a new epoch of that set) whenever it runs out."""
    while True:
        empty = True
        for item in make():
            empty = False
            yield item
        if empty:
            raise DataSplitError("a training set yields no batch")


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------

def _check_args(args) -> None:
    if args.test and not args.s_checkpoint:
        raise TrainingError("--test needs --s-checkpoint (the student to evaluate)")
    if args.resume is not None and args.s_checkpoint and not args.test:
        raise TrainingError("--resume and --s-checkpoint exclude each other: --resume continues a run, "
                            "--s-checkpoint starts a new one from a model")
    check_run_folder(args)


def _init_student(path, arch, model, head, n_teacher: int) -> str:
    loaded = load_checkpoint(path, arch=arch)
    model.load_state_dict(loaded.model.state_dict())
    got = loaded.classification_layer
    if got is not None and got.out_features == head.out_features:
        head.load_state_dict(got.state_dict())
        return f"student initialised from {path}"
    if got is not None and got.out_features >= n_teacher:
        with torch.no_grad():
            head.weight[:n_teacher] = got.weight[:n_teacher]
            head.bias[:n_teacher] = got.bias[:n_teacher]
        return f"student initialised from {path} (the head's {n_teacher} teacher rows; new writers' rows fresh)"
    return f"student initialised from {path} (head newly initialised)"


class _Student(nn.Module):
    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x, features: bool = False):
        f = self.model(x)
        logits = self.head(f)
        return (f, logits) if features else logits


def run(args: argparse.Namespace) -> int:
    """Train (or with ``--test`` evaluate) from parsed arguments of :func:`build_parser`: what
    ``python -m sigver.distillation.train`` and ``python -m sigver.featurelearning.distill`` (the original's
    spelling) do after parsing."""
    _check_args(args)
    return _run(args, run_device(args))


def _run(args, device: torch.device) -> int:
    torch.manual_seed(args.seed)
    input_size = tuple(args.input_size)
    teacher = load_teacher(args.t_checkpoint, args.t_model, device)
    n_t = teacher.classification_layer.out_features
    if tuple(teacher.model.input_size) != input_size:
        raise TrainingError(f"--input-size {input_size[0]} {input_size[1]}: the teacher takes "
                            f"{teacher.model.input_size[0]}x{teacher.model.input_size[1]} inputs")
    t_net = _Student(teacher.model, teacher.classification_layer).eval()
    for p_ in t_net.parameters():
        p_.requires_grad_(False)

    xd, yd, offset = prepare_distillation_data(args.d_dataset_path, args.d_users, args.d_label_offset, n_t,
                                               input_size, args.d_transform)
    split_gen = as_generator(args.seed)
    tr, va = split_indices(len(yd), VAL_FRACTION, split_gen)
    full = DeviceBatches(xd, yd, np.zeros(len(yd), np.int64), input_size, device, channels_last=args.channels_last)
    d_train, d_val = full.subset(tr), full.subset(va)
    msg = (f"distillation: {len(yd)} images of {len(np.unique(yd))} teacher classes (of {n_t}; labels = y - "
           f"{offset}): {len(d_train)} for training, {len(d_val)} for validation")
    c_train = c_val = None
    c_classes, c_ids = [], []
    if args.c_dataset_path:
        try:
            xc, yc, _, c_classes, c_ids = prepare_data(args.c_dataset_path, args.c_users, forg=False)
        except DataSplitError as e:
            raise DataSplitError(str(e).replace("--users", "--c-users")) from None
        tr, va = split_indices(len(yc), VAL_FRACTION, split_gen)
        full = DeviceBatches(xc, yc, np.zeros(len(yc), np.int64), input_size, device,
                             channels_last=args.channels_last)
        c_train, c_val = full.subset(tr), full.subset(va)
        msg += (f"; continual: {len(yc)} images of {len(c_classes)} new writers: {len(c_train)} for training, "
                f"{len(c_val)} for validation")
    del full
    log(msg)
    n_c = len(c_classes)

    model = create_model(args.s_model)
    if tuple(model.input_size) != input_size:
        raise TrainingError(f"--s-model {args.s_model} takes {model.input_size[0]}x{model.input_size[1]} inputs")
    head = nn.Linear(model.feature_space_size, n_t + n_c)
    t_dim = teacher.model.feature_space_size
    project = nn.Linear(model.feature_space_size, t_dim, bias=False) \
        if args.f_lamb and model.feature_space_size != t_dim else nn.Identity()
    # L_f is measured on validation whenever it is defined (same feature size, or the trained map)
    measure_f = bool(args.f_lamb) or model.feature_space_size == t_dim
    pad = args.d_loss_classes == "all"
    T = args.temperature

    def evaluate(epoch) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        sums = {"n": 0, "loss": 0.0, "acc": 0.0, "agree": 0.0, **({"f_loss": 0.0} if measure_f else {})}
        for xb, yb, _ in d_val.eval_batches(args.d_batch_size):
            (ft, t), (fs, s) = t_net(xb, True), student(xb, True)
            n = len(yb)
            sums["n"] += n
            sums["loss"] += float(distillation_loss(s, t, T, pad)) * n
            if measure_f:
                sums["f_loss"] += float(feature_loss(project(fs), ft)) * n
            sums["acc"] += float((s.argmax(1) == yb).sum())
            sums["agree"] += float((s[:, :n_t].argmax(1) == t.argmax(1)).sum())
        out.update({f"val_d_{k}": v / max(sums["n"], 1) for k, v in sums.items() if k != "n"})
        out["val_acc"] = out["val_d_acc"]
        if c_val is not None:
            sums = {"n": 0, "c_loss": 0.0, "c_acc": 0.0, "p_loss": 0.0, "p_agree": 0.0}
            for xb, yb, _ in c_val.eval_batches(args.c_batch_size):
                t, s = t_net(xb), student(xb)
                n = len(yb)
                sums["n"] += n
                sums["c_loss"] += float(continual_loss(s, yb, n_t)) * n
                sums["c_acc"] += float((s.argmax(1) == yb + n_t).sum())
                sums["p_loss"] += float(preservation_loss(s, t, T)) * n
                sums["p_agree"] += float((s[:, :n_t].argmax(1) == t.argmax(1)).sum())
            out.update({f"val_{k}": sums[k] / max(sums["n"], 1) for k in ("c_loss", "c_acc", "p_loss", "p_agree")})
            out["val_acc"] = 0.5 * (out["val_d_acc"] + out["val_c_acc"])
        return out

    if args.test:
        loaded = load_checkpoint(args.s_checkpoint, device=device, arch=args.s_model)
        have = None if loaded.classification_layer is None else loaded.classification_layer.out_features
        if have != n_t + n_c:
            raise TrainingError(f"--s-checkpoint {args.s_checkpoint}: its head has {have} classes; the teacher's "
                                f"{n_t} + {n_c} continual writers = {n_t + n_c} expected")
        student = _Student(loaded.model, loaded.classification_layer).eval()
        with torch.no_grad():
            metrics = evaluate(0)
        log("Test. " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        return 0

    if args.s_checkpoint:
        log(_init_student(args.s_checkpoint, args.s_model, model, head, n_t))
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    head.to(device)
    project.to(device)
    student = _Student(model, head)
    optimizer, scheduler = sgd_step_lr([*student.parameters(), *project.parameters()], args)
    d_gen, c_gen, mix_gen = as_generator(args.seed + 1), as_generator(args.seed + 2), as_generator(args.seed + 3)
    n_d = d_train.num_batches(args.d_batch_size)
    n_steps = max(n_d, c_train.num_batches(args.c_batch_size)) if c_train is not None else n_d

    def batches(epoch):
        d_it = _cycle(lambda: d_train.train_batches(args.d_batch_size, d_gen))
        c_it = _cycle(lambda: c_train.train_batches(args.c_batch_size, c_gen)) if c_train is not None else None
        for _ in range(n_steps):
            d = next(d_it)
            c = next(c_it) if c_it is not None else None
            yield (d.x, d.y, None if c is None else c.x, None if c is None else c.y)

    def mixup(x):
        b = len(x)
        w = torch.rand(b, generator=mix_gen).to(x.device, x.dtype).view(b, 1, 1, 1)
        other = torch.randperm(b, generator=mix_gen).to(x.device)
        return w * x + (1 - w) * x[other]

    def step(batch):
        xd_, yd_, xc_, yc_ = batch
        if args.d_mixup:
            xd_ = mixup(xd_)
        with torch.no_grad():
            ftd, td = t_net(xd_, True)
        fsd, sd = student(xd_, True)
        ld = distillation_loss(sd, td, T, pad)
        out = {"d_loss": ld, "d_agree": (sd[:, :n_t].argmax(1) == td.argmax(1)).float().mean()}
        total = args.d_lamb * ld if xc_ is not None else ld
        if args.f_lamb:
            lf = feature_loss(project(fsd), ftd)
        if xc_ is not None:
            with torch.no_grad():
                ftc, tc = t_net(xc_, True)
            fsc, sc = student(xc_, True)
            lc, lp = continual_loss(sc, yc_, n_t), preservation_loss(sc, tc, T)
            out.update({"c_loss": lc, "p_loss": lp, "c_acc": (sc.argmax(1) == yc_ + n_t).float().mean()})
            total = total + args.c_lamb * lc + args.p_lamb * lp
            if args.f_lamb:
                lf = 0.5 * (lf + feature_loss(project(fsc), ftc))
        if args.f_lamb:
            out["f_loss"] = lf
            total = total + args.f_lamb * lf
        out["loss"] = total
        return out

    training_args = args_record(args)

    def save_model(path, info):
        save_checkpoint(path, model, head, None, metadata={
            "training_args": training_args,
            "teacher": {"checkpoint": str(args.t_checkpoint), "architecture": teacher.arch, "num_classes": n_t},
            "teacher_classes": n_t,
            "continual_classes": [int(c) for c in c_classes],
            "continual_writer_ids": list(c_ids),
            "epoch": info["epoch"],
            "metrics": {k: v for k, v in info.items() if k.startswith("val_")},
        })

    loop = TrainLoop(
        modules={"model": model, "classification": head,
                 **({"projection": project} if isinstance(project, nn.Linear) else {})},
        optimizer=optimizer, scheduler=scheduler,
        train_batches=batches, num_batches=lambda epoch: n_steps, step=step, evaluate=evaluate,
        save_model=save_model, logdir=args.logdir, epochs=args.epochs,
        generators={"d": d_gen, "c": c_gen, "mix": mix_gen},
        monitor="val_acc", mode="max", grad_clip_value=10.0, amp=args.amp, device=device, progress=args.progress)
    return fit_run(loop, args, training_args, True)

