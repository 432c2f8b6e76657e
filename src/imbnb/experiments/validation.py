"""The validation protocol: a stratified validation split carved from each imbalanced
training set, so that methods are tuned without reading the test set (chapter 8).

A run whose config has ``validation = f`` (0 < f < 1) is a *validation run*:

1. the run's imbalanced training set is computed exactly as for the final run (the seed's
   class-balanced pool of ``n_train`` images, cut by the thesis's protocol);
2. from it a stratified share ``f`` of every class is held out (``round(f n_c)``, at least one
   image of any class with two or more, none of a class with one). At rho = 100 on the full
   Fashion-MNIST (6,000 images a class) a minority class keeps 60 images: 12 are held out;
3. the method then trains on the seed's pool without the held-out images, under the same
   protocol: the seed draws the same minority classes (checked), each cut to
   ``ceil((1 - f) n_max / rho)``, so training and held-out images keep the final run's class
   proportions; and it is scored on the held-out images.

The test set is never loaded by a validation run. The pool and the held-out images are served
to the method as a derived dataset (:func:`imbnb.data.register_dataset`), so every family runs
unchanged; their fingerprints differ from the full data's, so no cached network is shared.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from imbnb.data import ImageDataset, load_dataset, register_dataset
from imbnb.experiments.config import RunConfig
from imbnb.imbalance import make_imbalanced
from imbnb.methods.extractor import cap_per_class

__all__ = ["held_out", "validation_dataset", "validation_split"]


def held_out(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Positions of a stratified ``share`` of ``labels`` (sorted), seeded."""
    rng = np.random.default_rng([int(seed), 7919])  # its own stream, apart from the split's
    picked = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, round(share * len(idx))))
        picked.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(picked)).astype(np.int64)


def _imbalanced(cfg: RunConfig, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The seed's pool, the imbalanced training set (indices into ``labels``), minority."""

    pool = cap_per_class(labels, cfg.n_train, cfg.seed)
    split = make_imbalanced(labels[pool], "minority", **_cut(cfg))
    return pool, pool[split.indices], [int(c) for c in split.minority_classes]


def _cut(cfg: RunConfig) -> dict[str, Any]:
    """The minority protocol's parameters: the seed's drawn classes or the config's fixed ones."""
    classes = None if cfg.minority_classes is None else list(cfg.minority_classes)
    return {"ratio": cfg.ratio, "n_minority": cfg.n_minority, "minority_classes": classes,
            "seed": cfg.seed}  # fmt: skip


def validation_split(cfg: RunConfig, train: ImageDataset) -> dict[str, Any]:
    """Indices into ``train``: the validation run's training pool and held-out images."""
    if not cfg.validation:
        raise ValueError("validation_split needs a config with validation > 0")
    pool, imbalanced, minority = _imbalanced(cfg, train.labels)
    val = imbalanced[held_out(train.labels[imbalanced], float(cfg.validation), cfg.seed)]
    rest = np.setdiff1d(pool, val, assume_unique=True)
    redrawn = make_imbalanced(train.labels[rest], "minority", **_cut(cfg))
    if sorted(redrawn.minority_classes) != sorted(minority):  # the seed draws classes first
        raise RuntimeError(f"the pool without held-out images drew {redrawn.minority_classes}")
    return {"pool": rest, "validation": val, "minority_classes": minority}


def validation_dataset(cfg: RunConfig) -> tuple[RunConfig, dict[str, Any]]:
    """Register the derived dataset of a validation run; return the config to run on it.

    The returned config names the derived dataset, keeps every image of its pool
    (``n_train=None``) and scores every held-out image (``n_test=None``).
    """
    train = load_dataset(cfg.dataset, "train")
    s = validation_split(cfg, train)
    pool, val = train.subset(s["pool"]), train.subset(s["validation"])
    name = f"{cfg.dataset}@validation-{cfg.key()[:16]}"
    register_dataset(name, lambda split: pool if split == "train" else val)
    inner = dataclasses.replace(cfg, dataset=name, n_train=None, n_test=None, validation=0.0)
    return inner, {"n_validation": len(s["validation"]), "n_pool": len(s["pool"])}
