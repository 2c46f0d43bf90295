"""extract_features: centre crop + /255 + eval forward, batch by batch."""
import numpy as np
import pytest
import torch

from sigver.datasets import load_dataset, save_dataset
from sigver.featurelearning import SigNet_thin, extract_features
from sigver.preprocessing import crop_center


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = SigNet_thin()
    # non-trivial BN statistics so that eval vs train mode would give different features
    for bn in (m_ for m_ in m.modules() if isinstance(m_, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))):
        bn.running_mean.uniform_(0, 0.05)
        bn.running_var.uniform_(0.5, 1.5)
    return m


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    x = np.zeros((7, 1, 170, 242), dtype=np.uint8)
    x[:, :, 20:150, 30:210] = rng.integers(0, 256, size=(7, 1, 130, 180), dtype=np.uint8)
    return x


def _one_by_one(model, x):
    """The straightforward computation: per image, centre crop (offsets 10, 11), / 255, eval forward."""
    model.eval()
    out = []
    with torch.no_grad():
        for img in x:
            crop = crop_center(img[0], (150, 220)).astype(np.float32) / 255
            out.append(model(torch.from_numpy(crop)[None, None])[0].numpy())
    return np.stack(out)


def test_equals_per_image_computation(model, images):
    expected = _one_by_one(model, images)
    model.train()
    got = extract_features(model, images, batch_size=3, device="cpu")
    assert got.dtype == np.float32 and got.shape == (7, 1024)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert (got > 0).any()


def test_batch_size_does_not_change_the_result(model, images):
    reference = extract_features(model, images, batch_size=256, device="cpu")
    for bs in (1, 2, 5):
        np.testing.assert_allclose(extract_features(model, images, batch_size=bs, device="cpu"), reference,
                                   rtol=0, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_mode_and_buffers_restored(model, images, training):
    model.train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    extract_features(model, images[:2], device="cpu")
    assert model.training is training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_memory_mapped_dataset_file(model, images, tmp_path):
    """A dataset folder of .npy files is memory-mapped by load_dataset; features come straight from it."""
    path = save_dataset(tmp_path / "ds", images, np.arange(7) % 2, np.zeros(7, int), [0, 1],
                        [f"{i}.png" for i in range(7)])
    data = load_dataset(path, mmap_mode="r")
    assert isinstance(data.x, np.memmap)
    got = extract_features(model, data.x, batch_size=4, device="cpu")
    np.testing.assert_allclose(got, extract_features(model, images, device="cpu"), rtol=0, atol=1e-6)


def test_tensor_and_3d_input(model, images):
    reference = extract_features(model, images, device="cpu")
    np.testing.assert_allclose(extract_features(model, torch.from_numpy(images), device="cpu"), reference,
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(extract_features(model, images[:, 0], device="cpu"), reference, rtol=0, atol=1e-6)


def test_already_cropped_and_empty(model, images):
    cropped = np.ascontiguousarray(images[:, :, 10:160, 11:231])
    np.testing.assert_allclose(extract_features(model, cropped, device="cpu"),
                               extract_features(model, images, device="cpu"), rtol=0, atol=1e-6)
    empty = extract_features(model, images[:0], device="cpu")
    assert empty.shape == (0, 1024) and empty.dtype == np.float32


def test_bad_input(model, images):
    with pytest.raises(ValueError, match="uint8"):
        extract_features(model, images.astype(np.float32) / 255, device="cpu")
    with pytest.raises(ValueError, match="smaller than the model input"):
        extract_features(model, images[:, :, :100], device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(model, images, batch_size=0, device="cpu")


def test_layer_is_the_named_fc_block_output(model, images):
    from sigver.featurelearning.features import feature_layers

    assert feature_layers(model) == ("fc1", "fc2")
    model.eval()
    crop = torch.from_numpy(np.ascontiguousarray(images[:, :, 10:160, 11:231])).float() / 255
    with torch.no_grad():
        fc1 = model.fc_layers.fc1(torch.flatten(model.conv_layers(crop), 1)).numpy()
    got = extract_features(model, images, batch_size=3, device="cpu", layer="fc1")
    np.testing.assert_allclose(got, fc1, rtol=1e-5, atol=1e-6)
    assert (got >= 0).all() and not np.allclose(got, extract_features(model, images, device="cpu"))
    np.testing.assert_array_equal(extract_features(model, images, device="cpu", layer="fc2"),
                                  extract_features(model, images, device="cpu"))
    with pytest.raises(ValueError, match="feature layers fc1, fc2"):
        extract_features(model, images, device="cpu", layer="conv5")


def test_five_crops_average_centre_and_corners(model, images):
    got = extract_features(model, images, batch_size=4, device="cpu", crops="five")
    parts = [extract_features(model, np.ascontiguousarray(images[:, :, r:r + 150, c:c + 220]), device="cpu")
             for r, c in ((10, 11), (0, 0), (0, 22), (20, 0), (20, 22))]
    np.testing.assert_allclose(got, np.mean(parts, axis=0), rtol=1e-5, atol=1e-6)
    # already at the input size: the five crops are the same one
    cropped = np.ascontiguousarray(images[:, :, 10:160, 11:231])
    np.testing.assert_allclose(extract_features(model, cropped, device="cpu", crops="five"),
                               extract_features(model, cropped, device="cpu"), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="crops must be one of center, five"):
        extract_features(model, images, device="cpu", crops="ten")
