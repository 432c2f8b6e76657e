"""The training loop of imbnb.train: learning, determinism, loss weighting, prediction helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imbnb import imbalance
from imbnb.data import make_synthetic
from imbnb.models import MLPHead, make_model
from imbnb.train import (
    LOSSES,
    History,
    embed_dataset,
    fit,
    get_device,
    predict,
    predict_proba,
    seed_everything,
)

torch.set_num_threads(2)

ARCH = "C6-C16-F400-F120"


@pytest.fixture(scope="module")
def synth() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train = make_synthetic(n_per_class=100, n_classes=4, size=28, channels=1, seed=0)
    test = make_synthetic(n_per_class=50, n_classes=4, size=28, channels=1, seed=0, split="test")
    return train.images, train.labels, test.images, test.labels


def cnn(seed: int = 0, n_classes: int = 4) -> torch.nn.Module:
    seed_everything(seed)
    return make_model(ARCH, in_channels=1, n_classes=n_classes, input_size=28)


def mlp(seed: int = 0, in_dim: int = 6, n_classes: int = 3) -> MLPHead:
    seed_everything(seed)
    return MLPHead(in_dim, n_classes, hidden=(16,))


def blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 6)).astype(np.float32) + 2.0 * np.eye(3, 6, dtype=np.float32)[y]
    return X, y


def test_fit_learns_the_synthetic_set(synth) -> None:
    X, y, Xt, yt = synth
    model = cnn()
    hist = fit(model, X, y, epochs=5, batch_size=32, seed=0, progress=False, X_val=Xt, y_val=yt)
    assert isinstance(hist, History)
    assert len(hist.losses) == 5 and hist.losses[-1] < hist.losses[0]
    assert len(hist.val_metrics) == 5
    acc = float((predict(model, Xt) == yt).mean())
    assert acc > 0.6, acc  # chance is 0.25
    assert hist.val_metrics[-1]["accuracy"] == pytest.approx(acc)
    assert hist.device == "cpu" or hist.device.startswith("cuda")
    assert hist.n_params == sum(p.numel() for p in model.parameters())
    assert hist.seconds > 0 and hist.to_dict()["epochs"] == 5
    assert not model.training


def test_same_seed_gives_identical_weights_and_predictions(synth) -> None:
    X, y, Xt, _ = synth
    X, y, Xt = X[:120], y[:120], Xt[:40]
    runs = []
    for _ in range(2):
        model = cnn(seed=3)
        hist = fit(model, X, y, epochs=2, batch_size=32, seed=3, device="cpu", progress=False)
        runs.append((model.state_dict(), hist.losses, predict_proba(model, Xt)))
    (sd1, loss1, p1), (sd2, loss2, p2) = runs
    assert sd1.keys() == sd2.keys()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert loss1 == loss2
    assert np.array_equal(p1, p2)
    other = cnn(seed=3)
    fit(other, X, y, epochs=2, batch_size=32, seed=4, device="cpu", progress=False)
    assert not torch.equal(other.state_dict()["classifier.weight"], sd1["classifier.weight"])


def test_uint8_images_are_scaled_by_255(synth) -> None:
    X, y, Xt, _ = synth
    m1, m2 = cnn(), cnn()
    fit(m1, X[:64], y[:64], epochs=1, batch_size=16, device="cpu", progress=False)
    fit(m2, X[:64].astype(np.float32) / 255, y[:64], epochs=1, batch_size=16, device="cpu",
        progress=False)  # fmt: skip
    assert torch.equal(m1.classifier.weight, m2.classifier.weight)
    assert np.array_equal(predict_proba(m1, Xt), predict_proba(m1, Xt.astype(np.float32) / 255))


def test_weighted_ce_equals_torch_weighted_cross_entropy() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(9, 4), torch.tensor([0, 1, 2, 3, 3, 3, 1, 0, 2])
    cw = torch.tensor([0.1, 0.2, 0.3, 0.4])
    loss_fn = LOSSES["ce"](class_counts=np.bincount(target.numpy()))
    expected = F.cross_entropy(logits, target, weight=cw)
    torch.testing.assert_close(loss_fn(logits, target, cw[target]), expected)
    torch.testing.assert_close(loss_fn(logits, target, None), F.cross_entropy(logits, target))
    # per-sample weights: sum(w * ce) / sum(w), checked by hand
    sw = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.5, 0.0, 3.0, 1.0, 1.0])
    ce = -torch.log_softmax(logits, 1)[torch.arange(9), target]
    torch.testing.assert_close(loss_fn(logits, target, sw), (sw * ce).sum() / sw.sum())
    zero = loss_fn(logits, target, torch.zeros(9))
    assert float(zero) == 0.0


def test_class_weight_changes_training_and_equals_sample_weights() -> None:
    X, y = blobs()
    cw = np.array([0.7, 0.2, 0.1])
    kw = dict(epochs=3, batch_size=16, device="cpu", progress=False)
    plain, by_class, by_sample = mlp(), mlp(), mlp()
    h0 = fit(plain, X, y, **kw)
    h1 = fit(by_class, X, y, class_weight=cw, **kw)
    h2 = fit(by_sample, X, y, sample_weight=cw[y], **kw)
    assert h0.losses != h1.losses
    assert h1.losses == h2.losses
    assert torch.equal(by_class.classifier.weight, by_sample.classifier.weight)


def test_balanced_class_weight_is_algorithm_2() -> None:
    X, y = blobs(n=60)
    keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:10], np.flatnonzero(y == 2)[:4]]
    X, y = X[keep], y[keep]
    expected = imbalance.class_weights(y, classes=np.arange(3))
    inv = 1 / (np.bincount(y) / len(y))  # Algorithm 2, lines 9-13
    np.testing.assert_allclose(expected, inv / inv.sum())
    kw = dict(epochs=2, batch_size=8, device="cpu", progress=False)
    m1, m2, m3 = mlp(), mlp(), mlp()
    h1 = fit(m1, X, y, class_weight="balanced", **kw)
    h2 = fit(m2, X, y, class_weight=expected, **kw)
    h3 = fit(m3, X, y, loss="weighted_ce", **kw)
    assert h1.losses == h2.losses == h3.losses


def test_zero_sample_weight_does_not_affect_training() -> None:
    X, y = blobs(n=40)
    sw = np.ones(len(y))
    sw[::4] = 0.0
    kw = dict(epochs=5, batch_size=len(y), device="cpu", progress=False)  # full-batch steps
    weighted, dropped, plain = mlp(), mlp(), mlp()
    fit(weighted, X, y, sample_weight=sw, **kw)
    fit(dropped, X[sw > 0], y[sw > 0], **kw)
    fit(plain, X, y, **kw)
    for a, b, _c in zip(
        weighted.parameters(), dropped.parameters(), plain.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(weighted.classifier.weight, plain.classifier.weight)


def test_zero_weight_gives_zero_gradient_contribution() -> None:
    X, y = blobs(n=12)
    head = mlp()
    loss_fn = LOSSES["ce"]()
    w = torch.ones(12)
    w[3] = 0.0

    def grads(x: np.ndarray, t: np.ndarray, weight: torch.Tensor | None) -> list[torch.Tensor]:
        head.zero_grad()
        loss_fn(head(torch.from_numpy(x)), torch.from_numpy(t), weight).backward()
        return [p.grad.clone() for p in head.parameters()]

    keep = np.arange(12) != 3
    for g1, g2 in zip(grads(X, y, w), grads(X[keep], y[keep], None), strict=True):
        torch.testing.assert_close(g1, g2)


def test_custom_loss_and_bad_arguments() -> None:
    X, y = blobs(n=20)
    calls = []

    def my_loss(logits, target, w):
        calls.append(w)
        return F.cross_entropy(logits, target)

    fit(mlp(), X, y, epochs=1, batch_size=10, loss=my_loss, progress=False)
    assert len(calls) == 2 and calls[0] is None
    with pytest.raises(ValueError, match="'no_such_loss'.*'ce'"):
        fit(mlp(), X, y, epochs=1, batch_size=10, loss="no_such_loss")
    with pytest.raises(ValueError, match="optimizer"):
        fit(mlp(), X, y, epochs=1, batch_size=10, optimizer="lbfgs")
    with pytest.raises(ValueError, match="class_weight"):
        fit(mlp(), X, y, epochs=1, batch_size=10, class_weight=np.ones(2))
    with pytest.raises(ValueError, match="class_weight"):
        fit(mlp(), X, y, epochs=1, batch_size=10, class_weight="auto")
    with pytest.raises(ValueError, match="sample_weight"):
        fit(mlp(), X, y, epochs=1, batch_size=10, sample_weight=-np.ones(20))
    with pytest.raises(ValueError, match="labels"):
        fit(mlp(), X, y + 5, epochs=1, batch_size=10)
    with pytest.raises(ValueError, match="samples"):
        fit(mlp(), X[:5], y, epochs=1, batch_size=10)


def test_sgd_and_a_last_batch_of_one_with_batchnorm(synth) -> None:
    X, y, _, _ = synth
    threads = torch.get_num_threads()
    hist = fit(cnn(), X[:9], y[:9], epochs=1, batch_size=4, optimizer="sgd", progress=False)
    assert np.isfinite(hist.losses).all()
    assert torch.get_num_threads() == threads  # fit leaves global thread settings alone


def test_prediction_helpers(synth) -> None:
    X, y, Xt, _ = synth
    model = cnn()
    fit(model, X[:64], y[:64], epochs=1, batch_size=32, progress=False)
    proba = predict_proba(model, Xt, batch_size=7)
    assert proba.shape == (len(Xt), 4) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(proba, predict_proba(model, Xt), rtol=1e-5, atol=1e-6)
    pred = predict(model, Xt)
    assert pred.dtype == np.int64 and np.array_equal(pred, proba.argmax(1))
    z = embed_dataset(model, Xt, batch_size=13)
    assert z.shape == (len(Xt), 120) and z.dtype == np.float32
    np.testing.assert_allclose(z, embed_dataset(model, torch.from_numpy(Xt)), rtol=1e-5, atol=1e-6)
    assert not model.training
    with torch.no_grad():  # the model stays where it trained (CUDA when there is one)
        logits = model.classify(torch.from_numpy(z).to(next(model.parameters()).device))
    np.testing.assert_allclose(torch.softmax(logits, 1).cpu().numpy(), proba, rtol=1e-4, atol=1e-6)


def test_datasets_are_accepted_directly() -> None:
    train = make_synthetic(n_per_class=8, n_classes=4, size=28, channels=1, seed=2)
    model = cnn()
    hist = fit(model, train, epochs=1, batch_size=16, progress=False, X_val=train)
    assert len(hist.losses) == 1 and set(hist.val_metrics[0]) == {"accuracy", "acsa"}
    with pytest.raises(ValueError, match="y_val"):
        fit(model, train, epochs=1, batch_size=16, X_val=train.images)
    assert embed_dataset(model, train).shape == (32, 120)


def test_devices_and_seeds() -> None:
    assert get_device("cpu") == torch.device("cpu")
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    g1, g2 = seed_everything(5), seed_everything(5)
    assert torch.equal(torch.randperm(10, generator=g1), torch.randperm(10, generator=g2))
    seed_everything(5)
    a = (np.random.rand(), torch.rand(1))
    seed_everything(5)
    b = (np.random.rand(), torch.rand(1))
    assert a[0] == b[0] and torch.equal(a[1], b[1])


def test_torch_threads_sets_and_restores_the_thread_count() -> None:
    from imbnb.train import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):  # None leaves the count as it is
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), torch_threads(1):
        raise RuntimeError("inside")  # an error in the block still restores the count
    assert torch.get_num_threads() == before
