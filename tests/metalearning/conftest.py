"""Fixtures of the meta-learning tests.

``meta_dataset``: a synthetic dataset file of 16 writers x (10 genuine + 5 skilled forgeries), stored at
85 x 121 (half the usual 170 x 242) so that the models run on 75 x 110 crops (``--input-size 75 110``): the
CLI and the proof test cost a fraction of full-size runs. Made once per session.
"""
import pytest

from ..conftest import synthetic_dataset_file

N_WRITERS, N_GENUINE, N_FORGERIES = 16, 10, 5
IMG_SIZE = (85, 121)
INPUT_SIZE = (75, 110)


@pytest.fixture(scope="session")
def meta_dataset(tmp_path_factory):
    """Path of the ``.npz`` dataset file (16 writers, 10 genuine + 5 skilled each, 85 x 121)."""
    return synthetic_dataset_file(tmp_path_factory, "synthetic16_small.npz", img_size=IMG_SIZE, n_users=N_WRITERS,
                                  genuine=N_GENUINE, forgeries=N_FORGERIES, seed=3)
