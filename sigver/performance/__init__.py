"""The continual-learning code's package ``sigver.performance``: only its ``metrics`` module, kept so that its
users' imports work unchanged (the metrics are :mod:`sigver.wd.metrics`)."""
