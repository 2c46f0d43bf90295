"""``python -m sigver.featurelearning.extract``: end to end, equality with ``extract_features``, bad input."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from sigver.datasets import save_dataset
from sigver.featurelearning.checkpoint import save_checkpoint
from sigver.featurelearning.extract import load_features, main, save_features
from sigver.featurelearning.features import extract_features
from sigver.featurelearning.models import create_model, make_heads

N, U = 10, 3


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny random dataset (10 images of 170 x 242, 3 writers) and a freshly initialised signet_thin."""
    d = tmp_path_factory.mktemp("extract")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(N, 1, 170, 242), dtype=np.uint8)
    y = np.arange(N) % U
    yforg = (np.arange(N) >= 8).astype(int)
    data = save_dataset(d / "data.npz", x, y, yforg, user_mapping=[101, 205, 307],
                        filenames=[f"img{i:02d}.png" for i in range(N)])
    torch.manual_seed(0)
    model = create_model("signet_thin")
    cls, _ = make_heads(model.feature_space_size, U)
    ckpt = save_checkpoint(d / "model.pth", model, cls)
    return d, data, ckpt, x, model


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_features_equal_in_process(capsys, files):
    d, data, ckpt, x, model = files
    out = d / "feats.npz"
    code, err = run(capsys, "--model-path", ckpt, "--data-path", data, "--save-path", out, "--batch-size", 4,
                    "--device", "cpu", "--no-progress")
    assert code == 0, err
    f = load_features(out)
    assert f["features"].dtype == np.float32 and f["features"].shape == (N, model.feature_space_size)
    expected = extract_features(model, x, batch_size=256, device="cpu")
    np.testing.assert_allclose(f["features"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(f["y"], np.arange(N) % U)
    np.testing.assert_array_equal(f["yforg"], (np.arange(N) >= 8).astype(int))
    assert list(f["filenames"]) == [f"img{i:02d}.png" for i in range(N)]
    assert list(f["user_mapping"]) == [101, 205, 307]
    assert str(f["architecture"]) == "signet_thin"
    # plain arrays only: readable without pickle
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) >= {"features", "y", "yforg", "filenames", "user_mapping"}


def test_model_override_and_mismatch(capsys, files):
    d, data, ckpt, *_ = files
    code, err = run(capsys, "--model-path", ckpt, "--data-path", data, "--save-path", d / "o.npz",
                    "--device", "cpu", "--model", "signet_thin", "--no-progress")
    assert code == 0, err
    code, err = run(capsys, "--model-path", ckpt, "--data-path", data, "--save-path", d / "o2.npz",
                    "--device", "cpu", "--model", "signet", "--no-progress")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (d / "o2.npz").exists()


@pytest.mark.parametrize("case", ["missing_ckpt", "truncated_ckpt", "missing_data", "missing_folder",
                                  "save_is_dir"])
def test_bad_input_one_line_exit_2(capsys, tmp_path, files, case):
    d, data, ckpt, *_ = files
    model_path, data_path, save_path = ckpt, data, tmp_path / "f.npz"
    if case == "missing_ckpt":
        model_path = tmp_path / "nope.pth"
    elif case == "truncated_ckpt":
        model_path = tmp_path / "trunc.pth"
        model_path.write_bytes(ckpt.read_bytes()[:5000])
    elif case == "missing_data":
        data_path = tmp_path / "nope.npz"
    elif case == "missing_folder":
        save_path = tmp_path / "no" / "such" / "f.npz"
    elif case == "save_is_dir":
        save_path = tmp_path
    code, err = run(capsys, "--model-path", model_path, "--data-path", data_path, "--save-path", save_path,
                    "--device", "cpu", "--no-progress")
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "f.npz").exists()


def test_failed_run_keeps_existing_output(capsys, tmp_path, files):
    d, data, ckpt, *_ = files
    out = tmp_path / "f.npz"
    out.write_bytes(b"old")
    code, _ = run(capsys, "--model-path", tmp_path / "nope.pth", "--data-path", data, "--save-path", out,
                  "--device", "cpu")
    assert code == 2 and out.read_bytes() == b"old"


def test_save_features_validates(tmp_path):
    with pytest.raises(ValueError, match="rows"):
        save_features(tmp_path / "a.npz", np.zeros((3, 2)), [0, 1], [0, 0, 0], ["a", "b", "c"], [0, 1])
    with pytest.raises(ValueError, match="does not exist"):
        save_features(tmp_path / "x" / "a.npz", np.zeros((1, 2)), [0], [0], ["a"], [0])


def test_module_entry_point(files, tmp_path):
    d, data, ckpt, *_ = files
    out = tmp_path / "f.npz"
    r = subprocess.run([sys.executable, "-m", "sigver.featurelearning.extract", "--model-path", str(ckpt),
                        "--data-path", str(data), "--save-path", str(out), "--device", "cpu", "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert load_features(out)["features"].shape[0] == N
    r = subprocess.run([sys.executable, "-m", "sigver.featurelearning.extract", "--model-path",
                        str(tmp_path / "nope.pth"), "--data-path", str(data), "--save-path", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_layer_and_crops_options_recorded(capsys, files):
    d, data, ckpt, x, model = files
    out = d / "feats_fc1_five.npz"
    code, err = run(capsys, "--model-path", ckpt, "--data-path", data, "--save-path", out, "--device", "cpu",
                    "--layer", "fc1", "--crops", "five", "--no-progress")
    assert code == 0, err
    f = load_features(out)
    np.testing.assert_allclose(f["features"], extract_features(model, x, device="cpu", layer="fc1", crops="five"),
                               rtol=1e-5, atol=1e-5)
    assert str(f["layer"]) == "fc1" and str(f["crops"]) == "five"
    code, err = run(capsys, "--model-path", ckpt, "--data-path", data, "--save-path", d / "feats_default.npz",
                    "--device", "cpu", "--no-progress")
    assert code == 0, err
    default = load_features(d / "feats_default.npz")
    assert str(default["layer"]) == "fc2" and str(default["crops"]) == "center"
    code, err = run(capsys, "--model-path", ckpt, "--data-path", data, "--save-path", d / "bad.npz",
                    "--device", "cpu", "--layer", "conv5", "--no-progress")
    assert code == 2 and err == "error: --layer conv5: the signet_thin model has the feature layers fc1, fc2; " \
                                "leave --layer out for the model's output\n"
    assert not (d / "bad.npz").exists()
