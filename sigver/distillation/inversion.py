"""Data inversion from a teacher: ``python -m sigver.distillation.invert``.

Deep inversion with competition (Yin et al., CVPR 2020, "Dreaming to Distill"), as used by Viana et al.
(ICDAR 2024) to make the "inverted" SigNet data set whose files are not available: batches of images
``1 x 150 x 220`` in [0, 1] are optimised (Adam, cosine learning-rate decay, random jitter) so that

* the teacher classifies them as chosen writers: ``CE(teacher(x), target)``;
* their activations match the running mean and variance stored in every batch-norm layer of the teacher:
  ``bn_weight * sum_l (||mu_l(x) - running_mean_l||_2 + ||var_l(x) - running_var_l||_2)`` (forward hooks);
* they look like images: ``tv_weight * TV(x)`` (mean absolute difference of neighbouring pixels),
  ``l2_weight * mean(x**2)`` and ``l1_weight * mean(x)`` (sparse ink: background 0, as real inputs);
* optionally (``competition_weight > 0`` and a student): they are images on which the student still disagrees
  with the teacher, ``competition_weight * (1 - JS(teacher(x), student(x)) / log 2)``, the Jensen-Shannon
  divergence of their predictive distributions over the teacher's classes.

The output is a dataset file in the common format (:func:`sigver.datasets.load_dataset`): ``x`` uint8
``round(img * 255)`` of 150 x 220 (already the network input size: the distillation does not crop it), ``y``
the teacher class, ``yforg`` 0, ``user_mapping`` the teacher's writer ids when its checkpoint sidecar has
them (else the class indices), ``filenames`` ``inv-cCCCC-III``. Beside it, ``<save-path stem>.json`` records
the teacher and the arguments.

Resumable: an existing output is extended, never redone. Images are made in a fixed order (image index
major, class minor, so a batch mixes writers and its batch-norm statistics are those of many writers), the
output is rewritten atomically every ``--save-every`` batches, at the end and on Ctrl-C, and each batch draws
its random numbers from a generator seeded by ``--seed`` and its position, so an interrupted and resumed run
writes the same images as an uninterrupted one.

    python -m sigver.distillation.invert --t-model signet --t-checkpoint models/signet.pth \\
        --per-class 40 --iterations 2000 --save-path inverted_signet.npz
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..cli import add_device_arguments, add_progress_argument, cli_main, nonnegative_float, positive_int, \
    resolve_device
from ..datasets import load_dataset, save_dataset
from ..datasets.format import check_target
from ..errors import CheckpointError, SigverError
from ..featurelearning.checkpoint import load_checkpoint, sidecar_path
from ..featurelearning.models import INPUT_SIZE, available_models
from ..fileio import atomic_write
from .losses import js_divergence

__all__ = ["DeepInversion", "InversionError", "build_parser", "main", "load_teacher", "image_prior_tv"]


class InversionError(SigverError, ValueError):
    """Bad input to data inversion (teacher, student, an existing output that does not fit)."""


# ---------------------------------------------------------------------------------------------------
# the optimisation
# ---------------------------------------------------------------------------------------------------

def image_prior_tv(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean absolute difference of vertically and horizontally neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


class _BNStatistics:
    """Forward hooks on every batch-norm layer: distance of the batch statistics to the running ones."""

    def __init__(self, model: nn.Module):
        self.losses: List[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not self.handles:
            raise InversionError("the teacher has no batch-norm layer with running statistics to match")

    def _hook(self, module, inputs, output) -> None:
        x = inputs[0].float()
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        self.losses.append(torch.linalg.vector_norm(mean - module.running_mean, 2)
                           + torch.linalg.vector_norm(var - module.running_var, 2))

    def pop(self) -> torch.Tensor:
        total = torch.stack(self.losses).sum()
        self.losses = []
        return total

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


class DeepInversion:
    """Synthesise images that a teacher classifies as given writers (see the module docstring).

    Parameters
    ----------
    teacher : nn.Module
        Feature extractor (eval mode is set; its parameters are not changed).
    teacher_head : nn.Linear
        Its writer classifier, ``D -> C_t``.
    student, student_head : nn.Module, optional
        For the competition term: the student and its head (``>= C_t`` outputs; the first ``C_t`` are compared).
    iterations : int
        Optimisation steps per batch.
    lr : float
        Adam learning rate (cosine decay to 0 over ``iterations``).
    bn_weight, tv_weight, l2_weight, competition_weight : float
        Weights of the terms (the cross-entropy has weight 1).
    jitter : int
        Each step rolls the images by up to this many pixels (random, both axes) before the forward pass.
    init_scale : float
        Initial pixels are uniform in ``[0, init_scale]`` (pixel parametrisation).
    logit_init : float, optional
        Optimise logits ``z`` with ``x = sigmoid(z)`` instead of the pixels, starting at ``z = logit_init +
        N(0, 1)`` (e.g. -4: a background near 0 like real inputs, and a different random start per image).
        None (default): the pixels themselves, clamped to [0, 1] after each step.
    l1_weight : float
        Weight of ``mean(x)`` (sparsity of the ink).
    input_size : (int, int)
        ``(H, W)`` of the images (the teacher's input size).
    device : torch.device
    """

    def __init__(self, teacher: nn.Module, teacher_head: nn.Module, student: Optional[nn.Module] = None,
                 student_head: Optional[nn.Module] = None, *, iterations: int = 2000, lr: float = 0.05,
                 bn_weight: float = 0.01, tv_weight: float = 1.0, l2_weight: float = 0.0,
                 competition_weight: float = 0.0, jitter: int = 8, init_scale: float = 0.2,
                 logit_init: Optional[float] = None, l1_weight: float = 0.0,
                 input_size: Tuple[int, int] = INPUT_SIZE, device="cpu"):
        self.device = torch.device(device)
        self.teacher = nn.Sequential(teacher, teacher_head).to(self.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.n_classes = int(teacher_head.out_features)
        self.student = None
        if competition_weight > 0:
            if student is None or student_head is None:
                raise InversionError("the competition term needs a student (--s-model and --s-checkpoint)")
            self.student = nn.Sequential(student, student_head).to(self.device).eval()
            for p in self.student.parameters():
                p.requires_grad_(False)
        self.iterations, self.lr, self.jitter, self.init_scale = int(iterations), float(lr), int(jitter), init_scale
        self.logit_init = None if logit_init is None else float(logit_init)
        self.weights = {"bn": bn_weight, "tv": tv_weight, "l2": l2_weight, "l1": l1_weight,
                        "competition": competition_weight}
        self.input_size = tuple(input_size)
        self._bn = _BNStatistics(self.teacher)

    def close(self) -> None:
        """Remove the hooks from the teacher."""
        self._bn.close()

    def synthesize(self, targets: torch.Tensor, generator: torch.Generator
                   ) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Optimise one batch of images for the target classes.

        Parameters
        ----------
        targets : Tensor of int64, shape (B,)
            Teacher classes ``0..C_t-1``.
        generator : torch.Generator
            CPU generator for the initial images and the jitter (same images on every device).

        Returns
        -------
        images : Tensor of float, shape (B, 1, H, W), in [0, 1], on the CPU
        stats : dict
            Last step's terms (``ce``, ``bn``, ``tv``, ``l2``, ``l1``, ``competition``, ``loss``) and ``teacher_acc``
            (fraction of images the teacher assigns to their target).
        """
        targets = torch.as_tensor(targets, dtype=torch.long)
        if len(targets) < 2:
            raise InversionError("a batch needs at least 2 images (batch-norm statistics)")
        if targets.min() < 0 or targets.max() >= self.n_classes:
            raise InversionError(f"target classes must be in 0..{self.n_classes - 1}")
        b = len(targets)
        h, w = self.input_size
        if self.logit_init is None:
            x0 = torch.rand((b, 1, h, w), generator=generator) * self.init_scale
        else:
            x0 = torch.randn((b, 1, h, w), generator=generator) + self.logit_init
        shifts = torch.randint(-self.jitter, self.jitter + 1, (self.iterations, 2), generator=generator) \
            if self.jitter > 0 else torch.zeros((self.iterations, 2), dtype=torch.long)
        z = x0.to(self.device).requires_grad_(True)
        image = (lambda: z) if self.logit_init is None else (lambda: torch.sigmoid(z))
        y = targets.to(self.device)
        opt = torch.optim.Adam([z], lr=self.lr, betas=(0.5, 0.9))
        wt = self.weights
        stats: Dict[str, float] = {}
        for it in range(self.iterations):
            for group in opt.param_groups:
                group["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * it / self.iterations))
            opt.zero_grad(set_to_none=True)
            x = image()
            dy, dx = (int(v) for v in shifts[it])
            xj = torch.roll(x, shifts=(dy, dx), dims=(2, 3)) if (dy or dx) else x
            self._bn.losses = []
            logits = self.teacher(xj)
            terms = {"ce": nn.functional.cross_entropy(logits, y), "bn": self._bn.pop(),
                     "tv": image_prior_tv(x), "l2": x.pow(2).mean(), "l1": x.mean()}
            loss = terms["ce"] + sum(wt[k] * terms[k] for k in ("bn", "tv", "l2", "l1"))
            if self.student is not None:
                s_logits = self.student(xj)[:, :self.n_classes]
                js = js_divergence(logits, s_logits).mean()
                terms["competition"] = 1.0 - js / math.log(2.0)
                loss = loss + wt["competition"] * terms["competition"]
            loss.backward()
            opt.step()
            if self.logit_init is None:
                with torch.no_grad():
                    z.clamp_(0.0, 1.0)
            if it == self.iterations - 1:
                stats = {k: float(v.detach()) for k, v in terms.items()}
                stats["loss"] = float(loss.detach())
        with torch.no_grad():
            x = image()
            self._bn.losses = []
            pred = self.teacher(x).argmax(1)
            self._bn.losses = []
            stats["teacher_acc"] = float((pred == y).float().mean())
        return x.detach().cpu(), stats


# ---------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sigver.distillation.invert",
        description="Invert a teacher checkpoint into a data set of synthetic 150x220 images, one class per "
                    "teacher writer (deep inversion with competition).")
    p.add_argument("--t-model", default="signet", choices=list(available_models),
                   help="teacher architecture (default: signet)")
    p.add_argument("--t-checkpoint", default="models/signet.pth", help="teacher .pth (with its writer head)")
    p.add_argument("--s-model", default=None, choices=list(available_models),
                   help="student architecture for the competition term")
    p.add_argument("--s-checkpoint", default=None, help="student .pth for the competition term")
    p.add_argument("--save-path", required=True, help="output dataset (.npz, or a folder of .npy files); "
                                                      "an existing one is extended")
    p.add_argument("--per-class", type=positive_int, default=10, help="images per teacher writer (default: 10)")
    p.add_argument("--classes", nargs=2, type=int, default=None, metavar=("A", "B"),
                   help="only teacher classes range(A, B) (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images optimised together (default: 64)")
    p.add_argument("--iterations", type=positive_int, default=2000, help="steps per batch (default: 2000)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (default: 0.05)")
    p.add_argument("--bn-weight", type=nonnegative_float, default=0.01,
                   help="weight of the batch-norm statistics term (default: 0.01)")
    p.add_argument("--tv-weight", type=nonnegative_float, default=1.0,
                   help="weight of the total-variation prior (default: 1)")
    p.add_argument("--l2-weight", type=nonnegative_float, default=0.0, help="weight of the L2 prior (default: 0)")
    p.add_argument("--l1-weight", type=nonnegative_float, default=0.0,
                   help="weight of the sparsity prior mean(x) (default: 0)")
    p.add_argument("--competition-weight", type=nonnegative_float, default=0.0,
                   help="weight of the competition term (Jensen-Shannon teacher vs student; needs "
                        "--s-checkpoint; default: 0)")
    p.add_argument("--jitter", type=int, default=8, help="random roll of up to this many pixels per step "
                                                         "(default: 8)")
    p.add_argument("--init-scale", type=nonnegative_float, default=0.2,
                   help="initial pixels uniform in [0, this] (default: 0.2)")
    p.add_argument("--logit-init", type=float, default=None, metavar="BIAS",
                   help="optimise logits z, image = sigmoid(z), starting at z = BIAS + N(0, 1) (e.g. -4: "
                        "background near 0, a different start per image); default: optimise the pixels")
    p.add_argument("--save-every", type=positive_int, default=10,
                   help="rewrite the output every this many batches (default: 10)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of extending an existing output")
    p.add_argument("--seed", type=int, default=42)
    add_device_arguments(p)
    add_progress_argument(p)
    return p


def load_teacher(path, arch: Optional[str], device, what: str = "--t-checkpoint"):
    """Load a checkpoint that must have a writer head; returns :class:`LoadedCheckpoint`."""
    loaded = load_checkpoint(path, device=device, arch=arch)
    if loaded.classification_layer is None:
        raise CheckpointError(f"{what} {path}: has no classification head (its second state dict is empty); "
                              f"a teacher needs the writer classifier it was trained with")
    return loaded


def _writer_ids(loaded, n_classes: int) -> List[Any]:
    ids = loaded.metadata.get("writer_ids")
    if isinstance(ids, list) and len(ids) == n_classes:
        return ids
    return list(range(n_classes))


def _existing(path: Path, n_classes: int, input_size: Tuple[int, int]):
    """The arrays of an existing output (lists), after checking that it fits this teacher."""
    data = load_dataset(path)
    if data.image_size != tuple(input_size):
        raise InversionError(f"{path}: holds {data.image_size[0]}x{data.image_size[1]} images, this teacher "
                             f"inverts to {input_size[0]}x{input_size[1]}; give another --save-path (or "
                             f"--overwrite to replace it)")
    if len(data.y) and (int(np.max(data.y)) >= n_classes or np.any(np.asarray(data.yforg) != 0)
                        or data.n_users != n_classes):
        raise InversionError(f"{path}: is not an inversion of a teacher with {n_classes} classes (writers "
                             f"{data.n_users}, largest y {int(np.max(data.y))}); give another --save-path (or "
                             f"--overwrite to replace it)")
    side = sidecar_path(path)
    if side.is_file():
        try:
            info = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        if isinstance(info, dict) and info.get("num_classes") not in (None, n_classes):
            raise InversionError(f"{path}: was inverted from a teacher with {info['num_classes']} classes "
                                 f"({side}), this one has {n_classes}; give another --save-path")
    return data


def _plan(classes: Sequence[int], per_class: int, have: np.ndarray, batch_size: int
          ) -> List[Tuple[int, List[Tuple[int, int]]]]:
    """Batches of ``(class, index)`` still to make, each with the position of its first job in the full order."""
    jobs = [(c, i) for i in range(per_class) for c in classes]
    todo = [(pos, job) for pos, job in enumerate(jobs) if job[1] >= have[job[0]]]
    batches = []
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        if len(chunk) == 1 and batches:  # never a batch of one image (batch-norm statistics)
            batches[-1][1].append(chunk[0][1])
            continue
        batches.append((chunk[0][0], [j for _, j in chunk]))
    return batches


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.distillation.invert`` (see ``--help``)."""
    from tqdm.auto import tqdm

    args = build_parser().parse_args(argv)
    save_path = Path(args.save_path)
    check_target(save_path)
    if args.competition_weight > 0 and not args.s_checkpoint:
        raise InversionError("--competition-weight > 0 needs a student: --s-checkpoint (and --s-model)")
    device = resolve_device(args.device, args.gpu_idx)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InversionError(f"--device {device}: CUDA is not available here; use --device cpu")
    teacher = load_teacher(args.t_checkpoint, args.t_model, device)
    n_classes = teacher.classification_layer.out_features
    input_size = tuple(teacher.model.input_size)
    classes = list(range(n_classes))
    if args.classes is not None:
        a, b = args.classes
        if not 0 <= a < b <= n_classes:
            raise InversionError(f"--classes {a} {b}: the teacher has classes 0..{n_classes - 1}; need "
                                 f"0 <= A < B <= {n_classes}")
        classes = list(range(a, b))
    student = None
    if args.s_checkpoint:
        student = load_checkpoint(args.s_checkpoint, device=device, arch=args.s_model)
        if student.classification_layer is None or student.classification_layer.out_features < n_classes:
            have = 0 if student.classification_layer is None else student.classification_layer.out_features
            raise InversionError(f"--s-checkpoint {args.s_checkpoint}: its head has {have} classes, fewer than "
                                 f"the teacher's {n_classes}")

    if save_path.exists() and not args.overwrite:
        data = _existing(save_path, n_classes, input_size)
        x_parts = [np.asarray(data.x)]
        y_all, f_all = [int(v) for v in data.y], [str(v) for v in data.filenames]
    else:
        x_parts, y_all, f_all = [], [], []
    have = np.bincount(np.asarray(y_all, dtype=np.int64), minlength=n_classes)
    plan = _plan(classes, args.per_class, have, args.batch_size)
    n_todo = sum(len(j) for _, j in plan)
    print(f"teacher {teacher.arch} with {n_classes} classes; {len(y_all)} images already in {save_path}, "
          f"{n_todo} to make in {len(plan)} batch(es) of {args.iterations} steps on {device}", file=sys.stderr)
    writer_ids = _writer_ids(teacher, n_classes)
    info = {"format": "sigver-inversion", "sigver_version": __version__, "num_classes": n_classes,
            "teacher": {"checkpoint": str(args.t_checkpoint), "architecture": teacher.arch},
            "student": str(args.s_checkpoint) if args.s_checkpoint else None,
            "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}}

    def save() -> None:
        x = np.concatenate(x_parts) if x_parts else np.zeros((0, 1) + input_size, np.uint8)
        save_dataset(save_path, x, np.asarray(y_all), np.zeros(len(y_all), np.int32), writer_ids, f_all)
        counts = np.bincount(np.asarray(y_all, dtype=np.int64), minlength=n_classes)
        record = dict(info, images=len(y_all), images_per_class={"min": int(counts.min()), "max": int(counts.max())})
        text = json.dumps(record, indent=2, default=str) + "\n"
        atomic_write(sidecar_path(save_path), lambda f: f.write(text.encode("utf-8")))

    inv = DeepInversion(teacher.model, teacher.classification_layer,
                        None if student is None else student.model,
                        None if student is None else student.classification_layer,
                        iterations=args.iterations, lr=args.lr, bn_weight=args.bn_weight, tv_weight=args.tv_weight,
                        l2_weight=args.l2_weight, competition_weight=args.competition_weight, jitter=args.jitter,
                        init_scale=args.init_scale, logit_init=args.logit_init, l1_weight=args.l1_weight,
                        input_size=input_size, device=device)
    accs: List[float] = []
    unsaved = 0
    bar = tqdm(plan, desc="inverting", unit="batch", disable=not args.progress, dynamic_ncols=True)
    try:
        for k, (pos, jobs) in enumerate(bar):
            gen = torch.Generator().manual_seed(int(args.seed) * 1_000_003 + pos)
            images, stats = inv.synthesize(torch.tensor([c for c, _ in jobs]), gen)
            x_parts.append(np.round(images.numpy() * 255.0).astype(np.uint8))
            y_all.extend(c for c, _ in jobs)
            f_all.extend(f"inv-c{c:04d}-{i:03d}" for c, i in jobs)
            accs.append(stats["teacher_acc"])
            unsaved += 1
            bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['teacher_acc']:.2f}")
            if unsaved >= args.save_every:
                save()
                unsaved = 0
    except KeyboardInterrupt:
        if unsaved:
            save()
            print(f"interrupted: {len(y_all)} images saved in {save_path}; run the same command to continue",
                  file=sys.stderr)
        raise
    finally:
        bar.close()
        inv.close()
    if unsaved or not save_path.exists():
        save()
    acc = f" (teacher accuracy on the new images {100 * float(np.mean(accs)):.1f}%)" if accs else ""
    print(f"wrote {save_path}: {len(y_all)} images of {len(set(y_all))} classes{acc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
