"""Train (or load from the cache) the embedding CNN on an imbalanced split (book chapters 1-2).

The first step of every feature-space method in the book: a CNN ``h ∘ f`` is trained on the
imbalanced training set; its embedding ``f`` maps train and test images to deep features
(DOS §3.1; ADOS thesis ch. 6, "Supervised Feature Learning"). :func:`train_extractor` is a
plain function a chapter calls with a dataset name and an :class:`ExtractorSettings`
(``train_extractor("fashion_mnist", ExtractorSettings(ratio=20, seed=1))``, or the same fields
as keywords). The trained weights, embeddings, test probabilities and history are cached under
a key made of every setting and the data's fingerprints, so chapters share extractors and a
changed setting never serves a stale one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imbnb.data import ImageDataset
from imbnb.imbalance import ImbalancedSplit, make_imbalanced, select_test
from imbnb.methods.options import RunOptions, route_changes
from imbnb.models import make_model
from imbnb.train import embed_dataset, fit, get_device, predict_proba, seed_everything

__all__ = [
    "CACHE_KIND",
    "ExtractorSettings",
    "RunOptions",
    "TrainedExtractor",
    "cap_per_class",
    "extractor_config",
    "train_extractor",
]

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


@dataclass(frozen=True)
class ExtractorSettings:
    """Every setting that decides a trained extractor, and so its cache key (with the data).

    The split: ``protocol`` with ``ratio``, ``n_minority`` or ``minority_classes``, ``counts``
    or ``preset`` (:func:`imbnb.imbalance.make_imbalanced`), drawn by ``seed``, from a pool of
    ``n_train`` images (None = all) and ``n_test`` test images per class; the training:
    ``arch`` for ``epochs`` of Adam (``lr``, ``batch_size``), cross-entropy weighted by
    ``class_weight`` ("balanced": the ADOS thesis's Algorithm 2 weights).
    """

    protocol: str = "minority"
    ratio: float | None = 10
    n_minority: int = 4
    minority_classes: Sequence[int] | None = None
    counts: Sequence[int] | None = None
    preset: str | None = None
    seed: int = 0
    arch: str = "C6-C16-F400-F120"
    epochs: int = 5
    batch_size: int = 40
    lr: float = 1e-3
    class_weight: Any = None
    n_train: int | None = None
    n_test: int | None = None

    def replace(self, **changes: Any) -> ExtractorSettings:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def config(self, train: ImageDataset, test: ImageDataset) -> dict[str, Any]:
        """The cache key's config: every setting plus the fingerprints of both data splits."""
        return {
            "dataset": train.name,
            "train_fingerprint": train.fingerprint(),
            "test_fingerprint": test.fingerprint(),
            "protocol": self.protocol,
            "ratio": None if self.ratio is None else float(self.ratio),
            "n_minority": int(self.n_minority),
            "minority_classes": _ints(self.minority_classes),
            "counts": _ints(self.counts),
            "preset": self.preset,
            "seed": int(self.seed),
            "arch": self.arch,
            "epochs": int(self.epochs),
            "batch_size": int(self.batch_size),
            "lr": float(self.lr),
            "class_weight": _jsonable_weight(self.class_weight),
            "n_train": None if self.n_train is None else int(self.n_train),
            "n_test": None if self.n_test is None else int(self.n_test),
        }


def _ints(values: Sequence[int] | None) -> list[int] | None:
    """A list of ints (None stays None), as the cache key holds class lists."""
    return None if values is None else [int(c) for c in values]


def extractor_config(
    train: ImageDataset,
    test: ImageDataset,
    settings: ExtractorSettings | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """The cache key's config of ``settings`` (with ``changes``) on ``train`` and ``test``."""
    return (settings or ExtractorSettings()).replace(**changes).config(train, test)


def train_extractor(
    dataset: str = "fashion_mnist",
    settings: ExtractorSettings | None = None,
    options: RunOptions | None = None,
    **changes: Any,
) -> TrainedExtractor:
    """Train the embedding CNN on an imbalanced split of ``dataset``, or load it from the cache.

    Steps: cap the training set at ``n_train`` images (equal per class, by ``seed``; None =
    all), apply the imbalance ``protocol`` (:func:`imbnb.imbalance.make_imbalanced`), draw
    ``n_test`` test images per class (None = all), train ``arch`` with cross-entropy
    (``class_weight="balanced"``: the ADOS thesis's Algorithm 2 weights), then embed both
    sets. ``changes`` are fields of :class:`ExtractorSettings` or :class:`RunOptions` (e.g.
    ``ratio=20, seed=1, train=..., cache=...``), applied on top of ``settings`` and ``options``.
    """
    s, opts = route_changes(changes, settings or ExtractorSettings(), options or RunOptions())
    train, test = opts.datasets(dataset)
    split, train_idx, test_idx = _split(s, train, test)
    config = s.config(train, test)
    model, arrays, history, hit = _train_or_load(
        s, opts, config, (train, test), (train_idx, test_idx)
    )
    return TrainedExtractor(
        config=config,
        model=model,
        split=split,
        classes=list(train.classes),
        train_indices=train_idx,
        test_indices=test_idx,
        y_train=train.labels[train_idx],
        y_test=test.labels[test_idx],
        z_train=arrays["z_train"],
        z_test=arrays["z_test"],
        proba_test=arrays["proba_test"],
        history=history,
        from_cache=hit,
    )


def _split(
    s: ExtractorSettings, train: ImageDataset, test: ImageDataset
) -> tuple[ImbalancedSplit, np.ndarray, np.ndarray]:
    """The imbalanced split of the capped pool, its indices into ``train``, the test indices."""
    pool = cap_per_class(train.labels, s.n_train, s.seed)
    split = make_imbalanced(
        train.labels[pool],
        s.protocol,
        ratio=s.ratio,
        n_minority=s.n_minority,
        minority_classes=s.minority_classes,
        counts=s.counts,
        preset=s.preset,
        seed=s.seed,
    )
    test_idx = select_test(test.labels, per_class=s.n_test, seed=s.seed)
    return split, pool[split.indices], test_idx


def _train_or_load(
    s: ExtractorSettings,
    opts: RunOptions,
    config: dict[str, Any],
    data: tuple[ImageDataset, ImageDataset],
    indices: tuple[np.ndarray, np.ndarray],
) -> tuple[Any, dict[str, np.ndarray], dict[str, Any], bool]:
    """The model, its arrays (embeddings, test probabilities), history and whether it was cached.

    ``data``: the training and test splits; ``indices``: the kept and the evaluated images.
    """

    train = data[0]
    c, h, _ = train.shape
    seed_everything(s.seed)  # the initial weights follow the seed too
    model = make_model(s.arch, in_channels=c, n_classes=train.n_classes, input_size=h)
    store = opts.store()
    hit = opts.use_cache and all(
        store.has(CACHE_KIND, config, artifact) for artifact in ("state_dict", "arrays", "json")
    )
    if hit:
        model.load_state_dict(store.load_state_dict(CACHE_KIND, config))
        model.to(get_device(opts.device)).eval()
        return (
            model,
            store.load_arrays(CACHE_KIND, config),
            store.load_json(CACHE_KIND, config),
            hit,
        )
    arrays, history = _fit_and_embed(model, s, opts, data, indices)
    if opts.use_cache:
        # weights and history first, arrays last: a hit needs all three files
        store.save_state_dict(CACHE_KIND, config, _on_cpu(model.state_dict()))
        store.save_json(CACHE_KIND, config, history)
        store.save_arrays(CACHE_KIND, config, **arrays)
    return model, arrays, history, hit


def _fit_and_embed(
    model: Any,
    s: ExtractorSettings,
    opts: RunOptions,
    data: tuple[ImageDataset, ImageDataset],
    indices: tuple[np.ndarray, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train ``model`` on the kept images, then embed both sets and score the test images."""

    (train, test), (train_idx, test_idx) = data, indices
    x_train, x_test = train.images[train_idx], test.images[test_idx]
    hist = fit(
        model,
        x_train,
        train.labels[train_idx],
        epochs=s.epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        class_weight=s.class_weight,
        seed=s.seed,
        device=opts.device,
        progress=opts.progress,
    )
    model.eval()  # on its training device: the embeddings are computed there
    arrays = {
        "z_train": embed_dataset(model, x_train),
        "z_test": embed_dataset(model, x_test),
        "proba_test": predict_proba(model, x_test),
    }
    return arrays, hist.to_dict()


def _on_cpu(state: dict[str, Any]) -> dict[str, Any]:
    """A state dict's tensors on the CPU (what the cache stores, whatever the device)."""
    return {k: v.detach().cpu() for k, v in state.items()}
