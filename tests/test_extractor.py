"""imbnb.methods.train_extractor: split, training, embeddings, and its cache (hit / miss)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from imbnb.cache import Cache
from imbnb.data import make_synthetic
from imbnb.methods import ExtractorSettings, RunOptions, cap_per_class, train_extractor
from imbnb.methods.extractor import extractor_config

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def data():
    """A small learnable synthetic set (4 classes, 28x28)."""
    return make_synthetic(60, n_classes=4, seed=0), make_synthetic(20, n_classes=4, split="test")


SETTINGS = ExtractorSettings(
    protocol="minority",
    ratio=5,
    minority_classes=[1],
    seed=0,
    arch="C6-C16-F400-F120",
    epochs=2,
    batch_size=32,
    n_train=None,
    n_test=None,
)


def _train(data, cache: Cache, **changes):
    """``SETTINGS`` with ``changes`` (fields of ExtractorSettings) on ``data``, in ``cache``."""
    options = RunOptions(cache=cache, train=data[0], test=data[1])
    return train_extractor("synthetic", SETTINGS.replace(**changes), options)


def test_trains_on_the_imbalanced_split_and_embeds(data, tmp_path: Path) -> None:
    ex = _train(data, Cache(tmp_path))
    train, test = data
    assert not ex.from_cache
    assert ex.split.counts == {0: 60, 1: 12, 2: 60, 3: 60}  # ceil(60 / 5) minority images
    assert ex.minority_classes == [1]
    np.testing.assert_array_equal(ex.y_train, train.labels[ex.train_indices])
    assert ex.z_train.shape == (len(ex.y_train), 120) and ex.z_train.dtype == np.float32
    assert ex.z_test.shape == (len(test), 120)
    assert ex.proba_test.shape == (len(test), 4)
    np.testing.assert_allclose(ex.proba_test.sum(axis=1), 1.0, rtol=1e-5)
    assert len(ex.history["losses"]) == 2
    assert (ex.y_pred_test == ex.y_test).mean() > 0.25  # better than chance on 4 classes


def test_second_call_loads_from_cache_and_a_changed_parameter_misses(data, tmp_path) -> None:
    cache = Cache(tmp_path)
    first = _train(data, cache)
    again = _train(data, cache)
    assert again.from_cache
    np.testing.assert_array_equal(first.z_test, again.z_test)
    np.testing.assert_array_equal(first.proba_test, again.proba_test)
    with torch.no_grad():  # the cached weights reproduce the cached embeddings
        x = torch.from_numpy(data[1].as_float()[:8]).to(next(again.model.parameters()).device)
        z = again.model.embed(x).cpu().numpy()  # the model sits on the chosen device
        np.testing.assert_allclose(z, first.z_test[:8], atol=1e-5)
    for change in [{"epochs": 1}, {"ratio": 4}, {"class_weight": "balanced"}, {"seed": 1}]:
        assert not _train(data, cache, **change).from_cache, change
    assert _train(data, cache, class_weight="balanced").from_cache


def test_settings_object_is_the_keyword_call(data, tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    first = _train(data, cache)
    settings = ExtractorSettings(
        ratio=5, minority_classes=[1], epochs=2, batch_size=32, arch="C6-C16-F400-F120"
    )
    # the keyword form, a convenience for readers (the package calls the settings form)
    again = train_extractor(
        "synthetic", ratio=5, minority_classes=[1], epochs=2, batch_size=32, cache=cache,
        train=data[0], test=data[1],
    )  # fmt: skip
    assert again.from_cache and again.config == first.config
    assert extractor_config(*data, settings) == settings.config(*data) == first.config
    assert extractor_config(*data, settings, seed=1) != first.config
    with pytest.raises(TypeError, match="unexpected keyword argument 'ratios'"):
        train_extractor("synthetic", settings, ratios=[5])


def test_other_data_is_another_cache_entry(data, tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    _train(data, cache)
    other = make_synthetic(60, n_classes=4, seed=1)  # same name and shape, other images
    assert not _train((other, data[1]), cache).from_cache


def test_cap_per_class_is_stratified_and_seeded() -> None:
    labels = np.repeat(np.arange(3), [50, 10, 40])
    idx = cap_per_class(labels, 60, seed=0)
    assert np.bincount(labels[idx]).tolist() == [20, 10, 20]
    np.testing.assert_array_equal(idx, cap_per_class(labels, 60, seed=0))
    assert not np.array_equal(idx, cap_per_class(labels, 60, seed=1))
    assert len(cap_per_class(labels, None)) == 100
    with pytest.raises(ValueError, match="n_train"):
        cap_per_class(labels, 0)
