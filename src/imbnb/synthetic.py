"""A learnable image set drawn in code, for tests and quick profiles (dataset ``synthetic``).

Class patterns (an oriented grating plus a blob at a class angle) with random shifts,
contrast, a distractor blob and noise; :mod:`imbnb.data` re-exports :func:`make_synthetic`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imbnb.image_dataset import SPLITS, ImageDataset, check_choice

__all__ = ["make_synthetic"]


def _prototypes(n_classes: int, size: int, channels: int) -> np.ndarray:
    """One fixed pattern per class: an oriented grating plus a blob at a class angle."""
    coords = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    protos = np.empty((n_classes, channels, size, size), dtype=np.float64)
    for c in range(n_classes):
        theta = np.pi * c / n_classes  # grating orientation differs by class
        phi = 2 * np.pi * c / n_classes  # blob position on a circle differs by class
        grating = 0.5 + 0.5 * np.cos(2 * np.pi * 2.0 * (xx * np.cos(theta) + yy * np.sin(theta)))
        cy, cx = 0.5 + 0.28 * np.sin(phi), 0.5 + 0.28 * np.cos(phi)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.12**2))
        pattern = 0.45 * grating + 0.8 * blob
        pattern = (pattern - pattern.min()) / (pattern.max() - pattern.min())
        for k in range(channels):  # class-specific colour when there are several channels
            weight = (
                1.0
                if channels == 1
                else 0.55 + 0.45 * np.cos(2 * np.pi * (c / n_classes + k / channels))
            )
            protos[c, k] = weight * pattern
    return protos


def _class_counts(
    n_per_class: int | Sequence[int], n_classes: int, size: int, channels: int
) -> list[int]:
    """Check the shape arguments; images per class as a list (one entry per class)."""
    if n_classes < 2:
        raise ValueError(f"`n_classes` must be at least 2; got {n_classes}.")
    if size < 4:
        raise ValueError(f"`size` must be at least 4; got {size}.")
    if channels < 1:
        raise ValueError(f"`channels` must be at least 1; got {channels}.")
    if isinstance(n_per_class, int | np.integer):
        counts = [int(n_per_class)] * n_classes
    else:
        counts = [int(n) for n in n_per_class]
        if len(counts) != n_classes:
            raise ValueError(
                f"`n_per_class` must have one entry per class ({n_classes}); got {len(counts)}."
            )
    if any(n < 0 for n in counts):
        raise ValueError(f"`n_per_class` must be non-negative; got {counts}.")
    return counts


def _shifted(protos: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image's class pattern, rolled by a random shift of up to ``size // 7`` pixels."""
    n, channels, size = len(labels), protos.shape[1], protos.shape[-1]
    max_shift = max(1, size // 7)
    dy = rng.integers(-max_shift, max_shift + 1, size=n)
    dx = rng.integers(-max_shift, max_shift + 1, size=n)
    grid = np.arange(size)
    rows = (grid[None, :] - dy[:, None]) % size  # (n, size): rolled row index per image
    cols = (grid[None, :] - dx[:, None]) % size
    return protos[
        labels[:, None, None, None],
        np.arange(channels)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def _distractors(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A class-independent blob at a random place per image, so that classes overlap a little."""
    coords = (np.arange(size) + 0.5) / size
    centre = rng.uniform(0.1, 0.9, size=(n, 2))
    return np.exp(
        -(
            (coords[None, :, None] - centre[:, 0, None, None]) ** 2
            + (coords[None, None, :] - centre[:, 1, None, None]) ** 2
        )
        / (2 * 0.12**2)
    ) * rng.uniform(0.3, 0.9, size=(n, 1, 1))


def make_synthetic(
    n_per_class: int | Sequence[int] = 100,
    n_classes: int = 4,
    size: int = 28,
    channels: int = 1,
    seed: int = 0,
    split: str = "train",
) -> ImageDataset:
    """A learnable image set drawn in code: class patterns, random shifts, contrast and noise.

    The class patterns are fixed (they depend only on ``n_classes``, ``size``, ``channels``), so
    train and test splits share them; the per-image randomness depends on ``seed`` and
    ``split``. ``n_per_class`` may be a list to draw an imbalanced set directly.
    """
    check_choice("split", split, SPLITS)
    counts = _class_counts(n_per_class, n_classes, size, channels)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), counts)
    labels = labels[rng.permutation(len(labels))]
    n = len(labels)
    images = _shifted(_prototypes(n_classes, size, channels), labels, rng)
    contrast = rng.uniform(0.5, 1.0, size=(n, 1, 1, 1))
    distractor = _distractors(n, size, rng)
    images = images * contrast + distractor[:, None] + rng.normal(0.0, 0.3, size=images.shape)
    images = np.rint(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    classes = [f"class {c}" for c in range(n_classes)]
    return ImageDataset(images, labels, classes, "synthetic", split)
