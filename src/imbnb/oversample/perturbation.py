"""Gaussian perturbation of minority features: the pseudo-feature paper's "perturbed" baseline.

Chapter 3 (pseudo-features). Konno & Iwazume (2018) §3.2 compare their method with "perturbed":
copies of minority-class features plus zero-mean multivariate Gaussian noise whose (co)variance
"is calculated by the real features of training data". :class:`GaussianPerturbation` implements
that reading literally by default: one covariance, estimated from all real training rows passed
to ``fit_resample`` (every class pooled, between-class spread included), shared by every class.
``spread="within"`` is the other reading: the covariance of the rows around their own class's
mean, pooled over the classes (between-class spread removed). Chapter 3 chooses between the two
on validation splits (issue "Verdicts that survive").
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from imblearn.utils import check_target_type
from scipy import sparse
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from imbnb.oversample._base import FeatureOverSampler, flatten_features

__all__ = ["GaussianPerturbation"]


def _psd_factor(cov: np.ndarray) -> np.ndarray:
    """A matrix ``L`` with ``L @ L.T == cov`` for a symmetric PSD ``cov`` (possibly singular).

    Eigen-decomposition with negative round-off eigenvalues clipped to 0, so rank-deficient
    covariances (fewer samples than dimensions) still give valid Gaussian samples.
    """
    w, v = np.linalg.eigh((cov + cov.T) / 2.0)
    return v * np.sqrt(np.clip(w, 0.0, None))


def _within_class_covariance(X: np.ndarray, y: np.ndarray, full: bool) -> np.ndarray:
    """The covariance of rows around their class means, pooled over classes (ddof = N - C)."""
    classes, codes = np.unique(y, return_inverse=True)
    dof = len(X) - len(classes)
    if dof < 1:
        raise ValueError(
            f"spread='within' needs more rows than classes, got {len(X)} rows of "
            f"{len(classes)} classes"
        )
    means = np.stack([X[codes == i].mean(axis=0) for i in range(len(classes))])
    centred = X - means[codes]
    return centred.T @ centred / dof if full else (centred**2).sum(axis=0) / dof


class _DenseFeatureOverSampler(FeatureOverSampler):
    """Shared validation for samplers that compute with the features: dense floats.

    NaN/inf get sklearn's own errors; sparse input is densified (embeddings are dense) and the
    result returned as CSR; the output keeps float32/float64.
    """

    def _check_X_y(self, X: Any, y: Any, accept_sparse: Any = None) -> tuple:
        """Float X (sklearn's errors for NaN, inf), densified; 1-D y; the one-vs-all flag."""
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X, y = validate_data(
            self, X=X, y=y, reset=True, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32]
        )
        if sparse.issparse(X):
            X = X.toarray()
        # a fixed memory layout keeps results bitwise identical for arrays and DataFrames
        return np.ascontiguousarray(X), y, binarize_y

    def fit_resample(self, X: Any, y: Any, **params: Any) -> tuple:
        """Resample ``(X, y)``: originals unchanged first, then synthetic rows."""
        out = super().fit_resample(flatten_features(X), y, **params)
        if sparse.issparse(X):
            return (sparse.csr_matrix(out[0]), *out[1:])
        return out

    @staticmethod
    def _stack(X: np.ndarray, y: np.ndarray, new_X: list, new_y: list) -> tuple:
        """Originals unchanged first, then the synthetic rows, in X's and y's dtypes."""
        X_res = np.vstack([X, *[a.astype(X.dtype, copy=False) for a in new_X]])
        y_res = np.concatenate([y, *[np.asarray(b, dtype=y.dtype) for b in new_y]])
        return X_res, y_res


class GaussianPerturbation(_DenseFeatureOverSampler):
    """Copies of minority rows plus ``N(0, scale² Σ)`` noise (pseudo-feature paper, "perturbed").

    For each class ``c`` to over-sample, ``sampling_strategy_[c]`` source rows are drawn
    uniformly with replacement from that class, and each copy gets independent Gaussian noise.
    ``Σ`` is the sample covariance (``ddof=1``) of *all* real training rows given to
    ``fit_resample`` — the paper says the variance "is calculated by the real features of
    training data" (§3.2), not per class.

    Parameters
    ----------
    sampling_strategy : str, dict, float or callable, default="auto"
        imblearn's meaning (see ``imblearn.over_sampling.RandomOverSampler``).
    scale : float > 0, default=1.0
        Noise standard-deviation multiplier: the noise covariance is ``scale**2 * Σ``.
    covariance : {"full", "diag"}, default="full"
        Full ``Σ`` (correlated noise) or only its diagonal (independent per feature).
    spread : {"pooled", "within"}, default="pooled"
        ``Σ`` of all rows around their common mean (the paper's words read literally), or of
        each row around its class's mean, pooled over classes (``N - C`` degrees of freedom).
    random_state : int, RandomState or None

    Attributes
    ----------
    covariance_ : ndarray
        ``Σ`` as estimated: (d, d) for "full", the (d,) variances for "diag".
    source_index_ : ndarray of int, shape (n_samples_new,)
        Row (of the input, which is also its row in the output) that each synthetic row
        perturbs; -1 for the originals. Same convention as ADOS and WeightedCalibration.
    is_synthetic_, n_original_, sampling_strategy_ : see :class:`FeatureOverSampler`.
    """

    _parameter_constraints: dict = {
        **FeatureOverSampler._parameter_constraints,
        "scale": [Interval(numbers.Real, 0, None, closed="neither")],
        "covariance": [StrOptions({"full", "diag"})],
        "spread": [StrOptions({"pooled", "within"})],
    }

    def __init__(
        self,
        sampling_strategy: Any = "auto",
        scale: float = 1.0,
        covariance: str = "full",
        spread: str = "pooled",
        random_state: Any = None,
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
        self.scale = scale
        self.covariance = covariance
        self.spread = spread
        self.random_state = random_state

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draw source rows per class, add shared-covariance Gaussian noise (paper §3.2)."""
        rng = check_random_state(self.random_state)
        X64 = np.asarray(X, dtype=np.float64)
        if self.spread == "pooled":
            if self.covariance == "full":
                self.covariance_ = np.atleast_2d(np.cov(X64, rowvar=False, ddof=1))
            else:
                self.covariance_ = X64.var(axis=0, ddof=1)
        else:
            self.covariance_ = _within_class_covariance(X64, y, self.covariance == "full")
        if self.covariance == "full":
            factor = self.scale * _psd_factor(self.covariance_)
        else:
            factor = self.scale * np.sqrt(self.covariance_)
        new_X, new_y, sources = [], [], []
        for klass, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            src = rng.choice(np.flatnonzero(y == klass), size=n_new, replace=True)
            z = rng.standard_normal((n_new, X64.shape[1]))
            noise = z @ factor.T if self.covariance == "full" else z * factor
            new_X.append(X64[src] + noise)
            new_y.append(np.full(n_new, klass))
            sources.append(src)
        self.source_index_ = np.concatenate([np.full(len(y), -1, dtype=np.intp), *sources])
        return self._stack(X, y, new_X, new_y)
