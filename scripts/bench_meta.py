"""Benchmark a MAML meta-training step: tasks of a meta-batch adapted together vs one task at a time.

Baseline: what the original does, a Python loop over the tasks, each adapted and back-propagated on its own
(``MAML.meta_gradients(batched=False)``). Ours: the tasks stacked and run together (``batched=True``: grouped
convolutions, batched matrix products). Both run in the same process on the same tasks. First a check in
float64 that both give the same meta-loss and meta-gradients (relative difference printed; 2 tasks on small
``--check-input-size`` crops, float64 being slow on CPU), then the timing in float32 at 150 x 220 (median of
``--reps`` meta-steps each, after one warm-up), and the ratio.

    python scripts/bench_meta.py                           # smallcnn and signet, 4 tasks, K=1, CPU
    python scripts/bench_meta.py --models signet --device cuda --meta-batch-size 8 --num-updates 5
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigver.metalearning.data import TaskBatch, TaskSampler  # noqa: E402
from sigver.metalearning.maml import MAML, per_step_loss_weights  # noqa: E402
from sigver.metalearning.models import create_model  # noqa: E402


def make_batch(T: int, args, device, dtype=torch.float32, input_size=(150, 220)) -> TaskBatch:
    rng = np.random.default_rng(0)
    # enough writers for distinct random forgeries (no TaskSamplingWarning)
    n_users = max(T + 2, args.num_rf + args.num_rf_test + 2, 6)
    n_gen, n_sk = args.num_gen + args.num_gen_test, args.num_sk_test
    y = np.repeat(np.arange(n_users), n_gen + n_sk)
    yforg = np.tile(np.r_[np.zeros(n_gen), np.ones(n_sk)], n_users).astype(np.int64)
    x = rng.integers(0, 256, (len(y), 1, 170, 242), dtype=np.uint8)
    s = TaskSampler(x, y, yforg, range(n_users), args.num_gen, args.num_rf, args.num_gen_test, args.num_rf_test,
                    n_sk, input_size=input_size, device=device)
    b = s.sample(list(range(T)), torch.Generator().manual_seed(0))
    return TaskBatch(*[t.to(dtype) if t.is_floating_point() else t for t in b])


def build(name: str, args, device, dtype, input_size=(150, 220)):
    torch.manual_seed(0)
    model = create_model(name, input_size=input_size, **({"dropout": 0.0} if name == "smallcnn" else {}))
    return MAML(model, args.num_updates, 1e-2, learn_task_lr=True).to(device=device, dtype=dtype)


def grads(maml, batch, lw, batched):
    maml.zero_grad()
    out = maml.meta_gradients(batch, lw, batched)
    return out["loss"], [p.grad.clone() for p in maml.parameters()]


def check(name, args, device) -> float:
    size = tuple(args.check_input_size)
    maml = build(name, args, device, torch.float64, size)
    batch = make_batch(2, args, device, torch.float64, size)
    lw = per_step_loss_weights(1, args.num_updates, 15).double()
    (la, ga), (lb, gb) = grads(maml, batch, lw, True), grads(maml, batch, lw, False)
    rel = max(float((a - b).abs().max() / b.abs().max().clamp(min=1e-30)) for a, b in zip(ga, gb))
    rel = max(rel, abs(la - lb) / abs(lb))
    return rel


def time_step(maml, batch, lw, batched, reps, device) -> float:
    times = []
    for i in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        grads(maml, batch, lw, batched)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first is a warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["smallcnn", "signet"])
    p.add_argument("--meta-batch-size", type=int, default=4)
    p.add_argument("--num-updates", type=int, default=1)
    p.add_argument("--num-gen", type=int, default=5)
    p.add_argument("--num-rf", type=int, default=10)
    p.add_argument("--num-gen-test", type=int, default=10)
    p.add_argument("--num-rf-test", type=int, default=10)
    p.add_argument("--num-sk-test", type=int, default=10)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tolerance", type=float, default=1e-8, help="largest relative difference accepted (float64)")
    p.add_argument("--check-input-size", type=int, nargs=2, default=(75, 110), metavar=("H", "W"),
                   help="input size of the float64 equality check (2 tasks; small: float64 is slow on CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"meta-batch {args.meta_batch_size} tasks, K={args.num_updates} second-order steps, support "
          f"{args.num_gen}+{args.num_rf}, query {args.num_gen_test}+{args.num_rf_test}+{args.num_sk_test}")
    ok = True
    for name in args.models:
        rel = check(name, args, device)
        ok &= rel <= args.tolerance
        maml = build(name, args, device, torch.float32)
        batch = make_batch(args.meta_batch_size, args, device)
        lw = per_step_loss_weights(1, args.num_updates, 15)
        loop = time_step(maml, batch, lw, False, args.reps, device)
        fast = time_step(maml, batch, lw, True, args.reps, device)
        print(f"{name:9s} one task at a time {loop:8.3f} s/step   batched {fast:8.3f} s/step   ratio "
              f"{loop / fast:5.2f}x   same loss/gradients: max rel. diff {rel:.1e} (float64) "
              f"{'OK' if rel <= args.tolerance else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
