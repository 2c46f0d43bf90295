"""Writer-dependent evaluation CLI: ``python -m sigver.wd.test`` (the protocol: ``docs/protocols.md``).

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
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..cli import cli_main, nonnegative_int, positive_int, unit_float
from ..datasets import get_subset
from ..distributed import add_scheduler_argument, cluster
from ..evaluation import metrics as wd_metrics
from ..evaluation import results as wd_results
from ..validation import finite_float
# the protocol half of this command lives in sigver.evaluation.protocol; its names are re-exported here for
# code that imported them from this module (WDInputError is the former name of EvaluationInputError)
from ..evaluation.protocol import (  # noqa: F401
    EvaluationInputError,
    add_output_arguments,
    add_source_arguments,
    add_svm_arguments,
    check_common_args,
    check_user_ranges,
    check_wd_users,
    features_from_model,
    format_summary,
    jobs_type,
    load_inputs,
    write_outputs,
)
from .training import calibrate_threshold, train_test_all_users

__all__ = ["main", "build_parser", "WDInputError", "run_evaluation"]

WDInputError = EvaluationInputError

# ---------------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (the original's flags and defaults, plus the new ones)."""
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

    svm = add_svm_arguments(p, backends=True)
    svm.add_argument("--jobs", type=jobs_type, default=-1,
                     help="parallel workers for the users' SVMs (-1: all cores); results do not depend on it")
    add_scheduler_argument(svm, "the users' SVM fits (and the --target-far calibration)")

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

def _check_args(args) -> None:
    check_common_args(args)
    if args.forg_from_exp == 0 and args.forg_from_dev == 0:
        raise WDInputError("--forg-from-exp and --forg-from-dev are both 0: the SVMs would have no negative sample")


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
                               protocol=args.protocol, n_jobs=n_jobs,
                               svm_backend=getattr(args, "svm_backend", "libsvm"))


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
                                      n_jobs=n_jobs, progress=args.progress,
                                      svm_backend=getattr(args, "svm_backend", "libsvm"))
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


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _check_args(args)
    users = np.r_[np.arange(*args.exp_users), np.arange(*args.dev_users)]
    features = load_inputs(args, users, check_wd_users)

    with cluster(args.scheduler):
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
