"""Loss-based baselines for imbalanced classification (feature-learning chapter, "change the loss").

Instead of adding samples in feature space, these baselines change the training objective. All
of them are ``nn.Module`` losses with one call signature,

    ``loss(logits, target, sample_weight=None) -> scalar``,

so :func:`imbnb.train.fit` (and any other loop) can swap them by name through :func:`make_loss`.

Conventions, stated once:

* Per-sample loss ``l_i`` is the formula named in each class docstring.
* Reduction: without class weights and ``sample_weight`` the batch loss is ``mean_i l_i``.
  Otherwise each sample gets ``w_i = class_weight[y_i] * sample_weight_i`` (a missing factor is
  1) and the batch loss is ``sum_i w_i l_i / sum_i w_i`` -- torch's ``weight=`` convention for
  ``F.cross_entropy``; a batch whose weights are all zero gives 0 (not NaN). The focal loss's
  per-class ``alpha``, the class-balanced weights of Cui et al. and LDAM's deferred weights are
  all *class weights* in this sense, so a constant class weight cancels out.
* Every loss has ``on_epoch_start(epoch)`` (epochs counted from 0); it does nothing except for
  LDAM with deferred re-weighting, which switches its class weights on there.
* Class counts ``n_j`` are those of the training set. A class with ``n_j = 0`` never occurs as a
  target: it gets class weight 0 and the largest LDAM margin; losses that need a prior
  ``log pi_j`` (logit adjustment, balanced softmax) reject zero counts, since ``log 0`` is
  undefined.

References: Lin et al. 2017 (focal loss; ADOS thesis §3.2.1, eq. 3.2), Cui et al. 2019
(class-balanced loss on the effective number of samples, their Proposition 1), Cao et al. 2019
(LDAM, eq. 10, and deferred re-weighting, §3.3 / Algorithm 1), Menon et al. 2021 (the two
procedures "post-hoc logit translation" and "softmax with logit translation"), Ren et al. 2020
(Balanced Softmax). Each docstring writes out the formula it implements; where we give no
equation number, we could not confirm one against the paper.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imbnb.class_priors import (
    _counts,
    _priors,
    effective_number_weights,
    inverse_prior_weights,
    ldam_margins,
    posthoc_logit_adjust,
)

__all__ = [
    "LOSSES",
    "BalancedSoftmaxLoss",
    "CosineClassifier",
    "CrossEntropy",
    "FocalLoss",
    "ImbalanceLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "effective_number_weights",
    "inverse_prior_weights",
    "ldam_margins",
    "make_loss",
    "posthoc_logit_adjust",
]

# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------


def _reduce(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """mean_i l_i, or sum_i w_i l_i / sum_i w_i; an all-zero weight vector gives 0 (keeps graph)."""
    if weights is None:
        return per_sample.mean()
    total = weights.sum()
    # no host sync: divide by 1 where the weights sum to 0 (the same numbers as a branch)
    denom = torch.where(total > 0, total, torch.ones_like(total))
    return (per_sample * weights).sum() / denom


class ImbalanceLoss(nn.Module):
    """Base class: per-sample loss + class/sample-weighted mean + an epoch hook.

    Subclasses implement :meth:`per_sample` and may set ``class_weight`` (a float tensor of
    length C, or None). ``forward(logits, target, sample_weight=None)`` reduces as described in
    the module docstring.
    """

    class_weight: torch.Tensor | None

    def __init__(self, class_weight: Any = None, n_classes: int | None = None) -> None:
        super().__init__()
        cw = None if class_weight is None else _counts(class_weight, "class weights")
        self.register_buffer(
            "class_weight", None if cw is None else torch.as_tensor(cw, dtype=torch.float32)
        )
        #: number of classes the loss was built for (None: any); checked against the logits
        self.n_classes = len(cw) if cw is not None else n_classes

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The unreduced loss l_i, shape (N,)."""
        raise NotImplementedError

    def on_epoch_start(self, epoch: int) -> None:
        """Hook a training loop calls before each epoch (0-based); a no-op by default."""

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, sample_weight: Any = None
    ) -> torch.Tensor:
        """Weighted mean of :meth:`per_sample` (see the module docstring)."""
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
        if self.n_classes is not None and logits.shape[1] != self.n_classes:
            raise ValueError(
                f"{type(self).__name__} was built for {self.n_classes} classes, "
                f"logits have {logits.shape[1]}"
            )
        target = target.long()
        per = self.per_sample(logits, target)
        w = None
        if self.class_weight is not None:
            w = self.class_weight.to(device=logits.device, dtype=per.dtype)[target]
        if sample_weight is not None:
            sw = torch.as_tensor(sample_weight, device=logits.device, dtype=per.dtype).reshape(-1)
            if sw.shape != per.shape:
                raise ValueError(
                    f"sample_weight has {sw.numel()} entries for {per.numel()} samples"
                )
            w = sw if w is None else w * sw
        return _reduce(per, w)

    def extra_repr(self) -> str:
        """Short description for ``print(loss)``."""
        return "" if self.class_weight is None else f"class_weight={self.class_weight.tolist()}"


class CrossEntropy(ImbalanceLoss):
    """Softmax cross-entropy ``l_i = -log softmax(z_i)[y_i]``, optionally class-weighted.

    With ``weight`` this is exactly ``F.cross_entropy(z, y, weight=weight)``; with the ADOS
    thesis's Algorithm 2 weights it is the thesis's weighted loss, with Cui et al.'s
    :func:`effective_number_weights` it is their class-balanced softmax CE.
    """

    def __init__(self, weight: Any = None) -> None:
        super().__init__(weight)

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """-log p_{y_i}."""
        return F.cross_entropy(logits, target, reduction="none")


class FocalLoss(ImbalanceLoss):
    """Focal loss ``l_i = -(1 - p_t)^gamma log p_t`` (Lin et al. 2017; ADOS thesis §3.2.1, eq. 3.2).

    ``p_t`` is the softmax probability of the true class (the multi-class extension the thesis
    mentions). ``gamma = 0`` gives cross-entropy. ``alpha`` (one weight per class) is the
    equation's ``alpha_t``; it enters as a class weight, so the batch loss is
    ``sum_i alpha_{y_i} l_i / sum_i alpha_{y_i}`` (see the module docstring).
    """

    def __init__(self, gamma: float = 2.0, alpha: Any = None) -> None:
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
        super().__init__(alpha)
        self.gamma = float(gamma)

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """-(1 - p_t)^gamma log p_t, computed from log-softmax for stability."""
        log_pt = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        # clamp keeps d/dp (1-p)^gamma finite when p_t rounds to 1 and gamma < 1
        modulator = (1.0 - log_pt.exp()).clamp_min(1e-12).pow(self.gamma)
        return -modulator * log_pt

    def extra_repr(self) -> str:
        """Short description for ``print(loss)``."""
        base = super().extra_repr()
        return f"gamma={self.gamma}" + (f", {base}" if base else "")


class LDAMLoss(ImbalanceLoss):
    """LDAM loss with optional deferred re-weighting (Cao et al. 2019, eq. 10 and §3.3).

    ``l_i = CE(s * (z_i - Delta_{y_i} e_{y_i}), y_i)``: the true class's logit is lowered by its
    margin ``Delta_j = C / n_j^(1/4)`` (:func:`ldam_margins`, largest margin ``max_m``) and all
    logits are scaled by ``s``. The logits are meant to be cosine similarities in [-1, 1]
    (:class:`CosineClassifier`), as in Cao et al.'s experiments.

    Deferred re-weighting (DRW, Cao et al. Algorithm 1): with ``drw_epoch`` set, class weights
    are ``None`` for epochs ``< drw_epoch`` and :func:`effective_number_weights` ``(counts,
    beta)`` from epoch ``drw_epoch`` on (0-based; Cao et al. switch at 160 of 200 with
    ``beta = 0.9999``). Call :meth:`set_epoch` / :meth:`on_epoch_start` every epoch.
    """

    def __init__(
        self,
        counts: Sequence[float] | np.ndarray,
        max_m: float = 0.5,
        s: float = 30.0,
        drw_epoch: int | None = None,
        beta: float = 0.9999,
    ) -> None:
        super().__init__(None, n_classes=len(_counts(counts)))
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"s must be finite and > 0, got {s}")
        if drw_epoch is not None and (int(drw_epoch) != drw_epoch or drw_epoch < 0):
            raise ValueError(f"drw_epoch must be a non-negative integer or None, got {drw_epoch}")
        self.register_buffer(
            "margins", torch.as_tensor(ldam_margins(counts, max_m), dtype=torch.float32)
        )
        self.max_m = float(max_m)
        self.s = float(s)
        self.drw_epoch = None if drw_epoch is None else int(drw_epoch)
        self.beta = float(beta)
        self._drw_weight = torch.as_tensor(
            effective_number_weights(counts, beta), dtype=torch.float32
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Switch DRW's class-balanced weights on iff ``drw_epoch`` is set and reached."""
        self.epoch = int(epoch)
        on = self.drw_epoch is not None and self.epoch >= self.drw_epoch
        cw = self._drw_weight.to(self.margins.device) if on else None
        self.class_weight = cw  # registered buffer: assignment keeps it a buffer

    def on_epoch_start(self, epoch: int) -> None:
        """Same as :meth:`set_epoch`."""
        self.set_epoch(epoch)

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """CE of s * (logits with the true class's margin subtracted)."""
        margin = self.margins.to(device=logits.device, dtype=logits.dtype)[target]
        onehot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        return F.cross_entropy(
            self.s * (logits - margin[:, None] * onehot), target, reduction="none"
        )

    def extra_repr(self) -> str:
        """Short description for ``print(loss)``."""
        return f"max_m={self.max_m}, s={self.s}, drw_epoch={self.drw_epoch}, beta={self.beta}"


class CosineClassifier(nn.Module):
    """Cosine head ``z_j = <x/|x|, w_j/|w_j|>`` with no bias: logits in [-1, 1] (LDAM's head).

    Cao et al. train LDAM with such a normalised linear layer; :class:`LDAMLoss` then scales the
    (margin-shifted) cosines by ``s``. Plain ``argmax`` of these logits predicts as usual.
    """

    def __init__(self, in_features: int, n_classes: int) -> None:
        super().__init__()
        if in_features < 1 or n_classes < 1:
            raise ValueError(f"need in_features, n_classes >= 1, got {in_features}, {n_classes}")
        self.in_features = int(in_features)
        self.out_features = self.n_classes = int(n_classes)
        self.weight = nn.Parameter(torch.empty(self.n_classes, self.in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's default init

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of each row of x with each class weight vector, shape (N, C)."""
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T

    def extra_repr(self) -> str:
        """Short description for ``print(head)``."""
        return f"in_features={self.in_features}, n_classes={self.n_classes}"


class LogitAdjustedLoss(ImbalanceLoss):
    """Logit-adjusted softmax CE ``l_i = CE(z_i + tau log pi, y_i)`` (Menon et al. 2021).

    ``pi`` are the training priors (from ``counts`` or ``priors``). Training with this loss makes
    plain ``argmax z`` approximate the balanced-error Bayes rule; the post-hoc alternative is
    :func:`posthoc_logit_adjust` on a model trained with plain CE.
    """

    def __init__(self, counts: Any = None, *, priors: Any = None, tau: float = 1.0) -> None:
        log_pi = np.log(_priors(counts, priors))
        super().__init__(None, n_classes=len(log_pi))
        if not math.isfinite(tau):
            raise ValueError(f"tau must be finite, got {tau}")
        self.tau = float(tau)
        self.register_buffer("offset", torch.as_tensor(self.tau * log_pi, dtype=torch.float32))

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """CE of logits + tau log pi."""
        offset = self.offset.to(device=logits.device, dtype=logits.dtype)
        return F.cross_entropy(logits + offset, target, reduction="none")

    def extra_repr(self) -> str:
        """Short description for ``print(loss)``."""
        return f"tau={self.tau}"


class BalancedSoftmaxLoss(ImbalanceLoss):
    """Balanced softmax ``l_i = CE(z_i + log n, y_i)`` (Ren et al. 2020, Balanced Meta-Softmax).

    The softmax is taken over ``n_j exp(z_j)``; equal to :class:`LogitAdjustedLoss` with
    ``tau = 1`` (``log n_j`` and ``log pi_j`` differ by a constant). Every count must be > 0.
    """

    def __init__(self, counts: Sequence[float] | np.ndarray) -> None:
        c = _counts(counts)
        super().__init__(None, n_classes=len(c))
        if (c <= 0).any():
            raise ValueError(f"balanced softmax needs every class count > 0 (log n_j), got {c}")
        self.register_buffer("offset", torch.as_tensor(np.log(c), dtype=torch.float32))

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """CE of logits + log n."""
        offset = self.offset.to(device=logits.device, dtype=logits.dtype)
        return F.cross_entropy(logits + offset, target, reduction="none")


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------


def _need(counts: Any, name: str) -> Any:
    """The class counts, or a ValueError saying that loss ``name`` needs them."""
    if counts is None:
        raise ValueError(f"loss {name!r} needs class_counts (training-set count per class)")
    return counts


def _ce(class_counts: Any = None, weight: Any = None) -> ImbalanceLoss:
    """Plain CE (``weight`` optional)."""
    return CrossEntropy(weight)


def _weighted_ce(class_counts: Any = None) -> ImbalanceLoss:
    """CE with the ADOS thesis's Algorithm 2 class weights (normalised inverse priors)."""
    return CrossEntropy(inverse_prior_weights(_need(class_counts, "weighted_ce")))


def _focal(class_counts: Any = None, gamma: float = 2.0, alpha: Any = None) -> ImbalanceLoss:
    """Focal loss (Lin et al. 2017)."""
    return FocalLoss(gamma, alpha)


def _cb(class_counts: Any = None, beta: float = 0.9999) -> ImbalanceLoss:
    """Class-balanced CE (Cui et al. 2019)."""
    return CrossEntropy(effective_number_weights(_need(class_counts, "cb"), beta))


def _cb_focal(class_counts: Any = None, beta: float = 0.9999, gamma: float = 2.0) -> ImbalanceLoss:
    """Class-balanced focal loss (Cui et al. 2019): focal with alpha = CB weights."""
    return FocalLoss(gamma, effective_number_weights(_need(class_counts, "cb_focal"), beta))


def _ldam(class_counts: Any = None, max_m: float = 0.5, s: float = 30.0) -> ImbalanceLoss:
    """LDAM without re-weighting (Cao et al. 2019)."""
    return LDAMLoss(_need(class_counts, "ldam"), max_m=max_m, s=s)


def _ldam_drw(
    class_counts: Any = None,
    drw_epoch: int | None = None,
    max_m: float = 0.5,
    s: float = 30.0,
    beta: float = 0.9999,
) -> ImbalanceLoss:
    """LDAM-DRW (Cao et al. 2019); ``drw_epoch`` is required (they use 160 of 200 epochs)."""
    if drw_epoch is None:
        raise ValueError(
            "loss 'ldam_drw' needs drw_epoch "
            "(Cao et al. switch at epoch 160 of 200, i.e. 0.8·epochs)"
        )
    return LDAMLoss(
        _need(class_counts, "ldam_drw"), max_m=max_m, s=s, drw_epoch=drw_epoch, beta=beta
    )


def _logit_adjusted(
    class_counts: Any = None, tau: float = 1.0, priors: Any = None
) -> ImbalanceLoss:
    """Logit-adjusted CE (Menon et al. 2021); priors default to the class frequencies."""
    if priors is not None:
        return LogitAdjustedLoss(priors=priors, tau=tau)
    return LogitAdjustedLoss(_need(class_counts, "logit_adjusted"), tau=tau)


def _balanced_softmax(class_counts: Any = None) -> ImbalanceLoss:
    """Balanced softmax (Ren et al. 2020)."""
    return BalancedSoftmaxLoss(_need(class_counts, "balanced_softmax"))


#: Loss factories by name: ``LOSSES[name](class_counts=..., **params) -> ImbalanceLoss``.
LOSSES: dict[str, Callable[..., ImbalanceLoss]] = {
    "ce": _ce,
    "weighted_ce": _weighted_ce,
    "focal": _focal,
    "cb": _cb,
    "cb_focal": _cb_focal,
    "ldam": _ldam,
    "ldam_drw": _ldam_drw,
    "logit_adjusted": _logit_adjusted,
    "balanced_softmax": _balanced_softmax,
}


def loss_params(name: str) -> tuple[str, ...]:
    """The keyword parameters loss ``name`` accepts besides ``class_counts``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; allowed: {list(LOSSES)}")
    return tuple(p for p in inspect.signature(LOSSES[name]).parameters if p != "class_counts")


def make_loss(name: str, *, class_counts: Any = None, **params: Any) -> ImbalanceLoss:
    """Build loss ``name`` from the training set's ``class_counts`` and its ``params``.

    Names: ``"ce"`` (``weight``), ``"weighted_ce"`` (Algorithm 2 weights), ``"focal"``
    (``gamma``, ``alpha``), ``"cb"`` (``beta``), ``"cb_focal"`` (``beta``, ``gamma``), ``"ldam"``
    (``max_m``, ``s``), ``"ldam_drw"`` (``drw_epoch`` required, ``max_m``, ``s``, ``beta``),
    ``"logit_adjusted"`` (``tau``, ``priors``), ``"balanced_softmax"``.
    """
    allowed = loss_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"loss {name!r} got unknown parameter(s) {unknown}; allowed: {list(allowed)}"
        )
    return LOSSES[name](class_counts=class_counts, **params)
