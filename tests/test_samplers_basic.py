"""Property and bad-input tests for the wrappers, GaussianPerturbation and PseudoFeatures."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from imbnb.oversample import (
    ADASYN,
    ROSRUS,
    SMOTE,
    BorderlineSMOTE,
    FaissNearestNeighbors,
    FlattenedInputWarning,
    GaussianPerturbation,
    PseudoFeatures,
    RandomOverSampler,
    RandomUnderSampler,
)

STRATEGIES = ["auto", "minority", "not majority", "all", {1: 90, 2: 60}]


def _data(seed: int = 0, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], [100, 30, 12])
    X = rng.normal(size=(len(y), d)) + 1.0 * y[:, None]
    return X, y


def _over_samplers(strategy) -> list:
    return [
        RandomOverSampler(sampling_strategy=strategy, random_state=0),
        SMOTE(sampling_strategy=strategy, random_state=0),
        SMOTE(sampling_strategy=strategy, k_neighbors=FaissNearestNeighbors(6), random_state=0),
        BorderlineSMOTE(sampling_strategy=strategy, random_state=0),
        GaussianPerturbation(sampling_strategy=strategy, random_state=0),
        GaussianPerturbation(sampling_strategy=strategy, covariance="diag", random_state=0),
        PseudoFeatures(sampling_strategy=strategy, random_state=0),
        PseudoFeatures(sampling_strategy=strategy, covariance="diag", random_state=0),
    ]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
def test_over_sampler_properties(strategy) -> None:
    X, y = _data()
    n = Counter(y.tolist())
    for sampler in _over_samplers(strategy):
        name = type(sampler).__name__
        X_res, y_res = sampler.fit_resample(X, y)
        # counts match sampling_strategy_ (number of new rows per class)
        got = Counter(y_res.tolist())
        for c in n:
            assert got[c] == n[c] + sampler.sampling_strategy_.get(c, 0), (name, c)
        if isinstance(strategy, dict):
            assert {c: got[c] for c in strategy} == strategy
        if strategy == "auto":
            assert set(got.values()) == {100}
        # originals first and unchanged; mask marks exactly the rest
        np.testing.assert_array_equal(X_res[: len(X)], X)
        np.testing.assert_array_equal(y_res[: len(y)], y)
        assert sampler.n_original_ == len(X)
        assert sampler.is_synthetic_.shape == (len(y_res),)
        assert sampler.is_synthetic_.sum() == len(y_res) - len(y)
        assert not sampler.is_synthetic_[: len(y)].any()
        # same random_state -> identical output
        X2, y2 = clone(sampler).fit_resample(X, y)
        np.testing.assert_array_equal(X_res, X2)
        np.testing.assert_array_equal(y_res, y2)


def test_adasyn_counts_close_to_strategy() -> None:
    X, y = _data()
    sampler = ADASYN(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(X_res[: len(X)], X)
    got = Counter(y_res.tolist())
    for c, k in sampler.sampling_strategy_.items():  # ADASYN rounds per point
        assert abs(got[c] - (Counter(y.tolist())[c] + k)) <= 0.05 * k + 2
    assert sampler.is_synthetic_.sum() == len(y_res) - len(y)


def test_smote_points_stay_in_class_bounding_box() -> None:
    X, y = _data()
    sampler = SMOTE(random_state=1, k_neighbors=FaissNearestNeighbors(6))
    X_res, y_res = sampler.fit_resample(X, y)
    for c in (1, 2):
        new = X_res[sampler.is_synthetic_ & (y_res == c)]
        assert len(new) > 0
        assert (new >= X[y == c].min(0) - 1e-12).all()
        assert (new <= X[y == c].max(0) + 1e-12).all()


def test_random_over_sampler_source_index() -> None:
    X, y = _data()
    sampler = RandomOverSampler(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    src = sampler.source_index_
    assert (src[: len(y)] == -1).all()
    np.testing.assert_array_equal(X_res[len(y) :], X[src[len(y) :]])
    np.testing.assert_array_equal(y_res[len(y) :], y[src[len(y) :]])


def test_random_under_sampler() -> None:
    X, y = _data()
    sampler = RandomUnderSampler(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert set(Counter(y_res.tolist()).values()) == {12}
    assert not sampler.is_synthetic_.any() and sampler.is_synthetic_.shape == y_res.shape
    np.testing.assert_array_equal(X_res, X[sampler.sample_indices_])


@pytest.mark.parametrize(("ratio", "share"), [(1.0, 0.5), (2.0, 0.5), (3.0, 0.0), (3.0, 1.0)])
def test_rosrus_reaches_ratio(ratio, share) -> None:
    X, y = _data()
    sampler = ROSRUS(ratio=ratio, under_share=share, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    got = Counter(y_res.tolist())
    assert max(got.values()) / min(got.values()) <= ratio
    assert dict(got) == dict(sampler.sampling_strategy_)
    if share == 0.0:  # pure over-sampling keeps the majority whole
        assert got[0] == 100 and got[2] == 34
    if share == 1.0:  # pure under-sampling keeps the smallest class as is
        assert got[2] == 12 and got[0] == 36 and not sampler.is_synthetic_.any()
    # kept originals first, then duplicates; every row is an input row
    np.testing.assert_array_equal(X_res, X[sampler.sample_indices_])
    np.testing.assert_array_equal(y_res, y[sampler.sample_indices_])
    assert (sampler.is_synthetic_ == (np.arange(len(y_res)) >= sampler.n_original_)).all()
    assert len(set(sampler.sample_indices_[: sampler.n_original_].tolist())) == (
        sampler.n_original_
    )
    X2, _ = ROSRUS(ratio=ratio, under_share=share, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(X_res, X2)


def test_rosrus_geometric_middle_and_no_op() -> None:
    y = np.repeat([0, 1], [400, 4])
    X = np.arange(len(y), dtype=float)[:, None]
    sampler = ROSRUS(ratio=1.0, random_state=0).fit(X, y)
    assert dict(sampler.sampling_strategy_) == {0: 40, 1: 40}  # sqrt(400 * 4)
    X_res, y_res = ROSRUS(ratio=200.0).fit_resample(X, y)
    np.testing.assert_array_equal(X_res, X)


def test_gaussian_perturbation_noise_uses_training_covariance() -> None:
    rng = np.random.default_rng(0)
    A = np.array([[2.0, 0.0], [1.5, 0.5]])
    y = np.repeat([0, 1], [3000, 20])
    X = rng.normal(size=(len(y), 2)) @ A.T
    sampler = GaussianPerturbation(scale=0.5, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    np.testing.assert_allclose(sampler.covariance_, np.cov(X, rowvar=False))
    src = sampler.source_index_[sampler.is_synthetic_]
    assert (y[src] == 1).all()
    noise = X_res[sampler.is_synthetic_] - X[src]
    np.testing.assert_allclose(np.cov(noise, rowvar=False), 0.25 * (A @ A.T), atol=0.15)
    diag = GaussianPerturbation(covariance="diag", random_state=0).fit_resample(X, y)[0]
    noise_d = diag[len(y) :] - X[src]  # same rng stream for the sources
    assert abs(np.corrcoef(noise_d, rowvar=False)[0, 1]) < 0.1


def test_gaussian_perturbation_within_class_spread_drops_the_class_means() -> None:
    """spread="within": the noise ignores how far apart the classes lie (their means)."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [2000, 500, 20])
    shift = np.array([[0.0, 0.0], [50.0, -30.0], [-40.0, 80.0]])[y]  # between-class spread
    A = np.array([[1.0, 0.0], [0.8, 0.6]])
    X = rng.normal(size=(len(y), 2)) @ A.T + shift
    within = GaussianPerturbation(spread="within", random_state=0)
    within.fit_resample(X, y)
    np.testing.assert_allclose(within.covariance_, A @ A.T, atol=0.08)
    means = np.stack([X[y == c].mean(axis=0) for c in range(3)])
    centred = X - means[y]
    exact = centred.T @ centred / (len(y) - 3)
    np.testing.assert_allclose(within.covariance_, exact, rtol=1e-12)
    pooled = GaussianPerturbation(random_state=0)
    pooled.fit_resample(X, y)
    assert pooled.covariance_[0, 0] > 100 * within.covariance_[0, 0]  # spread counted as noise
    diag = GaussianPerturbation(spread="within", covariance="diag")
    diag.fit_resample(X, y)
    np.testing.assert_allclose(diag.covariance_, np.diag(exact), rtol=1e-12)
    with pytest.raises(ValueError, match="spread='within' needs more rows than classes"):
        GaussianPerturbation(spread="within").fit_resample(X[[0, 2000]], y[[0, 2000]])


def test_pseudo_features_fit_class_gaussians() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [2000, 200])
    X = np.where(
        y[:, None] == 0, rng.normal(size=(len(y), 3)), 5 + 2 * rng.normal(size=(len(y), 3))
    )
    sampler = PseudoFeatures(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    new = X_res[sampler.is_synthetic_]
    assert len(new) == 1800 and (y_res[sampler.is_synthetic_] == 1).all()
    np.testing.assert_allclose(new.mean(0), X[y == 1].mean(0), atol=0.25)
    np.testing.assert_allclose(new.std(0), 2.0, atol=0.25)
    np.testing.assert_allclose(sampler.means_[1], X[y == 1].mean(0))
    assert 0.0 <= sampler.shrinkage_[1] <= 1.0 and sampler.covariances_[1].shape == (3, 3)
    assert 0 not in sampler.means_  # the majority is not modelled


def test_pseudo_features_multiplier_and_diag() -> None:
    X, y = _data()
    sampler = PseudoFeatures(multiplier=3, covariance="diag", random_state=0)
    _, y_res = sampler.fit_resample(X, y)
    got = Counter(y_res.tolist())
    assert got == {0: 100, 1: 30 + 3 * 70, 2: 12 + 3 * 88}
    assert sampler.n_generated_ == {1: 210, 2: 264}
    assert sampler.covariances_[1].shape == (5,)


def test_pseudo_features_fewer_samples_than_dims() -> None:
    X, y = _data(d=40)  # class 2 has 12 samples in 40-d
    sampler = PseudoFeatures(random_state=0)
    X_res, _ = sampler.fit_resample(X, y)
    assert np.isfinite(X_res).all() and sampler.shrinkage_[2] > 0
    with pytest.warns(UserWarning, match="singular; using Ledoit-Wolf"):
        PseudoFeatures(shrinkage=None, random_state=0).fit_resample(X, y)
    PseudoFeatures(shrinkage=0.3, random_state=0).fit_resample(X, y)


def test_flattens_nd_input_with_warning() -> None:
    X, y = _data(d=12)
    X4 = X.reshape(len(X), 3, 2, 2)
    for sampler in (
        PseudoFeatures(random_state=0),
        GaussianPerturbation(random_state=0),
        SMOTE(random_state=0),
        RandomOverSampler(random_state=0),
        RandomUnderSampler(random_state=0),
        ROSRUS(random_state=0),
    ):
        with pytest.warns(FlattenedInputWarning, match=r"flattened to \(142, 12\)"):
            X_res, _ = sampler.fit_resample(X4, y)
        assert X_res.ndim == 2 and X_res.shape[1] == 12


@pytest.mark.parametrize(
    "sampler",
    [
        SMOTE(),
        GaussianPerturbation(),
        PseudoFeatures(),
        RandomOverSampler(),
        RandomUnderSampler(),
        ROSRUS(),
    ],
    ids=lambda s: type(s).__name__,
)
def test_bad_inputs(sampler) -> None:
    X, y = _data()
    with pytest.raises(ValueError, match="must be 2-D"):
        sampler.fit_resample(X[:, 0], y)
    with pytest.raises(ValueError, match="needs to have more than 1 class"):
        sampler.fit_resample(X, np.zeros(len(y)))


@pytest.mark.parametrize(
    "sampler", [SMOTE(), BorderlineSMOTE(), GaussianPerturbation(), PseudoFeatures()], ids=str
)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_rejected(sampler, bad) -> None:
    X, y = _data()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        sampler.fit_resample(X, y)


def test_single_sample_class() -> None:
    X, y = _data()
    y = y.copy()
    y[-11:] = 1  # class 2 now has one sample
    with pytest.raises(ValueError, match="at least 2 samples of class 2"):
        PseudoFeatures().fit_resample(X, y)
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
        SMOTE().fit_resample(X, y)  # imblearn's own wording
    # copying needs no neighbours: a single sample is fine
    _, y_res = GaussianPerturbation(random_state=0).fit_resample(X, y)
    assert Counter(y_res.tolist())[2] == 100


@pytest.mark.parametrize(
    ("sampler", "match"),
    [
        (GaussianPerturbation(scale=0), "scale"),
        (GaussianPerturbation(covariance="tied"), "covariance"),
        (GaussianPerturbation(spread="class"), "spread"),
        (PseudoFeatures(shrinkage="oas"), "shrinkage"),
        (PseudoFeatures(shrinkage=1.5), "shrinkage"),
        (PseudoFeatures(multiplier=0), "multiplier"),
        (PseudoFeatures(sampling_strategy="most"), "sampling_strategy"),
        (ROSRUS(ratio=0.5), "ratio"),
        (ROSRUS(under_share=2), "under_share"),
    ],
)
def test_parameter_validation(sampler, match) -> None:
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        sampler.fit_resample(X, y)


def test_float32_preserved_and_pipeline() -> None:
    X, y = _data()
    for sampler in (GaussianPerturbation(random_state=0), PseudoFeatures(random_state=0)):
        X_res, y_res = sampler.fit_resample(X.astype(np.float32), y.astype(np.int32))
        assert X_res.dtype == np.float32 and y_res.dtype == np.int32
        pipe = make_pipeline(sampler, LogisticRegression(max_iter=500)).fit(X, y)
        assert pipe.score(X, y) > 0.75


def test_no_warning_for_2d_input() -> None:
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PseudoFeatures(random_state=0).fit_resample(X, y)
        GaussianPerturbation(random_state=0).fit_resample(X, y)


def test_adasyn_falls_back_to_smote_for_a_class_without_other_neighbours() -> None:
    from imblearn.over_sampling import ADASYN as ImblearnADASYN

    from imbnb.oversample import ADASYN

    rng = np.random.default_rng(0)
    X = np.concatenate(
        [rng.normal(0, 1, (100, 2)), rng.normal(0.5, 1, (30, 2)), rng.normal(50, 1, (10, 2))]
    )  # class 2 sits far from everything
    y = np.repeat([0, 1, 2], [100, 30, 10])
    with pytest.raises(RuntimeError, match="majority class"):
        ImblearnADASYN(random_state=0).fit_resample(X, y)
    with pytest.warns(UserWarning, match=r"classes \[2\] have no neighbour"):
        X_res, y_res = ADASYN(random_state=0).fit_resample(X, y)
    counts = np.bincount(y_res)
    assert counts[2] == 100 and abs(counts[1] - 100) <= 5  # class 1 keeps ADASYN's rounding
    new2 = X_res[len(y) :][y_res[len(y) :] == 2]
    assert (np.abs(new2 - 50) < 6).all()  # SMOTE stays between the class's own points
    np.testing.assert_array_equal(X_res[: len(y)], X)
