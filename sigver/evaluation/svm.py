"""The support vector classifier of the writer-dependent and writer-independent protocols, and its backends.

:func:`make_svc` is the one place where the ``SVC`` of ``sigver.wd`` (one per user, weighted by the class skew),
``sigver.wi`` (one per fold, unweighted) and ``sigver.verify`` (enrolment and ``--target-far`` calibration) is
built. Two backends (``--svm-backend``):

``libsvm`` (default)
    ``sklearn.svm.SVC``: the original code's classifier, so its numbers.
``sklearnex``
    ``sklearnex.svm.SVC`` from scikit-learn-intelex (``pip install 'sigver[sklearnex]'``): oneDAL's SMO solver,
    about 2x faster on large writer-dependent fits (GPDS-shaped: thousands of samples, 2048 features) but
    several times slower on small ones (the real-data protocol: oneDAL's fixed cost per fit; BENCHMARKS.md). It is a subclass of ``sklearn.svm.SVC``
    with the same parameters and the same decision function (``sum_i dual_coef_i K(sv_i, x) + intercept_``,
    positive for the class ``+1``, ``class_weight`` scaling ``C`` per class, ``gamma`` as given, probability
    estimates off), but **not exact**: another solver stops at the same tolerance (``tol=1e-3``) at a slightly
    different point, so scores differ in about the fourth decimal and the metrics by a fraction of a
    percentage point. Use it to explore (hyper-parameters, features); report final numbers with ``libsvm``.

A GPU backend (cuML's ``SVC``) is not offered: it needs a CUDA machine to install and to test on.
"""
from __future__ import annotations

from typing import Dict, Optional

from ..errors import SigverError

__all__ = ["SVM_BACKENDS", "SVMBackendError", "svc_class", "check_svm_backend", "make_svc"]

#: the SVC implementations :func:`make_svc` can build (the first is the default)
SVM_BACKENDS = ("libsvm", "sklearnex")


class SVMBackendError(SigverError, ImportError):
    """The SVM backend asked for is unknown or not installed."""


def svc_class(backend: str = "libsvm"):
    """The ``SVC`` class of ``backend`` (see the module notes); raises :class:`SVMBackendError` when it is unknown
    or not installed."""
    if backend == "libsvm":
        import sklearn.svm

        return sklearn.svm.SVC
    if backend == "sklearnex":
        try:
            from sklearnex.svm import SVC
        except ImportError:
            raise SVMBackendError("--svm-backend sklearnex: scikit-learn-intelex is not installed; "
                                  "pip install 'sigver[sklearnex]' (or use --svm-backend libsvm)") from None
        return SVC
    raise SVMBackendError(f"--svm-backend must be one of {', '.join(SVM_BACKENDS)}, got {backend!r}")


def check_svm_backend(backend: str) -> None:
    """Fail early (one line, exit status 2 on the command line) when ``backend`` cannot be used."""
    svc_class(backend)


def make_svc(svm_type: str, C: float, gamma: Optional[float], class_weight: Optional[Dict[int, float]] = None,
             backend: str = "libsvm"):
    """An unfitted SVC: RBF (``gamma``) or linear, regularisation ``C``, optional ``class_weight``.

    Parameters
    ----------
    svm_type : {'rbf', 'linear'}
    C : float
    gamma : float or None
        RBF kernel width (ignored by the linear SVM).
    class_weight : dict or None
        Multiplies ``C`` per class (the writer-dependent SVMs: ``{1: n_negative / n_positive}``).
    backend : {'libsvm', 'sklearnex'}
        See the module notes.
    """
    SVC = svc_class(backend)
    if svm_type == "rbf":
        return SVC(C=C, gamma=gamma, class_weight=class_weight)
    if svm_type == "linear":
        return SVC(kernel="linear", C=C, class_weight=class_weight)
    raise ValueError(f"svm_type must be 'rbf' or 'linear', got {svm_type!r}")
