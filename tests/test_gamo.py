"""Tests of GAMO (chapter 5): convex generator, label sampling, losses, Alg. 1 steps, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from imbnb.book.gamo_chapter import FIGURE1_PANELS, figure1_toy
from imbnb.cache import Cache
from imbnb.data import make_synthetic
from imbnb.estimators.gamo import _Players
from imbnb.methods.gamo import (
    ConvexGenerator,
    GAMONet,
    d_loss,
    fake_label_probs,
    g_loss_d,
    g_loss_m,
    label_rows,
    m_loss,
    method_config,
    nearest_other_distance,
    sample_fake_labels,
    smote_balance,
    train_gamo,
    train_gamo2pix,
)
from imbnb.train import torch_threads

torch.set_num_threads(2)

SMALL = {"feature_dim": 32, "conv_channels": 4, "hidden": (16, 8), "tmu": (16, 8), "latent_dim": 8}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    ds = make_synthetic(n_per_class=[40, 20, 10, 6], n_classes=4, size=28, seed=0)
    return ds.images, ds.labels


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


# -- eq. 1: convex generator -----------------------------------------------------------------


def test_generator_outputs_convex_combinations_inside_hull() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    points = {
        1: torch.from_numpy(rng.normal(size=(7, 2)).astype(np.float32)),
        2: torch.from_numpy(rng.normal(3, 1, size=(5, 2)).astype(np.float32)),
    }
    g = ConvexGenerator(3, {1: 7, 2: 5}, out_dim=2, latent_dim=4, tmu=(8, 6))
    g.set_points(points)
    g.eval()
    z = torch.randn(200, 4)
    y = torch.tensor([1, 2] * 100)
    with torch.no_grad():
        out = g(z, y)
        w = g.weights(z, y)
    for i, wi in w.items():
        assert (wi >= 0).all()
        assert torch.allclose(wi.sum(1), torch.ones(len(wi)), atol=1e-6)
        assert torch.allclose(out[y == i], wi @ points[i], atol=1e-6)  # eq. 1
        hull = Delaunay(points[i].numpy())
        assert (hull.find_simplex(out[y == i].numpy(), tol=1e-6) >= 0).all()
    with pytest.raises(ValueError, match="minority"):
        g(torch.randn(1, 4), torch.tensor([0]))  # class 0 is the majority: no IGU


# -- Alg. 1 line 10: fake labels ∝ (P_c - P_i) ------------------------------------------------


def test_fake_label_sampling_follows_prior_gap() -> None:
    counts = [100, 50, 20, 10]
    p = fake_label_probs(counts)
    np.testing.assert_allclose(p, np.array([0, 50, 80, 90]) / 220)
    n = 40_000
    labels = sample_fake_labels(counts, n, np.random.default_rng(0))
    freq = np.bincount(labels, minlength=4) / n
    assert freq[0] == 0
    # 4 binomial standard errors at most
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12)
    uni = sample_fake_labels(counts, n, np.random.default_rng(1), uniform=True)
    freq_u = np.bincount(uni, minlength=4) / n
    assert freq_u[0] == 0 and np.all(np.abs(freq_u[1:] - 1 / 3) < 0.01)
    with pytest.raises(ValueError, match="no minority"):
        fake_label_probs([5, 5])


# -- eqs. 2-6 on a tiny batch -----------------------------------------------------------------


def test_losses_match_hand_computed_values() -> None:
    P = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    y = torch.tensor([0, 2])
    log = math.log
    ce_m = (-(log(0.7) + log(0.8) + log(0.9)) - (log(0.9) + log(0.7) + log(0.6))) / 2
    ls_m = ((0.3**2 + 0.2**2 + 0.1**2) + (0.1**2 + 0.3**2 + 0.4**2)) / 2
    assert m_loss(P, y, "ce").item() == pytest.approx(ce_m, rel=1e-5)
    assert m_loss(P, y, "ls").item() == pytest.approx(ls_m, rel=1e-5)
    # G vs M: ones' complement targets (Alg. 1 lines 13-14)
    ce_g = (-(log(0.3) + log(0.2) + log(0.1)) - (log(0.1) + log(0.3) + log(0.4))) / 2
    ls_g = ((0.7**2 + 0.8**2 + 0.9**2) + (0.9**2 + 0.7**2 + 0.6**2)) / 2
    assert g_loss_m(P, y, "ce").item() == pytest.approx(ce_g, rel=1e-5)
    assert g_loss_m(P, y, "ls").item() == pytest.approx(ls_g, rel=1e-5)
    real, fake = torch.tensor([0.9, 0.6]), torch.tensor([0.2, 0.5])
    ce_d = -(log(0.9) + log(0.6)) / 2 - (log(0.8) + log(0.5)) / 2  # eq. 3
    ls_d = (0.1**2 + 0.4**2) / 2 + (0.2**2 + 0.5**2) / 2  # eq. 5
    assert d_loss(real, fake, "ce").item() == pytest.approx(ce_d, rel=1e-5)
    assert d_loss(real, fake, "ls").item() == pytest.approx(ls_d, rel=1e-5)
    assert g_loss_d(fake, "ce").item() == pytest.approx(-(log(0.2) + log(0.5)) / 2, rel=1e-5)
    assert g_loss_d(fake, "ls").item() == pytest.approx((0.8**2 + 0.5**2) / 2, rel=1e-5)  # L_i9
    with pytest.raises(ValueError):
        m_loss(P, y, "hinge")


# -- Alg. 1: which player moves in which step ----------------------------------------------------


@pytest.mark.parametrize("loss", ["ce", "ls"])
def test_one_step_moves_the_right_players(data, loss: str) -> None:
    X, y = data
    torch.manual_seed(0)
    cfg = method_config("GAMO", loss=loss, steps=2, **SMALL)
    model = GAMONet(cfg, X.shape[1:], np.bincount(y))
    assert model.minority == [1, 2, 3] and model.G is not None and model.D is not None
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    tr = _Players(model, cfg.settings(), Xt, yt, seed=0)
    model.refresh_points(Xt, yt)
    nets = {"F": model.F, "M": model.M, "D": model.D, "G": model.G}
    before = {k: _params(v) for k, v in nets.items()}
    tr.f_step()  # line 4: only F moves (M fixed)
    assert {k: _changed(before[k], v) for k, v in nets.items()} == {
        "F": True,
        "M": False,
        "D": False,
        "G": False,
    }
    before = {k: _params(v) for k, v in nets.items()}
    points = {i: p.clone() for i, p in model.G.points.items()}
    rec = tr.mdg_step()  # lines 7-15: M, D, G move, F fixed
    assert {k: _changed(before[k], v) for k, v in nets.items()} == {
        "F": False,
        "M": True,
        "D": True,
        "G": True,
    }
    assert set(rec) == {"m_real", "d", "m_fake", "g_m", "g_d"}
    assert all(torch.equal(points[i], model.G.points[i]) for i in points)  # F fixed: same points
    assert all(p.requires_grad for p in model.parameters())  # frozen players thawed again


def test_ablations_and_flat_variant(data) -> None:
    X, y = data
    cfg = method_config("GAMO-noD", **SMALL)
    no_d = GAMONet(cfg, X.shape[1:], np.bincount(y))
    assert no_d.D is None and no_d.G is not None
    tr = _Players(no_d, cfg.settings(), torch.from_numpy(X), torch.from_numpy(y), seed=0)
    no_d.refresh_points(torch.from_numpy(X), torch.from_numpy(y))
    assert set(tr.mdg_step()) == {"m_real", "m_fake", "g_m"}
    cn = GAMONet(method_config("GAMO-CN", **SMALL), X.shape[1:], np.bincount(y))
    assert cn.G is None and cn.D is None
    flat = train_gamo(X, y, method_config("GAMO", variant="flat", steps=3, **SMALL), cache=False)
    pts = (
        flat.net_.G.points[3].cpu().numpy()
    )  # flattened variant: the points are the images themselves
    np.testing.assert_allclose(pts, X[y == 3].reshape(6, -1) / 255.0, atol=1e-6)


# -- seeding and the cache ----------------------------------------------------------------------


def test_seeded_runs_identical_and_cached(data, tmp_path) -> None:
    X, y = data
    cfg = method_config("GAMO", loss="ls", steps=6, phase_steps=2, **SMALL)
    a = train_gamo(X, y, cfg, cache=False)
    b = train_gamo(X, y, cfg, cache=False)
    sa, sb = a.net_.state_dict(), b.net_.state_dict()
    for (ka, va), (kb, vb) in zip(sa.items(), sb.items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka
    np.testing.assert_array_equal(a.generate([1, 2, 3] * 3, seed=1), b.generate([1, 2, 3] * 3, 1))
    c = train_gamo(
        X, y, method_config("GAMO", loss="ls", steps=6, phase_steps=2, seed=1, **SMALL), cache=False
    )
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    cache = Cache(tmp_path)
    first = train_gamo(X, y, cfg, cache=cache)
    second = train_gamo(X, y, cfg, cache=cache)
    assert not first.from_cache_ and second.from_cache_
    assert second.seconds_ == first.seconds_  # the training time, stored with the weights
    np.testing.assert_array_equal(first.predict_proba(X), a.predict_proba(X))
    np.testing.assert_array_equal(second.predict_proba(X), a.predict_proba(X))
    np.testing.assert_array_equal(second.generate([3, 3], seed=2), a.generate([3, 3], seed=2))
    other = train_gamo(X[::-1].copy(), y[::-1].copy(), cfg, cache=cache)  # new data: new key
    assert not other.from_cache_


# -- SMOTE+CN, distances, GAMO2pix ---------------------------------------------------------------


def test_smote_balance_and_distances(data) -> None:
    X, y = data
    Xb, yb = smote_balance(X, y, seed=0)
    assert Xb.dtype == np.uint8 and Xb.shape[1:] == X.shape[1:]
    assert np.bincount(yb).tolist() == [40, 40, 40, 40]
    d = nearest_other_distance(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(d, [1.0, math.sqrt(9 + 9)], rtol=1e-6)


def test_gamo2pix_keeps_f_frozen(data) -> None:
    X, y = data
    model = train_gamo(X, y, method_config("GAMO", steps=2, **SMALL), cache=False)
    f_before = _params(model.net_.F)
    pix = train_gamo2pix(model, X[y == 3], steps=3, batch_size=4, latent=4, cache=False)
    assert not _changed(f_before, model.net_.F)
    imgs = pix.decode_features(model.generate([3] * 5))
    assert imgs.shape == (5, 1, 28, 28) and imgs.min() >= 0 and imgs.max() <= 1


def test_figure1_toy_trains_four_systems_and_measures_bleeding() -> None:
    from imbnb.toys import crescent_toy

    X, y = crescent_toy(0, n_majority=60, n_minority=12)
    assert X.shape == (72, 2) and np.bincount(y).tolist() == [60, 12]
    models, fakes, table = figure1_toy(X, y, steps=20, batch_size=16, seed=0, n_generate=30)
    assert list(models) == list(FIGURE1_PANELS) == list(table.index)
    assert set(fakes) == set(FIGURE1_PANELS) - {"(a) M alone"}  # M alone generates nothing
    for name, fake in fakes.items():
        assert fake.shape == (30, 2)
        assert 0.0 <= table.loc[name, "bleeding"] <= 1.0
    if "(c) convex G vs M (GAMO\\D)" in fakes:  # convex: inside the minority's bounding box
        fake = fakes["(c) convex G vs M (GAMO\\D)"]
        lo, hi = X[y == 1].min(0), X[y == 1].max(0)
        assert ((fake >= lo - 1e-5) & (fake <= hi + 1e-5)).all()
    recalls = table[["majority recall", "minority recall"]].to_numpy()
    assert ((recalls >= 0) & (recalls <= 1)).all()


def test_cached_model_refreshes_its_points_on_the_training_threads(
    data, tmp_path, monkeypatch
) -> None:
    """A reload recomputes G's points; on more threads their float sums (hence every generated
    point) could differ from the trained model's, so it runs on the training's thread count."""
    X, y = data
    cfg = method_config("GAMO", loss="ls", steps=2, phase_steps=1, **SMALL)
    seen: list[int] = []
    refresh = GAMONet.refresh_points

    def spy(self, X, y):
        seen.append(torch.get_num_threads())
        return refresh(self, X, y)

    monkeypatch.setattr(GAMONet, "refresh_points", spy)
    cache = Cache(tmp_path)
    with torch_threads(2):
        train_gamo(X, y, cfg, cache=cache, threads=1)
        seen.clear()
        assert train_gamo(X, y, cfg, cache=cache, threads=1).from_cache_
        assert seen == [1] and torch.get_num_threads() == 2


def test_rows_found_on_the_host_give_the_same_points_without_a_sync() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    points = {
        c: torch.from_numpy(rng.normal(size=(n, 3)).astype(np.float32)) for c, n in [(1, 5), (2, 4)]
    }
    g = ConvexGenerator(3, {1: 5, 2: 4}, out_dim=3, latent_dim=4, tmu=(8, 6))
    g.set_points(points)
    y_host = rng.choice([1, 2], size=50)
    z, y = torch.randn(50, 4), torch.from_numpy(y_host)
    rows = label_rows(y_host, [1, 2])
    assert {c: r.tolist() for c, r in rows.items()} == {
        c: r.tolist() for c, r in label_rows(y, [1, 2]).items()
    }
    with torch.no_grad():
        assert torch.equal(g(z, y), g(z, y, rows))  # bit for bit
    with pytest.raises(ValueError, match="minority classes only"):
        label_rows(np.array([0, 1]), [1, 2])


def test_the_table1_systems_are_registered_once_with_the_papers_names(data) -> None:
    from imbnb.methods import catalog
    from imbnb.methods.gamo import method_data

    assert catalog.names("gamo") == ("GAMO-CN", "GAMO-SMOTE+CN", "GAMO-noD", "GAMO")
    paper = [catalog.get(m).paper_name for m in catalog.names("gamo")]
    assert paper == ["CN", "SMOTE+CN", "GAMO\\D", "GAMO"]
    X, y = data
    Xb, yb = method_data("GAMO-SMOTE+CN", X, y, seed=0)
    assert len(set(np.bincount(yb))) == 1 and len(yb) > len(y)  # balanced by SMOTE
    assert method_data("GAMO-CN", X, y, seed=0)[0] is X
    with pytest.raises(ValueError, match="unknown method 'CN' in family 'gamo'"):
        method_config("CN")
