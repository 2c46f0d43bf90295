"""Live curves: the logger hooks of TrainLoop, TensorBoard and visdom against the real libraries."""
import json
import socket
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from sigver.training.logging import LoggingError, Logger, MultiLogger, record_scalars
from sigver.training.loop import TrainLoop
from sigver.featurelearning.train import main

FAST = ["--model", "signet_thin", "--batch-size", "16", "--device", "cpu", "--no-progress", "--users", "0", "8"]


class Recorder(Logger):
    def __init__(self):
        self.points = []
        self.closed = False

    def scalar(self, name, step, value):
        self.points.append((name, step, value))

    def close(self):
        self.closed = True


def _tiny_loop(logger, logdir=None, epochs=2, log_every=2):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(10, 3), torch.tensor([0, 1] * 5)

    def batches(epoch):
        for i in range(0, 10, 2):  # 5 steps per epoch
            yield x[i:i + 2], y[i:i + 2]

    def step(batch):
        out = model(batch[0])
        return {"loss": nn.functional.cross_entropy(out, batch[1]),
                "acc": (out.argmax(1) == batch[1]).float().mean()}

    return TrainLoop({"model": model}, opt, batches, step, epochs=epochs, logdir=logdir,
                     evaluate=lambda e: {"val_acc": 0.5 + e, "val_loss": None}, progress=False, print_fn=None,
                     logger=logger, log_every=log_every)


def test_loop_logs_steps_and_epochs():
    rec = Recorder()
    loop = _tiny_loop(rec)
    loop.fit()
    train = [(n, s) for n, s, _ in rec.points if n.startswith("train/")]
    assert train == [(n, s) for s in (2, 4, 6, 8, 10) for n in ("train/loss", "train/acc")]
    val = [(s, v) for n, s, v in rec.points if n == "val/acc"]
    assert val == [(5, 0.5), (10, 1.5)]
    names = {n for n, _, _ in rec.points}
    assert {"epoch/train_loss", "epoch/train_acc", "lr", "speed/train_images_per_s"} <= names
    assert "val/loss" not in names and "best" not in names  # None values and flags are not curves
    # the window mean of the first point is the mean of the losses of steps 1-2
    assert not rec.closed


def test_window_mean_equals_epoch_mean_when_window_is_epoch():
    rec = Recorder()
    _tiny_loop(rec, epochs=1, log_every=5).fit()
    point = {n: v for n, s, v in rec.points if s == 5}
    assert point["train/loss"] == pytest.approx(point["epoch/train_loss"])


def test_global_step_survives_resume(tmp_path):
    rec = Recorder()
    _tiny_loop(rec, logdir=tmp_path, epochs=1).fit()
    rec2 = Recorder()
    loop = _tiny_loop(rec2, logdir=tmp_path, epochs=2)
    assert loop.resume(tmp_path) == 1
    loop.fit()
    assert [s for n, s, _ in rec2.points if n == "val/acc"] == [10]
    assert min(s for _, s, _ in rec2.points) == 6


def test_bad_log_every():
    with pytest.raises(ValueError, match="log_every"):
        _tiny_loop(Recorder(), log_every=0)


def test_multilogger_and_record_scalars():
    a, b = Recorder(), Recorder()
    m = MultiLogger([a, b])
    m.scalar("x", 1, 2.0)
    m.close()
    assert a.points == b.points == [("x", 1, 2.0)] and a.closed and b.closed
    got = dict(record_scalars({"epoch": 0, "lr": 0.1, "train_loss": 1.0, "train_images": 5, "best": True,
                               "val_acc": 0.5, "val_forg_acc": None, "train_images_per_s": 3.0}))
    assert got == {"lr": 0.1, "epoch/train_loss": 1.0, "val/acc": 0.5, "speed/train_images_per_s": 3.0}


# ---------------------------------------------------------------------------------------------------
# TensorBoard (optional extra)
# ---------------------------------------------------------------------------------------------------

def _read_tensorboard(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_curves_from_training(capsys, tmp_path, tiny_dataset):
    pytest.importorskip("tensorboard")
    code = main([*FAST, "--epochs", "2", "--logdir", str(tmp_path), "--dataset-path", str(tiny_dataset),
                 "--tensorboard", "--log-every", "2"])
    assert code == 0, capsys.readouterr().err
    scalars = _read_tensorboard(tmp_path)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps and all(s % 2 == 0 for s in steps) and steps == sorted(steps)
    assert "train/acc" in scalars
    val = scalars["val/acc"]
    assert len(val) == 2 and val[1][0] == 2 * val[0][0]  # one point per epoch, at the epoch's last step
    assert [v for _, v in val] == pytest.approx([r["val_acc"] for r in log], abs=1e-6)
    assert [v for _, v in scalars["epoch/train_loss"]] == pytest.approx([r["train_loss"] for r in log], rel=1e-5)


def test_tensorboard_logger_direct(tmp_path):
    pytest.importorskip("tensorboard")
    from sigver.training.logging import TensorBoardLogger

    with TensorBoardLogger(tmp_path) as lg:
        for i in range(3):
            lg.scalar("a/b", i * 10, i / 2)
        lg.scalar("a/b", 40, float("nan"))  # dropped
    assert _read_tensorboard(tmp_path)["a/b"] == [(0, 0.0), (10, 0.5), (20, 1.0)]


def test_tensorboard_missing_is_one_line(capsys, tmp_path, tiny_dataset):
    try:
        import tensorboard  # noqa: F401
        pytest.skip("tensorboard is installed")
    except ImportError:
        pass
    code = main([*FAST, "--epochs", "1", "--logdir", str(tmp_path), "--dataset-path", str(tiny_dataset),
                 "--tensorboard"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install tensorboard" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------------
# visdom (optional extra)
# ---------------------------------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `python -m visdom.server` downloads its web scripts first and dies offline; the server itself does not
# need them to store and serve plot data
_SERVER = ("import sys; from visdom.server.run_server import start_server; "
           "start_server(port=int(sys.argv[1]), env_path=sys.argv[2], bind_local=True, base_url='')")


@pytest.fixture(scope="module")
def visdom_server(tmp_path_factory):
    pytest.importorskip("visdom")
    import visdom

    port = _free_port()
    env_path = tmp_path_factory.mktemp("visdom_env")
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(port), str(env_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = visdom.Visdom(port=port, raise_exceptions=True, use_incoming_socket=False)
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the visdom server did not start")
                time.sleep(0.2)
        yield port, client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _curve(client, win, env):
    data = client.get_window_data(win, env=env)
    assert data, f"no window {win!r} in env {env!r}"
    trace = json.loads(data)["content"]["data"][0]
    return list(zip(trace["x"], trace["y"]))


def test_visdom_logger_direct(visdom_server):
    from sigver.training.logging import VisdomLogger

    port, client = visdom_server
    lg = VisdomLogger(port, env="direct")
    for i in range(4):
        lg.scalar("train/loss", i * 100, 1.0 / (i + 1))
    lg.close()
    curve = _curve(client, "train/loss", "direct")
    assert [s for s, _ in curve] == [0, 100, 200, 300]
    assert [v for _, v in curve] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])


def test_visdom_curves_from_training(capsys, tmp_path, tiny_dataset, visdom_server):
    port, client = visdom_server
    code = main([*FAST, "--epochs", "2", "--logdir", str(tmp_path), "--dataset-path", str(tiny_dataset),
                 "--visdom-port", str(port), "--visdom-env", "run1", "--log-every", "2"])
    assert code == 0, capsys.readouterr().err
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    val = _curve(client, "val/acc", "run1")
    assert [v for _, v in val] == pytest.approx([r["val_acc"] for r in log], abs=1e-6)
    train = _curve(client, "train/loss", "run1")
    assert train and all(s % 2 == 0 for s, _ in train)


def test_visdom_without_server_is_one_line(capsys, tmp_path, tiny_dataset):
    pytest.importorskip("visdom")
    from sigver.training.logging import VisdomLogger

    port = _free_port()
    with pytest.raises(LoggingError, match="no visdom server"):
        VisdomLogger(port, timeout=0.5)
    code = main([*FAST, "--epochs", "1", "--logdir", str(tmp_path / "run"), "--dataset-path", str(tiny_dataset),
                 "--visdom-port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and "no visdom server" in err
    assert not (tmp_path / "run" / "model_last.pth").exists()
