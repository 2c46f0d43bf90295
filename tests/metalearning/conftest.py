"""Fixtures of the meta-learning tests: the feature-learning tests' tiny synthetic dataset file (8 writers,
12 genuine + 2 skilled forgeries each), made once per session."""
from tests.featurelearning.conftest import tiny_dataset  # noqa: F401  (a session fixture)
