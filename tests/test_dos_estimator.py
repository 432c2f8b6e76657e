"""The DOS estimator (imbnb.estimators.dos.DOS): sklearn-style fit, determinism, stored state,
parameter validation, and the algorithm's rounds (targets fixed within a round)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import imbnb.estimators.dos as dos_mod
from imbnb.data import make_synthetic
from imbnb.estimators.dos import DOS, DOSState

torch.set_num_threads(2)

ARCH = "C6-C16-F32"


@pytest.fixture(scope="module")
def images():
    """A tiny learnable image set: 2 majority classes of 60, 2 minority classes of 15."""
    return make_synthetic([60, 60, 15, 15], n_classes=4, size=16, seed=0)


@pytest.fixture(scope="module")
def fitted(images) -> DOS:
    """One fitted DOS shared by the read-only tests."""
    kw = dict(k=3, minority=[2, 3], rounds=1, init_epochs=2, batch_size=32, random_state=1)
    return DOS(ARCH, **kw).fit(images.images, images.labels)


def test_fit_returns_self_and_sets_fitted_attributes(images) -> None:
    d = DOS(ARCH, k=3, rounds=1, init_epochs=1, batch_size=32)
    assert d.fit(images.images, images.labels) is d
    assert d.minority_ == [2, 3]  # None: classes smaller than half the largest
    assert d.ks_ == {0: 0, 1: 0, 2: 3, 3: 3} and d.rates_ == {0: 1, 1: 1, 2: 4, 3: 4}
    assert d.n_classes_ == 4 and d.input_shape_ == (1, 16, 16)
    assert len(d.history_) == 1 and d.seconds_ > 0
    assert not d.model_.training


def test_targets_fixed_within_a_round(images, monkeypatch) -> None:
    """The overloaded set is built once per round, from the embedding at the round's start,
    and training does not move that round's targets."""
    built: list[tuple[np.ndarray, object]] = []
    real = dos_mod.build_overloaded_set

    def spy(z, *args, **kwargs):
        zset = real(z, *args, **kwargs)
        built.append((zset.targets.copy(), zset))
        return zset

    monkeypatch.setattr(dos_mod, "build_overloaded_set", spy)
    d = DOS(ARCH, k=3, minority=[2, 3], rounds=2, init_epochs=1, batch_size=32, random_state=0)
    d.fit(images.images, images.labels)
    assert len(built) == 2
    assert all(np.array_equal(before, zset.targets) for before, zset in built)
    assert not np.allclose(built[0][0], built[1][0])  # recomputed with the updated f (l.8)
    assert [h["n_quadruplets"] for h in d.history_] == [120 + 30 * 4] * 2  # r = ceil(60/15)
    assert [h["round"] for h in d.history_] == [1, 2]


def test_dos_round_shrinks_in_class_variance_and_is_deterministic(images) -> None:
    kw = dict(k=3, minority=[2, 3], rounds=2, init_epochs=8, batch_size=32, random_state=0)
    a = DOS(ARCH, **kw).fit(images.images, images.labels)
    first = a.history_[0]
    assert first["var_ratio_after"] < first["var_ratio_before"]
    assert a.history_[-1]["var_ratio_after"] < first["var_ratio_before"]
    b = DOS(ARCH, **kw).fit(images.images, images.labels)
    pa, pb = a.predict_proba(images.images), b.predict_proba(images.images)
    assert np.array_equal(pa, pb)  # same random_state: the same network
    assert [h["loss_f"] for h in a.history_] == [h["loss_f"] for h in b.history_]
    assert pa.shape == (len(images), 4) and np.allclose(pa.sum(axis=1), 1, atol=1e-5)
    assert a.embed(images.images).shape == (len(images), 32)
    assert (a.predict(images.images) == images.labels).mean() > 0.5


def test_other_random_state_gives_other_network(images, fitted) -> None:
    kw = dict(k=3, minority=[2, 3], rounds=1, init_epochs=2, batch_size=32, random_state=2)
    other = DOS(ARCH, **kw).fit(images.images, images.labels)
    assert not np.array_equal(other.predict_proba(images.images), fitted.predict_proba(images))


def test_from_state_round_trip_predicts_identically(images, fitted) -> None:
    state = fitted.get_state()
    assert all(v.device.type == "cpu" for v in state.weights.values())
    # the JSON part goes through its text form, as in the cache
    meta = json.loads(json.dumps(state.meta()))
    state2 = DOSState.from_meta(meta, state.weights, state.n_classes, state.input_shape)
    params = dict(k=3, minority=[2, 3], rounds=1, init_epochs=2, batch_size=32, random_state=1)
    again = DOS.from_state(state2, arch=ARCH, **params)
    assert np.array_equal(again.predict_proba(images), fitted.predict_proba(images))
    assert np.array_equal(again.embed(images), fitted.embed(images))
    assert again.history_ == fitted.history_ and again.ks_ == fitted.ks_
    assert again.rates_ == fitted.rates_ and again.minority_ == fitted.minority_
    assert again.get_config() == fitted.get_config()


def test_init_model_is_not_modified(images) -> None:
    from imbnb.models import make_model
    from imbnb.train import fit

    model = make_model(ARCH, in_channels=1, n_classes=4, input_size=16)
    fit(model, images.images, images.labels, epochs=1, batch_size=32, progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = DOS(ARCH, k=3, minority=[2, 3], rounds=1, batch_size=32)
    d.fit(images.images, images.labels, init_model=model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(RuntimeError, match="not fitted"):
        DOS().predict(images.images)
    with pytest.raises(RuntimeError, match="not fitted"):
        DOS().get_state()


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("k", -1, "int >= 0"),
        ("k_majority", 1.5, "int >= 0"),
        ("minority", "23", "sequence of class ids"),
        ("r", 0, "'auto'"),
        ("r", "twice", "'auto'"),
        ("rounds", -1, "int >= 0"),
        ("init_epochs", 0, "int >= 1"),
        ("batch_size", 0, "int >= 1"),
        ("lr", 0.0, "number > 0"),
        ("lambda_f", -1.0, "number >= 0"),
        ("random_state", None, "int >= 0"),
        ("random_state", True, "int >= 0"),
        ("device", 3, "device"),
        ("progress", "yes", "True or False"),
        ("arch", "", "make_model spec"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(images, name, value, allowed) -> None:
    d = DOS(**{name: value})
    with pytest.raises(ValueError, match=f"'{name}'.*{allowed}"):
        d.fit(images.images, images.labels)


def test_mismatched_lengths_raise(images) -> None:
    with pytest.raises(ValueError, match="samples"):
        DOS(ARCH).fit(images.images[:10], images.labels)


def test_parameters_are_keyword_only_after_arch() -> None:
    with pytest.raises(TypeError):
        DOS(ARCH, 3)  # type: ignore[misc]


def test_params_follow_scikit_learn() -> None:
    from sklearn.base import clone

    d = DOS(ARCH, k=4, random_state=7)
    assert d.get_params()["k"] == 4 and d.get_params()["random_state"] == 7
    c = clone(d)
    assert c is not d and c.get_params() == d.get_params()
    assert d.set_params(rounds=1) is d and d.rounds == 1
    with pytest.raises(ValueError, match="no parameter 'seed'"):
        d.set_params(seed=1)
