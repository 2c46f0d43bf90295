"""``sigver.verify``: enrol and verify (API and CLI), the user file, thresholds, and every kind of bad input."""
import json

import numpy as np
import pytest
import torch

from sigver.datasets.synthetic import encode_png, render_signature
from sigver.featurelearning import create_model, save_checkpoint
from sigver.verify import (
    EnrolledUser,
    EnrollmentError,
    ModelMismatchError,
    UserFileError,
    enroll,
    load_user,
    verify,
)
from sigver.verify.__main__ import main as cli

from ..conftest import SEED

FAST = {"device": "cpu", "negatives_per_writer": 6}


def scans(user, kind, indices):
    return [render_signature(SEED, user, kind, i) for i in indices]


def write_pngs(folder, images, prefix):
    folder.mkdir(exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        p = folder / f"{prefix}{i}.png"
        p.write_bytes(encode_png(img))
        paths.append(p)
    return paths


def run(capsys, *argv):
    code = cli([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(code, err, *needles):
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err


@pytest.fixture(scope="module")
def alice(trained_model):
    """Writer 11 enrolled with 6 references against the built-in synthetic pool."""
    return enroll(trained_model, scans(11, 0, range(1, 7)), name="alice", **FAST)


# ---------------------------------------------------------------------------------------------------------------

def test_accepts_genuine_rejects_random_forgeries(trained_model, alice):
    """With a trained model: held-out genuine signatures of 2 new writers accepted, other writers rejected."""
    bob = enroll(trained_model, scans(12, 0, range(1, 7)), name="bob", **FAST)
    accepted_genuine, accepted_random = [], []
    for user, writer, others in ((alice, 11, (13, 14, 15)), (bob, 12, (16, 17, 18))):
        genuine = scans(writer, 0, range(7, 12))
        random = [img for o in others for img in scans(o, 0, (1, 2))]
        res = verify(user, genuine + random, model_path=trained_model, device="cpu")
        assert [r["image"] for r in res] == [f"image[{i}]" for i in range(len(res))]
        accepted_genuine += [r["accepted"] for r in res[:len(genuine)]]
        accepted_random += [r["accepted"] for r in res[len(genuine):]]
    assert np.mean(accepted_genuine) >= 0.8, accepted_genuine
    assert np.mean(accepted_random) <= 0.2, accepted_random


@pytest.mark.parametrize("backend", ["libsvm", "sklearnex"])
def test_decision_function_matches_sklearn(backend):
    """The user file reproduces the fitted SVC's decision function, with either SVM backend (the sklearnex SVC
    exposes the same support vectors, coefficients and intercept)."""
    from sigver.wd.training import train_wdclassifier_user

    if backend == "sklearnex":
        pytest.importorskip("sklearnex")
    rs = np.random.RandomState(0)
    x = np.r_[rs.randn(5, 16) + 1, rs.randn(40, 16)] * rs.rand(16) * 3
    y = np.r_[np.ones(5), -np.ones(40)]
    q = rs.randn(7, 16) * 2
    for kind, gamma in (("rbf", 0.05), ("linear", None)):
        pipe = train_wdclassifier_user((x, y), kind, 1.0, gamma, backend)
        user = EnrolledUser.from_pipeline(pipe, {"name": "x", "threshold": 0.0})
        np.testing.assert_allclose(user.decision_function(q), pipe.decision_function(q), rtol=1e-9, atol=1e-9)


def test_user_file_round_trip_no_pickle(tmp_path, trained_model, alice):
    path = alice.save(tmp_path / "alice.npz")
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert set(z.files) == {"meta", "support_vectors", "dual_coef", "intercept", "scale", "integrity"}
        meta = json.loads(str(z["meta"]))
    assert meta["name"] == "alice" and meta["threshold"] == 0.0 and meta["threshold_info"]["method"] == "svm_margin"
    assert meta["model"]["architecture"] == "signet_thin" and len(meta["model"]["sha256"]) == 64
    assert meta["model"]["path"] == str(trained_model.resolve())
    assert meta["preprocessing"]["canvas"] == [952, 1360] and meta["svm"]["kernel"] == "rbf"
    assert meta["enrollment"]["n_references"] == 6 and meta["enrollment"]["negatives"]["source"] == "synthetic"
    loaded = load_user(path)
    assert (loaded.name, loaded.threshold, loaded.canvas) == ("alice", 0.0, (952, 1360))
    q = np.random.RandomState(1).rand(3, len(alice.scale)).astype(np.float32)
    np.testing.assert_array_equal(loaded.decision_function(q), alice.decision_function(q))
    # enrolment is deterministic
    again = enroll(trained_model, scans(11, 0, range(1, 7)), name="alice", **FAST)
    np.testing.assert_array_equal(again.support_vectors, alice.support_vectors)
    np.testing.assert_array_equal(again.dual_coef, alice.dual_coef)


def test_cli_enroll_and_check_batched(tmp_path, capsys, monkeypatch, trained_model):
    import sigver.verify.api as api

    refs = write_pngs(tmp_path / "refs", scans(11, 0, range(1, 5)), "r")
    questioned = write_pngs(tmp_path / "q", scans(11, 0, (9, 10)) + scans(13, 0, (1, 2)), "q")
    user_file = tmp_path / "alice.npz"
    code, _, err = run(capsys, "enroll", "--model-path", trained_model, "--user", "alice", "--references", *refs,
                       "--out", user_file, "--device", "cpu", "--negatives-per-writer", 6)
    assert code == 0, err
    assert "enrolled 'alice' from 4 references" in err and user_file.is_file()
    calls = []
    real = api.model_features
    monkeypatch.setattr(api, "model_features", lambda model, x, *a: calls.append(len(x)) or real(model, x, *a))
    code, out, err = run(capsys, "check", "--user-file", user_file, "--device", "cpu", *questioned)
    assert code == 0, err
    assert calls == [4]  # one batch for all questioned signatures
    res = json.loads(out)
    assert res["user"] == "alice" and res["threshold"] == 0.0
    assert [r["image"] for r in res["results"]] == [str(p) for p in questioned]
    assert all(isinstance(r["score"], float) and isinstance(r["accepted"], bool) for r in res["results"])
    assert [r["accepted"] for r in res["results"]][:2] == [True, True]
    # an existing user file is not replaced without --overwrite
    code, _, err = run(capsys, "enroll", "--model-path", trained_model, "--user", "x", "--references", *refs,
                       "--out", user_file, "--device", "cpu")
    one_line_error(code, err, str(user_file), "--overwrite")


def test_target_far_on_dataset_negatives(trained_model, train_data):
    """--target-far with a dataset file as pool (its skilled forgeries give the FAR)."""
    user = enroll(trained_model, scans(11, 0, range(1, 6)), name="alice", negatives=train_data, target_far=0.1,
                  device="cpu", negatives_per_writer=5)
    # skilled forgeries: 2 of each of the 4 development writers, so FAR 10 % lets none through
    info = user.meta["threshold_info"]
    assert info["method"] == "target_far" and info["forgeries"] == "skilled" and info["target_far"] == 0.1
    assert info["dev_FAR"] <= 0.1 and info["dev_writers"] == 4
    assert user.threshold == pytest.approx(user.threshold) and np.isfinite(user.threshold)
    assert user.meta["enrollment"]["negatives"]["source"] == str(train_data.resolve())
    res = verify(user, scans(11, 0, (8, 9)) + scans(14, 0, (1,)), model_path=trained_model, device="cpu")
    assert len(res) == 3


def test_features_file_negatives(tmp_path, trained_model, train_data):
    from sigver.featurelearning.extract import main as extract_main

    feats = tmp_path / "f.npz"
    assert extract_main(["--model-path", str(trained_model), "--data-path", str(train_data), "--save-path",
                         str(feats), "--device", "cpu", "--no-progress"]) == 0
    user = enroll(trained_model, scans(11, 0, range(1, 4)), negatives=feats, device="cpu", negatives_per_writer=4)
    assert user.meta["enrollment"]["n_negatives"] == 32
    # features of another model (other size) are refused
    np.savez(tmp_path / "g.npz", features=np.zeros((4, 7), np.float32), y=np.array([0, 0, 1, 1]),
             yforg=np.zeros(4, int))
    with pytest.raises(EnrollmentError, match="features of size 7"):
        enroll(trained_model, scans(11, 0, range(1, 4)), negatives=tmp_path / "g.npz", device="cpu")
    # features of another layer, or of five crops, are not what verification extracts: refused
    for option in (["--layer", "fc1"], ["--crops", "five"]):
        other = tmp_path / f"{option[1]}.npz"
        assert extract_main(["--model-path", str(trained_model), "--data-path", str(train_data), "--save-path",
                             str(other), "--device", "cpu", "--no-progress", *option]) == 0
        with pytest.raises(EnrollmentError, match="extract them without --layer and without --crops"):
            enroll(trained_model, scans(11, 0, range(1, 4)), negatives=other, device="cpu")


def _with_layer(tmp_path, trained_model, layer):
    """A copy of the trained model whose sidecar names ``layer`` as the features to verify with."""
    import shutil

    pth = tmp_path / f"model_{layer}.pth"
    shutil.copy(trained_model, pth)
    meta = json.loads(trained_model.with_suffix(".json").read_text())
    meta["features"] = {"layer": layer}
    pth.with_suffix(".json").write_text(json.dumps(meta))
    return pth


def test_model_whose_sidecar_names_a_feature_layer(tmp_path, capsys, trained_model, train_data):
    from sigver.featurelearning import extract_features, load_checkpoint
    from sigver.featurelearning.extract import main as extract_main
    from sigver.verify.api import load_model, model_features, preprocess_images

    fc1 = _with_layer(tmp_path, trained_model, "fc1")
    model, info = load_model(fc1, device="cpu")
    assert info["layer"] == "fc1" and info["feature_size"] == 1024
    assert "layer" not in load_model(trained_model, device="cpu")[1]  # the output: no key, as before
    assert "layer" not in load_model(_with_layer(tmp_path, trained_model, "fc2"), device="cpu")[1]
    user = enroll(fc1, scans(11, 0, range(1, 5)), name="f", **FAST)
    assert user.model["layer"] == "fc1"
    questioned = scans(11, 0, (8,)) + scans(14, 0, (1,))
    res = verify(user, questioned, device="cpu")
    x, _ = preprocess_images(questioned, user.canvas)
    by_hand = extract_features(load_checkpoint(fc1).model, x, device="cpu", layer="fc1")
    np.testing.assert_allclose([r["score"] for r in res], user.decision_function(by_hand), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model_features(model, x, info, "cpu"), by_hand)
    # its negatives: `extract` takes the sidecar's layer by default; the model's output is refused
    feats, out = tmp_path / "f1.npz", tmp_path / "f2.npz"
    for path, option in ((feats, []), (out, ["--layer", "fc2"])):
        assert extract_main(["--model-path", str(fc1), "--data-path", str(train_data), "--save-path", str(path),
                             "--device", "cpu", "--no-progress", *option]) == 0
    capsys.readouterr()
    with np.load(feats) as z:
        assert str(z["layer"]) == "fc1" and z["features"].shape[1] == 1024
    assert enroll(fc1, scans(11, 0, range(1, 4)), negatives=feats, device="cpu",
                  negatives_per_writer=4).model["layer"] == "fc1"
    with pytest.raises(EnrollmentError, match="extract them with --layer fc1"):
        enroll(fc1, scans(11, 0, range(1, 4)), negatives=out, device="cpu")
    # the sidecar changed after enrolment (same weights, other layer): refused, not silently mis-scored
    user_file = user.save(tmp_path / "f.npz")
    fc1.with_suffix(".json").write_text(trained_model.with_suffix(".json").read_text())
    img = write_pngs(tmp_path / "q", questioned[:1], "q")
    code, out_, err = run(capsys, "check", "--user-file", user_file, "--device", "cpu", *img)
    one_line_error(code, err, "layer fc1", "enrol the user again")
    # a layer the model does not have: one line naming the sidecar
    bad = _with_layer(tmp_path, trained_model, "fc9")
    code, _, err = run(capsys, "enroll", "--model-path", bad, "--user", "b", "--references", *img, *img,
                       "--out", tmp_path / "b.npz", "--device", "cpu")
    one_line_error(code, err, str(bad.with_suffix(".json")), "fc9", "fc1, fc2")
    assert not (tmp_path / "b.npz").exists()


# ---------------------------------------------------------------------------------------------------------------
# bad input: one clear line, exit status 2

def test_blank_image(tmp_path, capsys, trained_model, alice):
    blank = write_pngs(tmp_path / "b", [np.full((400, 600), 250, np.uint8)], "blank")[0]
    refs = write_pngs(tmp_path / "r", scans(11, 0, (1, 2)), "r")
    code, _, err = run(capsys, "enroll", "--model-path", trained_model, "--user", "a", "--references", *refs, blank,
                       "--out", tmp_path / "a.npz", "--device", "cpu")
    one_line_error(code, err, str(blank), "no signature found")
    assert not (tmp_path / "a.npz").exists()
    user_file = alice.save(tmp_path / "alice.npz")
    code, out, err = run(capsys, "check", "--user-file", user_file, "--device", "cpu", refs[0], blank)
    one_line_error(code, err, str(blank))
    assert out == ""
    with pytest.raises(Exception, match=r"image\[1\]: no signature found"):
        verify(alice, [scans(11, 0, (3,))[0], np.full((50, 80), 255, np.uint8)], device="cpu")


def test_too_few_references(tmp_path, capsys, trained_model):
    ref = write_pngs(tmp_path, scans(11, 0, (1,)), "r")
    code, _, err = run(capsys, "enroll", "--model-path", trained_model, "--user", "carol", "--references", *ref,
                       "--out", tmp_path / "c.npz", "--device", "cpu")
    one_line_error(code, err, "1 reference signature(s)", "at least 2")
    with pytest.raises(EnrollmentError, match="at least 2"):
        enroll(trained_model, [], device="cpu")


def test_user_file_of_another_model(tmp_path, capsys, alice, trained_model):
    torch.manual_seed(1)
    other = save_checkpoint(tmp_path / "other.pth", create_model("signet_thin")) or tmp_path / "other.pth"
    user_file = alice.save(tmp_path / "alice.npz")
    img = write_pngs(tmp_path, scans(11, 0, (8,)), "q")
    code, _, err = run(capsys, "check", "--user-file", user_file, "--model-path", other, "--device", "cpu", *img)
    one_line_error(code, err, str(user_file), "other model weights", "enrol the user again")
    with pytest.raises(ModelMismatchError):
        verify(user_file, img, model_path=other, device="cpu")
    # the same weights in another file (moved, re-saved) are accepted
    moved = tmp_path / "moved.pth"
    moved.write_bytes(trained_model.read_bytes())
    code, out, err = run(capsys, "check", "--user-file", user_file, "--model-path", moved, "--device", "cpu", *img)
    assert code == 0, err
    # the recorded model is gone: say so
    meta = dict(alice.meta, model=dict(alice.model, path=str(tmp_path / "gone.pth")))
    EnrolledUser(meta, alice.support_vectors, alice.dual_coef, alice.intercept, alice.scale).save(user_file)
    code, _, err = run(capsys, "check", "--user-file", user_file, "--device", "cpu", *img)
    one_line_error(code, err, "gone.pth", "--model-path")


@pytest.mark.parametrize("content, message", [
    (None, "no such user file"),
    (b"not a zip file at all", "truncated or corrupt"),
    ("truncated", "truncated or corrupt"),
    ("not_user", "not a sigver user file"),
])
def test_missing_corrupt_truncated_user_file(tmp_path, capsys, alice, content, message):
    path = tmp_path / "u.npz"
    if content == "truncated":
        data = alice.save(tmp_path / "full.npz").read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif content == "not_user":
        np.savez(path, a=np.zeros(3))
    elif content is not None:
        path.write_bytes(content)
    img = write_pngs(tmp_path, scans(11, 0, (8,)), "q")
    code, _, err = run(capsys, "check", "--user-file", path, "--device", "cpu", *img)
    one_line_error(code, err, str(path), message)
    with pytest.raises(UserFileError):
        load_user(path)


def test_cli_enroll_svm_backend_missing_is_one_line(tmp_path, capsys, monkeypatch):
    """`enroll --svm-backend sklearnex` without scikit-learn-intelex: exit 2, one line, before any work."""
    import sys

    monkeypatch.setitem(sys.modules, "sklearnex", None)
    monkeypatch.setitem(sys.modules, "sklearnex.svm", None)
    code, out, err = run(capsys, "enroll", "--user", "a", "--references", str(tmp_path / "r1.png"),
                         str(tmp_path / "r2.png"), "--out", str(tmp_path / "a.npz"), "--svm-backend", "sklearnex")
    assert code == 2 and "scikit-learn-intelex is not installed" in err and err.count("\n") == 1
    assert not (tmp_path / "a.npz").exists()
