"""``python -m sigver.adversarial.train_madry``: flags (docs/protocols.md), eval-mode attack, checkpoints, robustness."""
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from sigver.adversarial.attacks import pgd_l2
from sigver.adversarial.train_madry import build_parser, main, make_madry_step
from sigver.datasets import load_dataset
from sigver.featurelearning import load_checkpoint
from sigver.featurelearning.data import Batch, DeviceBatches, as_generator
from sigver.featurelearning.loop import TrainLoop
from sigver.featurelearning.losses import signet_loss

from .conftest import TinyNet

FAST = ["--model", "signet_thin", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress"]


def test_defaults_match_spec():
    a = build_parser().parse_args(["--model", "signet", "--logdir", "x"])
    assert (a.attack_steps, a.attack_l2) == (200, 20)
    assert (tuple(a.users), a.batch_size, a.lr, a.epochs, a.seed, a.forg, a.lamb) == ((350, 881), 32, 0.001, 20,
                                                                                       42, False, None)
    assert a.loss_type == "L2"  # no --loss-type flag (as the original); SigNet-F uses the L2 loss
    assert "--loss-type" not in build_parser().format_help()
    b = build_parser().parse_args(["--model", "signet", "--logdir", "x", "--attack-l2", "2.5", "--attack-steps",
                                   "10", "--visdomport", "8097"])
    assert (b.attack_l2, b.attack_steps, b.visdomport) == (2.5, 10, 8097)


def test_bad_input_one_line(capsys, tmp_path, adv_dataset):
    for extra, message in ((["--attack-l2", "-1"], "positive"), (["--attack-steps", "0"], "positive integer"),
                           (["--loss-type", "L1"], "unrecognized arguments")):
        try:
            code = main([*FAST, "--dataset-path", str(adv_dataset), "--users", "0", "6", "--logdir",
                         str(tmp_path / "r"), *extra])
        except SystemExit as e:  # argparse errors: one usage line + one message, status 2
            code = e.code
        assert code == 2
        assert message in capsys.readouterr().err
    code = main([*FAST, "--dataset-path", str(adv_dataset), "--users", "0", "9", "--logdir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "model_last.pth").exists()


def test_attack_runs_in_eval_mode_and_trains_on_adversarial_images():
    torch.manual_seed(0)
    model, head = TinyNet(), nn.Linear(32, 3)
    modes = []
    model.register_forward_pre_hook(lambda m, inp: modes.append(m.training))
    seen = []

    def signet_step(batch):
        seen.append(batch.x)
        return {"loss": signet_loss(head(model(batch.x)), batch.y)}

    args = SimpleNamespace(attack_steps=4, attack_l2=1.5, forg=False)
    step = make_madry_step(SimpleNamespace(args=args, model=model, classification=head), signet_step)
    model.train()
    x = torch.rand(5, 1, 150, 220)
    out = step(Batch(x, torch.tensor([0, 1, 2, 0, 1]), torch.zeros(5, dtype=torch.long)))
    assert modes == [False] * 5 + [True]  # 4 attack steps + the clean accuracy in eval mode, one training pass
    assert model.training and all(p.grad is None for p in model.parameters())
    delta = (seen[0] - x).flatten(1).norm(dim=1)
    assert (delta <= 1.5 + 1e-4).all() and (delta > 0).any()
    assert set(out) == {"loss", "acc_clean"}


def test_cli_run_writes_standard_checkpoints(capsys, tmp_path, adv_dataset):
    logdir = tmp_path / "madry"
    code = main([*FAST, "--dataset-path", str(adv_dataset), "--users", "0", "4", "--forg", "--lamb", "0.5",
                 "--attack-steps", "1", "--attack-l2", "3", "--logdir", str(logdir)])
    assert code == 0, capsys.readouterr().err
    model, cls, forg, meta = load_checkpoint(logdir / "model_last.pth")
    assert meta["architecture"] == "signet_thin" and cls.out_features == 4 and forg is not None
    assert meta["training_args"]["attack_l2"] == 3 and meta["training_args"]["attack_steps"] == 1
    first = (logdir / "log.jsonl").read_text().splitlines()[0]
    assert '"train_acc_clean"' in first and '"val_acc"' in first


def _success_rates(net, x, y, budgets):
    """Fraction of the correctly classified images that a 5-step PGD of each budget makes misclassified."""
    with torch.no_grad():
        correct = net(x).argmax(1) == y
    rates = []
    for budget in budgets:
        adv = pgd_l2(net, x[correct], y[correct], 5, budget, fast=True)
        with torch.no_grad():
            rates.append(float((net(adv).argmax(1) != y[correct]).float().mean()))
    return np.array(rates)


def test_madry_training_needs_larger_perturbations(adv_dataset):
    """On synthetic writers, the Madry-trained classifier resists the budgets that fool a normal one."""
    data = load_dataset(adv_dataset)
    genuine = data.yforg == 0
    y = np.asarray(data.y)[genuine].astype(np.int64)
    batches = DeviceBatches(data.x[genuine], y, np.zeros_like(y), (150, 220))

    def train(madry: bool):
        torch.manual_seed(0)
        model, head = TinyNet(), nn.Linear(32, int(y.max()) + 1)
        net = nn.Sequential(model, head)

        def signet_step(batch):
            return {"loss": signet_loss(net(batch.x), batch.y)}

        step = signet_step
        if madry:
            args = SimpleNamespace(attack_steps=5, attack_l2=1.0, forg=False)
            step = make_madry_step(SimpleNamespace(args=args, model=model, classification=head), signet_step)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        gen = as_generator(1)
        TrainLoop({"model": model, "head": head}, optimizer, lambda e: batches.train_batches(16, gen), step, 8,
                  progress=False, print_fn=None).fit()
        return net.eval()

    x, labels, _ = next(batches.eval_batches(len(batches)))
    budgets = [1.0, 2.0]
    normal = _success_rates(train(False), x, labels, budgets)
    madry = _success_rates(train(True), x, labels, budgets)
    # e.g. normal [0.42, 0.69] vs Madry [0.23, 0.26]: the same success needs a larger perturbation
    assert (madry < normal - 0.1).all(), (normal, madry)
