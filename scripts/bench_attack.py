"""Throughput of the PGD attack (images/s for N steps) against the original-style implementation.

    python scripts/bench_attack.py --model signet_thin --steps 10 --batch-size 16 --device cpu

Both run the same number of forward/backward passes through the model in eval mode; the original style
uses ``torch.optim.SGD`` + ``LambdaLR`` on the perturbation, back-propagates into the model's parameters as
well, and projects with the original element-wise formula. Prints images/s of each and the ratio.
"""
import argparse
import time

import torch
import torch.nn.functional as F

from sigver.adversarial.attacks import pgd_l2
from sigver.featurelearning import create_model


def original_style(model, x, y, steps, max_l2):
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.SGD([delta], lr=1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, [lambda i: (steps - i) / steps * 0.99 + 0.01])
    for _ in range(steps):
        loss = -F.cross_entropy(model(x + delta), y)
        opt.zero_grad()
        loss.backward()
        delta.grad.div_(delta.grad.view(len(delta), -1).norm(dim=1).view(-1, 1, 1, 1))
        opt.step()
        sched.step()
        new = torch.clamp(x + delta, 0, 1) - x
        norm = new.view(len(new), -1).norm(dim=1).view(-1, 1, 1, 1)
        new = torch.min(new.abs(), (new * max_l2 / norm).abs()) * torch.sign(new)
        delta.data.copy_(new)
    return (x + delta).detach()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="signet_thin")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--max-l2", type=float, default=2.0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    torch.manual_seed(0)
    model = create_model(args.model).to(args.device).eval()
    head = torch.nn.Linear(model.feature_space_size, 10).to(args.device)
    net = torch.nn.Sequential(model, head).eval()
    x = torch.rand(args.batch_size, 1, 150, 220, device=args.device)
    y = torch.randint(0, 10, (args.batch_size,), device=args.device)
    results = {}
    for name, fn in (("sigver pgd_l2 (fast)", lambda: pgd_l2(net, x, y, args.steps, args.max_l2, fast=True)),
                     ("original style", lambda: original_style(net, x, y, args.steps, args.max_l2))):
        fn()  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - t0) / args.repeats
        results[name] = args.batch_size / seconds
        print(f"{name:22s}: {results[name]:8.2f} images/s ({args.steps} steps, batch {args.batch_size}, "
              f"{args.model}, {args.device}, {torch.get_num_threads()} threads)")
    a, b = results.values()
    print(f"ratio: {a / b:.2f}x")


if __name__ == "__main__":
    main()
