"""End-to-end benchmark of ``python -m sigver.preprocessing.process_dataset`` on a real dataset folder.

In one run, for each set, three timings of whole processes (interpreter start, imports, workers and the file
write included), interleaved ``--repeats`` times:

- **decode only**: a process that lists the items with the same reader and reads every file with it
  (``dataset.load``) in the same number of worker processes, in the same chunks, and does nothing else: the
  least any pre-processing of the set can take;
- **ours**: ``python -m sigver.preprocessing.process_dataset --workers N`` (the command as users run it);
- **the original's way**: one process, each image read by the reader then ``preprocess_signature(...,
  method='reference')`` (full canvas through scikit-image, as the original code), then ``np.savez``. It is
  slow, so it runs on every ``k``-th image (``--original-images``) and its time is scaled to the whole set
  (marked "extrapolated").

It also measures, in this process on a sample, the serial time per image of decoding (D) and of the
pre-processing proper (P): with the work spread evenly over the workers, ``(D + P) / D`` is the ratio of ours to
decode-only that no scheduling can beat. It checks that ours wrote the same arrays as the original's way on the
sampled images (byte for byte). ``--before SRC`` also times the same command run from another source tree (e.g.
an earlier commit's ``sigver`` exported with ``git archive``), interleaved with ours, and checks that both files
hold the same arrays.

    python scripts/bench_preprocess_e2e.py                       # SigComp 2011 Dutch and BHSig260 Hindi, 2 workers
    python scripts/bench_preprocess_e2e.py --sets sigcomp2011 --workers 4 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("SIGVER_SHARED_DATA", REPO.parent / "shared" / "data"))

#: name -> (reader, folder under DATA, reader options)
SETS = {
    "sigcomp2011": ("sigcomp2011", "sigcomp2011_dutch", {}),
    "bhsig260-hindi": ("bhsig260", "bhsig260", {"language": "Hindi"}),
}


def _reader(name):
    from sigver.datasets.registry import get_dataset

    reader, folder, options = SETS[name]
    return get_dataset(reader, str(DATA / folder), **options)


def _items(dataset):
    from sigver.preprocessing.pipeline import _list_items, _select_users

    return _list_items(dataset, _select_users(dataset, slice(None)))


# -- decode only (run as a child process: `bench_preprocess_e2e.py --decode-only SET WORKERS`) --------------------
_DATASET = None


def _set(dataset):
    global _DATASET
    _DATASET = dataset


def _decode(item):
    return _DATASET.load(item).shape


def decode_only(name: str, workers: int) -> int:
    """Read every image of the set with its reader in ``workers`` processes, chunked as process_dataset does."""
    import multiprocessing

    dataset = _reader(name)
    items = [item for _, _, item in _items(dataset)]
    if workers <= 1:
        _set(dataset)
        return sum(1 for _ in map(_decode, items))
    with multiprocessing.get_context().Pool(workers, initializer=_set, initargs=(dataset,)) as pool:
        chunk = max(1, min(32, len(items) // (workers * 8)))  # as sigver.preprocessing.pipeline._mapper
        return sum(1 for _ in pool.imap(_decode, items, chunksize=chunk))


# -- the timed runs -------------------------------------------------------------------------------------------------
def _wall(cmd, env):
    """``(wall seconds, CPU seconds)`` of a command; CPU = user + system time of it and its workers."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # from a neutral folder: `python -m` puts the working directory first on sys.path, which would shadow the
    # sigver that PYTHONPATH names
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _row(label, runs, ref=None) -> str:
    """One line: best wall and CPU seconds of ``runs`` [(wall, cpu)], and the ratios to ``ref``."""
    wall, cpu = min(w for w, _ in runs), min(c for _, c in runs)
    text = (f"  {label:<16} wall {wall:7.2f} s, CPU {cpu:7.2f} s  "
            f"(runs: {', '.join(f'{w:.2f}/{c:.2f}' for w, c in runs)})")
    if ref is not None:
        rw, rc = min(w for w, _ in ref), min(c for _, c in ref)
        text += f"  -> {wall / rw:.2f}x wall, {cpu / rc:.2f}x CPU of decode only"
    return text


def original_way(name: str, step: int, out_path: str):
    """The original's serial pipeline on every ``step``-th image: read, reference pre-processing, savez."""
    from sigver.preprocessing.normalize import preprocess_signature

    dataset = _reader(name)
    tasks = _items(dataset)[::step]
    t = time.perf_counter()
    x = np.empty((len(tasks), 1, 170, 242), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (_, _, item) in enumerate(tasks):
            x[i, 0] = preprocess_signature(dataset.load(item), dataset.maxsize, input_size=None, method="reference")
    np.savez(out_path, x=x, y=np.array([y for y, _, _ in tasks]), yforg=np.array([f for _, f, _ in tasks]))
    return time.perf_counter() - t, len(tasks), x


def per_image_costs(name: str, n: int):
    """Serial seconds per image of decoding (D) and of the pre-processing proper (P), on ``n`` spread images."""
    from sigver.preprocessing import _kernels
    from sigver.preprocessing.normalize import preprocess_signature

    _kernels.warm_up()
    dataset = _reader(name)
    tasks = _items(dataset)
    sample = [item for _, _, item in tasks[::max(1, len(tasks) // n)]][:n]
    t_dec = t_pre = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in sample:
            t = time.perf_counter()
            img = dataset.load(item)
            t_dec += time.perf_counter() - t
            t = time.perf_counter()
            preprocess_signature(img, dataset.maxsize, input_size=None)
            t_pre += time.perf_counter() - t
    return t_dec / len(sample), t_pre / len(sample)


def same_arrays(a_path, b_path, keys=("x", "y", "yforg", "filenames", "user_mapping")) -> bool:
    with np.load(a_path) as a, np.load(b_path) as b:
        return all(np.array_equal(a[k], b[k]) for k in keys)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="interleaved repetitions of decode-only and ours")
    p.add_argument("--original-images", type=int, default=200,
                   help="images the original's way is timed on (every k-th image; scaled to the whole set)")
    p.add_argument("--sample", type=int, default=300, help="images of the per-image D / P measurement")
    p.add_argument("--before", default=None, metavar="SRC",
                   help="a source tree holding an earlier sigver/: its process_dataset is timed too and must "
                        "write the same arrays")
    p.add_argument("--decode-only", nargs=2, metavar=("SET", "WORKERS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.decode_only:
        decode_only(args.decode_only[0], int(args.decode_only[1]))
        return 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    from sigver.preprocessing import _kernels

    path = "numba kernels" if _kernels.warm_up() else "scipy (numba not importable or SIGVER_NO_NUMBA)"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"fast path: {path}; {args.workers} workers", flush=True)
    ok = True
    with tempfile.TemporaryDirectory(prefix="sigver_bench_e2e_") as tmp:
        for name in args.sets:
            reader, folder, options = SETS[name]
            n = len(_items(_reader(name)))
            out = os.path.join(tmp, f"{name}.npz")
            cmd_ours = [sys.executable, "-m", "sigver.preprocessing.process_dataset", "--dataset", reader,
                        "--path", str(DATA / folder), "--save-path", out, "--workers", str(args.workers),
                        "--no-progress", "--overwrite"]
            for k, v in options.items():
                cmd_ours += [f"--{k}", v]
            cmd_dec = [sys.executable, __file__, "--decode-only", name, str(args.workers)]
            before_out = os.path.join(tmp, f"{name}_before.npz")
            cmd_before = [a if a != out else before_out for a in cmd_ours]
            env_before = dict(env, PYTHONPATH=os.path.abspath(args.before)) if args.before else None
            t_dec, t_ours, t_before = [], [], []
            for _ in range(args.repeats):
                t_dec.append(_wall(cmd_dec, env))
                t_ours.append(_wall(cmd_ours, env))
                if env_before is not None:
                    t_before.append(_wall(cmd_before, env_before))
            d, pp = per_image_costs(name, args.sample)
            step = max(1, n // args.original_images)
            t_orig, n_orig, x_orig = original_way(name, step, os.path.join(tmp, "orig.npz"))
            t_orig_full = t_orig * n / n_orig
            with np.load(out) as z:
                same_orig = np.array_equal(z["x"][::step][:n_orig], x_orig) if len(z["x"]) == n else False
            ours = min(w for w, _ in t_ours)
            print(f"\n{name}: {n} images ({DATA / folder}); best of {args.repeats}, wall/CPU per run")
            print(_row("decode only", t_dec))
            print(_row("ours", t_ours, t_dec))
            if t_before:
                print(_row("before", t_before, t_dec) + f"; ours {min(w for w, _ in t_before) / ours:.2f}x wall, "
                      f"{min(c for _, c in t_before) / min(c for _, c in t_ours):.2f}x CPU faster")
            print(f"  original's way   {t_orig_full:7.1f} s  (extrapolated from {n_orig} images: {t_orig:.1f} s)  "
                  f"{t_orig_full / ours:.1f}x ours")
            print(f"  per image, serial: decode D {1e3 * d:.2f} ms, pre-processing P {1e3 * pp:.2f} ms -> "
                  f"bound (D + P) / D = {(d + pp) / d:.2f}x decode only")
            print(f"  ours == original's way on the {n_orig} sampled images: {same_orig}")
            ok &= same_orig
            if t_before:
                same = same_arrays(out, before_out)
                print(f"  ours == before ({args.before}), every array byte for byte: {same}")
                ok &= same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
