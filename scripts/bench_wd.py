"""Benchmark of the writer-dependent evaluation: ours (users' SVMs in parallel) against a serial baseline
that does it the way the original sigver does (one user after the other, in one process), on the same
synthetic features, in one run. Checks that every metric and every score is equal, then prints the ratio.

The GPDS protocol is 300 exploitation users x 10 folds with 581 development writers (14 random forgeries
each, so 12 + 8,134 training samples per SVM) and 2,048-dimensional features. That is hours of libsvm fits
serially, so the default here is a reduced run with the *same per-SVM size* (581 dev writers, 2,048 dims,
12 + 8,134 training samples) but fewer exploitation users and folds:

    python scripts/bench_wd.py                              # 16 users x 2 folds (about 3 minutes on 2 cores)
    python scripts/bench_wd.py --exp-users 300 --folds 10   # the full GPDS protocol
    python scripts/bench_wd.py --svm-backend sklearnex      # also the fast, non-exact backend (sklearnex)

With ``--svm-backend sklearnex`` ours is run twice in the same run, with libsvm (exact: compared with the
baseline number for number) and with scikit-learn-intelex's SVC (not exact: the script prints its speed-up over
ours with libsvm and over the baseline, and the metric differences per fold).

On real features, ``--wd-test OUT -- ARGS`` runs the command ``python -m sigver.wd.test ARGS`` once per backend
(libsvm, then the fast one, in subprocesses, results written to ``OUT/<backend>.json``) and prints the wall-time
ratio and the per-fold metric differences:

    python scripts/bench_wd.py --svm-backend sklearnex --wd-test /tmp/out -- --features-path features.npz \
        --exp-users 0 64 --dev-users 64 224 --folds 10 --gen-for-train 6 --gen-for-test 6 --forg-from-dev 14 --jobs 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from sigver.wd import data as wd_data
from sigver.wd import metrics as wd_metrics
from sigver.wd import training as wd_training


def synthetic_features(n_users: int, n_genuine: int, n_skilled: int, dim: int, seed: int = 0):
    """Post-ReLU-like features (non-negative, sparse-ish): a centre per writer, noisy samples around it,
    skilled forgeries between the writer's centre and another random point."""
    rs = np.random.RandomState(seed)
    x = np.empty((n_users * (n_genuine + n_skilled), dim), dtype=np.float32)
    y = np.repeat(np.arange(n_users), n_genuine + n_skilled)
    yforg = np.tile(np.r_[np.zeros(n_genuine, int), np.ones(n_skilled, int)], n_users)
    i = 0
    for _ in range(n_users):
        centre = np.maximum(rs.randn(dim) * 1.0 + 0.2, 0)
        x[i:i + n_genuine] = np.maximum(centre + rs.randn(n_genuine, dim) * 0.6, 0)
        i += n_genuine
        other = np.maximum(rs.randn(dim) + 0.2, 0)
        x[i:i + n_skilled] = np.maximum(0.6 * centre + 0.4 * other + rs.randn(n_skilled, dim) * 0.6, 0)
        i += n_skilled
    return x, y, yforg


def original_train_wdclassifier_user(training_set, C, gamma):
    """The original's per-user fit, as written there: skew, SVC, Pipeline(scaler, SVC).fit (ordinary memory)."""
    import sklearn.pipeline
    import sklearn.preprocessing
    import sklearn.svm

    train_x, train_y = training_set
    n_genuine = len([v for v in train_y if v == 1])
    n_forg = len([v for v in train_y if v == -1])
    model = sklearn.svm.SVC(C=C, gamma=gamma, class_weight={1: n_forg / float(n_genuine)})
    pipe = sklearn.pipeline.Pipeline([("scaler", sklearn.preprocessing.StandardScaler(with_mean=False)),
                                      ("classifier", model)])
    return pipe.fit(train_x, train_y)


def baseline(exp_set, dev_set, args):
    """The original sigver's loop: per fold, split, draw dev negatives, then train and test each user serially."""
    rng = np.random.RandomState(args.seed)
    out = []
    for _ in range(args.folds):
        exp_train, exp_test = wd_data.split_train_test(exp_set, args.gen_for_train, args.gen_for_test, rng)
        dev_neg = wd_data.get_random_forgeries_from_dev(dev_set, args.forg_from_dev, rng)
        users = np.unique(exp_train[1])
        classifiers = {}
        for user in users:
            training_set = wd_data.create_training_set_for_user(user, exp_train, 0, dev_neg, rng)
            classifiers[user] = original_train_wdclassifier_user(training_set, args.svm_c, args.svm_gamma)
        xt, yt, ft = exp_test
        gen, ran, sk = [], [], []
        for user in users:
            g, r, s = wd_training.test_user(classifiers[user], xt[(yt == user) & (ft == 0)],
                                            xt[(yt != user) & (ft == 0)], xt[(yt == user) & (ft == 1)])
            gen.append(g)
            ran.append(r)
            sk.append(s)
        out.append({"all_metrics": wd_metrics.compute_metrics(gen, ran, sk, 0.0),
                    "predictions": {"genuinePreds": gen, "randomPreds": ran, "skilledPreds": sk}})
    return out


def ours(exp_set, dev_set, args, svm_backend="libsvm"):
    rng = np.random.RandomState(args.seed)
    out = []
    for _ in range(args.folds):
        _, res = wd_training.train_test_all_users(exp_set, dev_set, "rbf", args.svm_c, args.svm_gamma,
                                                  args.gen_for_train, 0, args.forg_from_dev, args.gen_for_test,
                                                  0.0, rng, n_jobs=args.jobs, progress=False,
                                                  svm_backend=svm_backend)
        out.append(res)
    return out


#: the metrics compared between backends (per fold)
COMPARED = ("EER", "EER_userthresholds", "mean_AUC")


def metric_differences(exact, fast):
    """Per fold, ``fast - exact`` of :data:`COMPARED`, and the largest score difference."""
    rows = []
    for k, (a, b) in enumerate(zip(exact, fast)):
        row = {"fold": k}
        for name in COMPARED:
            row[name] = float(a["all_metrics"][name])
            row[f"{name}_fast"] = float(b["all_metrics"][name])
        row["max_score_diff"] = max(float(np.max(np.abs(x - y))) for kind in a["predictions"]
                                    for x, y in zip(a["predictions"][kind], b["predictions"][kind]) if len(x))
        rows.append(row)
    return rows


def print_differences(rows) -> None:
    print("fold | " + " | ".join(f"{n} libsvm -> sklearnex (diff, points)" for n in COMPARED) + " | max |score diff|")
    for r in rows:
        cells = [f"{100 * r[n]:.3f} -> {100 * r[n + '_fast']:.3f} ({100 * (r[n + '_fast'] - r[n]):+.3f})"
                 for n in COMPARED]
        print(f"{r['fold']:4d} | " + " | ".join(cells) + f" | {r['max_score_diff']:.2e}")


def same(a, b) -> bool:
    for ra, rb in zip(a, b):
        ma, mb = ra["all_metrics"], rb["all_metrics"]
        if set(ma) != set(mb):
            return False
        for k in ma:
            if not np.array_equal(np.asarray(ma[k], dtype=float), np.asarray(mb[k], dtype=float), equal_nan=True):
                return False
        for k in ra["predictions"]:
            if not all(np.array_equal(x, y) for x, y in zip(ra["predictions"][k], rb["predictions"][k])):
                return False
    return len(a) == len(b)


def run_wd_test(out_dir: str, wd_args, backends) -> int:
    """Time ``python -m sigver.wd.test`` with each backend on the same arguments; compare the fold metrics."""
    import subprocess

    os.makedirs(out_dir, exist_ok=True)
    folds, seconds = {}, {}
    for backend in backends:
        path = os.path.join(out_dir, f"{backend}.json")
        cmd = [sys.executable, "-m", "sigver.wd.test", *wd_args, "--svm-backend", backend, "--save-path", path,
               "--no-progress"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds[backend] = time.perf_counter() - t
        with open(path) as fh:
            folds[backend] = [{"all_metrics": f["metrics"]} for f in json.load(fh)["folds"]]
        print(f"wd.test --svm-backend {backend}: {seconds[backend]:.1f} s", flush=True)
    exact, fast = backends
    print(f"speed-up of {fast} over {exact} (whole command): {seconds[exact] / seconds[fast]:.2f}x")
    print("fold | " + " | ".join(f"{n} {exact} -> {fast} (diff, points)" for n in COMPARED))
    diffs = {n: [] for n in COMPARED}
    for k, (a, b) in enumerate(zip(folds[exact], folds[fast])):
        cells = []
        for n in COMPARED:
            x, y = 100 * a["all_metrics"][n], 100 * b["all_metrics"][n]
            diffs[n].append(y - x)
            cells.append(f"{x:.3f} -> {y:.3f} ({y - x:+.3f})")
        print(f"{k:4d} | " + " | ".join(cells))
    print("mean | " + " | ".join(
        f"{np.mean([100 * f['all_metrics'][n] for f in folds[exact]]):.3f} -> "
        f"{np.mean([100 * f['all_metrics'][n] for f in folds[fast]]):.3f} ({np.mean(diffs[n]):+.3f}; "
        f"max |diff| {np.max(np.abs(diffs[n])):.3f})" for n in COMPARED))
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wd_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, wd_args = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-users", type=int, default=16, help="exploitation users (GPDS: 300)")
    p.add_argument("--dev-users", type=int, default=581, help="development writers (GPDS: 581)")
    p.add_argument("--folds", type=int, default=2, help="folds (GPDS protocol: 10)")
    p.add_argument("--dim", type=int, default=2048, help="feature dimension (SigNet: 2048)")
    p.add_argument("--genuine", type=int, default=24)
    p.add_argument("--skilled", type=int, default=30)
    p.add_argument("--gen-for-train", type=int, default=12)
    p.add_argument("--gen-for-test", type=int, default=10)
    p.add_argument("--forg-from-dev", type=int, default=14)
    p.add_argument("--svm-c", type=float, default=1.0)
    p.add_argument("--svm-gamma", type=float, default=2 ** -11)
    p.add_argument("--jobs", type=int, default=-1, help="workers of ours (-1: all cores)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--skip-baseline", action="store_true", help="time ours only")
    p.add_argument("--svm-backend", choices=["libsvm", "sklearnex"], default="libsvm",
                   help="sklearnex: also time ours with scikit-learn-intelex's SVC and compare its metrics")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="ours on a Dask cluster (tcp://host:8786, or local:N worker processes; sigver.distributed); "
                        "the cluster is started before the timing")
    p.add_argument("--wd-test", default=None, metavar="OUT",
                   help="time python -m sigver.wd.test with the arguments after '--', libsvm then --svm-backend; "
                        "results in OUT/<backend>.json")
    args = p.parse_args(argv)
    if args.wd_test is not None:
        if not wd_args:
            p.error("--wd-test needs the wd.test arguments after '--'")
        return run_wd_test(args.wd_test, wd_args, ("libsvm", args.svm_backend))

    x, y, f = synthetic_features(args.exp_users + args.dev_users, args.genuine, args.skilled, args.dim)
    exp_mask = y < args.exp_users
    exp_set = (x[exp_mask], y[exp_mask], f[exp_mask])
    dev_set = (x[~exp_mask], y[~exp_mask], f[~exp_mask])
    n_train = args.gen_for_train + args.dev_users * args.forg_from_dev
    print(f"{args.exp_users} users x {args.folds} fold(s), {args.dev_users} dev writers, {args.dim}-d features, "
          f"{n_train} training samples per SVM; {os.cpu_count()} CPU cores, "
          f"{platform.processor() or platform.machine()}",
          flush=True)

    from sigver.distributed import cluster

    with cluster(args.scheduler) as client:
        where = f"jobs={args.jobs}" if client is None else \
            f"Dask {args.scheduler}: {len(client.nthreads())} workers x {max(client.nthreads().values())} threads"
        t = time.perf_counter()
        res_ours = ours(exp_set, dev_set, args)
        t_ours = time.perf_counter() - t
    n_fits = args.exp_users * args.folds
    print(f"ours ({where}):   {t_ours:8.1f} s, {t_ours / n_fits:.2f} s per user and fold", flush=True)
    figures = {"where": where, "seconds_per_user_fold": t_ours / n_fits, "users": args.exp_users, "folds": args.folds, "dev_users": args.dev_users, "dim": args.dim,
               "cores": os.cpu_count(), "ours_s": t_ours, "EER": res_ours[0]["all_metrics"]["EER"]}
    if args.svm_backend != "libsvm":
        with cluster(args.scheduler):
            t = time.perf_counter()
            res_fast = ours(exp_set, dev_set, args, args.svm_backend)
            t_fast = time.perf_counter() - t
        rows = metric_differences(res_ours, res_fast)
        print(f"ours, {args.svm_backend} ({where}): {t_fast:8.1f} s, {t_fast / n_fits:.2f} s per user and fold; "
              f"{t_ours / t_fast:.2f}x ours with libsvm", flush=True)
        print_differences(rows)
        figures.update(backend=args.svm_backend, backend_s=t_fast, backend_ratio=t_ours / t_fast,
                       backend_folds=rows)
    if not args.skip_baseline:
        t = time.perf_counter()
        res_base = baseline(exp_set, dev_set, args)
        t_base = time.perf_counter() - t
        equal = same(res_base, res_ours)
        print(f"baseline (serial): {t_base:8.1f} s", flush=True)
        print(f"metrics and scores equal: {equal}")
        print(f"speed-up: {t_base / t_ours:.2f}x")
        figures.update(baseline_s=t_base, ratio=t_base / t_ours, equal=equal)
        if args.svm_backend != "libsvm":
            print(f"speed-up of {args.svm_backend} over the baseline: {t_base / t_fast:.2f}x")
            figures.update(backend_ratio_baseline=t_base / t_fast)
        if not equal:
            print("ERROR: results differ", file=sys.stderr)
            return 1
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
