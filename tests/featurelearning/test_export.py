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


def test_bad_output_path(tmp_path, checkpoint, capsys):
    assert main(["--model-path", str(checkpoint), "--out", str(tmp_path / "no" / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert main(["--model-path", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert not (tmp_path / "m.onnx").exists()
