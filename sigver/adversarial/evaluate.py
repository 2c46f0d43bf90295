"""Attack a whole verification system: ``python -m sigver.adversarial.evaluate``.

The system is a feature extractor (a checkpoint) followed by each user's writer-dependent SVM, trained as in
``sigver.wd.test`` (one split of the exploitation writers drawn from ``RandomState(--seed)``, negatives from
the development writers; :mod:`sigver.wd.data`, :func:`sigver.wd.training.train_wdclassifier_user`). The
SVM is made differentiable (:class:`~sigver.adversarial.svm.TorchWDClassifier`, equal to sklearn's
``decision_function``), so the attack back-propagates from the score to the pixels (150 x 220, [0, 1]).

Two attacks per user, each against the decision ``score >= --thr`` (accepted):

- **type I**: a test genuine signature that the system accepts is perturbed until it is rejected;
- **type II**: a skilled forgery that the system rejects is perturbed until it is accepted.

For every L2 budget of ``--budgets`` the attack (``--attack pgd``: PGD with ``--attack-steps`` steps, fast
schedule unless ``--normal-schedule``; ``fgm``: one fast-gradient step of the full budget) runs on all of them;
the success rate is the fraction whose decision flipped. The noise is measured as its L2 norm and its RMSE
(``L2 / sqrt(150 * 220)``), pixels in [0, 1].

Writes into ``--out``: ``results.json`` (arguments, clean error rates, per budget and attack type: attacked,
succeeded, success rate, error rate after the attack, L2 and RMSE of the successful noise, timings),
``success_rate.png`` (success rate against the L2 budget, both types) and ``examples_type1.png`` /
``examples_type2.png`` (clean image, adversarial image and the amplified noise of a few successful attacks).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..cli import add_device_arguments, add_progress_argument, cli_main, nonnegative_int, positive_float, \
    positive_int, resolve_device
from ..datasets import load_dataset
from ..evaluation.protocol import EvaluationInputError, add_svm_arguments, check_common_args, check_wd_users
from ..evaluation.results import save_json
from ..featurelearning import extract_features, load_checkpoint
from ..featurelearning.checkpoint import resolve_input_size
from ..featurelearning.models import available_models
from ..shapes import INPUT_SIZE
from ..wd import data as wd_data
from ..wd.training import train_wdclassifier_user
from .attacks import fast_gradient_l2, l2_norm, pgd_l2
from .svm import TorchWDClassifier, VerificationSystem, decision_logits

__all__ = ["main", "build_parser", "attack_user", "summarize_attacks"]

RESULTS_FILE = "results.json"
PLOT_FILE = "success_rate.png"
EXAMPLE_FILES = {"type1": "examples_type1.png", "type2": "examples_type2.png"}
TYPES = {"type1": "genuine made to be rejected", "type2": "skilled forgery made to be accepted"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sigver.adversarial.evaluate",
        description="Adversarial attacks on a verification system (features + per-user SVM): success rate of "
                    "type-I and type-II attacks against the L2 budget.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_argument_group("input")
    src.add_argument("--model-path", required=True, help="checkpoint (.pth) of the feature extractor")
    src.add_argument("-m", "--model", choices=sorted(available_models), default=None,
                     help="architecture override (default: inferred by load_checkpoint)")
    src.add_argument("--data-path", required=True, help="dataset (.npz or .npy folder)")
    src.add_argument("--allow-pickle", action="store_true", help="unpickle the user_mapping of original files")
    src.add_argument("--input-size", nargs=2, type=positive_int, default=INPUT_SIZE, metavar=("H", "W"),
                     help="centre crop fed to the model (default: the checkpoint's, 150 220 for SigNet)")
    src.add_argument("--batch-size", type=positive_int, default=32, help="images attacked at once")
    add_device_arguments(src)

    proto = p.add_argument_group("writer-dependent classifiers (as sigver.wd.test, one split)")
    proto.add_argument("--exp-users", nargs=2, type=nonnegative_int, default=[0, 300], metavar=("A", "B"))
    proto.add_argument("--dev-users", nargs=2, type=nonnegative_int, default=[300, 881], metavar=("A", "B"))
    proto.add_argument("--gen-for-train", type=positive_int, default=12)
    proto.add_argument("--gen-for-test", type=nonnegative_int, default=10)
    proto.add_argument("--forg-from-exp", "--forg-from_exp", dest="forg_from_exp", type=nonnegative_int, default=0)
    proto.add_argument("--forg-from-dev", "--forg-from_dev", dest="forg_from_dev", type=nonnegative_int, default=14)
    proto.add_argument("--seed", type=int, default=1234, help="seed of the split (RandomState)")
    add_svm_arguments(p)
    proto.add_argument("--thr", type=float, default=0.0, help="decision threshold: accepted when score >= thr")

    att = p.add_argument_group("attack")
    att.add_argument("--attack", choices=["pgd", "fgm"], default="pgd",
                     help="pgd: PGD with a maximum L2 norm; fgm: single-step L2 fast gradient")
    att.add_argument("--attack-steps", type=positive_int, default=100, help="PGD steps")
    att.add_argument("--normal-schedule", action="store_true",
                     help="PGD with raw gradient steps (lr 1, x0.3 every steps/4) instead of the fast schedule")
    att.add_argument("--budgets", nargs="+", type=positive_float, default=[1, 2, 5, 10, 20], metavar="L2",
                     help="maximum L2 norms of the noise (pixels in [0, 1])")
    att.add_argument("--max-per-user", type=nonnegative_int, default=0,
                     help="attack at most this many signatures of each type per user (0: all)")

    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, metavar="DIR", help="folder for results.json and the PNG figures")
    out.add_argument("--examples", type=nonnegative_int, default=4, help="adversarial pairs shown per type")
    add_progress_argument(out)
    # flags of sigver.wd.test that this command does not have, for its checks
    p.set_defaults(target_far=None, features_path=None, save_path=None, plots=None)
    return p


def _check_args(args) -> None:
    check_common_args(args)  # files, user ranges (as sigver.wd.test)
    if args.forg_from_exp == 0 and args.forg_from_dev == 0:
        raise EvaluationInputError("--forg-from-exp and --forg-from-dev are both 0: the SVMs would have no negative sample")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise EvaluationInputError(f"--out {args.out}: exists and is not a folder")


# ---------------------------------------------------------------------------------------------------
# attacks
# ---------------------------------------------------------------------------------------------------

def _sum_ce(logits, labels):
    # a sum, not a mean: each sample's step does not depend on how many are attacked together
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")


def attack_user(system: VerificationSystem, images: torch.Tensor, genuine: np.ndarray, budget: float,
                attack: str = "pgd", steps: int = 100, fast: bool = True, thr: float = 0.0,
                batch_size: int = 32) -> Dict[str, np.ndarray]:
    """Attack a user's system on ``images``: genuine ones towards rejection, forgeries towards acceptance.

    Parameters
    ----------
    system : VerificationSystem
        Images -> scores, in eval mode.
    images : Tensor of float, shape (N, 1, h, w)
        Images in [0, 1] on the system's device.
    genuine : ndarray of bool, shape (N,)
        True for genuine signatures (attacked to be rejected), False for forgeries (to be accepted).
    budget : float
        Maximum L2 norm of the noise.

    Returns
    -------
    dict
        ``score`` (clean) and ``adv_score`` (N,), ``l2`` and ``rmse`` of the noise (N,), ``adversarial``
        (N, 1, h, w) float32 numpy.
    """
    model = lambda x: decision_logits(system(x), thr)  # noqa: E731
    labels_all = torch.as_tensor(np.asarray(genuine, dtype=np.int64), device=images.device)
    out: Dict[str, List[np.ndarray]] = {k: [] for k in ("score", "adv_score", "l2", "rmse", "adversarial")}
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        labels = labels_all[start:start + batch_size]
        if attack == "pgd":
            adv = pgd_l2(model, x, labels, steps, budget, (0.0, 1.0), fast=fast, loss_fn=_sum_ce)
        elif attack == "fgm":
            adv = fast_gradient_l2(model, x, labels, budget, (0.0, 1.0), loss_fn=_sum_ce)
        else:
            raise ValueError(f"attack must be 'pgd' or 'fgm', got {attack!r}")
        with torch.no_grad():
            l2 = l2_norm(adv - x)
            out["score"].append(system(x).cpu().numpy())
            out["adv_score"].append(system(adv).cpu().numpy())
        out["l2"].append(l2.cpu().numpy())
        out["rmse"].append((l2 / math.sqrt(x[0].numel())).cpu().numpy())
        out["adversarial"].append(adv.float().cpu().numpy())
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def _stats(values: np.ndarray) -> Optional[Dict[str, float]]:
    if len(values) == 0:
        return None
    return {"mean": float(np.mean(values)), "median": float(np.median(values)), "max": float(np.max(values))}


def summarize_attacks(records: Sequence[Dict[str, Any]], thr: float = 0.0) -> Dict[str, Any]:
    """Success rates and noise sizes of one budget, from the per-user outputs of :func:`attack_user`.

    Each record holds ``genuine`` (bool (N,)) and the arrays of :func:`attack_user`. Only the signatures the
    clean system decides correctly are attacked targets: accepted genuine (type I), rejected forgeries
    (type II). ``error_rate_after`` also counts the clean errors (FRR resp. FAR on skilled forgeries).
    """
    out = {}
    for kind, want_genuine in (("type1", True), ("type2", False)):
        succ_l2, succ_rmse, n_total, n_target, n_success = [], [], 0, 0, 0
        for r in records:
            sel = r["genuine"] == want_genuine
            score, adv = r["score"][sel], r["adv_score"][sel]
            correct = score >= thr if want_genuine else score < thr
            flipped = correct & ((adv < thr) if want_genuine else (adv >= thr))
            n_total += int(sel.sum())
            n_target += int(correct.sum())
            n_success += int(flipped.sum())
            succ_l2.append(r["l2"][sel][flipped])
            succ_rmse.append(r["rmse"][sel][flipped])
        l2 = np.concatenate(succ_l2) if succ_l2 else np.zeros(0)
        rmse = np.concatenate(succ_rmse) if succ_rmse else np.zeros(0)
        out[kind] = {
            "description": TYPES[kind], "signatures": n_total, "attacked": n_target, "succeeded": n_success,
            "success_rate": n_success / n_target if n_target else None,
            "clean_error_rate": (n_total - n_target) / n_total if n_total else None,
            "error_rate_after": (n_total - n_target + n_success) / n_total if n_total else None,
            "l2": _stats(l2), "rmse": _stats(rmse),
        }
    return out


# ---------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------

def plot_success(budgets: Sequence[float], results: Sequence[Dict[str, Any]], path: Path, title: str) -> Path:
    """Success rate of both attack types against the L2 budget (PNG)."""
    import matplotlib.ticker

    from ..evaluation.plots import figure, save_figure

    fig, (ax,) = figure(5.0, 3.6)
    for kind, style in (("type1", "o-"), ("type2", "s--")):
        rates = [r[kind]["success_rate"] for r in results]
        ax.plot(budgets, [np.nan if v is None else 100 * v for v in rates], style,
                label=f"{kind.replace('type', 'type ')}: {TYPES[kind]}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # only the budgets are labelled
    ax.set_xticks(list(budgets), [f"{b:g}" for b in budgets])
    ax.set_xlabel("L2 budget of the noise (pixels in [0, 1])")
    ax.set_ylabel("attack success rate (%)")
    ax.set_ylim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=8)
    return save_figure(fig, path)


def _examples(path: Path, picked: Sequence[Dict[str, Any]], kind: str) -> Optional[Path]:
    from ..visualize import contact_sheet

    if not picked:
        return None
    images, titles = [], []
    for e in picked:
        noise = np.abs(e["adversarial"] - e["clean"])[0]
        amp = 1.0 / max(float(noise.max()), 1e-12)
        images += [e["clean"][0], e["adversarial"][0], noise * amp]
        titles += [f"user {e['user']}: clean, score {e['score']:+.2f}",
                   f"adversarial, score {e['adv_score']:+.2f}",
                   f"|noise| x{amp:.0f}: L2 {e['l2']:.2f}, RMSE {e['rmse']:.4f}"]
    return contact_sheet(images, path, titles=titles, ncols=3, invert=True, vmin=0.0, vmax=1.0,
                         suptitle=f"{kind.replace('type', 'type ')} attacks ({TYPES[kind]})")


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------

def _select(idx: np.ndarray, limit: int) -> np.ndarray:
    return idx if limit <= 0 else idx[:limit]


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.adversarial.evaluate`` (see ``--help``)."""
    args = build_parser().parse_args(argv)
    _check_args(args)
    data = load_dataset(args.data_path, allow_pickle=args.allow_pickle)
    y = np.asarray(data.y).astype(np.int64)
    yforg = np.asarray(data.yforg).astype(np.int64)
    check_wd_users(args, y, yforg, str(args.data_path))
    device = resolve_device(args.device, args.gpu_idx)
    loaded = load_checkpoint(args.model_path, device=device, arch=args.model)
    h, w = resolve_input_size(args.input_size, checkpoint=loaded)
    H, W = data.x.shape[2], data.x.shape[3]
    if h > H or w > W:
        raise EvaluationInputError(f"--input-size {h} {w} is larger than the images of {args.data_path} ({H}x{W})")
    model = loaded.model.eval()
    for param in model.parameters():
        param.requires_grad_(False)

    users = np.arange(*args.exp_users), np.arange(*args.dev_users)
    keep = np.flatnonzero(np.isin(y, np.concatenate(users)))
    progress = args.progress
    print(f"extracting features of {len(keep)} images on {device}", file=sys.stderr)
    feats = np.zeros((len(y), 0), dtype=np.float32)
    kept = extract_features(model, data.x[keep], batch_size=args.batch_size, device=device, input_size=(h, w),
                            progress=progress)
    feats = np.zeros((len(y), kept.shape[1]), dtype=np.float32)
    feats[keep] = kept

    # the split, drawn on image indices so that the images of the test signatures are at hand
    rng = np.random.RandomState(args.seed)
    index = np.arange(len(y))
    exp = np.isin(y, users[0])
    dev = np.isin(y, users[1])
    exp_train, exp_test = wd_data.split_train_test((index[exp], y[exp], yforg[exp]), args.gen_for_train,
                                                   args.gen_for_test, rng)
    dev_neg = wd_data.get_random_forgeries_from_dev((index[dev], y[dev], yforg[dev]), args.forg_from_dev, rng)

    r, c = (H - h) // 2, (W - w) // 2
    budgets = sorted(set(float(b) for b in args.budgets))
    per_budget: List[List[Dict[str, Any]]] = [[] for _ in budgets]
    examples: Dict[str, List[Dict[str, Any]]] = {"type1": [], "type2": []}
    seconds, n_images = 0.0, 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(users[0]), desc="users", unit="user", file=sys.stderr)
    for user in users[0]:
        train_idx, train_y = wd_data.create_training_set_for_user(int(user), exp_train, args.forg_from_exp,
                                                                   dev_neg, rng)
        pipeline = train_wdclassifier_user((feats[train_idx], train_y), args.svm_type, args.svm_c, args.svm_gamma)
        system = VerificationSystem(model, TorchWDClassifier(pipeline)).eval()
        tx, ty, tf = exp_test
        gen_idx = _select(tx[(ty == user) & (tf == 0)], args.max_per_user)
        sk_idx = _select(tx[(ty == user) & (tf == 1)], args.max_per_user)
        idx = np.concatenate([gen_idx, sk_idx])
        genuine = np.r_[np.ones(len(gen_idx), bool), np.zeros(len(sk_idx), bool)]
        images = torch.from_numpy(np.ascontiguousarray(data.x[idx][:, :, r:r + h, c:c + w])).to(device)
        images = images.float().div_(255)
        for b, budget in enumerate(budgets):
            t0 = time.perf_counter()
            res = attack_user(system, images, genuine, budget, args.attack, args.attack_steps,
                              not args.normal_schedule, args.thr, args.batch_size)
            seconds += time.perf_counter() - t0
            n_images += len(idx)
            res["genuine"] = genuine
            per_budget[b].append({k: v for k, v in res.items() if k != "adversarial"})
            for kind, want in (("type1", True), ("type2", False)):
                ok = (genuine == want) & ((res["score"] >= args.thr) if want else (res["score"] < args.thr))
                flipped = ok & ((res["adv_score"] < args.thr) if want else (res["adv_score"] >= args.thr))
                # examples: the first successes at the smallest budget that has them, one per user
                if flipped.any() and len(examples[kind]) < args.examples \
                        and all(e["user"] != int(user) for e in examples[kind]):
                    i = int(np.flatnonzero(flipped)[0])
                    examples[kind].append({"user": int(user), "budget": budget, "clean": images[i].cpu().numpy(),
                                           "adversarial": res["adversarial"][i], "score": float(res["score"][i]),
                                           "adv_score": float(res["adv_score"][i]), "l2": float(res["l2"][i]),
                                           "rmse": float(res["rmse"][i])})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    results = [dict(budget=budget, **summarize_attacks(recs, args.thr)) for budget, recs in zip(budgets, per_budget)]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = args.attack_steps if args.attack == "pgd" else 1
    record = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "device": str(device),
        "attack": {"name": args.attack, "steps": steps,
                   "schedule": None if args.attack == "fgm" else ("normal" if args.normal_schedule else "fast")},
        "users": int(len(users[0])),
        "budgets": results,
        "timing": {"seconds": seconds, "images_attacked": n_images,
                   "images_per_s": n_images / seconds if seconds > 0 else None,
                   "gradient_steps_per_s": n_images * steps / seconds if seconds > 0 else None},
    }
    save_json(out_dir / RESULTS_FILE, record)
    title = (f"{Path(args.model_path).name}: {args.attack}"
             + (f" ({steps} steps, {record['attack']['schedule']})" if args.attack == "pgd" else "")
             + f", {len(users[0])} users, thr {args.thr:g}")
    plot_success(budgets, results, out_dir / PLOT_FILE, title)
    for kind, picked in examples.items():
        _examples(out_dir / EXAMPLE_FILES[kind], picked, kind)
    for res in results:
        line = [f"L2 <= {res['budget']:g}:"]
        for kind in ("type1", "type2"):
            k = res[kind]
            rate = "n/a" if k["success_rate"] is None else f"{100 * k['success_rate']:.1f}%"
            noise = "" if k["l2"] is None else f" (mean L2 {k['l2']['mean']:.2f}, RMSE {k['rmse']['mean']:.4f})"
            line.append(f"{kind.replace('type', 'type ')} {rate} of {k['attacked']}{noise}")
        print(" ".join(line), file=sys.stderr)
    print(f"{n_images} attacks in {seconds:.1f} s; results in {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
