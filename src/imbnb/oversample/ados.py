"""ADOS, Adaptive Dynamic Over-Sampling in deep feature space (book chapter "ADOS").

Implements chapter 4 of Karmakar's 2019 ISI thesis: Algorithm 5 (the sampler), Algorithm 4
(per-point number of neighbours), eqs. 4.2-4.7 and the sample-specific re-weighting of
§4.2.4, with the incremental distance bookkeeping of §4.3 (O(N^2 d) instead of O(N^3 d)).
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from imblearn.utils import check_target_type
from scipy import sparse
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from ..imbalance import class_weights_from_counts
from ._base import FeatureOverSampler

__all__ = [
    "ADOS",
    "adaptive_k",
    "class_k_max",
    "neighbour_weights",
    "sample_specific_weights",
]

# Squared distances below this fraction of the class's largest squared norm (after centring)
# count as zero: the norm expansion ||a||^2 + ||b||^2 - 2ab leaves ~1e-16 relative noise.
_ZERO_TOL = 1e-12
# Keep the (n_c x final class size) cache of seed-to-set distances below this many bytes;
# above it each seed's row is recomputed (one extra matrix-vector product per sample).
_CACHE_BYTES = 256 * 2**20
_EMPTY_INT = np.empty(0, dtype=np.int64)
_EMPTY_FLOAT = np.empty(0, dtype=np.float64)


def class_k_max(counts: Mapping, nu_min: int = 10, nu_max: int = 20) -> dict:
    """Class-wise largest neighbour count ``k_max^(c)`` of eqs. 4.2-4.3 (thesis Example 4.1).

    ``k_max^(c) = floor(nu_max * (n_c / n_max)^b)`` with
    ``b = log(nu_max / nu_min) / log(n_max / n_min)``. When every class has the same size
    (``n_max == n_min``) ``b`` is undefined; every class is then a largest class and gets
    ``nu_max`` (the condition eq. 4.2 imposes on ``n_c = n_max``).
    """
    n = {c: int(v) for c, v in counts.items()}
    n_max, n_min = max(n.values()), min(n.values())
    if n_max == n_min or nu_max == nu_min:
        return {c: int(nu_max) for c in n}
    b = math.log(nu_max / nu_min) / math.log(n_max / n_min)  # eq. 4.2
    # eq. 4.3; the 1e-9 keeps floor() from dropping n_c = n_min to nu_min - 1 by rounding
    return {c: int(math.floor(nu_max * (v / n_max) ** b + 1e-9)) for c, v in n.items()}


def adaptive_k(d_x: float, d_min: float, d_max: float, k_min: int, k_max: int) -> int:
    """Number of neighbours of a point by Algorithm 4's linear heuristic (l. 10-16).

    ``k = ceil(k_max - (k_max - k_min) / (d_max - d_min) * (d_x - d_min))``, clamped to
    ``[k_min, k_max]``: dense neighbourhoods (small nearest-neighbour distance ``d_x``) get
    more neighbours. The printed branches (l. 11-14: ``d <= d_min -> k_min``,
    ``d >= d_max -> k_max``) contradict this formula at its own end points, which gives
    ``k_max`` at ``d_min`` and ``k_min`` at ``d_max``; we follow the formula and clamp.
    When all positive pairwise distances are equal (``d_max <= d_min``) the formula is 0/0
    and we return ``k_max``, its value at ``d_x = d_min``.
    """
    if not d_max > d_min:
        return int(k_max)
    # Alg. 4 l.16; the 1e-9 keeps ceil() from rounding k_min + 1e-15 up at d_x = d_max
    k = math.ceil(k_max - (k_max - k_min) / (d_max - d_min) * (d_x - d_min) - 1e-9)
    return int(min(max(k, k_min), k_max))


def neighbour_weights(distances: np.ndarray) -> np.ndarray:
    """Normalised neighbour weights ``exp(-d_ij / d_imax) / Z`` of eq. 4.5.

    If every neighbour sits at distance 0 (duplicates) the ratio is 0/0; the weights are
    then uniform, the limit of eq. 4.5 as the distances shrink together.
    """
    d = np.asarray(distances, dtype=np.float64)
    d_imax = d.max()
    e = np.exp(-d / d_imax) if d_imax > 0 else np.ones_like(d)
    return e / e.sum()


def sample_specific_weights(counts_before: Mapping, counts_after: Mapping) -> tuple[dict, dict]:
    """Class weights before and after oversampling for the re-weighting of §4.2.4.

    Original rows keep the weight of their class before oversampling, synthetic rows get the
    weight of their class after it (thesis Example 4.2: (2000, 100) -> (2000, 500) gives
    1/21, 20/21 before and 1/5, 4/5 after).
    """
    return class_weights_from_counts(counts_before), class_weights_from_counts(counts_after)


def _sq_norms(A: np.ndarray) -> np.ndarray:
    """Row-wise squared Euclidean norms."""
    return np.einsum("ij,ij->i", A, A)


class _ClassSet:
    """One class's searchable set X_tr^(c) U X_gen^(c), centred, with §4.3's bookkeeping.

    Distances are translation invariant; centring keeps the norm trick exact. ``D[j, t]`` is
    the squared distance from original (seed) ``j`` to point ``t`` of the set (§4.3 keeps the
    whole matrix; seeds are always originals, so their n_c rows are all we need); it is only
    kept while it fits in ``_CACHE_BYTES``.
    """

    def __init__(self, Xc: np.ndarray, n_gen: int, dynamic: bool) -> None:
        """Preallocate the set for ``n_gen`` new rows; Algorithm 3 on the originals."""
        n, d = Xc.shape
        self.n, self.dynamic = n, dynamic
        self.mu = Xc.mean(axis=0)
        self.S = np.empty((n + n_gen, d), dtype=np.float64)  # preallocated
        self.S[:n] = Xc - self.mu
        self.sq = np.empty(n + n_gen, dtype=np.float64)
        self.sq[:n] = _sq_norms(self.S[:n])
        self.tol = _ZERO_TOL * max(float(self.sq[:n].max()), np.finfo(np.float64).tiny)
        n_cols = n + n_gen if dynamic else n
        cache = n * n_cols * 8 <= _CACHE_BYTES
        self.D = np.empty((n, n_cols), dtype=np.float64) if cache else None
        self.d2_min, self.d2_max = self._original_extremes()
        self.d_min, self.d_max = math.sqrt(self.d2_min), math.sqrt(self.d2_max)

    def _original_extremes(self) -> tuple[float, float]:
        """Algorithm 3 + Alg. 4 l.2-3 on the original points, in row blocks to bound memory."""
        S, sq, n, D = self.S, self.sq, self.n, self.D
        d2_min, d2_max = np.inf, 0.0
        step = max(1, min(n, (64 * 2**20) // (8 * n)))
        for a in range(0, n, step):
            b = min(n, a + step)
            blk = sq[a:b, None] + sq[None, :n] - 2.0 * (S[a:b] @ S[:n].T)
            np.maximum(blk, 0.0, out=blk)
            blk[np.arange(b - a), np.arange(a, b)] = 0.0
            d2_max = max(d2_max, float(blk.max()))
            d2_min = min(d2_min, float(np.min(blk, where=blk > self.tol, initial=np.inf)))
            blk[np.arange(b - a), np.arange(a, b)] = np.inf  # a point is not its own neighbour
            if D is not None:
                D[a:b, :n] = blk
        return d2_min, d2_max

    def row(self, j: int, t: int) -> np.ndarray:
        """Squared distances from seed ``j`` to the first ``t`` points (itself: inf)."""
        if self.D is not None:
            return self.D[j, :t]
        row = self.S[:t] @ self.S[j]
        row *= -2.0
        row += self.sq[:t]
        row += self.sq[j]
        row[j] = np.inf
        return row

    def add(self, pos: int, x_new: np.ndarray) -> None:
        """Store new row ``pos``; when dynamic it joins the set (Alg. 5 l.18, §4.3)."""
        self.S[pos] = x_new
        self.sq[pos] = x_new @ x_new
        if not self.dynamic:
            return
        # Alg. 5 l.18: the new point joins the set; §4.3: append one row/column of the
        # distance matrix (one matrix-vector product) and update d_min, d_max.
        d2 = self.S[:pos] @ x_new
        d2 *= -2.0
        d2 += self.sq[:pos]
        d2 += self.sq[pos]
        hi = float(d2.max())
        if hi > self.d2_max:
            self.d2_max, self.d_max = hi, math.sqrt(hi)
        m = float(d2.min())
        if m <= self.tol:  # duplicates (distance 0) do not count: Alg. 4 l.2 takes d > 0
            m = float(np.min(d2, where=d2 > self.tol, initial=np.inf))
        if m < self.d2_min:
            self.d2_min, self.d_min = m, math.sqrt(m)
        if self.D is not None:
            self.D[:, pos] = d2[: self.n]


def _neighbours(
    row: np.ndarray, t: int, k_max: int, k_min: int, cs: _ClassSet
) -> tuple[np.ndarray, np.ndarray, int]:
    """The seed's ``k`` nearest (Alg. 4 + Alg. 1) and their weights (eqs. 4.4-4.5)."""
    # one O(t) partial sort yields the k_max candidates; Alg. 4 l.10 (d_x) and Alg. 1
    # (the k nearest) both read off them
    kk = min(k_max, t - 1)
    cand = np.argpartition(row, kk - 1)[:kk]
    cd2 = row[cand]
    order = np.argsort(cd2, kind="stable")
    cand, cd = cand[order], np.sqrt(np.maximum(cd2[order], 0.0))
    k = min(adaptive_k(cd[0], cs.d_min, cs.d_max, k_min, k_max), t - 1)  # Alg. 4
    nb, dn = cand[:k], cd[:k]
    # eq. 4.4-4.5 (as neighbour_weights; dn is sorted, so d_imax = dn[-1])
    e = np.exp(dn * (-1.0 / dn[-1])) if dn[-1] > 0 else np.ones(k)
    return nb, e / e.sum(), k


def _generate_class(
    Xc: np.ndarray,
    n_gen: int,
    k_max: int,
    k_min: int,
    deltas: np.ndarray,
    dynamic: bool,
) -> tuple[np.ndarray, np.ndarray, list, list, np.ndarray]:
    """Run Algorithm 5 l.7-20 for one class; return new rows and their provenance.

    Returns ``(X_new, seed, neighbours, weights, ks)`` where ``seed`` and ``neighbours`` are
    local indices into the class's growing set (originals ``0..n_c-1``, then the new rows in
    order of creation).
    """
    n = Xc.shape[0]
    cs = _ClassSet(Xc, n_gen, dynamic)
    ks = np.empty(n_gen, dtype=np.int64)
    seeds = np.empty(n_gen, dtype=np.int64)
    neighbours: list = [None] * n_gen
    weights: list = [None] * n_gen
    for i in range(n_gen):
        t = n + i if dynamic else n  # size of the searchable set X_tr^(c) U X_gen^(c)
        # Alg. 5 l.12: seed x_i^(c), cycling over the class's original points (see Notes)
        j = i % n
        nb, w, k = _neighbours(cs.row(j, t), t, k_max, k_min, cs)
        x_hat = w @ cs.S[nb]  # eq. 4.6: synthetic neighbour
        delta = deltas[i]  # Alg. 5 l.16
        x_new = delta * cs.S[j] + (1.0 - delta) * x_hat  # eq. 4.7
        cs.add(n + i, x_new)
        seeds[i], ks[i], neighbours[i], weights[i] = j, k, nb, w
    return cs.S[n:] + cs.mu, seeds, neighbours, weights, ks


class ADOS(FeatureOverSampler):
    """Adaptive Dynamic Over-Sampling (Karmakar 2019, ch. 4), an imblearn over-sampler.

    Each synthetic row is a random convex combination (eq. 4.7) of a seed point of its class
    and a "synthetic neighbour" (eq. 4.6), the distance-weighted mean (eq. 4.5) of the seed's
    ``k`` nearest in-class points, ``k`` chosen per point by Algorithm 4 between ``k_min``
    and the class-wise ``k_max`` of eq. 4.3. With ``dynamic=True`` each new row joins its
    class's searchable set before the next one is made (Algorithm 5 l.18).

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        imblearn's meaning. With ``"auto"`` the targets are those of Algorithm 5 l.4-6:
        every class with ``n_c <= n_max / rho_d`` grows to ``ceil(n_max / rho_d)``
        (``rho_d=1``: imblearn's ``"auto"``, every class to the majority size). Any other
        value sets the targets itself and then ``rho_d`` must stay 1.
    rho_d : float, default=1.0
        Desired imbalance ratio ``n_max / n_c`` after oversampling (>= 1).
    nu_min, nu_max : int, default=10, 20
        ``k_max`` of the smallest and the largest class (eqs. 4.2-4.3).
    k_min : int, default=2
        Smallest number of neighbours (Algorithm 5 l.12 passes 2).
    reweight : bool, default=True
        Compute ``sample_weight_`` by §4.2.4; if False ``sample_weight_`` is all ones.
    random_state : int, RandomState instance or None, default=None
        Draws the interpolation coefficients ``delta`` (Algorithm 5 l.16).
    dynamic : bool, default=True
        False gives the static ablation: neighbours and ``d_min``/``d_max`` come from the
        original class points only.

    Attributes
    ----------
    sampling_strategy_ : OrderedDict
        Class -> number of rows generated (imblearn's meaning).
    k_max_ : dict
        Class -> ``k_max^(c)`` (eq. 4.3), for every class of ``y``.
    is_synthetic_ : ndarray of bool, shape (n_samples_new,)
    source_index_ : ndarray of int, shape (n_samples_new,)
        Row (in the returned ``X``) of each synthetic row's seed ``x_i``; -1 for originals.
    neighbor_indices_ : list of ndarray of int, length n_samples_new
        Rows (in the returned ``X``) of the neighbours used by eq. 4.6; they may be earlier
        synthetic rows. Empty for originals.
    neighbor_weights_ : list of ndarray of float, length n_samples_new
        Their weights ``w_ij`` (eq. 4.5), summing to 1. Empty for originals.
    delta_ : ndarray of float, shape (n_samples_new,)
        ``delta`` of eq. 4.7; NaN for originals.
    k_ : ndarray of int, shape (n_samples_new,)
        Number of neighbours used (Algorithm 4); 0 for originals.
    sample_weight_ : ndarray of float, shape (n_samples_new,)
        §4.2.4: originals carry their class weight (Algorithm 2) before oversampling,
        synthetic rows their class weight after it.

    Notes
    -----
    Choices where the thesis is ambiguous:

    * **Seed order.** Algorithm 5 l.11-12 loops ``i = 1..n_gen`` and passes ``x_i^(c)``, but
      Table 4.1 defines ``x_i^(c)`` only for ``i = 1..n_c`` (the original samples) and
      ``n_gen`` usually exceeds ``n_c``. We cycle through the original points in their order
      (``i mod n_c``), so each seeds ``floor`` or ``ceil`` of ``n_gen / n_c`` rows; synthetic
      rows are never seeds but do serve as neighbours (the "dynamic" part). The randomness
      is ``delta`` alone. A consequence worth knowing: once an original has seeded ``k``
      rows they are its nearest neighbours, so its later rows contract geometrically onto
      it. On a 120-d Gaussian stand-in at rho = 100 (60 -> 2,000 rows) about half the
      synthetic rows lay within 1e-3 of their seed (the set's spread, trace of the
      covariance, stayed at 0.89 of the originals'). The other reading, "the i-th point of
      the growing set" (synthetic rows seed later ones), was worse there: the synthetic
      rows collapsed onto one another (covariance trace 0.007 of the originals').
    * **Algorithm 4 branches.** Its l.11-14 contradict l.16 at the boundaries; we apply the
      l.16 formula and clamp to ``[k_min, k_max]`` (see :func:`adaptive_k`). ``k`` is also
      capped at the number of other points in the set (a class of 2 has 1 neighbour).
    * **Pairwise extremes.** ``d_min``/``d_max`` (Alg. 4 l.2-3) are over all pairs of the
      current set with positive distance, updated as each new row is added (§4.3). Squared
      distances below ``1e-12`` times the class's largest squared norm (after centring)
      count as zero (duplicates).
    * **Targets.** ``rho_d`` defines the default (``"auto"``) targets; an explicit
      ``sampling_strategy`` overrides them and cannot be combined with ``rho_d != 1``.
      ``ceil`` is taken with a 1e-9 relative tolerance so that e.g. 1000/1.1 does not round
      up by floating-point noise.
    * **Class sizes in eq. 4.3** are those before oversampling, over all classes of ``y``.
    * **Re-weighting** uses Algorithm 2 (normalised inverse priors) on the counts before and
      after oversampling, for every class; classes that are not oversampled thus keep
      their "before" weight, as in Example 4.2.
    * Distances are computed in float64 whatever the input dtype; the returned rows have the
      input's floating dtype (float64 for integer input).
    """

    _parameter_constraints: dict = {
        **FeatureOverSampler._parameter_constraints,
        "rho_d": [Interval(numbers.Real, 1, None, closed="left")],
        "nu_min": [Interval(numbers.Integral, 1, None, closed="left")],
        "nu_max": [Interval(numbers.Integral, 1, None, closed="left")],
        "k_min": [Interval(numbers.Integral, 1, None, closed="left")],
        "reweight": ["boolean"],
        "random_state": ["random_state"],
        "dynamic": ["boolean"],
    }

    def __init__(
        self,
        sampling_strategy="auto",
        rho_d: float = 1.0,
        nu_min: int = 10,
        nu_max: int = 20,
        k_min: int = 2,
        reweight: bool = True,
        random_state=None,
        dynamic: bool = True,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.rho_d = rho_d
        self.nu_min = nu_min
        self.nu_max = nu_max
        self.k_min = k_min
        self.reweight = reweight
        self.random_state = random_state
        self.dynamic = dynamic

    def _check_params(self) -> None:
        """Cross-parameter checks that ``_parameter_constraints`` cannot express."""
        if self.nu_min > self.nu_max:
            raise ValueError(f"nu_min={self.nu_min} must not exceed nu_max={self.nu_max}.")
        if self.k_min > self.nu_min:
            raise ValueError(
                f"k_min={self.k_min} must not exceed nu_min={self.nu_min} (the smallest k_max)."
            )
        if not (isinstance(self.sampling_strategy, str) and self.sampling_strategy == "auto"):
            if self.rho_d != 1:
                raise ValueError(
                    f"rho_d={self.rho_d} sets ADOS's targets only with sampling_strategy='auto'"
                    f"; got sampling_strategy={self.sampling_strategy!r} too. Pass one of them."
                )

    def _ados_strategy(self, y: np.ndarray) -> OrderedDict:
        """Algorithm 5 l.3-6: rows to generate per class for ``rho_d`` (used with 'auto')."""
        classes, counts = np.unique(y, return_counts=True)
        n_max = int(counts.max())
        q = n_max / float(self.rho_d)
        target = math.ceil(q - 1e-9 * q)  # Alg. 5 l.6
        majority = classes[int(np.argmax(counts))]
        return OrderedDict(
            (c, target - int(n))
            for c, n in zip(classes, counts, strict=True)
            if n <= target and c != majority  # Alg. 5 l.4 (n_c integer: <= n_max/rho_d)
        )

    def fit(self, X, y, **params):
        """Validate inputs and compute ``sampling_strategy_`` (use ``fit_resample`` instead)."""
        super().fit(X, y, **params)
        self._check_params()
        if isinstance(self.sampling_strategy, str) and self.sampling_strategy == "auto":
            y1, _ = check_target_type(y, indicate_one_vs_all=True)
            self.sampling_strategy_ = self._ados_strategy(np.asarray(y1))
        return self

    def _fit_resample(self, X, y):
        """Generate ``sampling_strategy_[c]`` rows per class by Algorithm 5; see class doc."""
        self._check_params()
        if isinstance(self.sampling_strategy, str) and self.sampling_strategy == "auto":
            self.sampling_strategy_ = self._ados_strategy(y)
        rng = check_random_state(self.random_state)
        is_sparse = sparse.issparse(X)
        Xd = X.toarray() if is_sparse else np.asarray(X)
        out_dtype = Xd.dtype if np.issubdtype(Xd.dtype, np.floating) else np.float64

        classes, counts = np.unique(y, return_counts=True)
        count = {c: int(n) for c, n in zip(classes, counts, strict=True)}
        self.k_max_ = class_k_max(count, self.nu_min, self.nu_max)
        for c, n_gen in self.sampling_strategy_.items():
            if n_gen > 0 and count[c] < 2:
                raise ValueError(
                    f"ADOS needs at least 2 samples in class {c} to find in-class "
                    f"neighbours (Algorithm 4); got {count[c]}. Drop the class or merge it."
                )
        new_X, new_y = self._generate(Xd, y, rng, out_dtype)
        y_res = np.concatenate([y, *new_y]) if new_y else y.copy()
        if is_sparse:
            X_res = sparse.vstack(
                [X, *(sparse.csr_matrix(a) for a in new_X)], format=X.format
            ).astype(out_dtype)
        elif new_X:
            X_res = np.vstack([Xd.astype(out_dtype, copy=False), *new_X])
        else:
            X_res = Xd.astype(out_dtype, copy=True)
        self.is_synthetic_ = np.arange(y_res.shape[0]) >= Xd.shape[0]
        self.sample_weight_ = self._sample_weights(count, classes, y_res)
        return X_res, y_res

    def _generate(self, Xd: np.ndarray, y: np.ndarray, rng, out_dtype) -> tuple[list, list]:
        """Algorithm 5 class by class: the new rows and labels; set the provenance attributes."""
        n0 = Xd.shape[0]
        new_X, new_y = [], []
        source = [np.full(n0, -1, dtype=np.int64)]
        nbr_idx: list = [_EMPTY_INT] * n0
        nbr_w: list = [_EMPTY_FLOAT] * n0
        deltas_all = [np.full(n0, np.nan)]
        ks_all = [np.zeros(n0, dtype=np.int64)]
        offset = n0
        for c, n_gen in self.sampling_strategy_.items():
            if n_gen <= 0:
                continue
            rows = np.flatnonzero(y == c)
            deltas = rng.uniform(0.0, 1.0, size=n_gen)  # Alg. 5 l.16, drawn per class
            k_max = max(int(self.k_max_[c]), int(self.k_min))
            X_new, seeds, nbrs, ws, ks = _generate_class(
                Xd[rows].astype(np.float64), n_gen, k_max, int(self.k_min), deltas, self.dynamic
            )
            # local index -> row of the returned X: originals by `rows`, new ones after offset
            local_to_row = np.concatenate([rows, offset + np.arange(n_gen)]).astype(np.int64)
            new_X.append(X_new.astype(out_dtype, copy=False))
            new_y.append(np.full(n_gen, c, dtype=y.dtype))
            source.append(local_to_row[seeds])
            nbr_idx.extend(local_to_row[nb] for nb in nbrs)
            nbr_w.extend(ws)
            deltas_all.append(deltas)
            ks_all.append(ks)
            offset += n_gen
        self.source_index_ = np.concatenate(source)
        self.neighbor_indices_ = nbr_idx
        self.neighbor_weights_ = nbr_w
        self.delta_ = np.concatenate(deltas_all)
        self.k_ = np.concatenate(ks_all)
        return new_X, new_y

    def _sample_weights(self, count: dict, classes: np.ndarray, y_res: np.ndarray) -> np.ndarray:
        """§4.2.4 weights of the returned rows (all ones without ``reweight``)."""
        if not self.reweight:
            return np.ones(y_res.shape[0], dtype=np.float64)
        after = dict(zip(*np.unique(y_res, return_counts=True), strict=True))
        w_before, w_after = sample_specific_weights(count, after)
        pos = np.searchsorted(classes, y_res)
        before = np.array([w_before[c] for c in classes], dtype=np.float64)
        after_w = np.array([w_after[c] for c in classes], dtype=np.float64)
        # §4.2.4: originals keep the weight before oversampling, synthetic rows get after
        return np.where(self.is_synthetic_, after_w[pos], before[pos])
