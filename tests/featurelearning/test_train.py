"""``python -m sigver.featurelearning.train``: flags, files, bug fixes of docs/compatibility.md (1-3), DDP, learning."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from sigver.datasets import SyntheticSignatures, load_dataset
from sigver.featurelearning import extract_features, load_checkpoint
from sigver.featurelearning.data import DeviceBatches
from sigver.featurelearning.features import features_module
from sigver.featurelearning.models import create_model, make_heads
from sigver.featurelearning.train import build_parser, evaluate_split, main
from sigver.preprocessing.process_dataset import process_dataset
from sigver.training.loop import TrainingError
from sigver.training.run import native_bf16
from sigver.wd.metrics import writer_separation

from .conftest import N_WRITERS

FAST = ["--model", "signet_thin", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_defaults_match_spec():
    a = build_parser().parse_args(["--model", "signet", "--logdir", "x"])
    assert (a.dataset_path, tuple(a.input_size), tuple(a.users)) == (None, (150, 220), (350, 881))
    assert (a.batch_size, a.lr, a.lr_decay, a.lr_decay_times, a.momentum) == (32, 0.001, 0.1, 3, 0.9)
    assert (a.weight_decay, a.epochs, a.seed, a.forg, a.lamb, a.loss_type) == (1e-4, 20, 42, False, None, "L2")
    assert (a.checkpoint, a.test, a.gpu_idx, a.visdomport) == (None, False, 0, None)
    b = build_parser().parse_args(["--model", "signet", "--logdir", "x", "--visdom-port", "8097",
                                   "--lr-decay-times", "3.0"])
    assert b.visdomport == 8097 and b.lr_decay_times == 3 and isinstance(b.lr_decay_times, int)


@pytest.mark.parametrize("extra, message", [
    (["--dataset-path", "{tmp}/missing.npz", "--users", "0", "8"], "no such dataset file"),
    (["--dataset-path", "{data}", "--users", "0", "20"], "has 8 writers"),
    (["--dataset-path", "{data}", "--users", "5", "3"], "0 <= A < B"),
    (["--dataset-path", "{data}", "--users", "2", "3"], "at least 2"),
    (["--dataset-path", "{data}", "--users", "0", "8", "--forg"], "--forg needs --lamb"),
    (["--users", "0", "8"], "--dataset-path is required"),
    (["--dataset-path", "{data}", "--users", "0", "8", "--test"], "--test needs --checkpoint"),
])
def test_bad_input_one_line_error(capsys, tmp_path, tiny_dataset, extra, message):
    extra = [e.format(tmp=tmp_path, data=tiny_dataset) for e in extra]
    code, err = run(capsys, *FAST, "--logdir", tmp_path / "run", *extra)
    assert code == 2
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "model_last.pth").exists()


def test_visdom_missing_is_one_line(capsys, tmp_path, tiny_dataset):
    try:
        import visdom  # noqa: F401
        pytest.skip("visdom is installed")
    except ImportError:
        pass
    code, err = run(capsys, *FAST, "--logdir", tmp_path, "--dataset-path", tiny_dataset, "--users", 0, 8,
                    "--visdomport", 8097)
    assert code == 2 and "pip install visdom" in err


@pytest.mark.parametrize("loss_type", ["L1", "L2"])
def test_signet_f_run_files_and_checkpoint(capsys, tmp_path, tiny_dataset, loss_type):
    logdir = tmp_path / "run"
    code, err = run(capsys, *FAST, "--dataset-path", tiny_dataset, "--users", 2, 6, "--forg", "--lamb", 0.95,
                    "--loss-type", loss_type, "--logdir", logdir, "--amp", "--channels-last", "--compile")
    assert code == 0, err
    assert "--compile: ignored on CPU" in err
    # --amp on a CPU known to lack native bf16 is said once (it runs, slower than fp32); not said otherwise
    assert ("warning: --amp on a CPU without native bfloat16" in err) == (native_bf16("cpu") is False)
    for name in ("args.json", "log.jsonl", "model_best.pth", "model_last.pth", "model_best.json",
                 "training_state.pth"):
        assert (logdir / name).is_file(), name
    record = json.loads((logdir / "log.jsonl").read_text().splitlines()[0])
    assert all(np.isfinite(record[k]) for k in ("train_loss", "val_loss", "val_forg_loss", "val_forg_acc"))
    model, cls, forg, meta = load_checkpoint(logdir / "model_last.pth")
    assert meta["architecture"] == "signet_thin" and cls.out_features == 4 and forg is not None
    assert meta["classes"] == [2, 3, 4, 5] and meta["training_args"]["loss_type"] == loss_type
    assert json.loads((logdir / "args.json").read_text())["args"]["lamb"] == 0.95
    # a second run into the same folder must not overwrite it silently
    code, err = run(capsys, *FAST, "--dataset-path", tiny_dataset, "--users", 2, 6, "--logdir", logdir)
    assert code == 2 and "--resume" in err


def test_supcon_run_logs_its_term(capsys, tmp_path, tiny_dataset):
    logdir = tmp_path / "run"
    code, err = run(capsys, *FAST, "--dataset-path", tiny_dataset, "--users", 0, 6, "--forg", "--lamb", 0.5,
                    "--supcon", 0.2, "--supcon-temperature", 0.2, "--logdir", logdir)
    assert code == 0, err
    record = json.loads((logdir / "log.jsonl").read_text().splitlines()[0])
    assert np.isfinite(record["train_loss"])
    args = json.loads((logdir / "args.json").read_text())["args"]
    assert args["supcon"] == 0.2 and args["group_size"] is None
    with pytest.raises(SystemExit) as e:
        run(capsys, *FAST, "--dataset-path", tiny_dataset, "--users", 0, 6, "--supcon", -1, "--logdir", tmp_path)
    assert e.value.code == 2 and "--supcon" in capsys.readouterr().err


def test_validation_without_genuine_is_not_nan(tiny_dataset):
    model = create_model("signet_thin").eval()
    cls, forg = make_heads(model.feature_space_size, 3, forg=True)
    x = np.zeros((3, 1, 170, 242), np.uint8)
    data = DeviceBatches(x, [0, 1, 2], [1, 1, 1], (150, 220))
    out = evaluate_split(model, cls.eval(), forg.eval(), data, 2)
    assert out["val_loss"] is None and out["val_acc"] is None
    assert np.isfinite(out["val_forg_loss"]) and out["val_forg_acc"] in (0.0, 1.0)


def test_resume_equals_one_go(capsys, tmp_path, tiny_dataset):
    common = ["--model", "signet_thin", "--batch-size", 16, "--device", "cpu", "--no-progress",
              "--dataset-path", tiny_dataset, "--users", 0, 4]
    assert run(capsys, *common, "--epochs", 2, "--logdir", tmp_path / "a")[0] == 0
    assert run(capsys, *common, "--epochs", 1, "--logdir", tmp_path / "b")[0] == 0
    code, err = run(capsys, *common, "--epochs", 2, "--logdir", tmp_path / "b", "--resume")
    assert code == 0 and "resumed" in err
    a = torch.load(tmp_path / "a" / "model_last.pth", weights_only=True)
    b = torch.load(tmp_path / "b" / "model_last.pth", weights_only=True)
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    # --checkpoint: fine-tuning starts from the given weights; --test evaluates them
    code, err = run(capsys, *common, "--epochs", 1, "--logdir", tmp_path / "c", "--checkpoint",
                    tmp_path / "a" / "model_last.pth")
    assert code == 0 and "initialised from" in err
    code, err = run(capsys, *common, "--logdir", tmp_path / "d", "--test", "--checkpoint",
                    tmp_path / "a" / "model_last.pth")
    assert code == 0 and "val_acc" in err
    code, err = run(capsys, *common, "--logdir", tmp_path / "d", "--test", "--checkpoint",
                    tmp_path / "a" / "model_last.pth", "--users", 0, 8)
    assert code == 2 and "classes" in err


def test_weight_averaging(capsys, tmp_path, tiny_dataset):
    """--swa: the held learning rate, the averaged epochs in the log, the mean saved (BatchNorm statistics
    re-estimated), and --resume giving the same mean as one go."""
    common = ["--model", "signet_thin", "--batch-size", 16, "--device", "cpu", "--no-progress", "--forg",
              "--lamb", 0.5, "--dataset-path", tiny_dataset, "--users", 0, 4, "--swa", 2, "--swa-lr", 3e-4]
    assert run(capsys, *common, "--epochs", 3, "--logdir", tmp_path / "a")[0] == 0
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in log] == [1e-3, 3e-4, 3e-4]
    assert [r.get("averaged_epochs") for r in log] == [None, 1, 2]
    state = torch.load(tmp_path / "a" / "training_state.pth", weights_only=True)
    mean = state["average"]["mean"]["model"]
    saved = load_checkpoint(tmp_path / "a" / "model_last.pth").model.state_dict()
    trained = state["modules"]["model"]
    for key, value in mean.items():
        assert torch.allclose(saved[key].float(), value), key
    bn = [k for k in saved if k.endswith("running_mean")][0]
    assert not torch.equal(saved[bn], trained[bn])  # the mean's own BatchNorm statistics
    assert run(capsys, *common, "--epochs", 2, "--logdir", tmp_path / "b")[0] == 0
    code, err = run(capsys, *common, "--epochs", 3, "--logdir", tmp_path / "b", "--resume")
    assert code == 0, err
    resumed = load_checkpoint(tmp_path / "b" / "model_last.pth").model.state_dict()
    for key in saved:
        assert torch.equal(saved[key], resumed[key]), key
    # averaging from an epoch the run does not have: a one-line error, nothing written
    code, err = run(capsys, *common[:-4], "--swa", 5, "--epochs", 3, "--logdir", tmp_path / "c")
    assert code == 2 and "--swa 5" in err and not (tmp_path / "c").exists()


def test_teachers_target_is_their_mean_distribution(tmp_path, tiny_dataset, capsys):
    """Teachers: one teacher's target is its own distribution, several give the mean of theirs (at T)."""
    from sigver.featurelearning.trainer import Teachers

    common = [*FAST, "--dataset-path", tiny_dataset, "--users", 0, 4]
    for seed in (1, 2):
        assert run(capsys, *common, "--seed", seed, "--logdir", tmp_path / f"t{seed}")[0] == 0
    paths = [tmp_path / f"t{seed}" / "model_last.pth" for seed in (1, 2)]
    ids = load_checkpoint(paths[0]).metadata["writer_ids"]
    x = torch.rand(5, 1, 150, 220)
    for t in (1.0, 4.0):
        both = Teachers(paths, ids, t, torch.device("cpu"))
        probs = [torch.softmax(head(model(x)) / t, 1) for model, head in both.members]
        assert torch.allclose(torch.softmax(both.target_logits(x) / t, 1), (probs[0] + probs[1]) / 2, atol=1e-6)
        one = Teachers(paths[:1], ids, t, torch.device("cpu"))
        z = one.members[0][1](one.members[0][0](x))
        keep = torch.tensor([True, False, True, True, True])
        assert float(one.loss(x, z, keep)["kd_loss"]) == pytest.approx(0, abs=1e-6)  # the teacher: nothing to learn
        assert float(one.loss(x, torch.zeros_like(z), keep)["kd_loss"]) > 0
        assert float(one.loss(x, z, torch.zeros(5, dtype=torch.bool))["kd_loss"]) == 0  # no genuine sample
    # with features: the teachers' fc1 side by side, from the same forward pass as their logits
    both = Teachers(paths, ids, 2.0, torch.device("cpu"), feature_layer="fc1")
    assert both.feature_size == 2 * 1024
    logits, features = both.targets(x)
    with torch.no_grad():
        expected = torch.cat([features_module(model, "fc1")(x) for model, _ in both.members], 1)
    assert torch.allclose(features, expected, atol=1e-6) and torch.allclose(logits, both.target_logits(x))
    z = torch.zeros(5, len(ids))
    terms = both.loss(x, z, torch.ones(5, dtype=torch.bool), mapped=expected)
    assert float(terms["kd_feature_loss"]) == pytest.approx(0, abs=1e-6) and float(terms["kd_loss"]) > 0
    assert float(both.loss(x, z, keep, mapped=torch.zeros_like(expected))["kd_feature_loss"]) == pytest.approx(1)
    with pytest.raises(TrainingError, match="layer"):
        Teachers(paths, ids, 2.0, torch.device("cpu"), feature_layer="fc7")


#: SigNet-F runs of the distillation tests: 3 epochs at lr 0.01, enough for the teachers' distributions and
#: features to carry signal on the tiny set (at 2 epochs and lr 1e-3 they are near uniform, and whether a student
#: ends nearer them depends on the machine's rounding)
KD_RUN = ["--model", "signet_thin", "--batch-size", 16, "--device", "cpu", "--no-progress", "--users", 0, 4,
          "--forg", "--lamb", 0.5, "--epochs", 3, "--lr", 0.01]


@pytest.fixture(scope="module")
def kd_teachers(tmp_path_factory, tiny_dataset):
    """Two SigNet-F checkpoints (seeds 1 and 2) of writers 0-3 of the tiny set."""
    out = tmp_path_factory.mktemp("teachers")
    paths = []
    for seed in (1, 2):
        assert main([str(a) for a in (*KD_RUN, "--dataset-path", tiny_dataset, "--seed", seed,
                                      "--logdir", out / f"t{seed}")]) == 0
        paths.append(out / f"t{seed}" / "model_last.pth")
    return paths


def test_distillation_run(capsys, tmp_path, tiny_dataset, kd_teachers):
    """--teacher: the term is logged and pulls the model towards the teachers; teachers of other writers are a
    one-line error before anything is written."""
    from sigver.featurelearning.trainer import Teachers

    common = [*KD_RUN, "--dataset-path", tiny_dataset]
    teachers = kd_teachers
    kl = {}
    for weight in (0, 1):
        logdir = tmp_path / f"kd{weight}"
        code, err = run(capsys, *common, "--seed", 3, "--logdir", logdir, "--teacher", *teachers,
                        "--kd-weight", weight, "--kd-temperature", 2, "--amp", "--channels-last")
        assert code == 0 and "distilling from 2 teacher(s)" in err, err
        record = json.loads((logdir / "log.jsonl").read_text().splitlines()[-1])
        assert np.isfinite(record["train_kd_loss"]) and record["train_kd_loss"] >= 0
        assert json.loads((logdir / "args.json").read_text())["args"]["teacher"] == [str(t) for t in teachers]
        student = load_checkpoint(logdir / "model_last.pth")
        ens = Teachers(teachers, student.metadata["writer_ids"], 2.0, torch.device("cpu"))
        x = torch.from_numpy(load_dataset(tiny_dataset).x[:40, :, 10:160, 11:231]).float() / 255
        with torch.no_grad():
            z = student.classification_layer(student.model(x))
            kl[weight] = float(ens.loss(x, z, torch.ones(len(x), dtype=torch.bool))["kd_loss"])
    assert kl[1] < kl[0], kl
    # teachers trained on other writers: refused, the run folder left empty
    code, err = run(capsys, *common, "--users", 2, 6, "--epochs", 1, "--logdir", tmp_path / "bad",
                    "--teacher", teachers[0])
    assert code == 2 and "--teacher" in err and "other writers" in err, err
    assert not (tmp_path / "bad" / "log.jsonl").exists()
    code, err = run(capsys, *common, "--test", "--checkpoint", teachers[0], "--teacher", teachers[0],
                    "--logdir", tmp_path / "t")
    assert code == 2 and "--teacher" in err


def test_feature_distillation_run(capsys, tmp_path, tiny_dataset, kd_teachers):
    """--kd-features: the model's fc1, through a trained map, learns the teachers' fc1 side by side: the term is
    logged, falls, and ends lower than the same run without it; the map is kept for --resume, not in the model;
    without --teacher, or with a layer the model lacks, a one-line error before anything is written."""
    common = [*KD_RUN, "--dataset-path", tiny_dataset]
    teachers = kd_teachers
    logdir = tmp_path / "kdf"
    kd = ["--teacher", *teachers, "--kd-weight", 0, "--kd-features", 5, "--kd-layer", "fc1"]
    code, err = run(capsys, *common, "--seed", 3, "--logdir", logdir, *kd)
    assert code == 0 and "features of fc1, weight 5.0, 2048 values" in err, err
    log = [json.loads(s) for s in (logdir / "log.jsonl").read_text().splitlines()]
    losses = [r["train_kd_feature_loss"] for r in log]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    state = torch.load(logdir / "training_state.pth", weights_only=False)
    assert state["modules"]["kd_map"]["weight"].shape == (2048, 1024)
    student = load_checkpoint(logdir / "model_last.pth")  # the standard checkpoint: model and heads only
    assert not any("kd_map" in k for k in student.model.state_dict())
    # resumed one epoch further: the map comes back; the resumed run must keep --kd-features
    code, err = run(capsys, *common, "--epochs", 4, "--seed", 3, "--logdir", logdir, "--resume", *kd)
    assert code == 0, err
    code, err = run(capsys, *common, "--epochs", 5, "--seed", 3, "--logdir", logdir, "--resume",
                    "--teacher", *teachers)
    assert code == 2 and "--kd-features" in err, err
    # the feature distance of the students, with and without the term
    from sigver.featurelearning.trainer import Teachers

    x = torch.from_numpy(load_dataset(tiny_dataset).x[:40, :, 10:160, 11:231]).float() / 255
    ens = Teachers(teachers, student.metadata["writer_ids"], 2.0, torch.device("cpu"), feature_layer="fc1")
    target = ens.targets(x)[1]
    assert run(capsys, *common, "--seed", 3, "--logdir", tmp_path / "plain")[0] == 0
    fit = {}
    for name in ("kdf", "plain"):
        with torch.no_grad():
            f = features_module(load_checkpoint(tmp_path / name / "model_last.pth").model, "fc1")(x)
        # the best linear map from the student's fc1 to the teachers' (least squares): how much of them it holds
        a = torch.cat([f, torch.ones(len(f), 1)], 1).double()
        sol = torch.linalg.lstsq(a, target.double(), driver="gelsd").solution
        fit[name] = float(((a @ sol - target.double()) ** 2).sum() / (target.double() ** 2).sum())
    assert fit["kdf"] <= fit["plain"] + 1e-9, fit
    for bad, message in ((["--kd-features", 1], "--kd-features needs --teacher"),
                         (["--teacher", teachers[0], "--kd-features", 1, "--kd-layer", "fc7"], "--kd-layer")):
        code, err = run(capsys, *common, "--epochs", 1, "--logdir", tmp_path / "bad", *bad)
        errors = [line for line in err.splitlines() if line.startswith("error")]
        assert code == 2 and len(errors) == 1 and message in errors[0], err
        assert not (tmp_path / "bad" / "log.jsonl").exists()


def test_learns_writer_identity(capsys, tmp_path, tiny_dataset):
    """Proof that it learns: 12 epochs of SigNet-thin on 8 synthetic writers (chance = 12.5 %)."""
    code, err = run(capsys, "--model", "signet_thin", "--epochs", 12, "--batch-size", 16, "--lr", 0.01,
                    "--lr-decay-times", 1, "--device", "cpu", "--no-progress", "--dataset-path", tiny_dataset,
                    "--users", 0, 8, "--logdir", tmp_path)
    assert code == 0, err
    log = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["train_loss"] < 0.5 * log[0]["train_loss"]
    best = max(r["val_acc"] for r in log)
    assert best >= 0.5, [r["val_acc"] for r in log]
    trained, _, _, meta = load_checkpoint(tmp_path / "model_best.pth")
    assert meta["metrics"]["val_acc"] == best

    # ... and its features separate the writers better than the same network at initialisation, on
    # signatures never seen in training: genuine signatures 12-19 of the same 8 writers (training had 0-11).
    path = tmp_path / "unseen.npz"
    process_dataset(SyntheticSignatures(n_users=N_WRITERS, genuine=20, forgeries=0, seed=3), path, workers=2,
                    progress=False)
    x, y, _, _, files = load_dataset(path)
    tiny_files = set(load_dataset(tiny_dataset).filenames)
    unseen = np.array([f not in tiny_files for f in files])
    assert unseen.sum() == N_WRITERS * 8
    torch.manual_seed(42)
    initial = create_model("signet_thin")
    scores = {name: writer_separation(extract_features(m, x[unseen]), y[unseen])
              for name, m in (("initial", initial), ("trained", trained))}
    # measured: initial 1-NN 0.86, ratio 1.38; trained 1-NN 1.0, ratio 2.95
    assert scores["trained"]["nn_acc"] > scores["initial"]["nn_acc"], scores
    assert scores["trained"]["ratio"] >= 1.5 * scores["initial"]["ratio"], scores



def test_torchrun_two_cpu_processes(tmp_path, tiny_dataset):
    """Two gloo processes: a plain epoch, then one with weight averaging (--swa 2)."""
    logdir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "sigver.featurelearning.train", *FAST, "--batch-size", "8", "--dataset-path", str(tiny_dataset),
           "--users", "0", "8", "--logdir", str(logdir), "--epochs", "2", "--swa", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("args.json", "log.jsonl", "model_best.pth", "model_last.pth", "training_state.pth"):
        assert (logdir / name).is_file(), name
    model, cls, _, meta = load_checkpoint(logdir / "model_last.pth")
    assert cls.out_features == 8 and meta["training_args"]["model"] == "signet_thin"
    log = [json.loads(line) for line in (logdir / "log.jsonl").read_text().splitlines()]
    assert [r.get("averaged_epochs") for r in log] == [None, 1]
