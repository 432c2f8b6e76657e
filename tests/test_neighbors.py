"""FaissNearestNeighbors agrees with sklearn's brute-force search and plugs into imblearn."""

from __future__ import annotations

import numpy as np
import pytest
from imblearn.over_sampling import ADASYN as ImbADASYN
from imblearn.over_sampling import SMOTE as ImbSMOTE
from imblearn.over_sampling import BorderlineSMOTE as ImbBorderlineSMOTE
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors

from imbnb.oversample import neighbors as nbmod
from imbnb.oversample.neighbors import FaissNearestNeighbors


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 12)), rng.normal(size=(40, 12))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_sklearn_on_new_queries(data, dtype) -> None:
    X, Q = (a.astype(dtype) for a in data)
    d1, i1 = FaissNearestNeighbors(7).fit(X).kneighbors(Q)
    d2, i2 = NearestNeighbors(n_neighbors=7, algorithm="brute").fit(X).kneighbors(Q)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(d1, d2, rtol=1e-5, atol=1e-6)
    assert d1.shape == (40, 7) and (np.diff(d1, axis=1) >= 0).all()


def test_matches_sklearn_on_training_points_excluding_self(data) -> None:
    X, _ = data
    nn = FaissNearestNeighbors(5).fit(X)
    d1, i1 = nn.kneighbors()
    d2, i2 = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(X).kneighbors()
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(d1, d2, rtol=1e-6, atol=1e-9)
    assert not (i1 == np.arange(len(X))[:, None]).any()
    # querying the training set explicitly returns each point first at distance exactly 0
    d, i = nn.kneighbors(X, n_neighbors=3)
    np.testing.assert_array_equal(i[:, 0], np.arange(len(X)))
    assert (d[:, 0] == 0).all()


def test_duplicates_follow_sklearn_rule() -> None:
    X = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    _, i = FaissNearestNeighbors(2).fit(X).kneighbors()
    for row in range(3):  # each duplicate excludes itself, keeps the other two duplicates
        assert set(i[row]) == {0, 1, 2} - {row}
    assert (i[3] != 3).all()


def test_return_distance_false_and_graph(data) -> None:
    X, Q = data
    nn = FaissNearestNeighbors(4).fit(X)
    ind = nn.kneighbors(Q, return_distance=False)
    assert ind.shape == (40, 4)
    ref = NearestNeighbors(n_neighbors=4, algorithm="brute").fit(X)
    for mode in ("connectivity", "distance"):
        g1 = nn.kneighbors_graph(Q, mode=mode).toarray()
        g2 = ref.kneighbors_graph(Q, mode=mode).toarray()
        np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="Unsupported mode"):
        nn.kneighbors_graph(Q, mode="nope")


def test_errors(data) -> None:
    X, Q = data
    nn = FaissNearestNeighbors(5).fit(X[:5])
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
        nn.kneighbors()  # 5 neighbours + self > 5 points
    with pytest.raises(ValueError, match="Expected n_neighbors > 0"):
        nn.kneighbors(Q, n_neighbors=0)
    with pytest.raises(ValueError, match="features"):
        nn.kneighbors(Q[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        FaissNearestNeighbors().fit(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="n_neighbors"):
        FaissNearestNeighbors(n_neighbors=0).fit(X)
    with pytest.raises(ValueError, match="use_gpu"):
        FaissNearestNeighbors(use_gpu="yes").fit(X)


def test_use_gpu_true_without_gpu_is_a_clear_error(data) -> None:
    if nbmod.faiss_gpu_available():
        pytest.skip("a faiss GPU is present")
    with pytest.raises(RuntimeError, match="use_gpu=True"):
        FaissNearestNeighbors(use_gpu=True).fit(data[0])


def test_backend_and_clone(data) -> None:
    nn = FaissNearestNeighbors(3, use_gpu=False).fit(data[0])
    assert nn.backend_ == ("faiss-cpu" if nbmod.faiss_available() else "sklearn")
    assert clone(nn).get_params() == {"n_neighbors": 3, "use_gpu": False}


def test_sklearn_fallback_without_faiss(data, monkeypatch) -> None:
    monkeypatch.setattr(nbmod, "faiss", None)
    X, Q = data
    nn = FaissNearestNeighbors(6).fit(X)
    assert nn.backend_ == "sklearn"
    d2, i2 = NearestNeighbors(n_neighbors=6, algorithm="brute").fit(X).kneighbors(Q)
    d1, i1 = nn.kneighbors(Q)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(d1, d2)


def _imbalanced(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], [120, 40, 25])
    return rng.normal(size=(len(y), 6)) + y[:, None], y


@pytest.mark.parametrize(
    ("cls", "param"),
    [(ImbSMOTE, "k_neighbors"), (ImbBorderlineSMOTE, "k_neighbors"), (ImbADASYN, "n_neighbors")],
)
def test_inside_imblearn_gives_identical_output(cls, param) -> None:
    X, y = _imbalanced()
    Xa, ya = cls(**{param: FaissNearestNeighbors(6)}, random_state=3).fit_resample(X, y)
    Xb, yb = cls(**{param: 5}, random_state=3).fit_resample(X, y)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_allclose(Xa, Xb, rtol=0, atol=1e-12)
    assert len(ya) > len(y)
