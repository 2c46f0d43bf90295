"""The protocol half of the evaluation commands (``wd.test``, ``wi.test``, ``adversarial.evaluate``, ...).

- argument groups: :func:`add_source_arguments` (a checkpoint and a dataset, or a features file),
  :func:`add_svm_arguments`, :func:`add_output_arguments` (``--save-path``, ``--plots``, ``--no-progress``);
- input checks raising :class:`EvaluationInputError` (one line, exit status 2): :func:`check_common_args`,
  :func:`check_user_ranges`, :func:`check_wd_users`;
- inputs: :func:`load_inputs` reads a features file (:func:`sigver.datasets.load_features`) or extracts the
  features with the checkpoint (:func:`features_from_model`);
- outputs: :func:`format_summary` (the console table) and :func:`write_outputs` (JSON, per-user scores, the
  original pickle on request, figures).

The protocols themselves (which signatures train and test each writer's classifier, over how many folds) are
described in ``docs/protocols.md``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..cli import add_device_arguments, add_progress_argument, positive_float, positive_int, resolve_device
from ..datasets.features import load_features
from ..errors import SigverError
from ..featurelearning.models import available_models
from ..outputs import check_output
from ..shapes import INPUT_SIZE
from . import results
from .svm import SVM_BACKENDS, check_svm_backend

__all__ = ["EvaluationInputError", "jobs_type", "add_source_arguments", "add_svm_arguments", "add_output_arguments",
           "check_common_args", "check_user_ranges", "check_wd_users", "features_from_model", "load_inputs",
           "format_summary", "write_outputs"]


class EvaluationInputError(SigverError, ValueError):
    """Bad input to an evaluation command (files, user ranges, signature counts)."""



# ---------------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------------

def jobs_type(text: str) -> int:
    """argparse type of ``--jobs``: a positive integer, or -1 for all cores."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1 (all cores), got {text!r}") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1 (all cores), got {value}")
    return value


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """The input flags shared by ``wd.test`` and ``wi.test``: a checkpoint and a dataset, or a features file."""
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
    src.add_argument("--input-size", nargs=2, type=positive_int, default=INPUT_SIZE, metavar=("H", "W"),
                     help="centre crop fed to the model (default: the checkpoint's, 150 220 for SigNet)")
    src.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass")
    add_device_arguments(src, help="torch device for feature extraction (default: cuda if available, else cpu)")


def add_svm_arguments(p: argparse.ArgumentParser, backends: bool = False):
    """``--svm-type``, ``--svm-c``, ``--svm-gamma`` (the original's), and with ``backends`` ``--svm-backend``
    (:mod:`sigver.evaluation.svm`); returns the group for more flags."""
    svm = p.add_argument_group("SVM")
    svm.add_argument("--svm-type", choices=["rbf", "linear"], default="rbf")
    svm.add_argument("--svm-c", type=positive_float, default=1.0)
    svm.add_argument("--svm-gamma", type=positive_float, default=2 ** -11)
    if backends:
        svm.add_argument("--svm-backend", choices=list(SVM_BACKENDS), default=SVM_BACKENDS[0],
                         help="libsvm: scikit-learn's SVC, the original's numbers; sklearnex: scikit-learn-intelex's "
                              "SVC (pip install 'sigver[sklearnex]'), several times faster, not exact (scores "
                              "differ in about the 4th decimal)")
    return svm


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """``--save-path``, ``--plots``, ``--no-progress`` (shared by ``wd.test`` and ``wi.test``)."""
    out = p.add_argument_group("output")
    out.add_argument("--save-path", default=None,
                     help="results: PATH.json (arguments, folds, summary) and PATH_scores.npz (per-user scores); "
                          "also the original pickle at PATH when it ends in .pickle or .pkl")
    out.add_argument("--plots", default=None, metavar="DIR", help="write ROC, DET, score-distribution and "
                                                                 "per-user EER figures (PNG) to DIR")
    add_progress_argument(out)



# ---------------------------------------------------------------------------------------------------
# input checks and loading
# ---------------------------------------------------------------------------------------------------

def check_common_args(args) -> None:
    """Checks of the flags shared by ``wd.test`` and ``wi.test`` (sources, user ranges, output paths)."""
    if (args.model_path is None) == (args.features_path is None):
        raise EvaluationInputError("give either --model-path (with --data-path) or --features-path")
    if args.model_path is not None:
        if args.data_path is None:
            raise EvaluationInputError("--model-path needs --data-path (the dataset whose features are extracted)")
        if not Path(args.model_path).is_file():
            raise EvaluationInputError(f"{args.model_path}: no such model file (give the .pth checkpoint)")
        if not Path(args.data_path).exists():
            raise EvaluationInputError(f"{args.data_path}: no such dataset file or folder")
    elif not Path(args.features_path).is_file():
        raise EvaluationInputError(f"{args.features_path}: no such features file")
    check_svm_backend(getattr(args, "svm_backend", SVM_BACKENDS[0]))
    no_dev_needed = getattr(args, "forg_from_dev", None) == 0 and getattr(args, "target_far", None) is None
    for name in ("exp_users", "dev_users"):
        a, b = getattr(args, name)
        if a > b or (a == b and not (name == "dev_users" and no_dev_needed)):
            raise EvaluationInputError(f"--{name.replace('_', '-')} {a} {b}: the range is empty (need A < B; an empty "
                               "--dev-users A A only with --forg-from-dev 0 and no --target-far)")
    (ea, eb), (da, db) = args.exp_users, args.dev_users
    if ea < db and da < eb:
        raise EvaluationInputError(f"--exp-users {ea} {eb} and --dev-users {da} {db} overlap (writers {max(ea, da)} to "
                           f"{min(eb, db) - 1}); the development writers must not be exploitation writers")
    if args.save_path is not None:
        for kind, path in results.result_paths(args.save_path).items():
            if path is None:
                continue
            if path.is_dir():
                raise EvaluationInputError(f"--save-path: {path} is a folder; give a file path such as results.json")
            parent = next((a for a in path.parents if a.exists()), Path("."))
            if not parent.is_dir():
                raise EvaluationInputError(f"--save-path: {parent} is not a folder, so {path} cannot be written")
            check_output(path, kind, "--save-path", overwrite_flag=None, create_parents=True,
                         inputs=[getattr(args, k, None) for k in ("features_path", "data_path", "model_path")])
    if args.plots is not None and Path(args.plots).exists() and not Path(args.plots).is_dir():
        raise EvaluationInputError(f"--plots {args.plots}: exists and is not a folder")
    if args.plots is not None:
        check_output(args.plots, "folder", "--plots")


def check_user_ranges(args, y: np.ndarray, source: str) -> int:
    """``--exp-users`` and ``--dev-users`` exist in ``y`` (every writer has a signature); returns the number
    of writers of ``source`` (shared by ``wd.test`` and ``wi.test``)."""
    n_users = int(y.max()) + 1 if len(y) else 0
    present = set(np.unique(y).tolist())
    for name, (a, b) in (("exp-users", args.exp_users), ("dev-users", args.dev_users)):
        if b > n_users:
            raise EvaluationInputError(f"--{name} {a} {b}: {source} has writers 0 to {n_users - 1} only")
        absent = [u for u in range(a, b) if u not in present]
        if absent:
            raise EvaluationInputError(f"--{name} {a} {b}: {len(absent)} writer(s) have no signature in {source} "
                               f"(first: {absent[0]})")
    return n_users


def check_wd_users(args, y: np.ndarray, yforg: np.ndarray, source: str) -> None:
    """The writer-dependent protocol's counts: every exploitation writer has ``--gen-for-train`` +
    ``--gen-for-test`` genuine signatures, every development writer ``--forg-from-dev``, and what
    ``--target-far`` needs (shared by ``wd.test`` and ``adversarial.evaluate``)."""
    n_users = check_user_ranges(args, y, source)
    need = args.gen_for_train + args.gen_for_test
    genuine = np.bincount(y[yforg == 0], minlength=n_users)
    ea, eb = args.exp_users
    short = [u for u in range(ea, eb) if genuine[u] < need]
    if short:
        raise EvaluationInputError(f"exploitation writer {short[0]} has {genuine[short[0]]} genuine signatures, fewer than "
                           f"--gen-for-train {args.gen_for_train} + --gen-for-test {args.gen_for_test} = {need} "
                           f"({len(short)} such writer(s))")
    da, db = args.dev_users
    short = [u for u in range(da, db) if genuine[u] < args.forg_from_dev]
    if short:
        raise EvaluationInputError(f"development writer {short[0]} has {genuine[short[0]]} genuine signatures, fewer than "
                           f"--forg-from-dev {args.forg_from_dev} ({len(short)} such writer(s))")
    if args.forg_from_exp > args.gen_for_train:
        raise EvaluationInputError(f"--forg-from-exp {args.forg_from_exp} is more than the --gen-for-train "
                           f"{args.gen_for_train} training signatures each exploitation writer has")
    if args.target_far is not None:
        eligible = [u for u in range(da, db) if genuine[u] >= need]
        if len(eligible) < 2:
            raise EvaluationInputError(f"--target-far needs at least 2 development writers with {need} genuine signatures "
                               f"(--gen-for-train + --gen-for-test); found {len(eligible)}")
        if args.forg_from_dev > 0 and db - da < 2:
            raise EvaluationInputError("--target-far with --forg-from-dev > 0 needs at least 2 development writers")


def features_from_model(args, users: np.ndarray, check_users=check_wd_users):
    """Features ``(x, y, yforg)`` of the writers ``users``, extracted with ``--model-path`` from ``--data-path``
    (the images centre-cropped to :func:`~sigver.featurelearning.checkpoint.resolve_input_size`)."""
    from ..datasets import load_dataset
    from ..featurelearning.checkpoint import load_checkpoint, resolve_input_size
    from ..featurelearning.features import extract_features

    data = load_dataset(args.data_path, allow_pickle=args.allow_pickle)
    y = np.asarray(data.y).astype(np.int64)
    yforg = np.asarray(data.yforg).astype(np.int64)
    check_users(args, y, yforg, str(args.data_path))
    keep = np.flatnonzero(np.isin(y, users))
    device = resolve_device(args.device, args.gpu_idx)
    loaded = load_checkpoint(args.model_path, device=device, arch=args.model)
    model = loaded.model
    h, w = resolve_input_size(args.input_size, checkpoint=loaded)
    if h > data.x.shape[2] or w > data.x.shape[3]:
        raise EvaluationInputError(f"--input-size {h} {w} is larger than the images of {args.data_path} "
                           f"({data.x.shape[2]}x{data.x.shape[3]})")
    layer = loaded.feature_layer  # a model shipped for verification: the features it verifies with
    print(f"extracting features{f' of {layer}' if layer else ''} of {len(keep)} images on {device}",
          file=sys.stderr)
    try:
        feats = extract_features(model, data.x[keep], batch_size=args.batch_size, device=device,
                                 input_size=(h, w), progress=args.progress, layer=layer)
    except ValueError as e:
        raise EvaluationInputError(f"{args.model_path}: its sidecar's features.layer: {e}") from None
    return feats, y[keep], yforg[keep]


def load_inputs(args, users: np.ndarray, check_users=check_wd_users) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features ``(x, y, yforg)`` of the writers ``users``, from ``--features-path`` or extracted with
    ``--model-path`` from ``--data-path``; ``check_users(args, y, yforg, source)`` validates the counts first."""
    if args.features_path is None:
        return features_from_model(args, users, check_users)

    feats = load_features(args.features_path)
    x, y, yforg = feats["features"], feats["y"], feats["yforg"]
    check_users(args, y, yforg, str(args.features_path))
    keep = np.isin(y, users)
    return x[keep], y[keep], yforg[keep]



# ---------------------------------------------------------------------------------------------------
# summaries and outputs
# ---------------------------------------------------------------------------------------------------

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


def write_outputs(args, out: Dict[str, Any], summary: Dict[str, Dict[str, float]], command: str,
                  thresholds: Dict[str, float]) -> None:
    """``--save-path`` (JSON, scores, optional pickle) and ``--plots`` of an evaluation ``out`` (``folds``,
    ``fold_results``, ``users`` as :func:`sigver.wd.test.run_evaluation` returns); shared by ``wd.test`` and
    ``wi.test``."""
    fold_metrics = [f["metrics"] for f in out["folds"]]
    # scores that are not finite (a broken model or features) are an error before anything is written
    results.check_scores([r["predictions"] for r in out["fold_results"]], command)
    if args.save_path is not None:
        from .. import __version__

        paths = results.result_paths(args.save_path)
        paths["json"].parent.mkdir(parents=True, exist_ok=True)
        results.save_scores(paths["scores"], [r["predictions"] for r in out["fold_results"]], out["users"],
                               extra={"eer_threshold": [m["global_threshold"] for m in fold_metrics],
                                      "thr": args.thr})
        if paths["pickle"] is not None:
            results.save_pickle(paths["pickle"], out["fold_results"])
        results.save_json(paths["json"], {
            "sigver_version": __version__, "command": command, "args": dict(vars(args)),
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
