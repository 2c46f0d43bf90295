"""``sigver.evaluation.svm``: the one place the protocols' SVC is built, its backends, and the error when the
fast backend is asked for but not installed."""
import sys

import numpy as np
import pytest
import sklearn.svm

from sigver.evaluation.svm import SVM_BACKENDS, SVMBackendError, check_svm_backend, make_svc, svc_class
from sigver.errors import SigverError


def problem(seed=0, n_pos=12, n_neg=200, dim=16):
    rs = np.random.RandomState(seed)
    x = np.concatenate([rs.randn(n_pos, dim) + 1.0, rs.randn(n_neg, dim)])
    y = np.r_[np.ones(n_pos), -np.ones(n_neg)]
    return x, y, rs.randn(50, dim) + 0.5


def test_default_is_libsvm_with_the_original_parameters():
    assert SVM_BACKENDS[0] == "libsvm"
    svc = make_svc("rbf", 2.0, 0.1, {1: 5.0})
    assert type(svc) is sklearn.svm.SVC
    assert (svc.C, svc.gamma, svc.kernel, svc.class_weight) == (2.0, 0.1, "rbf", {1: 5.0})
    lin = make_svc("linear", 1.0, None)
    assert type(lin) is sklearn.svm.SVC and lin.kernel == "linear" and lin.class_weight is None


def test_bad_svm_type_and_backend():
    with pytest.raises(ValueError, match="svm_type"):
        make_svc("poly", 1.0, 0.1)
    with pytest.raises(SVMBackendError, match="--svm-backend must be one of libsvm, sklearnex"):
        svc_class("cuml")


def test_sklearnex_missing_is_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearnex", None)  # makes `import sklearnex...` raise ImportError
    monkeypatch.setitem(sys.modules, "sklearnex.svm", None)
    with pytest.raises(SVMBackendError) as e:
        check_svm_backend("sklearnex")
    assert isinstance(e.value, SigverError)
    assert "pip install 'sigver[sklearnex]'" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("svm_type", ["rbf", "linear"])
def test_sklearnex_same_decision_function_semantics(svm_type):
    """A subclass of sklearn's SVC with the same parameters; class weights, gamma and C act alike, the
    decision function has the same sign convention (positive = class +1), and its values agree to the solver's
    tolerance (measured: below 1e-3 here)."""
    pytest.importorskip("sklearnex")
    x, y, q = problem()
    exact = make_svc(svm_type, 1.0, 0.05, {1: 200 / 12}).fit(x, y)
    fast = make_svc(svm_type, 1.0, 0.05, {1: 200 / 12}, backend="sklearnex").fit(x, y)
    assert isinstance(fast, sklearn.svm.SVC) and type(fast) is not sklearn.svm.SVC
    assert fast.get_params()["class_weight"] == {1: 200 / 12} and fast.probability == exact.probability
    assert list(fast.classes_) == [-1, 1]
    np.testing.assert_array_equal(fast.n_support_, exact.n_support_)
    np.testing.assert_allclose(fast.decision_function(q), exact.decision_function(q), atol=1e-3)
    # the support vectors and coefficients users of a fitted SVC read (verify's user file, adversarial)
    assert fast.support_vectors_.shape == exact.support_vectors_.shape
    assert fast.dual_coef_.shape == exact.dual_coef_.shape and fast.intercept_.shape == (1,)
