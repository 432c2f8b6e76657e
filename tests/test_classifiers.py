"""FeatureClassifier: sklearn API, the three kinds, and sample_weight that matters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from imbnb.classifiers import FeatureClassifier
from imbnb.oversample import FlattenedInputWarning

torch.set_num_threads(2)


def _blobs(seed: int = 0, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    return (centres[y] + rng.normal(scale=0.5, size=(len(y), 2))).astype(np.float32), y


KINDS = [
    FeatureClassifier(kind="mlp", hidden=(16,), epochs=30, batch_size=32, lr=1e-2),
    FeatureClassifier(kind="logreg"),
    FeatureClassifier(kind="knn", n_neighbors=3),
]


@pytest.mark.parametrize("clf", KINDS, ids=lambda c: c.kind)
def test_fits_separable_blobs(clf) -> None:
    X, y = _blobs()
    labels = np.array(["cat", "dog", "emu"])[y]
    model = clone(clf).fit(X, labels)
    proba = model.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert list(model.classes_) == ["cat", "dog", "emu"]
    assert (model.predict(X) == labels).mean() > 0.95
    assert model.score(X, labels) > 0.95


def test_mlp_is_reproducible() -> None:
    X, y = _blobs()
    a = clone(KINDS[0]).fit(X, y).predict_proba(X)
    b = clone(KINDS[0]).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["mlp", "logreg"])
def test_sample_weight_matters(kind) -> None:
    # overlapping classes: up-weighting class 1 must move the decision towards it
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], [300, 300])
    X = (rng.normal(size=(600, 2)) + 0.5 * y[:, None]).astype(np.float32)
    params = {"hidden": (16,), "epochs": 15, "batch_size": 64, "lr": 1e-2} if kind == "mlp" else {}
    plain = FeatureClassifier(kind=kind, **params).fit(X, y)
    w = np.where(y == 1, 10.0, 1.0)
    weighted = FeatureClassifier(kind=kind, **params).fit(X, y, sample_weight=w)
    assert weighted.predict(X).mean() > plain.predict(X).mean() + 0.2
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


def test_knn_rejects_non_uniform_weights() -> None:
    X, y = _blobs()
    FeatureClassifier(kind="knn").fit(X, y, sample_weight=np.full(len(y), 2.0))
    with pytest.raises(ValueError, match="non-uniform sample_weight"):
        FeatureClassifier(kind="knn").fit(X, y, sample_weight=np.arange(len(y), dtype=float))


def test_bad_inputs() -> None:
    X, y = _blobs()
    with pytest.raises(ValueError, match="kind"):
        FeatureClassifier(kind="svm").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        FeatureClassifier(kind="logreg").fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="NaN"):
        FeatureClassifier(kind="logreg").fit(np.full_like(X, np.nan), y)
    with pytest.raises(ValueError, match="must be 2-D"):
        FeatureClassifier(kind="logreg").fit(X[:, 0], y)
    model = FeatureClassifier(kind="logreg").fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.zeros((3, 5)))


def test_flattens_nd_features_with_warning() -> None:
    X, y = _blobs()
    X4 = np.repeat(X[:, :, None, None], 2, axis=2)  # (N, 2, 2, 1)
    with pytest.warns(FlattenedInputWarning):
        model = FeatureClassifier(kind="logreg").fit(X4, y)
    assert model.n_features_in_ == 4
