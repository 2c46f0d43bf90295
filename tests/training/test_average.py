"""Stochastic weight averaging: the running mean of the weights, BatchNorm re-estimation, the loop's use."""
import pytest
import torch
from torch import nn

from sigver.training.average import WeightAverage, recompute_batchnorm
from sigver.training.loop import TrainingError, TrainLoop


def test_mean_of_weights_and_lr_held():
    torch.manual_seed(0)
    m = nn.Linear(3, 2)
    avg = WeightAverage({"m": m}, start=1, lr=0.05)
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    avg.set_lr(opt, 0)
    assert opt.param_groups[0]["lr"] == 1.0  # before the start: the schedule's
    avg.set_lr(opt, 1)
    assert opt.param_groups[0]["lr"] == 0.05
    snapshots = []
    for k in range(3):
        with torch.no_grad():
            m.weight.fill_(float(k))
        snapshots.append(m.weight.detach().clone())
        with avg.applied(epoch=1 + k) as loaded:
            assert loaded
            # the mean is loaded: (0 + 1 + ... + k) / (k + 1)
            assert torch.allclose(m.weight, torch.stack(snapshots).mean(0))
        assert torch.equal(m.weight, snapshots[-1])  # the trained weights are back
    assert avg.count == 3
    with avg.applied(epoch=0) as loaded:  # before the start: nothing happens
        assert not loaded
    assert avg.count == 3


def test_state_round_trip():
    m = nn.Linear(3, 2)
    a = WeightAverage({"m": m}, start=0, lr=0.1)
    with a.applied(0):
        pass
    b = WeightAverage({"m": nn.Linear(3, 2)}, start=0, lr=0.1)
    b.load_state_dict(a.state_dict())
    assert b.count == 1 and torch.equal(b.mean["m"]["weight"], a.mean["m"]["weight"])


def test_recompute_batchnorm_is_the_plain_mean():
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5))
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1)) * 3 + 2
    batches = [(x[i:i + 16], None) for i in range(0, 64, 16)]
    model.eval()
    assert recompute_batchnorm(model, batches) == 64
    assert not model.training and model[1].momentum == 0.1  # mode and momentum restored
    h = model[0](x).detach()
    assert torch.allclose(model[1].running_mean, h.mean(0), atol=1e-5)
    # no batches: the statistics are left as they were
    before = model[1].running_mean.clone()
    assert recompute_batchnorm(model, []) == 0
    assert torch.equal(model[1].running_mean, before)
    with pytest.raises(ValueError, match="start"):
        WeightAverage({"m": model}, start=-1, lr=0.1)


def test_loop_validates_and_saves_the_mean_and_resumes_it(tmp_path):
    def make(logdir, epochs):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.1)
        x = torch.randn(32, 2, generator=torch.Generator().manual_seed(3))
        y = (x[:, 0] > 0).long()
        gen = torch.Generator().manual_seed(4)
        seen = []

        def batches(epoch):
            perm = torch.randperm(32, generator=gen)
            return [(x[perm[i:i + 8]], y[perm[i:i + 8]]) for i in range(0, 32, 8)]

        def step(batch):
            return {"loss": nn.functional.cross_entropy(model(batch[0]), batch[1])}

        def evaluate(epoch):
            seen.append(model[0].weight.detach().clone())
            return {"val_acc": 0.5}

        avg = WeightAverage({"model": model}, start=1, lr=0.2,
                            refresh_batchnorm=lambda: recompute_batchnorm(model, batches(0)))
        saved = {}
        loop = TrainLoop({"model": model}, opt, batches, step, epochs, logdir=logdir, scheduler=sched,
                         evaluate=evaluate, generators={"data": gen}, average=avg, print_fn=None, progress=False,
                         save_model=lambda path, info: saved.__setitem__(path.name, model[0].weight.detach().clone()))
        return loop, model, seen, saved

    loop, model, seen, saved = make(tmp_path / "a", 3)
    history = loop.fit()
    assert [r["lr"] for r in history] == [0.5, 0.2, 0.2]  # held from the start epoch on
    assert [r.get("averaged_epochs") for r in history] == [None, 1, 2]
    assert torch.equal(seen[-1], loop.average.mean["model"]["0.weight"])  # validated: the mean
    assert torch.equal(saved["model_last.pth"], seen[-1])                # saved: the mean
    assert not torch.equal(model[0].weight, seen[-1])                     # trained weights back
    # resume after epoch 2 of 3 gives the same mean
    loop_b, _, _, _ = make(tmp_path / "b", 2)
    loop_b.fit()
    loop_c, _, seen_c, _ = make(tmp_path / "b", 3)
    loop_c.resume(tmp_path / "b")
    loop_c.fit()
    assert torch.allclose(seen_c[-1], seen[-1])
    # a run with averaging cannot be resumed without it
    loop_d, *_ = make(tmp_path / "b", 3)
    loop_d.average = None
    with pytest.raises(TrainingError, match="--swa"):
        loop_d.resume(tmp_path / "b")
