"""Tests for WeightedCalibration (Mandal 2024, §4.5): partition, eqs. 4.1-4.2, counts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from imbnb.oversample.calibration import WeightedCalibration, calibrate, partition_classes


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # tiny EM problems: BLAS thread hand-offs cost more than the maths on a loaded 2-core box
    with threadpool_limits(1):
        yield


def _data(counts=(400, 150, 30, 12), d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(loc=4.0 * c, scale=1.0, size=(n, d)) for c, n in enumerate(counts)])
    return X, np.repeat(np.arange(len(counts)), counts)


def test_partition_thresholds():
    p = partition_classes({0: 1000, 1: 100, 2: 99, 3: 1000, 4: 500})
    assert p == {0: "majority", 1: "median", 2: "minority", 3: "majority", 4: "median"}


def test_calibrate_by_hand():
    x = np.array([[0.0, 0.0]])
    means = np.array([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    covs = np.stack([np.eye(2), 2 * np.eye(2), 3 * np.eye(2)])
    mu, sig, idx, dist = calibrate(x, means, covs, 0.5 * np.eye(2), k=2)
    # nearest two means at d = 1 and 2: weights 1 and 1/2, normaliser 1 + 1.5 = 2.5
    assert idx.tolist() == [[0, 1]] and np.allclose(dist, [[1.0, 2.0]])
    assert np.allclose(mu, [[(1.0 * 1 + 0.5 * 0 + 0) / 2.5, (1.0 * 0 + 0.5 * 2 + 0) / 2.5]])
    assert np.allclose(sig[0], (1.0 * np.eye(2) + 0.5 * 2 * np.eye(2) + 0.5 * np.eye(2)) / 2.5)


def test_calibrate_point_on_a_mean_is_finite():
    means = np.array([[1.0, 1.0], [3.0, 3.0]])
    mu, sig, _, _ = calibrate(
        np.array([[1.0, 1.0]]), means, np.stack([np.eye(2)] * 2), np.eye(2), 1
    )
    assert np.allclose(mu, [[1.0, 1.0]]) and np.isfinite(sig).all()


def test_counts_and_origins():
    X, y = _data()
    s = WeightedCalibration(random_state=0)
    X_res, y_res = s.fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 400, 1: 400, 2: 400, 3: 400}
    assert s.partition_ == {0: "majority", 1: "median", 2: "minority", 3: "minority"}
    n0 = len(y)
    assert np.array_equal(X_res[:n0], X) and np.array_equal(y_res[:n0], y)
    assert s.is_synthetic_.sum() == len(y_res) - n0 and not s.is_synthetic_[:n0].any()
    new_y, origin = y_res[n0:], s.origin_[n0:]
    assert set(origin[new_y == 1]) == {"smote"} and set(origin[new_y >= 2]) == {"calibration"}
    # (m - c) / c draws per minority point: floor or ceil of the quota, seeds in their class
    for c, n_c in [(2, 30), (3, 12)]:
        src = s.source_index_[n0:][new_y == c]
        assert np.all(y[src] == c)
        per = np.bincount(src, minlength=n0)[y == c]
        assert set(per.tolist()) <= {(400 - n_c) // n_c, (400 - n_c) // n_c + 1}
    assert np.all(s.source_index_[n0:][new_y == 1] == -1)


def test_smote_rows_inside_median_class_box():
    X, y = _data()
    X_res, y_res = WeightedCalibration(random_state=0).fit_resample(X, y)
    new = X_res[len(y) :][y_res[len(y) :] == 1]
    assert np.all(new >= X[y == 1].min(0) - 1e-9) and np.all(new <= X[y == 1].max(0) + 1e-9)


def test_components_and_saved_means():
    X, y = _data(counts=(300, 120, 20))
    s = WeightedCalibration(random_state=0)
    s.fit_resample(X, y)
    assert s.n_components_ == {0: 10, 1: 6}  # 300 // 20 = 15 capped at 10; 120 // 20 = 6
    assert s.means_.shape == (16, 4) and s.covariances_.shape == (16, 4, 4)
    assert s.means_class_.tolist() == [0] * 10 + [1] * 6  # increasing class label (§4.5.2)
    s2 = WeightedCalibration(random_state=0, max_components=50, s=60)
    s2.fit_resample(X, y)
    assert s2.n_components_ == {0: 5, 1: 2}


def test_calibrated_parameters_match_eqs():
    X, y = _data()
    s = WeightedCalibration(random_state=0, k=2, reg_covar=1e-3)
    s.fit_resample(X, y)
    Xc = X[y == 2]
    cen = Xc - Xc.mean(0)
    sigma_c = cen.T @ cen / len(Xc) + 1e-3 * np.eye(X.shape[1])
    mu, sig, idx, _ = calibrate(Xc, s.means_, s.covariances_, sigma_c, 2)
    assert np.allclose(s.calibrated_means_[2], mu) and np.allclose(
        s.calibrated_covariances_[2], sig
    )
    # by hand for the first point
    d = np.linalg.norm(s.means_ - Xc[0], axis=1)
    near = np.argsort(d)[:2]
    w = 1 / d[near]
    mu0 = (w @ s.means_[near] + Xc[0]) / (1 + w.sum())
    sig0 = (np.einsum("k,kde->de", w, s.covariances_[near]) + sigma_c) / (1 + w.sum())
    assert np.allclose(mu[0], mu0) and np.allclose(sig[0], sig0)
    assert set(idx[0].tolist()) == set(near.tolist())


def test_draws_are_centred_on_calibrated_means():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(2000, 2)), [[3.0, 3.0], [3.5, 2.5]]])
    y = np.repeat([0, 1], [2000, 2])
    s = WeightedCalibration(random_state=0, k=1, max_components=2)
    X_res, y_res = s.fit_resample(X, y)
    for i, row in enumerate([2000, 2001]):
        draws = X_res[s.source_index_ == row]
        assert len(draws) == 999
        scale = np.sqrt(np.diag(s.calibrated_covariances_[1][i]))
        # Cauchy has no mean; its coordinate-wise median is the location
        assert np.all(np.abs(np.median(draws, 0) - s.calibrated_means_[1][i]) < 0.2 * scale)


def test_no_minority_is_all_smote():
    X, y = _data(counts=(100, 60, 40))
    s = WeightedCalibration(random_state=0)
    _, y_res = s.fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 100, 1: 100, 2: 100}
    assert s.means_.shape == (0, 4) and set(s.origin_[len(y) :]) == {"smote"}


def test_determinism_and_dtype():
    X, y = _data()
    a = WeightedCalibration(random_state=5).fit_resample(X, y)[0]
    b = WeightedCalibration(random_state=5).fit_resample(X, y)[0]
    c = WeightedCalibration(random_state=6).fit_resample(X, y)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    X32 = WeightedCalibration(random_state=5).fit_resample(X.astype(np.float32), y)[0]
    assert X32.dtype == np.float32


def test_rows_do_not_depend_on_the_callers_blas_threads():
    """fit_resample runs BLAS on one thread itself, so a 1- and a 2-thread caller get the same
    rows (at d = 128 threaded BLAS alone changes them by ~1e-11); the caller's limit stays."""
    X, y = _data(counts=(600, 200, 20, 10), d=128, seed=1)
    runs = []
    for n in (1, 2):
        with threadpool_limits(n, user_api="blas"):
            runs.append(WeightedCalibration(random_state=0, max_components=3).fit_resample(X, y)[0])
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {n}
    np.testing.assert_array_equal(runs[0], runs[1])


def test_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="more than 1 class"):
        WeightedCalibration().fit_resample(X, np.zeros(len(y)))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        WeightedCalibration().fit_resample(Xn, y)
    with pytest.raises(ValueError, match="'k' parameter"):
        WeightedCalibration(k=0).fit_resample(X, y)
    X2, y2 = _data(counts=(5, 1))  # 10 * 1 < 5 is false: a median class of one sample
    with pytest.raises(ValueError, match="at least 2 samples"):
        WeightedCalibration().fit_resample(X2, y2)
    with pytest.raises(ValueError, match="2-D"):
        WeightedCalibration().fit_resample(np.arange(10.0), np.repeat([0, 1], 5))


def test_multivariate_cauchy_matches_scipys_distribution() -> None:
    from scipy import stats

    from imbnb.oversample.calibration import multivariate_cauchy

    loc = np.array([1.0, -2.0, 0.5])
    a = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    draws = multivariate_cauchy(loc, a, 20000, random_state=0)
    assert draws.shape == (20000, 3)
    # each margin of a multivariate t is a univariate t with the same df and scale sqrt(a_jj)
    for j in range(3):
        ref = stats.t(df=1, loc=loc[j], scale=np.sqrt(a[j, j]))
        assert stats.kstest(draws[:, j], ref.cdf).pvalue > 0.01
    # a linear combination too, which checks the off-diagonal terms
    w = np.array([1.0, -1.0, 2.0])
    ref = stats.t(df=1, loc=w @ loc, scale=np.sqrt(w @ a @ w))
    assert stats.kstest(draws @ w, ref.cdf).pvalue > 0.01
    np.testing.assert_array_equal(draws, multivariate_cauchy(loc, a, 20000, random_state=0))


def test_multivariate_cauchy_accepts_a_singular_shape() -> None:
    from imbnb.oversample.calibration import multivariate_cauchy

    a = np.array([[1.0, 1.0], [1.0, 1.0]])  # rank one: draws lie on the line x0 == x1
    draws = multivariate_cauchy(np.zeros(2), a, 50, random_state=1)
    np.testing.assert_allclose(draws[:, 0], draws[:, 1], atol=1e-6)
