"""Fixtures of the training-engine tests: the small synthetic dataset of the feature-learning tests."""
from ..featurelearning.conftest import tiny_dataset  # noqa: F401
