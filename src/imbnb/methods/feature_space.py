"""Extract -> resample -> head: every feature-space method of book chapter 3 ("ADOS") in one call.

The three steps of the ADOS thesis (ch. 6: feature learning, oversampling in the deep feature
space, a final classifier) and of the pseudo-feature paper (Konno & Iwazume 2018, §2 Steps 1-6)
share one skeleton: a trained embedding CNN (:func:`imbnb.methods.train_extractor`) maps images
to deep features; a sampler from :mod:`imbnb.oversample` resamples the training features; a
final MLP head (:class:`imbnb.classifiers.FeatureClassifier`) is trained on the result, with
ADOS's sample-specific weights (thesis §4.2.4) or class weights (Algorithm 2) where the method
asks for them; the test features are scored with :func:`imbnb.metrics.evaluate`.

* :data:`METHODS` is the registry of method names (``BL``, ``BL+CW``, ``FS-SMOTE``, ``ADOS``...);
* :func:`run_method` runs one method on one extractor and returns a flat metric row;
* :func:`run_grid` runs methods x ratios x seeds on the thesis's protocol (4 minority classes,
  rho in {10, 20, 40, 100}), caching each row;
* :func:`cnn_reference_rows` scores the end-to-end CNNs' own classifiers on the same splits;
* :func:`run_pseudo_feature_protocol` runs the pseudo-feature paper's §3 protocol (1 to 9
  minor classes at 1:10).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imbnb.cache import Cache, cached_json
from imbnb.classifiers import FeatureClassifier
from imbnb.imbalance import class_weights
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
    "CNN_REFERENCES",
    "MethodSpec",
    "cnn_reference_rows",
    "get_method",
    "make_sampler",
    "run_grid",
    "run_method",
    "run_pseudo_feature_protocol",
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


def _k(n_min_class: int, k: int = 5) -> int:
    """SMOTE/ADASYN k, capped so a class of ``n`` points has ``n - 1`` neighbours to use."""
    return max(1, min(k, n_min_class - 1))


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in [
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
            lambda seed, n, rho_d: GaussianPerturbation(random_state=seed),
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
}

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


def _head_options(head: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_HEAD updated by ``head``; unknown keys are an error."""
    opts = dict(DEFAULT_HEAD)
    for key, value in (head or {}).items():
        if key not in DEFAULT_HEAD:
            raise ValueError(f"unknown head option {key!r}; allowed: {sorted(DEFAULT_HEAD)}")
        opts[key] = value
    opts["hidden"] = tuple(int(h) for h in opts["hidden"])
    return opts


def run_method(
    method: str,
    extractor: Any = None,
    *,
    z_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    z_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    minority: Sequence[int] | None = None,
    n_classes: int | None = None,
    seed: int = 0,
    ratio: float | None = None,
    rho_d: float = 1.0,
    head: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Resample the training features with ``method``, train the MLP head, score the test set.

    Pass a :class:`~imbnb.methods.TrainedExtractor` or the arrays ``z_train, y_train, z_test,
    y_test`` and ``minority`` (explicit arrays win over the extractor's). ``rho_d`` is the
    desired imbalance ratio after resampling (ADOS Alg. 5, ROS-RUS); ``head`` overrides
    :data:`DEFAULT_HEAD`. Returns :meth:`imbnb.metrics.Report.to_row` plus ``method``,
    ``ratio``, ``seed``, ``n_train``, ``n_synthetic``, ``n_resampled``, ``recall_worst`` (the
    smallest per-class recall), ``seconds_resample`` and ``seconds`` (resampling + head).
    """
    spec = get_method(method)
    if extractor is not None:
        z_train = extractor.z_train if z_train is None else z_train
        y_train = extractor.y_train if y_train is None else y_train
        z_test = extractor.z_test if z_test is None else z_test
        y_test = extractor.y_test if y_test is None else y_test
        minority = extractor.minority_classes if minority is None else minority
        n_classes = len(extractor.classes) if n_classes is None else n_classes
    if z_train is None or y_train is None or z_test is None or y_test is None:
        raise ValueError("pass an extractor or all of z_train, y_train, z_test, y_test")
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    if n_classes is None:
        n_classes = int(max(y_train.max(), y_test.max())) + 1
    labels = list(range(int(n_classes)))
    opts = _head_options(head)

    start = time.perf_counter()
    sampler = make_sampler(method, y_train, seed=seed, rho_d=rho_d)
    if sampler is None:
        z_res, y_res = np.asarray(z_train), y_train
        n_synthetic = 0
    else:
        z_res, y_res = sampler.fit_resample(z_train, y_train)
        z_res, y_res = np.asarray(z_res), np.asarray(y_res, dtype=np.int64)
        n_synthetic = (
            int(np.count_nonzero(sampler.is_synthetic_))
            if hasattr(sampler, "is_synthetic_")
            else max(0, len(y_res) - len(y_train))  # a plain imblearn sampler: rows added
        )
    seconds_resample = time.perf_counter() - start

    weight = None
    if spec.weighting == "class":
        w = class_weights(y_res, classes=np.unique(y_res))  # Algorithm 2, per class present
        weight = w[np.searchsorted(np.unique(y_res), y_res)]
    elif spec.weighting == "sample":
        weight = np.asarray(sampler.sample_weight_, dtype=np.float64)  # thesis §4.2.4
    clf = FeatureClassifier(kind="mlp", random_state=int(seed), device=device, **opts)
    # FeatureClassifier builds its MLP before imbnb.train.fit seeds torch: seed here first so
    # the head's initial weights, and so the row, depend on ``seed`` alone
    seed_everything(int(seed))
    clf.fit(z_res.astype(np.float32, copy=False), y_res, sample_weight=weight)
    proba_cols = clf.predict_proba(np.asarray(z_test, dtype=np.float32))
    proba = np.zeros((len(y_test), len(labels)))
    proba[:, np.asarray(clf.classes_, dtype=np.int64)] = proba_cols
    y_pred = proba.argmax(axis=1)
    seconds = time.perf_counter() - start

    report = evaluate(y_test, y_pred, proba, minority=minority, labels=labels)
    recalls = report.per_class["recall"].to_numpy()
    return {
        "method": method,
        "ratio": None if ratio is None else float(ratio),
        "seed": int(seed),
        "n_train": len(y_train),
        "n_synthetic": n_synthetic,
        "n_resampled": len(y_res),
        "recall_worst": float(recalls.min()),
        **report.to_row(),
        "seconds_resample": seconds_resample,
        "seconds": seconds,
    }


def _check_methods(methods: Iterable[str]) -> list[str]:
    """Validate method names up front so a typo fails before any training."""
    names = list(methods)
    for name in names:
        get_method(name)
    return names


def _row_config(ex: Any, method: str, seed: int, rho_d: float, head: dict) -> dict[str, Any]:
    """Cache key of one metric row: the extractor's full config plus the method's settings."""
    return {
        "extractor": ex.config,
        "method": method,
        "seed": int(seed),
        "rho_d": float(rho_d),
        "head": {k: list(v) if isinstance(v, tuple) else v for k, v in head.items()},
    }


def _rows_for(
    ex: Any,
    methods: Sequence[str],
    *,
    seed: int,
    extra: dict[str, Any],
    rho_d: float,
    head: dict,
    cache: Cache | None,
    use_cache: bool,
    device: str | None,
    bar: Any,
) -> list[dict[str, Any]]:
    """All methods' rows on one extractor, each cached under :data:`CACHE_KIND`."""
    rows = []
    for method in methods:
        bar.set_postfix_str(f"{method} {extra}", refresh=False)

        def compute(method: str = method) -> dict[str, Any]:
            return run_method(
                method,
                ex,
                seed=seed,
                ratio=extra.get("ratio"),
                rho_d=rho_d,
                head=head,
                device=device,
            )

        if use_cache:
            config = _row_config(ex, method, seed, rho_d, head)
            row = cached_json(CACHE_KIND, config, compute, cache=cache)
        else:
            row = compute()
        rows.append({**row, **extra})
        bar.update(1)
    return rows


def _progress(total: int, desc: str, progress: bool) -> Any:
    """A tqdm bar (a silent one when ``progress`` is False)."""
    from tqdm.std import tqdm  # plain text bar: no ipywidgets needed in a notebook

    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def run_grid(
    dataset: str = "fashion_mnist",
    methods: Sequence[str] = THESIS_METHODS,
    ratios: Sequence[float] = (10, 20, 40, 100),
    seeds: Sequence[int] = (0,),
    *,
    minority_classes: Sequence[int] | None = None,
    n_minority: int = 4,
    arch: str = "C6-C16-F400-F120",
    epochs: int = 5,
    batch_size: int = 40,
    lr: float = 1e-3,
    extractor_weight: Any = "balanced",
    n_train: int | None = None,
    n_test: int | None = None,
    rho_d: float = 1.0,
    head: Mapping[str, Any] | None = None,
    device: str | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: bool = True,
    train: Any = None,
    test: Any = None,
) -> pd.DataFrame:
    """The thesis's protocol (§5.2.1, ch. 7): methods x ratios x seeds, one row per run.

    For each ``(ratio, seed)`` the extractor (``arch`` trained with ``extractor_weight``,
    "balanced" = the weighted cross-entropy of thesis §4.2.1) is trained or loaded by
    :func:`~imbnb.methods.train_extractor`; every method then runs on the same split and
    features. Each row is cached by the extractor's config and the method's settings, so a
    re-run with unchanged parameters only reads the cache. Minority classes are drawn by the
    seed unless ``minority_classes`` is given.
    """
    from imbnb.data import load_dataset
    from imbnb.methods.extractor import train_extractor

    methods = _check_methods(methods)
    opts = _head_options(head)
    train = train if train is not None else load_dataset(dataset, "train")
    test = test if test is not None else load_dataset(dataset, "test")
    rows: list[dict[str, Any]] = []
    with _progress(len(methods) * len(ratios) * len(seeds), "feature-space grid", progress) as bar:
        for seed in seeds:
            for ratio in ratios:
                ex = train_extractor(
                    dataset,
                    protocol="minority",
                    ratio=ratio,
                    n_minority=n_minority,
                    minority_classes=minority_classes,
                    seed=seed,
                    arch=arch,
                    epochs=epochs,
                    batch_size=batch_size,
                    lr=lr,
                    class_weight=extractor_weight,
                    n_train=n_train,
                    n_test=n_test,
                    device=device,
                    cache=cache,
                    use_cache=use_cache,
                    train=train,
                    test=test,
                )
                extra = {"ratio": float(ratio), "minority": ",".join(map(str, ex.minority_classes))}
                rows += _rows_for(
                    ex,
                    methods,
                    seed=seed,
                    extra=extra,
                    rho_d=rho_d,
                    head=opts,
                    cache=cache,
                    use_cache=use_cache,
                    device=device,
                    bar=bar,
                )
    return pd.DataFrame(rows)


#: The two end-to-end CNNs scored beside the heads: name -> the extractor's loss weights.
CNN_REFERENCES: dict[str, Any] = {"CNN plain CE": None, "CNN weighted CE": "balanced"}


def cnn_reference_rows(
    dataset: str = "fashion_mnist",
    ratios: Sequence[float] = (10, 20, 40, 100),
    seeds: Sequence[int] = (0,),
    **extractor_args: Any,
) -> pd.DataFrame:
    """The CNNs' own classifiers ``h`` (plain and weighted CE) on :func:`run_grid`'s splits.

    The thesis does not say whether its "Baseline" is a head on the features or the CNN
    itself, so both readings are scored. ``extractor_args`` go to
    :func:`~imbnb.methods.train_extractor` (cached, so the weighted CNN is the extractor the
    heads share); ``seconds`` is the CNN's training time, the cost a head adds to.
    """
    from imbnb.methods.extractor import train_extractor

    unknown = {"class_weight", "ratio", "seed"} & set(extractor_args)
    if unknown:
        raise ValueError(f"cnn_reference_rows sets {sorted(unknown)} itself; do not pass them")
    rows = []
    for seed in seeds:
        for ratio in ratios:
            for name, weight in CNN_REFERENCES.items():
                cnn = train_extractor(
                    dataset, ratio=ratio, seed=seed, class_weight=weight, **extractor_args
                )
                labels = list(range(cnn.proba_test.shape[1]))
                report = evaluate(
                    cnn.y_test,
                    cnn.y_pred_test,
                    cnn.proba_test,
                    minority=cnn.minority_classes,
                    labels=labels,
                )
                recalls = report.per_class["recall"].to_numpy()
                rows.append(
                    {
                        "method": name,
                        "ratio": float(ratio),
                        "seed": int(seed),
                        "n_train": len(cnn.y_train),
                        "n_synthetic": 0,
                        "n_resampled": len(cnn.y_train),
                        "recall_worst": float(recalls.min()),
                        **report.to_row(),
                        "seconds": float(cnn.history.get("seconds", float("nan"))),
                        "minority": ",".join(map(str, cnn.minority_classes)),
                    }
                )
    return pd.DataFrame(rows)


def run_pseudo_feature_protocol(
    dataset: str = "fashion_mnist",
    methods: Sequence[str] = PSEUDO_FEATURE_METHODS,
    n_minor: Sequence[int] = tuple(range(1, 10)),
    seeds: Sequence[int] = (0,),
    *,
    ratio: float = 10,
    arch: str = "C6-C16-F400-F120",
    epochs: int = 5,
    batch_size: int = 40,
    lr: float = 1e-3,
    extractor_weight: Any = None,
    n_train: int | None = None,
    n_test: int | None = None,
    head: Mapping[str, Any] | None = None,
    device: str | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: bool = True,
    train: Any = None,
    test: Any = None,
) -> pd.DataFrame:
    """The pseudo-feature paper's §3 protocol: ``k`` random minor classes cut to 1:``ratio``.

    For each number of minor classes ``k`` in ``n_minor`` and each seed (which draws the
    classes), the network is trained on the imbalanced data (plain cross-entropy, as in the
    paper's Step 1) and every method retrains the head on the same features (§2.1). Rows carry
    ``n_minor``; the paper's four measures are ``accuracy``, ``gmean`` ("multiplicative
    average of accs"), ``recall_min`` (mean minority accuracy) and ``recall_worst`` (min acc).
    """
    from imbnb.data import load_dataset
    from imbnb.methods.extractor import train_extractor

    methods = _check_methods(methods)
    opts = _head_options(head)
    train = train if train is not None else load_dataset(dataset, "train")
    test = test if test is not None else load_dataset(dataset, "test")
    bad = [k for k in n_minor if not 1 <= int(k) < train.n_classes]
    if bad:
        raise ValueError(f"n_minor values must lie in [1, {train.n_classes - 1}], got {bad}")
    rows: list[dict[str, Any]] = []
    total = len(methods) * len(n_minor) * len(seeds)
    with _progress(total, "pseudo-feature protocol", progress) as bar:
        for seed in seeds:
            for k in n_minor:
                ex = train_extractor(
                    dataset,
                    protocol="minority",
                    ratio=ratio,
                    n_minority=int(k),
                    minority_classes=None,
                    seed=seed,
                    arch=arch,
                    epochs=epochs,
                    batch_size=batch_size,
                    lr=lr,
                    class_weight=extractor_weight,
                    n_train=n_train,
                    n_test=n_test,
                    device=device,
                    cache=cache,
                    use_cache=use_cache,
                    train=train,
                    test=test,
                )
                extra = {
                    "n_minor": int(k),
                    "ratio": float(ratio),
                    "minority": ",".join(map(str, ex.minority_classes)),
                }
                rows += _rows_for(
                    ex,
                    methods,
                    seed=seed,
                    extra=extra,
                    rho_d=1.0,
                    head=opts,
                    cache=cache,
                    use_cache=use_cache,
                    device=device,
                    bar=bar,
                )
    return pd.DataFrame(rows)
