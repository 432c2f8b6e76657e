"""Train (or load from the cache) the embedding CNN on an imbalanced split (book chapters 1-2).

The first step of every feature-space method in the book: a CNN ``h ∘ f`` is trained on the
imbalanced training set; its embedding ``f`` maps train and test images to deep features
(DOS §3.1; ADOS thesis ch. 6, "Supervised Feature Learning"). :func:`train_extractor` is a
plain function a chapter calls with a dataset name and the protocol's parameters. The trained
weights, embeddings, test probabilities and history are cached under a key made of every
parameter and the data's fingerprints, so chapters share extractors and a changed parameter
never serves a stale one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imbnb.cache import Cache
from imbnb.data import ImageDataset, load_dataset
from imbnb.imbalance import ImbalancedSplit, make_imbalanced, select_test

__all__ = ["CACHE_KIND", "TrainedExtractor", "cap_per_class", "extractor_config", "train_extractor"]

CACHE_KIND = "extractor"


@dataclass
class TrainedExtractor:
    """A trained embedding CNN with its split, deep features, test probabilities and history."""

    config: dict[str, Any]
    model: Any  # imbnb.models.EmbeddingCNN, in eval mode on the CPU
    split: ImbalancedSplit  # the imbalance protocol applied to the (capped) training pool
    classes: list[str]
    train_indices: np.ndarray  # kept training images, indices into the full training split
    test_indices: np.ndarray  # evaluated test images, indices into the full test split
    y_train: np.ndarray
    y_test: np.ndarray
    z_train: np.ndarray  # f(x) of the kept training images, float32 (n_train, d)
    z_test: np.ndarray  # f(x) of the test images, float32 (n_test, d)
    proba_test: np.ndarray  # softmax of the CNN's own classifier h on the test images
    history: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False

    @property
    def y_pred_test(self) -> np.ndarray:
        """The CNN's own predictions on the test images (argmax of ``proba_test``)."""
        return self.proba_test.argmax(axis=1).astype(np.int64)

    @property
    def minority_classes(self) -> list[int]:
        """Minority classes of the split."""
        return list(self.split.minority_classes)

    @property
    def embedding_dim(self) -> int:
        """Dimension of the deep feature space."""
        return int(self.z_train.shape[1])


def cap_per_class(labels: np.ndarray, n_total: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices keeping at most ``ceil(n_total / C)`` random images of each class."""
    labels = np.asarray(labels)
    if n_total is None:
        return np.arange(len(labels), dtype=np.int64)
    if n_total < 1:
        raise ValueError(f"n_train must be a positive number or None, got {n_total}")
    classes = np.unique(labels)
    per_class = math.ceil(n_total / len(classes))
    rng = np.random.default_rng(seed)
    kept = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        kept.append(idx if len(idx) <= per_class else rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(kept)).astype(np.int64)


def _jsonable_weight(class_weight: Any) -> Any:
    """``class_weight`` in a form the cache key can hold (array -> list)."""
    if class_weight is None or isinstance(class_weight, str):
        return class_weight
    return [float(w) for w in np.asarray(class_weight, dtype=float).ravel()]


def extractor_config(
    train: ImageDataset,
    test: ImageDataset,
    *,
    protocol: str,
    ratio: float | None,
    n_minority: int,
    minority_classes: Sequence[int] | None,
    counts: Sequence[int] | None,
    preset: str | None,
    seed: int,
    arch: str,
    epochs: int,
    batch_size: int,
    lr: float,
    class_weight: Any,
    n_train: int | None,
    n_test: int | None,
) -> dict[str, Any]:
    """The cache key's config: every parameter plus the fingerprints of both data splits."""
    return {
        "dataset": train.name,
        "train_fingerprint": train.fingerprint(),
        "test_fingerprint": test.fingerprint(),
        "protocol": protocol,
        "ratio": None if ratio is None else float(ratio),
        "n_minority": int(n_minority),
        "minority_classes": None
        if minority_classes is None
        else [int(c) for c in minority_classes],
        "counts": None if counts is None else [int(c) for c in counts],
        "preset": preset,
        "seed": int(seed),
        "arch": arch,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "class_weight": _jsonable_weight(class_weight),
        "n_train": None if n_train is None else int(n_train),
        "n_test": None if n_test is None else int(n_test),
    }


def train_extractor(
    dataset: str = "fashion_mnist",
    *,
    protocol: str = "minority",
    ratio: float | None = 10,
    n_minority: int = 4,
    minority_classes: Sequence[int] | None = None,
    counts: Sequence[int] | None = None,
    preset: str | None = None,
    seed: int = 0,
    arch: str = "C6-C16-F400-F120",
    epochs: int = 5,
    batch_size: int = 40,
    lr: float = 1e-3,
    class_weight: Any = None,
    n_train: int | None = None,
    n_test: int | None = None,
    device: str | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: bool = False,
    train: ImageDataset | None = None,
    test: ImageDataset | None = None,
) -> TrainedExtractor:
    """Train the embedding CNN on an imbalanced split of ``dataset``, or load it from the cache.

    Steps: cap the training set at ``n_train`` images (equal per class, by ``seed``; None =
    all), apply the imbalance ``protocol`` (:func:`imbnb.imbalance.make_imbalanced`), draw
    ``n_test`` test images per class (None = all), train ``arch`` with cross-entropy
    (``class_weight="balanced"``: the ADOS thesis's Algorithm 2 weights), then embed both
    sets. ``train``/``test`` may be passed to avoid reloading the data.
    """
    from imbnb.models import make_model
    from imbnb.train import embed_dataset, fit, get_device, predict_proba, seed_everything

    train = train if train is not None else load_dataset(dataset, "train")
    test = test if test is not None else load_dataset(dataset, "test")
    pool = cap_per_class(train.labels, n_train, seed)
    split = make_imbalanced(
        train.labels[pool],
        protocol,
        ratio=ratio,
        n_minority=n_minority,
        minority_classes=minority_classes,
        counts=counts,
        preset=preset,
        seed=seed,
    )
    train_idx = pool[split.indices]
    test_idx = select_test(test.labels, per_class=n_test, seed=seed)
    config = extractor_config(
        train,
        test,
        protocol=protocol,
        ratio=ratio,
        n_minority=n_minority,
        minority_classes=minority_classes,
        counts=counts,
        preset=preset,
        seed=seed,
        arch=arch,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        class_weight=class_weight,
        n_train=n_train,
        n_test=n_test,
    )
    c, h, _ = train.shape
    seed_everything(seed)  # the initial weights follow the seed too
    model = make_model(arch, in_channels=c, n_classes=train.n_classes, input_size=h)
    store = cache if cache is not None else Cache()
    hit = use_cache and all(
        store.has(CACHE_KIND, config, artifact) for artifact in ("state_dict", "arrays", "json")
    )
    x_train, y_train = train.images[train_idx], train.labels[train_idx]
    x_test, y_test = test.images[test_idx], test.labels[test_idx]
    if hit:
        model.load_state_dict(store.load_state_dict(CACHE_KIND, config))
        model.to(get_device(device)).eval()
        arrays = store.load_arrays(CACHE_KIND, config)
        history = store.load_json(CACHE_KIND, config)
    else:
        hist = fit(
            model,
            x_train,
            y_train,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            class_weight=class_weight,
            seed=seed,
            device=device,
            progress=progress,
        )
        model.eval()  # on its training device: the embeddings are computed there
        arrays = {
            "z_train": embed_dataset(model, x_train),
            "z_test": embed_dataset(model, x_test),
            "proba_test": predict_proba(model, x_test),
        }
        history = hist.to_dict()
        if use_cache:
            # weights and history first, arrays last: a hit needs all three files
            store.save_state_dict(CACHE_KIND, config, _on_cpu(model.state_dict()))
            store.save_json(CACHE_KIND, config, history)
            store.save_arrays(CACHE_KIND, config, **arrays)
    return TrainedExtractor(
        config=config,
        model=model,
        split=split,
        classes=list(train.classes),
        train_indices=train_idx,
        test_indices=test_idx,
        y_train=y_train,
        y_test=y_test,
        z_train=arrays["z_train"],
        z_test=arrays["z_test"],
        proba_test=arrays["proba_test"],
        history=history,
        from_cache=hit,
    )


def _on_cpu(state: dict[str, Any]) -> dict[str, Any]:
    """A state dict's tensors on the CPU (what the cache stores, whatever the device)."""
    return {k: v.detach().cpu() for k, v in state.items()}
