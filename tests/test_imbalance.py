"""Tests for imbnb.imbalance: counts per class for every protocol, determinism, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from imbnb.imbalance import (
    COUNT_PRESETS,
    ImbalancedSplit,
    class_weights,
    make_imbalanced,
    select_test,
    split_minority_majority,
)


def balanced(n_per_class: int, n_classes: int = 10, seed: int = 0) -> np.ndarray:
    """Shuffled balanced labels."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.repeat(np.arange(n_classes), n_per_class))


def kept_counts(labels: np.ndarray, split: ImbalancedSplit) -> list[int]:
    """Per-class counts of the labels at the kept indices."""
    return np.bincount(labels[split.indices], minlength=labels.max() + 1).tolist()


def check_indices(labels: np.ndarray, split: ImbalancedSplit) -> None:
    """Indices are sorted, unique, in range, and agree with ``split.counts``."""
    idx = split.indices
    assert idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0)
    assert idx.min() >= 0 and idx.max() < len(labels)
    assert kept_counts(labels, split) == [split.counts[c] for c in sorted(split.counts)]
    json.dumps(split.to_dict())  # JSON-able


# --------------------------------------------------------------------------- minority


@pytest.mark.parametrize("ratio", [10, 20, 40, 100])
def test_minority_ratio_counts(ratio):
    y = balanced(600)
    split = make_imbalanced(y, "minority", ratio=ratio, seed=0)
    check_indices(y, split)
    assert len(split.minority_classes) == 4
    target = math.ceil(600 / ratio)
    for c in range(10):
        expected = target if c in split.minority_classes else 600
        assert split.counts[c] == expected
    assert split.majority_classes == sorted(set(range(10)) - set(split.minority_classes))
    assert split.imbalance_ratio == pytest.approx(600 / target)
    assert split.protocol == "minority" and split.params["ratio"] == ratio


def test_minority_given_classes_and_uneven_labels():
    y = np.concatenate([np.full(100, 0), np.full(50, 1), np.full(80, 2), np.full(30, 3)])
    split = make_imbalanced(y, "minority", ratio=8, minority_classes=[2, 3], seed=1)
    check_indices(y, split)
    # n_max = 100 over all classes; ceil(100 / 8) = 13
    assert split.counts == {0: 100, 1: 50, 2: 13, 3: 13}
    assert split.minority_classes == [2, 3] and split.majority_classes == [0, 1]
    # a class already below the target keeps what it has
    small = make_imbalanced(y, "minority", ratio=2, minority_classes=[3])
    assert small.counts[3] == 30


def test_minority_ratio_one_keeps_everything():
    y = balanced(50)
    split = make_imbalanced(y, "minority", ratio=1, seed=0)
    assert len(split) == len(y)
    assert len(split.minority_classes) == 4  # still recorded (the "ρ = 1" column)


def test_minority_remove_fraction_dos():
    y = balanced(6000)
    split = make_imbalanced(y, "minority", remove_fraction=0.9, minority_classes=[0, 2, 5, 8])
    check_indices(y, split)
    # keep ceil((1 - p) n); 0.1 * 6000 must give exactly 600 despite float noise
    assert kept_counts(y, split) == [600, 6000, 600, 6000, 6000, 600, 6000, 6000, 600, 6000]
    split = make_imbalanced(y[:1003], "minority", remove_fraction=0.95, minority_classes=[1])
    n1 = int(np.sum(y[:1003] == 1))
    assert split.counts[1] == math.ceil(0.05 * n1)


def test_minority_deterministic_and_seed_dependent():
    y = balanced(200)
    a = make_imbalanced(y, "minority", ratio=10, seed=7)
    b = make_imbalanced(y, "minority", ratio=10, seed=7)
    assert np.array_equal(a.indices, b.indices) and a.minority_classes == b.minority_classes
    assert a.fingerprint() == b.fingerprint()
    others = [make_imbalanced(y, "minority", ratio=10, seed=s) for s in range(8, 12)]
    assert any(o.minority_classes != a.minority_classes for o in others)
    fixed = [make_imbalanced(y, "minority", ratio=10, minority_classes=[1], seed=s) for s in (0, 1)]
    assert not np.array_equal(fixed[0].indices, fixed[1].indices)
    assert fixed[0].fingerprint() != fixed[1].fingerprint()


# --------------------------------------------------------------------------- counts


def test_count_presets():
    assert COUNT_PRESETS["mnist"] == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert COUNT_PRESETS["fashion_mnist"] == COUNT_PRESETS["mnist"]
    assert COUNT_PRESETS["gamo_cifar10"] == [4500, 2000, 1000, 800, 600, 500, 400, 250, 150, 80]
    assert COUNT_PRESETS["svhn"] == COUNT_PRESETS["gamo_cifar10"]
    assert COUNT_PRESETS["deepsmote_cifar10"] == [
        5000,
        2500,
        1000,
        1000,
        600,
        400,
        300,
        150,
        90,
        50,
    ]


@pytest.mark.parametrize("preset", sorted(COUNT_PRESETS))
def test_counts_preset_gives_class_i_count_i(preset):
    y = balanced(5000)
    split = make_imbalanced(y, "counts", preset=preset, seed=0)
    check_indices(y, split)
    assert kept_counts(y, split) == COUNT_PRESETS[preset]
    # default minority: every class smaller than the largest (GAMO's C - 1 minority classes)
    assert split.majority_classes == [0] and split.minority_classes == list(range(1, 10))


def test_counts_list_dict_order_and_rho_prime():
    y = balanced(100, n_classes=4)
    split = make_imbalanced(y, "counts", counts=[100, 50, 10, 5], class_order=[3, 2, 1, 0])
    check_indices(y, split)
    assert kept_counts(y, split) == [5, 10, 50, 100]
    split = make_imbalanced(y, "counts", counts={1: 7})
    assert kept_counts(y, split) == [100, 7, 100, 100]
    split = make_imbalanced(y, "counts", counts=[100, 50, 10, 5], rho_prime=10)
    # Definition 1.3: n_c <= n_max / rho' = 10 -> classes 2 and 3
    assert split.minority_classes == [2, 3] and split.majority_classes == [0, 1]


def test_counts_deterministic():
    y = balanced(4000)
    a = make_imbalanced(y, "counts", preset="mnist", seed=3)
    b = make_imbalanced(y, "counts", preset="mnist", seed=3)
    c = make_imbalanced(y, "counts", preset="mnist", seed=4)
    assert np.array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)


# --------------------------------------------------------------------------- longtail


@pytest.mark.parametrize("ratio", [10, 100])
def test_longtail_profile(ratio):
    y = balanced(5000)
    split = make_imbalanced(y, "longtail", ratio=ratio, seed=0)
    check_indices(y, split)
    expected = [math.floor(5000 * ratio ** (-i / 9) + 1e-9) for i in range(10)]
    assert kept_counts(y, split) == expected
    assert expected[0] == 5000 and expected[-1] == 5000 // ratio
    assert split.imbalance_ratio == pytest.approx(ratio)


def test_longtail_class_order_and_uneven_head():
    y = np.concatenate([np.full(400, 0), np.full(200, 1), np.full(300, 2)])
    split = make_imbalanced(y, "longtail", ratio=4, class_order=[2, 0, 1])
    # n_max is the smallest class (200) so every count exists: 200, 100, 50 by rank
    assert split.counts == {2: 200, 0: 100, 1: 50}
    assert split.minority_classes == [0, 1] and split.majority_classes == [2]


def test_none_keeps_everything():
    y = balanced(20)
    split = make_imbalanced(y, "none", minority_classes=[1, 2])
    assert np.array_equal(split.indices, np.arange(len(y)))
    assert split.minority_classes == [1, 2]
    assert make_imbalanced(y, "none").minority_classes == []


def test_describe_and_to_dict():
    y = balanced(100)
    split = make_imbalanced(y, "minority", ratio=10, minority_classes=[0, 2, 5, 8], seed=0)
    text = split.describe()
    assert "protocol 'minority'" in text and "ratio=10" in text and "[0, 2, 5, 8]" in text
    assert "6: 100" in text and "ρ = 10" in text
    d = split.to_dict()
    assert d["n_kept"] == 640 and d["counts"][0] == 10 and d["seed"] == 0
    assert d["fingerprint"] == split.fingerprint()
    assert json.loads(json.dumps(d))["params"]["minority_classes"] == [0, 2, 5, 8]


# --------------------------------------------------------------------------- errors


def test_bad_input_errors():
    y = balanced(10, n_classes=5)
    with pytest.raises(ValueError, match=r"`protocol` must be one of \['minority'.*got 'x'"):
        make_imbalanced(y, "x")
    with pytest.raises(ValueError, match="`ratio` must be a finite number >= 1"):
        make_imbalanced(y, "minority", ratio=0.5)
    with pytest.raises(ValueError, match="`ratio` must be a finite number >= 1"):
        make_imbalanced(y, "longtail", ratio=-3)
    with pytest.raises(ValueError, match="needs exactly one of `ratio`"):
        make_imbalanced(y, "minority")
    with pytest.raises(ValueError, match="needs exactly one of `ratio`"):
        make_imbalanced(y, "minority", ratio=2, remove_fraction=0.5)
    with pytest.raises(ValueError, match="`remove_fraction` must lie in"):
        make_imbalanced(y, "minority", remove_fraction=1.0)
    with pytest.raises(ValueError, match=r"`n_minority` must be between 0 and .* \(5\); got 6"):
        make_imbalanced(y, "minority", ratio=2, n_minority=6)
    with pytest.raises(ValueError, match="`minority_classes` \\[7\\] are not among"):
        make_imbalanced(y, "minority", ratio=2, minority_classes=[1, 7])
    with pytest.raises(ValueError, match="asks for 11 samples of class 0, but only 10 exist"):
        make_imbalanced(y, "counts", counts=[11, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="`counts` must be non-negative; class 1 got -1"):
        make_imbalanced(y, "counts", counts=[1, -1, 1, 1, 1])
    with pytest.raises(ValueError, match="one count per class \\(5 classes\\); got 3"):
        make_imbalanced(y, "counts", counts=[1, 1, 1])
    with pytest.raises(ValueError, match="`preset` must be one of"):
        make_imbalanced(y, "counts", preset="imagenet")
    with pytest.raises(ValueError, match="`preset` asks for 4000 samples of class 0"):
        make_imbalanced(balanced(10), "counts", preset="mnist")
    with pytest.raises(ValueError, match="exactly one of `counts` or `preset`"):
        make_imbalanced(y, "counts")
    with pytest.raises(ValueError, match="`class_order` must be a permutation"):
        make_imbalanced(y, "counts", counts=[1] * 5, class_order=[0, 1, 2, 3, 3])
    with pytest.raises(ValueError, match="protocol 'longtail' needs `ratio`"):
        make_imbalanced(y, "longtail")
    with pytest.raises(ValueError, match="`labels` must be 1-D"):
        make_imbalanced(np.zeros((2, 2), int), "none")


# --------------------------------------------------------------------------- test sets


def test_select_test():
    y = balanced(50, n_classes=4)
    assert np.array_equal(select_test(y), np.arange(200))
    idx = select_test(y, per_class=10, seed=1)
    assert np.bincount(y[idx]).tolist() == [10] * 4 and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, select_test(y, 10, seed=1))
    assert not np.array_equal(idx, select_test(y, 10, seed=2))
    with pytest.raises(ValueError, match="`per_class`=51 exceeds the 50 samples of class 0"):
        select_test(y, 51)
    with pytest.raises(ValueError, match="`per_class` must be non-negative"):
        select_test(y, -1)


# --------------------------------------------------------------------------- thesis definitions


def test_split_minority_majority():
    counts = {0: 1000, 1: 100, 2: 101, 3: 50}
    assert split_minority_majority(counts, 10) == ([1, 3], [0, 2])  # n_c <= 100 (boundary in)
    assert split_minority_majority(counts, 1) == ([0, 1, 2, 3], [])
    with pytest.raises(ValueError, match="`rho_prime` must be a finite number >= 1"):
        split_minority_majority(counts, 0.5)


def test_class_weights_algorithm_2():
    # counts 1, 2, 5 of n = 8: 1/p = 8, 4, 1.6; Z = 13.6 -> 10/17, 5/17, 2/17
    y = np.array([0, 1, 1, 2, 2, 2, 2, 2])
    w = class_weights(y)
    assert np.allclose(w, [10 / 17, 5 / 17, 2 / 17])
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(class_weights([0, 1, 1, 1]), [0.75, 0.25])
    assert np.allclose(class_weights(y, classes=[2, 0, 1]), [2 / 17, 10 / 17, 5 / 17])
    assert np.allclose(class_weights(balanced(7, 3)), [1 / 3] * 3)
    with pytest.raises(ValueError, match=r"`classes` \[3\] have no samples"):
        class_weights(y, classes=[0, 1, 2, 3])
