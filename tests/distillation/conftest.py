"""Fixtures of the distillation tests: a synthetic dataset, a small teacher and its inversion, made once."""
import pytest

from ..conftest import synthetic_dataset_file

#: 10 writers x (10 genuine + 2 skilled forgeries) of 170 x 242: writers 0-3 held out, 4-9 train the teacher.
N_WRITERS, N_GENUINE, N_FORGERIES = 10, 10, 2
TEACHER_USERS = (4, 10)
TEACHER_CLASSES = TEACHER_USERS[1] - TEACHER_USERS[0]
CPU = ["--device", "cpu", "--no-progress"]


@pytest.fixture(scope="session")
def dist_data(tmp_path_factory):
    """Path of the synthetic dataset file (10 writers)."""
    return synthetic_dataset_file(tmp_path_factory, "synthetic10.npz", n_users=N_WRITERS, genuine=N_GENUINE,
                                  forgeries=N_FORGERIES, seed=11)


@pytest.fixture(scope="session")
def continual_data(tmp_path_factory):
    """Path of a continual set: 4 new synthetic writers (ids 100-103), 8 genuine signatures each."""
    return synthetic_dataset_file(tmp_path_factory, "continual4.npz", n_users=4, genuine=8, forgeries=0, seed=12,
                                  first_user=100)


@pytest.fixture(scope="session")
def teacher(tmp_path_factory, dist_data):
    """``model_best.pth`` of a signet_thin teacher trained on writers 4-9 (6 classes), long enough to classify
    their held-out images (a teacher that gives every image the same class would make the tests meaningless)."""
    from sigver.featurelearning.train import main

    logdir = tmp_path_factory.mktemp("dist_teacher")
    code = main(["--model", "signet_thin", "--dataset-path", str(dist_data), "--users", *map(str, TEACHER_USERS),
                 "--epochs", "12", "--batch-size", "8", "--lr", "0.01", "--lr-decay-times", "1", "--logdir",
                 str(logdir), "--overwrite", *CPU])
    assert code == 0
    return logdir / "model_best.pth"


@pytest.fixture(scope="session")
def inverted(tmp_path_factory, teacher):
    """An inversion of the teacher: 4 images per class (24), few steps."""
    from sigver.distillation.invert import main

    path = tmp_path_factory.mktemp("dist_inv") / "inverted.npz"
    code = main(["--t-model", "signet_thin", "--t-checkpoint", str(teacher), "--per-class", "4", "--iterations", "24",
                 "--batch-size", "12", "--lr", "0.2", "--logit-init", "-3", "--bn-weight", "0.001", "--tv-weight",
                 "0.1", "--l1-weight", "0.1", "--save-path", str(path), *CPU])
    assert code == 0
    return path
