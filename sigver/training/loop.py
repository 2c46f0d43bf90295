"""The one training loop shared by every training stage (feature learning, adversarial, distillation, the
pre-training of meta-learning).

A stage plugs in by giving callables; the loop owns everything around them::

    loop = TrainLoop(
        modules={"model": model, "classification": head},     # saved / restored / switched train<->eval
        optimizer=optimizer, scheduler=scheduler,             # scheduler.step() once per epoch
        train_batches=lambda epoch: data.train_batches(32, gen),  # iterable of batches for one epoch
        step=lambda batch: {"loss": ..., "acc": ...},         # forward + loss of one batch (train mode)
        evaluate=lambda epoch: {"val_loss": ..., "val_acc": ...},  # eval mode, under torch.no_grad()
        save_model=lambda path, info: save_checkpoint(path, ...),  # writes model_best.pth / model_last.pth
        logdir="runs/x", epochs=20, generators={"data": gen}, monitor="val_acc",
    )
    loop.resume("runs/x/training_state.pth")   # optional: continue an interrupted run exactly
    history = loop.fit()

Per epoch the loop: puts the modules in train mode; for each batch zeroes the gradients, calls ``step``
under ``torch.autocast`` (bf16, with ``amp=True``), back-propagates ``out["loss"]``, clips gradients
element-wise (``grad_clip_value``, 10 as the original) and steps the optimiser; steps the scheduler; calls
``evaluate`` with the modules in eval mode (fixing docs/compatibility.md) and gradients off; appends one JSON line to
``log.jsonl``; calls ``save_model`` for ``model_last.pth`` and, when ``monitor`` improved (ties go to the later
epoch, as the original), for ``model_best.pth``; writes ``training_state.pth`` (every module, optimiser,
scheduler, the given generators, the global torch RNG, epoch, best value) so that :meth:`TrainLoop.resume`
continues bit-for-bit where the run stopped.

Only the main process (``is_main``, rank 0 under DistributedDataParallel) writes files and shows the progress bar.
"""
from __future__ import annotations

import io
import json
import math
import os
import random
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

import torch
from torch import nn

from .. import __version__
from ..errors import SigverError
from ..fileio import atomic_write

__all__ = ["TrainLoop", "TrainingError", "write_run_info", "git_revision", "append_jsonl", "STATE_FILE",
           "LOG_FILE", "ARGS_FILE", "BEST_FILE", "LAST_FILE"]

PathLike = Union[str, os.PathLike]

STATE_FILE = "training_state.pth"
LOG_FILE = "log.jsonl"
ARGS_FILE = "args.json"
BEST_FILE = "model_best.pth"
LAST_FILE = "model_last.pth"

StepFn = Callable[[Any], Mapping[str, Any]]


class TrainingError(SigverError, ValueError):
    """Bad training input: a run folder or state file that cannot be used, options that do not fit."""


# ---------------------------------------------------------------------------------------------------
# run folder helpers
# ---------------------------------------------------------------------------------------------------

def git_revision(path: Optional[PathLike] = None) -> Optional[str]:
    """``git rev-parse HEAD`` of the checkout holding ``path`` (default: this package), or None.

    A ``+dirty`` suffix marks uncommitted changes.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return str(value)


def write_run_info(logdir: PathLike, args: Mapping[str, Any], name: str = ARGS_FILE) -> Path:
    """Write ``args.json``: the arguments, command line, git revision, sigver/torch/python versions.

    Parameters
    ----------
    logdir : path-like
        Run folder (must exist).
    args : mapping
        The run's arguments (e.g. ``vars(argparse_namespace)``); non-JSON values are written as strings.
    name : str
        File name inside ``logdir``.
    """
    info = {
        "args": _jsonable(dict(args)),
        "argv": list(sys.argv),
        "git_revision": git_revision(),
        "sigver_version": __version__,
        "torch_version": torch.__version__,
        "python_version": sys.version.split()[0],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    text = json.dumps(info, indent=2) + "\n"
    return atomic_write(Path(logdir) / name, lambda f: f.write(text.encode("utf-8")))


def append_jsonl(path: PathLike, record: Mapping[str, Any]) -> None:
    """Append one JSON object as a line to ``path`` (created when missing)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(_jsonable(record)) + "\n")


# ---------------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------------

def _unwrap(module: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        if hasattr(module, "module") and isinstance(module.module, nn.Module):  # DDP, DataParallel
            module = module.module
        elif hasattr(module, "_orig_mod"):  # torch.compile
            module = module._orig_mod
        else:
            return module


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return len(batch)
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        return len(batch[0])
    return 1


class TrainLoop:
    """Epochs of ``step`` over ``train_batches``, validation, checkpoints, log and exact resume.

    Parameters
    ----------
    modules : mapping of str -> nn.Module
        Everything trained (model and heads; DDP / compiled wrappers are fine). Switched to train mode for
        training and to eval mode for ``evaluate``; their (unwrapped) state dicts go in the state file.
    optimizer : torch.optim.Optimizer
        Steps after each batch (unless ``manual_backward``).
    train_batches : callable ``epoch -> iterable of batches``
        Batches of one epoch. Draw random numbers from a generator listed in ``generators``.
    step : callable ``batch -> dict``
        Forward pass and loss of one batch, in train mode. Returns ``{"loss": scalar tensor, ...}``; every
        other entry (a number or scalar tensor, e.g. ``acc``) is averaged over the epoch, weighted by the
        batch size, and logged as ``train_<name>`` (``loss`` as ``train_loss``).
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    logdir : path-like, optional
        Run folder for ``log.jsonl``, ``training_state.pth`` and the models; created if missing. None:
        nothing is written.
    scheduler : LR scheduler, optional
        ``scheduler.step()`` after each epoch.
    evaluate : callable ``epoch -> dict of str -> float``, optional
        Validation metrics (e.g. ``val_loss``, ``val_acc``), called in eval mode under ``torch.no_grad``.
        A value may be None (nothing to measure).
    save_model : callable ``(path, info) -> None``, optional
        Writes the model file ``path`` (``model_last.pth`` each epoch, ``model_best.pth`` on improvement);
        ``info`` holds ``epoch`` and the epoch's metrics (e.g. for a checkpoint sidecar).
    generators : mapping of str -> torch.Generator, optional
        Random generators whose states are saved and restored with the run.
    monitor : str, optional
        Metric that selects ``model_best.pth`` (default ``val_acc``); when missing or None in an epoch,
        the best model is not updated. None: no best model.
    mode : {'max', 'min'}
        Whether a larger or a smaller ``monitor`` is better.
    grad_clip_value : float or None, default 10.0
        Element-wise gradient clipping (``clip_grad_value_``) over the optimiser's parameters.
    amp : bool, default False
        Run ``step`` under ``torch.autocast(dtype=torch.bfloat16)`` on ``device``'s type.
    device : str or torch.device, default 'cpu'
        Device of the batches (for autocast).
    manual_backward : bool, default False
        ``step`` does its own ``backward`` / ``optimizer.step`` (e.g. meta-learning); the loop only calls it.
    progress : bool, default True
        Show a tqdm bar per epoch (main process only).
    is_main : bool, default True
        Whether this process writes files and prints (False on DDP ranks other than 0).
    num_batches : callable ``epoch -> int``, optional
        Length of an epoch, for the progress bar.
    print_fn : callable, optional
        Where the one-line epoch summary goes (default: print to stderr); None silences it.
    logger : sigver.training.logging.Logger, optional
        Live curves (TensorBoard, visdom): every ``log_every`` steps the running means of ``step``'s
        outputs since the last point (``train/loss``, ``train/acc``, ...), and after each epoch the epoch
        record (``val/acc``, ``epoch/train_loss``, ``lr``, ...), all at x = optimiser steps done
        (main process only; not closed by the loop).
    log_every : int, default 100
        Steps between two training points of ``logger`` (the original plotted every 100 steps).
    average : sigver.training.average.WeightAverage, optional
        Stochastic weight averaging: from its start epoch the learning rate is held at its ``lr`` and the
        mean of the weights after each epoch is what is validated and saved (the record gets
        ``averaged_epochs``); the optimiser trains on. Its mean goes in the state file.
    """

    def __init__(self, modules: Mapping[str, nn.Module], optimizer: torch.optim.Optimizer,
                 train_batches: Callable[[int], Iterable[Any]], step: StepFn, epochs: int,
                 logdir: Optional[PathLike] = None, scheduler: Any = None,
                 evaluate: Optional[Callable[[int], Mapping[str, Any]]] = None,
                 save_model: Optional[Callable[[Path, Dict[str, Any]], None]] = None,
                 generators: Optional[Mapping[str, torch.Generator]] = None,
                 monitor: Optional[str] = "val_acc", mode: str = "max",
                 grad_clip_value: Optional[float] = 10.0, amp: bool = False,
                 device: Union[str, torch.device] = "cpu", manual_backward: bool = False,
                 progress: bool = True, is_main: bool = True,
                 num_batches: Optional[Callable[[int], int]] = None,
                 print_fn: Optional[Callable[[str], None]] = "stderr",
                 logger: Any = None, log_every: int = 100, average: Any = None):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        self.modules = dict(modules)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_batches = train_batches
        self.step = step
        self.evaluate = evaluate
        self.save_model = save_model
        self.generators = dict(generators or {})
        self.epochs = epochs
        self.logdir = Path(logdir) if logdir is not None else None
        self.monitor = monitor
        self.mode = mode
        self.grad_clip_value = grad_clip_value
        self.amp = amp
        self.device = torch.device(device)
        if self.device.type == "cuda":
            self.finite_check_every = 16
        self.manual_backward = manual_backward
        self.progress = progress and is_main
        self.is_main = is_main
        self.num_batches = num_batches
        if print_fn == "stderr":
            print_fn = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        self.print_fn = print_fn if is_main else None
        self.start_epoch = 0
        self.best: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.history: List[Dict[str, Any]] = []
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be a positive integer, got {log_every!r}")
        self.logger = logger if is_main else None
        self.log_every = log_every
        self.global_step = 0
        self.average = average
        if self.logdir is not None and self.is_main:
            self.logdir.mkdir(parents=True, exist_ok=True)

    # -- state ---------------------------------------------------------------------------------------

    def state_dict(self, epoch: int) -> Dict[str, Any]:
        """Everything needed to continue after ``epoch`` (0-based, completed)."""
        state = {
            "version": 1,
            "epoch": int(epoch),
            "epochs": int(self.epochs),
            "best": self.best,
            "best_epoch": self.best_epoch,
            "global_step": int(self.global_step),
            "modules": {k: _unwrap(m).state_dict() for k, m in self.modules.items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "generators": {k: g.get_state() for k, g in self.generators.items()},
            "torch_rng": torch.get_rng_state(),
            "python_rng": _python_rng_state(),
        }
        if self.average is not None:
            state["average"] = self.average.state_dict()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def save_state(self, path: PathLike, epoch: int) -> Path:
        """Write the state after ``epoch`` to ``path`` atomically."""
        buf = io.BytesIO()
        torch.save(self.state_dict(epoch), buf)
        return atomic_write(path, lambda f: f.write(buf.getbuffer()))

    def resume(self, path: PathLike) -> int:
        """Restore a run from a state file (or from the ``training_state.pth`` of a run folder).

        Returns
        -------
        int
            The epoch the loop will start from (the one after the last completed epoch).

        Raises
        ------
        TrainingError
            Missing or unreadable file, or a state that does not fit the modules / optimiser.
        """
        path = Path(path)
        if path.is_dir():
            path = path / STATE_FILE
        if not path.is_file():
            raise TrainingError(f"{path}: no training state to resume from; it is written after each epoch "
                                f"as {STATE_FILE} in the run's --logdir")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            detail = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise TrainingError(f"{path}: cannot read the training state ({detail}); it is truncated or not "
                                f"a sigver training state") from None
        if not isinstance(state, dict) or state.get("version") != 1 or "modules" not in state:
            raise TrainingError(f"{path}: not a sigver training state file")
        missing = set(self.modules) ^ set(state["modules"])
        if missing:
            raise TrainingError(f"{path}: the state holds modules {sorted(state['modules'])}, this run has "
                                f"{sorted(self.modules)}; resume with the same options (e.g. --forg)")
        try:
            for name, module in self.modules.items():
                _unwrap(module).load_state_dict(state["modules"][name])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise TrainingError(f"{path}: the saved state does not fit this run "
                                f"({str(e).strip().splitlines()[0][:200]}); resume with the same --model and "
                                f"options") from None
        for name, g in self.generators.items():
            if name in state["generators"]:
                g.set_state(state["generators"][name])
        torch.set_rng_state(state["torch_rng"])
        if state.get("python_rng") is not None:
            _set_python_rng_state(state["python_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            try:
                torch.cuda.set_rng_state_all(state["cuda_rng"])
            except Exception:  # different number of GPUs
                pass
        if (self.average is not None) != ("average" in state):
            raise TrainingError(f"{path}: the run was started {'with' if 'average' in state else 'without'} "
                                f"weight averaging (--swa); resume with the same options")
        if self.average is not None:
            self.average.load_state_dict(state["average"])
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
        self.start_epoch = int(state["epoch"]) + 1
        self.global_step = int(state.get("global_step", 0))
        return self.start_epoch

    # -- running -------------------------------------------------------------------------------------

    def _set_train(self, flag: bool) -> None:
        for m in self.modules.values():
            m.train(flag)

    def _params(self) -> List[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]

    def _autocast(self):
        if not self.amp:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _improved(self, value: Optional[float]) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None:
            return True
        return value >= self.best if self.mode == "max" else value <= self.best

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        """One pass of ``step`` over ``train_batches(epoch)``; returns the averaged metrics."""
        self._set_train(True)
        sums: Dict[str, torch.Tensor] = {}
        count = 0
        batches = self.train_batches(epoch)
        total = self.num_batches(epoch) if self.num_batches is not None else None
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(batches, total=total, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                       dynamic_ncols=True, file=sys.stderr)
            batches = bar
        t0 = time.perf_counter()
        window: Dict[str, torch.Tensor] = {}
        window_count = 0
        recent: List[torch.Tensor] = []  # losses not yet checked finite (one device sync per check)
        i = -1
        for i, batch in enumerate(batches):
            if not self.manual_backward:
                self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                out = self.step(batch)
            if "loss" not in out:
                raise TypeError("the step function must return a dict with a 'loss' entry")
            recent.append(out["loss"].detach() if isinstance(out["loss"], torch.Tensor)
                          else torch.tensor(float(out["loss"])))
            if len(recent) >= self.finite_check_every:
                self._check_losses(recent, epoch, i)
            if not self.manual_backward:
                out["loss"].backward()
                if self.grad_clip_value is not None:
                    nn.utils.clip_grad_value_(self._params(), self.grad_clip_value)
                self.optimizer.step()
            n = _batch_size(batch)
            count += n
            self.global_step += 1
            for k, v in out.items():
                v = v.detach().double() if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64)
                sums[k] = sums.get(k, 0) + v * n
                if self.logger is not None:
                    window[k] = window.get(k, 0) + v * n
            if self.logger is not None:
                window_count += n
                if self.global_step % self.log_every == 0:
                    for k, v in window.items():
                        self.logger.scalar(f"train/{k}", self.global_step, float(v) / max(window_count, 1))
                    window, window_count = {}, 0
            if bar is not None and (i % 10 == 0):
                bar.set_postfix(loss=f"{float(out['loss']):.4f}")
        if recent:
            self._check_losses(recent, epoch, i, counted=True)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - t0
        metrics = {("train_loss" if k == "loss" else f"train_{k}"): float(v) / max(count, 1) for k, v in sums.items()}
        metrics["train_images"] = count
        metrics["train_seconds"] = seconds
        metrics["train_images_per_s"] = count / seconds if seconds > 0 else None
        return metrics

    #: losses are checked finite every this many steps (1: before each backward pass; on a GPU a larger value
    #: avoids a device sync per step). The check names the first non-finite step exactly either way.
    finite_check_every: int = 1

    def _check_losses(self, recent: List[torch.Tensor], epoch: int, last: int, counted: bool = False) -> None:
        """Stop at the first non-finite loss among ``recent`` (steps ``last - len(recent) + 1 .. last``)."""
        values = torch.stack([v.float().reshape(()) for v in recent])
        ok = torch.isfinite(values)
        if bool(ok.all()):
            recent.clear()
            return
        first = int((~ok).nonzero()[0, 0])
        step_in_epoch = last - len(recent) + 1 + first
        global_step = self.global_step - (len(recent) - 1 - first) + (0 if counted else 1)  # 1-based
        state = self.logdir / STATE_FILE if self.logdir is not None else None
        kept = (f"the last good training state is kept in {state}" if state is not None and state.is_file()
                else "no training state of this run was saved yet")
        raise TrainingError(f"the loss is {float(values[first])} at epoch {epoch + 1}, step {step_in_epoch + 1} "
                            f"(optimiser step {global_step}): training stopped; {kept}; lower --lr (or check the "
                            f"data) and --resume or start again")

    def validate(self, epoch: int) -> Dict[str, Any]:
        """``evaluate(epoch)`` with the modules in eval mode and gradients off (empty dict without it)."""
        if self.evaluate is None:
            return {}
        self._set_train(False)
        try:
            with torch.no_grad(), self._autocast():
                return dict(self.evaluate(epoch))
        finally:
            self._set_train(True)

    def fit(self) -> List[Dict[str, Any]]:
        """Train from ``start_epoch`` (0, or where :meth:`resume` left off) to ``epochs``.

        Returns
        -------
        list of dict
            One record per epoch run in this call (as written to ``log.jsonl``).
        """
        for epoch in range(self.start_epoch, self.epochs):
            if self.average is not None:
                self.average.set_lr(self.optimizer, epoch)
            lr = self.optimizer.param_groups[0]["lr"]
            record: Dict[str, Any] = {"epoch": epoch, "lr": lr}
            record.update(self.train_epoch(epoch))
            if self.scheduler is not None:
                self.scheduler.step()
            # with weight averaging, the mean of the weights is what is validated and saved
            with self.average.applied(epoch) if self.average is not None else nullcontext(False) as averaged:
                if averaged:
                    record["averaged_epochs"] = self.average.count
                record.update(self.validate(epoch))
                value = record.get(self.monitor) if self.monitor else None
                improved = self._improved(value)
                if improved:
                    self.best, self.best_epoch = float(value), epoch
                record["best"] = improved
                if self.is_main and self.logdir is not None and self.save_model is not None:
                    self.save_model(self.logdir / LAST_FILE, dict(record))
                    if improved:
                        self.save_model(self.logdir / BEST_FILE, dict(record))
            if self.is_main and self.logdir is not None:
                self.save_state(self.logdir / STATE_FILE, epoch)
                append_jsonl(self.logdir / LOG_FILE, record)
            self.history.append(record)
            if self.logger is not None:
                from .logging import record_scalars

                for name, value in record_scalars(record):
                    self.logger.scalar(name, self.global_step, value)
                self.logger.flush()
            if self.print_fn is not None:
                self.print_fn(_summary(record, self.epochs))
            self.start_epoch = epoch + 1
        return self.history


def _summary(record: Mapping[str, Any], epochs: int) -> str:
    parts = [f"Epoch {record['epoch'] + 1}/{epochs}."]
    for key in ("train_loss", "val_loss", "val_acc", "val_forg_loss", "val_forg_acc"):
        v = record.get(key)
        if v is None:
            continue
        parts.append(f"{key.replace('_', ' ').capitalize()} {v * 100:.2f}%," if key.endswith("acc")
                     else f"{key.replace('_', ' ').capitalize()} {v:.4f},")
    ips = record.get("train_images_per_s")
    if ips:
        parts.append(f"{ips:.0f} images/s")
    if record.get("best"):
        parts.append("(best)")
    return " ".join(parts).rstrip(",")


def _python_rng_state():
    version, internal, gauss = random.getstate()
    return [int(version), [int(v) for v in internal], gauss]


def _set_python_rng_state(state) -> None:
    version, internal, gauss = state
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
