"""imbalanced-learn's classic samplers, made feature-space friendly (chapter 3).

Thin subclasses of imblearn's ``RandomOverSampler``, ``RandomUnderSampler``, ``SMOTE``,
``BorderlineSMOTE`` and ``ADASYN``: the resampling itself is imblearn's, untouched; the
subclasses only flatten n-d input (images, tensors) with a
:class:`~imbnb.oversample._base.FlattenedInputWarning` and record ``is_synthetic_`` (plus the
source row of each duplicate where imblearn already knows it). ``ROSRUS`` composes imblearn's
random over- and under-sampler to reach a desired imbalance ratio (ADOS thesis §3.1.3).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections import Counter, OrderedDict
from typing import Any

import numpy as np
from imblearn.base import BaseSampler
from imblearn.over_sampling import ADASYN as _ADASYN
from imblearn.over_sampling import SMOTE as _SMOTE
from imblearn.over_sampling import BorderlineSMOTE as _BorderlineSMOTE
from imblearn.over_sampling import RandomOverSampler as _RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler as _RandomUnderSampler
from imblearn.utils import check_target_type
from scipy import sparse
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval

from imbnb.oversample._base import FeatureOverSampler, check_lengths, flatten_features

__all__ = [
    "ADASYN",
    "ROSRUS",
    "SMOTE",
    "BorderlineSMOTE",
    "RandomOverSampler",
    "RandomUnderSampler",
]


class RandomOverSampler(FeatureOverSampler, _RandomOverSampler):
    """imblearn's random over-sampling (ADOS thesis §3.1.1), flattening n-d input.

    After ``fit_resample``: ``is_synthetic_`` marks the duplicated rows (they follow the
    originals) and ``source_index_`` gives, for each returned row, the input row a duplicate
    copies (with ``shrinkage``: is smoothed around), -1 for originals — the convention of
    ADOS and WeightedCalibration. imblearn's ``sample_indices_`` is kept as well.
    Like imblearn, NaN and non-numeric features pass through untouched.
    """

    _computes_with_features = False  # copies (smoothed, with shrinkage): no squares to overflow

    def fit_resample(self, X: Any, y: Any, **params: Any) -> tuple[Any, Any]:
        """imblearn's ``fit_resample`` plus ``is_synthetic_`` and ``source_index_``."""
        out = super().fit_resample(flatten_features(X), y, **params)
        source = np.asarray(self.sample_indices_, dtype=np.intp).copy()
        source[: self.n_original_] = -1
        self.source_index_ = source
        return out


class SMOTE(FeatureOverSampler, _SMOTE):
    """imblearn's SMOTE, flattening n-d input and marking synthetic rows in ``is_synthetic_``.

    The interpolation is imblearn's own and is not re-implemented, so per-row provenance (seed
    point, neighbour, coefficient) is not recorded: ``is_synthetic_`` is the audit trail. Pass
    ``k_neighbors=FaissNearestNeighbors(k + 1)`` for faiss-backed neighbour search.
    """


class BorderlineSMOTE(FeatureOverSampler, _BorderlineSMOTE):
    """imblearn's Borderline-SMOTE, flattening n-d input and recording ``is_synthetic_``.

    Provenance is not recorded (imblearn's sampling is used as is); ``is_synthetic_`` suffices.
    Borderline-SMOTE samples only from a class's "danger" points (Han et al. 2005: at least
    half, not all, of their ``m_neighbors`` neighbours from other classes); a class with none
    (one sample, only duplicates, well separated) gets no rows, and this warns, naming it.
    """

    def _fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        """imblearn's Borderline-SMOTE; warn for the classes it left short."""
        X_res, y_res = super()._fit_resample(X, y)
        made = Counter(np.asarray(y_res)[len(y) :].tolist())
        short = {
            (c.item() if hasattr(c, "item") else c): (made.get(c, 0), n)
            for c, n in self.sampling_strategy_.items()
            if made.get(c, 0) < n
        }
        if short:
            detail = ", ".join(f"class {c}: {got} of {n}" for c, (got, n) in short.items())
            warnings.warn(
                f"BorderlineSMOTE generated fewer rows than asked ({detail}): those classes have "
                "no borderline ('danger') samples, e.g. a single sample or only duplicates; "
                "use SMOTE for them",
                UserWarning,
                stacklevel=2,
            )
        return X_res, y_res


class ADASYN(FeatureOverSampler, _ADASYN):
    """imblearn's ADASYN, flattening n-d input and recording ``is_synthetic_``.

    ADASYN may return slightly fewer rows than ``sampling_strategy_`` asks (imblearn rounds per
    point). Provenance is not recorded; ``is_synthetic_`` suffices.

    A class none of whose points has a neighbour of another class has no "hard" points, and
    ADASYN's density ratios (He et al. 2008, step 2c) are all zero: imblearn then refuses to
    sample. We fall back, for that class only, to SMOTE with the same neighbours -- the limit
    of ADASYN when every point is equally hard -- list it in ``fallback_classes_`` and warn.
    """

    def _fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        """imblearn's ADASYN; per-class SMOTE for classes with no other-class neighbours."""
        self.fallback_classes_: list = []
        try:
            return super()._fit_resample(X, y)
        except RuntimeError as err:
            if "belong to the majority class" not in str(err):
                raise
        counts = Counter(y)
        new_X, new_y = [], []
        for cls, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            kw = {
                "sampling_strategy": {cls: counts[cls] + n_new},
                "random_state": self.random_state,
            }
            try:
                Xr, yr = _ADASYN(n_neighbors=self.n_neighbors, **kw).fit_resample(X, y)
            except RuntimeError:
                Xr, yr = _SMOTE(k_neighbors=self.n_neighbors, **kw).fit_resample(X, y)
                self.fallback_classes_.append(cls.item() if hasattr(cls, "item") else cls)
            new_X.append(Xr[len(y) :])
            new_y.append(yr[len(y) :])
        warnings.warn(
            f"ADASYN: classes {self.fallback_classes_} have no neighbour of another class; "
            "SMOTE generated their rows (ADASYN with equal weights)",
            UserWarning,
            stacklevel=2,
        )
        stack = sparse.vstack if sparse.issparse(X) else np.vstack
        return stack([X, *new_X]), np.concatenate([np.asarray(y), *new_y])


class RandomUnderSampler(_RandomUnderSampler):
    """imblearn's random under-sampling (ADOS thesis §3.1.2), flattening n-d input.

    ``sample_indices_`` (imblearn's) gives the kept input rows; ``is_synthetic_`` is all False
    and ``n_original_`` equals the number of returned rows, for a uniform API with the
    over-samplers.
    """

    def fit(self, X: Any, y: Any, **params: Any) -> RandomUnderSampler:
        """Validate inputs and compute ``sampling_strategy_`` (use ``fit_resample`` instead)."""
        X = flatten_features(X)
        check_lengths(X, y, sampler="RandomUnderSampler")
        return super().fit(X, y, **params)

    def fit_resample(self, X: Any, y: Any, **params: Any) -> tuple[Any, Any]:
        """imblearn's ``fit_resample`` on flattened input, plus ``is_synthetic_``."""
        X = flatten_features(X)
        check_lengths(X, y, sampler="RandomUnderSampler")
        out = super().fit_resample(X, y, **params)
        self.n_original_ = len(self.sample_indices_)
        self.is_synthetic_ = np.zeros(self.n_original_, dtype=bool)
        return out


class ROSRUS(BaseSampler):
    """Random over- plus under-sampling to a desired imbalance ratio (ADOS thesis §3.1.3).

    With actual ratio ``rho_a = n_max / n_min`` above the desired ``ratio`` (the thesis's
    ``rho_d``), classes are clamped into ``[lo, hi]`` with ``hi / lo <= ratio``: classes above
    ``hi`` are randomly under-sampled to ``hi`` (imblearn's ``RandomUnderSampler``), classes
    below ``lo`` randomly over-sampled to ``lo`` (imblearn's ``RandomOverSampler``). The thesis
    does not say where between ``n_min`` and ``n_max`` to meet, so ``under_share`` sets the
    fraction of the log-ratio gap ``log(rho_a / ratio)`` closed by under-sampling:
    ``hi = round(n_max * (ratio / rho_a) ** under_share)``, ``lo = ceil(hi / ratio)``. The
    default 0.5 meets at the geometric middle; 1.0 is pure under-sampling and 0.0 pure
    over-sampling. If ``rho_a <= ratio`` nothing changes.

    Parameters
    ----------
    ratio : float >= 1, default=1.0
        Desired largest-to-smallest class-size ratio ``rho_d``.
    under_share : float in [0, 1], default=0.5
        Share of the (log) imbalance removed by under-sampling.
    random_state : int, RandomState or None
        Seeds both random samplers.

    Attributes
    ----------
    sampling_strategy_ : OrderedDict
        Target size (total, not added) of every class after resampling.
    sample_indices_ : ndarray
        Input row of every returned row (kept rows first, then duplicates).
    is_synthetic_ : ndarray of bool
        True for the duplicated rows. ``n_original_`` counts the kept rows.
    """

    _sampling_type = "bypass"
    sampling_strategy = "auto"  # not a parameter: the targets follow from ``ratio``

    _parameter_constraints: dict = {
        "ratio": [Interval(numbers.Real, 1, None, closed="left")],
        "under_share": [Interval(numbers.Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(
        self, ratio: float = 1.0, *, under_share: float = 0.5, random_state: Any = None
    ) -> None:
        self.ratio = ratio
        self.under_share = under_share
        self.random_state = random_state

    # imblearn's random samplers accept any dtype (strings, NaN); so does their composition.
    _check_X_y = _RandomUnderSampler._check_X_y

    def targets(self, y: Any) -> OrderedDict:
        """Class sizes after resampling ``y`` to the desired ratio (see the class docstring)."""
        counts = Counter(np.asarray(y).tolist())
        n_max, n_min = max(counts.values()), min(counts.values())
        if n_max <= self.ratio * n_min:
            lo, hi = n_min, n_max
        else:
            rho_a = n_max / n_min
            hi = int(round(n_max * (self.ratio / rho_a) ** self.under_share))
            lo = max(n_min, math.ceil(hi / self.ratio))
        return OrderedDict((c, min(max(n, lo), hi)) for c, n in sorted(counts.items()))

    def fit(self, X: Any, y: Any, **params: Any) -> ROSRUS:
        """Validate inputs and compute the per-class targets (use ``fit_resample`` instead)."""
        X = flatten_features(X)
        check_lengths(X, y, sampler="ROSRUS")
        super().fit(X, y, **params)
        self.sampling_strategy_ = self.targets(check_target_type(y))
        return self

    def fit_resample(self, X: Any, y: Any, **params: Any) -> tuple[Any, Any]:
        """Under-sample the large classes, then over-sample the small ones; originals first."""
        X = flatten_features(X)
        check_lengths(X, y, sampler="ROSRUS")
        return super().fit_resample(X, y, **params)

    def _fit_resample(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """Compose imblearn's RUS then ROS on row indices, then gather the rows once."""
        rng = check_random_state(self.random_state)
        self.sampling_strategy_ = self.targets(y)
        counts = Counter(y.tolist())
        rows = np.arange(len(y)).reshape(-1, 1)
        shrink = {c: t for c, t in self.sampling_strategy_.items() if t < counts[c]}
        if shrink:
            rus = _RandomUnderSampler(sampling_strategy=shrink, random_state=rng)
            rus.fit_resample(rows, y)
            idx = np.asarray(rus.sample_indices_)
        else:
            idx = np.arange(len(y))
        self.n_original_ = len(idx)
        grow = {c: t for c, t in self.sampling_strategy_.items() if t > counts[c]}
        if grow:
            ros = _RandomOverSampler(sampling_strategy=grow, random_state=rng)
            ros.fit_resample(rows[idx], y[idx])
            idx = idx[np.asarray(ros.sample_indices_)]
        self.sample_indices_ = idx
        self.is_synthetic_ = np.arange(len(idx)) >= self.n_original_
        return _safe_indexing(X, idx), _safe_indexing(y, idx)

    def __sklearn_tags__(self):  # noqa: D105 - sklearn tag protocol
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.sampler_tags.sample_indices = True
        return tags
