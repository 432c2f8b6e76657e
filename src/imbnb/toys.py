"""Two-dimensional toy data sets drawn in code for the chapters' illustrations.

Chapter 5 uses :func:`crescent_toy` (GAMO's Figure 1); chapter 7 uses :func:`calibration_toy`
to walk through weighted calibration balancing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["calibration_toy", "crescent_toy"]


def calibration_toy(
    seed: int = 0, n_majority: int = 400, n_median: int = 150, n_minority: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    """Three classes in 2-D: a two-lobed majority (0), a median class (1), a small minority (2).

    With the defaults ``10 * n_minority < n_majority < 10 * n_median``, so the thesis's
    partition (§4.5.1) makes class 2 minority and class 1 median.
    """
    if min(n_majority, n_median, n_minority) < 2:
        raise ValueError("every class needs at least 2 points")
    rng = np.random.default_rng(seed)
    half = n_majority // 2
    major = np.concatenate(
        [
            rng.normal([-2.0, 1.5], [0.8, 0.5], (half, 2)),
            rng.normal([-1.0, -1.5], [0.5, 0.9], (n_majority - half, 2)),
        ]
    )
    median = rng.normal([2.5, 1.0], [0.7, 0.6], (n_median, 2))
    minor = rng.normal([0.8, -0.2], [0.35, 0.3], (n_minority, 2))
    X = np.concatenate([major, median, minor])
    y = np.repeat([0, 1, 2], [n_majority, n_median, n_minority])
    return X, y


def crescent_toy(
    seed: int = 0, n_majority: int = 400, n_minority: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """GAMO's Figure 1 in two dimensions: a two-blob majority (0) and a curved minority (1).

    The minority lies on an arc whose convex hull reaches into the majority, which is what
    makes a convex generator "bleed" and a discriminator useful (chapter 5).
    """
    if n_majority < 2 or n_minority < 2:
        raise ValueError("every class needs at least 2 points")
    rng = np.random.default_rng(seed)
    half = n_majority // 2
    major = np.concatenate(
        [rng.normal([0, 0.9], 0.6, (half, 2)), rng.normal([0, -1.4], 0.6, (n_majority - half, 2))]
    )
    angle = rng.uniform(0.1 * np.pi, 0.9 * np.pi, n_minority)
    radius = rng.normal(2.0, 0.25, n_minority)
    minor = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    X = np.concatenate([major, minor]).astype(np.float32)
    y = np.r_[np.zeros(len(major)), np.ones(n_minority)].astype(np.int64)
    return X, y
