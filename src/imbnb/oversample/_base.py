"""Shared plumbing for imbnb's feature-space oversamplers (chapter 3).

Every sampler follows imbalanced-learn's ``fit_resample`` contract. On top of it this base:

* accepts image batches or tensors of any shape by flattening them to ``(n_samples, -1)``
  with a warning that says so (imblearn alone answers with an opaque "dim 4" error);
* records ``is_synthetic_``, a boolean mask over the returned rows, and ``n_original_``;
* refuses ``X`` and ``y`` of different lengths, feature values so large that the method's
  squared distances or covariances overflow, and synthetic rows that are not finite.
"""

from __future__ import annotations

import warnings

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler

__all__ = ["FeatureOverSampler", "FlattenedInputWarning", "check_lengths", "flatten_features"]


class FlattenedInputWarning(UserWarning):
    """Raised when a sampler flattens n-d input (images, tensors) to 2-D feature rows."""


def _to_numpy(X):
    """Return ``X`` unchanged unless it is a torch tensor, which becomes a numpy array."""
    if hasattr(X, "detach") and hasattr(X, "cpu") and hasattr(X, "numpy"):
        return X.detach().cpu().numpy()
    return X


def flatten_features(X, *, name: str = "X"):
    """Flatten an n-d batch ``(n_samples, ...)`` to ``(n_samples, n_features)``, warning once.

    1-D input is rejected: a feature space needs one row per sample.
    """
    X = _to_numpy(X)
    ndim = getattr(X, "ndim", None)
    if ndim is None or ndim == 2:
        return X
    if ndim < 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got a {ndim}-D array of shape "
            f"{np.shape(X)}. Reshape a single feature with {name}.reshape(-1, 1)."
        )
    shape = tuple(X.shape)
    flat = np.asarray(X).reshape(shape[0], -1)
    warnings.warn(
        f"{name} has shape {shape}; oversamplers work on feature rows, so it was flattened "
        f"to {flat.shape}. Reshape the resampled rows with .reshape(-1, *{shape[1:]}) to get "
        "images back, or pass embeddings instead of raw images.",
        FlattenedInputWarning,
        stacklevel=3,
    )
    return flat


def _n_rows(a) -> int:
    shape = getattr(a, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(a)


def check_lengths(X, y, *, sampler: str) -> None:
    """Refuse ``X`` and ``y`` of different lengths, naming both (imblearn's random samplers
    would otherwise pair them silently)."""
    n_x, n_y = _n_rows(X), _n_rows(y)
    if n_x != n_y:
        raise ValueError(
            f"{sampler}: X and y must have the same number of rows; got {n_x} rows in X and "
            f"{n_y} labels in y"
        )


def _check_magnitude(X, sampler: str, power: int = 2, dtype=None) -> None:
    """Refuse finite features so large that sums of their ``power``-th powers overflow.

    Distances and covariances sum squares over rows and features (``power=2``); Ledoit-Wolf
    shrinkage sums fourth powers (``power=4``). The bound is ``(max / (4 n d)) ** (1/power)``.
    """
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "fiu" or X.size == 0:
        return
    dtype = np.dtype(dtype or (X.dtype if X.dtype.kind == "f" else np.float64))
    finite = np.abs(X[np.isfinite(X)]) if X.dtype.kind == "f" else np.abs(X)
    top = float(finite.max()) if finite.size else 0.0
    limit = float((np.finfo(dtype).max / (4.0 * X.shape[0] * max(X.shape[1], 1))) ** (1 / power))
    if top > limit:
        raise ValueError(
            f"{sampler}: X holds values up to {top:.3g}; for {X.shape[0]} rows of "
            f"{X.shape[1]} features the method's sums of powers overflow {dtype} above "
            f"{limit:.3g}. Standardise X (e.g. sklearn's StandardScaler) before resampling."
        )


class FeatureOverSampler(BaseOverSampler):
    """Base class: imblearn over-sampler that flattens n-d input and marks synthetic rows.

    Subclasses implement ``_fit_resample`` returning originals first, then synthetic rows
    (imblearn's own convention); they may set ``is_synthetic_`` themselves. A subclass whose
    rows are copies, not computed from the features, sets ``_computes_with_features = False``.
    """

    _computes_with_features = True
    _overflow_power = 2  # the highest power of a feature the method sums
    _overflow_dtype = None  # the float type it computes in (None: X's own)

    def fit(self, X, y, **params):
        """Validate inputs and compute ``sampling_strategy_`` (use ``fit_resample`` instead)."""
        X = flatten_features(X)
        check_lengths(X, y, sampler=type(self).__name__)
        return super().fit(X, y, **params)

    def fit_resample(self, X, y, **params):
        """Resample ``(X, y)``; returns originals unchanged first, then synthetic rows."""
        X = flatten_features(X)
        name = type(self).__name__
        check_lengths(X, y, sampler=name)
        if self._computes_with_features:
            _check_magnitude(X, name, self._overflow_power, self._overflow_dtype)
        self.n_original_ = int(np.shape(X)[0])
        if hasattr(self, "is_synthetic_"):
            del self.is_synthetic_
        out = super().fit_resample(X, y, **params)
        n_out = int(np.shape(out[0])[0])
        if not hasattr(self, "is_synthetic_"):
            mask = np.zeros(n_out, dtype=bool)
            mask[self.n_original_ :] = True
            self.is_synthetic_ = mask
        self._check_finite_output(X, out[0])
        return out

    def _check_finite_output(self, X, X_res) -> None:
        """Refuse non-finite synthetic rows made from finite input (overflow, 0/0)."""
        if not isinstance(X_res, np.ndarray) or X_res.dtype.kind != "f":
            return
        if isinstance(X, np.ndarray) and X.dtype.kind == "f" and not np.isfinite(X).all():
            return  # NaN in, NaN out: the input's own, for the samplers that allow it
        bad = ~np.isfinite(X_res[self.n_original_ :]).all(axis=1)
        if bad.any():
            raise ValueError(
                f"{type(self).__name__}: {int(bad.sum())} of the {len(bad)} synthetic rows are "
                "not finite (NaN or inf) although X is; its values are too large or too "
                "degenerate for the method's arithmetic. Standardise X before resampling."
            )
