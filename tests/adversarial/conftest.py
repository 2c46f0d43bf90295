"""Fixtures of the adversarial tests: a tiny synthetic dataset file and a tiny writer classifier."""
import pytest
import torch
from torch import nn

from ..conftest import synthetic_dataset_file

#: 6 writers x (8 genuine + 2 skilled forgeries) = 60 images of 170 x 242.
N_WRITERS, N_GENUINE, N_FORGERIES = 6, 8, 2


@pytest.fixture(scope="session")
def adv_dataset(tmp_path_factory):
    """Path of a ``.npz`` dataset file of synthetic signatures (6 writers, 8 genuine + 2 forgeries each)."""
    return synthetic_dataset_file(tmp_path_factory, "synthetic6.npz", n_users=N_WRITERS, genuine=N_GENUINE,
                                  forgeries=N_FORGERIES, seed=5)


class TinyNet(nn.Module):
    """A small feature extractor for 150 x 220 inputs (fast on a CPU): a 10 x 10 / 10 conv, then linear."""

    feature_space_size = 32

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 10, stride=10), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(8 * 15 * 22, 32), nn.ReLU())

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def tiny_net():
    torch.manual_seed(0)
    return TinyNet()


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test: on a shared 2-core machine, two threads oversubscribe and run 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def thin_checkpoint(tmp_path_factory, adv_dataset):
    """An untrained signet_thin checkpoint with a writer head for the 6 writers (``.pth`` path)."""
    from sigver.featurelearning import create_model, make_heads, save_checkpoint

    torch.manual_seed(0)
    model = create_model("signet_thin")
    head, _ = make_heads(model.feature_space_size, N_WRITERS)
    return save_checkpoint(tmp_path_factory.mktemp("adv_ckpt") / "thin.pth", model, head)
