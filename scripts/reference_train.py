"""SigNet / SigNet-F trained by a plain loop written the way the original code trains (the reference recipe).

This script is the baseline of ``scripts/bench_real.py``: it re-states the original training procedure in
one page, independently of ``sigver.featurelearning.train`` (which shares its loop with the other trainers),
so that the two can be compared on the same data, seeds and evaluation:

- the development writers' images (genuine only for SigNet; with forgeries for SigNet-F), labels 0..C-1;
- a per-image random 90 % / 10 % split (``torch.utils.data.random_split``, global RNG seeded);
- per-sample random 150 x 220 crops of the stored 170 x 242 images in a ``Dataset`` (CPU, one image at a
  time), centre crops for validation, ``DataLoader(shuffle=True, num_workers=0)``;
- SGD with Nesterov momentum 0.9, weight decay 1e-4 on every parameter, StepLR (step ``epochs // 3``,
  gamma 0.1) stepped once per epoch, element-wise gradient clipping at 10, batch 32;
- ``--val-mode train`` reproduces the original's validation in train mode (batch statistics, running
  statistics updated with validation data); ``eval`` (default) validates in eval mode, as sigver does.

Only the model classes and the checkpoint writer come from sigver (``model_last.pth`` in the original 3-tuple
format, so every sigver command reads the result).

Example::

    python scripts/reference_train.py --dataset-path hindi.npz --users 0 160 --model signet_thin \
        --epochs 15 --seed 1 --logdir runs/ref_s1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split

from sigver.datasets import get_subset, load_dataset, remove_forgeries
from sigver.featurelearning import create_model, make_heads, save_checkpoint
from sigver.shapes import INPUT_SIZE


class Crops(Dataset):
    """Per-sample crops of a uint8 (N, 1, H, W) subset, the original's ToPILImage -> RandomCrop -> ToTensor."""

    def __init__(self, subset, size, random: bool):
        self.subset, self.size, self.random = subset, size, random

    def __len__(self):
        return len(self.subset)

    def __getitem__(self, i):
        x, y, f = self.subset[i]
        h, w = self.size
        H, W = x.shape[-2:]
        if self.random:
            top = int(torch.randint(0, H - h + 1, (1,)))
            left = int(torch.randint(0, W - w + 1, (1,)))
        else:
            top, left = (H - h) // 2, (W - w) // 2
        return x[:, top:top + h, left:left + w].float().div(255), y, f


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset-path", required=True)
    p.add_argument("--users", nargs=2, type=int, required=True)
    p.add_argument("--model", default="signet_thin")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--forg", action="store_true")
    p.add_argument("--lamb", type=float, default=0.95)
    p.add_argument("--val-mode", choices=("train", "eval"), default="eval")
    p.add_argument("--logdir", required=True)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    data = get_subset(load_dataset(args.dataset_path), range(*args.users))
    if not args.forg:
        data = remove_forgeries(data)
    classes, y = np.unique(np.asarray(data.y), return_inverse=True)
    full = TensorDataset(torch.from_numpy(np.ascontiguousarray(data.x)), torch.from_numpy(y.astype(np.int64)),
                         torch.from_numpy(np.asarray(data.yforg, dtype=np.int64)))
    n_train = int(len(full) * 0.9)
    train_set, val_set = random_split(full, [n_train, len(full) - n_train])
    train_loader = DataLoader(Crops(train_set, INPUT_SIZE, True), batch_size=args.batch_size, shuffle=True,
                              drop_last=False)
    val_loader = DataLoader(Crops(val_set, INPUT_SIZE, False), batch_size=args.batch_size)

    model = create_model(args.model)
    classification, forg_layer = make_heads(model.feature_space_size, len(classes), forg=args.forg)
    params = list(model.parameters()) + list(classification.parameters())
    if forg_layer is not None:
        params += list(forg_layer.parameters())
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, max(1, args.epochs // 3), 0.1)

    def losses(x, yb, fb):
        feats = model(x)
        logits = classification(feats)
        if not args.forg:
            return F.cross_entropy(logits, yb), logits, None
        genuine = fb == 0
        ce = F.cross_entropy(logits[genuine], yb[genuine]) if genuine.any() else logits.sum() * 0
        forg_logits = forg_layer(feats).reshape(-1)
        bce = F.binary_cross_entropy_with_logits(forg_logits, (fb > 0).float())
        return (1 - args.lamb) * ce + args.lamb * bce, logits, forg_logits

    logdir = Path(args.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    log = open(logdir / "log.jsonl", "w")
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        model.train(), classification.train()
        total, count = 0.0, 0
        for x, yb, fb in train_loader:
            if len(x) < 2:
                continue  # BatchNorm cannot train on one image
            optimizer.zero_grad()
            loss, _, _ = losses(x, yb, fb)
            loss.backward()
            nn.utils.clip_grad_value_(params, 10)
            optimizer.step()
            total += float(loss) * len(x)
            count += len(x)
        scheduler.step()
        seconds = time.perf_counter() - t0
        model.train(args.val_mode == "train")
        correct, n_gen = 0, 0
        with torch.no_grad():
            for x, yb, fb in val_loader:
                _, logits, _ = losses(x, yb, fb)
                g = fb == 0
                correct += int((logits.argmax(1)[g] == yb[g]).sum())
                n_gen += int(g.sum())
        record = {"epoch": epoch, "train_loss": total / max(count, 1), "val_acc": correct / max(n_gen, 1),
                  "train_images_per_s": count / seconds}
        log.write(json.dumps(record) + "\n")
        log.flush()
        print(f"epoch {epoch + 1}/{args.epochs} loss {record['train_loss']:.4f} val_acc {record['val_acc']:.4f} "
              f"{record['train_images_per_s']:.0f} img/s", file=sys.stderr, flush=True)
    model.eval()
    save_checkpoint(logdir / "model_last.pth", model, classification, forg_layer,
                    metadata={"training_args": vars(args), "classes": [int(c) for c in classes],
                              "trainer": "scripts/reference_train.py"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
