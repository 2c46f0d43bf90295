"""The run set-up every training command shares: arguments, device and processes, run folder, optimiser,
resume, loggers and the arguments record.

A trainer (``featurelearning.train``, ``distillation.train``, ``metalearning.train``, the adversarial
trainers) declares its own data, model and loss flags and calls :func:`add_run_arguments` for the rest, so
that ``--device``, ``--logdir``, ``--resume``, ``--overwrite``, ``--seed``, ``--amp``, ``--channels-last``,
``--compile``, the live-curve loggers (``--tensorboard``, ``--visdomport``) and ``--no-progress`` mean the
same everywhere. Its ``main`` then goes through::

    check_run_folder(args)                        # before any data is loaded
    with distributed_run(args) as (device, rank, world):   # torchrun-aware device / process group
        ...                                       # data, model, step
        optimizer, scheduler = sgd_step_lr(params, args)     # SGD (Nesterov) + StepLR, the original's
        loop = TrainLoop(...)
        return fit_run(loop, args, args_record(args), is_main=rank == 0)
"""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence, Tuple

import torch

from ..cli import add_device_arguments, add_progress_argument, positive_int, resolve_device
from ..outputs import OutputError, check_output
from ..validation import changed_arguments, float_in
from .loop import LOG_FILE, STATE_FILE, TrainingError, TrainLoop, write_run_info

__all__ = ["add_run_arguments", "add_sgd_arguments", "add_swa_arguments", "make_weight_average", "lr_decay_times",
           "check_run_folder", "distributed", "distributed_run", "sgd_step_lr", "args_record", "make_run_logger",
           "resume_run", "run_loop", "fit_run", "log", "check_resume_args", "native_bf16", "amp_note",
           "BF16_CPU_FLAGS", "RESUME_FREE", "RESUME_FIXED"]


# ---------------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------------

def lr_decay_times(text: str) -> int:
    """argparse type of ``--lr-decay-times``: a positive integer (the original parsed it as a float, so
    ``3.0`` is accepted and kept as 3)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(value)


def add_sgd_arguments(p, epochs: int = 20) -> None:
    """The original's optimiser flags (SGD with Nesterov momentum, StepLR): ``--batch-size`` is not here
    (trainers name their own), ``--lr``, ``--lr-decay``, ``--lr-decay-times``, ``--momentum``,
    ``--weight-decay``, ``--epochs``."""
    p.add_argument("--lr", "-lr", type=float_in(0, low_open=True), default=0.001,
                   help="initial learning rate (default: 0.001)")
    p.add_argument("--lr-decay", type=float_in(0, 1, low_open=True), default=0.1, help="StepLR gamma (default: 0.1)")
    p.add_argument("--lr-decay-times", type=lr_decay_times, default=3,
                   help="number of LR decays: step size = epochs // this (default: 3)")
    p.add_argument("--momentum", type=float_in(0, 1, high_open=True), default=0.9)
    p.add_argument("--weight-decay", type=float_in(0), default=1e-4)
    p.add_argument("--epochs", type=positive_int, default=epochs)


def add_swa_arguments(p) -> None:
    """Stochastic weight averaging (not in the original): ``--swa EPOCH``, ``--swa-lr LR``
    (:func:`make_weight_average`)."""
    group = p.add_argument_group("weight averaging (not in the original)")
    group.add_argument("--swa", type=positive_int, default=None, metavar="EPOCH",
                       help="stochastic weight averaging: from epoch EPOCH (1-based) to the last, hold the learning "
                            "rate at --swa-lr and average the weights after each epoch; the mean (its BatchNorm "
                            "statistics re-estimated on the training images) is what is validated and saved. "
                            "Default: off, as the original")
    group.add_argument("--swa-lr", type=float_in(0, low_open=True), default=None, metavar="LR",
                       help="learning rate held during weight averaging (default: half of --lr)")


def make_weight_average(args, modules, refresh_batchnorm=None):
    """The :class:`~sigver.training.average.WeightAverage` of ``--swa`` / ``--swa-lr`` (None without
    ``--swa``); raises :class:`TrainingError` when ``--swa`` lies beyond ``--epochs``."""
    if getattr(args, "swa", None) is None:
        return None
    if args.swa > args.epochs:
        raise TrainingError(f"--swa {args.swa}: the run has {args.epochs} epochs; average from an epoch in "
                            f"1..{args.epochs}")
    from .average import WeightAverage

    lr = args.swa_lr if args.swa_lr is not None else args.lr / 2
    return WeightAverage(modules, start=args.swa - 1, lr=lr, refresh_batchnorm=refresh_batchnorm)


def add_run_arguments(p: argparse.ArgumentParser, *, seed: int = 42, logdir_required: bool = True,
                      logdir_help: str = "run folder (created if missing)", amp: bool = True,
                      channels_last: bool = True, compile: bool = True,
                      visdom_aliases: Sequence[str] = ()) -> argparse._ArgumentGroup:
    """The run flags shared by every trainer, in one ``run`` group; returns the group (for more flags).

    ``--device`` / ``--gpu-idx``, ``--logdir``, ``--resume [STATE]`` (None: a new run; '': the run folder's
    state; else a state file), ``--overwrite``, ``--seed``, ``--amp`` / ``--channels-last`` / ``--compile``
    (left out where the trainer cannot honour them), ``--tensorboard``, ``--visdomport`` (alias
    ``--visdom-port`` and ``visdom_aliases``), ``--visdom-server``, ``--visdom-env``, ``--log-every`` and
    ``--no-progress``.
    """
    run = p.add_argument_group("run")
    add_device_arguments(run)
    run.add_argument("--logdir", required=logdir_required, default=None, help=logdir_help)
    run.add_argument("--resume", nargs="?", const="", default=None, metavar="STATE",
                     help=f"continue an interrupted run from its {STATE_FILE} (default: the one in --logdir)")
    run.add_argument("--overwrite", action="store_true",
                     help="allow a new run in a --logdir that already holds one (its files are replaced)")
    run.add_argument("--seed", type=int, default=seed, help=f"random seed (default: {seed})")
    if amp:
        run.add_argument("--amp", action="store_true", help="mixed precision (bfloat16 autocast)")
    if channels_last:
        run.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    if compile:
        run.add_argument("--compile", action="store_true",
                         help="torch.compile the model (CUDA only; ignored on CPU)")
    run.add_argument("--tensorboard", action="store_true",
                     help="write live curves as TensorBoard event files into --logdir (needs the tensorboard "
                          "package); view with: tensorboard --logdir LOGDIR")
    run.add_argument("--visdomport", "--visdom-port", *visdom_aliases, dest="visdomport", type=int, default=None,
                     help="plot live curves to a visdom server on this port (needs the visdom package; start "
                          "the server first: python -m visdom.server -port PORT)")
    run.add_argument("--visdom-server", default="http://localhost",
                     help="visdom server address (default: http://localhost)")
    run.add_argument("--visdom-env", default="main", help="visdom environment of the plots (default: main)")
    run.add_argument("--log-every", type=positive_int, default=100,
                     help="steps between two points of the training curves (default: 100)")
    add_progress_argument(run)
    return run


def args_record(args) -> Dict[str, Any]:
    """``vars(args)`` with tuples as lists: what ``args.json`` and the checkpoint sidecars hold."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}


# ---------------------------------------------------------------------------------------------------
# checks, device and processes
# ---------------------------------------------------------------------------------------------------

def check_run_folder(args, run_files: Iterable[str] = (STATE_FILE, LOG_FILE)) -> None:
    """Checks shared by the training CLIs: the logger packages importable (``--tensorboard``,
    ``--visdomport``), ``--logdir`` usable and not holding a run (one of ``run_files``) unless ``--resume``,
    ``--overwrite`` or ``--test``. A model file alone is not a run: the first epoch's saving failed (e.g. a
    full disk) before its state and log line were written, and restarting loses nothing."""
    if getattr(args, "tensorboard", False):
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise TrainingError("--tensorboard needs the tensorboard package (pip install tensorboard); the "
                                "curves are also in log.jsonl in --logdir") from None
    if getattr(args, "visdomport", None) is not None:
        try:
            import visdom  # noqa: F401
        except ImportError:
            raise TrainingError("--visdomport needs the visdom package (pip install visdom); the curves are "
                                "also in log.jsonl in --logdir") from None
    logdir = Path(args.logdir)
    if logdir.exists() and not logdir.is_dir():
        raise TrainingError(f"--logdir {logdir}: exists and is not a folder")
    try:
        check_output(logdir, "folder", "--logdir")
    except OutputError as e:
        raise TrainingError(str(e)) from None
    if (not getattr(args, "test", False) and args.resume is None and not args.overwrite
            and any((logdir / f).exists() for f in run_files)):
        raise TrainingError(f"--logdir {logdir} already holds a run; pass --resume to continue it, --overwrite to "
                            f"replace it, or choose another --logdir")


#: CPU flags (Linux ``/proc/cpuinfo``) of native bfloat16 arithmetic: x86 AVX512-BF16 and AMX-BF16, Arm BF16
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def native_bf16(device, cpuinfo: str = "/proc/cpuinfo") -> Optional[bool]:
    """Whether ``device`` computes in bfloat16 natively: on CUDA ``torch.cuda.is_bf16_supported()``; on the CPU,
    whether ``cpuinfo``'s flags name one of :data:`BF16_CPU_FLAGS`. None where that cannot be told (no such
    file: another OS, or a device type without a known test).

    Without native bf16 a CPU emulates it, and ``--amp`` (bf16 autocast) trains slower than fp32: 0.56x the
    original-style fp32 loop on an Intel Xeon without AVX512-BF16 (where ``--channels-last`` alone gave 1.39x),
    against 2.09x on an AMD EPYC with it (``scripts/bench_train.py``, BENCHMARKS.md)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return None
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    if not flags:
        return None
    return any(f in flags for f in BF16_CPU_FLAGS)


def amp_note(device, cpuinfo: str = "/proc/cpuinfo") -> Optional[str]:
    """A one-line warning for ``--amp`` on a device known to lack native bf16 (:func:`native_bf16`), else None."""
    if native_bf16(device, cpuinfo) is not False:
        return None
    if torch.device(device).type == "cpu":
        return (f"warning: --amp on a CPU without native bfloat16 (none of {', '.join(BF16_CPU_FLAGS)} among the "
                f"flags of {cpuinfo}): bf16 is emulated and slower than fp32 here (0.5x measured, BENCHMARKS.md); "
                f"leave --amp out on this machine (--channels-last alone trained 1.4x faster there)")
    return "warning: --amp on a GPU without bfloat16 support: leave --amp out on this machine"


def distributed() -> Tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the torchrun environment ((0, 1, 0) without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def run_device(args, local_rank: int = 0, world: int = 1) -> torch.device:
    """The device of this process: ``--device`` / ``--gpu-idx`` (:func:`sigver.cli.resolve_device`), the
    local rank's GPU under torchrun; made the current CUDA device."""
    dev = resolve_device(args.device, getattr(args, "gpu_idx", 0), local_rank if world > 1 else None)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


@contextmanager
def distributed_run(args) -> Iterator[Tuple[torch.device, int, int]]:
    """``(device, rank, world_size)`` of this process; under torchrun the process group (NCCL on GPUs,
    gloo on CPU) is set up on entry and torn down on exit."""
    rank, world, local_rank = distributed()
    device = run_device(args, local_rank, world)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield device, rank, world
    finally:
        if world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def log(message: str, is_main: bool = True) -> None:
    """A progress line on stderr (main process only)."""
    if is_main:
        print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# optimiser, loggers, resume and fit
# ---------------------------------------------------------------------------------------------------

def sgd_step_lr(params, args) -> Tuple[torch.optim.Optimizer, Any]:
    """The original's optimiser: SGD with Nesterov momentum (``--lr``, ``--momentum``, ``--weight-decay``)
    and a StepLR schedule that decays by ``--lr-decay`` ``--lr-decay-times`` times over ``--epochs``."""
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=True,
                                weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, max(1, args.epochs // args.lr_decay_times),
                                                args.lr_decay)
    return optimizer, scheduler


def make_run_logger(args):
    """The live-curve logger of ``--tensorboard`` / ``--visdomport`` (None when neither is asked for)."""
    from .logging import make_loggers

    return make_loggers(tensorboard_dir=args.logdir if getattr(args, "tensorboard", False) else None,
                        visdom_port=getattr(args, "visdomport", None),
                        visdom_server=getattr(args, "visdom_server", "http://localhost"),
                        visdom_env=getattr(args, "visdom_env", "main"))


def resume_run(loop: TrainLoop, args, state=None, is_main: bool = True, prefix: str = "") -> int:
    """``loop.resume`` from ``state`` (default: ``--resume``'s file, or the run folder's state)."""
    state = state or args.resume or Path(args.logdir) / STATE_FILE
    start = loop.resume(state)
    log(f"{prefix}resumed from {state} at epoch {start + 1}/{loop.epochs}", is_main)
    return start


def run_loop(loop: TrainLoop):
    """``loop.fit()``, closing its logger whatever happens."""
    try:
        return loop.fit()
    finally:
        if loop.logger is not None:
            loop.logger.close()


def fit_run(loop: TrainLoop, args, training_args: Dict[str, Any], is_main: bool = True,
            make_logger: Optional[Callable[[], Any]] = None) -> int:
    """The end of every training CLI on the shared loop: ``--resume`` (``args.resume``: None, '' = the run
    folder's state, or a path), the live-curve logger (default: :func:`make_run_logger`), ``args.json``
    (``args.resume.json`` when resuming), ``loop.fit()``, and a line naming the best epoch. Returns 0."""
    if args.resume is not None:
        check_resume_args(args.logdir, training_args, is_main)
        resume_run(loop, args, is_main=is_main)
    if is_main and loop.amp:
        note = amp_note(loop.device)
        if note:
            log(note)
    if is_main:
        Path(args.logdir).mkdir(parents=True, exist_ok=True)
        loop.logger = make_logger() if make_logger is not None else make_run_logger(args)
        if getattr(args, "log_every", None):
            loop.log_every = args.log_every
        write_run_info(args.logdir, training_args, name="args.json" if args.resume is None else "args.resume.json")
    run_loop(loop)
    if is_main and loop.best_epoch is not None:
        log(f"best val_acc {loop.best * 100:.2f}% at epoch {loop.best_epoch + 1}; models in {args.logdir}")
    return 0


#: arguments that may change on --resume without a word (where and how the run is shown, not what it computes)
RESUME_FREE = {"resume", "overwrite", "logdir", "device", "gpu_idx", "progress", "visdomport", "visdom_server",
               "visdom_env", "tensorboard", "log_every", "epochs", "compile", "checkpoint", "test"}
#: arguments whose change makes the resumed run a different one: refused
RESUME_FIXED = {"model", "dataset_path", "users", "forg", "input_size", "seed", "loss_type", "augment", "swa",
                "kd_features", "kd_layer"}


def check_resume_args(logdir, training_args: Dict[str, Any], is_main: bool = True) -> None:
    """``--resume`` with other hyper-parameters than the run was started with: refuse what would make it
    another run (data, model, seed), warn about the rest (learning rate, batch size, ...), naming them."""
    import json

    try:
        old = json.loads((Path(logdir) / "args.json").read_text())
    except (OSError, ValueError):
        return  # no record of the original arguments (a state given by path, an old run)
    if not isinstance(old, dict):
        return
    old = old.get("args", old) if isinstance(old.get("args", old), dict) else old
    keys = [k for k in training_args if k not in RESUME_FREE]
    changed = changed_arguments(old, training_args, keys)
    if not changed:
        return
    text = ", ".join(f"--{k.replace('_', '-')} {a} -> {b}" for k, (a, b) in changed.items())
    fixed = [k for k in changed if k in RESUME_FIXED]
    if fixed:
        raise TrainingError(f"--resume: the run in {logdir} was started with other arguments ({text}); "
                            f"resume with the original ones, or start a new run (another --logdir or --overwrite)")
    log(f"warning: --resume with changed hyper-parameters ({text}); the run continues with the new values",
        is_main)
