"""Training augmentation: dtype, shape, range and memory format kept, seeded, wired into the train command."""
import json

import numpy as np
import pytest
import torch

from sigver.featurelearning.augment import AUGMENTATIONS, Augmenter, augment_batch
from sigver.featurelearning.data import Batch
from sigver.featurelearning.train import main as train_main


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 150, 220)
    x[:, :, 60:90, 40:180] = torch.rand(n, 1, 30, 140, generator=g)  # ink bright, background 0
    return x


@pytest.mark.parametrize("policy", sorted(AUGMENTATIONS))
def test_keeps_dtype_shape_range(policy):
    x = _batch()
    out = augment_batch(x, torch.Generator().manual_seed(1), policy)
    assert out.dtype == x.dtype and out.shape == x.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(x, _batch())  # the input is not modified


def test_each_step_changes_images_and_background_stays_mostly_dark():
    x = _batch(n=32)
    out = augment_batch(x, torch.Generator().manual_seed(2), "scanner")
    changed = (out - x).abs().flatten(1).amax(1) > 0
    assert 0 < int(changed.sum()) <= 32
    assert float(out[:, :, :20].abs().max()) < 0.05  # far from the ink, the background stays 0


def test_seeded_and_channels_last():
    x = _batch()
    a = augment_batch(x, torch.Generator().manual_seed(3), "scanner")
    b = augment_batch(x.contiguous(memory_format=torch.channels_last), torch.Generator().manual_seed(3), "scanner")
    assert torch.allclose(a, b, atol=1e-6)
    assert b.is_contiguous(memory_format=torch.channels_last)
    c = augment_batch(x, torch.Generator().manual_seed(4), "scanner")
    assert not torch.equal(a, c)


def test_float64_and_bad_input():
    x = _batch().double()
    assert augment_batch(x, torch.Generator().manual_seed(0)).dtype == torch.float64
    with pytest.raises(ValueError, match="unknown augmentation policy"):
        augment_batch(x, torch.Generator(), "nope")
    with pytest.raises(ValueError, match="float batch"):
        augment_batch(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.Generator())


def test_augmenter_keeps_batch_type():
    batch = Batch(_batch(4), torch.arange(4), torch.zeros(4, dtype=torch.long))
    out = Augmenter("scanner", torch.Generator().manual_seed(0))(batch)
    assert isinstance(out, Batch) and torch.equal(out.y, batch.y) and out.x.shape == batch.x.shape


def test_train_with_augment_resumes_exactly(tiny_dataset, tmp_path):
    common = ["--model", "signet_thin", "--batch-size", "16", "--device", "cpu", "--no-progress",
              "--dataset-path", str(tiny_dataset), "--users", "0", "8", "--augment", "scanner", "--lr", "0.01"]
    assert train_main(common + ["--epochs", "2", "--logdir", str(tmp_path / "full")]) == 0
    assert train_main(common + ["--epochs", "1", "--logdir", str(tmp_path / "cut")]) == 0
    args = json.loads((tmp_path / "cut" / "args.json").read_text())
    assert args["args"]["augment"] == "scanner"
    # continue the 1-epoch run to 2 epochs: same weights as the uninterrupted run
    assert train_main(common + ["--epochs", "2", "--logdir", str(tmp_path / "cut"), "--resume"]) == 0
    full = torch.load(tmp_path / "full" / "model_last.pth", weights_only=True)[0]
    cut = torch.load(tmp_path / "cut" / "model_last.pth", weights_only=True)[0]
    for k in full:
        assert torch.equal(full[k], cut[k]), k
