"""SigNet / SigNet-F losses (docs/protocols.md) against hand-computed values, and the no-genuine-batch bug (docs/compatibility.md)."""
import math

import pytest
import torch

from sigver.featurelearning.losses import classification_stats, signet_f_loss, signet_loss, supcon_loss

LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
Y = torch.tensor([0, 1, 0, 2])
YFORG = torch.tensor([0, 0, 1, 2])
FORG = torch.tensor([[-2.0], [0.5], [1.0], [3.0]])


def _ce(row, label):
    return math.log(sum(math.exp(v) for v in row)) - row[label]


def _bce(z, t):
    p = 1 / (1 + math.exp(-z))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_signet_loss_is_mean_cross_entropy():
    expected = sum(_ce(LOGITS[i].tolist(), int(Y[i])) for i in range(4)) / 4
    assert signet_loss(LOGITS, Y).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("loss_type", ["L1", "L2"])
def test_signet_f_loss_hand_computed(loss_type):
    lamb = 0.95
    out = signet_f_loss(LOGITS, FORG, Y, YFORG, lamb, loss_type)
    # forgery target is yforg > 0: the simple forgery (2) counts as a forgery (target 1, not 2)
    bce = sum(_bce(float(FORG[i]), float(YFORG[i] > 0)) for i in range(4)) / 4
    rows = [0, 1] if loss_type == "L2" else [0, 1, 2, 3]
    ce = sum(_ce(LOGITS[i].tolist(), int(Y[i])) for i in rows) / len(rows)
    assert out["forg_loss"].item() == pytest.approx(bce, rel=1e-6)
    assert out["class_loss"].item() == pytest.approx(ce, rel=1e-6)
    assert out["loss"].item() == pytest.approx((1 - lamb) * ce + lamb * bce, rel=1e-6)


@pytest.mark.parametrize("loss_type", ["L1", "L2"])
def test_batch_without_genuine_is_finite_and_backpropagates(loss_type):
    logits = LOGITS.clone().requires_grad_(True)
    forg = FORG.clone().requires_grad_(True)
    yforg = torch.tensor([1, 1, 2, 1])
    out = signet_f_loss(logits, forg, Y, yforg, 0.5, loss_type)
    assert all(torch.isfinite(v) for v in out.values())
    if loss_type == "L2":
        assert out["class_loss"].item() == 0.0
    out["loss"].backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(forg.grad).all()
    if loss_type == "L2":
        assert torch.count_nonzero(logits.grad) == 0


def test_forg_logits_shape_b_or_b1():
    a = signet_f_loss(LOGITS, FORG, Y, YFORG, 0.3)
    b = signet_f_loss(LOGITS, FORG.view(-1), Y, YFORG, 0.3)
    assert a["loss"].item() == pytest.approx(b["loss"].item())


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss_type"):
        signet_f_loss(LOGITS, FORG, Y, YFORG, 0.5, "L3")
    with pytest.raises(ValueError, match="lamb"):
        signet_f_loss(LOGITS, FORG, Y, YFORG, 1.5)


def test_classification_stats_counts_genuine_only_and_never_nan():
    s = classification_stats(LOGITS, Y, YFORG, FORG)
    assert s["n_genuine"].item() == 2 and s["n"].item() == 4
    assert s["class_correct"].item() == 2  # rows 0 and 1 are right
    assert s["class_loss_sum"].item() == pytest.approx(_ce(LOGITS[0].tolist(), 0) + _ce(LOGITS[1].tolist(), 1))
    assert s["forg_correct"].item() == 3  # -2 genuine, 0.5 wrong (genuine), 1 and 3 forgeries
    none = classification_stats(LOGITS, Y, torch.ones(4, dtype=torch.long))
    assert none["n_genuine"].item() == 0 and none["class_loss_sum"].item() == 0.0


def _supcon_by_hand(feats, y, yforg, t):
    z = [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in feats]
    b = len(z)
    dot = [[sum(p * q for p, q in zip(z[i], z[j])) / t for j in range(b)] for i in range(b)]
    losses = []
    for i in range(b):
        pos = [j for j in range(b) if j != i and y[j] == y[i] and yforg[i] == 0 and yforg[j] == 0]
        if not pos:
            continue
        denom = math.log(sum(math.exp(dot[i][j]) for j in range(b) if j != i))
        losses.append(-sum(dot[i][p] - denom for p in pos) / len(pos))
    return sum(losses) / len(losses) if losses else 0.0


def test_supcon_loss_hand_computed():
    feats = [[1.0, 0.0, 0.5], [0.8, 0.2, 0.4], [0.0, 1.0, 0.0], [0.1, 0.9, 0.3], [0.9, 0.1, 0.5]]
    y, yforg = [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]  # the last one: a forgery of writer 0 (a negative only)
    for t in (0.1, 0.5):
        got = supcon_loss(torch.tensor(feats), torch.tensor(y), torch.tensor(yforg), t)
        assert got.item() == pytest.approx(_supcon_by_hand(feats, y, yforg, t), rel=1e-5)
    # no anchor with a positive: 0, finite and still back-propagating
    f = torch.randn(3, 4, requires_grad=True)
    out = supcon_loss(f, torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]))
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(f.grad).all()
    with pytest.raises(ValueError, match="temperature"):
        supcon_loss(f, torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]), 0.0)


def test_supcon_pulls_writers_together():
    """Gradient steps on the loss alone bring a writer's genuine features closer than its forgery."""
    torch.manual_seed(0)
    f = torch.randn(6, 8, requires_grad=True)
    y, yforg = torch.tensor([0, 0, 0, 1, 1, 0]), torch.tensor([0, 0, 0, 0, 0, 1])
    opt = torch.optim.SGD([f], lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        supcon_loss(f, y, yforg).backward()
        opt.step()
    z = torch.nn.functional.normalize(f.detach(), dim=1)
    assert (z[0] @ z[1]) > (z[0] @ z[5]) and (z[3] @ z[4]) > (z[3] @ z[0])
