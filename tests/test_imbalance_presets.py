"""Long-tail presets of imbnb.imbalance: CIFAR-10-LT and its Fashion-MNIST equivalent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imbnb.imbalance import LONGTAIL_PRESETS, longtail_counts, make_imbalanced


def balanced(n_per_class: int, n_classes: int = 10, seed: int = 0) -> np.ndarray:
    """Shuffled balanced labels."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(n_classes), n_per_class))


# n_i = int(n_max * ratio^(-i/9)), written out
CIFAR10_LT = {
    100: [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
    10: [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500],
}
FASHION_MNIST_LT = {
    100: [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60],
    10: [6000, 4645, 3596, 2784, 2156, 1669, 1292, 1000, 774, 600],
}


def test_preset_values():
    assert LONGTAIL_PRESETS == {"cifar10_lt": 5000, "fashion_mnist_lt": 6000}
    for ratio in (10, 100):
        assert longtail_counts("cifar10_lt", ratio) == CIFAR10_LT[ratio]
        assert longtail_counts("fashion_mnist_lt", ratio) == FASHION_MNIST_LT[ratio]
        assert longtail_counts(5000, ratio) == CIFAR10_LT[ratio]
        # the reference formula with int() truncation gives the same numbers
        assert [int(5000 * ratio ** (-i / 9)) for i in range(10)] == CIFAR10_LT[ratio]
        assert [int(6000 * (1 / ratio) ** (i / 9)) for i in range(10)] == FASHION_MNIST_LT[ratio]
    assert sum(CIFAR10_LT[100]) == 12406 and sum(CIFAR10_LT[10]) == 20431  # CIFAR-10-LT sizes
    assert longtail_counts(6000, 1) == [6000] * 10


@pytest.mark.parametrize("ratio", [10, 100])
def test_make_imbalanced_with_longtail_preset(ratio):
    y = balanced(6000)  # Fashion-MNIST's training set: 6000 per class
    split = make_imbalanced(y, "longtail", preset="fashion_mnist_lt", ratio=ratio, seed=1)
    kept = np.bincount(y[split.indices], minlength=10).tolist()
    assert kept == FASHION_MNIST_LT[ratio]
    assert [split.counts[c] for c in range(10)] == FASHION_MNIST_LT[ratio]
    assert split.params["preset"] == "fashion_mnist_lt" and split.params["ratio"] == ratio
    assert split.majority_classes == [0] and split.minority_classes == list(range(1, 10))
    json.dumps(split.to_dict())
    # without the preset, n_max is the smallest class size: the same here for CIFAR-10 sizes
    y5 = balanced(5000, seed=2)
    a = make_imbalanced(y5, "longtail", preset="cifar10_lt", ratio=ratio, seed=0)
    b = make_imbalanced(y5, "longtail", ratio=ratio, seed=0)
    assert np.array_equal(a.indices, b.indices)
    assert [a.counts[c] for c in range(10)] == CIFAR10_LT[ratio]


def test_class_order_and_errors():
    y = balanced(6000)
    order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    split = make_imbalanced(y, "longtail", preset="fashion_mnist_lt", ratio=100, class_order=order)
    assert [split.counts[c] for c in order] == FASHION_MNIST_LT[100]
    with pytest.raises(ValueError, match="asks for 6000 samples"):
        make_imbalanced(balanced(5000), "longtail", preset="fashion_mnist_lt", ratio=10)
    with pytest.raises(ValueError, match="must be one of"):
        make_imbalanced(y, "longtail", preset="imagenet_lt", ratio=10)
    with pytest.raises(ValueError, match="ratio"):
        longtail_counts("cifar10_lt", 0.5)
    with pytest.raises(ValueError, match="n_classes"):
        longtail_counts(100, 10, n_classes=1)
