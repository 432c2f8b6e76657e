"""Class-balanced mini-batches: random oversampling at the batch level (feature-learning chapter).

The "BL+balanced-sampler" baseline trains the usual network on the imbalanced set but draws
every mini-batch so that each class is equally likely: a class is picked uniformly at random,
then one of its samples uniformly at random, independently for every slot of the batch (both
with replacement). Minority samples are therefore repeated within an epoch, majority samples
are seen only in part -- the batch-level version of random over-/under-sampling.

Epoch length: an "epoch" is ``num_batches`` batches, by default ``len(labels) // batch_size``
(at least 1), i.e. about one pass worth of samples, so that epoch counts and learning-rate
schedules stay comparable with ordinary shuffling.

Determinism: all randomness comes from one ``torch.Generator`` (given, or made from ``seed``);
the same seed gives the same sequence of batches, and successive epochs continue the stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["BalancedBatchSampler"]


class BalancedBatchSampler(Sampler[list[int]]):
    """Yield ``num_batches`` lists of ``batch_size`` indices with classes drawn uniformly.

    Use it as ``DataLoader(dataset, batch_sampler=BalancedBatchSampler(labels, 64, seed=0))``
    or iterate over it directly. Only classes present in ``labels`` are drawn.

    Parameters
    ----------
    labels : class label of every sample (1-D, integers).
    batch_size : samples per batch (>= 1).
    generator : the ``torch.Generator`` to draw from (it advances as batches are drawn).
    seed : seed for a private generator (give at most one of ``generator`` and ``seed``; with
        neither, a private generator is seeded from torch's global RNG).
    num_batches : batches per epoch; default ``max(1, len(labels) // batch_size)``.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray | torch.Tensor,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        num_batches: int | None = None,
    ) -> None:
        if isinstance(labels, torch.Tensor):
            labels = labels.detach().cpu().numpy()
        y = np.asarray(labels).ravel()
        if y.size == 0:
            raise ValueError("labels is empty")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.equal(np.mod(y, 1), 0)):
                raise ValueError("labels must be integers")
            y = y.astype(np.int64)
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if num_batches is not None and (int(num_batches) != num_batches or num_batches < 1):
            raise ValueError(f"num_batches must be a positive integer or None, got {num_batches}")
        if generator is not None and seed is not None:
            raise ValueError("give at most one of generator and seed")
        if generator is None:
            generator = torch.Generator()
            if seed is None:
                seed = int(torch.randint(0, 2**62, (1,)).item())  # follows torch.manual_seed
            generator.manual_seed(int(seed))
        self.generator = generator
        self.batch_size = int(batch_size)
        self.num_batches = (
            max(1, len(y) // self.batch_size) if num_batches is None else int(num_batches)
        )
        #: the classes that are drawn (sorted) and their sizes
        self.classes, counts = np.unique(y, return_counts=True)
        order = np.argsort(y, kind="stable")  # indices grouped by class, classes ascending
        self._sorted = torch.from_numpy(order.astype(np.int64))
        self._sizes = torch.from_numpy(counts.astype(np.int64))
        self._starts = torch.from_numpy(
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        )

    def __len__(self) -> int:
        """Number of batches per epoch."""
        return self.num_batches

    def _draw(self) -> list[int]:
        """One batch: a class uniformly, then a member of it uniformly, for every slot."""
        k = torch.randint(len(self.classes), (self.batch_size,), generator=self.generator)
        u = torch.rand(self.batch_size, generator=self.generator, dtype=torch.float64)
        size = self._sizes[k]
        pos = torch.minimum((u * size).long(), size - 1)  # uniform in 0..size-1
        return self._sorted[self._starts[k] + pos].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        """The batches of one epoch."""
        for _ in range(self.num_batches):
            yield self._draw()
