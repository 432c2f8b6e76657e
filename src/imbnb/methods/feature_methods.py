"""The feature-space methods of book chapter 3 and one method's run: resample, head, score.

The three steps of the ADOS thesis (ch. 6: feature learning, oversampling in the deep feature
space, a final classifier) and of the pseudo-feature paper (Konno & Iwazume 2018, §2 Steps 1-6)
share one skeleton: a trained embedding CNN (:func:`imbnb.methods.train_extractor`) maps images
to deep features; a sampler from :mod:`imbnb.oversample` resamples the training features; a
final MLP head (:class:`imbnb.classifiers.FeatureClassifier`) is trained on the result, with
ADOS's sample-specific weights (thesis §4.2.4) or class weights (Algorithm 2) where the method
asks for them; the test features are scored with :func:`imbnb.metrics.evaluate`.

* :data:`METHODS` names the methods (``BL``, ``BL+CW``, ``FS-SMOTE``, ``ADOS``...), a view of
  the one registry, :mod:`imbnb.methods.catalog`;
* :func:`run_method` runs one method on one extractor's :class:`Features` and returns a flat
  metric row; :func:`method_rows` runs several on one extractor, caching each row.

The grids over ratios and seeds are in :mod:`imbnb.methods.feature_space`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.std import tqdm  # plain text bar: no ipywidgets needed in a notebook

from imbnb.cache import cached_json
from imbnb.classifiers import FeatureClassifier
from imbnb.imbalance import class_weights
from imbnb.methods import catalog
from imbnb.methods.options import RunOptions
from imbnb.metrics import evaluate
from imbnb.oversample import (
    ADASYN,
    ADOS,
    ROSRUS,
    SMOTE,
    GaussianPerturbation,
    PseudoFeatures,
    RandomOverSampler,
    RandomUnderSampler,
)
from imbnb.train import seed_everything

__all__ = [
    "CACHE_KIND",
    "DEFAULT_HEAD",
    "METHODS",
    "PSEUDO_FEATURE_METHODS",
    "THESIS_METHODS",
    "Features",
    "HeadSettings",
    "MethodSpec",
    "check_methods",
    "get_method",
    "head_changes",
    "head_options",
    "make_sampler",
    "method_rows",
    "run_method",
]

CACHE_KIND = "feature_space_row"

#: The final classifier's defaults: an MLP on the 120-d features (thesis §4.2.4 leaves the
#: architecture open; "input dimension same as the feature space, output the classes").
DEFAULT_HEAD: dict[str, Any] = {"hidden": (256, 128), "epochs": 20, "batch_size": 128, "lr": 1e-3}

Sampler = Any  # an imblearn-style sampler with fit_resample


@dataclass(frozen=True)
class MethodSpec:
    """One feature-space method: how to build its sampler and how to weight the head's loss."""

    name: str
    description: str
    build: Callable[[int, int, float], Sampler] | None  # (seed, n_min_class, rho_d) -> sampler
    weighting: str = "none"  # "none", "class" (Algorithm 2) or "sample" (ADOS §4.2.4)
    own_head: bool = False  # score the extractor CNN's own classifier h: no resampling, no head


def _gauss(seed: int, n: int, rho_d: float, *, spread: str) -> Sampler:
    """GaussPert's sampler: its noise covariance pooled over all rows, or within classes."""
    return GaussianPerturbation(spread=spread, random_state=seed)


def _k(n_min_class: int, k: int = 5) -> int:
    """SMOTE/ADASYN k, capped so a class of ``n`` points has ``n - 1`` neighbours to use."""
    return max(1, min(k, n_min_class - 1))


_SPECS = [
    MethodSpec("BL", "MLP head on the deep features, no resampling", None),
    MethodSpec("BL+CW", "head trained with class weights (thesis Alg. 2)", None, "class"),
    MethodSpec(
        "BL+ROS-RUS",
        "random over- plus under-sampling to the desired ratio (thesis §3.1.3)",
        lambda seed, n, rho_d: ROSRUS(ratio=rho_d, random_state=seed),
    ),
    MethodSpec(
        "FS-SMOTE",
        "SMOTE in the feature space (imblearn, k = 5, fewer in a tiny class)",
        lambda seed, n, rho_d: SMOTE(k_neighbors=_k(n), random_state=seed),
    ),
    MethodSpec(
        "FS-ADASYN",
        "ADASYN in the feature space (imblearn, k = 5, fewer in a tiny class)",
        lambda seed, n, rho_d: ADASYN(n_neighbors=_k(n), random_state=seed),
    ),
    MethodSpec(
        "GaussPert",
        "minority copies plus Gaussian noise of the training covariance (pseudo-feature "
        "paper's 'perturbed')",
        functools.partial(_gauss, spread="pooled"),
    ),
    MethodSpec(
        "GaussPert-within",
        "GaussPert with the noise's covariance taken around each class's mean (the paper's "
        "other reading; chapter 8 compares the two on validation)",
        functools.partial(_gauss, spread="within"),
    ),
    MethodSpec(
        "PseudoFeat",
        "draws from a multivariate Gaussian fitted per minority class (Konno & Iwazume)",
        lambda seed, n, rho_d: PseudoFeatures(random_state=seed),
    ),
    MethodSpec(
        "ADOS",
        "adaptive dynamic over-sampling with sample-specific re-weighting (thesis ch. 4)",
        lambda seed, n, rho_d: ADOS(rho_d=rho_d, random_state=seed),
        "sample",
    ),
    MethodSpec(
        "ADOS-noRW",
        "ADOS without the sample re-weighting (ablation)",
        lambda seed, n, rho_d: ADOS(rho_d=rho_d, reweight=False, random_state=seed),
    ),
    MethodSpec(
        "CNN-h",
        "the extractor CNN's own softmax classifier h, no resampling and no new head (DOS "
        "Tables 2-3's CNN; chapter 2)",
        None,
        own_head=True,
    ),
    MethodSpec(
        "ROS",
        "random over-sampling to balance (thesis §3.1.1)",
        lambda seed, n, rho_d: RandomOverSampler(random_state=seed),
    ),
    MethodSpec(
        "RUS",
        "random under-sampling of the majority classes to balance (pseudo-feature §3.2)",
        lambda seed, n, rho_d: RandomUnderSampler(random_state=seed),
    ),
]
#: The shared pipeline is part of every feature-space method's search (issue 25): the
#: extractor's loss (class-weighted or plain CE) x the head (linear for 10 epochs, or the
#: 256-128 MLP for 20), in this order (ties go to the first).
_HEADS = ({"hidden": [], "epochs": 10}, {"hidden": [256, 128], "epochs": 20})
_PIPELINES = [{"extractor_weight": w, "head": h} for w in ("balanced", None) for h in _HEADS]
catalog.declare_family("feature_space", _PIPELINES)
for _spec in _SPECS:
    catalog.register(catalog.Method(_spec.name, "feature_space", _spec.description, _spec))
#: Name -> :class:`MethodSpec`: the feature-space part of :data:`imbnb.methods.catalog.REGISTRY`.
METHODS: Mapping[str, MethodSpec] = catalog.specs("feature_space")

#: The methods of the chapter's Table 7.2-style comparison, in the table's order.
THESIS_METHODS: tuple[str, ...] = (
    "BL",
    "BL+CW",
    "BL+ROS-RUS",
    "FS-SMOTE",
    "FS-ADASYN",
    "GaussPert",
    "PseudoFeat",
    "ADOS",
    "ADOS-noRW",
)

#: The pseudo-feature paper's five methods (§3.2): baseline, under, SMOTE, perturbed, proposed.
PSEUDO_FEATURE_METHODS: tuple[str, ...] = ("BL", "RUS", "FS-SMOTE", "GaussPert", "PseudoFeat")


def get_method(name: str) -> MethodSpec:
    """The registered :class:`MethodSpec` called ``name``; a ValueError lists the known names."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown feature-space method {name!r}; known methods: {', '.join(METHODS)}"
        ) from None


def make_sampler(name: str, y: np.ndarray, *, seed: int = 0, rho_d: float = 1.0) -> Sampler:
    """The sampler of method ``name`` for labels ``y`` (None for the methods without one)."""
    spec = get_method(name)
    if spec.build is None:
        return None
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    return spec.build(int(seed), int(counts[counts > 0].min()), float(rho_d))


#: Head options beside the MLP's: the classifier's ``kind`` ("mlp", "logreg": multinomial
#: logistic regression, "knn": k nearest neighbours) and kNN's ``n_neighbors``. Absent unless
#: given, so the MLP head's options (and cache keys) stay what they were.
HEAD_KINDS = ("mlp", "logreg", "knn")
_OTHER_HEAD_KEYS = ("kind", "n_neighbors")


def head_options(head: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_HEAD updated by ``head``; unknown keys or kinds are an error."""
    opts = dict(DEFAULT_HEAD)
    allowed = sorted([*DEFAULT_HEAD, *_OTHER_HEAD_KEYS])
    for key, value in (head or {}).items():
        if key not in allowed:
            raise ValueError(f"unknown head option {key!r}; allowed: {allowed}")
        opts[key] = value
    if opts.get("kind", "mlp") not in HEAD_KINDS:
        raise ValueError(f"head kind must be one of {list(HEAD_KINDS)}, got {opts['kind']!r}")
    opts["hidden"] = tuple(int(h) for h in opts["hidden"])
    return opts


def head_changes(head: Mapping[str, Any] | None) -> dict[str, Any]:
    """The head options that differ from :data:`DEFAULT_HEAD` (``hidden`` as a list): what a
    run config's ``params["head"]`` holds, so equal heads get equal config hashes."""
    opts, default = head_options(head), head_options(None)
    own = {k: v for k, v in opts.items() if k not in default or v != default[k]}
    return {k: list(v) if k == "hidden" else v for k, v in own.items()}


def check_methods(methods: Iterable[str]) -> list[str]:
    """Validate method names up front so a typo fails before any training."""
    names = list(methods)
    for name in names:
        get_method(name)
    return names


@dataclass(frozen=True)
class Features:
    """Deep features and labels of a training and a test set: what a method resamples and scores.

    ``minority``: the minority classes the metrics group; ``n_classes``: None = one more than the
    largest label seen.
    """

    z_train: np.ndarray
    y_train: np.ndarray
    z_test: np.ndarray
    y_test: np.ndarray
    minority: Sequence[int] | None = None
    n_classes: int | None = None
    proba_test: np.ndarray | None = None  # the extractor's own test probabilities (CNN-h)

    @classmethod
    def of(cls, extractor: Any) -> Features:
        """The features of a :class:`~imbnb.methods.TrainedExtractor`."""
        return cls(
            extractor.z_train,
            extractor.y_train,
            extractor.z_test,
            extractor.y_test,
            extractor.minority_classes,
            len(extractor.classes),
            extractor.proba_test,
        )


@dataclass(frozen=True)
class HeadSettings:
    """What a method's run takes beside the features: its seed, ``rho_d`` and head options.

    ``rho_d`` is the desired imbalance ratio after resampling (ADOS Alg. 5, ROS-RUS); ``head``
    overrides :data:`DEFAULT_HEAD`; ``ratio`` only labels the row.
    """

    seed: int = 0
    ratio: float | None = None
    rho_d: float = 1.0
    head: Mapping[str, Any] | None = None


def run_method(
    method: str,
    data: Any,
    settings: HeadSettings | None = None,
    *,
    device: str | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """Resample the training features with ``method``, train the MLP head, score the test set.

    ``data``: a :class:`~imbnb.methods.TrainedExtractor` or :class:`Features`; ``changes``:
    fields of :class:`HeadSettings` (``seed``, ``ratio``, ``rho_d``, ``head``). Returns
    :meth:`imbnb.metrics.Report.to_row` plus ``method``, ``ratio``, ``seed``, ``n_train``,
    ``n_synthetic``, ``n_resampled``, ``recall_worst`` (the smallest per-class recall),
    ``seconds_resample`` and ``seconds`` (resampling + head).
    """
    spec = get_method(method)
    s = dataclasses.replace(settings or HeadSettings(), **changes)
    f = _as_features(data)
    y_train = np.asarray(f.y_train, dtype=np.int64)
    y_test = np.asarray(f.y_test, dtype=np.int64)
    n_classes = f.n_classes
    if n_classes is None:
        n_classes = int(max(y_train.max(), y_test.max())) + 1
    labels = list(range(int(n_classes)))
    opts = head_options(s.head)

    start = time.perf_counter()
    sampler = make_sampler(method, y_train, seed=s.seed, rho_d=s.rho_d)
    z_res, y_res, n_synthetic = _resample(sampler, f.z_train, y_train)
    seconds_resample = time.perf_counter() - start
    if spec.own_head:
        proba = _own_head(f, len(labels))
    else:
        proba = _fit_head(
            spec, sampler, (z_res, y_res), f.z_test, s.seed, opts, device, len(labels)
        )
    y_pred = proba.argmax(axis=1)
    seconds = time.perf_counter() - start

    report = evaluate(y_test, y_pred, proba, minority=f.minority, labels=labels)
    recalls = report.per_class["recall"].to_numpy()
    return {
        "method": method,
        "ratio": None if s.ratio is None else float(s.ratio),
        "seed": int(s.seed),
        "n_train": len(y_train),
        "n_synthetic": n_synthetic,
        "n_resampled": len(y_res),
        "recall_worst": float(recalls.min()),
        **report.to_row(),
        "seconds_resample": seconds_resample,
        "seconds": seconds,
    }


def _as_features(data: Any) -> Features:
    """``data`` as :class:`Features` (an extractor's, or the features themselves)."""
    if isinstance(data, Features):
        return data
    if data is None or not hasattr(data, "z_train"):
        raise ValueError("pass an extractor or a Features of z_train, y_train, z_test, y_test")
    return Features.of(data)


def _resample(
    sampler: Sampler, z_train: np.ndarray, y_train: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """The resampled features and labels and the number of synthetic rows (none: no sampler)."""
    if sampler is None:
        return np.asarray(z_train), y_train, 0
    z_res, y_res = sampler.fit_resample(z_train, y_train)
    z_res, y_res = np.asarray(z_res), np.asarray(y_res, dtype=np.int64)
    n_synthetic = (
        int(np.count_nonzero(sampler.is_synthetic_))
        if hasattr(sampler, "is_synthetic_")
        else max(0, len(y_res) - len(y_train))  # a plain imblearn sampler: rows added
    )
    return z_res, y_res, n_synthetic


def _own_head(f: Features, n_classes: int) -> np.ndarray:
    """The extractor CNN's own test probabilities (its classifier h), every class a column."""
    if f.proba_test is None:
        raise ValueError("CNN-h scores the extractor's own classifier: pass the extractor")
    proba = np.asarray(f.proba_test, dtype=np.float64)
    if proba.shape != (len(f.z_test), n_classes):
        raise ValueError(f"proba_test has shape {proba.shape}, not {(len(f.z_test), n_classes)}")
    return proba


def _fit_head(
    spec: MethodSpec,
    sampler: Sampler,
    resampled: tuple[np.ndarray, np.ndarray],
    z_test: np.ndarray,
    seed: int,
    opts: dict[str, Any],
    device: str | None,
    n_classes: int,
) -> np.ndarray:
    """Train the head on the resampled features (with the method's weights); test probabilities."""
    z_res, y_res = resampled
    weight = None
    if spec.weighting == "class":
        w = class_weights(y_res, classes=np.unique(y_res))  # Algorithm 2, per class present
        weight = w[np.searchsorted(np.unique(y_res), y_res)]
    elif spec.weighting == "sample":
        weight = np.asarray(sampler.sample_weight_, dtype=np.float64)  # thesis §4.2.4
    clf = FeatureClassifier(**{"kind": "mlp", **opts}, random_state=int(seed), device=device)
    # FeatureClassifier builds its MLP before imbnb.train.fit seeds torch: seed here first so
    # the head's initial weights, and so the row, depend on ``seed`` alone
    seed_everything(int(seed))
    clf.fit(z_res.astype(np.float32, copy=False), y_res, sample_weight=weight)
    proba_cols = clf.predict_proba(np.asarray(z_test, dtype=np.float32))
    proba = np.zeros((len(z_test), n_classes))
    proba[:, np.asarray(clf.classes_, dtype=np.int64)] = proba_cols
    return proba


def _row_config(ex: Any, method: str, seed: int, rho_d: float, head: dict) -> dict[str, Any]:
    """Cache key of one metric row: the extractor's full config plus the method's settings."""
    return {
        "extractor": ex.config,
        "method": method,
        "seed": int(seed),
        "rho_d": float(rho_d),
        "head": {k: list(v) if isinstance(v, tuple) else v for k, v in head.items()},
    }


def method_rows(
    ex: Any,
    methods: Sequence[str],
    settings: HeadSettings,
    extra: dict[str, Any],
    options: RunOptions,
    bar: Any,
) -> list[dict[str, Any]]:
    """All methods' rows on one extractor, each cached under :data:`CACHE_KIND`, plus ``extra``.

    ``settings.head`` must be complete (:func:`head_options`): it is part of the cache key.
    """
    rows = []
    for method in methods:
        bar.set_postfix_str(f"{method} {extra}", refresh=False)

        def compute(method: str = method) -> dict[str, Any]:
            return run_method(method, ex, settings, device=options.device)

        if options.use_cache:
            config = _row_config(ex, method, settings.seed, settings.rho_d, dict(settings.head))
            row = cached_json(CACHE_KIND, config, compute, cache=options.cache)
        else:
            row = compute()
        rows.append({**row, **extra})
        bar.update(1)
    return rows


def progress_bar(total: int, desc: str, progress: bool) -> Any:
    """A tqdm bar (a silent one when ``progress`` is False)."""

    return tqdm(total=total, desc=desc, disable=not progress, leave=False)
