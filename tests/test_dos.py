"""Deep Over-sampling (imbnb.methods.dos): overloading, simplex weights, micro-cluster losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imbnb.data import make_synthetic
from imbnb.methods.dos import (
    DOS,
    build_overloaded_set,
    class_overloading,
    in_class_neighbors,
    in_class_variance,
    micro_cluster_losses,
    oversampling_rates,
    ratio_from_fraction,
    sample_simplex,
)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray]:
    """Three 2-d blobs of sizes 12, 12, 4 (class 2 is the minority)."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    y = np.repeat([0, 1, 2], [12, 12, 4])
    z = centres[y] + rng.normal(scale=0.5, size=(len(y), 2))
    return z.astype(np.float32), y


@pytest.fixture(scope="module")
def images():
    """A tiny learnable image set: 2 majority classes of 60, 2 minority classes of 15."""
    return make_synthetic([60, 60, 15, 15], n_classes=4, size=16, seed=0)


def test_overloading_and_rates_follow_section_3_5() -> None:
    ks = class_overloading([0, 1, 2], minority=[2], k=5)
    assert ks == {0: 0, 1: 0, 2: 5}
    counts = {0: 100, 1: 100, 2: 10, 3: 12}
    # eq. 11: R = mean(10, 12) / 100 = 0.11 -> r = ceil(1/R) = 10 for the minority
    assert oversampling_rates(counts, [2, 3]) == {0: 1, 1: 1, 2: 10, 3: 10}
    assert oversampling_rates(counts, [2, 3], r=3) == {0: 1, 1: 1, 2: 3, 3: 3}
    assert oversampling_rates(counts, [], r="auto") == {0: 1, 1: 1, 2: 1, 3: 1}
    with pytest.raises(ValueError):
        oversampling_rates(counts, [2], r=0)
    assert ratio_from_fraction(0.9) == 10 and ratio_from_fraction(0.99) == 100


def test_neighbour_sets_are_in_class_and_start_with_self(toy) -> None:
    z, y = toy
    nbrs = in_class_neighbors(z, y, {0: 0, 1: 3, 2: 5})
    assert nbrs.shape == (len(y), 6)
    assert (nbrs[:, 0] == np.arange(len(y))).all()  # f(x_i) is in N(x_i) (eq. 1)
    assert (nbrs[y == 0, 1:] == -1).all()  # k = 0: N = {f(x_i)}
    ones = nbrs[y == 1]
    assert (ones[:, 1:4] >= 0).all() and (ones[:, 4:] == -1).all()
    assert (y[ones[:, :4]] == 1).all()
    # class 2 has 4 members: at most 3 neighbours besides itself, all of class 2, no repeats
    twos = nbrs[y == 2]
    assert (twos[:, 4:] == -1).all() and (y[twos[:, :4]] == 2).all()
    assert all(len(set(row[:4])) == 4 for row in twos)
    # they are the nearest: brute force on class 1
    rows = np.flatnonzero(y == 1)
    d = ((z[rows, None] - z[None, rows]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    expect = rows[np.argsort(d, axis=1)[:, :3]]
    assert (np.sort(ones[:, 1:4], axis=1) == np.sort(expect, axis=1)).all()


def test_simplex_weights() -> None:
    rng = np.random.default_rng(0)
    w = sample_simplex(rng, 500, np.array([1, 3, 6] * 166 + [2, 2]))
    assert w.shape == (500, 6)
    assert (w >= 0).all() and np.allclose(w.sum(axis=1), 1.0, atol=1e-6)
    assert (w[0, 1:] == 0).all() and w[0, 0] == 1.0
    assert (w[1, 3:] == 0).all()
    # flat Dirichlet on 3 entries: each mean 1/3
    assert np.allclose(w[1::3, :3].mean(axis=0), 1 / 3, atol=0.05)


def test_overloaded_set_size_is_sum_n_j_r_j(toy) -> None:
    z, y = toy
    ks = class_overloading([0, 1, 2], [2], k=3)
    rates = oversampling_rates({0: 12, 1: 12, 2: 4}, [2])
    assert rates[2] == 3
    zset = build_overloaded_set(z, y, ks, rates, np.random.default_rng(0))
    assert len(zset) == 12 + 12 + 4 * 3  # sum_j n_j r_j (eq. 7)
    assert (zset.labels == y[zset.source]).all()
    assert np.allclose(zset.weights.sum(axis=1), 1.0, atol=1e-6)
    assert ((zset.weights > 0) == (zset.neighbors >= 0)).all()
    # each minority sample appears r = 3 times, with different weight vectors
    first = np.flatnonzero(zset.source == np.flatnonzero(y == 2)[0])
    assert len(first) == 3 and not np.allclose(zset.weights[first[0]], zset.weights[first[1]])
    assert np.array_equal(zset.targets, z)
    # k larger than a class: the neighbour set is the whole class, shapes stay consistent
    big = build_overloaded_set(z, y, {0: 0, 1: 0, 2: 10}, rates, np.random.default_rng(0))
    assert big.weights.shape == big.neighbors.shape == (len(big), 11)
    assert ((big.weights > 0) == (big.neighbors >= 0)).all()


def test_micro_cluster_losses_match_hand_computation() -> None:
    fx = torch.tensor([[0.0, 0.0]], requires_grad=True)
    # N(x) = {f(x_i) at round start, v1, v2}; the third column is padding
    targets = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [9.0, 9.0]]])
    w = torch.tensor([[0.5, 0.25, 0.25, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    y = torch.tensor([1])
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        lin.bias.zero_()
    lf, lg = micro_cluster_losses(fx, targets, w, mask, y, lin)
    # eq. 8: 0.5*1 + 0.25*4 + 0.25*18 = 6.0
    assert lf.item() == pytest.approx(6.0)
    # eq. 10: self weight exp(0); v1: exp(-0.25*4); v2: exp(-0.25*18)
    raw = np.array([1.0, np.exp(-1.0), np.exp(-4.5)])
    rho = raw / raw.sum()

    def ce(logits: list[float]) -> float:  # H(g(v), y=1)
        logits_a = np.array(logits)
        return float(-logits_a[1] + np.log(np.exp(logits_a).sum()))

    expect = rho[0] * ce([0, 0]) + rho[1] * ce([0, 2]) + rho[2] * ce([3, 3])
    assert lg.item() == pytest.approx(expect, rel=1e-5)
    (lf + lg).sum().backward()
    # d lf / d f(x) = 2 sum w_i (f - v_i) = 2 * (-(0.5*[1,0] + 0.25*[0,2] + 0.25*[3,3]))
    grad_f = -2 * np.array([0.5 + 0.75, 0.5 + 0.75])
    ce_grad = rho[0] * (np.array([0.5, 0.5]) - np.array([0.0, 1.0]))  # softmax - onehot, via g
    assert np.allclose(fx.grad.numpy()[0], grad_f + ce_grad, atol=1e-5)


def test_in_class_variance(toy) -> None:
    z, y = toy
    v = in_class_variance(z, y)
    assert 0 < v["ratio"] < 0.2  # well separated blobs
    centred = z.copy()
    for c in range(3):
        centred[y == c] = z[y == c].mean(axis=0)
    assert in_class_variance(centred, y)["within"] == pytest.approx(0.0, abs=1e-9)


def test_targets_fixed_within_a_round(images, monkeypatch) -> None:
    """The overloaded set is built once per round, from the embedding at the round's start."""
    import imbnb.methods.dos as dos_mod

    built: list[np.ndarray] = []
    real = dos_mod.build_overloaded_set

    def spy(z, *args, **kwargs):
        built.append(np.array(z, copy=True))
        return real(z, *args, **kwargs)

    monkeypatch.setattr(dos_mod, "build_overloaded_set", spy)
    seen: list[np.ndarray] = []
    real_train = DOS._train_round

    def train_spy(self, model, zset, *args):
        before = zset.targets.copy()
        out = real_train(self, model, zset, *args)
        seen.append(zset.targets)
        assert np.array_equal(before, zset.targets)  # training did not move the targets
        return out

    monkeypatch.setattr(DOS, "_train_round", train_spy)
    d = DOS("C6-C16-F32", k=3, minority=[2, 3], rounds=2, init_epochs=1, batch_size=32, seed=0)
    d.fit(images.images, images.labels)
    assert len(built) == 2 and len(seen) == 2
    assert not np.allclose(built[0], built[1])  # recomputed with the updated f (Alg. 1 l.8)
    assert [h["n_quadruplets"] for h in d.history_] == [120 + 30 * 4] * 2  # r = ceil(60/15)


def test_dos_round_shrinks_in_class_variance_and_is_deterministic(images) -> None:
    kw = dict(k=3, minority=[2, 3], rounds=2, init_epochs=8, batch_size=32, seed=0)
    a = DOS("C6-C16-F32", **kw).fit(images.images, images.labels)
    first = a.history_[0]
    assert first["var_ratio_after"] < first["var_ratio_before"]
    assert a.history_[-1]["var_ratio_after"] < first["var_ratio_before"]
    b = DOS("C6-C16-F32", **kw).fit(images.images, images.labels)
    pa, pb = a.predict_proba(images.images), b.predict_proba(images.images)
    assert np.array_equal(pa, pb)
    assert pa.shape == (len(images), 4) and np.allclose(pa.sum(axis=1), 1, atol=1e-5)
    assert a.embed(images.images).shape == (len(images), 32)
    assert (a.predict(images.images) == images.labels).mean() > 0.5


def test_init_model_is_not_modified(images) -> None:
    from imbnb.models import make_model
    from imbnb.train import fit

    model = make_model("C6-C16-F32", in_channels=1, n_classes=4, input_size=16)
    fit(model, images.images, images.labels, epochs=1, batch_size=32, progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = DOS("C6-C16-F32", k=3, minority=[2, 3], rounds=1, batch_size=32)
    d.fit(images.images, images.labels, init_model=model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(RuntimeError):
        DOS().predict(images.images)
