"""Tests for ADOS (thesis ch. 4): worked examples, provenance, counts, errors."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy import sparse
from threadpoolctl import threadpool_limits

from imbnb.oversample import ados as ados_mod
from imbnb.oversample._base import FlattenedInputWarning
from imbnb.oversample.ados import (
    ADOS,
    adaptive_k,
    class_k_max,
    neighbour_weights,
    sample_specific_weights,
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # small matrix-vector products: BLAS thread hand-offs cost more than the maths
    with threadpool_limits(1):
        yield


def _data(counts=(120, 30, 8), d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [rng.normal(loc=3.0 * c, scale=1.0 + c, size=(n, d)) for c, n in enumerate(counts)]
    )
    y = np.repeat(np.arange(len(counts)), counts)
    return X, y


def _coefficients(sampler, X_res, y_res):
    """Expand every row as a combination of original rows (recursively through provenance)."""
    n0 = sampler.n_original_
    C = np.zeros((X_res.shape[0], n0))
    C[np.arange(n0), np.arange(n0)] = 1.0
    for r in range(n0, X_res.shape[0]):
        src, nb, w, delta = (
            sampler.source_index_[r],
            sampler.neighbor_indices_[r],
            sampler.neighbor_weights_[r],
            sampler.delta_[r],
        )
        assert src < n0 and np.all(nb < r)  # seeds are originals; neighbours came earlier
        C[r] = delta * C[src] + (1 - delta) * (w @ C[nb])
    return C


# ---- the thesis's worked examples --------------------------------------------------------


def test_example_4_1_k_max():
    k = class_k_max({1: 200, 2: 400, 3: 600, 4: 1000}, nu_min=10, nu_max=20)
    assert k == {1: 10, 2: 13, 3: 16, 4: 20}


def test_example_4_1_k_max_attribute():
    X, y = _data(counts=(100, 60, 40, 20), d=2)
    s = ADOS(random_state=0).fit(X, y)
    s.fit_resample(X, y)
    b = math.log(2) / math.log(5)
    assert s.k_max_ == {0: 20, 1: math.floor(20 * 0.6**b), 2: math.floor(20 * 0.4**b), 3: 10}
    assert s.k_max_[2] == 13


def test_k_max_equal_class_sizes():
    assert class_k_max({0: 50, 1: 50}) == {0: 20, 1: 20}


def test_example_4_2_weights():
    before, after = sample_specific_weights({1: 2000, 2: 100}, {1: 2000, 2: 500})
    assert before[1] == pytest.approx(1 / 21) and before[2] == pytest.approx(20 / 21)
    assert after[1] == pytest.approx(1 / 5) and after[2] == pytest.approx(4 / 5)


def test_example_4_2_sample_weight_attribute():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(2000, 2)), rng.normal(3, 1, size=(100, 2))])
    y = np.repeat([1, 2], [2000, 100])
    s = ADOS(rho_d=4, random_state=0)
    X_res, y_res = s.fit_resample(X, y)
    assert Counter(y_res.tolist()) == {1: 2000, 2: 500}  # 400 new rows, as in the example
    sw = s.sample_weight_
    assert np.allclose(sw[:2000], 1 / 21)
    assert np.allclose(sw[2000:2100], 20 / 21)
    assert np.allclose(sw[2100:], 4 / 5)
    assert np.array_equal(ADOS(rho_d=4, reweight=False).fit_resample(X, y)[1], y_res)


# ---- Algorithm 4 and eq. 4.5 --------------------------------------------------------------


def test_adaptive_k_follows_formula_and_clamps():
    assert adaptive_k(1.0, 1.0, 3.0, 2, 12) == 12  # d_x = d_min -> k_max (formula, not l.11)
    assert adaptive_k(3.0, 1.0, 3.0, 2, 12) == 2  # d_x = d_max -> k_min
    assert adaptive_k(2.0, 1.0, 3.0, 2, 12) == 7  # ceil(12 - 10/2 * 1)
    assert adaptive_k(1.5, 1.0, 3.0, 2, 12) == math.ceil(12 - 5 * 0.5)
    assert adaptive_k(0.0, 1.0, 3.0, 2, 12) == 12  # below d_min: clamped
    assert adaptive_k(9.0, 1.0, 3.0, 2, 12) == 2  # above d_max: clamped
    assert adaptive_k(1.0, 1.0, 1.0, 2, 12) == 12  # degenerate 0/0


def test_neighbour_weights_eq_4_5():
    d = np.array([1.0, 2.0, 4.0])
    e = np.exp(-d / 4.0)
    assert np.allclose(neighbour_weights(d), e / e.sum())
    assert np.allclose(neighbour_weights(np.zeros(3)), 1 / 3)


# ---- counts, order, provenance ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {0: 120, 1: 120, 2: 120}),
        ({"rho_d": 4}, {0: 120, 1: 30, 2: 30}),
        ({"rho_d": 3}, {0: 120, 1: 40, 2: 40}),
        ({"sampling_strategy": {2: 50}}, {0: 120, 1: 30, 2: 50}),
        ({"sampling_strategy": "minority"}, {0: 120, 1: 30, 2: 120}),
    ],
)
def test_counts_match_target(kwargs, expected):
    X, y = _data()
    X_res, y_res = ADOS(random_state=0, **kwargs).fit_resample(X, y)
    assert Counter(y_res.tolist()) == expected
    assert X_res.shape == (len(y_res), X.shape[1])


def test_target_is_ceil_of_n_max_over_rho_d():
    X, y = _data(counts=(101, 10, 5))
    s = ADOS(rho_d=2.5, random_state=0)
    _, y_res = s.fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 101, 1: 41, 2: 41}  # ceil(101 / 2.5) = 41
    assert dict(s.sampling_strategy_) == {1: 31, 2: 36}
    assert dict(ADOS(rho_d=2.5).fit(X, y).sampling_strategy_) == {1: 31, 2: 36}


def test_originals_first_unchanged_and_mask():
    X, y = _data()
    s = ADOS(random_state=0)
    X_res, y_res = s.fit_resample(X, y)
    n0 = len(y)
    assert np.array_equal(X_res[:n0], X) and np.array_equal(y_res[:n0], y)
    assert not s.is_synthetic_[:n0].any() and s.is_synthetic_[n0:].all()
    assert np.all(s.source_index_[:n0] == -1) and np.all(np.isnan(s.delta_[:n0]))
    assert all(len(a) == 0 for a in s.neighbor_indices_[:n0])


def test_synthetic_rows_are_recursive_convex_combinations():
    X, y = _data()
    s = ADOS(random_state=3)
    X_res, y_res = s.fit_resample(X, y)
    C = _coefficients(s, X_res, y_res)
    assert np.allclose(C @ X, X_res, atol=1e-10)  # eq. 4.6-4.7 reproduced from provenance
    assert np.all(C >= -1e-12) and np.allclose(C.sum(axis=1), 1.0)
    for c in np.unique(y):  # only points of the row's own class contribute
        rows = y_res == c
        assert np.allclose(C[np.ix_(rows, y != c)], 0.0)
    for w in s.neighbor_weights_[len(y) :]:
        assert np.all(w > 0) and np.isclose(w.sum(), 1.0)
    assert np.all((s.delta_[len(y) :] >= 0) & (s.delta_[len(y) :] <= 1))
    # dynamic: earlier synthetic rows are used as neighbours
    assert any(np.any(nb >= len(y)) for nb in s.neighbor_indices_[len(y) :])


def test_synthetic_inside_class_bounding_box():
    X, y = _data(d=6, seed=5)
    X_res, y_res = ADOS(random_state=0).fit_resample(X, y)
    for c in np.unique(y):
        lo, hi = X[y == c].min(axis=0), X[y == c].max(axis=0)
        new = X_res[len(y) :][y_res[len(y) :] == c]
        assert np.all(new >= lo - 1e-9) and np.all(new <= hi + 1e-9)


def test_neighbours_and_k_match_brute_force():
    """The incremental bookkeeping (§4.3) equals recomputing Algorithms 3-4 every step."""
    X, y = _data(counts=(60, 12), d=3, seed=2)
    s = ADOS(random_state=0)
    X_res, y_res = s.fit_resample(X, y)
    n0 = len(y)
    members = list(np.flatnonzero(y == 1))
    for r in range(n0, len(y_res)):
        S = np.array(members)
        src = s.source_index_[r]
        others = S[S != src]
        dist = np.linalg.norm(X_res[others] - X_res[src], axis=1)
        D = np.linalg.norm(X_res[S][:, None] - X_res[S][None], axis=2)
        pos = D[D > 0]
        k = min(adaptive_k(dist.min(), pos.min(), pos.max(), 2, s.k_max_[1]), len(others))
        assert s.k_[r] == k
        nearest = others[np.argsort(dist, kind="stable")[:k]]
        assert set(nearest.tolist()) == set(s.neighbor_indices_[r].tolist())
        members.append(r)


def test_seeds_cycle_over_originals():
    X, y = _data(counts=(40, 7), d=2)
    s = ADOS(random_state=0)
    s.fit_resample(X, y)
    originals = np.flatnonzero(y == 1)
    seeds = s.source_index_[len(y) :]
    assert np.array_equal(seeds, originals[np.arange(33) % 7])


def test_static_mode_uses_originals_only():
    X, y = _data()
    s = ADOS(dynamic=False, random_state=0)
    X_res, y_res = s.fit_resample(X, y)
    assert all(np.all(nb < len(y)) for nb in s.neighbor_indices_)
    C = _coefficients(s, X_res, y_res)
    assert np.allclose(C @ X, X_res, atol=1e-10)


def test_k_within_bounds():
    X, y = _data()
    s = ADOS(random_state=0, k_min=3)
    _, y_res = s.fit_resample(X, y)
    syn = s.is_synthetic_
    kmax = np.array([s.k_max_[c] for c in y_res[syn]])
    assert np.all(s.k_[syn] >= 3) and np.all(s.k_[syn] <= kmax)
    assert all(len(nb) == k for nb, k in zip(s.neighbor_indices_, s.k_, strict=True))


def test_uncached_path_identical(monkeypatch):
    X, y = _data()
    a = ADOS(random_state=7).fit_resample(X, y)[0]
    monkeypatch.setattr(ados_mod, "_CACHE_BYTES", 0)
    b = ADOS(random_state=7).fit_resample(X, y)[0]
    assert np.allclose(a, b, atol=1e-12)


def test_two_point_class_and_duplicates():
    X = np.vstack([np.random.default_rng(0).normal(size=(20, 3)), np.ones((2, 3)), [[2, 2, 2]]])
    y = np.repeat([0, 1, 2], [20, 2, 1])
    X_res, y_res = ADOS(random_state=0, sampling_strategy={1: 20}).fit_resample(X, y)
    assert np.isfinite(X_res).all() and np.allclose(X_res[y_res == 1], 1.0)


# ---- determinism, dtypes, formats ---------------------------------------------------------


def test_determinism():
    X, y = _data()
    a = ADOS(random_state=11).fit_resample(X, y)[0]
    b = ADOS(random_state=11).fit_resample(X, y)[0]
    c = ADOS(random_state=12).fit_resample(X, y)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_float32_and_sparse():
    X, y = _data()
    X32, _ = ADOS(random_state=0).fit_resample(X.astype(np.float32), y)
    assert X32.dtype == np.float32
    dense = ADOS(random_state=0).fit_resample(X, y)[0]
    sp = ADOS(random_state=0).fit_resample(sparse.csr_matrix(X), y)[0]
    assert sparse.issparse(sp) and np.allclose(sp.toarray(), dense)


def test_images_flattened_with_warning():
    X, y = _data(counts=(30, 10), d=12)
    with pytest.warns(FlattenedInputWarning, match="flattened"):
        X_res, _ = ADOS(random_state=0).fit_resample(X.reshape(-1, 3, 2, 2), y)
    assert X_res.shape == (60, 12)


# ---- errors -------------------------------------------------------------------------------


def test_rho_d_below_one():
    X, y = _data()
    with pytest.raises(ValueError, match="rho_d"):
        ADOS(rho_d=0.5).fit_resample(X, y)


def test_rho_d_with_explicit_strategy():
    X, y = _data()
    with pytest.raises(ValueError, match="rho_d"):
        ADOS(rho_d=2, sampling_strategy={2: 50}).fit_resample(X, y)


def test_one_class_y():
    X, _ = _data()
    with pytest.raises(ValueError, match="more than 1 class"):
        ADOS().fit_resample(X, np.zeros(len(X)))


def test_single_sample_class():
    X, y = _data(counts=(30, 1))
    with pytest.raises(ValueError, match="at least 2 samples in class 1"):
        ADOS().fit_resample(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite(bad):
    X, y = _data()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        ADOS().fit_resample(X, y)


def test_bad_nu_and_k():
    X, y = _data()
    with pytest.raises(ValueError, match="nu_min"):
        ADOS(nu_min=30).fit_resample(X, y)
    with pytest.raises(ValueError, match="k_min"):
        ADOS(k_min=11).fit_resample(X, y)


def test_one_dimensional_x():
    with pytest.raises(ValueError, match="2-D"):
        ADOS().fit_resample(np.arange(10.0), np.repeat([0, 1], 5))
