"""DOS's experiment protocol (chapter 4): split, cached CNN initialisation and DOS, metric rows.

The algorithm lives in :mod:`imbnb.estimators.dos` (:class:`~imbnb.estimators.dos.DOS` and its
steps, re-exported here). This module runs it the way the book does: :func:`run_dos` takes one
:class:`DOSConfig`, splits the data, initialises by plain cross-entropy (the extractor cached by
:func:`imbnb.methods.train_extractor`, Alg. 1 l.5), runs the DOS rounds (cached here) and embeds;
:meth:`DOSRun.rows` scores CNN, CNN-LR, CNN-kNN, DOS, DOS-LR and DOS-kNN (cached per run).
DOS-LR and DOS-kNN are :class:`imbnb.classifiers.FeatureClassifier` on DOS's embedding.
:func:`init_rows` scores the paper's three CNN baselines alone, from the initialisation only
(the experiment layer's ``DOS-init`` methods: they train no DOS).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imbnb.cache import Cache, cached_json
from imbnb.classifiers import FeatureClassifier
from imbnb.data import ImageDataset, load_dataset
from imbnb.estimators.dos import (
    DOS,
    DOSState,
    OverloadedSet,
    build_overloaded_set,
    class_overloading,
    in_class_neighbors,
    in_class_variance,
    micro_cluster_losses,
    oversampling_rates,
    sample_simplex,
)
from imbnb.methods import catalog
from imbnb.methods.extractor import ExtractorSettings, TrainedExtractor, train_extractor
from imbnb.methods.options import RunOptions
from imbnb.metrics import evaluate

__all__ = [
    "CACHE_KIND",
    "DOS",
    "DOSConfig",
    "DOSRun",
    "INIT_METHODS",
    "OverloadedSet",
    "build_overloaded_set",
    "class_overloading",
    "in_class_neighbors",
    "in_class_variance",
    "init_rows",
    "micro_cluster_losses",
    "oversampling_rates",
    "ratio_from_fraction",
    "run_dos",
    "sample_simplex",
]

CACHE_KIND = "dos"
ROW_KIND = "dos_rows"
INIT_ROW_KIND = "dos_init_rows"
_ARTIFACTS = ("state_dict", "arrays", "json")

#: DOS's search (chapter 8's protocol): its neighbours k and its rounds, in this order.
catalog.declare_family("dos", [{"k": k, "rounds": r} for k in (3, 5) for r in (1, 3)])
for _name, _rule in [
    ("DOS", "DOS's own classifier on its embedding (Ando & Huang 2017, Alg. 1)"),
    ("DOS-LR", "logistic regression on DOS's embedding (Ando & Huang's DOS-LR)"),
    ("DOS-kNN", "k-nearest neighbours on DOS's embedding (Ando & Huang's DOS-kNN)"),
]:
    catalog.register(catalog.Method(_name, "dos", _rule, spec=_name))
#: The paper's CNN baselines (§4.3): DOS's plain-CE initialisation (Alg. 1 l.5) before any
#: round, its own classifier and LR / kNN on its embedding; no DOS knob applies, so they have
#: nothing to tune (``init_epochs`` and ``batch_size`` are their only settings).
INIT_METHODS = {"DOS-init": "CNN", "DOS-init-LR": "CNN-LR", "DOS-init-kNN": "CNN-kNN"}
for _name, _paper in INIT_METHODS.items():
    _what = f"DOS's initial plain-CE CNN before any round, {_paper} in Ando & Huang's tables"
    catalog.register(catalog.Method(_name, "dos", _what, spec=_paper, search=({},),
                                    paper_name=_paper))  # fmt: skip


def ratio_from_fraction(p: float) -> float:
    """Imbalance ratio 1/(1-p) for DOS's "remove a fraction p of 4 classes" (§4.2).

    On equal-sized classes (Fashion-MNIST, MNIST-5k, any ``n_train`` cap) cutting a class to
    ``ceil(n/ρ)`` with ρ = 1/(1-p) equals removing the fraction p, so the DOS protocol runs on
    the same machinery (and cache) as the ADOS thesis's ρ protocol.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"remove fraction p must be in [0, 1), got {p}")
    return round(1.0 / (1.0 - p), 6)


@dataclass(frozen=True)
class DOSConfig:
    """Every setting of one DOS run: the split, the CNN initialisation and DOS itself.

    ``protocol="minority"`` cuts ``n_minority`` classes (or ``minority_classes``) by the
    fraction ``p`` (DOS §4.2; ρ = 1/(1-p)) or to ``n_max/ratio`` (ADOS thesis): give exactly
    one of the two. ``protocol="none"`` keeps the balanced data (DOS §4.2's third experiment:
    then use ``k_majority = k``, r = 1). ``n_train`` caps the training images before the cut
    (equal per class), ``n_test`` draws test images per class (None: all).
    """

    dataset: str = "fashion_mnist"
    protocol: str = "minority"
    p: float | None = None
    ratio: float | None = None
    minority_classes: Sequence[int] | None = None
    n_minority: int = 4
    seed: int = 0
    arch: str = "C6-C16-F400-F120"
    init_epochs: int = 3
    batch_size: int = 60
    lr: float = 1e-3
    k: int = 5
    k_majority: int = 0
    r: Any = "auto"
    rounds: int = 3
    lambda_f: float = 1.0
    n_train: int | None = None
    n_test: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        if self.protocol == "minority" and (self.p is None) == (self.ratio is None):
            raise ValueError("give exactly one of p (remove fraction) and ratio")
        if self.p is not None:
            ratio_from_fraction(self.p)  # validates p

    def split_ratio(self) -> float | None:
        """The ratio the split is cut to: from ``p`` or ``ratio`` (minority protocol)."""
        if self.protocol != "minority":
            return self.ratio
        if self.p is not None:
            return ratio_from_fraction(self.p)
        return float(self.ratio)  # type: ignore[arg-type]

    def estimator(self, minority: Sequence[int], progress: bool = False) -> DOS:
        """The (unfitted) DOS estimator these settings describe."""
        return DOS(
            self.arch,
            k=self.k,
            k_majority=self.k_majority,
            minority=minority,
            r=self.r,
            rounds=self.rounds,
            init_epochs=self.init_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            lambda_f=self.lambda_f,
            random_state=self.seed,
            device=self.device,
            progress=progress,
        )


@dataclass
class DOSRun:
    """One DOS run on a split: the CNN initialisation, the trained DOS and its embeddings."""

    config: dict[str, Any]
    extractor: TrainedExtractor  # the plain-CE CNN (Alg. 1 l.5)
    dos: DOS
    z_train: np.ndarray  # DOS embedding of the training images
    z_test: np.ndarray
    proba_test: np.ndarray  # g(f(x)) of DOS on the test images
    history: list[dict[str, Any]] = field(default_factory=list)
    from_cache: bool = False

    @property
    def minority_classes(self) -> list[int]:
        """Minority classes of the split."""
        return self.extractor.minority_classes

    def rows(self, *, knn_k: int = 5, cache: Cache | None = None) -> list[dict[str, Any]]:
        """Metric rows for CNN, CNN-LR, CNN-kNN, DOS, DOS-LR, DOS-kNN (cached per run)."""
        config = {**self.config, "knn_k": int(knn_k)}
        return cached_json(ROW_KIND, config, lambda: self._rows(knn_k), cache=cache)

    def _rows(self, knn_k: int) -> list[dict[str, Any]]:
        """Compute the rows: own classifiers plus LR / kNN on both embeddings (§4.3)."""
        ex, seed = self.extractor, int(self.config["dos"]["seed"])
        dos = (self.z_train, self.z_test, self.proba_test)
        return [
            *_embedding_rows("CNN", ex, (ex.z_train, ex.z_test, ex.proba_test), seed, knn_k),
            *_embedding_rows("DOS", ex, dos, seed, knn_k),
        ]


def _embedding_rows(
    prefix: str, ex: TrainedExtractor, arrays: tuple[np.ndarray, ...], seed: int, knn_k: int
) -> list[dict[str, Any]]:
    """The network's own classifier and LR / kNN on its embedding (§4.3), scored on the
    split's test images: ``arrays`` are its training and test embeddings and test probabilities."""
    z_tr, z_te, proba = arrays
    labels = list(range(len(ex.classes)))
    preds, seconds = {prefix: proba}, {prefix: 0.0}  # the network's own head: no fit
    for kind, tag in [("logreg", "LR"), ("knn", "kNN")]:
        start = time.perf_counter()
        clf = FeatureClassifier(kind=kind, n_neighbors=knn_k, random_state=seed)
        clf.fit(z_tr, ex.y_train)
        preds[f"{prefix}-{tag}"] = _full_proba(clf, z_te, len(labels))
        seconds[f"{prefix}-{tag}"] = time.perf_counter() - start
    out = []
    for name, pr in preds.items():
        rep = evaluate(
            ex.y_test, pr.argmax(axis=1), pr, minority=ex.minority_classes or None, labels=labels
        )
        out.append({"method": name, "seed": seed, "seconds": seconds[name], **rep.to_row()})
    return out


def _full_proba(clf: Any, z: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` with one column per class, also for classes absent from training."""
    pr = clf.predict_proba(z)
    full = np.zeros((len(z), n_classes), dtype=np.float64)
    full[:, np.asarray(clf.classes_, dtype=np.int64)] = pr
    return full


@dataclass(frozen=True)
class _Data:
    """The full train / test sets, loaded only when a network has to be trained."""

    dataset: str
    train: ImageDataset | None
    test: ImageDataset | None

    def images(self, ex: TrainedExtractor) -> tuple[np.ndarray, np.ndarray]:
        """The split's training and test images."""
        train = self.train if self.train is not None else load_dataset(self.dataset, "train")
        test = self.test if self.test is not None else load_dataset(self.dataset, "test")
        return train.images[ex.train_indices], test.images[ex.test_indices]


def _fit_and_store(
    dos: DOS, ex: TrainedExtractor, data: _Data, key: dict[str, Any], store: Cache | None
) -> dict[str, np.ndarray]:
    """Fit DOS from the extractor's CNN, embed both sets; store the result when ``store``."""
    x_train, x_test = data.images(ex)
    dos.fit(x_train, ex.y_train, init_model=ex.model, n_classes=len(ex.classes))
    arrays = {
        "z_train": dos.embed(x_train),
        "z_test": dos.embed(x_test),
        "proba_test": dos.predict_proba(x_test),
    }
    if store is not None:
        state = dos.get_state()
        store.save_state_dict(CACHE_KIND, key, state.weights)
        store.save_json(CACHE_KIND, key, state.meta())
        store.save_arrays(CACHE_KIND, key, **arrays)
    return arrays


def _load(dos: DOS, ex: TrainedExtractor, key: dict[str, Any], store: Cache) -> dict[str, Any]:
    """Rebuild the fitted DOS from the cache; return its stored embeddings."""
    state = DOSState.from_meta(
        store.load_json(CACHE_KIND, key),
        store.load_state_dict(CACHE_KIND, key),
        n_classes=len(ex.classes),
        input_shape=ex.model.input_shape,
    )
    dos.set_fitted_state(state)
    return store.load_arrays(CACHE_KIND, key)


def run_dos(
    config: DOSConfig,
    *,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: bool = False,
    train: ImageDataset | None = None,
    test: ImageDataset | None = None,
) -> DOSRun:
    """Split, initialise by plain CE (cached extractor), run DOS (cached), embed.

    The cache key is the extractor's (every split/training parameter plus both data
    fingerprints) plus every DOS setting and ``p``. ``train``/``test`` may be passed to avoid
    reloading the data.
    """
    c = config
    options = RunOptions(
        device=c.device, cache=cache, use_cache=use_cache, progress=progress, train=train, test=test
    )
    ex = train_extractor(c.dataset, _init_settings(c), options)
    dos = c.estimator(ex.minority_classes if c.protocol == "minority" else [], progress)
    key = {"extractor": ex.config, "dos": dos.get_config(), "p": c.p}
    store = cache if cache is not None else Cache()
    hit = use_cache and all(store.has(CACHE_KIND, key, a) for a in _ARTIFACTS)
    if hit:
        arrays = _load(dos, ex, key, store)
    else:
        data = _Data(c.dataset, train, test)
        arrays = _fit_and_store(dos, ex, data, key, store if use_cache else None)
    return DOSRun(
        config=key,
        extractor=ex,
        dos=dos,
        z_train=arrays["z_train"],
        z_test=arrays["z_test"],
        proba_test=arrays["proba_test"],
        history=list(dos.history_),
        from_cache=hit,
    )


def _init_settings(c: DOSConfig) -> ExtractorSettings:
    """The plain-CE CNN that DOS starts from (Alg. 1 l.5): the split and ``init_epochs``."""
    same = ("protocol", "n_minority", "minority_classes", "seed", "arch", "batch_size", "lr",
            "n_train", "n_test")  # fmt: skip
    shared = {name: getattr(c, name) for name in same}
    return ExtractorSettings(ratio=c.split_ratio(), epochs=c.init_epochs, class_weight=None,
                             **shared)  # fmt: skip


def init_rows(
    config: DOSConfig, *, knn_k: int = 5, cache: Cache | None = None
) -> tuple[TrainedExtractor, list[dict[str, Any]]]:
    """The CNN, CNN-LR and CNN-kNN rows of ``config``'s split from its initialisation alone
    (cached extractor; no DOS round is run): the numbers :meth:`DOSRun.rows` gives them."""
    options = RunOptions(device=config.device, cache=cache)
    ex = train_extractor(config.dataset, _init_settings(config), options)
    key = {"extractor": ex.config, "seed": int(config.seed), "knn_k": int(knn_k)}
    arrays = (ex.z_train, ex.z_test, ex.proba_test)
    compute = lambda: _embedding_rows("CNN", ex, arrays, int(config.seed), knn_k)  # noqa: E731
    return ex, cached_json(INIT_ROW_KIND, key, compute, cache=cache)
