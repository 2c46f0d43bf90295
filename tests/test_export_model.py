"""``scripts/export_model.py``: a model for shipping, its sidecar and its negative pool, used by ``sigver.verify``."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from sigver.datasets.synthetic import render_signature
from sigver.featurelearning import extract_features, load_checkpoint
from sigver.featurelearning.models import SigNet_thin
from sigver.verify import enroll, verify
from sigver.verify.api import weights_sha256

from .conftest import REPO, SEED


def export(tmp_path, model, data, *extra):
    cmd = [sys.executable, str(REPO / "scripts" / "export_model.py"), "--checkpoint", str(model),
           "--train-data", str(data), "--name", "m", "--out-dir", str(tmp_path), "--per-writer", "5", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)


@pytest.mark.parametrize("layer", [None, "fc1"])
def test_export_and_verify_with_it(tmp_path, trained_model, train_data, layer):
    proc = export(tmp_path, trained_model, train_data, "--binarize", *(["--layer", layer] if layer else []))
    assert proc.returncode == 0, proc.stderr[-2000:]
    pth, sidecar, pool = tmp_path / "m.pth", tmp_path / "m.json", tmp_path / "m_negatives.npz"
    meta = json.loads(sidecar.read_text())
    base, _, _ = torch.load(pth, map_location="cpu", weights_only=True)
    thin = SigNet_thin()
    thin.load_state_dict(base, strict=True)  # the original's format
    assert meta["weights_sha256"] == weights_sha256(thin)
    assert meta["features"] == {"layer": layer or "fc2", "crops": "center"}
    assert meta["preprocessing"]["binarize"] is True and meta["negative_pool"] == pool.name
    # the pool: features of the recorded layer, float16, 5 genuine signatures of each training writer
    data = np.load(train_data)
    with np.load(pool) as f:
        assert f["features"].dtype == np.float16 and str(f["layer"]) == (layer or "fc2")
        assert np.all(np.bincount(f["y"]) == 5) and np.all(f["yforg"] == 0)
        keep = [list(data["filenames"]).index(n) for n in f["filenames"]]
        again = extract_features(load_checkpoint(pth).model, data["x"][keep], device="cpu", layer=layer)
        np.testing.assert_allclose(f["features"].astype(np.float32), again, rtol=1e-2, atol=1e-2)
    # enrolment takes the model's pool, layer and binarisation from the sidecar
    user = enroll(pth, [render_signature(SEED, 11, 0, i) for i in range(1, 5)], device="cpu",
                  negatives_per_writer=5)
    assert user.meta["enrollment"]["negatives"]["source"] == str(pool)
    assert user.model.get("layer") == layer and user.meta["preprocessing"]["binarize"] is True
    (res,) = verify(user, [render_signature(SEED, 11, 0, 8)], device="cpu")
    assert np.isfinite(res["score"])


def test_export_refuses_a_layer_the_model_lacks(tmp_path, trained_model, train_data):
    proc = export(tmp_path, trained_model, train_data, "--layer", "fc7")
    assert proc.returncode == 2 and "--layer fc7" in proc.stderr and "fc1, fc2" in proc.stderr
    assert not (tmp_path / "m.pth").exists()
