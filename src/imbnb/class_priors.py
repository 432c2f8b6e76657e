"""Class statistics for the loss-based baselines: counts -> priors, weights, margins.

Numpy, float64; :mod:`imbnb.losses` re-exports the public functions. References as in
:mod:`imbnb.losses`: the ADOS thesis (Algorithm 2), Cui et al. 2019, Cao et al. 2019,
Menon et al. 2021.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from imbnb.imbalance import class_weights_from_counts

__all__ = [
    "effective_number_weights",
    "inverse_prior_weights",
    "ldam_margins",
    "posthoc_logit_adjust",
]

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


# ----------------------------------------------------------------------------------------------
# Class statistics: counts -> priors, weights, margins (numpy, float64)
# ----------------------------------------------------------------------------------------------


def _counts(
    counts: Sequence[float] | np.ndarray | torch.Tensor, name: str = "counts"
) -> np.ndarray:
    """Validate per-class counts: 1-D, finite, non-negative, at least one positive; as float64."""
    if isinstance(counts, torch.Tensor):
        counts = counts.detach().cpu().numpy()
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence (one per class), got {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any() or not (c > 0).any():
        raise ValueError(f"{name} must be finite, non-negative and not all zero, got {c}")
    return c


def _priors(counts: Any = None, priors: Any = None) -> np.ndarray:
    """Class priors pi_j from counts or priors (normalised to sum 1); every prior must be > 0."""
    if (counts is None) == (priors is None):
        raise ValueError("give exactly one of counts and priors")
    p = _counts(counts if priors is None else priors, "counts" if priors is None else "priors")
    if (p <= 0).any():
        raise ValueError(
            f"every class needs a positive count/prior for log pi_j, got {p}; "
            "drop empty classes or smooth the counts"
        )
    return p / p.sum()


def inverse_prior_weights(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Class weights 1/pi_j normalised to sum 1 (ADOS thesis Algorithm 2); empty classes get 0."""
    c = _counts(counts)
    w = np.zeros_like(c)
    pos = np.flatnonzero(c > 0)
    w[pos] = list(class_weights_from_counts({int(j): c[j] for j in pos}).values())
    return w


def effective_number_weights(
    counts: Sequence[float] | np.ndarray, beta: float = 0.9999
) -> np.ndarray:
    """Class-balanced weights (1 - beta) / (1 - beta^n_j), normalised to sum to C (Cui et al. 2019).

    ``(1 - beta^n) / (1 - beta)`` is Cui et al.'s *effective number of samples* of a class with
    ``n`` samples; its inverse is the weight. ``beta = 0`` gives equal weights and ``beta -> 1``
    tends to inverse class frequency. As in Cui et al.'s experiments the weights are rescaled to
    sum to the number of classes C. Empty classes get weight 0.
    """
    c = _counts(counts)
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    w = np.zeros_like(c)
    pos = c > 0
    # -expm1(n log beta) = 1 - beta^n without cancellation for beta close to 1
    eff = -np.expm1(c[pos] * math.log(beta)) if beta > 0 else np.ones(int(pos.sum()))
    w[pos] = (1.0 - beta) / eff
    return w * (len(c) / w.sum())


def ldam_margins(counts: Sequence[float] | np.ndarray, max_m: float = 0.5) -> np.ndarray:
    """LDAM margins Delta_j = C / n_j^(1/4) with C chosen so the largest is ``max_m`` (Cao et al.).

    That is ``Delta_j = max_m * (n_min / n_j)^(1/4)``; an empty class gets ``max_m``.
    """
    c = _counts(counts)
    if not (math.isfinite(max_m) and max_m >= 0):
        raise ValueError(f"max_m must be finite and >= 0, got {max_m}")
    m = np.full_like(c, float(max_m))
    pos = c > 0
    m[pos] = max_m * (c[pos].min() / c[pos]) ** 0.25
    return m


def posthoc_logit_adjust(logits: ArrayOrTensor, priors: Any, tau: float = 1.0) -> ArrayOrTensor:
    """Post-hoc logit adjustment ``logits - tau * log pi`` (Menon et al. 2021); predict by argmax.

    Works on numpy arrays and torch tensors (returns the same kind). ``priors`` may be class
    counts: they are normalised to sum 1 first (which shifts every logit by the same constant and
    so never changes the argmax). Every prior must be positive.
    """
    log_pi = np.log(_priors(priors=priors))
    if isinstance(logits, torch.Tensor):
        return logits - float(tau) * torch.as_tensor(
            log_pi, dtype=logits.dtype, device=logits.device
        )
    arr = np.asarray(logits)
    out_dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
    return (arr - float(tau) * log_pi).astype(out_dtype, copy=False)
