"""The model shipped in ``models/``: format, integrity, and enrol-and-verify on real scans out of the box."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sigver.featurelearning.models import SigNet_thin
from sigver.verify import load_user, verify
from sigver.verify.api import SHIPPED_MODEL, default_model_path, enroll, model_preprocessing, weights_sha256

from ..conftest import REPO

MODEL = REPO / "models" / SHIPPED_MODEL


def _sidecar():
    return json.loads(MODEL.with_suffix(".json").read_text())


def test_shipped_files_and_hashes():
    assert MODEL.is_file() and MODEL.stat().st_size <= 35e6
    meta = _sidecar()
    assert meta["file_sha256"] == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    base, cls, forg = torch.load(MODEL, map_location="cpu", weights_only=True)
    model = SigNet_thin()
    model.load_state_dict(base, strict=True)  # the original's keys and shapes, loadable as the original does
    assert weights_sha256(model) == meta["weights_sha256"]
    assert all(t.dtype == torch.float32 for t in base.values() if t.is_floating_point())
    assert set(cls) == {"weight", "bias"} and cls["weight"].shape[1] == model.feature_space_size
    assert "BHSig260" in meta["training_data"] and meta["benchmark"]["wd_EER_userthresholds"]["mean"] < 0.5
    assert meta["preprocessing"]["canvas"] and "binarize" in meta["preprocessing"]


def test_default_pool_matches_the_model():
    settings = model_preprocessing(MODEL)
    assert default_model_path() == MODEL
    pool = settings["negatives"]
    assert pool is not None and pool.stat().st_size < 8e6
    with np.load(pool, allow_pickle=False) as f:
        assert f["features"].dtype == np.float16 and f["features"].shape[1] == SigNet_thin().feature_space_size
        assert str(f["model_sha256"]) == _sidecar()["weights_sha256"]
        assert str(f["layer"]) == _sidecar()["features"]["layer"]  # the features verification extracts
        assert len(np.unique(f["y"])) >= 100 and np.all(f["yforg"] == 0)


def test_enroll_and_verify_real_scans_with_the_defaults(shared_data, tmp_path):
    samples = shared_data / "samples"
    user = enroll(None, [samples / "a1.png", samples / "a2.png"], name="a", device="cpu")
    assert user.meta["model"]["sha256"] == _sidecar()["weights_sha256"]
    assert user.meta["model"].get("layer", "fc2") == _sidecar()["features"]["layer"]
    assert user.meta["enrollment"]["negatives"]["source"].endswith("_negatives.npz")
    assert user.meta["preprocessing"]["binarize"] == _sidecar()["preprocessing"]["binarize"]
    user.save(tmp_path / "a.npz")
    results = verify(load_user(tmp_path / "a.npz"), [samples / "a1.png", samples / "b1.png", samples / "b2.png"],
                     device="cpu")
    scores = {Path(r["image"]).name: r["score"] for r in results}
    assert results[0]["accepted"]
    assert scores["a1.png"] > max(scores["b1.png"], scores["b2.png"])
    assert not results[1]["accepted"] and not results[2]["accepted"]
