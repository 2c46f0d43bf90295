"""Data inversion from a teacher: ``python -m sigver.distillation.invert``.

Deep inversion with competition (:class:`sigver.distillation.inversion.DeepInversion`, where the objective is
described) makes images that the teacher classifies as chosen writers.

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
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import __version__
from ..cli import add_device_arguments, add_progress_argument, cli_main, nonnegative_float, positive_int, \
    resolve_device
from ..datasets import load_dataset, save_dataset
from ..datasets.format import check_target
from ..featurelearning.checkpoint import load_checkpoint, sidecar_path
from ..featurelearning.models import available_models
from ..fileio import atomic_write

from .inversion import DeepInversion, InversionError, image_prior_tv, load_teacher  # noqa: F401

__all__ = ["DeepInversion", "InversionError", "build_parser", "main", "load_teacher", "image_prior_tv"]



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
