"""Writer-independent evaluation CLI: ``python -m sigver.wi.test`` (the protocol: ``docs/protocols.md``).

One SVM in the dissimilarity space, trained per fold on pairs of development writers' genuine signatures,
verifies every exploitation writer against its ``--gen-for-ref`` references (scores fused with ``--fusion``).
Flags, inputs and outputs are those of ``python -m sigver.wd.test`` (``--model-path`` + ``--data-path`` or
``--features-path``, ``--save-path``, ``--plots``, ``--device``)::

    python -m sigver.wi.test --features-path gpds_feats.npz --exp-users 0 300 --dev-users 300 881 \\
        --gen-for-train 12 --gen-for-ref 12 --gen-for-test 10 --fusion max --save-path results/wi.json

Per fold and exploitation writer, ``--gen-for-test`` genuine signatures, skilled forgeries and random
forgeries (one genuine of each of that many other writers) are drawn (the continual_sigver protocol), so each
writer needs at least ``--gen-for-test`` skilled forgeries. All draws come from one ``RandomState(--seed)``,
in the original's order.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..cli import cli_main, nonnegative_int, positive_int
from ..datasets import get_subset
from ..distributed import active_client, add_scheduler_argument, cluster, map_unordered, scatter
from ..evaluation import results as wd_results
from ..evaluation.protocol import (
    EvaluationInputError,
    add_output_arguments,
    add_source_arguments,
    add_svm_arguments,
    check_common_args,
    check_user_ranges,
    format_summary,
    load_inputs,
    write_outputs,
)
from .training import FUSIONS, draw_fold, fit_and_score_fold

__all__ = ["main", "build_parser", "run_evaluation"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sigver.wi.test",
        description="Writer-independent evaluation: one dissimilarity-space SVM for all writers, metrics over "
                    "folds.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_source_arguments(p)
    proto = p.add_argument_group("protocol")
    proto.add_argument("--exp-users", nargs=2, type=nonnegative_int, default=[0, 300], metavar=("A", "B"),
                       help="exploitation writers (verified): indices A <= u < B")
    proto.add_argument("--dev-users", nargs=2, type=nonnegative_int, default=[5000, 7000], metavar=("A", "B"),
                       help="development writers (train the WI SVM): A <= u < B")
    proto.add_argument("--gen-for-train", type=positive_int, default=12,
                       help="genuine signatures per development writer for the training pairs")
    proto.add_argument("--gen-for-ref", type=positive_int, default=12,
                       help="reference genuine signatures per exploitation writer")
    proto.add_argument("--gen-for-test", type=positive_int, default=10,
                       help="genuine signatures, skilled and random forgeries tested per exploitation writer")
    proto.add_argument("--fusion", choices=sorted(FUSIONS), default="max",
                       help="how the scores against the references are fused")
    proto.add_argument("--folds", type=positive_int, default=10, help="repetitions with new random splits")
    proto.add_argument("--seed", type=int, default=1234, help="seed of the RandomState shared by all folds")
    add_scheduler_argument(add_svm_arguments(p, backends=True), "the folds' SVM fits (drawn here, in order)")
    thr = p.add_argument_group("threshold")
    thr.add_argument("--thr", type=float, default=0.0, help="global threshold of FRR / FAR_random / FAR_skilled")
    add_output_arguments(p)
    return p


def _check_users(args, y: np.ndarray, yforg: np.ndarray, source: str) -> None:
    n_users = check_user_ranges(args, y, source)
    genuine = np.bincount(y[yforg == 0], minlength=n_users)
    skilled = np.bincount(y[yforg == 1], minlength=n_users)
    (ea, eb), (da, db) = args.exp_users, args.dev_users
    need = args.gen_for_ref + args.gen_for_test
    for u in range(ea, eb):
        if genuine[u] < need:
            raise EvaluationInputError(f"exploitation writer {u} has {genuine[u]} genuine signatures, fewer than "
                               f"--gen-for-ref {args.gen_for_ref} + --gen-for-test {args.gen_for_test} = {need}")
        if skilled[u] < args.gen_for_test:
            raise EvaluationInputError(f"exploitation writer {u} has {skilled[u]} skilled forgeries, fewer than "
                               f"--gen-for-test {args.gen_for_test} (each writer is tested on that many)")
    if eb - ea <= args.gen_for_test:
        raise EvaluationInputError(f"--gen-for-test {args.gen_for_test} random forgeries per writer need as many other "
                           f"exploitation writers; --exp-users {ea} {eb} has {eb - ea} writers")
    if args.gen_for_train < 2:
        raise EvaluationInputError("--gen-for-train must be at least 2 (the training pairs of a writer)")
    short = [u for u in range(da, db) if genuine[u] < args.gen_for_train]
    if short:
        raise EvaluationInputError(f"development writer {short[0]} has {genuine[short[0]]} genuine signatures, fewer than "
                           f"--gen-for-train {args.gen_for_train} ({len(short)} such writer(s))")
    if db - da <= args.gen_for_train // 2:
        raise EvaluationInputError(f"--dev-users {da} {db}: {db - da} writers; the negative pairs of --gen-for-train "
                           f"{args.gen_for_train} need more than {args.gen_for_train // 2}")


def run_evaluation(args, features) -> Dict[str, Any]:
    """All folds on extracted features; returns ``{'folds', 'fold_results', 'users'}`` as
    :func:`sigver.wd.test.run_evaluation` returns.

    Inside :func:`sigver.distributed.cluster` (``--scheduler``) every fold is drawn here first, in order, and
    the folds' fits run on the Dask cluster in parallel (same numbers as one after the other here)."""
    exp_set = get_subset(features, range(*args.exp_users))
    dev_set = get_subset(features, range(*args.dev_users))
    rng = np.random.RandomState(args.seed)
    params = (args.svm_type, args.svm_c, args.svm_gamma, args.fusion, args.thr,
              getattr(args, "svm_backend", "libsvm"))
    client = active_client()
    done: Dict[int, Any] = {}
    if client is not None:
        jobs = [(k, scatter(client, draw_fold(exp_set, dev_set, args.gen_for_train, args.gen_for_ref,
                                              args.gen_for_test, rng))) for k in range(args.folds)]
        for k, res, seconds in map_unordered(client, _fold_job, [(k, fold, params) for k, fold in jobs]):
            done[k] = (res, seconds)
    folds: List[Dict[str, Any]] = []
    fold_results: List[Dict[str, Any]] = []
    for k in range(args.folds):
        if k not in done:
            fold = draw_fold(exp_set, dev_set, args.gen_for_train, args.gen_for_ref, args.gen_for_test, rng)
            done[k] = _fold_job(k, fold, params, args.progress)[1:]
        res, seconds = done.pop(k)
        m = dict(res["all_metrics"])
        folds.append({"fold": k, "thr": args.thr, "fusion": args.fusion, "seconds": seconds, "metrics": m})
        fold_results.append(res)
        print(f"fold {k + 1}/{args.folds}: EER {100 * m['EER']:.2f}%  EER_userthresholds "
              f"{100 * m['EER_userthresholds']:.2f}%  ({seconds:.1f} s)", file=sys.stderr)
    return {"folds": folds, "fold_results": fold_results, "users": [int(u) for u in np.unique(exp_set[1])]}


def _fold_job(k: int, fold: Dict[str, Any], params: tuple, progress: bool = False):
    """One fold's fit and scores (here or on a Dask worker): ``(k, results, seconds)``."""
    start = time.perf_counter()
    *params, svm_backend = params
    _, res = fit_and_score_fold(fold, *params, progress=progress, svm_backend=svm_backend)
    return k, res, time.perf_counter() - start


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    check_common_args(args)
    users = np.r_[np.arange(*args.exp_users), np.arange(*args.dev_users)]
    features = load_inputs(args, users, _check_users)
    with cluster(args.scheduler):
        out = run_evaluation(args, features)
    summary = wd_results.summarize([f["metrics"] for f in out["folds"]])
    print(format_summary(summary, args.folds, args.thr, None))
    write_outputs(args, out, summary, "python -m sigver.wi.test", {"--thr": args.thr})
    return 0


if __name__ == "__main__":
    sys.exit(main())
