"""The main job on the built-in synthetic data set: ``python -m sigver.demo`` (``bash scripts/demo.sh``).

Steps, each with a progress bar:

1. generate synthetic signatures in the GPDS folder layout (``OUT/synthetic/001/c-001-01.png``, ...);
2. pre-process them with the real ``gpds`` reader and ``process_dataset`` into ``OUT/synthetic_170_242.npz``;
3. train SigNet (``--model``, default signet_thin) on the development writers (the last two thirds) with
   ``python -m sigver.featurelearning.train`` into ``OUT/train/``;
4. evaluate the other writers with writer-dependent SVMs (``python -m sigver.wd.test``, 3 folds);
5. write a report folder ``OUT/report/``: ``summary.json`` and ``report.md`` (counts, timings, the WD metrics),
   the WD results (``wd.json``, ``wd_scores.npz``) and plots (ROC, DET, score distributions, EER per user), and
   pictures of the data: raw scans (genuine and skilled forgeries of a few writers) and what the network sees
   (the 150 x 220 centre crops of the pre-processed images).

The run folder also holds ``args.json`` and a JSON-lines log ``log.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .cli import (add_device_arguments, add_progress_argument, cli_main, nonnegative_int, positive_int,
                  run_command)
from .errors import SigverError
from .shapes import INPUT_SIZE


class _RunLog:
    """``args.json`` and the JSON-lines log of the run folder, written like every other run's."""

    def __init__(self, out: Path, args: argparse.Namespace):
        from .training.loop import write_run_info

        self.path = out / "log.jsonl"
        self.t0 = time.perf_counter()
        write_run_info(out, vars(args))

    def __call__(self, step: str, **info) -> None:
        from .training.loop import append_jsonl

        append_jsonl(self.path, {"time": round(time.perf_counter() - self.t0, 3), "step": step, **info})


def _pictures(data, raw_root: Path, report: Path, n_writers: int, n_each: int) -> list:
    """Contact sheets of raw scans and of network inputs; returns the written paths."""
    from .datasets.images import read_image
    from .preprocessing import crop_center_multiple
    from .visualize import contact_sheet

    writers = np.unique(data.y)[:n_writers]
    raw, raw_titles, net, net_titles = [], [], [], []
    for w in writers:
        for kind, label in ((0, "genuine"), (1, "skilled forgery")):
            idx = np.flatnonzero((data.y == w) & (data.yforg == kind))[:n_each]
            for i in idx:
                name = str(data.filenames[i])
                user = int(data.user_mapping[w])
                raw.append(read_image(raw_root / f"{user:03d}" / name))
                raw_titles.append(f"writer {user}, {label}")
                net_titles.append(f"{name}")
            if len(idx):
                net.append(crop_center_multiple(np.asarray(data.x[idx]), INPUT_SIZE)[:, 0])
    paths = [report / "raw_scans.png", report / "network_inputs.png"]
    contact_sheet(raw, paths[0], titles=raw_titles, ncols=2 * n_each,
                  suptitle="Synthetic scans: each row a writer's genuine signatures, then skilled forgeries")
    contact_sheet(np.concatenate(net), paths[1], titles=net_titles, ncols=2 * n_each, invert=True,
                  suptitle="What the network sees: 150 x 220 centre crops after pre-processing (shown dark on light)")
    return paths


@cli_main
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sigver.demo", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__[
                                    __doc__.index("Steps"):])
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    p.add_argument("--users", type=positive_int, default=30, help="synthetic writers (default 30)")
    p.add_argument("--genuine", type=positive_int, default=24, help="genuine signatures per writer (default 24)")
    p.add_argument("--forgeries", type=nonnegative_int, default=30, help="skilled forgeries per writer (default 30)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the generator (default 1)")
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                   help="processes (default: number of CPUs)")
    p.add_argument("--model", default="signet_thin", help="architecture to train (default signet_thin)")
    p.add_argument("--epochs", type=positive_int, default=10, help="training epochs (default 10)")
    add_device_arguments(p, gpu_idx=False)
    add_progress_argument(p)
    args = p.parse_args(argv)
    if args.users < 3:  # a third to evaluate, at least two to train on
        raise SigverError(f"--users {args.users} is too few to train and evaluate; use at least 3")

    from .datasets import get_dataset
    from .datasets.synthetic_write import SyntheticSignatures, write_folder
    from .preprocessing.pipeline import process_dataset

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = _RunLog(out, args)
    progress = args.progress
    timings = {}
    raw_root = out / "synthetic"
    print(f"[1/5] generating {args.users} synthetic writers x ({args.genuine} genuine + {args.forgeries} "
          f"skilled forgeries) in {raw_root}")
    t = time.perf_counter()
    synth = SyntheticSignatures(n_users=args.users, genuine=args.genuine, forgeries=args.forgeries,
                                seed=args.seed)
    write_folder(synth, raw_root, workers=args.workers, progress=progress)
    timings["generate_s"] = round(time.perf_counter() - t, 2)
    log("generate", seconds=timings["generate_s"], folder=str(raw_root))

    dataset_path = out / "synthetic_170_242.npz"
    print(f"[2/5] pre-processing with the gpds reader into {dataset_path}")
    t = time.perf_counter()
    reader = get_dataset("gpds", raw_root)
    data = process_dataset(reader, dataset_path, workers=args.workers, progress=progress)
    timings["preprocess_s"] = round(time.perf_counter() - t, 2)
    log("preprocess", seconds=timings["preprocess_s"], dataset=str(dataset_path), images=int(len(data.y)))

    report = out / "report"
    report.mkdir(exist_ok=True)
    wd = _train_and_evaluate(args, dataset_path, out, report, data, progress, timings, log)
    print(f"[5/5] writing the report in {report}")
    pictures = _pictures(data, raw_root, report, n_writers=4, n_each=3)
    counts = np.bincount(data.yforg, minlength=3)
    ink = (np.asarray(data.x) > 0).mean(axis=(1, 2, 3))
    summary = {
        "dataset_file": str(dataset_path),
        "writers": int(data.n_users),
        "images": int(len(data.y)),
        "genuine": int(counts[0]),
        "skilled_forgeries": int(counts[1]),
        "image_size": list(data.image_size),
        "canvas": list(reader.maxsize),
        "ink_fraction": {"mean": round(float(ink.mean()), 4), "min": round(float(ink.min()), 4),
                         "max": round(float(ink.max()), 4)},
        "timings": timings,
        "images_per_second": {
            "generate": round(len(data.y) / max(timings["generate_s"], 1e-9), 1),
            "preprocess": round(len(data.y) / max(timings["preprocess_s"], 1e-9), 1)},
        "wd": wd,
        "pictures": [str(p) for p in pictures] + [str(p) for p in sorted((report / "plots").glob("*.png"))],
        "seed": args.seed,
    }
    (report / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (report / "report.md").write_text(_markdown(summary))
    log("report", folder=str(report))
    print()
    print(_markdown(summary))
    return 0


def _train_and_evaluate(args, dataset_path: Path, out: Path, report: Path, data, progress: bool, timings: dict,
                        log) -> dict:
    """Steps 3 and 4: train on the development writers, WD-evaluate the others; returns the WD summary."""
    n_users = int(data.n_users)
    n_exp = max(1, n_users // 3)
    genuine = int(np.bincount(np.asarray(data.y)[np.asarray(data.yforg) == 0]).min())
    gen_train = max(1, min(12, genuine // 2))
    gen_test = max(1, min(10, genuine - gen_train))
    quiet = [] if progress else ["--no-progress"]
    device = ["--device", args.device] if args.device else []

    print(f"[3/5] training {args.model} on writers {n_exp}..{n_users - 1} for {args.epochs} epochs in {out / 'train'}")
    t = time.perf_counter()
    code = run_command("sigver.featurelearning.train", [
        "--model", args.model, "--dataset-path", str(dataset_path), "--users", str(n_exp), str(n_users),
        "--epochs", str(args.epochs), "--lr", "0.01", "--seed", str(args.seed), "--logdir", str(out / "train"),
        "--overwrite", *device, *quiet])
    if code:
        raise SigverError(f"training failed (exit status {code}); see the message above")
    timings["train_s"] = round(time.perf_counter() - t, 2)
    log("train", seconds=timings["train_s"], logdir=str(out / "train"))

    print(f"[4/5] writer-dependent evaluation of writers 0..{n_exp - 1} ({gen_train} references each, 3 folds)")
    t = time.perf_counter()
    code = run_command("sigver.wd.test", [
        "--model-path", str(out / "train" / "model_best.pth"), "--data-path", str(dataset_path),
        "--exp-users", "0", str(n_exp), "--dev-users", str(n_exp), str(n_users),
        "--gen-for-train", str(gen_train), "--gen-for-test", str(gen_test),
        "--forg-from-dev", str(min(14, genuine)), "--folds", "3", "--save-path", str(report / "wd.json"),
        "--plots", str(report / "plots"), *device, *quiet])
    if code:
        raise SigverError(f"the WD evaluation failed (exit status {code}); see the message above")
    timings["wd_s"] = round(time.perf_counter() - t, 2)
    summary = json.loads((report / "wd.json").read_text())["summary"]
    log("wd", seconds=timings["wd_s"], results=str(report / "wd.json"))
    return {k: summary[k]["mean"] for k in ("EER", "EER_userthresholds", "mean_AUC", "FRR", "FAR_random",
                                            "FAR_skilled") if k in summary}


def _markdown(s: dict) -> str:
    rows = [
        ("writers", s["writers"]),
        ("images", f"{s['images']} ({s['genuine']} genuine, {s['skilled_forgeries']} skilled forgeries)"),
        ("stored image size", f"{s['image_size'][0]} x {s['image_size'][1]} (canvas {s['canvas'][0]} x "
                              f"{s['canvas'][1]})"),
        ("ink per image", f"{100 * s['ink_fraction']['mean']:.1f} % of pixels (min "
                          f"{100 * s['ink_fraction']['min']:.1f} %, max {100 * s['ink_fraction']['max']:.1f} %)"),
        ("generation", f"{s['timings']['generate_s']} s ({s['images_per_second']['generate']} images/s)"),
        ("pre-processing", f"{s['timings']['preprocess_s']} s ({s['images_per_second']['preprocess']} images/s)"),
        ("training", f"{s['timings'].get('train_s')} s"),
        ("WD evaluation", f"{s['timings'].get('wd_s')} s"),
    ] + [(f"WD {k} (mean of 3 folds)", _fmt(k, v)) for k, v in s.get("wd", {}).items()] + [
        ("dataset file", s["dataset_file"]),
    ] + [("picture", p) for p in s["pictures"]]
    lines = ["# sigver demo: synthetic signatures", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def _fmt(key: str, value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if key == "mean_AUC" else f"{100 * value:.2f} %"


if __name__ == "__main__":
    sys.exit(main())
