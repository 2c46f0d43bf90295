"""sigver.adversarial.attacks: L2 budget, box constraints, no NaN, schedules, the fast-gradient step."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sigver.adversarial.attacks import (
    PGD_max_l2_truncate, eval_mode, fast_gradient_l2, l2_norm, pgd_l2, pgd_step_sizes, restrict_l2_norm,
    squared_l2_norm)


def _linear_model(seed=0, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4 * 5, classes))


def test_norms_and_projection_by_hand():
    d = torch.tensor([[[[3.0, 4.0]]], [[[0.3, 0.4]]], [[[0.0, 0.0]]]])
    assert torch.equal(squared_l2_norm(d), torch.tensor([25.0, 0.25, 0.0]))
    assert torch.allclose(l2_norm(d), torch.tensor([5.0, 0.5, 0.0]))
    p = restrict_l2_norm(d, 1.0)
    assert torch.allclose(p[0], torch.tensor([[[0.6, 0.8]]]))   # rescaled onto the ball
    assert torch.equal(p[1], d[1])                                # inside: unchanged
    assert torch.equal(p[2], d[2]) and not torch.isnan(p).any()   # zero: no NaN (the original's bug)
    per_sample = restrict_l2_norm(d, torch.tensor([2.5, 0.1, 1.0]))
    assert torch.allclose(l2_norm(per_sample), torch.tensor([2.5, 0.1, 0.0]))


def test_step_sizes():
    fast = pgd_step_sizes(5, fast=True)
    assert fast[0] == 1.0 and fast[-1] == pytest.approx(0.01) and np.all(np.diff(fast) < 0)
    assert pgd_step_sizes(8, fast=False) == pytest.approx([1, 1, 0.3, 0.3, 0.09, 0.09, 0.027, 0.027])
    assert pgd_step_sizes(3, fast=False) == pytest.approx([1, 0.3, 0.09])  # steps // 4 == 0: every step
    assert pgd_step_sizes(1, fast=True) == [1.0] and pgd_step_sizes(0, fast=True) == []


@pytest.mark.parametrize("fast", [True, False])
def test_pgd_respects_budget_and_box(fast):
    model = _linear_model()
    x = torch.rand(6, 1, 4, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    for budget in (0.05, 0.5, torch.tensor([0.0, 0.1, 0.2, 0.3, 5.0, 50.0])):
        adv = pgd_l2(model, x, y, steps=10, max_l2=budget, fast=fast)
        limit = torch.as_tensor(budget).expand(6)
        assert (l2_norm(adv - x) <= limit + 1e-5).all()
        assert adv.min() >= 0 and adv.max() <= 1 and not torch.isnan(adv).any()
    assert torch.equal(pgd_l2(model, x, y, steps=5, max_l2=0.0, fast=fast), x)
    # box other than [0, 1]
    adv = pgd_l2(model, x * 0.5 + 0.25, y, steps=5, max_l2=10.0, image_constraints=(0.25, 0.75), fast=fast)
    assert adv.min() >= 0.25 and adv.max() <= 0.75


def test_pgd_increases_loss_targeted_decreases_and_leaves_model_alone():
    model = _linear_model()
    x, y = torch.rand(8, 1, 4, 5), torch.randint(0, 3, (8,))
    clean = F.cross_entropy(model(x), y)
    model.train()
    adv = pgd_l2(model, x, y, steps=10, max_l2=1.0, fast=True)
    assert F.cross_entropy(model(adv), y) > clean
    assert model.training and all(p.grad is None for p in model.parameters())
    target = (y + 1) % 3
    adv_t = PGD_max_l2_truncate(steps=10, max_l2=1.0, fast=False).attack(model, x, target, targeted=True)
    assert F.cross_entropy(model(adv_t), target) < F.cross_entropy(model(x), target)


def test_zero_gradient_gives_no_nan():
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 3))
    nn.init.zeros_(model[1].weight)  # the input has no influence: zero gradient everywhere
    x, y = torch.rand(4, 1, 4, 5), torch.zeros(4, dtype=torch.long)
    for fast in (True, False):
        adv = pgd_l2(model, x, y, steps=3, max_l2=1.0, fast=fast)
        assert torch.equal(adv, x)
    assert torch.equal(fast_gradient_l2(model, x, y, eps=1.0), x)


def test_fast_gradient_step_by_hand():
    # one logit difference w.x: the CE gradient is along -w for label 0, so x_adv = x - eps * w / |w|
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 2, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[1] = torch.linspace(-1, 1, 20)
    x = torch.full((2, 1, 4, 5), 0.5)
    y = torch.tensor([0, 1])
    adv = fast_gradient_l2(model, x, y, eps=0.3, image_constraints=(0, 1))
    w = model[1].weight[1].reshape(1, 4, 5)
    assert torch.allclose(adv[0], 0.5 + 0.3 * w / w.norm(), atol=1e-6)
    assert torch.allclose(adv[1], 0.5 - 0.3 * w / w.norm(), atol=1e-6)
    assert torch.allclose(l2_norm(adv - x), torch.tensor([0.3, 0.3]), atol=1e-6)
    # the box is enforced after the step
    big = fast_gradient_l2(model, x, y, eps=100.0)
    assert big.min() >= 0 and big.max() <= 1


def test_bad_arguments():
    model = _linear_model()
    x, y = torch.rand(2, 1, 4, 5), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="min < max"):
        pgd_l2(model, x, y, 2, 1.0, image_constraints=(1, 0))
    with pytest.raises(ValueError, match=">= 0"):
        fast_gradient_l2(model, x, y, eps=-1.0)
    with pytest.raises(ValueError, match="shape"):
        restrict_l2_norm(x, torch.ones(3))


def test_eval_mode_restores():
    a, b = nn.BatchNorm1d(2), nn.BatchNorm1d(2).eval()
    with eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
