"""Enrol-and-verify on synthetic writers: acceptance rates and time per call.

    python scripts/bench_verify.py --model-path runs/demo/train/model_best.pth --users 10 --references 10

For each of ``--users`` synthetic writers (seed ``--seed``, never seen in training if the model was trained on
another seed or other writers), enrols ``--references`` genuine scans with ``sigver.verify.enroll`` (default
negative pool: the built-in synthetic writers; threshold: the SVM margin, or ``--target-far``), then verifies
10 other genuine scans, 10 skilled forgeries and 10 genuine scans of other writers (random forgeries) in one
``verify`` call. Prints the acceptance rates and the seconds per enrolment and per verified image.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from sigver.datasets.synthetic import GENUINE, SKILLED, render_signature
from sigver.verify import enroll, verify


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-path", required=True)
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--references", type=int, default=10)
    p.add_argument("--seed", type=int, default=4242, help="synthetic writers' seed")
    p.add_argument("--target-far", type=float, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    n_q = 10
    rates = {"genuine": [], "skilled": [], "random": []}
    t_enroll, t_verify, n_verified = [], 0.0, 0
    for u in range(args.users):
        refs = [render_signature(args.seed, u, GENUINE, i) for i in range(1, args.references + 1)]
        t = time.perf_counter()
        user = enroll(args.model_path, refs, name=f"writer{u}", target_far=args.target_far, device=args.device)
        t_enroll.append(time.perf_counter() - t)
        genuine = [render_signature(args.seed, u, GENUINE, i) for i in range(args.references + 1,
                                                                             args.references + 1 + n_q)]
        skilled = [render_signature(args.seed, u, SKILLED, i) for i in range(1, n_q + 1)]
        others = [v for v in range(args.users + n_q) if v != u][:n_q]
        random = [render_signature(args.seed, v, GENUINE, 1) for v in others]
        t = time.perf_counter()
        res = verify(user, genuine + skilled + random, device=args.device)
        t_verify += time.perf_counter() - t
        n_verified += len(res)
        acc = np.array([r["accepted"] for r in res])
        rates["genuine"].append(acc[:n_q].mean())
        rates["skilled"].append(acc[n_q:2 * n_q].mean())
        rates["random"].append(acc[2 * n_q:].mean())
    out = {"users": args.users, "references": args.references, "target_far": args.target_far,
           "genuine_accepted": float(np.mean(rates["genuine"])),
           "skilled_accepted": float(np.mean(rates["skilled"])),
           "random_accepted": float(np.mean(rates["random"])),
           "enroll_s_first": t_enroll[0], "enroll_s_median": float(np.median(t_enroll)),
           "verify_s_per_image": t_verify / n_verified, "cores": os.cpu_count(),
           "machine": platform.processor() or platform.machine()}
    print(f"{args.users} writers, {args.references} references, threshold "
          f"{'SVM margin 0' if args.target_far is None else f'FAR {args.target_far} on the pool'}")
    print(f"accepted: genuine {100 * out['genuine_accepted']:.1f}%  skilled forgeries "
          f"{100 * out['skilled_accepted']:.1f}%  random forgeries {100 * out['random_accepted']:.1f}%")
    print(f"enrol: {out['enroll_s_first']:.1f} s the first time (synthetic pool built), then "
          f"{out['enroll_s_median']:.2f} s; verify: {1000 * out['verify_s_per_image']:.0f} ms per image "
          f"(batches of {3 * n_q})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
