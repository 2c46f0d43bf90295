"""``python -m sigver.adversarial.train_ensadv``: flags (docs/protocols.md), static models, rotation, checkpoints."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from sigver.adversarial.train_ensadv import build_parser, main, make_ensadv_step, parse_trained_models
from sigver.featurelearning import load_checkpoint
from sigver.featurelearning.data import Batch
from sigver.featurelearning.loop import TrainingError

FAST = ["--model", "signet_thin", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress"]


def test_defaults_match_spec_and_alpha_is_a_number():
    a = build_parser().parse_args(["--model", "signet", "--logdir", "x"])
    assert (a.alpha, a.eps, a.trained_models, a.loss_type) == (0.5, 5, None, "L2")
    assert (tuple(a.users), a.batch_size, a.lr, a.epochs, a.seed) == ((350, 881), 32, 0.001, 20, 42)
    b = build_parser().parse_args(["--model", "signet", "--logdir", "x", "--alpha", "0.25", "--eps", "2",
                                   "--trained-models", "signet_thin", "a.pth", "signet_smaller", "b.pth"])
    assert b.alpha == 0.25 and isinstance(b.alpha, float) and b.eps == 2
    assert b.trained_models == ["signet_thin", "a.pth", "signet_smaller", "b.pth"]


def test_parse_trained_models(tmp_path):
    (tmp_path / "a.pth").write_bytes(b"")
    assert parse_trained_models(None) == []
    assert parse_trained_models(["signet_thin", str(tmp_path / "a.pth")]) == [("signet_thin", tmp_path / "a.pth")]
    for values, message in ((["signet_thin"], "pairs"), (["resnet", str(tmp_path / "a.pth")], "unknown"),
                            (["signet", str(tmp_path / "b.pth")], "no such checkpoint")):
        with pytest.raises(TrainingError, match=message):
            parse_trained_models(values)


@pytest.mark.parametrize("extra, message", [
    (["--trained-models", "signet_thin"], "pairs"),
    (["--trained-models", "signet_thin", "{ckpt}", "--users", "0", "4"], "6 classes"),
])
def test_bad_input_one_line(capsys, tmp_path, adv_dataset, thin_checkpoint, extra, message):
    extra = [e.format(ckpt=thin_checkpoint) for e in extra]
    users = [] if "--users" in extra else ["--users", "0", "6"]
    code = main([*FAST, "--dataset-path", str(adv_dataset), *users, "--logdir", str(tmp_path / "r"), *extra])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert not (tmp_path / "r" / "model_last.pth").exists()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--model", "signet", "--logdir", "x", "--alpha", "1.5"])


def test_step_rotates_sources_in_eval_mode(thin_checkpoint):
    torch.manual_seed(0)
    model, head = nn.Sequential(nn.Flatten(), nn.Linear(150 * 220, 8)), nn.Linear(8, 6)
    net = lambda x: (head(model(x)), None)  # noqa: E731
    calls = []
    args = SimpleNamespace(trained_models=["signet_thin", str(thin_checkpoint)], alpha=0.25, eps=1.0, forg=False)
    loop = SimpleNamespace(global_step=0)
    ctx = SimpleNamespace(args=args, model=model, classification=head, net=net, n_classes=6, device="cpu",
                          loop=loop)

    def signet_step(batch):
        return {"loss": nn.functional.cross_entropy(net(batch.x)[0], batch.y)}

    step = make_ensadv_step(ctx, signet_step)
    static = load_checkpoint(thin_checkpoint).model
    for m, name in ((model, "trained"),):
        m.register_forward_pre_hook(lambda mod, inp, name=name: calls.append((name, mod.training)))
    batch = Batch(torch.rand(4, 1, 150, 220), torch.tensor([0, 1, 2, 3]), torch.zeros(4, dtype=torch.long))
    model.train()
    out = step(batch)
    assert calls[0] == ("trained", False) and calls[1:] == [("trained", True)] * 2  # source, clean, adversarial
    assert float(out["loss"].detach()) == pytest.approx(0.25 * out["clean_loss"].item() + 0.75 * out["adv_loss"].item())
    calls.clear()
    loop.global_step = 1  # the static model's turn: the trained model only runs its two training passes
    step(batch)
    assert calls == [("trained", True)] * 2
    assert static is not None


def test_cli_run_with_a_static_model(capsys, tmp_path, adv_dataset, thin_checkpoint):
    logdir = tmp_path / "ens"
    code = main([*FAST, "--dataset-path", str(adv_dataset), "--users", "0", "6", "--alpha", "0.5", "--eps", "2",
                 "--trained-models", "signet_thin", str(thin_checkpoint), "--logdir", str(logdir)])
    assert code == 0, capsys.readouterr().err
    model, cls, forg, meta = load_checkpoint(logdir / "model_best.pth")
    assert cls.out_features == 6 and forg is None and meta["training_args"]["alpha"] == 0.5
    assert '"train_adv_loss"' in (logdir / "log.jsonl").read_text()
