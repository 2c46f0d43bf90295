"""``python -m sigver.featurelearning.export``: the ONNX graph gives PyTorch's features (dynamic batch)."""
import numpy as np
import pytest
import torch

from sigver.featurelearning import create_model, load_checkpoint, save_checkpoint
from sigver.featurelearning.export import main

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("signet_thin")
    for m in model.modules():  # non-trivial batch-norm statistics, so that eval mode matters
        if isinstance(m, torch.nn.BatchNorm2d) or isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("export") / "m.pth"
    save_checkpoint(path, model)
    return path


def test_onnx_matches_pytorch(tmp_path, checkpoint, capsys):
    out = tmp_path / "m.onnx"
    assert main(["--model-path", str(checkpoint), "--out", str(out)]) == 0, capsys.readouterr().err
    model = load_checkpoint(checkpoint).model
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "image" and session.get_outputs()[0].name == "features"
    rs = np.random.RandomState(0)
    for n in (1, 3):  # dynamic batch axis
        x = rs.rand(n, 1, 150, 220).astype(np.float32)
        got = session.run(None, {"image": x})[0]
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        assert got.shape == (n, model.feature_space_size)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    assert not list(tmp_path.glob(".*.tmp"))


def test_onnx_of_a_feature_layer(tmp_path, checkpoint, capsys):
    """--layer fc1, and by default the layer a model's sidecar names for verification: the graph gives those
    features, as extract_features(layer=...) does."""
    import json
    import shutil

    from sigver.featurelearning import extract_features

    shipped = tmp_path / "s.pth"
    shutil.copy(checkpoint, shipped)
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    shipped.with_suffix(".json").write_text(json.dumps(dict(meta, features={"layer": "fc1"})))
    x = (np.random.RandomState(1).rand(2, 1, 150, 220) * 255).astype(np.uint8)
    want = extract_features(load_checkpoint(checkpoint).model, x, device="cpu", layer="fc1")
    for name, argv in (("a", ["--model-path", str(checkpoint), "--layer", "fc1"]),
                       ("b", ["--model-path", str(shipped)])):
        out = tmp_path / f"{name}.onnx"
        assert main([*argv, "--out", str(out)]) == 0
        assert "of fc1" in capsys.readouterr().err
        got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
            None, {"image": x.astype(np.float32) / 255})[0]
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    assert main(["--model-path", str(checkpoint), "--layer", "fc9", "--out", str(tmp_path / "c.onnx")]) == 2
    err = capsys.readouterr().err
    assert "fc9" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "c.onnx").exists()


def test_bad_output_path(tmp_path, checkpoint, capsys):
    assert main(["--model-path", str(checkpoint), "--out", str(tmp_path / "no" / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert main(["--model-path", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert not (tmp_path / "m.onnx").exists()
