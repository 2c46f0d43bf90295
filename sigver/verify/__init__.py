"""Enrol a user from a few genuine signatures and verify questioned signatures ("is this signature genuine?").

::

    from sigver.verify import enroll, load_user, verify

    user = enroll("signet.pth", ["ref1.png", "ref2.png", "ref3.png"], name="alice", target_far=0.05)
    user.save("alice.npz")                               # one file, no pickle
    verify(load_user("alice.npz"), ["questioned.png"])   # [{"image": ..., "score": ..., "accepted": ...}]

Command line: ``python -m sigver.verify enroll ...`` and ``python -m sigver.verify check ...``.
"""
from .api import DEFAULT_CANVAS, MIN_REFERENCES, enroll, preprocess_images, verify, weights_sha256
from .user import EnrolledUser, EnrollmentError, ModelMismatchError, UserFileError, load_user

__all__ = ["enroll", "verify", "load_user", "EnrolledUser", "UserFileError", "ModelMismatchError",
           "EnrollmentError", "MIN_REFERENCES", "DEFAULT_CANVAS", "preprocess_images", "weights_sha256"]
