"""Reliability and security (issue 16): one test per numbered case of the issue, each failing on the code
before it: data loss, empty output over good output, mixed models, NaN and nonsense, late failures, blank
paper, edited enrolment files, and the smaller items."""
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sigver.datasets import load_dataset, save_dataset
from sigver.datasets.synthetic import encode_png, render_signature
from sigver.errors import BlankImageError, CheckpointError, DatasetFileError, SigverError
from sigver.featurelearning import create_model, save_checkpoint
from sigver.featurelearning.checkpoint import load_checkpoint
from sigver.featurelearning.extract import main as extract_main
from sigver.featurelearning.loop import STATE_FILE, TrainingError, TrainLoop
from sigver.preprocessing.ink import check_ink
from sigver.preprocessing.process_dataset import main as process_main
from sigver.verify import EnrollmentError, UserFileError, enroll, load_user
from sigver.verify.__main__ import main as verify_main
from sigver.verify.user import FORMAT, FORMAT_VERSION, EnrolledUser

ROOT = Path(__file__).resolve().parents[1]


def one_line(capsys, code, *needles):
    err = capsys.readouterr().err.split("error: ", 1)
    err = "error: " + err[1] if len(err) == 2 else err[0]  # progress lines of earlier successful runs dropped
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture
def my(tmp_path):
    """A small folder-layout dataset ``my/`` of 3 writers (2 genuine, 1 forgery each)."""
    root = tmp_path / "my"
    for w in range(3):
        for i in range(2):
            p = root / f"w{w}" / "genuine" / f"g{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(encode_png(render_signature(1, w, 0, i)))
        p = root / f"w{w}" / "forgeries" / "f0.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(encode_png(render_signature(1, w, 1, 0)))
    return root


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def process(*args):
    return process_main(["--dataset", "folder", "--workers", "1", "--no-progress", *map(str, args)])


def thin(path, seed):
    torch.manual_seed(seed)
    model = create_model("signet_thin")
    save_checkpoint(path, model)
    return path


# --- 1. data loss ----------------------------------------------------------------------------------------------
def test_1_dataset_output_never_replaces_inputs_or_foreign_folders(my, tmp_path, capsys, monkeypatch):
    before = snapshot(my)
    one_line(capsys, process("--path", my, "--save-path", my), "input")
    assert snapshot(my) == before  # the raw scans it reads are kept
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    one_line(capsys, process("--path", my, "--save-path", other), "sigver did not write")
    assert (other / "notes.txt").read_text() == "mine"
    monkeypatch.chdir(tmp_path)
    one_line(capsys, process("--path", my, "--save-path", "."))
    with pytest.raises(DatasetFileError):  # the library function too
        save_dataset(other, np.zeros((1, 1, 4, 4), np.uint8), [0], [0], [1], ["a.png"])
    assert (other / "notes.txt").read_text() == "mine"
    # a dataset folder sigver wrote is replaced (same kind)
    assert process("--path", my, "--save-path", tmp_path / "ds") == 0
    assert process("--path", my, "--save-path", tmp_path / "ds", "--users", "0", "2") == 0
    assert load_dataset(tmp_path / "ds").n_users == 2


# --- 2. empty output over good output ----------------------------------------------------------------------------
def test_2_reversed_or_out_of_range_users_are_errors_and_keep_the_file(my, tmp_path, capsys):
    keep = tmp_path / "keep_me.npz"
    assert process("--path", my, "--save-path", keep) == 0
    before = keep.read_bytes()
    one_line(capsys, process("--path", my, "--save-path", keep, "--users", "3", "0"), "--users 3 0", "reversed")
    one_line(capsys, process("--path", my, "--save-path", keep, "--users", "0", "10"), "--users 0 10",
             "0 <= A < B <= 3")
    assert keep.read_bytes() == before


# --- 3. mixed models ---------------------------------------------------------------------------------------------
def test_3_features_of_another_model_are_refused(my, tmp_path, capsys):
    data = tmp_path / "my.npz"
    assert process("--path", my, "--save-path", data) == 0
    a, b = thin(tmp_path / "thin.pth", 0), thin(tmp_path / "thin2.pth", 1)
    feats = tmp_path / "feats_thin2.npz"
    assert extract_main(["--model-path", str(b), "--data-path", str(data), "--save-path", str(feats),
                         "--device", "cpu", "--no-progress"]) == 0
    with np.load(feats) as z:
        assert len(str(z["model_sha256"])) == 64 and list(z["input_size"]) == [150, 220]
    refs = [render_signature(1, 0, 0, i) for i in range(3)]
    with pytest.raises(EnrollmentError, match="other model weights"):
        enroll(a, refs, negatives=feats, device="cpu", negatives_per_writer=2)


# --- 4. NaN and nonsense -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag,value", [("--lr", "nan"), ("--lr", "-1"), ("--lr", "inf"), ("--momentum", "nan")])
def test_4_training_flags_must_be_finite_and_in_range(flag, value, tmp_path, capsys):
    from sigver.featurelearning.train import main as train_main

    with pytest.raises(SystemExit) as e:
        train_main(["--model", "signet_thin", "--dataset-path", "x.npz", "--logdir", str(tmp_path / "r"),
                    flag, value])
    assert e.value.code == 2
    assert flag in capsys.readouterr().err


def test_4_wd_thr_must_be_finite(capsys):
    from sigver.wd.test import main as wd_main

    with pytest.raises(SystemExit) as e:
        wd_main(["--features-path", "f.npz", "--thr", "nan"])
    assert e.value.code == 2 and "--thr" in capsys.readouterr().err


def test_4_checkpoint_with_nan_weights_is_refused(my, tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model("signet_thin")
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    bad = save_checkpoint(tmp_path / "nan.pth", model) or tmp_path / "nan.pth"
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(bad)
    data = tmp_path / "my.npz"
    assert process("--path", my, "--save-path", data) == 0
    out = tmp_path / "f.npz"
    one_line(capsys, extract_main(["--model-path", str(bad), "--data-path", str(data), "--save-path", str(out),
                                   "--device", "cpu", "--no-progress"]), "NaN")
    assert not out.exists()


def test_4_training_stops_at_the_first_non_finite_loss_and_keeps_the_last_state(tmp_path):
    torch.manual_seed(0)
    lin = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    calls = {"n": 0}

    def step(batch):
        calls["n"] += 1
        loss = lin(batch).pow(2).mean()
        return {"loss": loss * float("nan") if calls["n"] == 7 else loss}

    loop = TrainLoop({"m": lin}, opt, lambda epoch: [torch.ones(4, 2)] * 5, step, epochs=3, logdir=tmp_path,
                     evaluate=None, monitor=None, progress=False)
    with pytest.raises(TrainingError, match=r"epoch 2, step 2 \(optimiser step 7\)") as e:
        loop.fit()
    assert "kept" in str(e.value)
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)
    assert state["epoch"] == 0 and all(torch.isfinite(t).all() for t in state["modules"]["m"].values())
    assert all(torch.isfinite(p).all() for p in lin.parameters())  # never stepped with the NaN loss


# --- 5. late failures --------------------------------------------------------------------------------------------
def test_5_io_error_at_the_end_is_one_line_and_leaves_no_partial_file(my, tmp_path, capsys, monkeypatch):
    import sigver.fileio

    real = os.replace

    def full_disk(src, dst):
        if str(dst).endswith("out.npz"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(sigver.fileio.os, "replace", full_disk)
    one_line(capsys, process("--path", my, "--save-path", tmp_path / "out.npz"), "No space left")
    assert [p.name for p in tmp_path.iterdir()] == ["my"]  # no output, no temporary file
    one_line(capsys, process("--path", my, "--save-path", tmp_path / "missing" / "out.npz"), "does not exist")


def test_5_leftovers_of_a_killed_write_are_cleaned_up_by_the_next_run(my, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".out.npz.{dead.pid}-abc123.tmp"
    leftover.write_bytes(b"partial")
    folder_leftover = tmp_path / f".ds.{dead.pid}-xyz.tmp"
    folder_leftover.mkdir()
    (folder_leftover / "x.npy").write_bytes(b"partial")
    live = tmp_path / f".out.npz.{os.getpid()}-live.tmp"  # a write in progress (this process) is left alone
    live.write_bytes(b"in progress")
    assert process("--path", my, "--save-path", tmp_path / "out.npz") == 0
    assert process("--path", my, "--save-path", tmp_path / "ds") == 0
    assert not leftover.exists() and not folder_leftover.exists() and live.exists()


# --- 6. blank paper ----------------------------------------------------------------------------------------------
def test_6_blank_noisy_speck_and_ruled_scans_are_refused():
    rng = np.random.RandomState(0)
    paper = np.clip(rng.normal(235, 6, (600, 900)), 0, 255).astype(np.uint8)
    speck = paper.copy()
    speck[300, 450] = 0
    ruled = paper.copy()
    ruled[100::60, :] = 40
    for img in (paper, speck, ruled):
        with pytest.raises(BlankImageError, match="no signature"):
            check_ink(img)
    sig = render_signature(1, 0, 0, 0)
    check_ink(sig)
    lines = np.full_like(sig, 235)
    lines[50::60, :] = 40
    check_ink(np.minimum(sig, lines))  # a signature on ruled paper is a signature


def test_6_duplicate_references_are_refused(tmp_path):
    refs = [render_signature(1, 0, 0, i) for i in range(3)]
    with pytest.raises(EnrollmentError, match="same signature"):
        enroll(thin(tmp_path / "thin.pth", 0), refs + [refs[1]], device="cpu", negatives_per_writer=2)


# --- 7. edited enrolment files -----------------------------------------------------------------------------------
def fake_user(threshold=0.0, gamma=0.5):
    rng = np.random.RandomState(0)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": "alice", "threshold": threshold,
            "model": {"sha256": "0" * 64, "feature_size": 4},
            "preprocessing": {"canvas": [400, 600], "input_size": [150, 220], "img_size": [170, 242]},
            "svm": {"kernel": "rbf", "gamma": gamma, "C": 1.0}}
    return EnrolledUser(meta, rng.rand(3, 4), rng.rand(1, 3), np.array([0.1]), np.ones(4))


def edit(path, **changes):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    for k, v in changes.items():
        if k in meta:
            meta[k] = v
        else:
            arrays[k] = np.asarray(v, dtype=np.float64).reshape(arrays[k].shape)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("change", [{"threshold": -100}, {"intercept": 1e6}])
def test_7_an_edited_user_file_is_refused(tmp_path, change):
    path = fake_user().save(tmp_path / "alice.npz")
    load_user(path)
    edit(path, **change)
    with pytest.raises(UserFileError, match="SHA-256"):
        load_user(path)


def test_7_with_a_key_the_hmac_is_verified(tmp_path, monkeypatch):
    path = fake_user().save(tmp_path / "alice.npz", key=b"secret")
    assert load_user(path, key=b"secret").threshold == 0.0
    with pytest.raises(UserFileError, match="HMAC"):
        load_user(path, key=b"other")
    monkeypatch.setenv("SIGVER_USER_KEY", "secret")
    load_user(path)
    monkeypatch.delenv("SIGVER_USER_KEY")
    plain = fake_user().save(tmp_path / "bob.npz")  # no key: no HMAC, refused when a key is given
    monkeypatch.setenv("SIGVER_USER_KEY", "secret")
    with pytest.raises(UserFileError, match="no HMAC"):
        load_user(plain)


@pytest.mark.parametrize("meta_text", ['"threshold": NaN', '"gamma": -1.0'])
def test_7_nonsense_values_are_refused_on_load_even_when_sealed(tmp_path, meta_text):
    from sigver.verify.integrity import seal

    path = fake_user().save(tmp_path / "u.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    key = meta_text.split(":")[0]
    meta = json.loads(str(arrays["meta"]))
    text = json.dumps(meta).replace(f'{key}: {json.dumps(meta["threshold"] if "threshold" in key else 0.5)}',
                                    meta_text)
    assert meta_text in text
    arrays["meta"] = np.array(text)
    body = {k: arrays[k] for k in ("support_vectors", "dual_coef", "intercept", "scale")}
    arrays["integrity"] = np.array(json.dumps(seal(text, body)))  # as if written by a careless tool
    np.savez(path, **arrays)
    with pytest.raises(UserFileError, match="damaged or edited"):
        load_user(path)


def test_7_verify_json_never_holds_nan():
    import inspect

    import sigver.verify.__main__ as cli

    assert "allow_nan=False" in inspect.getsource(cli.main)


# --- 8. smaller --------------------------------------------------------------------------------------------------
def test_8_enroll_canvas_too_small_is_refused(tmp_path, capsys):
    refs = []
    for i in range(2):
        p = tmp_path / f"r{i}.png"
        p.write_bytes(encode_png(render_signature(1, 0, 0, i)))
        refs.append(str(p))
    one_line(capsys, verify_main(["enroll", "--user", "a", "--references", *refs, "--out", str(tmp_path / "a.npz"),
                                  "--canvas", "10", "10", "--model-path", str(thin(tmp_path / "t.pth", 0))]),
             "--canvas 10 10")


def test_8_small_images_and_text_npz_and_env_are_reported(tmp_path, capsys):
    data = tmp_path / "small.npz"
    save_dataset(data, np.full((2, 1, 10, 10), 7, np.uint8), [0, 1], [0, 0], [1, 2], ["a", "b"])
    one_line(capsys, extract_main(["--model-path", str(thin(tmp_path / "t.pth", 0)), "--data-path", str(data),
                                   "--save-path", str(tmp_path / "f.npz"), "--device", "cpu", "--no-progress"]),
             "smaller than the model input")
    text = tmp_path / "text.npz"
    text.write_text("just text\n")
    with pytest.raises(DatasetFileError, match="not a dataset file") as e:
        load_dataset(text)
    assert "pickled" not in str(e.value)
    env = dict(os.environ, SIGVER_MAX_IMAGE_PIXELS="lots", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-W", "always", "-c", "import sigver.datasets.images"], env=env,
                       capture_output=True, text=True)
    assert "SIGVER_MAX_IMAGE_PIXELS" in r.stderr


def test_8_info_into_a_closed_pipe_prints_no_traceback(tmp_path):
    data = tmp_path / "d.npz"
    save_dataset(data, np.zeros((2, 1, 4, 4), np.uint8), [0, 1], [0, 0], [1, 2], ["a", "b"])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(f"{sys.executable} -m sigver.datasets.info {data} --json | head -c 1", shell=True, env=env,
                       capture_output=True, text=True)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


def test_8_resume_with_changed_hyper_parameters_names_them(tmp_path, capsys):
    from sigver.featurelearning.train import TrainingError as TE, check_resume_args
    from sigver.featurelearning.loop import write_run_info

    write_run_info(tmp_path, {"lr": 0.01, "batch_size": 32, "seed": 1, "epochs": 2})
    check_resume_args(tmp_path, {"lr": 0.01, "batch_size": 32, "seed": 1, "epochs": 5})  # more epochs: fine
    assert capsys.readouterr().err == ""
    check_resume_args(tmp_path, {"lr": 0.1, "batch_size": 16, "seed": 1, "epochs": 2})
    err = capsys.readouterr().err
    assert "--lr 0.01 -> 0.1" in err and "--batch-size 32 -> 16" in err
    with pytest.raises(TE, match="--seed 1 -> 2"):
        check_resume_args(tmp_path, {"lr": 0.01, "batch_size": 32, "seed": 2, "epochs": 2})


def test_8_negatives_per_writer_beyond_the_pool_is_said(tmp_path):
    from sigver.verify.api import _warn_if_fewer

    with pytest.warns(UserWarning, match="at most 6"):
        _warn_if_fewer("pool.npz", np.repeat([0, 1], 6), np.zeros(12, int), 50)
