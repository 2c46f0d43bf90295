"""``example.py``: runs from a fresh clone; says clearly what is missing; runs with any checkpoint."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sigver.datasets.synthetic import render_signature
from sigver.featurelearning import create_model, save_checkpoint

EXAMPLE = Path(__file__).resolve().parents[1] / "example.py"


def run(*args):
    return subprocess.run([sys.executable, str(EXAMPLE), *map(str, args)], capture_output=True, text=True)


def test_missing_weights_is_explained(tmp_path):
    img = tmp_path / "sig.png"
    Image.fromarray(render_signature(0, 1, 0, 1)).save(img)
    r = run("--image", img, "--model-path", tmp_path / "models" / "signet.pth")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "missing: the model weights" in r.stderr and "signet.pth" in r.stderr


def test_runs_and_compares_with_reference(tmp_path):
    img = tmp_path / "sig.png"
    Image.fromarray(render_signature(0, 1, 0, 1)).save(img)
    torch.manual_seed(0)
    model = create_model("signet_thin")
    save_checkpoint(tmp_path / "m.pth", model)
    r = run("--image", img, "--model-path", tmp_path / "m.pth", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "features (1, 1024) from signet_thin" in r.stdout
    # a reference computed the straightforward way passes; a wrong one fails with a clear message
    from sigver.preprocessing import preprocess_signature

    x = preprocess_signature(np.asarray(Image.open(img).convert("L")), (952, 1360))
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x).float().div(255)[None, None])
    torch.save(expected, tmp_path / "ref.pth")
    r = run("--image", img, "--model-path", tmp_path / "m.pth", "--device", "cpu", "--reference", tmp_path / "ref.pth")
    assert r.returncode == 0 and "Test passed" in r.stdout, r.stderr
    torch.save(expected + 1, tmp_path / "bad.pth")
    r = run("--image", img, "--model-path", tmp_path / "m.pth", "--device", "cpu", "--reference", tmp_path / "bad.pth")
    assert r.returncode == 1 and "Test FAILED" in r.stderr


def tracked_copy(dest: Path) -> Path:
    """The repository's tracked files (``git ls-files``: what a fresh clone has) copied into ``dest``."""
    repo = EXAMPLE.parent
    r = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout: cannot list the tracked files")
    for name in r.stdout.decode().split("\0"):
        if name and (repo / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, dest / name)
    return dest


def test_runs_from_a_fresh_clone(tmp_path):
    """`python example.py` with no argument in a copy of the tracked files: the shipped scan, SigNet with
    fixed-seed weights (no published weights in a clone), both checks pass."""
    clone = tracked_copy(tmp_path / "clone")
    assert (clone / "data" / "some_signature.png").is_file() and not (clone / "models" / "signet.pth").exists()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the copy's own sigver (beside the script)
    r = subprocess.run([sys.executable, "example.py", "--device", "cpu"], cwd=clone, capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "models/signet.pth not found" in r.stdout and "fixed-seed weights" in r.stdout
    assert "features (1, 2048)" in r.stdout
    assert "Test passed: the original example's recipe gives the same features" in r.stdout
    assert "Test passed: max |features - some_signature_features_seed0.npy|" in r.stdout
    # the same from another folder (paths are the script's, not the working directory's)
    r = subprocess.run([sys.executable, str(clone / "example.py"), "--device", "cpu"], cwd=tmp_path,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.count("Test passed") == 2, r.stdout + r.stderr
