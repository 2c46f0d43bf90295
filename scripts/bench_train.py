"""Benchmark SigNet training and feature extraction: the original way vs sigver's trainer.

Baseline (what the original ``featurelearning/train.py`` does): a ``Dataset`` that crops one image at a
time in Python (random 150x220 crop of the stored 170x242 uint8 image, then uint8 -> float / 255, as
``ToPILImage -> RandomCrop -> ToTensor``), ``DataLoader(num_workers=0)`` collating the batch, a copy of the
batch to the device, fp32, contiguous memory. Inference baseline: the same per-sample centre crop through a
``DataLoader`` under ``torch.no_grad``.

Ours: the uint8 images live on the device and are cropped there in batch (``DeviceBatches``), trained by
the shared ``TrainLoop`` (its real step: zero_grad, forward, loss, backward, element-wise clipping, SGD),
optionally with ``--amp`` (bf16 autocast) and ``--channels-last``; inference with ``extract_features``.

Both use the same model, the same initial weights, batch size, SGD (Nesterov momentum, weight decay) and
images, in one run; a warm-up pass is not timed. Prints images/s of both and the ratio.

    python scripts/bench_train.py                               # CPU, signet_thin, ~2 minutes on 2 cores
    python scripts/bench_train.py --device cuda --model signet --images 4096 --batch-size 128 --amp --channels-last
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigver.featurelearning.data import DeviceBatches, as_generator  # noqa: E402
from sigver.featurelearning.features import extract_features  # noqa: E402
from sigver.featurelearning.loop import TrainLoop  # noqa: E402
from sigver.featurelearning.models import available_models, create_model, make_heads  # noqa: E402
from sigver.training.run import native_bf16  # noqa: E402

STORED = (170, 242)
CROP = (150, 220)


# ---------------------------------------------------------------------------------------------------
# baseline: the original's data path
# ---------------------------------------------------------------------------------------------------

class PerSampleDataset(torch.utils.data.Dataset):
    """One image at a time: crop in Python, uint8 -> float [0, 1] (the original's TransformDataset)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, random_crop: bool, seed: int = 0):
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)  # the original's TensorDataset
        self.random_crop = random_crop
        self.rng = np.random.RandomState(seed)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = self.x[i].numpy()[0]  # ToPILImage: a uint8 H x W picture
        H, W = img.shape
        h, w = CROP
        if self.random_crop:  # RandomCrop
            top, left = self.rng.randint(0, H - h + 1), self.rng.randint(0, W - w + 1)
        else:  # CenterCrop
            top, left = (H - h) // 2, (W - w) // 2
        crop = np.array(img[top:top + h, left:left + w])  # PIL crop makes a copy
        return torch.from_numpy(crop)[None].float().div(255), self.y[i]  # ToTensor


def baseline_train(model, head, x, y, args, device) -> float:
    """Images/s of one epoch of the original-style loop (after one warm-up batch)."""
    loader = torch.utils.data.DataLoader(PerSampleDataset(x, y, True), batch_size=args.batch_size, shuffle=True,
                                         num_workers=0, drop_last=True)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, nesterov=True, weight_decay=1e-4)
    model.train(), head.train()

    def step(xb, yb):
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(model(xb)), yb)
        loss.backward()
        nn.utils.clip_grad_value_(params, 10)
        opt.step()
        return loss.item()  # the original reads the loss every step

    it = iter(loader)
    step(*next(it))  # warm-up
    _sync(device)
    t0, n = time.perf_counter(), 0
    for xb, yb in it:
        step(xb, yb)
        n += len(xb)
    _sync(device)
    return n / (time.perf_counter() - t0)


@torch.no_grad()
def baseline_features(model, x, args, device) -> float:
    loader = torch.utils.data.DataLoader(PerSampleDataset(x, np.zeros(len(x), np.int64), False),
                                         batch_size=args.eval_batch_size, num_workers=0)
    model.eval()
    it = iter(loader)
    model(next(it)[0].to(device))  # warm-up
    _sync(device)
    t0, n = time.perf_counter(), 0
    out = []
    for xb, _ in it:
        out.append(model(xb.to(device)).cpu())
        n += len(xb)
    _sync(device)
    return n / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------
# ours
# ---------------------------------------------------------------------------------------------------

def ours_train(model, head, x, y, args, device) -> float:
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    data = DeviceBatches(x, y, np.zeros_like(y), CROP, device, channels_last=args.channels_last)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, nesterov=True, weight_decay=1e-4)
    gen = as_generator(0)

    def step(batch):
        xb, yb, _ = batch
        logits = head(model(xb))
        return {"loss": nn.functional.cross_entropy(logits, yb), "acc": (logits.argmax(1) == yb).float().mean()}

    def batches(epoch):
        it = data.train_batches(args.batch_size, gen)
        if epoch == 0:  # warm-up epoch: one batch
            yield next(it)
            return
        n_full = len(data) // args.batch_size  # same number of images as the baseline (drop_last)
        for i, b in enumerate(it):
            if i == n_full:
                return
            yield b

    loop = TrainLoop({"model": model, "head": head}, opt, batches, step, epochs=2, progress=False, print_fn=None,
                     grad_clip_value=10.0, amp=args.amp, device=device, monitor=None)
    loop.fit()
    rec = loop.history[-1]
    return rec["train_images"] / rec["train_seconds"]


def ours_features(model, x, args, device) -> float:
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if args.amp else torch.autocast(device.type,
                                                                                          enabled=False)
    with ctx:
        extract_features(model, x[:args.eval_batch_size], batch_size=args.eval_batch_size, device=device)  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        extract_features(model, x[args.eval_batch_size:], batch_size=args.eval_batch_size, device=device)
        _sync(device)
    return (len(x) - args.eval_batch_size) / (time.perf_counter() - t0)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="signet_thin", choices=list(available_models))
    p.add_argument("--images", type=int, default=352, help="training images (default 352)")
    p.add_argument("--users", type=int, default=20, help="writer classes (default 20)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="ours: bf16 autocast")
    p.add_argument("--channels-last", action="store_true", help="ours: channels_last")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--skip-inference", action="store_true")
    p.add_argument("--repeats", type=int, default=5, help="alternating rounds (default 5; medians reported)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="also write the medians (images/s) and the peak GPU memory as JSON (scripts/gpu_check.py)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(args.images, 1) + STORED, dtype=np.uint8)
    y = (np.arange(args.images) % args.users).astype(np.int64)

    torch.manual_seed(0)
    model0 = create_model(args.model)
    head0, _ = make_heads(model0.feature_space_size, args.users)

    def fresh():
        m = create_model(args.model)
        m.load_state_dict(model0.state_dict())
        h, _ = make_heads(m.feature_space_size, args.users)
        h.load_state_dict(head0.state_dict())
        return m.to(device), h.to(device)

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"{gpu or 'no GPU'}; torch {torch.__version__}; device {device}; native bf16: "
          f"{ {True: 'yes', False: 'no', None: 'unknown'}[native_bf16(device)]}")
    print(f"model {args.model}, {args.images} images {STORED[0]}x{STORED[1]} -> crops {CROP[0]}x{CROP[1]}, "
          f"batch {args.batch_size}; ours: amp={args.amp} channels_last={args.channels_last}")

    # rounds alternate baseline and ours, so that a noisy (shared) machine hits both alike; medians reported
    t = time.perf_counter()
    results = {"train": ([], []), "inference": ([], [])}
    for r in range(args.repeats):
        results["train"][0].append(baseline_train(*fresh(), x, y, args, device))
        results["train"][1].append(ours_train(*fresh(), x, y, args, device))
        if not args.skip_inference:
            results["inference"][0].append(baseline_features(fresh()[0], x, args, device))
            results["inference"][1].append(ours_features(fresh()[0], x, args, device))
    print(f"{'':10s} {'baseline img/s':>15s} {'ours img/s':>12s} {'ratio':>7s}   (median of {args.repeats} "
          f"alternating rounds; per-round ratios)")
    for name, (b, o) in results.items():
        if not b:
            continue
        ratios = [oi / bi for bi, oi in zip(b, o)]
        print(f"{name:10s} {np.median(b):15.1f} {np.median(o):12.1f} {np.median(ratios):6.2f}x   "
              f"[{', '.join(f'{q:.2f}' for q in ratios)}]")
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    if peak is not None:
        print(f"peak GPU memory: {peak / 2 ** 20:.0f} MiB (torch.cuda.max_memory_allocated)")
    print(f"(total {time.perf_counter() - t:.0f} s)")
    if args.json:
        import json

        summary = {name: {"baseline": float(np.median(b)), "ours": float(np.median(o))}
                   for name, (b, o) in results.items() if b}
        summary.update(model=args.model, batch_size=args.batch_size, amp=args.amp, channels_last=args.channels_last,
                       device=str(device), gpu=gpu, peak_memory_bytes=peak)
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
