"""The verification service: an HTTP API and a web page over :mod:`sigver.verify` (README, "Service").

::

    python -m sigver.serve --store users/ --token-file token.txt     # http://127.0.0.1:8000/

- :class:`~sigver.serve.service.VerificationService`: the model loaded once, a store of enrolled users
  (:class:`~sigver.serve.store.UserStore`: SQLite index + sealed user files, written atomically), enrolment,
  and verification with concurrent requests batched through the network
  (:class:`~sigver.serve.batching.FeatureBatcher`);
- :func:`~sigver.serve.app.create_app`: the FastAPI application (API, OpenAPI schema, web page). FastAPI and
  uvicorn come with the optional extra ``serve``; importing this package does not need them.
"""
from .batching import FeatureBatcher
from .security import check_host, read_token
from .service import RequestError, VerificationService
from .store import UserStore, check_user_id

__all__ = ["VerificationService", "UserStore", "FeatureBatcher", "RequestError", "check_user_id", "read_token",
           "check_host", "create_app"]


def create_app(*args, **kwargs):
    """:func:`sigver.serve.app.create_app` (imported when called: it needs FastAPI)."""
    from .app import create_app as create

    return create(*args, **kwargs)
