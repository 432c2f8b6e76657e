"""BalancedBatchSampler: class-uniform batches, epoch length, seeded determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from imbnb.batches import BalancedBatchSampler

torch.set_num_threads(2)

# 3 classes with 500 / 50 / 5 samples, shuffled
LABELS = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [500, 50, 5]))


def _epoch(sampler: BalancedBatchSampler) -> list[list[int]]:
    return [list(b) for b in sampler]


def test_len_and_batch_shapes():
    s = BalancedBatchSampler(LABELS, 32, seed=0)
    assert len(s) == len(LABELS) // 32 == 17
    batches = _epoch(s)
    assert len(batches) == 17 and all(len(b) == 32 for b in batches)
    assert all(0 <= i < len(LABELS) for b in batches for i in b)
    assert len(BalancedBatchSampler(LABELS, 32, seed=0, num_batches=5)) == 5
    assert len(_epoch(BalancedBatchSampler(LABELS, 32, seed=0, num_batches=5))) == 5
    assert len(BalancedBatchSampler(LABELS, 10_000, seed=0)) == 1  # at least one batch


def test_class_frequencies_are_uniform():
    s = BalancedBatchSampler(LABELS, 64, seed=123, num_batches=300)
    drawn = np.concatenate([LABELS[b] for b in _epoch(s)])
    n = drawn.size  # 19,200 draws; each class has p = 1/3
    freq = np.bincount(drawn, minlength=3) / n
    sd = np.sqrt((1 / 3) * (2 / 3) / n)  # ~0.0034
    assert np.all(np.abs(freq - 1 / 3) < 5 * sd), freq
    # the natural frequencies would be 0.90 / 0.09 / 0.009: far outside the bound


def test_samples_uniform_within_class():
    s = BalancedBatchSampler(LABELS, 60, seed=7, num_batches=500)
    idx = np.concatenate(_epoch(s))
    minority = np.flatnonzero(LABELS == 2)  # 5 samples, each ~ 1/15 of all draws
    hits = np.array([(idx == i).sum() for i in minority])
    expected = idx.size / 15
    sd = np.sqrt(idx.size * (1 / 15) * (14 / 15))
    assert np.all(np.abs(hits - expected) < 5 * sd), hits
    # every majority sample index that is drawn is a majority sample: no mixing of classes
    assert set(LABELS[idx]) == {0, 1, 2}


def test_determinism_and_different_seeds():
    a = _epoch(BalancedBatchSampler(LABELS, 16, seed=42))
    b = _epoch(BalancedBatchSampler(LABELS, 16, seed=42))
    c = _epoch(BalancedBatchSampler(LABELS, 16, seed=43))
    assert a == b
    assert a != c
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    s1 = BalancedBatchSampler(LABELS, 16, generator=g1)
    s2 = BalancedBatchSampler(LABELS, 16, generator=g2)
    e1, e2 = _epoch(s1), _epoch(s2)
    assert e1 == e2
    # the next epoch continues the stream: epoch 2 = batches 35..68 of one long seeded run
    second = _epoch(s1)
    assert second != e1
    assert second == _epoch(BalancedBatchSampler(LABELS, 16, seed=5, num_batches=68))[34:]


def test_global_seed_controls_default_generator():
    torch.manual_seed(9)
    a = _epoch(BalancedBatchSampler(LABELS, 8))
    torch.manual_seed(9)
    b = _epoch(BalancedBatchSampler(LABELS, 8))
    assert a == b


def test_works_as_dataloader_batch_sampler():
    ds = TensorDataset(torch.arange(len(LABELS)), torch.from_numpy(LABELS))
    dl = DataLoader(ds, batch_sampler=BalancedBatchSampler(LABELS, 30, seed=0))
    batches = list(dl)
    assert len(batches) == len(LABELS) // 30
    for i, y in batches:
        assert torch.equal(torch.from_numpy(LABELS)[i], y)


def test_missing_classes_are_not_drawn_and_errors():
    y = np.array([3, 3, 3, 7])  # only classes 3 and 7 exist
    idx = np.concatenate(_epoch(BalancedBatchSampler(y, 50, seed=0, num_batches=20)))
    freq7 = (y[idx] == 7).mean()
    assert abs(freq7 - 0.5) < 0.1
    with pytest.raises(ValueError, match="batch_size"):
        BalancedBatchSampler(y, 0)
    with pytest.raises(ValueError, match="at most one"):
        BalancedBatchSampler(y, 2, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="empty"):
        BalancedBatchSampler([], 2)
    with pytest.raises(ValueError, match="num_batches"):
        BalancedBatchSampler(y, 2, num_batches=0)
