"""imbnb.estimators.autoencoder.DeepSMOTE as an sklearn-style estimator on small made-up images:
fit returns self, seeds, resume, any imblearn sampler, validation that names the parameter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imblearn.over_sampling import RandomOverSampler
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from imbnb.cache import Cache
from imbnb.data import make_synthetic
from imbnb.estimators.autoencoder import (
    CHECKPOINT_KIND,
    AEConfig,
    CheckpointTarget,
    DeepSMOTE,
)
from imbnb.loop import Checkpoint

TINY = AEConfig(width=4, latent_dim=8, epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def data():
    ds = make_synthetic(n_per_class=[50, 15, 7], n_classes=3, size=28, seed=0)
    return ds.images, ds.labels


def _weights_equal(a: DeepSMOTE, b: DeepSMOTE) -> bool:
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_returns_self_with_learned_attributes(data) -> None:
    x, y = data
    est = DeepSMOTE(TINY, device="cpu")
    assert est.fit(x, y) is est
    assert est.config_ == TINY and est.image_shape_ == (1, 28, 28)
    assert est.classes_.tolist() == [0, 1, 2] and est.resumed_from_ == 0
    assert len(est.history_["loss"]) == 2 and {"recon", "penalty"} <= set(est.history_)
    z = est.encode(x[:4])
    assert z.shape == (4, 8) and z.dtype == np.float32
    out = est.decode(z)
    assert out.shape == (4, 1, 28, 28) and 0 <= out.min() and out.max() <= 1
    assert est.interpolate(x[0], x[1], steps=3).shape == (3, 1, 28, 28)
    assert est.reconstruction_mse(x) >= 0


def test_random_state_seeds_everything_and_overrides_the_config(data) -> None:
    x, y = data
    a = DeepSMOTE(TINY, random_state=5, device="cpu").fit(x, y)
    b = DeepSMOTE({**TINY.to_dict(), "seed": 0}, random_state=5, device="cpu").fit(x, y)
    c = DeepSMOTE(TINY, device="cpu").fit(x, y)
    assert a.config_.seed == 5 and c.config_.seed == 0
    assert _weights_equal(a, b) and a.history_ == b.history_
    assert not _weights_equal(a, c)
    xa, ya = a.resample(x, y)
    xb, yb = b.resample(x, y)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("sampler", ["smote", "adasyn", "weighted_calibration", "imblearn"])
def test_fit_resample_with_any_sampler_keeps_originals_first(data, sampler) -> None:
    x, y = data
    s = RandomOverSampler(random_state=0) if sampler == "imblearn" else sampler
    est = DeepSMOTE(TINY, sampler=s, random_state=0, device="cpu")
    x_res, y_res = est.fit_resample(x, y)
    n = len(y)
    np.testing.assert_array_equal(x_res[:n], x.astype(np.float32) / 255)
    np.testing.assert_array_equal(y_res[:n], y)
    assert x_res.shape == (len(y_res), 1, 28, 28) and x_res.min() >= 0 and x_res.max() <= 1
    assert est.is_synthetic_.sum() == len(y_res) - n and not est.is_synthetic_[:n].any()
    assert est.latents_.shape == (len(y_res), 8)
    counts = np.bincount(y_res)
    assert counts.min() >= 0.8 * counts.max()  # ADASYN: roughly balanced, the rest exactly


def test_checkpointed_fit_resumes_to_the_same_weights(data, tmp_path, monkeypatch) -> None:
    x, y = data
    cfg = AEConfig(variant="denoising", width=4, latent_dim=8, epochs=3, batch_size=32, seed=1)
    whole = DeepSMOTE(cfg, device="cpu").fit(x, y)
    cache, real_offer = Cache(tmp_path), Checkpoint.offer
    target = CheckpointTarget(cache, {"test": "resume"}, every_seconds=0)

    def offer_then_die(self, epoch, history):
        real_offer(self, epoch, history)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "offer", offer_then_die)
    with pytest.raises(KeyboardInterrupt):
        DeepSMOTE(cfg, device="cpu").fit(x, y, checkpoint=target)
    monkeypatch.undo()
    assert len(cache.entries(CHECKPOINT_KIND)) == 1
    again = DeepSMOTE(cfg, device="cpu").fit(x, y, checkpoint=target)
    assert again.resumed_from_ == 1 and again.history_ == whole.history_
    assert _weights_equal(whole, again)


def test_from_weights_rebuilds_a_fitted_estimator(data) -> None:
    x, y = data
    est = DeepSMOTE(TINY, device="cpu").fit(x, y)
    copy = DeepSMOTE.from_weights(
        TINY, (1, 28, 28), est.model_.state_dict(), est.history_, device="cpu"
    )
    np.testing.assert_array_equal(est.encode(x), copy.encode(x))
    assert copy.history_ == est.history_


def test_sklearn_protocol_params_and_clone() -> None:
    est = DeepSMOTE(TINY, sampler="adasyn", random_state=3)
    params = est.get_params()
    assert params["sampler"] == "adasyn" and params["random_state"] == 3
    twin = clone(est)
    assert twin.get_params()["config"] == TINY and not hasattr(twin, "model_")


def test_bad_input_names_the_parameter(data) -> None:
    x, y = data
    with pytest.raises(InvalidParameterError, match="'sampler' parameter"):
        DeepSMOTE(TINY, sampler="gan").fit(x, y)
    with pytest.raises(InvalidParameterError, match="'config' parameter"):
        DeepSMOTE("deepsmote").fit(x, y)
    with pytest.raises(ValueError, match=r"config has unknown field\(s\) \['depth'\]"):
        DeepSMOTE({"depth": 3}).fit(x, y)
    with pytest.raises(ValueError, match="variant must be one of"):
        DeepSMOTE({"variant": "gan"}).fit(x, y)
    with pytest.raises(ValueError, match="images must have shape"):
        DeepSMOTE(TINY).fit(x[0], y[:1])
    with pytest.raises(ValueError, match="need >= 2 images with one label each"):
        DeepSMOTE(TINY).fit(x, y[:-1])
    with pytest.raises(ValueError, match="float images must lie in"):
        DeepSMOTE(TINY).fit(x.astype(np.float32), y)
    with pytest.raises(ValueError, match="every_seconds must be >= 0"):
        CheckpointTarget(object(), {}, every_seconds=-1)
    with pytest.raises(NotFittedError):
        DeepSMOTE(TINY).encode(x)
