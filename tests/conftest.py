"""Shared test fixtures.

``shared_data`` is the real-data folder ``../shared/data`` beside the checkout (or ``$SIGVER_SHARED_DATA``);
tests that use it are skipped when it is absent, because that data may not be redistributed with the project.
``trained_model`` is a small SigNet-thin trained once per session on synthetic writers (used by the
verification tests and the notebook test).
"""
import os
from pathlib import Path

import pytest

from sigver.datasets import SyntheticSignatures
from sigver.featurelearning.train import main as train_main
from sigver.preprocessing.process_dataset import process_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SIGVER_SHARED_DATA", REPO.parent / "shared" / "data"))


def synthetic_dataset_file(tmp_path_factory, name: str, img_size=(170, 242), **kwargs) -> Path:
    """Pre-process synthetic writers (``SyntheticSignatures(**kwargs)``) into a new dataset file ``name``."""
    path = tmp_path_factory.mktemp(Path(name).stem) / name
    process_dataset(SyntheticSignatures(**kwargs), path, img_size=img_size, workers=2, progress=False)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not present")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` when no CUDA device is available."""
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except Exception:
        has_gpu = False
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

#: the model is trained on writers 1..8 of this seed; users enrolled in the tests are writers 11 and up
SEED, TRAIN_WRITERS = 5, 8


@pytest.fixture(scope="session")
def train_data(tmp_path_factory):
    """Dataset file of the training writers (8 writers x 10 genuine signatures, 2 skilled forgeries)."""
    return synthetic_dataset_file(tmp_path_factory, "train.npz", n_users=TRAIN_WRITERS, genuine=10, forgeries=2,
                                  seed=SEED)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory, train_data):
    """Checkpoint of signet_thin trained for 5 epochs on the training writers (features that tell writers apart)."""
    logdir = tmp_path_factory.mktemp("verify_model")
    code = train_main(["--model", "signet_thin", "--epochs", "5", "--batch-size", "16", "--lr", "0.01",
                       "--lr-decay-times", "1", "--device", "cpu", "--no-progress", "--dataset-path", str(train_data),
                       "--users", "0", str(TRAIN_WRITERS), "--logdir", str(logdir)])
    assert code == 0
    return logdir / "model_last.pth"
