"""The GAMO and GAMO2pix estimators (sklearn style): fit returns self, seeding, validation,
Algorithm 1's schedule through the one training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

import imbnb.estimators.gamo as gamo_module
from imbnb.data import make_synthetic
from imbnb.estimators.gamo import GAMO, GAMOSettings, _round_sizes
from imbnb.estimators.gamo2pix import GAMO2pix

torch.set_num_threads(2)

SMALL = {"feature_dim": 16, "conv_channels": 4, "hidden": (8, 8), "tmu": (8, 8), "latent_dim": 4}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    ds = make_synthetic(n_per_class=[30, 12, 6], n_classes=3, size=28, seed=1)
    return ds.images, ds.labels


def _gamo(**kw) -> GAMO:
    rs = kw.pop("random_state", 0)
    return GAMO(GAMOSettings(**{**SMALL, "steps": 4, **kw}), random_state=rs)


def test_fit_returns_self_with_learned_attributes(data) -> None:
    X, y = data
    est = _gamo()
    assert est.fit(X, y) is est
    assert est.classes_.tolist() == [0, 1, 2] and est.minority_ == [1, 2]
    assert est.counts_.tolist() == [30, 12, 6] and est.seconds_ > 0
    assert {"f", "m_real", "d", "m_fake", "g_m", "g_d"} <= set(est.history_)
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert est.predict(X).dtype == np.int64
    assert est.generate([1, 2, 2]).shape == (3, 16)
    w = est.generate_weights(2, 5)
    assert w.shape == (5, 6) and np.allclose(w.sum(1), 1, atol=1e-5)
    assert clone(est).get_params()["settings"] == est.settings  # sklearn's clone works


def test_same_random_state_same_predictions(data) -> None:
    X, y = data
    a, b, c = _gamo().fit(X, y), _gamo().fit(X, y), _gamo(random_state=1).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.generate([1, 2], seed=3), b.generate([1, 2], seed=3))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_set_state_gives_the_fitted_model(data) -> None:
    X, y = data
    a = _gamo().fit(X, y)
    b = _gamo().set_state(X, y, a.net_.state_dict())
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.generate([2, 1], seed=1), b.generate([2, 1], seed=1))


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"loss": "hinge"}, "loss"),
        ({"variant": "deep"}, "variant"),
        ({"generator": "linear"}, "generator"),
        ({"discriminator": "yes"}, "discriminator"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"phase_steps": -1}, "phase_steps"),
        ({"lr": 0}, "lr"),
        ({"beta1": 1.0}, "beta1"),
        ({"hidden": (8,)}, "hidden"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(data, change, name) -> None:
    X, y = data
    with pytest.raises(ValueError, match=name):
        _gamo(**change).fit(X, y)


def test_bad_data_raises(data) -> None:
    X, y = data
    with pytest.raises(ValueError, match="one label per row"):
        _gamo().fit(X, y[:-1])
    with pytest.raises(ValueError, match="needs training points"):
        _gamo().fit(X, np.where(y == 1, 2, y))  # class 1 missing
    with pytest.raises(ValueError, match="variant 'conv'"):
        _gamo().fit(X.reshape(len(X), -1), y)
    balanced = np.arange(len(y)) % 3
    with pytest.raises(ValueError, match="no minority class"):
        _gamo().fit(X, balanced)
    with pytest.raises(ValueError, match="settings"):
        GAMO(settings={"loss": "ls"}).fit(X, y)


def test_algorithm1_rounds_run_through_the_one_loop(data, monkeypatch) -> None:
    """Each epoch of train_epochs is a round: u F steps, a refresh of G's points, v M/D/G steps."""
    X, y = data
    s = GAMOSettings(**SMALL, steps=7, phase_steps=3)
    assert _round_sizes(s, len(y)) == [3, 3, 1]
    seen: list[list[str]] = []
    real = gamo_module.train_epochs

    def spy(step, batches, spec, **kw):
        seen.extend(list(batches(e)) for e in range(spec.epochs))
        return real(step, batches, spec, **kw)

    monkeypatch.setattr(gamo_module, "train_epochs", spy)
    GAMO(s, random_state=0).fit(X, y)
    assert seen == [["f"] * k + ["points"] + ["mdg"] * k for k in (3, 3, 1)]
    flat = GAMO(GAMOSettings(**SMALL, variant="flat", steps=2, phase_steps=2), random_state=0)
    seen.clear()
    flat.fit(X.reshape(len(X), -1), y)
    assert seen == [["points", "mdg", "mdg"]]  # the flattened F is never trained


def test_gamo2pix_estimator(data) -> None:
    X, y = data
    gamo = _gamo().fit(X, y)
    pix = GAMO2pix(gamo, latent=4, steps=5, batch_size=4, random_state=0)
    assert pix.fit(X[y == 2]) is pix
    assert len(pix.history_["loss"]) == 3  # 6 images in batches of 4: epochs of 2, 2, 1 steps
    again = GAMO2pix(gamo, latent=4, steps=5, batch_size=4, random_state=0).fit(X[y == 2])
    h = gamo.generate([2, 2, 2], seed=1)
    np.testing.assert_array_equal(pix.decode_features(h), again.decode_features(h))
    with pytest.raises(ValueError, match="steps"):
        GAMO2pix(gamo, steps=0).fit(X[y == 2])
    with pytest.raises(ValueError, match="28, 28"):
        GAMO2pix(gamo).fit(X[:, :, :20, :20])
    flat = _gamo(variant="flat").fit(X.reshape(len(X), -1), y)
    with pytest.raises(ValueError, match="conv variant"):
        GAMO2pix(flat).fit(X[y == 2])
