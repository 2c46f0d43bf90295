"""Real-data benchmark: train feature extractors on one real dataset, verify the writers of another.

The whole pipeline runs through sigver's public commands, one row per training recipe:

1. pre-process both sets with their readers (``python -m sigver.preprocessing.process_dataset``): BHSig260
   Hindi (160 writers, the training writers) and SigComp 2011 Dutch (64 writers, never seen in training);
2. train a feature extractor on the Hindi writers (``python -m sigver.featurelearning.train`` with the
   recipe's flags, or ``scripts/reference_train.py``: the original training procedure as a plain loop);
3. extract the features of both sets (``python -m sigver.featurelearning.extract``) and put them in one
   features file (Dutch writers first, Hindi writers after them);
4. writer-dependent SVMs for all 64 Dutch writers (``python -m sigver.wd.test``): 6 reference signatures,
   6 genuine test signatures, the writer's skilled forgeries and random forgeries (the other Dutch writers'
   genuine signatures); negatives for the SVMs from the training writers (14 genuine signatures of each
   Hindi writer), 10 folds;
5. the writer-independent classifier (``python -m sigver.wi.test``) on the same split (its SVM learns from
   Hindi pairs; ``--wi-folds``, 3 by default: its dissimilarity SVM is far slower than the WD ones);
6. a report: ``results.json``, ``results.md`` (one row per recipe: EER with user thresholds, global EER,
   mean AUC, FRR / FAR at the decision threshold 0, WI EER, training wall time and images/s; mean and
   standard deviation over seeds and folds) and ``roc_det.png``.

Every stage writes into ``--out`` and is skipped when its output exists, so an interrupted benchmark
continues where it stopped (``sigver.featurelearning.train`` runs continue with ``--resume``; a reference
loop run restarts). It can run in the background::

    nohup python scripts/bench_real.py --out runs/bench_real > bench_real.log 2>&1 &

An ensemble row (``...+ensemble3``, seed s) stands on the models of its base recipe's seeds s, s+1, s+2
(trained and evaluated as their own runs): their features side by side, the SVM's gamma divided by 3; its
training time is the three models'. A distilled row (``...-kd3...``) trains its teachers first (its base
recipe's models of the seeds it names, as that recipe's runs) and then one model with ``--teacher``; its
training time is the teachers' and its own. A row with ``epochs_x`` trains that many times ``--epochs`` and
is compared with the baseline trained as long (``original-loop-2x``).

``--quick`` is a shortened version for a check (2 epochs, one seed, 2 folds). ``--train-data`` and
``--test-data`` take dataset files instead of the real sets (the tests use tiny synthetic ones).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

#: Recipes: trainer ('reference' = scripts/reference_train.py, 'sigver' = sigver.featurelearning.train),
#: architecture, extra training flags, flags of the feature extraction (``extract``: test-time options of
#: ``sigver.featurelearning.extract``), and what the row tests.
#: bf16 autocast + channels-last: no accuracy cost measured here (the ``bf16`` row)
FAST = ["--amp", "--channels-last"]
RECIPES: Dict[str, Dict] = {
    "original-loop": dict(trainer="reference", model="signet_thin", args=["--val-mode", "train"],
                          note="the original training procedure as a plain loop, validation in train mode as "
                               "the original (baseline)"),
    "original-loop-evalbn": dict(trainer="reference", model="signet_thin", args=[],
                                 note="the same loop, validation in eval mode (BatchNorm statistics from the "
                                      "training crops only)"),
    "sigver-train": dict(trainer="sigver", model="signet_thin", args=[],
                         note="sigver.featurelearning.train with the original flags"),
    "bf16": dict(trainer="sigver", model="signet_thin", args=["--amp", "--channels-last"],
                 note="bf16 autocast + channels-last"),
    "bf16+binarize": dict(trainer="sigver", model="signet_thin", args=["--amp", "--channels-last"],
                          test="binarized", note="bf16 autocast + channels-last, binarised test scans"),
    "signet-f": dict(trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.95", *FAST],
                     note="SigNet-F: the training writers' skilled forgeries too, lambda 0.95 (bf16)"),
    "signet-f+binarize": dict(trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.95", *FAST],
                              test="binarized", note="SigNet-F (lambda 0.95, bf16), binarised test scans"),
    "signet-f-0.5+binarize": dict(trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5", *FAST],
                                  test="binarized", note="SigNet-F with lambda 0.5 (bf16), binarised test scans"),
    "signet-f-0.7+binarize": dict(trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.7", *FAST],
                                  test="binarized", note="SigNet-F with lambda 0.7 (bf16), binarised test scans"),
    "signet-full-f-0.5+binarize": dict(
        trainer="sigver", model="signet", args=["--forg", "--lamb", "0.5", *FAST], test="binarized",
        note="the full SigNet as SigNet-F with lambda 0.5 (bf16), binarised test scans"),
    "signet-f-0.3+binarize": dict(trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.3", *FAST],
                                  test="binarized", note="SigNet-F with lambda 0.3 (bf16), binarised test scans"),
    "signet-f-0.5-lr0.01+binarize": dict(
        trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5", "--lr", "0.01", *FAST],
        test="binarized", note="SigNet-F (lambda 0.5, bf16) with learning rate 0.01, binarised test scans"),
    "signet-f-0.5-lr3e-4+binarize": dict(
        trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5", "--lr", "3e-4", *FAST],
        test="binarized", note="SigNet-F (lambda 0.5, bf16) with learning rate 3e-4, binarised test scans"),
    "signet-f-0.5-wd1e-3+binarize": dict(
        trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5", "--weight-decay", "1e-3", *FAST],
        test="binarized", note="SigNet-F (lambda 0.5, bf16) with weight decay 1e-3, binarised test scans"),
    "signet-f-0.5-swa+binarize": dict(
        trainer="sigver", model="signet_thin",
        args=["--forg", "--lamb", "0.5", "--swa", "6", "--swa-lr", "5e-4", *FAST], test="binarized",
        note="SigNet-F (lambda 0.5, bf16) with stochastic weight averaging over epochs 6-15 at lr 5e-4 "
             "(instead of the decays to 1e-4 and 1e-5), binarised test scans"),
    "signet-f-0.5-swa-lr1e-3+binarize": dict(
        trainer="sigver", model="signet_thin",
        args=["--forg", "--lamb", "0.5", "--swa", "6", "--swa-lr", "1e-3", *FAST], test="binarized",
        note="SigNet-F (lambda 0.5, bf16) with stochastic weight averaging over epochs 6-15 at lr 1e-3 "
             "(no decay), binarised test scans"),
    "signet-f-0.5-fp32+binarize": dict(
        trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5"], test="binarized",
        note="SigNet-F with lambda 0.5 in fp32 (no bf16 autocast), binarised test scans"),
    # twice the epoch budget (``epochs_x``: a multiple of --epochs, so --quick shortens it too); such a row is
    # compared with the baseline trained as long (``baseline``)
    "original-loop-2x": dict(trainer="reference", model="signet_thin", args=["--val-mode", "train"], epochs_x=2,
                             note="the original procedure (the baseline's loop) at twice the epochs: its learning "
                                  "rate steps at 1/3 and 2/3 of them, as the original's"),
    "original-loop-2x+binarize": dict(
        trainer="reference", model="signet_thin", args=["--val-mode", "train"], epochs_x=2, test="binarized",
        baseline="original-loop-2x", note="the original procedure at twice the epochs, binarised test scans"),
    "signet-f-0.5-2x+binarize": dict(
        trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5", *FAST], epochs_x=2,
        baseline="original-loop-2x", test="binarized",
        note="SigNet-F with lambda 0.5 (bf16) at twice the epochs, binarised test scans"),
    # knowledge distillation from an ensemble (``teachers``: a recipe and the seeds of its models, trained first
    # as that recipe's runs): the student costs its own training plus the teachers'
    "signet-f-0.5-kd3+binarize": dict(
        trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5", *FAST],
        teachers=("signet-f-0.5+binarize", (7, 8, 9)), test="binarized",
        note="SigNet-F with lambda 0.5 (bf16) distilled from three SigNet-F 0.5 models (seeds 7-9: --teacher, "
             "weight 1, temperature 4), binarised test scans"),
    # the same teachers, their fc1 features (concatenated, 3,072 values) learnt through a linear map instead of
    # their writer distribution: the ensemble's feature space is what its lead at test time comes from
    "signet-f-0.5-kdf3+binarize": dict(
        trainer="sigver", model="signet_thin",
        args=["--forg", "--lamb", "0.5", "--kd-weight", "0", "--kd-features", "1", "--kd-layer", "fc1", *FAST],
        teachers=("signet-f-0.5+binarize", (7, 8, 9)), test="binarized",
        note="SigNet-F with lambda 0.5 (bf16) learning the fc1 features of three SigNet-F 0.5 models side by side "
             "(seeds 7-9: --teacher --kd-features 1 --kd-layer fc1 --kd-weight 0), binarised test scans"),
    "signet-f-0.9+binarize": dict(trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.9", *FAST],
                                  test="binarized", note="SigNet-F with lambda 0.9 (bf16), binarised test scans"),
    "signet-f-0.5+supcon+binarize": dict(
        trainer="sigver", model="signet_thin", args=["--forg", "--lamb", "0.5", "--supcon", "0.5", *FAST],
        test="binarized", note="SigNet-F (lambda 0.5) and the contrastive term (bf16), binarised test scans"),
    "binarize+synthetic": dict(trainer="sigver", model="signet_thin", args=[*FAST], train="train+synthetic",
                               test="binarized", note="200 synthetic writers added to the training writers "
                                                      "(bf16), binarised test scans"),
    "signet": dict(trainer="sigver", model="signet", args=[*FAST], note="the full SigNet (bf16)"),
    "signet+binarize": dict(trainer="sigver", model="signet", args=[*FAST], test="binarized",
                            note="the full SigNet (bf16), binarised test scans"),
    "supcon": dict(trainer="sigver", model="signet_thin", args=["--supcon", "0.5", *FAST],
                   note="supervised contrastive term on the features (weight 0.5, temperature 0.1, writer-grouped "
                        "batches of 4; bf16)"),
    "supcon+binarize": dict(trainer="sigver", model="signet_thin", args=["--supcon", "0.5", *FAST],
                            test="binarized", note="the contrastive term (bf16), binarised test scans"),
    "augment": dict(trainer="sigver", model="signet_thin", args=["--augment", "scanner"],
                    note="scanner/pen augmentation (binarisation, blur, contrast, stroke width, affine)"),
    "binarize": dict(trainer="sigver", model="signet_thin", args=[], test="binarized",
                     note="test scans binarised in pre-processing (process_dataset --binarize)"),
    "augment+binarize": dict(trainer="sigver", model="signet_thin", args=["--augment", "scanner"],
                             test="binarized", note="scanner augmentation and binarised test scans"),
}
#: test-time variants (the same trained models, other features): suffix -> extraction flags, what they do
TEST_TIME = {"fc1": (["--layer", "fc1"], "features of fc1"),
             "five-crop": (["--crops", "five"], "features averaged over five crops"),
             "fc1+five-crop": (["--layer", "fc1", "--crops", "five"], "fc1 features averaged over five crops")}
for _base in ("signet-f-0.5+binarize", "signet-f-0.7+binarize", "signet-full-f-0.5+binarize",
              "signet-f-0.5-swa+binarize", "signet-f-0.5-swa-lr1e-3+binarize", "signet-f-0.5-fp32+binarize",
              "signet-f-0.5-2x+binarize", "signet-f-0.5-kd3+binarize", "signet-f-0.5-kdf3+binarize",
              "original-loop-2x+binarize"):
    for _suffix, (_flags, _what) in TEST_TIME.items():
        RECIPES[f"{_base}+{_suffix}"] = dict(RECIPES[_base], extract=_flags,
                                             note=f"{RECIPES[_base]['note']}, {_what}")
#: ensembles: the features of models of consecutive seeds of a recipe, concatenated (k x the training compute);
#: the SVM's gamma is divided by k so that each model's features weigh as much as alone in the RBF kernel
ENSEMBLE = 3
for _base in ("signet-f-0.5+binarize+fc1",):
    RECIPES[f"{_base}+ensemble{ENSEMBLE}"] = dict(
        RECIPES[_base], ensemble=(_base, ENSEMBLE), wd_args=["--svm-gamma", repr(2 ** -11 / ENSEMBLE)],
        note=f"{RECIPES[_base]['note']}; the models of {ENSEMBLE} consecutive seeds, features concatenated "
             f"(SVM gamma 2^-11 / {ENSEMBLE}): {ENSEMBLE}x the training compute")
BASELINE = "original-loop"


def members(recipe: str, seed: int) -> List[Tuple[str, int]]:
    """The (recipe, seed) runs whose models a row stands on: itself, or an ensemble's members."""
    if "ensemble" not in RECIPES[recipe]:
        return [(recipe, seed)]
    base, k = RECIPES[recipe]["ensemble"]
    return [(base, seed + i) for i in range(k)]


def log(message: str) -> None:
    print(f"[bench_real {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_command(cmd: List[str], log_path: Path, env: Dict[str, str]) -> float:
    """Run ``cmd`` with its output appended to ``log_path``; returns the wall time; raises on failure."""
    start = time.perf_counter()
    with open(log_path, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    if proc.returncode != 0:
        tail = log_path.read_text().splitlines()[-5:]
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n  " + "\n  ".join(tail))
    return time.perf_counter() - start


def preprocess(args, env) -> Dict[str, Path]:
    """The dataset files (pre-processed once into ``OUT/data``, or given): ``train``, ``test`` and
    ``binarized`` (the test set pre-processed with ``--binarize``)."""
    data_dir = args.out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    dutch = ["--dataset", "sigcomp2011", "--path", str(args.data / "sigcomp2011_dutch")]
    jobs = [("hindi", args.train_data, ["--dataset", "bhsig260", "--language", "Hindi",
                                        "--path", str(args.data / "bhsig260")]),
            ("dutch", args.test_data, dutch),
            ("dutch_binarized", args.test_data_binarized or args.test_data, dutch + ["--binarize"])]
    out = []
    for name, given, flags in jobs:
        if given is not None:
            out.append(Path(given))
            continue
        path = data_dir / f"{name}.npz"
        if not path.exists():
            log(f"pre-processing {name} -> {path}")
            seconds = run_command([sys.executable, "-m", "sigver.preprocessing.process_dataset", *flags,
                                   "--save-path", str(path), "--no-progress"], data_dir / f"{name}.log", env)
            log(f"{name}: {seconds:.1f} s")
        out.append(path)
    paths = dict(zip(("train", "test", "binarized"), out))
    if any(RECIPES[r].get("train") == "train+synthetic" for r in args.recipes):
        paths["train+synthetic"] = synthetic_training_set(args, paths["train"], env)
    return paths


def synthetic_training_set(args, train: Path, env) -> Path:
    """The training writers followed by ``--synthetic-writers`` synthetic ones (24 genuine signatures and 30
    skilled forgeries each, generated as scans, pre-processed with ``--binarize`` like bilevel scans), through
    the public commands: ``datasets.synthetic --out``, ``process_dataset --dataset gpds``, ``datasets.merge``."""
    data_dir = args.out / "data"
    raw, syn = data_dir / "synthetic_raw", data_dir / "synthetic.npz"
    merged = data_dir / f"{train.stem}_synthetic.npz"
    py = sys.executable
    steps = [
        (raw, [py, "-m", "sigver.datasets.synthetic", "--users", str(args.synthetic_writers), "--genuine", "24",
               "--forgeries", "30", "--seed", "7", "--out", str(raw), "--no-progress"]),
        (syn, [py, "-m", "sigver.preprocessing.process_dataset", "--dataset", "gpds", "--path", str(raw),
               "--binarize", "--save-path", str(syn), "--no-progress"]),
        (merged, [py, "-m", "sigver.datasets.merge", str(train), str(syn), "--out", str(merged)]),
    ]
    for target, cmd in steps:
        if not target.exists() or (target == raw and not (raw / "DONE").exists()):
            log(f"synthetic writers -> {target}")
            if target == raw and raw.exists():
                cmd.append("--overwrite")
            seconds = run_command(cmd, data_dir / "synthetic.log", env)
            if target == raw:
                (raw / "DONE").write_text(f"{seconds:.1f} s\n")
            log(f"{target.name}: {seconds:.1f} s")
    return merged


def n_writers(path: Path) -> int:
    from sigver.datasets import load_dataset

    return int(load_dataset(path).n_users)


_LOCKS: Dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def train_dir(args, recipe: str, seed: int) -> Path:
    """Run folder of a recipe's training: recipes that train the same way (and differ only in how they
    test) share it."""
    spec = RECIPES[recipe]
    key = "_".join([spec["trainer"], spec["model"], *[a.lstrip("-") for a in spec["args"]]]
                   + (["synthetic"] if spec.get("train") == "train+synthetic" else [])
                   + ([f"epochs{epochs(args, recipe)}"] if spec.get("epochs_x", 1) != 1 else [])
                   + ([f"teachers{'-'.join(map(str, spec['teachers'][1]))}"] if "teachers" in spec else []))
    return args.out / "train" / key / f"seed{seed}"


def epochs(args, recipe: str) -> int:
    """The recipe's epoch budget: ``--epochs`` times its ``epochs_x`` (1 unless it says otherwise)."""
    return args.epochs * RECIPES[recipe].get("epochs_x", 1)


def baseline_of(recipe: str) -> str:
    """The row a recipe's "vs baseline" ratio is taken against: the baseline trained for as many epochs."""
    return RECIPES.get(recipe, {}).get("baseline", BASELINE)


def teacher_runs(recipe: str) -> List[Tuple[str, int]]:
    """The (recipe, seed) runs a distilled recipe learns from (none for the others)."""
    base, seeds = RECIPES[recipe].get("teachers", (None, ()))
    return [(base, s) for s in seeds]


def train(args, recipe: str, seed: int, train_data: Path, n_train: int, env) -> Path:
    spec = RECIPES[recipe]
    teachers = [train(args, base, s, train_data, n_train, env) for base, s in teacher_runs(recipe)]
    tdir = train_dir(args, recipe, seed)
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(str(tdir), threading.Lock())
    with lock:
        return _train(args, recipe, seed, tdir, spec, train_data, n_train, env, teachers)


def _train(args, recipe, seed, tdir: Path, spec, train_data: Path, n_train: int, env, teachers) -> Path:
    done = tdir / "DONE.json"
    model = tdir / "model_last.pth"
    if done.exists() and model.exists():
        return model
    tdir.mkdir(parents=True, exist_ok=True)
    common = ["--dataset-path", str(train_data), "--users", "0", str(n_train), "--model", spec["model"],
              "--epochs", str(epochs(args, recipe)), "--seed", str(seed), "--logdir", str(tdir)]
    if spec["trainer"] == "reference":
        cmd = [sys.executable, str(REPO / "scripts" / "reference_train.py"), *common, *spec["args"]]
    else:
        cmd = [sys.executable, "-m", "sigver.featurelearning.train", *common, "--device", args.device,
               "--no-progress", *spec["args"], *(["--teacher", *map(str, teachers)] if teachers else [])]
        if (tdir / "training_state.pth").exists():
            cmd.append("--resume")
            log(f"{recipe} seed {seed}: resuming")
        elif (tdir / "log.jsonl").exists():
            cmd.append("--overwrite")
    log(f"{recipe} seed {seed}: training")
    seconds = run_command(cmd, tdir / "train.log", env)
    done.write_text(json.dumps({"seconds": seconds, "command": cmd}, indent=1))
    return model


def evaluate(args, recipe: str, seed: int, run_dir: Path, model: Path, train_data: Path, test_data: Path,
             n_test: int, n_train: int, env, plots: bool) -> None:
    """Features of both sets in one file, then ``wd.test`` and ``wi.test`` (skipped when done)."""
    py = sys.executable
    out_log = run_dir / "eval.log"
    feats = run_dir / "features.npz"
    if not feats.exists():
        parts = []
        for name, data in (("test", test_data), ("train", train_data)):
            path = run_dir / f"features_{name}.npz"
            if not path.exists():
                run_command([py, "-m", "sigver.featurelearning.extract", "--model-path", str(model),
                             "--data-path", str(data), "--save-path", str(path), "--device", args.device,
                             "--no-progress", *RECIPES[recipe].get("extract", [])], out_log, env)
            parts.append(path)
        merge_features(parts[0], parts[1], n_test, feats)
        for p in parts:
            p.unlink()

    def protocol(folds: int) -> List[str]:
        return ["--features-path", str(feats), "--exp-users", "0", str(n_test), "--dev-users", str(n_test),
                str(n_test + n_train), "--folds", str(folds), "--no-progress"]

    if not (run_dir / "wd.json").exists():
        cmd = [py, "-m", "sigver.wd.test", *protocol(args.folds), "--gen-for-train", str(args.references),
               "--gen-for-test", str(args.genuine_test), "--forg-from-dev", "14", "--jobs", str(args.eval_jobs),
               "--save-path", str(run_dir / "wd"), *RECIPES[recipe].get("wd_args", [])]
        if plots:
            cmd += ["--plots", str(run_dir / "plots")]
        run_command(cmd, out_log, env)
    if not (run_dir / "wi.json").exists() and args.wi_folds > 0:
        run_command([py, "-m", "sigver.wi.test", *protocol(args.wi_folds), "--gen-for-train", "12",
                     "--gen-for-ref", str(args.references), "--gen-for-test", str(args.genuine_test),
                     "--save-path", str(run_dir / "wi")], out_log, env)


def merge_features(test_path: Path, train_path: Path, n_test: int, out: Path) -> None:
    """One features file: the test set's writers 0..n_test-1, then the training set's writers after them."""
    from sigver.datasets.features import load_features, save_features

    a, b = load_features(test_path), load_features(train_path)
    if a["features"].shape[1] != b["features"].shape[1]:
        raise RuntimeError(f"{test_path} and {train_path} have features of different sizes")
    save_features(out, np.concatenate([a["features"], b["features"]]), np.concatenate([a["y"], b["y"] + n_test]),
                  np.concatenate([a["yforg"], b["yforg"]]), np.concatenate([a["filenames"], b["filenames"]]),
                  np.arange(n_test + int(b["y"].max()) + 1),
                  **{k: a[k] for k in ("architecture", "model_sha256", "input_size", "layer", "crops") if k in a})


def concat_features(paths: List[Path], out: Path) -> None:
    """One features file from the features of several models of the same images, side by side."""
    from sigver.datasets.features import load_features, save_features

    parts = [load_features(p) for p in paths]
    a = parts[0]
    for p, b in zip(paths[1:], parts[1:]):
        if not (np.array_equal(a["y"], b["y"]) and np.array_equal(a["filenames"], b["filenames"])):
            raise RuntimeError(f"{paths[0]} and {p} hold other images")
    save_features(out, np.concatenate([b["features"] for b in parts], axis=1), a["y"], a["yforg"], a["filenames"],
                  a["user_mapping"], **{k: a[k] for k in ("architecture", "input_size", "layer", "crops") if k in a})


def run_one(args, recipe, seed, paths, counts, env, first_seed) -> None:
    run_dir = args.out / "runs" / recipe / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if "ensemble" in RECIPES[recipe]:
        runs = members(recipe, seed)
        for base, s in runs:  # each member: trained and evaluated as its own recipe's run
            run_one(args, base, s, paths, counts, env, first_seed=None)
        feats = [args.out / "runs" / base / f"seed{s}" / "features.npz" for base, s in runs]
        if not all(f.exists() for f in feats):
            log(f"{recipe} seed {seed}: FAILED: a member has no features")
            return
        if not (run_dir / "features.npz").exists():
            concat_features(feats, run_dir / "features.npz")
    try:
        data = paths[RECIPES[recipe].get("train", "train")]
        model = train(args, recipe, seed, data, n_writers(data), env)
        test = paths[RECIPES[recipe].get("test", "test")]
        evaluate(args, recipe, seed, run_dir, model, paths["train"], test, counts[1], counts[0], env,
                 plots=seed == first_seed)
        log(f"{recipe} seed {seed}: done")
    except Exception as e:  # report and go on with the other runs
        log(f"{recipe} seed {seed}: FAILED: {e}")


# ---------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------

WD_KEYS = ("EER_userthresholds", "EER", "mean_AUC", "FRR", "FAR_skilled", "FAR_random")


def collect(args) -> Dict[str, Dict]:
    """Per recipe: the fold metrics of every finished seed, training time and throughput."""
    from sigver.evaluation.results import load_json

    table = {}
    for recipe in args.recipes:
        rows = []
        for seed in args.seeds:
            run_dir = args.out / "runs" / recipe / f"seed{seed}"
            if not (run_dir / "wd.json").exists():
                continue
            wd = load_json(run_dir / "wd.json")
            wi = load_json(run_dir / "wi.json") if (run_dir / "wi.json").exists() else None
            seconds, ips = 0.0, []
            # an ensemble: its members' training, added up; a distilled model: its teachers' too
            mine = members(recipe, seed)
            for base, s in [*mine, *teacher_runs(recipe)]:
                tdir = train_dir(args, base, s)
                seconds += json.loads((tdir / "DONE.json").read_text())["seconds"]
                if (base, s) in mine:  # images/s: the row's own models
                    ips += [json.loads(line).get("train_images_per_s")
                            for line in (tdir / "log.jsonl").read_text().splitlines() if line.strip()]
            ips = [v for v in ips if v]
            rows.append({
                "seed": seed,
                "wd_folds": [{k: f["metrics"].get(k) for k in WD_KEYS} for f in wd["folds"]],
                "wi_folds": [{k: f["metrics"].get(k) for k in ("EER", "EER_userthresholds", "mean_AUC")}
                             for f in wi["folds"]] if wi else [],
                "train_seconds": seconds,
                "train_images_per_s": float(np.median(ips)) if ips else None,
            })
        if rows:
            table[recipe] = {"note": RECIPES[recipe]["note"], "model": RECIPES[recipe]["model"],
                             "flags": RECIPES[recipe]["args"], "extract": RECIPES[recipe].get("extract", []),
                             "epochs": epochs(args, recipe),
                             "seeds": rows, "summary": summarize(rows)}
    return include_previous(table, args.include) if args.include else table


def include_previous(table: Dict[str, Dict], path: Path) -> Dict[str, Dict]:
    """The rows of an earlier ``results.json`` (``--include``) with this run's: its recipes first, in its
    order; a seed finished here replaces the same seed there."""
    try:
        previous = json.loads(Path(path).read_text())["recipes"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"error: --include {path}: not a bench_real results.json ({e}); give the "
                         f"results.json an earlier run wrote")
    merged = {}
    for recipe in [*previous, *[r for r in table if r not in previous]]:
        old, new = previous.get(recipe), table.get(recipe)
        entry = dict(new or old)
        here = {r["seed"] for r in new["seeds"]} if new else set()
        rows = [r for r in (old["seeds"] if old else []) if r["seed"] not in here] + (new["seeds"] if new else [])
        entry["seeds"] = sorted(rows, key=lambda r: r["seed"])
        entry["summary"] = summarize(entry["seeds"])
        merged[recipe] = entry
    return merged


def _stats(values) -> Dict[str, float]:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return {"mean": None, "std": None}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0}


def summarize(rows) -> Dict[str, Dict[str, float]]:
    """Mean and standard deviation over all (seed, fold) pairs; ``*_seed_std``: spread of the seed means."""
    out = {}
    for prefix, key_list, folds_key in (("wd", WD_KEYS, "wd_folds"), ("wi", ("EER", "mean_AUC"), "wi_folds")):
        for k in key_list:
            out[f"{prefix}_{k}"] = _stats([f[k] for r in rows for f in r[folds_key]])
            seed_means = [np.mean([f[k] for f in r[folds_key]]) for r in rows if r[folds_key]]
            out[f"{prefix}_{k}"]["seed_std"] = float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else 0.0
            out[f"{prefix}_{k}"]["seed_means"] = [float(m) for m in seed_means]
    out["train_seconds"] = _stats([r["train_seconds"] for r in rows])
    out["train_images_per_s"] = _stats([r["train_images_per_s"] for r in rows])
    out["n_seeds"] = len(rows)
    return out


def markdown(table, args) -> str:
    def pct(s):
        return "-" if s["mean"] is None else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"

    lines = [
        f"Train: {args.train_name}; test: {args.test_name}; {args.epochs} epochs; WD: {args.references} references, "
        f"{args.genuine_test} genuine test signatures, {args.folds} folds. Values: mean ± std over seeds x folds "
        "(seed spread of EER_user in brackets). Rates in %.",
        "",
        "| recipe | seeds | EER user thr. | EER global | mean AUC | FRR (t=0) | FAR skilled | FAR random | WI EER "
        "| train s | img/s | vs baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for recipe, t in table.items():
        s = t["summary"]
        e = s["wd_EER_userthresholds"]
        base = table.get(baseline_of(recipe), {}).get("summary", {}).get("wd_EER_userthresholds", {}).get("mean")
        ratio = f"{e['mean'] / base:.2f}x" if base and e["mean"] is not None else "-"
        lines.append(
            f"| `{recipe}` | {s['n_seeds']} | {pct(e)} ({100 * e['seed_std']:.2f}) | {pct(s['wd_EER'])} | "
            f"{s['wd_mean_AUC']['mean']:.3f} | {pct(s['wd_FRR'])} | {pct(s['wd_FAR_skilled'])} | "
            f"{pct(s['wd_FAR_random'])} | {pct(s['wi_EER'])} | {s['train_seconds']['mean']:.0f} | "
            f"{s['train_images_per_s']['mean'] or 0:.0f} | {ratio} |")
    lines.append("")
    for recipe, t in table.items():
        extract = f"; extract {' '.join(t['extract'])}" if t.get("extract") else ""
        budget = f"; {t['epochs']} epochs" if t.get("epochs", args.epochs) != args.epochs else ""
        against = f"; compared with `{baseline_of(recipe)}`" if baseline_of(recipe) != BASELINE else ""
        lines.append(f"- `{recipe}`: {t['note']} ({t['model']} {' '.join(t['flags'])}{extract}{budget}){against}")
    return "\n".join(lines) + "\n"


def plot(table, args, path: Path) -> Optional[Path]:
    """ROC and DET (skilled forgeries, scores of the first seed pooled over folds) of every recipe."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.stats import norm

    from sigver.evaluation.metrics import roc_curve
    from sigver.evaluation.results import load_scores

    fig = Figure(figsize=(11, 5))
    FigureCanvasAgg(fig)
    ax_roc, ax_det = fig.subplots(1, 2)
    drawn = 0
    for recipe, t in table.items():
        # the first seed run in --out (rows of --include may come from elsewhere)
        found = [p for p in (args.out / "runs" / recipe / f"seed{r['seed']}" / "wd_scores.npz" for r in t["seeds"])
                 if p.exists()]
        if not found:
            continue
        scores = found[0]
        folds = load_scores(scores)
        gen = np.concatenate([np.concatenate(f["genuinePreds"]) for f in folds])
        forg = np.concatenate([np.concatenate(f["skilledPreds"]) for f in folds])
        if not len(forg):
            continue
        far, tpr, _ = roc_curve(np.r_[np.ones(len(gen)), -np.ones(len(forg))], np.r_[gen, forg],
                                drop_intermediate=False)
        frr = 1 - tpr
        style = dict(label=recipe, linestyle=("-", "--", ":")[(drawn // 10) % 3])  # 10 colours, then dashes
        ax_roc.plot(100 * far, 100 * (1 - frr), **style)
        eps = 1e-4
        ax_det.plot(norm.ppf(np.clip(far, eps, 1 - eps)), norm.ppf(np.clip(frr, eps, 1 - eps)), **style)
        drawn += 1
    if not drawn:
        return None
    ax_roc.set(xlabel="FAR, skilled forgeries (%)", ylabel="1 - FRR (%)", title="WD ROC (first seed run, all folds)")
    ticks = np.array([0.5, 1, 2, 5, 10, 20, 40])
    ax_det.set_xticks(norm.ppf(ticks / 100), [f"{t:g}" for t in ticks])
    ax_det.set_yticks(norm.ppf(ticks / 100), [f"{t:g}" for t in ticks])
    ax_det.set(xlim=norm.ppf([0.004, 0.5]), ylim=norm.ppf([0.004, 0.5]), xlabel="FAR skilled (%)",
               ylabel="FRR (%)", title="WD DET (normal deviate scale)")
    for ax in (ax_roc, ax_det):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{args.train_name} -> {args.test_name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def report(args) -> None:
    table = collect(args)
    if not table:
        log("no finished run to report")
        return
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) if isinstance(v, Path) else v
                                                                for k, v in vars(args).items()},
                                                       "recipes": table}, indent=1))
    md = markdown(table, args)
    (args.out / "results.md").write_text(md)
    plot(table, args, args.out / "roc_det.png")
    print(md)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "runs" / "bench_real", help="output folder (resumable)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding bhsig260/ and sigcomp2011_dutch/")
    p.add_argument("--train-data", type=Path, help="training dataset file instead of BHSig260 Hindi")
    p.add_argument("--test-data", type=Path, help="test dataset file instead of SigComp 2011 Dutch")
    p.add_argument("--test-data-binarized", type=Path,
                   help="the test set pre-processed with --binarize (default with --test-data: --test-data)")
    p.add_argument("--recipes", nargs="+", default=[BASELINE, "sigver-train"], choices=list(RECIPES))
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--synthetic-writers", type=int, default=200,
                   help="synthetic writers added to the training writers by the '+synthetic' recipes")
    p.add_argument("--folds", type=int, default=10, help="WD folds (default: 10)")
    p.add_argument("--wi-folds", type=int, default=3,
                   help="WI folds (default: 3; one WI fold costs about 6 WD folds here); 0: no WI")
    p.add_argument("--references", type=int, default=6, help="reference signatures per test writer")
    p.add_argument("--genuine-test", type=int, default=6, help="genuine test signatures per test writer")
    p.add_argument("--parallel", type=int, default=2, help="runs at the same time (each gets cores / N threads)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="shortened check: 2 epochs, the first seed, 2 folds")
    p.add_argument("--report-only", action="store_true", help="only (re)write the report of finished runs")
    p.add_argument("--include", type=Path, metavar="RESULTS_JSON",
                   help="also report the rows of an earlier run's results.json (e.g. docs/bench_real_results.json); "
                        "seeds finished in --out replace the same seeds there; the plot shows the runs in --out")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.folds, args.wi_folds = 2, args.seeds[:1], 2, min(args.wi_folds, 2)
    args.out.mkdir(parents=True, exist_ok=True)
    args.train_name = args.train_data.name if args.train_data else "BHSig260 Hindi (160 writers)"
    args.test_name = args.test_data.name if args.test_data else "SigComp 2011 Dutch (64 writers)"
    cores = os.cpu_count() or 1
    threads = max(1, cores // max(1, args.parallel))
    args.eval_jobs = threads
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(REPO))
    if not args.report_only:
        paths = preprocess(args, env)
        counts = (n_writers(paths["train"]), n_writers(paths["test"]))
        log(f"train: {paths['train']} ({counts[0]} writers); test: {paths['test']} ({counts[1]} writers)")
        jobs = [(r, s) for s in args.seeds for r in args.recipes]
        with ThreadPoolExecutor(max(1, args.parallel)) as pool:
            for _ in pool.map(lambda job: run_one(args, job[0], job[1], paths, counts, env, args.seeds[0]), jobs):
                pass
    report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
