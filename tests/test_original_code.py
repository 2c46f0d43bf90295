"""The original code's users: every import path that the original README, ``example.py`` and
``interactive_example.ipynb`` use (and the other public modules of the original and of the continual-learning
code) imports here, and their code runs against sigver unchanged.

The original notebook's code cells are rewritten below as one test (synthetic scans instead of ``data/a1.png``
..., and the tests' small trained SigNet-thin in place of the published SigNet), keeping their calls as written.
"""
import functools
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sigver.datasets.synthetic import GENUINE, SyntheticSignatures, render_signature
from sigver.featurelearning import create_model, extract_features, load_checkpoint, save_checkpoint

from .conftest import SEED

#: (module, names) as the original code and its users import them
ORIGINAL_PATHS = [
    # the original README, example.py and interactive_example.ipynb
    ("sigver.featurelearning.models", ["SigNet"]),
    ("sigver.preprocessing.normalize", ["preprocess_signature", "normalize_image", "resize_image", "crop_center"]),
    ("sigver.preprocessing.process_dataset", ["main"]),
    ("sigver.featurelearning.train", ["main"]),
    ("sigver.wd.test", ["main"]),
    ("sigver.datasets.process_dataset", ["main"]),  # the script name the original README's text gives
    # the original repository's other public modules
    ("sigver.datasets", ["available_datasets"]),
    ("sigver.datasets.base", ["IterableDataset"]),
    ("sigver.datasets.gpds", ["GPDSDataset"]),
    ("sigver.datasets.mcyt", ["MCYTDataset"]),
    ("sigver.datasets.cedar", ["CedarDataset"]),
    ("sigver.datasets.brazilian", ["BrazilianDataset", "BrazilianDatasetWithoutSimpleForgeries"]),
    ("sigver.datasets.util", ["load_dataset", "process_dataset", "process_dataset_images", "get_subset",
                              "remove_forgeries"]),
    ("sigver.preprocessing.normalize", ["remove_background", "crop_center_multiple"]),
    ("sigver.preprocessing.crop", ["center_crop", "center_crop_multiple", "random_crop", "random_crop_multiple"]),
    ("sigver.featurelearning.models", ["SigNet_thin", "SigNet_smaller", "available_models"]),
    ("sigver.featurelearning.data", ["TransformDataset", "extract_features"]),
    ("sigver.wd.data", ["split_train_test", "create_training_set_for_user", "get_random_forgeries_from_dev"]),
    ("sigver.wd.training", ["train_wdclassifier_user", "train_all_users", "test_user", "test_all_users",
                            "train_test_all_users"]),
    ("sigver.wd.metrics", ["compute_metrics", "compute_AUCs", "compute_EER", "calculate_EER_user_thresholds"]),
    ("sigver.metalearning.maml_pytorch", ["MAML", "get_per_step_loss_importance_vector",
                                          "balanced_binary_cross_entropy"]),
    ("sigver.metalearning.models", ["available_models"]),
    ("sigver.metalearning.train", ["main"]),
    ("sigver.adversarial.pgd_max_l2", ["PGD_max_l2_truncate", "restrict_l2_norm", "l2_norm", "squared_l2_norm"]),
    ("sigver.adversarial.train_madry", ["main"]),
    ("sigver.adversarial.train_ensadv", ["main"]),
    # the continual-learning code
    ("sigver.datasets.gpds_synth", ["GPDSSynthDataset"]),
    ("sigver.featurelearning.distill", ["main"]),
    ("sigver.wi.data", ["split_ref_test", "split_train", "create_training_set"]),
    ("sigver.wi.test", ["main"]),
    ("sigver.performance.metrics", ["compute_metrics", "compute_AUCs", "compute_EER",
                                    "calculate_EER_user_thresholds"]),
]


@pytest.mark.parametrize("module,names", ORIGINAL_PATHS, ids=[m for m, _ in ORIGINAL_PATHS])
def test_original_import_paths(module, names):
    m = importlib.import_module(module)
    assert [n for n in names if not hasattr(m, n)] == []


def test_thin_modules_are_todays_functions():
    from sigver import adversarial, datasets, metalearning
    from sigver.adversarial import pgd_max_l2
    from sigver.datasets import util
    from sigver.metalearning import maml_pytorch
    from sigver.performance import metrics as performance_metrics
    from sigver.wd import metrics

    assert util.load_dataset is datasets.load_dataset and util.get_subset is datasets.get_subset
    assert util.remove_forgeries is datasets.remove_forgeries
    assert datasets.process_dataset_images is util.process_dataset_images
    assert maml_pytorch.MAML is metalearning.MAML
    assert pgd_max_l2.PGD_max_l2_truncate is adversarial.PGD_max_l2_truncate
    for name in ("compute_metrics", "compute_AUCs", "compute_EER", "calculate_EER_user_thresholds"):
        assert getattr(performance_metrics, name) is getattr(metrics, name)


def test_process_dataset_script_under_its_readme_name():
    r = subprocess.run([sys.executable, "-m", "sigver.datasets.process_dataset", "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "--save-path" in r.stdout


def test_original_readme_usage(tmp_path, monkeypatch):
    """The original README's Python snippet: torch.load of the 3-tuple, SigNet().eval(), load_state_dict."""
    torch.manual_seed(0)
    (tmp_path / "models").mkdir()
    save_checkpoint(tmp_path / "models" / "signet.pth", create_model("signet"))
    monkeypatch.chdir(tmp_path)
    input = torch.rand(2, 1, 150, 220)  # noqa: A001 - the README's name
    # --- as written in the original README
    from sigver.featurelearning.models import SigNet

    state_dict, classification_layer, forg_layer = torch.load('models/signet.pth')
    base_model = SigNet().eval()
    base_model.load_state_dict(state_dict)
    with torch.no_grad():
        features = base_model(input)
    # ---
    assert features.shape == (2, 2048)


def test_original_example_script(tmp_path, monkeypatch):
    """The original example.py's steps on the shipped scan: its features equal this library's path."""
    torch.manual_seed(0)
    (tmp_path / "models").mkdir()
    save_checkpoint(tmp_path / "models" / "signet.pth", create_model("signet"))
    (tmp_path / "data").mkdir()
    repo_scan = Path(__file__).resolve().parents[1] / "data" / "some_signature.png"
    (tmp_path / "data" / "some_signature.png").write_bytes(repo_scan.read_bytes())
    monkeypatch.chdir(tmp_path)
    # --- as written in the original example.py (without the comparison with the authors' features)
    from skimage import img_as_ubyte
    from skimage.io import imread

    from sigver.featurelearning.models import SigNet
    from sigver.preprocessing.normalize import preprocess_signature

    canvas_size = (952, 1360)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    original = img_as_ubyte(imread('data/some_signature.png', as_gray=True))
    processed = preprocess_signature(original, canvas_size)
    input = torch.from_numpy(processed).view(1, 1, 150, 220)  # noqa: A001
    input = input.float().div(255).to(device)  # noqa: A001
    state_dict, _, _ = torch.load('models/signet.pth')
    base_model = SigNet().to(device).eval()
    base_model.load_state_dict(state_dict)
    with torch.no_grad():
        features = base_model(input)
    # ---
    from sigver.datasets.images import read_image
    from sigver.preprocessing import preprocess_signature as new_preprocess

    ckpt = load_checkpoint("models/signet.pth")
    ours = extract_features(ckpt.model, new_preprocess(read_image("data/some_signature.png"), canvas_size)[None, None],
                            device="cpu")
    assert (features.cpu() - torch.from_numpy(ours)).abs().max() < 1e-4


def test_original_notebook_cells(tmp_path, monkeypatch, trained_model):
    """interactive_example.ipynb's code cells, in order (plots on the Agg backend): pre-processing step by step,
    two writers' signatures, features, distances. Writers 1 and 2 are among the small model's training
    writers, with signatures it has not seen, so same-writer distances are smaller than cross-writer ones."""
    import matplotlib

    matplotlib.use("Agg")
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "signet.pth").write_bytes(trained_model.read_bytes())
    Image.fromarray(render_signature(SEED, 3, GENUINE, 30)).save(tmp_path / "data" / "some_signature.png")
    for name, user in (("a", 1), ("b", 2)):
        for i in (1, 2):
            Image.fromarray(render_signature(SEED, user, GENUINE, 20 + i)).save(tmp_path / "data" / f"{name}{i}.png")
    monkeypatch.chdir(tmp_path)

    # --- cell 1 (SigNet_thin: the small model standing in for the published SigNet)
    import matplotlib.pyplot as plt
    from skimage import img_as_ubyte
    from skimage.io import imread

    from sigver.featurelearning.models import SigNet_thin as SigNet
    from sigver.preprocessing.normalize import crop_center, normalize_image, preprocess_signature, resize_image
    plt.rcParams['image.cmap'] = 'Greys'

    # --- cells 2-4: one image, step by step
    def load_signature(path):
        return img_as_ubyte(imread(path, as_gray=True))

    original = load_signature('data/some_signature.png')
    normalized = 255 - normalize_image(original, (952, 1360))
    resized = resize_image(normalized, (170, 242))
    cropped = crop_center(resized, (150, 220))
    f, ax = plt.subplots(4, 1, figsize=(6, 15))
    ax[0].imshow(original, cmap='Greys_r')
    ax[1].imshow(normalized)
    ax[2].imshow(resized)
    ax[3].imshow(cropped)
    ax[3].set_title('Cropped center of the image')

    # --- cells 5-7: two writers, batched
    user1_sigs = [load_signature('data/a{}.png'.format(i)) for i in [1, 2]]
    user2_sigs = [load_signature('data/b{}.png'.format(i)) for i in [1, 2]]
    canvas_size = (952, 1360)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "creating a tensor from a list of ndarrays is slow"
        processed_user1_sigs = torch.tensor([preprocess_signature(sig, canvas_size) for sig in user1_sigs])
        processed_user2_sigs = torch.tensor([preprocess_signature(sig, canvas_size) for sig in user2_sigs])
    f, ax = plt.subplots(2, 2, figsize=(10, 6))
    ax[0, 0].imshow(processed_user1_sigs[0])
    ax[1, 1].imshow(processed_user2_sigs[1])
    processed_user1_sigs = processed_user1_sigs.view(-1, 1, 150, 220).float().div(255)
    processed_user2_sigs = processed_user2_sigs.view(-1, 1, 150, 220).float().div(255)

    # --- cells 8-13: the CNN's features and their distances
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    state_dict, _, _ = torch.load('models/signet.pth')
    base_model = SigNet().to(device).eval()
    base_model.load_state_dict(state_dict)
    with torch.no_grad():
        user1_features = base_model(processed_user1_sigs.to(device))
        user2_features = base_model(processed_user2_sigs.to(device))
    same = [torch.norm(user1_features[0] - user1_features[1]), torch.norm(user2_features[0] - user2_features[1])]
    dists = [torch.norm(u1 - u2).item() for u1 in user1_features for u2 in user2_features]
    plt.close("all")
    # ---
    np.testing.assert_array_equal(cropped, preprocess_signature(original, (952, 1360)))
    assert user1_features.shape == (2, base_model.feature_space_size) and len(dists) == 4
    assert max(float(d) for d in same) < min(dists)


def test_process_dataset_images_matches_process_dataset(tmp_path):
    from sigver.datasets.util import load_dataset, process_dataset, process_dataset_images
    from sigver.preprocessing.normalize import preprocess_signature

    ds = SyntheticSignatures(n_users=3, genuine=2, forgeries=1, seed=3)
    fn = functools.partial(preprocess_signature, canvas_size=ds.maxsize, img_size=(170, 242), input_size=(170, 242))
    x, y, yforg, user_mapping, filenames = process_dataset_images(ds, fn, (170, 242), slice(1, 3))
    process_dataset(ds, tmp_path / "d.npz", (170, 242), slice(1, 3), progress=False)
    data = load_dataset(tmp_path / "d.npz")
    for a, b in zip((x, y, yforg, user_mapping, filenames), data):
        np.testing.assert_array_equal(a, b)
    assert x.dtype == np.uint8 and x.shape == (6, 1, 170, 242) and y.tolist() == [0, 0, 0, 1, 1, 1]


def test_original_extract_features_call():
    """featurelearning.data.extract_features with the original's arguments (as the original wd/test.py called
    it) gives today's features; with a model first it is today's function."""
    from sigver.featurelearning.data import extract_features as data_extract

    torch.manual_seed(0)
    model = create_model("signet_thin").eval()
    x = np.random.default_rng(0).integers(0, 256, (5, 1, 170, 242), dtype=np.uint8)

    def process_fn(batch):
        return model(batch[0])

    old = data_extract(x, process_fn, 2, (150, 220))
    new = data_extract(model, x, batch_size=2, device="cpu")
    assert old.shape == (5, model.feature_space_size)
    np.testing.assert_allclose(old, new, atol=1e-5)
    raw = data_extract(x, lambda batch: batch[0].flatten(1)[:, :3].float(), 4)  # no input_size: stored values
    np.testing.assert_array_equal(raw, x.reshape(5, -1)[:, :3])


def test_transform_dataset():
    from torch.utils.data import TensorDataset

    from sigver.featurelearning.data import TransformDataset

    ds = TransformDataset(TensorDataset(torch.arange(4), torch.arange(4) * 10), lambda v: v + 100)
    assert len(ds) == 4 and [int(v) for v in ds[2]] == [102, 20]
    ds = TransformDataset(TensorDataset(torch.arange(4), torch.arange(4) * 10), lambda v: -v, transform_index=1)
    assert [int(v) for v in ds[3]] == [3, -30]


def test_maml_pytorch_functions():
    import torch.nn.functional as F

    from sigver.metalearning import per_step_loss_weights
    from sigver.metalearning.maml_pytorch import balanced_binary_cross_entropy, get_per_step_loss_importance_vector

    assert torch.equal(get_per_step_loss_importance_vector(5, 10, 3), per_step_loss_weights(3, 5, 10))
    logits, y = torch.tensor([0.3, -1.0, 2.0, 0.1, -0.4]), torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    w = y / (2 * 3) + (1 - y) / (2 * 2)  # the original's weights: 1/(2P) and 1/(2N)
    expected = F.binary_cross_entropy_with_logits(logits, y, weight=w, reduction="sum")
    assert torch.allclose(balanced_binary_cross_entropy(logits, y), expected)
    ones = torch.ones(3)
    assert torch.allclose(balanced_binary_cross_entropy(logits[:3], ones),
                          F.binary_cross_entropy_with_logits(logits[:3], ones))
