"""sigver.adversarial.svm: the differentiable writer-dependent classifier equals sklearn."""
import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sigver.adversarial.svm import TorchWDClassifier, VerificationSystem, decision_logits
from sigver.wd.training import train_wdclassifier_user


def _data(seed=0, n_pos=8, n_neg=40, d=24):
    rng = np.random.RandomState(seed)
    x = np.abs(rng.randn(n_pos + n_neg, d)) * rng.uniform(0.2, 3, d)  # ReLU-like features, uneven scales
    x[:n_pos] += 0.7
    return x, np.r_[np.ones(n_pos), -np.ones(n_neg)], np.abs(rng.randn(30, d))


@pytest.mark.parametrize("svm_type, gamma", [("rbf", 2 ** -5), ("rbf", 2 ** -11), ("linear", None)])
def test_equals_sklearn_decision_function(svm_type, gamma):
    x, y, test = _data()
    pipeline = train_wdclassifier_user((x, y), svm_type, 1.0, gamma)
    module = TorchWDClassifier(pipeline)
    expected = pipeline.decision_function(test)
    got = module(torch.from_numpy(test)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    # float32 input (features from a network): same up to float32 rounding
    np.testing.assert_allclose(module(torch.from_numpy(test).float()).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_bare_svc_gamma_scale_and_gradients():
    x, y, test = _data(1)
    svc = SVC(gamma="scale").fit(x, y)  # gamma as a string: the fitted value is used
    module = TorchWDClassifier(svc)
    np.testing.assert_allclose(module(torch.from_numpy(test)).numpy(), svc.decision_function(test), atol=1e-9)
    t = torch.from_numpy(test[:3]).requires_grad_(True)
    module(t).sum().backward()
    assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    # a centring scaler is handled too
    from sklearn.pipeline import Pipeline
    pipe = Pipeline([("scaler", StandardScaler()), ("classifier", SVC(kernel="linear"))]).fit(x, y)
    np.testing.assert_allclose(TorchWDClassifier(pipe)(torch.from_numpy(test)).numpy(),
                               pipe.decision_function(test), atol=1e-9)


def test_rejects_what_it_cannot_reproduce():
    x, y, _ = _data()
    with pytest.raises(ValueError, match="kernel"):
        TorchWDClassifier(SVC(kernel="poly").fit(x, y))
    with pytest.raises(ValueError, match="fitted"):
        TorchWDClassifier(SVC())


def test_system_and_two_logits(tiny_net):
    x, y, _ = _data(d=32)
    pipeline = train_wdclassifier_user((x, y), "rbf", 1.0, 2 ** -5)
    system = VerificationSystem(tiny_net.eval(), pipeline)
    images = torch.rand(3, 1, 150, 220)
    with torch.no_grad():
        scores = system(images)
        feats = tiny_net(images).double().numpy()
    np.testing.assert_allclose(scores.numpy(), pipeline.decision_function(feats), atol=1e-6)
    logits = decision_logits(torch.tensor([0.5, -1.0]), threshold=0.25)
    assert torch.allclose(logits, torch.tensor([[0.0, 0.25], [0.0, -1.25]]))
