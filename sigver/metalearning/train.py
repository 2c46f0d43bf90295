"""Meta-learn per-writer classifiers (MAML, docs/protocols.md): ``python -m sigver.metalearning.train``.

Meta-training on the development writers ``--dev-users A B`` (one task per writer and epoch), validation after
every epoch on the evaluation writers (``--exp-users``, else 0-300 with ``--use-testset``, else 300-350): adapt
to each writer's support set, measure the query accuracy after the last step; the best epoch is saved as
``best_model.pth``. Then the final evaluation: ``--folds`` times, new tasks for every evaluation writer, adapted
from ``best_model.pth`` read back from disk, scored with the shared metrics (``sigver.evaluation.metrics``) and written
like ``sigver.wd.test`` does (JSON + per-user scores ``.npz``; a ``--save-file`` ending in ``.pickle`` also
writes the original pickle). ``--test --checkpoint FILE`` runs only that evaluation, with exactly the numbers of
the end of training (the batch-norm statistics are in the checkpoint).

Optional supervised pre-training (``--pretrain-epochs N``, docs/protocols.md) of the same weights as SigNet (or
SigNet-F with ``--pretrain-forg``) on the ``--dev-users`` writers, with the shared training loop; its run folder
is ``LOGDIR/pretrain``.

Run folder (``--logdir``): ``args.json``, ``log.jsonl`` (one line per epoch: train loss / accuracy per inner step,
validation loss / accuracy per step), ``best_model.pth``, ``last_model.pth``, ``training_state.pth``
(``--resume``), the results files.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..cli import cli_main, nonnegative_int, positive_float, positive_int, unit_float
from ..datasets import get_subset, load_dataset, remove_forgeries
from ..evaluation import metrics as wd_metrics
from ..evaluation import results as wd_results
from ..featurelearning.models import make_heads
from ..featurelearning.trainer import Net, evaluate_split, training_step
from ..shapes import IMG_SIZE, INPUT_SIZE
from ..training.batching import VAL_FRACTION, DataSplitError, DeviceBatches, as_generator, split_indices
from ..training.loop import BEST_FILE, STATE_FILE, TrainingError, TrainLoop, write_run_info
from ..training.run import add_run_arguments, args_record, check_run_folder, log, make_run_logger, resume_run, \
    run_device, run_loop
from .data import TaskSampler
from .maml import MAML, load_maml, per_step_loss_weights, save_maml
from .models import PretrainWrapper, available_meta_models, create_meta_model

__all__ = ["main", "build_parser", "evaluation_users", "final_evaluation", "pretrain"]

BEST_MODEL = "best_model.pth"
LAST_MODEL = "last_model.pth"
PRETRAIN_DIR = "pretrain"


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser: the original's flags and defaults (docs/protocols.md) plus ``--device``, ``--resume``,
    ``--overwrite``, ``--no-progress``, ``--eval-batch-size``."""
    p = argparse.ArgumentParser(prog="python -m sigver.metalearning.train",
                                description="Meta-learn (MAML) classifiers that adapt to a new writer from a few "
                                            "reference signatures.")
    p.add_argument("--original-dataset-path", help="unused (kept for compatibility)")
    p.add_argument("--dataset-path", help="dataset .npz file (or .npy folder) from process_dataset")
    p.add_argument("--img-size", nargs=2, type=positive_int, default=IMG_SIZE, metavar=("H", "W"),
                   help="unused (kept for compatibility)")
    p.add_argument("--input-size", nargs=2, type=positive_int, default=INPUT_SIZE, metavar=("H", "W"),
                   help="crop size (150 220); the models' first dense layer follows it, smaller is faster")
    p.add_argument("--num-gen", type=positive_int, default=5, help="genuine signatures in the support set (5)")
    p.add_argument("--num-rf", type=nonnegative_int, default=10,
                   help="random forgeries in the support set (10; 0 = one-class)")
    p.add_argument("--num-gen-test", type=nonnegative_int, default=10, help="genuine signatures in the query set")
    p.add_argument("--num-rf-test", type=nonnegative_int, default=10, help="random forgeries in the query set")
    p.add_argument("--num-sk-test", type=nonnegative_int, required=True, help="skilled forgeries in the query set")
    p.add_argument("--model", required=True, choices=list(available_meta_models))
    p.add_argument("--train-lr", type=positive_float, default=1e-3, help="inner learning rate (initial value)")
    p.add_argument("--learn-task-lr", action="store_true", help="meta-learn per-step, per-tensor inner rates")
    p.add_argument("--meta-batch-size", type=positive_int, default=4, help="tasks per meta-step (4)")
    p.add_argument("--meta-lr", type=positive_float, default=1e-3, help="Adam learning rate (1e-3)")
    p.add_argument("--meta-min-lr", type=float, default=1e-5, help="floor of the cosine schedule (1e-5)")
    p.add_argument("--num-updates", type=positive_int, required=True, help="K, inner gradient steps")
    p.add_argument("--epochs", type=nonnegative_int, default=100)
    p.add_argument("--pretrain-epochs", type=nonnegative_int, default=0,
                   help="supervised pre-training epochs (SigNet loss) before meta-training")
    p.add_argument("--pretrain-forg", action="store_true", help="pre-train as SigNet-F (needs skilled forgeries)")
    p.add_argument("--pretrain-forg-lambda", type=unit_float, default=0.95)
    p.add_argument("--msl-epochs", type=nonnegative_int, default=15, help="multi-step loss annealing epochs")
    p.add_argument("--test", action="store_true", help="only evaluate --checkpoint on the evaluation writers")
    p.add_argument("--use-testset", action="store_true", help="evaluate on writers 0-300 (else 300-350)")
    p.add_argument("--dev-users", nargs=2, type=int, default=(350, 881), metavar=("A", "B"),
                   help="meta-training writers range(A, B) (350 881)")
    p.add_argument("--exp-users", nargs=2, type=int, default=None, metavar=("A", "B"),
                   help="evaluation writers range(A, B) (overrides --use-testset)")
    p.add_argument("--devset-size", type=positive_int, default=None, help="use a random subset of dev writers")
    p.add_argument("--devset-sk-size", type=nonnegative_int, default=None,
                   help="how many dev writers may have skilled forgeries in their query sets (default: all)")
    p.add_argument("--checkpoint", default=None, help="start from (or with --test: evaluate) this best_model.pth")
    p.add_argument("--folds", type=positive_int, default=10, help="repetitions of the final evaluation (10)")
    p.add_argument("--save-file", default=None, help="results file name inside --logdir (JSON; .pickle adds the "
                                                     "original pickle)")
    p.add_argument("--eval-batch-size", type=positive_int, default=None,
                   help="tasks adapted together at validation / test time (default: --meta-batch-size)")
    p.add_argument("--task-batching", choices=["auto", "together", "one"], default="auto",
                   help="adapt the tasks of a meta-batch together (grouped convolutions, batched matrix products) or "
                        "one at a time (the same computation, up to float rounding). auto: together on a GPU, one "
                        "at a time on a CPU, where scripts/bench_meta.py measured no gain")
    # --port: the original's name of --visdomport here; no --amp / --channels-last / --compile (the inner loop
    # is functional, outside what those flags change)
    add_run_arguments(p, seed=1234, logdir_required=False, logdir_help="run folder (default: "
                      "~/runs/gen..._rf..._...)", amp=False, channels_last=False, compile=False,
                      visdom_aliases=("--port",))
    return p


def default_logdir(args) -> Path:
    """The original's default run folder name under ``~/runs``."""
    name = (f"gen{args.num_gen}_rf{args.num_rf}_tgen{args.num_gen_test}_trf{args.num_rf_test}_tsk{args.num_sk_test}"
            f"_pretrain{args.pretrain_epochs}_epochs{args.epochs}_nupdates{args.num_updates}_devsize"
            f"{args.devset_size}_devsksize{args.devset_sk_size}_tasklr_{args.learn_task_lr}")
    return Path.home() / "runs" / name


def evaluation_users(args) -> range:
    """``--exp-users``, else 0-300 with ``--use-testset``, else 300-350 (docs/protocols.md)."""
    if args.exp_users is not None:
        return range(*args.exp_users)
    return range(0, 300) if args.use_testset else range(300, 350)


def _check_range(flag: str, users: range, n_users: int, path) -> None:
    a, b = users.start, users.stop
    if a < 0 or b <= a:
        raise DataSplitError(f"{flag} {a} {b}: expected 0 <= A < B (writer indices range(A, B))")
    if b > n_users:
        raise DataSplitError(f"{flag} {a} {b}: {path} has {n_users} writers (indices 0..{n_users - 1}); pass "
                             f"{flag} A B with B <= {n_users}")


def _check_args(args) -> None:
    if args.dataset_path is None:
        raise TrainingError("--dataset-path is required (a .npz from `python -m sigver.preprocessing."
                            "process_dataset` or `python -m sigver.datasets.synthetic --npz FILE`)")
    if args.test and not args.checkpoint:
        raise TrainingError("--test needs --checkpoint (a best_model.pth of a meta-learning run)")
    if args.resume is not None and args.checkpoint and not args.test:
        raise TrainingError("--resume and --checkpoint exclude each other")
    create_meta_model(args.model, input_size=args.input_size)  # an --input-size too small for the model
    check_run_folder(args, run_files=(STATE_FILE, BEST_MODEL))


def _tasks_per_s(line: str, record: Dict[str, Any]) -> str:
    """The loop's epoch summary with its throughput in tasks (what the loop counts here), not images."""
    n, seconds = record.get("train_images"), record.get("train_seconds")
    rate = f" {n / seconds:.2f} tasks/s" if n and seconds else ""
    return re.sub(r" \d+ images/s", rate, line)


# ---------------------------------------------------------------------------------------------------
# pre-training (docs/protocols.md)
# ---------------------------------------------------------------------------------------------------

def pretrain(args, maml: MAML, data, users: np.ndarray, device: torch.device, logdir: Path,
             resume: bool = False) -> List[Dict[str, Any]]:
    """Supervised pre-training of ``maml.weights`` (writer classification, SigNet or SigNet-F loss).

    Writers ``users`` only (the original used 350-881 whatever ``--dev-users``); the writer head has one class
    per writer with signatures among them. SGD lr 0.01, momentum 0.9, weight decay 1e-3, batch 32, 90/10 split,
    no decay; validation in eval mode. The batch-norm running statistics are trained too.
    """
    sub = get_subset(data, users)
    if not args.pretrain_forg:
        sub = remove_forgeries(sub)
    classes, y = np.unique(np.asarray(sub.y), return_inverse=True)
    if len(classes) < 2:
        raise DataSplitError(f"--pretrain-epochs: pre-training needs at least 2 writers, --dev-users gives "
                             f"{len(classes)}")
    yforg = np.asarray(sub.yforg, dtype=np.int64)
    yforg = np.where(yforg > 1, 1, yforg) if args.pretrain_forg else yforg
    train_idx, val_idx = split_indices(len(y), VAL_FRACTION, as_generator(args.seed + 2))
    full = DeviceBatches(np.ascontiguousarray(sub.x), y, yforg, tuple(args.input_size), device)
    train_data, val_data = full.subset(train_idx), full.subset(val_idx)
    wrapper = PretrainWrapper(maml.model, maml.weights)
    classification, forg_layer = make_heads(maml.model.feature_space_size, len(classes), forg=args.pretrain_forg)
    classification.to(device)
    if forg_layer is not None:
        forg_layer.to(device)
    heads = torch.nn.ModuleDict({"classification": classification})
    if forg_layer is not None:
        heads["forg"] = forg_layer
    net = Net(wrapper, heads)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-3)
    gen = as_generator(args.seed + 3)
    lamb = args.pretrain_forg_lambda

    loop = TrainLoop(
        modules={"model": wrapper, "heads": heads}, optimizer=optimizer,
        train_batches=lambda epoch: train_data.train_batches(32, gen),
        num_batches=lambda epoch: train_data.num_batches(32),
        step=lambda batch: training_step(net, batch, args.pretrain_forg, lamb, "L2"),
        evaluate=lambda epoch: evaluate_split(wrapper, classification, forg_layer, val_data, 32),
        logdir=logdir, epochs=args.pretrain_epochs, generators={"data": gen}, monitor="val_acc",
        device=device, progress=args.progress, print_fn=lambda line: log("pretrain: " + line))
    if resume and (logdir / STATE_FILE).exists():
        resume_run(loop, args, logdir / STATE_FILE, prefix="pretrain: ")
    log(f"pretrain: {len(train_data)} images of {len(classes)} writers for training, {len(val_data)} for "
         f"validation{' (SigNet-F)' if args.pretrain_forg else ''}")
    return loop.fit()


# ---------------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------------

def final_evaluation(maml: MAML, sampler: TaskSampler, folds: int, seed: int, batch_size: int,
                     progress: bool = False, batched: bool = True) -> Dict[str, Any]:
    """``folds`` rounds of new test tasks for every writer of ``sampler``, adapted from ``maml``.

    Returns
    -------
    dict
        ``folds`` (one record per fold: metrics of :func:`sigver.evaluation.metrics.compute_metrics` at threshold 0,
        validation accuracy / loss after the last step), ``predictions`` (per fold, the per-user score lists in
        the original's keys) and ``users``.
    """
    gen = as_generator(seed)
    records, predictions = [], []
    for k in range(folds):
        start = time.perf_counter()
        batches = sampler.batches(batch_size, gen, train=False, shuffle=False)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, total=sampler.num_batches(batch_size), desc=f"fold {k + 1}/{folds}",
                           leave=False, file=sys.stderr)
        out = maml.evaluate(batches, batched=batched)
        preds = {wd_results.PRED_KEYS[kind]: out[kind] for kind in wd_results.KINDS}
        m = wd_metrics.compute_metrics(preds["genuinePreds"], preds["randomPreds"], preds["skilledPreds"], 0.0)
        m["query_acc"] = float(out["query_acc"][-1])
        m["query_loss"] = float(out["query_loss"][-1])
        records.append({"fold": k, "thr": 0.0, "seconds": time.perf_counter() - start, "metrics": m})
        predictions.append(preds)
        log(f"fold {k + 1}/{folds}: EER {100 * m['EER']:.2f}%  EER_userthresholds "
             f"{100 * m['EER_userthresholds']:.2f}%  query acc {100 * m['query_acc']:.2f}%")
    return {"folds": records, "predictions": predictions, "users": [int(u) for u in sampler.users]}


def _save_results(args, out: Dict[str, Any], checkpoint: Path) -> None:
    from .. import __version__

    users = out["users"]
    name = args.save_file or f"results_{users[0]}_to_{users[-1]}_samples_{args.num_gen}"
    paths = wd_results.result_paths(Path(args.logdir) / name)
    fold_metrics = [f["metrics"] for f in out["folds"]]
    summary = wd_results.summarize(fold_metrics)
    wd_results.save_scores(paths["scores"], out["predictions"], users,
                           extra={"eer_threshold": [m["global_threshold"] for m in fold_metrics], "thr": 0.0})
    if paths["pickle"] is not None:
        wd_results.save_pickle(paths["pickle"], [{"all_metrics": f["metrics"], "predictions": p}
                                                 for f, p in zip(out["folds"], out["predictions"])])
    wd_results.save_json(paths["json"], {
        "sigver_version": __version__, "command": "python -m sigver.metalearning.train",
        "args": dict(vars(args)), "checkpoint": str(checkpoint), "users": users, "summary": summary,
        "folds": out["folds"],
        "notes": "rates are fractions (0.05 = 5%); scores are the logits of the adapted classifiers (threshold 0); "
                 "NaN is written as null, +-infinity as \"inf\"/\"-inf\""})
    eer = summary.get("EER", {})
    log(f"EER {100 * eer.get('mean', float('nan')):.2f}% +- {100 * eer.get('std', float('nan')):.2f}% over "
         f"{args.folds} folds")
    for p in paths.values():
        if p is not None:
            log(f"wrote {p}")


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------

def _samplers(args, data, device):
    n_users = data.n_users
    dev_range = range(*args.dev_users)
    exp_range = evaluation_users(args)
    _check_range("--dev-users", dev_range, n_users, args.dataset_path)
    _check_range("--exp-users" if args.exp_users is not None else "--use-testset", exp_range, n_users,
                 args.dataset_path)
    present = set(np.unique(np.asarray(data.y)).tolist())
    rng = np.random.RandomState(args.seed)
    dev_users = np.array([u for u in dev_range if u in present])
    if args.devset_size is not None:
        if args.devset_size > len(dev_users):
            raise DataSplitError(f"--devset-size {args.devset_size}: --dev-users has {len(dev_users)} writers")
        dev_users = np.sort(rng.choice(dev_users, args.devset_size, replace=False))
    sk_users = dev_users
    if args.devset_sk_size is not None:
        sk_users = rng.choice(dev_users, min(args.devset_sk_size, len(dev_users)), replace=False)
    exp_users = np.array([u for u in exp_range if u in present])
    counts = dict(num_gen=args.num_gen, num_rf=args.num_rf, num_gen_test=args.num_gen_test,
                  num_rf_test=args.num_rf_test, num_sk_test=args.num_sk_test, input_size=tuple(args.input_size),
                  device=device, source=str(args.dataset_path))
    test_sampler = TaskSampler(data.x, data.y, data.yforg, exp_users, **counts)
    train_sampler = None
    if not args.test:
        train_sampler = TaskSampler(data.x, data.y, data.yforg, dev_users, sk_users=sk_users, **counts)
    return train_sampler, test_sampler, dev_users


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m sigver.metalearning.train`` (see ``--help``)."""
    args = build_parser().parse_args(argv)
    if args.logdir is None:
        args.logdir = str(default_logdir(args))
    _check_args(args)
    device = run_device(args)
    torch.manual_seed(args.seed)
    data = load_dataset(args.dataset_path)
    train_sampler, test_sampler, dev_users = _samplers(args, data, device)
    logdir = Path(args.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    eval_bs = args.eval_batch_size or args.meta_batch_size
    batched = args.task_batching == "together" or (args.task_batching == "auto" and device.type == "cuda")

    if args.test:
        maml = load_maml(args.checkpoint, model=args.model, num_updates=args.num_updates, train_lr=args.train_lr,
                         device=device, input_size=args.input_size)
        _save_results(args, final_evaluation(maml, test_sampler, args.folds, args.seed, eval_bs, args.progress,
                                             batched),
                      Path(args.checkpoint))
        return 0

    run_args = args_record(args)
    write_run_info(logdir, run_args, name="args.resume.json" if args.resume is not None else "args.json")
    if args.checkpoint:
        maml = load_maml(args.checkpoint, model=args.model, num_updates=args.num_updates, train_lr=args.train_lr,
                         input_size=args.input_size)
        if args.learn_task_lr and not maml.learn_task_lr:
            maml = MAML(maml.model, args.num_updates, args.train_lr, True, weights=dict(maml.weights))
        log(f"initialised from {args.checkpoint}")
    else:
        maml = MAML(create_meta_model(args.model, input_size=args.input_size), args.num_updates, args.train_lr,
                    args.learn_task_lr, generator=as_generator(args.seed))
    maml.to(device)

    state_file = Path(args.resume) if args.resume else logdir / STATE_FILE
    resuming_meta = args.resume is not None and state_file.exists()
    if args.pretrain_epochs > 0 and not resuming_meta:
        pretrain(args, maml, data, dev_users, device, logdir / PRETRAIN_DIR, resume=args.resume is not None)

    optimizer = torch.optim.Adam(maml.parameters(), lr=args.meta_lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1),
                                                           eta_min=args.meta_min_lr)
    task_gen, val_gen = as_generator(args.seed + 4), as_generator(args.seed + 5)
    state = {"epoch": 0}

    def train_batches(epoch):
        state["epoch"] = epoch
        state["weights"] = per_step_loss_weights(epoch, args.num_updates, args.msl_epochs)
        return train_sampler.batches(args.meta_batch_size, task_gen, train=True)

    def step(batch):
        out = maml.meta_step(batch, optimizer, state["weights"], batched=batched)
        rec = {"loss": out["loss"], "acc": float(out["query_acc"][-1])}
        rec.update({f"query_loss_{k + 1}": float(v) for k, v in enumerate(out["query_loss"])})
        return rec

    def evaluate(epoch):
        out = maml.evaluate(test_sampler.batches(eval_bs, val_gen, train=False, shuffle=False), batched=batched)
        rec = {"val_loss": float(out["query_loss"][-1]), "val_acc": float(out["query_acc"][-1])}
        rec.update({f"val_acc_{k + 1}": float(v) for k, v in enumerate(out["query_acc"])})
        return rec

    def save_model(path, info):
        target = BEST_MODEL if Path(path).name == BEST_FILE else LAST_MODEL
        save_maml(logdir / target, maml, metadata={"args": run_args, "epoch": info["epoch"],
                                                   "val_acc": info.get("val_acc")})

    loop = TrainLoop(modules={"maml": maml}, optimizer=optimizer, scheduler=scheduler, train_batches=train_batches,
                     num_batches=lambda epoch: train_sampler.num_batches(args.meta_batch_size), step=step,
                     evaluate=evaluate, save_model=save_model, logdir=logdir, epochs=args.epochs,
                     generators={"tasks": task_gen, "val": val_gen}, monitor="val_acc", mode="max",
                     grad_clip_value=None, device=device, manual_backward=True, progress=args.progress,
                     print_fn=lambda line: log(_tasks_per_s(line, loop.history[-1])))
    loop.logger = make_run_logger(args)
    loop.log_every = args.log_every
    if resuming_meta:
        resume_run(loop, args, state_file)
    log(f"meta-training on {len(train_sampler)} writers, validation on {len(test_sampler)} writers")
    run_loop(loop)
    best = logdir / BEST_MODEL
    if not best.exists():  # no epoch (--epochs 0) or no validation value: the current weights
        save_maml(best, maml, metadata={"args": run_args, "epoch": None})
    if loop.best_epoch is not None:
        log(f"best validation accuracy {100 * loop.best:.2f}% at epoch {loop.best_epoch + 1}")
    best_maml = load_maml(best, model=args.model, device=device, input_size=args.input_size)
    _save_results(args, final_evaluation(best_maml, test_sampler, args.folds, args.seed, eval_bs, args.progress,
                                   batched),
                  best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
