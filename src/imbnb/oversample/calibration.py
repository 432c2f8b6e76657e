"""Weighted calibration balancing in a latent space (book chapter "DeepSMOTE and calibration").

Implements §4.5 / Algorithm 4 of Mandal's 2024 ISI thesis: classes are split into majority,
median and minority; every non-minority class is summarised by a Gaussian mixture; each
minority point borrows the statistics of its nearest mixture components (eqs. 4.1-4.2) and
seeds multivariate Cauchy samples; median classes are oversampled with SMOTE.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from imblearn.over_sampling import SMOTE
from scipy import sparse
from scipy.linalg import LinAlgError, cholesky, eigh
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from threadpoolctl import threadpool_limits

from ._base import FeatureOverSampler

__all__ = ["WeightedCalibration", "calibrate", "multivariate_cauchy", "partition_classes"]

_MIN_DISTANCE = 1e-12  # floor on d_{x_c,i} in eqs. 4.1-4.2 (a point sitting on a mean)


def partition_classes(counts: dict, minority_factor: float = 10.0) -> dict:
    """Label each class "majority", "median" or "minority" (§4.5.1, Algorithm 4 l.4-8).

    Majority: the largest class (all of them on a tie). Minority: ``minority_factor * n_c <
    n_max`` (the thesis's ``10c < m``). Median: every other class.
    """
    m = max(counts.values())
    out = {}
    for c, n in counts.items():
        if n == m:
            out[c] = "majority"
        elif minority_factor * n < m:
            out[c] = "minority"
        else:
            out[c] = "median"
    return out


def calibrate(
    x: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    sigma_c: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated mean and covariance of minority points (eqs. 4.1-4.2), vectorised.

    ``x`` has shape (n, d); ``means`` (M, d) and ``covariances`` (M, d, d) are the saved
    mixture components; ``sigma_c`` (d, d) is the minority class's own covariance. Each row
    takes its ``k`` nearest means (Euclidean, Algorithm 4 l.16) with weights ``1 / d_i``:
    ``mu = (sum_i mu_i / d_i + x) / (1 + sum_i 1 / d_i)`` and
    ``Sigma = (sum_i Sigma_i / d_i + Sigma_c) / (1 + sum_i 1 / d_i)``.
    Returns ``(mu (n, d), Sigma (n, d, d), idx (n, k), dist (n, k))``.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    k = int(min(k, means.shape[0]))
    d2 = (
        np.einsum("ij,ij->i", x, x)[:, None]
        + np.einsum("ij,ij->i", means, means)[None, :]
        - 2.0 * x @ means.T
    )
    dist = np.sqrt(np.maximum(d2, 0.0))
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]  # Alg. 4 l.16: k nearest means
    dk = np.take_along_axis(dist, idx, axis=1)
    w = 1.0 / np.maximum(dk, _MIN_DISTANCE)  # 1 / d_{x_c,i}
    z = 1.0 + w.sum(axis=1)
    mu = (np.einsum("nk,nkd->nd", w, means[idx]) + x) / z[:, None]  # eq. 4.1
    sigma = (np.einsum("nk,nkde->nde", w, covariances[idx]) + sigma_c) / z[:, None, None]  # 4.2
    return mu, sigma, idx, dk


def _sqrt_factor(shape: np.ndarray) -> np.ndarray:
    """A factor ``A`` with ``A @ A.T == shape``: Cholesky, or eigh for a singular matrix."""
    try:
        return cholesky(shape, lower=True)
    except LinAlgError:
        w, v = eigh(shape)
        return v * np.sqrt(np.clip(w, 0.0, None))


def multivariate_cauchy(
    loc: np.ndarray, shape: np.ndarray, size: int, random_state=None
) -> np.ndarray:
    """``size`` draws of the multivariate Cauchy (Student t, 1 degree of freedom).

    The same distribution as ``scipy.stats.multivariate_t(loc, shape, df=1)``: ``loc + A g /
    |e|`` with ``A A^T = shape``, ``g ~ N(0, I)`` and ``e ~ N(0, 1)`` (chi-square with one
    degree of freedom is ``e^2``). Drawn directly because scipy factorises the matrix twice per
    call, which dominated the sampler's run time (hundreds of 300-d minority points).
    """
    rng = check_random_state(random_state)
    loc = np.asarray(loc, dtype=np.float64)
    g = rng.standard_normal((size, loc.shape[0]))
    e = np.abs(rng.standard_normal((size, 1)))
    return loc + (g @ _sqrt_factor(np.asarray(shape, dtype=np.float64)).T) / e


class WeightedCalibration(FeatureOverSampler):
    """Weighted calibration balancing (Mandal 2024, §4.5, Algorithm 4), an imblearn sampler.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        imblearn's meaning; "auto" grows every class to the majority size ``m``, so each
        minority point seeds ``(m - c) / c`` samples (Algorithm 4 l.26).
    k : int, default=3
        Number of nearest saved mixture means per minority point (eqs. 4.1-4.2). The thesis
        gives no value; it is capped at the number of saved means.
    s : int or None, default=None
        Divisor of ``n_i = c_i / s`` mixture components (Algorithm 4 l.11); None uses the
        thesis's choice, the size of the smallest minority class.
    max_components : int, default=10
        Cap on ``n_i`` (see Notes).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance (sklearn's ``GaussianMixture`` meaning).
    minority_factor : float, default=10
        A class is minority when ``minority_factor * n_c < n_max`` (§4.5.1).
    k_neighbors : int, default=5
        SMOTE's neighbours for median classes (§4.5.5), capped at class size - 1.
    max_iter : int, default=100
        EM iterations of each mixture.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixtures, SMOTE and the Cauchy draws.

    Attributes
    ----------
    sampling_strategy_ : OrderedDict
        Class -> number of rows generated.
    partition_ : dict
        Class -> "majority", "median" or "minority".
    n_components_ : dict
        Non-minority class -> mixture components used (only when a minority class exists).
    means_, covariances_ : ndarray, shapes (M, d), (M, d, d)
        The saved mixture components, in increasing class label (§4.5.2).
    means_class_ : ndarray, shape (M,)
        The class of each saved component.
    calibrated_means_, calibrated_covariances_, mean_indices_ : dict
        Per minority class: ``mu_{x_c}`` (c, d), ``Sigma_{x_c}`` (c, d, d) and the indices
        (c, k) into ``means_`` of the means each point used.
    is_synthetic_ : ndarray of bool
    source_index_ : ndarray of int
        Row of the minority point whose calibrated distribution drew the synthetic row; -1
        for originals and for SMOTE rows (imblearn does not expose SMOTE's seed).
    origin_ : ndarray of str
        "original", "calibration" or "smote" per returned row.

    Notes
    -----
    * **Number of components.** ``n_i = c_i / s`` is not an integer and can be large (100 at
      imbalance 100), with far fewer points per component than a full covariance in a
      120-d space needs. We use ``clip(floor(c_i / s), 1, min(max_components, c_i))``
      components and regularise every covariance by ``reg_covar``.
    * **Majority vs median.** Majority is the largest class (ties: every largest class),
      which is not oversampled under "auto"; median classes are the other non-minority
      classes. Both get mixtures (Algorithm 4 l.10). A class that an explicit
      ``sampling_strategy`` asks to grow is handled by SMOTE unless it is minority.
    * ``Sigma_c`` (eq. 4.2) is "the covariance of the minority class after taking one
      component": a one-component mixture, i.e. the maximum-likelihood covariance (divided
      by ``n_c``) plus ``reg_covar``, computed directly.
    * ``d_{x_c,i}`` is the Euclidean distance to the mean, floored at 1e-12.
    * ``(m - c) / c`` is rarely an integer: each point draws ``floor`` of the class's
      quota / ``c``, and a random subset (from ``random_state``) of ``quota mod c`` points
      draws one more, so counts match ``sampling_strategy_`` exactly.
    * Draws follow ``scipy.stats.multivariate_t(loc=mu, shape=Sigma, df=1)`` (multivariate
      Cauchy), sampled by :func:`multivariate_cauchy`: heavy tails, so some synthetic rows
      lie far outside the class.
    * Without any minority class no mixture is fitted and every class is SMOTE'd.
    """

    _parameter_constraints: dict = {
        **FeatureOverSampler._parameter_constraints,
        "k": [Interval(numbers.Integral, 1, None, closed="left")],
        "s": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "max_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "reg_covar": [Interval(numbers.Real, 0, None, closed="left")],
        "minority_factor": [Interval(numbers.Real, 1, None, closed="left")],
        "k_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        sampling_strategy="auto",
        k: int = 3,
        s: int | None = None,
        max_components: int = 10,
        reg_covar: float = 1e-6,
        minority_factor: float = 10.0,
        k_neighbors: int = 5,
        max_iter: int = 100,
        random_state=None,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.k = k
        self.s = s
        self.max_components = max_components
        self.reg_covar = reg_covar
        self.minority_factor = minority_factor
        self.k_neighbors = k_neighbors
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit_mixtures(self, X, y, count, rng) -> None:
        """§4.5.2: a GMM per non-minority class; save means/covariances by class label."""
        minority = [c for c, p in self.partition_.items() if p == "minority"]
        s = int(self.s) if self.s is not None else min(count[c] for c in minority)
        means, covs, owner = [], [], []
        self.n_components_ = {}
        for c in sorted(count):
            if self.partition_[c] == "minority":
                continue
            n_i = int(np.clip(count[c] // s, 1, min(self.max_components, count[c])))  # l.11
            gmm = GaussianMixture(
                n_components=n_i,
                covariance_type="full",
                reg_covar=self.reg_covar,
                max_iter=self.max_iter,
                random_state=rng.randint(np.iinfo(np.int32).max),
            ).fit(X[y == c])
            self.n_components_[c] = n_i
            means.append(gmm.means_)
            covs.append(gmm.covariances_)
            owner.append(np.full(n_i, c))
        self.means_ = np.concatenate(means)
        self.covariances_ = np.concatenate(covs)
        self.means_class_ = np.concatenate(owner)

    def _fit_resample(self, X, y):
        """Generate ``sampling_strategy_[c]`` rows per class by Algorithm 4; see class doc.

        BLAS runs on one thread here: the work is many small (d x d) factorisations, which a
        thread pool only slows (8x on 2 cores once torch is loaded, measured), and results
        then do not depend on the machine's core count (they differed by ~1e-6 otherwise).
        """
        with threadpool_limits(limits=1, user_api="blas"):
            return self._resample(X, y)

    def _resample(self, X, y):
        """Algorithm 4 itself (single-threaded BLAS, see ``_fit_resample``)."""
        rng = check_random_state(self.random_state)
        is_sparse = sparse.issparse(X)
        Xd = X.toarray() if is_sparse else np.asarray(X)
        out_dtype = Xd.dtype if np.issubdtype(Xd.dtype, np.floating) else np.float64
        X64 = Xd.astype(np.float64, copy=False)
        n0 = X64.shape[0]

        classes, counts = np.unique(y, return_counts=True)
        count = {c: int(n) for c, n in zip(classes, counts, strict=True)}
        self.partition_ = partition_classes(count, self.minority_factor)
        todo = OrderedDict((c, int(n)) for c, n in self.sampling_strategy_.items() if n > 0)
        for c in todo:
            if self.partition_[c] != "minority" and count[c] < 2:
                raise ValueError(
                    f"WeightedCalibration oversamples class {c} with SMOTE, which needs at "
                    f"least 2 samples to find a neighbour; got {count[c]}."
                )
        self.calibrated_means_, self.calibrated_covariances_, self.mean_indices_ = {}, {}, {}
        self._components(X64, y, count, rng, todo)

        new_X, new_y, sources, origins = [], [], [], []
        for c, n_gen in todo.items():
            if self.partition_[c] == "minority":
                X_c, source = self._calibrated_rows(X64, y == c, c, n_gen, rng)
                origins.append(np.full(n_gen, "calibration", dtype=object))
            else:
                X_c = self._smote_rows(X64, y, {c: count[c] + n_gen}, count[c], rng)
                source = np.full(n_gen, -1, dtype=np.int64)
                origins.append(np.full(n_gen, "smote", dtype=object))
            new_X.append(X_c)
            sources.append(source)
            new_y.append(np.full(n_gen, c, dtype=y.dtype))

        y_res = np.concatenate([y, *new_y]) if new_y else y.copy()
        syn = [a.astype(out_dtype, copy=False) for a in new_X]
        if is_sparse:
            X_res = sparse.vstack(
                [X, *(sparse.csr_matrix(a) for a in syn)], format=X.format
            ).astype(out_dtype)
        else:
            X_res = np.vstack([Xd.astype(out_dtype, copy=False), *syn])
        self.is_synthetic_ = np.arange(y_res.shape[0]) >= n0
        self.source_index_ = np.concatenate([np.full(n0, -1, dtype=np.int64), *sources])
        self.origin_ = np.concatenate([np.full(n0, "original", dtype=object), *origins])
        return X_res, y_res

    def _components(self, X64, y, count: dict, rng, todo: Mapping) -> None:
        """The saved mixture components (§4.5.2), or none when no minority class grows."""
        if any(self.partition_[c] == "minority" for c in todo):
            self._fit_mixtures(X64, y, count, rng)
            return
        d = X64.shape[1]
        self.n_components_ = {}
        self.means_ = np.empty((0, d))
        self.covariances_ = np.empty((0, d, d))
        self.means_class_ = np.empty(0, dtype=y.dtype)

    def _calibrated_rows(self, X64, mask, c, n_gen: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """Algorithm 4 l.15-26 for minority class ``c``: Cauchy draws around calibrated points.

        Returns the new rows and, per row, the row of the minority point that seeded it.
        """
        rows = np.flatnonzero(mask)
        d = X64.shape[1]
        Xc = X64[rows]
        centred = Xc - Xc.mean(axis=0)
        # Sigma_c: one-component mixture = ML covariance + reg_covar (Alg. 4 l.20)
        sigma_c = centred.T @ centred / len(rows) + self.reg_covar * np.eye(d)
        mu, sig, idx, _ = calibrate(
            Xc, self.means_, self.covariances_, sigma_c, self.k
        )  # Alg. 4 l.15-21
        self.calibrated_means_[c] = mu
        self.calibrated_covariances_[c] = sig
        self.mean_indices_[c] = idx
        # Alg. 4 l.26: (m - c) / c draws per point, remainder to random points
        per = np.full(len(rows), n_gen // len(rows), dtype=np.int64)
        per[rng.choice(len(rows), n_gen % len(rows), replace=False)] += 1
        draws = [
            multivariate_cauchy(mu[i], sig[i], int(per[i]), rng)
            for i in range(len(rows))
            if per[i] > 0
        ]  # Alg. 4 l.25: multivariate Cauchy
        return np.vstack(draws), np.repeat(rows, per)

    def _smote_rows(self, X64, y, strategy: dict, n_c: int, rng) -> np.ndarray:
        """§4.5.5: SMOTE for a median class (imblearn's, not re-implemented); the new rows."""
        smote = SMOTE(
            sampling_strategy=strategy,
            k_neighbors=min(self.k_neighbors, n_c - 1),
            random_state=rng.randint(np.iinfo(np.int32).max),
        )
        X_s, _ = smote.fit_resample(X64, y)
        return X_s[X64.shape[0] :]
