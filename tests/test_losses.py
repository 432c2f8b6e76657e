"""Losses of imbnb.losses against values computed by hand with numpy/math."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from imbnb.losses import (
    LOSSES,
    BalancedSoftmaxLoss,
    CosineClassifier,
    CrossEntropy,
    FocalLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    effective_number_weights,
    inverse_prior_weights,
    ldam_margins,
    make_loss,
    posthoc_logit_adjust,
)

torch.set_num_threads(2)

Z = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5, 0.0], [1.0, 1.0, 3.0]])
Y = np.array([0, 2, 1, 0])
COUNTS = np.array([100, 10, 1])


def _z() -> torch.Tensor:
    return torch.tensor(Z, dtype=torch.float64)


def _y() -> torch.Tensor:
    return torch.tensor(Y)


def _nll(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log softmax(z)[y] row by row, written out with math.exp / math.log."""
    out = []
    for row, t in zip(z, y, strict=True):
        denom = sum(math.exp(v) for v in row)
        out.append(-math.log(math.exp(row[t]) / denom))
    return np.array(out)


def _val(loss: torch.Tensor) -> float:
    assert loss.ndim == 0
    return float(loss.detach())


# ---------------------------------------------------------------- cross-entropy and weights


def test_ce_mean_and_weighted_reductions():
    nll = _nll(Z, Y)
    assert _val(CrossEntropy()(_z(), _y())) == pytest.approx(nll.mean(), rel=1e-12)
    cw = np.array([1.0, 2.0, 4.0])
    w = cw[Y]
    assert _val(CrossEntropy(cw)(_z(), _y())) == pytest.approx((w * nll).sum() / w.sum(), rel=1e-6)
    sw = np.array([1.0, 0.0, 2.0, 0.5])
    got = _val(CrossEntropy(cw)(_z(), _y(), torch.tensor(sw)))
    assert got == pytest.approx((w * sw * nll).sum() / (w * sw).sum(), rel=1e-6)
    got = _val(CrossEntropy()(_z(), _y(), sw))  # numpy sample weights accepted
    assert got == pytest.approx((sw * nll).sum() / sw.sum(), rel=1e-12)


def test_all_zero_weights_give_zero_not_nan():
    z = _z().requires_grad_()
    loss = CrossEntropy()(z, _y(), torch.zeros(4))
    assert _val(loss) == 0.0
    loss.backward()
    assert torch.all(z.grad == 0)


def test_inverse_prior_weights_algorithm_2():
    w = inverse_prior_weights([100, 10, 1])
    raw = np.array([111 / 100, 111 / 10, 111 / 1])
    np.testing.assert_allclose(w, raw / raw.sum())
    np.testing.assert_allclose(inverse_prior_weights([5, 0, 5]), [0.5, 0.0, 0.5])


def test_effective_number_weights_by_hand():
    beta = 0.99
    raw = np.array([(1 - beta) / (1 - beta**n) for n in COUNTS])
    w = effective_number_weights(COUNTS, beta)
    np.testing.assert_allclose(w, raw * 3 / raw.sum(), rtol=1e-12)
    assert w.sum() == pytest.approx(3.0)
    assert w[2] > w[1] > w[0]
    np.testing.assert_allclose(effective_number_weights(COUNTS, 0.0), [1.0, 1.0, 1.0])
    # beta -> 1 tends to inverse frequency, normalised to sum C
    inv = 1 / COUNTS
    np.testing.assert_allclose(
        effective_number_weights(COUNTS, 1 - 1e-9), inv * 3 / inv.sum(), rtol=1e-5
    )
    assert effective_number_weights([4, 0, 4], 0.9)[1] == 0.0
    with pytest.raises(ValueError, match="beta"):
        effective_number_weights(COUNTS, 1.0)
    with pytest.raises(ValueError):
        effective_number_weights([0, 0], 0.9)


# ---------------------------------------------------------------- focal


def test_focal_by_hand_and_gamma_zero_is_ce():
    gamma = 2.0
    p = np.exp(-_nll(Z, Y))  # p_t
    fl = -((1 - p) ** gamma) * np.log(p)
    assert _val(FocalLoss(gamma)(_z(), _y())) == pytest.approx(fl.mean(), rel=1e-9)
    alpha = np.array([0.25, 1.0, 2.0])
    a = alpha[Y]
    got = _val(FocalLoss(gamma, alpha)(_z(), _y()))
    assert got == pytest.approx((a * fl).sum() / a.sum(), rel=1e-6)
    # gamma = 0: exactly cross-entropy, also with the alpha weights
    assert _val(FocalLoss(0.0)(_z(), _y())) == pytest.approx(_nll(Z, Y).mean(), rel=1e-12)
    torch.testing.assert_close(FocalLoss(0.0, alpha)(_z(), _y()), CrossEntropy(alpha)(_z(), _y()))


def test_focal_down_weights_easy_examples():
    easy = torch.tensor([[5.0, 0.0]], dtype=torch.float64)
    hard = torch.tensor([[0.0, 0.5]], dtype=torch.float64)
    t = torch.tensor([0])
    ratio_easy = FocalLoss(2.0)(easy, t) / CrossEntropy()(easy, t)
    ratio_hard = FocalLoss(2.0)(hard, t) / CrossEntropy()(hard, t)
    assert ratio_easy < 1e-3 < 0.3 < ratio_hard < 1.0


def test_focal_gradient_finite_when_pt_is_one():
    z = torch.tensor([[200.0, 0.0]], requires_grad=True)
    FocalLoss(0.5)(z, torch.tensor([0])).backward()
    assert torch.isfinite(z.grad).all()


# ---------------------------------------------------------------- LDAM, DRW, cosine head


def test_ldam_margins_values():
    m = ldam_margins([10000, 625, 16, 1], max_m=0.5)
    # n^(-1/4) = 0.1, 0.2, 0.5, 1 -> scaled so the largest is 0.5
    np.testing.assert_allclose(m, [0.05, 0.1, 0.25, 0.5])
    np.testing.assert_allclose(ldam_margins([81, 1], max_m=0.3), [0.1, 0.3])
    np.testing.assert_allclose(ldam_margins([16, 0, 1]), [0.25, 0.5, 0.5])  # empty class: max
    loss = LDAMLoss([10000, 625, 16, 1])
    np.testing.assert_allclose(loss.margins.numpy(), [0.05, 0.1, 0.25, 0.5], rtol=1e-6)


def test_ldam_loss_by_hand():
    cos = np.array([[0.9, 0.1, -0.2], [0.3, 0.2, 0.25], [0.0, 0.4, 0.1]])
    y = np.array([0, 2, 1])
    counts = [10000, 625, 16]
    m = np.array([0.5 * (16 / n) ** 0.25 for n in counts])  # 0.1, 0.2, 0.5
    s = 30.0
    adj = cos.copy()
    adj[np.arange(3), y] -= m[y]
    expected = _nll(s * adj, y).mean()
    got = _val(LDAMLoss(counts, max_m=0.5, s=s)(torch.tensor(cos), torch.tensor(y)))
    assert got == pytest.approx(expected, rel=1e-9)
    # margins make the loss larger than plain scaled CE
    assert got > _nll(s * cos, y).mean()


def test_ldam_drw_switches_at_configured_epoch():
    counts = [500, 50, 5]
    beta = 0.999
    loss = LDAMLoss(counts, drw_epoch=3, beta=beta)
    raw = np.array([(1 - beta) / (1 - beta**n) for n in counts])
    for epoch in range(3):
        loss.on_epoch_start(epoch)
        assert loss.class_weight is None
    z, y = torch.tensor([[0.2, 0.1, 0.0], [0.1, 0.3, 0.2]]), torch.tensor([0, 2])
    unweighted = _val(loss(z, y))
    loss.on_epoch_start(3)
    np.testing.assert_allclose(loss.class_weight.numpy(), raw * 3 / raw.sum(), rtol=1e-6)
    weighted = _val(loss(z, y))
    loss.set_epoch(10)
    assert loss.class_weight is not None
    per = loss.per_sample(z, y).numpy()
    w = raw[[0, 2]]
    assert weighted == pytest.approx((w * per).sum() / w.sum(), rel=1e-5)
    assert weighted != pytest.approx(unweighted)
    loss.set_epoch(0)  # going back (e.g. a new run) switches it off again
    assert loss.class_weight is None
    plain = LDAMLoss(counts)  # no DRW: never weighted
    plain.on_epoch_start(1000)
    assert plain.class_weight is None


def test_cosine_classifier_is_cosine_similarity():
    torch.manual_seed(0)
    head = CosineClassifier(5, 3)
    x = torch.randn(4, 5) * 10
    out = head(x).detach()
    assert out.shape == (4, 3)
    w = head.weight.detach().numpy()
    xn = x.numpy()
    for i in range(4):
        for j in range(3):
            c = xn[i] @ w[j] / (np.linalg.norm(xn[i]) * np.linalg.norm(w[j]))
            assert float(out[i, j]) == pytest.approx(c, abs=1e-5)
    assert out.abs().max() <= 1 + 1e-6
    assert torch.allclose(head(3 * x).detach(), out, atol=1e-6)  # scale invariant in x


# ---------------------------------------------------------------- logit adjustment, bal. softmax


def test_logit_adjusted_loss_by_hand():
    tau = 0.7
    pi = COUNTS / COUNTS.sum()
    expected = _nll(Z + tau * np.log(pi), Y).mean()
    got = _val(LogitAdjustedLoss(COUNTS, tau=tau)(_z(), _y()))
    assert got == pytest.approx(expected, rel=1e-6)
    got_p = _val(LogitAdjustedLoss(priors=pi, tau=tau)(_z(), _y()))
    assert got_p == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="exactly one"):
        LogitAdjustedLoss(COUNTS, priors=pi)
    with pytest.raises(ValueError, match="positive"):
        LogitAdjustedLoss([3, 0, 1])


def test_balanced_softmax_by_hand_and_equals_la_tau_one():
    expected = _nll(Z + np.log(COUNTS), Y).mean()
    got = _val(BalancedSoftmaxLoss(COUNTS)(_z(), _y()))
    assert got == pytest.approx(expected, rel=1e-6)
    la = _val(LogitAdjustedLoss(COUNTS, tau=1.0)(_z(), _y()))
    assert got == pytest.approx(la, rel=1e-6)


def test_posthoc_adjustment_changes_predictions_as_formula_says():
    pi = np.array([0.9, 0.09, 0.01])
    logits = np.array([[2.0, 0.0, 0.0], [2.0, 0.0, -3.0], [0.0, 3.0, 0.0], [1.0, 0.0, 0.5]])
    adj = posthoc_logit_adjust(logits, pi, tau=1.0)
    np.testing.assert_allclose(adj, logits - np.log(pi))
    # by hand: log(0.9) = -0.105, log(0.09) = -2.408, log(0.01) = -4.605
    assert logits.argmax(1).tolist() == [0, 0, 1, 0]
    assert adj.argmax(1).tolist() == [2, 1, 1, 2]
    # tau = 0 changes nothing; counts give the same as priors
    np.testing.assert_allclose(posthoc_logit_adjust(logits, pi, tau=0.0), logits)
    np.testing.assert_allclose(posthoc_logit_adjust(logits, pi * 1000), adj)
    # torch in, torch out, same numbers
    t = posthoc_logit_adjust(torch.tensor(logits), pi, tau=0.5)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), logits - 0.5 * np.log(pi))


# ---------------------------------------------------------------- registry


@pytest.mark.parametrize("name", list(LOSSES))
def test_make_loss_every_name_gives_finite_loss_and_gradient(name):
    params = {"drw_epoch": 1} if name == "ldam_drw" else {}
    loss = make_loss(name, class_counts=COUNTS, **params)
    assert hasattr(loss, "on_epoch_start")
    z = _z().float().requires_grad_()
    for epoch in range(3):
        loss.on_epoch_start(epoch)
        value = loss(z, _y(), torch.ones(4))
        assert torch.isfinite(value)
    value.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_make_loss_values_match_classes():
    torch.testing.assert_close(
        make_loss("cb", class_counts=COUNTS, beta=0.99)(_z(), _y()),
        CrossEntropy(effective_number_weights(COUNTS, 0.99))(_z(), _y()),
    )
    torch.testing.assert_close(
        make_loss("cb_focal", class_counts=COUNTS, beta=0.99, gamma=1.0)(_z(), _y()),
        FocalLoss(1.0, effective_number_weights(COUNTS, 0.99))(_z(), _y()),
    )
    w = inverse_prior_weights(COUNTS)[Y]
    nll = _nll(Z, Y)
    got = _val(make_loss("weighted_ce", class_counts=COUNTS)(_z(), _y()))
    assert got == pytest.approx((w * nll).sum() / w.sum(), rel=1e-6)
    assert make_loss("ldam_drw", class_counts=COUNTS, drw_epoch=5).drw_epoch == 5
    assert make_loss("ce").class_weight is None  # ce needs no counts


def test_make_loss_errors():
    with pytest.raises(ValueError, match=r"unknown loss 'nope'.*balanced_softmax"):
        make_loss("nope", class_counts=COUNTS)
    with pytest.raises(ValueError, match="unknown parameter"):
        make_loss("focal", class_counts=COUNTS, gama=2)
    with pytest.raises(ValueError, match="drw_epoch"):
        make_loss("ldam_drw", class_counts=COUNTS)
    with pytest.raises(ValueError, match="class_counts"):
        make_loss("cb")
    with pytest.raises(ValueError, match="3 classes"):
        make_loss("balanced_softmax", class_counts=COUNTS)(torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(-1.0)
