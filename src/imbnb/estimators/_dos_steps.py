"""DOS's steps as pure functions (Ando & Huang 2017): overloading, simplex weights, losses.

Deep feature overloading (eq. 1, §3.2, §3.4), the over-sampling sizes (eq. 11), the weighted
training set of eq. 7 and the micro-cluster losses (eqs. 8-10), plus the in-class variance the
chapter tracks. :class:`imbnb.estimators.dos.DOS` runs them; they are re-exported from there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from imbnb.oversample.neighbors import FaissNearestNeighbors

__all__ = [
    "OverloadedSet",
    "build_overloaded_set",
    "class_overloading",
    "in_class_neighbors",
    "in_class_variance",
    "micro_cluster_losses",
    "oversampling_rates",
    "sample_simplex",
]


# -- deep feature overloading (§3.2, §3.4) ----------------------------------------------------


def class_overloading(
    classes: Sequence[int], minority: Sequence[int], k: int, k_majority: int = 0
) -> dict[int, int]:
    """Class-wise overloading k_j: ``k`` for minority classes, ``k_majority`` (§3.5: 0) else."""
    if k < 0 or k_majority < 0:
        raise ValueError(f"k and k_majority must be >= 0, got {k}, {k_majority}")
    mnr = {int(c) for c in minority}
    return {int(c): (int(k) if int(c) in mnr else int(k_majority)) for c in classes}


def oversampling_rates(
    counts: Mapping[int, int], minority: Sequence[int], r: Any = "auto"
) -> dict[int, int]:
    """Class-wise over-sampling sizes r_j (Alg. 1 input); majority classes get 1.

    ``"auto"``: ``ceil(1/R)`` for the minority, R the mean minority size over the mean majority
    size (eq. 11), the lower end of §3.5's range [1/R, k/R]; an int: that r for the minority; a
    mapping: given per class (missing classes 1).
    """
    mnr = [int(c) for c in minority if int(c) in counts]
    rates = {int(c): 1 for c in counts}
    if isinstance(r, Mapping):
        rates.update({int(c): int(v) for c, v in r.items()})
    elif r == "auto":
        mjr = [int(c) for c in counts if int(c) not in mnr]
        if mnr and mjr:
            big = np.mean([counts[c] for c in mjr])
            small = np.mean([counts[c] for c in mnr])
            ratio = small / big  # eq. 11
            for c in mnr:
                rates[c] = max(1, math.ceil(1.0 / ratio - 1e-9))
    elif isinstance(r, (int, np.integer)) and not isinstance(r, bool):
        for c in mnr:
            rates[c] = int(r)
    else:
        raise ValueError(f"r must be 'auto', a positive int or a class->int mapping, got {r!r}")
    if min(rates.values()) < 1:
        raise ValueError(f"over-sampling sizes must be >= 1, got {rates}")
    return rates


def in_class_neighbors(z: np.ndarray, y: np.ndarray, ks: Mapping[int, int]) -> np.ndarray:
    """Eq. 1: per sample, itself then its k_{y_i} nearest in-class neighbours (global indices).

    Returns an int64 array (N, K+1), K = max k_j, padded with -1 where a class has a smaller k
    (or fewer than k+1 members). Column 0 is always the sample itself (``f(x_i) ∈ N(x_i)``);
    the search is exact Euclidean kNN (:class:`FaissNearestNeighbors`), one class at a time.
    """
    z = np.asarray(z, dtype=np.float32)
    y = np.asarray(y)
    width = max([int(v) for v in ks.values()] + [0]) + 1
    out = np.full((len(y), width), -1, dtype=np.int64)
    out[:, 0] = np.arange(len(y))
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        k = min(int(ks.get(int(c), 0)), len(rows) - 1)
        if k <= 0:
            continue
        nn_ = FaissNearestNeighbors(n_neighbors=k).fit(z[rows])
        # X=None: each point's k nearest *other* in-class points (Alg. 1 l.12, 16)
        ind = nn_.kneighbors(None, n_neighbors=k, return_distance=False)
        out[rows, 1 : k + 1] = rows[ind]
    return out


def sample_simplex(
    rng: np.random.Generator, n: int, dims: np.ndarray | int, width: int | None = None
) -> np.ndarray:
    """n weight vectors uniform on the simplex (flat Dirichlet), Alg. 1 l.17.

    ``dims`` (an int or one per row) is the number of active entries; the rest are 0, so rows
    of shape (n, width) (default: max dims) always sum to one.
    """
    dims = np.broadcast_to(np.asarray(dims, dtype=np.int64), (n,))
    width = int(width) if width is not None else (int(dims.max()) if n else 1)
    e = rng.exponential(size=(n, width))  # normalised exponentials = Dirichlet(1, ..., 1)
    e[np.arange(width)[None, :] >= dims[:, None]] = 0.0
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class OverloadedSet:
    """The weighted training set Z' of eq. 7: one row per quadruplet (x_i, y_i, N(x_i), w).

    ``source[m]`` indexes the training image, ``neighbors[m]`` its N(x_i) (column 0 itself,
    -1 padding) and ``weights[m]`` the vector w on the simplex (0 on padding). ``targets`` holds
    the round's embeddings v = f(x) of all training images, constant within the round.
    """

    source: np.ndarray  # (M,) int64
    labels: np.ndarray  # (M,) int64
    neighbors: np.ndarray  # (M, K+1) int64
    weights: np.ndarray  # (M, K+1) float32
    targets: np.ndarray  # (N, d) float32

    def __len__(self) -> int:
        """Number of quadruplets, sum_j n_j r_j."""
        return len(self.source)


def build_overloaded_set(
    z: np.ndarray,
    y: np.ndarray,
    ks: Mapping[int, int],
    rates: Mapping[int, int],
    rng: np.random.Generator,
) -> OverloadedSet:
    """Alg. 1 l.10-21: neighbours per class (eq. 1), r_j weight vectors per sample (eqs. 6-7)."""
    y = np.asarray(y, dtype=np.int64)
    nbrs = in_class_neighbors(z, y, ks)
    reps = np.array([int(rates.get(int(c), 1)) for c in y], dtype=np.int64)
    source = np.repeat(np.arange(len(y)), reps)
    neighbors = nbrs[source]
    weights = sample_simplex(
        rng, len(source), (neighbors >= 0).sum(axis=1), width=neighbors.shape[1]
    )
    return OverloadedSet(
        source=source,
        labels=y[source],
        neighbors=neighbors,
        weights=weights,
        targets=np.asarray(z, dtype=np.float32),
    )


# -- micro-cluster losses (§3.3-3.4) ----------------------------------------------------------


def micro_cluster_losses(
    fx: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    mask: torch.Tensor,
    y: torch.Tensor,
    classify: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-quadruplet losses (ℓ'_f, ℓ'_g) of eqs. 8 and 9-10.

    ``fx`` (B, d) is the live embedding f(x); ``targets`` (B, K+1, d) the fixed N(x) (column 0:
    f(x_i) at the start of the round); ``weights`` (B, K+1) on the simplex; ``mask`` marks real
    (non-padding) neighbours; ``classify`` is g (embedding -> logits).
    """
    sq = ((fx.unsqueeze(1) - targets) ** 2).sum(dim=-1)  # ||f(x) - v_i||^2, (B, K+1)
    w = weights * mask
    loss_f = (w * sq).sum(dim=1)  # eq. 8: sum_i w_i ||f(x) - v_i||^2
    # eq. 10: rho' = exp(-w_i ||f(x) - v_i||^2) / Z; the self element has distance 0 (weight 1
    # before normalisation, §3.3); used as a constant weight (no gradient through rho')
    logit_rho = -(w * sq).detach()
    logit_rho[:, 0] = 0.0
    logit_rho = logit_rho.masked_fill(~mask, float("-inf"))
    rho = torch.softmax(logit_rho, dim=1)
    # eq. 9: sum_i rho'_i H(g(v_i), y); the self term is the original loss on the live f(x)
    inputs = torch.cat([fx.unsqueeze(1), targets[:, 1:]], dim=1)
    b, m, d = inputs.shape
    logits = classify(inputs.reshape(b * m, d))
    ce = F.cross_entropy(logits, y.repeat_interleave(m), reduction="none").view(b, m)
    loss_g = (rho * ce.masked_fill(~mask, 0.0)).sum(dim=1)
    return loss_f, loss_g


def in_class_variance(z: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean in-class variance (mean squared distance to the class mean, averaged over classes).

    Also returns it relative to the total variance of ``z`` (``ratio``), which is blind to a
    global rescaling of the embedding, and the minority/majority split is left to the caller.
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y)
    per_class = {
        int(c): float(((z[y == c] - z[y == c].mean(axis=0)) ** 2).sum(axis=1).mean())
        for c in np.unique(y)
    }
    within = float(np.mean(list(per_class.values())))
    total = float(((z - z.mean(axis=0)) ** 2).sum(axis=1).mean())
    return {
        "within": within,
        "total": total,
        "ratio": within / total if total > 0 else float("nan"),
        **{f"within_c{c}": v for c, v in per_class.items()},
    }
