"""Classifiers trained on (resampled) feature vectors, with scikit-learn's interface (chapter 3).

:class:`FeatureClassifier` is the "final classifier" retrained on deep features after
oversampling: ADOS's classifier head and the pseudo-feature paper's retrained last layer
(``kind="mlp"``, an :class:`imbnb.models.MLPHead` trained with :func:`imbnb.train.fit`), plus
logistic regression and k-nearest neighbours for DOS-style comparisons.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from imbnb.oversample._base import flatten_features

__all__ = ["FeatureClassifier"]


class FeatureClassifier(ClassifierMixin, BaseEstimator):
    """Classify feature vectors with an MLP head, logistic regression or kNN.

    Parameters
    ----------
    kind : {"mlp", "logreg", "knn"}, default="mlp"
        ``"mlp"``: :class:`imbnb.models.MLPHead` (ReLU layers ``hidden``) trained with Adam by
        :func:`imbnb.train.fit`; ``"logreg"``: sklearn's multinomial ``LogisticRegression``;
        ``"knn"``: sklearn's ``KNeighborsClassifier`` (no ``sample_weight`` support).
    hidden : tuple of int, default=(256, 128)
        MLP hidden sizes (``()`` gives a linear softmax layer).
    epochs, batch_size, lr : MLP training schedule.
    n_neighbors : int, default=5
        k for ``kind="knn"``.
    random_state : int, default=0
        Seeds the MLP's initialisation and batch order (and logreg's solver).
    device : str or None
        Torch device for the MLP (``None``: CUDA if available, else CPU).

    ``sample_weight`` in :meth:`fit` multiplies each row's loss (mlp, logreg); ADOS's
    ``sample_weight_`` plugs in directly. n-d input is flattened with a warning.
    """

    _parameter_constraints: dict = {
        "kind": [StrOptions({"mlp", "logreg", "knn"})],
        "hidden": [tuple, list],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": [Interval(numbers.Integral, 0, None, closed="left")],
        "device": [str, None],
    }

    def __init__(
        self,
        kind: str = "mlp",
        hidden: tuple[int, ...] = (256, 128),
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 1e-3,
        n_neighbors: int = 5,
        random_state: int = 0,
        device: str | None = None,
    ) -> None:
        self.kind = kind
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.device = device

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> FeatureClassifier:
        """Fit on features ``X`` (n_samples, n_features) and labels ``y``; returns ``self``."""
        self._validate_params()
        X, y = validate_data(self, flatten_features(X), y, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"FeatureClassifier needs at least 2 classes in y; got {len(self.classes_)}."
            )
        y_enc = self._encoder.transform(y)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X)
        if self.kind == "knn":
            if sw is not None and not np.allclose(sw, sw[0]):
                raise ValueError(
                    "kind='knn' does not support non-uniform sample_weight (kNN votes are "
                    "unweighted); use kind='mlp' or 'logreg', or resample instead."
                )
            self.estimator_ = KNeighborsClassifier(n_neighbors=self.n_neighbors).fit(X, y_enc)
        elif self.kind == "logreg":
            self.estimator_ = LogisticRegression(max_iter=1000, random_state=self.random_state)
            self.estimator_.fit(X, y_enc, sample_weight=sw)
        else:
            from imbnb.models import MLPHead
            from imbnb.train import fit as train_fit
            from imbnb.train import seed_everything

            if self.random_state is not None:  # the initial weights follow random_state too
                seed_everything(self.random_state)
            self.estimator_ = MLPHead(X.shape[1], len(self.classes_), hidden=tuple(self.hidden))
            self.history_ = train_fit(
                self.estimator_,
                X.astype(np.float32, copy=False),
                y_enc,
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                sample_weight=sw,
                seed=self.random_state,
                device=self.device,
                progress=False,
            )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, flatten_features(X), reset=False, dtype=[np.float32, np.float64])
        if self.kind == "mlp":
            from imbnb.train import predict_proba

            return predict_proba(self.estimator_, X.astype(np.float32, copy=False))
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label for each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
