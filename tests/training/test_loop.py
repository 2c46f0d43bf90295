"""The shared training loop: eval-mode validation, files, best/last models, exact resume."""
import json

import pytest
import torch
from torch import nn

from sigver.training.batching import as_generator
from sigver.training.loop import TrainingError, TrainLoop, git_revision, write_run_info


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.body(x))


X = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()


def make_loop(logdir, epochs, seen_modes=None, saved=None):
    torch.manual_seed(0)
    model = Tiny()
    gen = as_generator(5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)

    def batches(epoch):
        perm = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), 8):
            idx = perm[i:i + 8]
            # noise from the generator, so that the RNG state matters for resume
            yield X[idx] + 0.1 * torch.randn(len(idx), 6, generator=gen), Y[idx]

    def step(batch):
        logits = model(batch[0])
        return {"loss": nn.functional.cross_entropy(logits, batch[1]),
                "acc": (logits.argmax(1) == batch[1]).float().mean()}

    def evaluate(epoch):
        if seen_modes is not None:
            seen_modes.append(model.training)
        return {"val_acc": (model(X).argmax(1) == Y).float().mean().item(), "val_loss": None}

    def save(path, info):
        if saved is not None:
            saved.append((path.name, info["epoch"]))
        torch.save(model.state_dict(), path)

    loop = TrainLoop({"model": model}, opt, batches, step, epochs, logdir=logdir, scheduler=sched,
                     evaluate=evaluate, save_model=save, generators={"data": gen}, progress=False, print_fn=None)
    return loop, model


def test_fit_writes_files_and_validates_in_eval_mode(tmp_path):
    modes, saved = [], []
    loop, model = make_loop(tmp_path / "run", 3, modes, saved)
    history = loop.fit()
    assert modes == [False, False, False] and model.training
    run = tmp_path / "run"
    lines = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2] == [r["epoch"] for r in history]
    assert [r["lr"] for r in lines] == pytest.approx([0.1, 0.05, 0.025])
    assert {"train_loss", "train_acc", "val_acc", "train_images_per_s"} <= set(lines[0])
    assert lines[0]["train_images"] == 40
    assert lines[-1]["train_loss"] < lines[0]["train_loss"]
    assert [n for n, _ in saved].count("model_last.pth") == 3
    best = [e for n, e in saved if n == "model_best.pth"]
    assert best and best[-1] == loop.best_epoch
    assert (run / "training_state.pth").is_file() and (run / "model_last.pth").is_file()


def test_resume_is_exact(tmp_path):
    one_go, model_a = make_loop(tmp_path / "a", 2)
    one_go.fit()
    first, _ = make_loop(tmp_path / "b", 1)
    first.fit()
    second, model_b = make_loop(tmp_path / "b", 2)  # a fresh process: new objects, different init state
    with torch.no_grad():
        for p in model_b.parameters():
            p.add_(1.0)
    assert second.resume(tmp_path / "b") == 1
    second.fit()
    for (k, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(a, b), k
    assert second.optimizer.param_groups[0]["lr"] == one_go.optimizer.param_groups[0]["lr"]
    log = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in log] == [0, 1]


def test_resume_errors(tmp_path):
    loop, _ = make_loop(None, 1)
    with pytest.raises(TrainingError, match="no training state"):
        loop.resume(tmp_path)
    (tmp_path / "training_state.pth").write_bytes(b"garbage")
    with pytest.raises(TrainingError, match="cannot read"):
        loop.resume(tmp_path)


def test_amp_and_manual_backward_run(tmp_path):
    loop, _ = make_loop(None, 1)
    loop.amp = True  # bf16 autocast on CPU
    assert loop.fit()[0]["train_loss"] > 0
    calls = []
    loop2, _ = make_loop(None, 1)
    loop2.manual_backward = True
    loop2.scheduler = None  # the step here never calls optimizer.step()
    inner = loop2.step
    loop2.step = lambda b: calls.append(1) or {k: v.detach() for k, v in inner(b).items()}
    loop2.fit()
    assert len(calls) == 5


def test_write_run_info(tmp_path):
    path = write_run_info(tmp_path, {"lr": 0.1, "users": (1, 2), "obj": object()})
    info = json.loads(path.read_text())
    assert info["args"]["users"] == [1, 2] and "git_revision" in info and info["torch_version"]
    assert git_revision(tmp_path) is None or isinstance(git_revision(tmp_path), str)
