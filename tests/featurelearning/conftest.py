"""Fixtures of the feature-learning tests: a small synthetic dataset file, made once per session."""
import pytest

from ..conftest import synthetic_dataset_file

#: 8 writers x (12 genuine + 2 skilled forgeries) = 112 images of 170 x 242.
N_WRITERS, N_GENUINE, N_FORGERIES = 8, 12, 2


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Path of a ``.npz`` dataset file of synthetic signatures (8 writers, 12 genuine + 2 forgeries each)."""
    return synthetic_dataset_file(tmp_path_factory, "synthetic8.npz", n_users=N_WRITERS, genuine=N_GENUINE,
                                  forgeries=N_FORGERIES, seed=3)
