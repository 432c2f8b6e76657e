"""Pseudo-features drawn from per-class multivariate Gaussians (Konno & Iwazume 2018).

Chapter 3 (pseudo-features). The paper's §2 Steps 3–4: fit a multivariate probability
distribution to the features of each minority class (they use a Gaussian; full covariance beat
independent dimensions) and sample pseudo-features from it; §3.2 generates enough to balance the
classes, and §3.6 reports that generating more (minority classes "multiplied by 50 times or 100
times") can help — hence ``multiplier``.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.covariance import EmpiricalCovariance, LedoitWolf, ShrunkCovariance
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from imbnb.oversample._base import FeatureOverSampler
from imbnb.oversample.perturbation import _DenseFeatureOverSampler, _psd_factor

__all__ = ["PseudoFeatures"]


class PseudoFeatures(_DenseFeatureOverSampler):
    """Sample synthetic features from a Gaussian fitted to each class (pseudo-feature paper §2).

    For each class ``c`` in ``sampling_strategy_``, ``round(multiplier * sampling_strategy_[c])``
    rows are drawn from ``N(mu_c, Sigma_c)`` fitted to that class's real rows. With the default
    ``multiplier=1`` the counts are imblearn's (``"auto"`` balances every class to the majority,
    the paper's §3.2 protocol). ``multiplier`` scales the number of *synthetic* rows, not the
    class total: the paper's "minority multiplied by k" (total ``k * n_c``) corresponds to
    ``multiplier = (k - 1) * n_c / sampling_strategy_[c]``; e.g. 500 minority vs 5,000 majority
    with ``"auto"`` adds 4,500 at ×1 and 45,000 (total 45,500, about ×91) at ×10.

    Covariance estimation (the class may have fewer rows than dimensions):

    * ``shrinkage="ledoit_wolf"`` (default): sklearn's :class:`~sklearn.covariance.LedoitWolf`,
      a well-conditioned estimate with a data-driven shrinkage towards a scaled identity;
    * a float in [0, 1]: :class:`~sklearn.covariance.ShrunkCovariance` with that shrinkage;
    * ``None``: the maximum-likelihood covariance, except that a full covariance with
      ``n_c <= d`` (singular) falls back to Ledoit–Wolf with a warning.

    ``covariance="diag"`` keeps only the diagonal of that estimate (the paper's "independent
    Gaussian" variant). All estimates are maximum-likelihood scaled (sklearn's convention).

    Parameters
    ----------
    sampling_strategy : str, dict, float or callable, default="auto"
        imblearn's meaning (see ``imblearn.over_sampling.RandomOverSampler``).
    covariance : {"full", "diag"}, default="full"
    shrinkage : "ledoit_wolf", float in [0, 1] or None, default="ledoit_wolf"
    multiplier : float > 0, default=1.0
        Scales the number of synthetic rows per class (see above).
    random_state : int, RandomState or None

    Attributes
    ----------
    means_, covariances_ : dict
        Per sampled class: the fitted mean (d,) and covariance ((d, d), or (d,) for "diag").
    shrinkage_ : dict
        Per sampled class: the shrinkage used (0.0 for the plain maximum-likelihood estimate).
    n_generated_ : dict
        Per class: the number of synthetic rows actually drawn.
    is_synthetic_, n_original_, sampling_strategy_ : see :class:`FeatureOverSampler`.
        No per-row provenance: pseudo-features come from the class distribution, not from a row.
    """

    _overflow_power = 4  # Ledoit-Wolf's shrinkage sums fourth powers of the features
    _overflow_dtype = np.float64  # computed in float64 whatever X's type

    _parameter_constraints: dict = {
        **FeatureOverSampler._parameter_constraints,
        "covariance": [StrOptions({"full", "diag"})],
        "shrinkage": [
            StrOptions({"ledoit_wolf"}),
            Interval(numbers.Real, 0, 1, closed="both"),
            None,
        ],
        "multiplier": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        sampling_strategy: Any = "auto",
        covariance: str = "full",
        shrinkage: str | float | None = "ledoit_wolf",
        multiplier: float = 1.0,
        random_state: Any = None,
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
        self.covariance = covariance
        self.shrinkage = shrinkage
        self.multiplier = multiplier
        self.random_state = random_state

    def _estimate(self, Xc: np.ndarray, klass: Any) -> tuple[np.ndarray, np.ndarray, float]:
        """Mean, covariance and shrinkage for one class's rows (see the class docstring)."""
        n_c, d = Xc.shape
        shrinkage = self.shrinkage
        if shrinkage is None and self.covariance == "full" and n_c <= d:
            warnings.warn(
                f"class {klass} has {n_c} samples for {d} features, so its covariance is "
                "singular; using Ledoit-Wolf shrinkage instead of shrinkage=None.",
                UserWarning,
                stacklevel=4,
            )
            shrinkage = "ledoit_wolf"
        if shrinkage == "ledoit_wolf":
            est = LedoitWolf().fit(Xc)
            return est.location_, est.covariance_, float(est.shrinkage_)
        if shrinkage is None:
            est = EmpiricalCovariance().fit(Xc)
            return est.location_, est.covariance_, 0.0
        est = ShrunkCovariance(shrinkage=float(shrinkage)).fit(Xc)
        return est.location_, est.covariance_, float(shrinkage)

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit a Gaussian per class and draw its pseudo-features (paper §2, Steps 3–4)."""
        rng = check_random_state(self.random_state)
        X64 = np.asarray(X, dtype=np.float64)
        d = X64.shape[1]
        self.means_, self.covariances_, self.shrinkage_, self.n_generated_ = {}, {}, {}, {}
        new_X, new_y = [], []
        for klass, n_new in self.sampling_strategy_.items():
            n_gen = int(round(self.multiplier * n_new))
            self.n_generated_[klass] = n_gen
            if n_gen == 0:
                continue
            Xc = X64[y == klass]
            if len(Xc) < 2:
                raise ValueError(
                    f"PseudoFeatures needs at least 2 samples of class {klass} to fit its "
                    f"Gaussian; got {len(Xc)}. Drop the class from sampling_strategy or use "
                    "RandomOverSampler / GaussianPerturbation for it."
                )
            mean, cov, shrink = self._estimate(Xc, klass)
            z = rng.standard_normal((n_gen, d))
            if self.covariance == "full":
                draws = mean + z @ _psd_factor(cov).T
            else:
                cov = np.diag(cov).copy()
                draws = mean + z * np.sqrt(np.clip(cov, 0.0, None))
            self.means_[klass], self.covariances_[klass] = mean, cov
            self.shrinkage_[klass] = shrink
            new_X.append(draws)
            new_y.append(np.full(n_gen, klass))
        return self._stack(X, y, new_X, new_y)
