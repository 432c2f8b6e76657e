"""Shared plumbing for imbnb's feature-space oversamplers (chapter 3).

Every sampler follows imbalanced-learn's ``fit_resample`` contract. On top of it this base:

* accepts image batches or tensors of any shape by flattening them to ``(n_samples, -1)``
  with a warning that says so (imblearn alone answers with an opaque "dim 4" error);
* records ``is_synthetic_``, a boolean mask over the returned rows, and ``n_original_``.
"""

from __future__ import annotations

import warnings

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler

__all__ = ["FeatureOverSampler", "FlattenedInputWarning", "flatten_features"]


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


class FeatureOverSampler(BaseOverSampler):
    """Base class: imblearn over-sampler that flattens n-d input and marks synthetic rows.

    Subclasses implement ``_fit_resample`` returning originals first, then synthetic rows
    (imblearn's own convention); they may set ``is_synthetic_`` themselves.
    """

    def fit(self, X, y, **params):
        """Validate inputs and compute ``sampling_strategy_`` (use ``fit_resample`` instead)."""
        return super().fit(flatten_features(X), y, **params)

    def fit_resample(self, X, y, **params):
        """Resample ``(X, y)``; returns originals unchanged first, then synthetic rows."""
        X = flatten_features(X)
        self.n_original_ = int(np.shape(X)[0])
        if hasattr(self, "is_synthetic_"):
            del self.is_synthetic_
        out = super().fit_resample(X, y, **params)
        n_out = int(np.shape(out[0])[0])
        if not hasattr(self, "is_synthetic_"):
            mask = np.zeros(n_out, dtype=bool)
            mask[self.n_original_ :] = True
            self.is_synthetic_ = mask
        return out
