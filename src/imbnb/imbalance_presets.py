"""The papers' imbalance presets: per-class count lists and the long-tail profile.

:data:`COUNT_PRESETS` (GAMO, the DeepSMOTE thesis) and :data:`LONGTAIL_PRESETS` /
:func:`longtail_counts` (CIFAR-10-LT of Cao et al. 2019 and its Fashion-MNIST twin), used by
:func:`imbnb.imbalance.make_imbalanced`; :mod:`imbnb.imbalance` re-exports them.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["COUNT_PRESETS", "LONGTAIL_PRESETS", "check_ratio", "longtail_counts"]

_MNIST_COUNTS = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]  # GAMO, MNIST/Fashion-MNIST
_GAMO_CIFAR10_COUNTS = [4500, 2000, 1000, 800, 600, 500, 400, 250, 150, 80]  # GAMO, CIFAR-10/SVHN
_DEEPSMOTE_CIFAR10_COUNTS = [5000, 2500, 1000, 1000, 600, 400, 300, 150, 90, 50]  # DeepSMOTE thesis

#: Per-class training counts used by the papers; class ``i`` gets ``counts[i]``.
COUNT_PRESETS: dict[str, list[int]] = {
    "mnist": list(_MNIST_COUNTS),
    "fashion_mnist": list(_MNIST_COUNTS),
    "gamo_cifar10": list(_GAMO_CIFAR10_COUNTS),
    "svhn": list(_GAMO_CIFAR10_COUNTS),
    "deepsmote_cifar10": list(_DEEPSMOTE_CIFAR10_COUNTS),
}


#: ``n_max`` of the long-tail presets: CIFAR-10-LT (5000 per class, Cao et al. 2019 and the
#: logit-adjustment papers) and its Fashion-MNIST equivalent (6000 per class).
LONGTAIL_PRESETS: dict[str, int] = {"cifar10_lt": 5000, "fashion_mnist_lt": 6000}


def longtail_counts(n_max: int | str, ratio: float, n_classes: int = 10) -> list[int]:
    """Long-tail counts ``n_i = floor(n_max · ratio^(-i / (C - 1)))``, i = 0..C-1.

    ``n_max`` may be a key of :data:`LONGTAIL_PRESETS`. For positive numbers ``floor`` equals
    the ``int()`` truncation of the CIFAR-10-LT reference protocol; float noise is ignored
    (``5000 · 100^-1`` gives 50). CIFAR-10-LT at ratio 100:
    ``[5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]``.
    """
    if isinstance(n_max, str):
        if n_max not in LONGTAIL_PRESETS:
            raise ValueError(
                f"`preset` must be one of {list(LONGTAIL_PRESETS)} for 'longtail'; got {n_max!r}."
            )
        n_max = LONGTAIL_PRESETS[n_max]
    ratio = check_ratio(ratio)
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"`n_classes` must be an integer >= 2; got {n_classes!r}.")
    if int(n_max) != n_max or n_max < 1:
        raise ValueError(f"`n_max` must be a positive integer; got {n_max!r}.")
    C = int(n_classes)
    counts = [_floor(int(n_max) * ratio ** (-i / (C - 1))) for i in range(C)]
    if counts[-1] < 1:  # floor(n_max / ratio) = 0 would empty the rarest class
        raise ValueError(
            f"`ratio` = {ratio:g} would empty the rarest class: it keeps floor({int(n_max)} / "
            f"{ratio:g}) = 0 images. The largest ratio these data allow is {int(n_max)}, "
            "the size of the tail's largest class."
        )
    return counts


def _floor(x: float) -> int:
    """Floor that ignores float noise (5000 * 100**-1 must give 50, not 49)."""
    return math.floor(round(x, 9))


def check_ratio(ratio: float) -> float:
    """An imbalance ratio must be a finite number >= 1 (1 means no imbalance)."""
    try:
        r = float(ratio)
    except (TypeError, ValueError):
        raise ValueError(f"`ratio` must be a number >= 1; got {ratio!r}.") from None
    if not np.isfinite(r) or r < 1:
        raise ValueError(f"`ratio` must be a finite number >= 1 (1 = no imbalance); got {ratio!r}.")
    return r
