"""The one container every dataset loader returns, and the error a missing dataset raises.

Explained in the book chapter "Data and imbalance protocols"; :mod:`imbnb.data` re-exports
both, so ``from imbnb.data import ImageDataset`` keeps working.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SPLITS", "DatasetNotFoundError", "ImageDataset", "check_choice"]

SPLITS: tuple[str, ...] = ("train", "test")


def check_choice(param: str, value: object, allowed: Sequence[str]) -> None:
    """Raise the imblearn-style ValueError when ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"`{param}` must be one of {list(allowed)}; got {value!r}.")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the searched places (and download was not allowed)."""


@dataclass(eq=False)
class ImageDataset:
    """Images and labels of one split: the one container every loader returns."""

    images: np.ndarray  # uint8, (N, C, H, W)
    labels: np.ndarray  # int64, (N,)
    classes: list[str]
    name: str
    split: str
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        """Check shapes and dtypes once so that every consumer can rely on them."""
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.ndim != 4:
            raise ValueError(f"`images` must have shape (N, C, H, W); got shape {images.shape}.")
        if images.dtype != np.uint8:
            raise ValueError(f"`images` must be uint8; got {images.dtype}.")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"`labels` must be 1-D with one label per image; got shape {labels.shape} "
                f"for {len(images)} images."
            )
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise ValueError(
                f"`labels` must lie in [0, {len(self.classes)}) for {len(self.classes)} classes."
            )
        self.images = np.ascontiguousarray(images)
        self.labels = labels.astype(np.int64, copy=False)
        self.classes = list(self.classes)

    def __len__(self) -> int:
        """Number of images."""
        return len(self.labels)

    def __repr__(self) -> str:
        """Short summary instead of dumping the arrays."""
        return (
            f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"shape={self.shape}, n_classes={self.n_classes})"
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def n_classes(self) -> int:
        """Number of classes (length of ``classes``, whether or not all are present)."""
        return len(self.classes)

    def subset(self, idx: np.ndarray | Sequence[int]) -> ImageDataset:
        """A new dataset holding the images at ``idx`` (used to apply imbalance protocols)."""
        idx = np.asarray(idx)
        return ImageDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            classes=list(self.classes),
            name=self.name,
            split=self.split,
        )

    def as_float(self) -> np.ndarray:
        """Images as float32 in [0, 1], shape (N, C, H, W): what the networks take."""
        return self.images.astype(np.float32) / np.float32(255.0)

    def fingerprint(self) -> str:
        """Short sha256 of shape, images and labels: identifies the exact data in cache keys."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr(self.images.shape).encode())
            h.update(self.images.tobytes())
            h.update(self.labels.astype("<i8", copy=False).tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint
