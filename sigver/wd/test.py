"""Writer-dependent evaluation CLI: ``python -m sigver.wd.test`` (SPEC 5.1).

Extract features with a trained model (or read extracted features), train one SVM per exploitation writer for
each fold (random forgeries from the development writers as negatives), test them, and report the mean and
standard deviation over folds of every metric.

    python -m sigver.wd.test --model-path signet.pth --data-path gpds.npz \\
        --exp-users 0 300 --dev-users 300 881 --folds 10 --jobs 4 --save-path results/gpds.json

Thresholds (sigver#23). ``EER`` and ``EER_userthresholds`` use thresholds chosen *a posteriori* on the test
scores (right for comparing features, not for deployment). Two thresholds fixed *before* the test data:

* ``--thr T`` (default 0, the SVM's own boundary): ``FRR``, ``FAR_random``, ``FAR_skilled``.
* ``--target-far F``: per fold, ``--thr-dev-users K`` development writers (drawn per fold from a generator
  seeded with ``--seed + 1``, so the exploitation draws stay those of the original protocol) get their own
  writer-dependent classifiers, trained exactly as the exploitation writers' (``--gen-for-train`` genuine,
  random forgeries from the *other* development writers, ``--forg-from-exp`` from each other calibration
  writer) and tested the same way (``--gen-for-test`` genuine, all their skilled forgeries, the other calibration
  writers' test genuine as random forgeries). The threshold is the lowest one whose FAR on their pooled forgeries
  (skilled when the development writers have skilled forgeries, else random; ``--target-far-forgeries``) is at
  most ``F``. ``target_far_FRR``, ``target_far_FAR_random``, ``target_far_FAR_skilled`` are the exploitation
  writers' rates at that threshold; ``target_far_dev_FAR`` is the FAR reached on the calibration writers.
  The exploitation classifiers still use all development writers as negatives, so every other metric is
  unchanged by ``--target-far``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..cli import cli_main, default_device, nonnegative_int, positive_float, positive_int, unit_float
from ..datasets import get_subset
from ..errors import SigverError
from . import metrics as wd_metrics
from . import results as wd_results
from ..outputs import check_output
from ..validation import finite_float
from .training import calibrate_threshold, train_test_all_users

__all__ = ["main", "build_parser", "WDInputError", "run_evaluation"]

#: Accepted key names of the feature matrix in a ``--features-path`` file, in order of preference.


class WDInputError(SigverError, ValueError):
    """Bad input to the writer-dependent evaluation (files, user ranges, signature counts)."""


# ---------------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------------

def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1 (all cores), got {text!r}") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1 (all cores), got {value}")
    return value


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """The input flags shared by ``wd.test`` and ``wi.test``: a checkpoint and a dataset, or a features file."""
    from ..featurelearning.models import available_models

    src = p.add_argument_group("input (give --model-path or --features-path)")
    src.add_argument("--model-path", help="checkpoint (.pth); the architecture is inferred from the weights")
    src.add_argument("-m", "--model", choices=sorted(available_models), default=None,
                     help="architecture override (default: inferred by load_checkpoint)")
    src.add_argument("--features-path", help="extracted features (.npz with 'features' float (N, D), 'y', "
                                             "'yforg', 'filenames'), instead of --model-path")
    src.add_argument("--data-path", help="dataset (.npz or .npy folder); required with --model-path")
    src.add_argument("--allow-pickle", action="store_true",
                     help="unpickle the user_mapping of dataset files written by the original code (trusted "
                          "files only)")
    src.add_argument("--input-size", nargs=2, type=positive_int, default=[150, 220], metavar=("H", "W"),
                     help="centre crop fed to the model")
    src.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass")
    src.add_argument("--device", default=None, help="torch device for feature extraction (default: cuda if "
                                                    "available, else cpu)")
    src.add_argument("--gpu-idx", type=nonnegative_int, default=0,
                     help="CUDA device index when --device is not given (original flag)")


def add_svm_arguments(p: argparse.ArgumentParser):
    """``--svm-type``, ``--svm-c``, ``--svm-gamma`` (the original's); returns the group for more flags."""
    svm = p.add_argument_group("SVM")
    svm.add_argument("--svm-type", choices=["rbf", "linear"], default="rbf")
    svm.add_argument("--svm-c", type=positive_float, default=1.0)
    svm.add_argument("--svm-gamma", type=positive_float, default=2 ** -11)
    return svm


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """``--save-path``, ``--plots``, ``--no-progress`` (shared by ``wd.test`` and ``wi.test``)."""
    out = p.add_argument_group("output")
    out.add_argument("--save-path", default=None,
                     help="results: PATH.json (arguments, folds, summary) and PATH_scores.npz (per-user scores); "
                          "also the original pickle at PATH when it ends in .pickle or .pkl")
    out.add_argument("--plots", default=None, metavar="DIR", help="write ROC, DET, score-distribution and "
                                                                 "per-user EER figures (PNG) to DIR")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sigver.wd.test",
        description="Writer-dependent evaluation: per-user SVMs on learned features, metrics over folds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_source_arguments(p)

    proto = p.add_argument_group("protocol")
    proto.add_argument("--exp-users", nargs=2, type=nonnegative_int, default=[0, 300], metavar=("A", "B"),
                       help="exploitation writers: indices A <= u < B")
    proto.add_argument("--dev-users", nargs=2, type=nonnegative_int, default=[300, 881], metavar=("A", "B"),
                       help="development writers (random forgeries for training): A <= u < B")
    proto.add_argument("--gen-for-train", type=positive_int, default=12, help="genuine signatures per user for "
                                                                             "training")
    proto.add_argument("--gen-for-test", type=nonnegative_int, default=10, help="genuine signatures per user for "
                                                                               "testing")
    proto.add_argument("--forg-from-exp", "--forg-from_exp", dest="forg_from_exp", type=nonnegative_int,
                       default=0, help="random forgeries per other exploitation writer (training negatives)")
    proto.add_argument("--forg-from-dev", "--forg-from_dev", dest="forg_from_dev", type=nonnegative_int,
                       default=14, help="random forgeries per development writer (training negatives)")
    proto.add_argument("--protocol", choices=["sigver", "continual"], default="sigver",
                       help="test set: 'sigver' all test samples; 'continual' --gen-for-test of each kind")
    proto.add_argument("--folds", type=positive_int, default=10, help="repetitions with new random splits")
    proto.add_argument("--seed", type=int, default=1234, help="seed of the RandomState shared by all folds")

    svm = add_svm_arguments(p)
    svm.add_argument("--jobs", type=_jobs, default=-1,
                     help="parallel workers for the users' SVMs (-1: all cores); results do not depend on it")

    thr = p.add_argument_group("thresholds fixed before the test (sigver#23)")
    thr.add_argument("--thr", type=finite_float, default=0.0, help="global threshold of FRR / FAR_random / FAR_skilled")
    thr.add_argument("--target-far", type=unit_float, default=None,
                     help="also report FRR/FAR at the threshold giving this FAR on held-out development writers")
    thr.add_argument("--thr-dev-users", type=positive_int, default=50,
                     help="development writers per fold used to choose the --target-far threshold (at most "
                          "half of the development writers)")
    thr.add_argument("--target-far-forgeries", choices=["auto", "skilled", "random"], default="auto",
                     help="forgeries the target FAR is measured on (auto: skilled if the development writers "
                          "have any, else random)")

    add_output_arguments(p)
    return p


# ---------------------------------------------------------------------------------------------------
# input checks and loading
# ---------------------------------------------------------------------------------------------------

def check_common_args(args) -> None:
    """Checks of the flags shared by ``wd.test`` and ``wi.test`` (sources, user ranges, output paths)."""
    if (args.model_path is None) == (args.features_path is None):
        raise WDInputError("give either --model-path (with --data-path) or --features-path")
    if args.model_path is not None:
        if args.data_path is None:
            raise WDInputError("--model-path needs --data-path (the dataset whose features are extracted)")
        if not Path(args.model_path).is_file():
            raise WDInputError(f"{args.model_path}: no such model file (give the .pth checkpoint)")
        if not Path(args.data_path).exists():
            raise WDInputError(f"{args.data_path}: no such dataset file or folder")
    elif not Path(args.features_path).is_file():
        raise WDInputError(f"{args.features_path}: no such features file")
    no_dev_needed = getattr(args, "forg_from_dev", None) == 0 and getattr(args, "target_far", None) is None
    for name in ("exp_users", "dev_users"):
        a, b = getattr(args, name)
        if a > b or (a == b and not (name == "dev_users" and no_dev_needed)):
            raise WDInputError(f"--{name.replace('_', '-')} {a} {b}: the range is empty (need A < B; an empty "
                               "--dev-users A A only with --forg-from-dev 0 and no --target-far)")
    (ea, eb), (da, db) = args.exp_users, args.dev_users
    if ea < db and da < eb:
        raise WDInputError(f"--exp-users {ea} {eb} and --dev-users {da} {db} overlap (writers {max(ea, da)} to "
                           f"{min(eb, db) - 1}); the development writers must not be exploitation writers")
    if args.save_path is not None:
        for kind, path in wd_results.result_paths(args.save_path).items():
            if path is None:
                continue
            if path.is_dir():
                raise WDInputError(f"--save-path: {path} is a folder; give a file path such as results.json")
            parent = next((a for a in path.parents if a.exists()), Path("."))
            if not parent.is_dir():
                raise WDInputError(f"--save-path: {parent} is not a folder, so {path} cannot be written")
            check_output(path, kind, "--save-path", overwrite_flag=None, create_parents=True,
                         inputs=[getattr(args, k, None) for k in ("features_path", "data_path", "model_path")])
    if args.plots is not None and Path(args.plots).exists() and not Path(args.plots).is_dir():
        raise WDInputError(f"--plots {args.plots}: exists and is not a folder")
    if args.plots is not None:
        check_output(args.plots, "folder", "--plots")


def _check_args(args) -> None:
    check_common_args(args)
    if args.forg_from_exp == 0 and args.forg_from_dev == 0:
        raise WDInputError("--forg-from-exp and --forg-from-dev are both 0: the SVMs would have no negative sample")


def check_user_ranges(args, y: np.ndarray, source: str) -> int:
    """``--exp-users`` and ``--dev-users`` exist in ``y`` (every writer has a signature); returns the number
    of writers of ``source`` (shared by ``wd.test`` and ``wi.test``)."""
    n_users = int(y.max()) + 1 if len(y) else 0
    present = set(np.unique(y).tolist())
    for name, (a, b) in (("exp-users", args.exp_users), ("dev-users", args.dev_users)):
        if b > n_users:
            raise WDInputError(f"--{name} {a} {b}: {source} has writers 0 to {n_users - 1} only")
        absent = [u for u in range(a, b) if u not in present]
        if absent:
            raise WDInputError(f"--{name} {a} {b}: {len(absent)} writer(s) have no signature in {source} "
                               f"(first: {absent[0]})")
    return n_users


def _check_users(args, y: np.ndarray, yforg: np.ndarray, source: str) -> None:
    n_users = check_user_ranges(args, y, source)
    need = args.gen_for_train + args.gen_for_test
    genuine = np.bincount(y[yforg == 0], minlength=n_users)
    ea, eb = args.exp_users
    short = [u for u in range(ea, eb) if genuine[u] < need]
    if short:
        raise WDInputError(f"exploitation writer {short[0]} has {genuine[short[0]]} genuine signatures, fewer than "
                           f"--gen-for-train {args.gen_for_train} + --gen-for-test {args.gen_for_test} = {need} "
                           f"({len(short)} such writer(s))")
    da, db = args.dev_users
    short = [u for u in range(da, db) if genuine[u] < args.forg_from_dev]
    if short:
        raise WDInputError(f"development writer {short[0]} has {genuine[short[0]]} genuine signatures, fewer than "
                           f"--forg-from-dev {args.forg_from_dev} ({len(short)} such writer(s))")
    if args.forg_from_exp > args.gen_for_train:
        raise WDInputError(f"--forg-from-exp {args.forg_from_exp} is more than the --gen-for-train "
                           f"{args.gen_for_train} training signatures each exploitation writer has")
    if args.target_far is not None:
        eligible = [u for u in range(da, db) if genuine[u] >= need]
        if len(eligible) < 2:
            raise WDInputError(f"--target-far needs at least 2 development writers with {need} genuine signatures "
                               f"(--gen-for-train + --gen-for-test); found {len(eligible)}")
        if args.forg_from_dev > 0 and db - da < 2:
            raise WDInputError("--target-far with --forg-from-dev > 0 needs at least 2 development writers")


def _device(args) -> str:
    if args.device is not None:
        return args.device
    dev = default_device()
    return f"cuda:{args.gpu_idx}" if dev == "cuda" else dev


def _features_from_model(args, users: np.ndarray, check_users=_check_users):
    from ..datasets import load_dataset
    from ..featurelearning.checkpoint import load_checkpoint
    from ..featurelearning.features import extract_features

    data = load_dataset(args.data_path, allow_pickle=args.allow_pickle)
    y = np.asarray(data.y).astype(np.int64)
    yforg = np.asarray(data.yforg).astype(np.int64)
    check_users(args, y, yforg, str(args.data_path))
    keep = np.flatnonzero(np.isin(y, users))
    device = _device(args)
    model = load_checkpoint(args.model_path, device=device, arch=args.model).model
    h, w = args.input_size
    if h > data.x.shape[2] or w > data.x.shape[3]:
        raise WDInputError(f"--input-size {h} {w} is larger than the images of {args.data_path} "
                           f"({data.x.shape[2]}x{data.x.shape[3]})")
    print(f"extracting features of {len(keep)} images on {device}", file=sys.stderr)
    feats = extract_features(model, data.x[keep], batch_size=args.batch_size, device=device,
                             input_size=(h, w), progress=not args.no_progress)
    return feats, y[keep], yforg[keep]


def load_inputs(args, users: np.ndarray, check_users=_check_users) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features ``(x, y, yforg)`` of the writers ``users``, from ``--features-path`` or extracted with
    ``--model-path`` from ``--data-path``; ``check_users(args, y, yforg, source)`` validates the counts first."""
    if args.features_path is None:
        return _features_from_model(args, users, check_users)
    from ..featurelearning.extract import load_features

    feats = load_features(args.features_path)
    x, y, yforg = feats["features"], feats["y"], feats["yforg"]
    check_users(args, y, yforg, str(args.features_path))
    keep = np.isin(y, users)
    return x[keep], y[keep], yforg[keep]


# ---------------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------------

def _calibrate(args, dev_set, cal_rng: np.random.RandomState, n_jobs: int) -> Dict[str, Any]:
    """The --target-far threshold of one fold, from held-out development writers (see the module docstring)."""
    return calibrate_threshold(dev_set, args.target_far, n_writers=args.thr_dev_users,
                               num_gen_train=args.gen_for_train, num_gen_test=args.gen_for_test,
                               num_forg_from_exp=args.forg_from_exp, num_forg_from_dev=args.forg_from_dev,
                               svm_type=args.svm_type, C=args.svm_c, gamma=args.svm_gamma, rng=cal_rng,
                               forgeries=args.target_far_forgeries, global_threshold=args.thr,
                               protocol=args.protocol, n_jobs=n_jobs)


def run_evaluation(args, features: Tuple[np.ndarray, np.ndarray, np.ndarray]) -> Dict[str, Any]:
    """All folds on extracted features; returns ``{'folds': [...], 'fold_results': [...], 'users': [...]}``.

    ``fold_results`` holds the original per-fold dicts (``all_metrics``, ``predictions``); ``folds`` the JSON
    records (metrics, plus the ``--target-far`` rates and calibration details).
    """
    exp_set = get_subset(features, range(*args.exp_users))
    dev_set = get_subset(features, range(*args.dev_users))
    n_jobs = (os.cpu_count() or 1) if args.jobs == -1 else args.jobs
    rng = np.random.RandomState(args.seed)
    cal_rng = np.random.RandomState(args.seed + 1)
    folds: List[Dict[str, Any]] = []
    fold_results: List[Dict[str, Any]] = []
    for k in range(args.folds):
        start = time.perf_counter()
        _, res = train_test_all_users(exp_set, dev_set if args.forg_from_dev > 0 else None, args.svm_type,
                                      args.svm_c, args.svm_gamma, args.gen_for_train, args.forg_from_exp,
                                      args.forg_from_dev, args.gen_for_test, args.thr, rng, protocol=args.protocol,
                                      n_jobs=n_jobs, progress=not args.no_progress)
        m = dict(res["all_metrics"])
        record: Dict[str, Any] = {"fold": k, "thr": args.thr}
        if args.target_far is not None:
            cal = _calibrate(args, dev_set, cal_rng, n_jobs)
            p = res["predictions"]
            rates = wd_metrics.error_rates(p["genuinePreds"], p["randomPreds"], p["skilledPreds"], cal["threshold"])
            m.update({"target_far_threshold": cal["threshold"], "target_far_dev_FAR": cal["dev_FAR"],
                      "target_far_dev_FRR": cal["dev_FRR"]})
            m.update({f"target_far_{name}": v for name, v in rates.items()})
            record["target_far"] = {"target": args.target_far, **cal}
        record["seconds"] = time.perf_counter() - start
        record["metrics"] = m
        folds.append(record)
        fold_results.append(res)
        print(f"fold {k + 1}/{args.folds}: EER {100 * m['EER']:.2f}%  EER_userthresholds "
              f"{100 * m['EER_userthresholds']:.2f}%  ({record['seconds']:.1f} s)", file=sys.stderr)
    return {"folds": folds, "fold_results": fold_results, "users": [int(u) for u in np.unique(exp_set[1])]}


#: Console rows: (metric key, label, is a rate shown in %)
_ROWS = (
    ("EER", "EER, global a-posteriori threshold", True),
    ("EER_userthresholds", "EER, per-user a-posteriori thresholds", True),
    ("mean_AUC", "mean AUC (genuine vs skilled, per user)", False),
    ("global_threshold", "EER threshold", False),
    ("FRR", "FRR at --thr", True),
    ("FAR_random", "FAR random at --thr", True),
    ("FAR_skilled", "FAR skilled at --thr", True),
    ("target_far_threshold", "threshold at --target-far (dev writers)", False),
    ("target_far_dev_FAR", "FAR reached on dev writers", True),
    ("target_far_FRR", "FRR at the dev threshold", True),
    ("target_far_FAR_random", "FAR random at the dev threshold", True),
    ("target_far_FAR_skilled", "FAR skilled at the dev threshold", True),
)


def format_summary(summary: Dict[str, Dict[str, float]], n_folds: int, thr: float,
                   target_far: Optional[float]) -> str:
    """The console table: one row per metric, mean and standard deviation over folds."""
    lines = [f"{'metric':<44}{'mean':>12}{'std':>10}   (over {n_folds} fold{'s' if n_folds != 1 else ''})"]
    lines.append("-" * len(lines[0]))
    for key, label, is_rate in _ROWS:
        if key not in summary:
            continue
        if key == "FRR":
            label = f"FRR at --thr {thr:g}"
        if key == "target_far_threshold" and target_far is not None:
            label = f"threshold at FAR {100 * target_far:g}% on dev writers"
        s = summary[key]
        mean, std = s["mean"], s["std"]
        if is_rate:
            lines.append(f"{label:<44}{100 * mean:>11.2f}%{100 * std:>9.2f}%")
        else:
            lines.append(f"{label:<44}{mean:>12.4f}{std:>10.4f}")
    return "\n".join(lines)


def _args_record(args) -> Dict[str, Any]:
    return {k: v for k, v in vars(args).items()}


def write_outputs(args, out: Dict[str, Any], summary: Dict[str, Dict[str, float]], command: str,
                  thresholds: Dict[str, float]) -> None:
    """``--save-path`` (JSON, scores, optional pickle) and ``--plots`` of an evaluation ``out`` (see
    :func:`run_evaluation`); shared by ``wd.test`` and ``wi.test``."""
    fold_metrics = [f["metrics"] for f in out["folds"]]
    if args.save_path is not None:
        from .. import __version__

        paths = wd_results.result_paths(args.save_path)
        paths["json"].parent.mkdir(parents=True, exist_ok=True)
        wd_results.save_scores(paths["scores"], [r["predictions"] for r in out["fold_results"]], out["users"],
                               extra={"eer_threshold": [m["global_threshold"] for m in fold_metrics],
                                      "thr": args.thr})
        if paths["pickle"] is not None:
            wd_results.save_pickle(paths["pickle"], out["fold_results"])
        wd_results.save_json(paths["json"], {
            "sigver_version": __version__, "command": command, "args": _args_record(args),
            "users": out["users"], "summary": summary, "folds": out["folds"],
            "notes": "rates are fractions (0.05 = 5%); NaN is written as null, +-infinity as \"inf\"/\"-inf\"; "
                     "global_threshold is the a-posteriori EER threshold"})
        for p in paths.values():
            if p is not None:
                print(f"wrote {p}", file=sys.stderr)
    if args.plots is not None:
        from .plots import plot_all

        written = plot_all(args.plots, [r["predictions"] for r in out["fold_results"]], thresholds)
        print(f"wrote {len(written)} figures to {args.plots}", file=sys.stderr)


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _check_args(args)
    users = np.r_[np.arange(*args.exp_users), np.arange(*args.dev_users)]
    features = load_inputs(args, users)

    out = run_evaluation(args, features)
    fold_metrics = [f["metrics"] for f in out["folds"]]
    summary = wd_results.summarize(fold_metrics)
    print(format_summary(summary, args.folds, args.thr, args.target_far))

    thresholds = {"--thr": args.thr}
    if args.target_far is not None:
        thresholds[f"dev threshold at FAR {100 * args.target_far:g}% (fold mean)"] = \
            summary["target_far_threshold"]["mean"]
    write_outputs(args, out, summary, "python -m sigver.wd.test", thresholds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
