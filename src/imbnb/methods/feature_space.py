"""Extract -> resample -> head: every feature-space method of book chapter 3 ("ADOS") in one call.

The methods and one method's run live in :mod:`imbnb.methods.feature_methods` (re-exported
here); this module runs them over the thesis's protocol:

* :func:`run_grid` runs methods x ratios x seeds on the thesis's protocol (4 minority classes,
  rho in {10, 20, 40, 100}), caching each row; :class:`FeatureGrid` holds its settings;
* :func:`cnn_reference_rows` scores the end-to-end CNNs' own classifiers on the same splits;
* :func:`run_pseudo_feature_protocol` (:mod:`imbnb.methods.pseudo_feature_protocol`) runs the
  pseudo-feature paper's §3 protocol (1 to 9 minor classes at 1:10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from imbnb.methods.extractor import ExtractorSettings, train_extractor
from imbnb.methods.feature_methods import (
    CACHE_KIND,
    DEFAULT_HEAD,
    METHODS,
    PSEUDO_FEATURE_METHODS,
    THESIS_METHODS,
    Features,
    HeadSettings,
    MethodSpec,
    check_methods,
    get_method,
    head_options,
    make_sampler,
    method_rows,
    progress_bar,
    run_method,
)
from imbnb.methods.options import RunOptions
from imbnb.methods.pseudo_feature_protocol import (
    PseudoFeatureGrid,
    run_pseudo_feature_protocol,
)
from imbnb.metrics import evaluate

__all__ = [
    "CACHE_KIND",
    "CNN_CE",
    "CNN_CW",
    "CNN_REFERENCES",
    "DEFAULT_HEAD",
    "METHODS",
    "PSEUDO_FEATURE_METHODS",
    "THESIS_METHODS",
    "FeatureGrid",
    "Features",
    "HeadSettings",
    "MethodSpec",
    "PseudoFeatureGrid",
    "check_methods",
    "cnn_reference_rows",
    "get_method",
    "head_options",
    "make_sampler",
    "method_rows",
    "progress_bar",
    "run_grid",
    "run_method",
    "run_pseudo_feature_protocol",
]


@dataclass(frozen=True)
class FeatureGrid:
    """The thesis's protocol (§5.2.1, ch. 7): methods x ratios x seeds, and how each runs.

    ``extractor``: the extractor's settings (its ``ratio`` and ``seed`` come from the grid, its
    protocol is "minority"; ``class_weight="balanced"`` is the weighted cross-entropy of thesis
    §4.2.1); ``rho_d`` and ``head``: as in :class:`~imbnb.methods.feature_methods.HeadSettings`.
    """

    methods: Sequence[str] = THESIS_METHODS
    ratios: Sequence[float] = (10, 20, 40, 100)
    seeds: Sequence[int] = (0,)
    extractor: ExtractorSettings = field(
        default_factory=lambda: ExtractorSettings(class_weight="balanced")
    )
    rho_d: float = 1.0
    head: Mapping[str, Any] | None = None


def run_grid(
    dataset: str = "fashion_mnist",
    *,
    grid: FeatureGrid | None = None,
    options: RunOptions | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The thesis's protocol (§5.2.1, ch. 7): methods x ratios x seeds, one row per run.

    For each ``(ratio, seed)`` the extractor is trained or loaded by
    :func:`~imbnb.methods.train_extractor`; every method then runs on the same split and
    features. Each row is cached by the extractor's config and the method's settings, so a
    re-run with unchanged parameters only reads the cache. Minority classes are drawn by the
    seed unless the extractor settings give ``minority_classes``. ``grid``: what runs (None:
    :class:`FeatureGrid`'s defaults); ``options``: where and how (:class:`RunOptions`);
    ``progress`` shows the grid's bar (the networks train without one).
    """
    g, opts = grid or FeatureGrid(), options or RunOptions()
    names = check_methods(g.methods)
    head = head_options(g.head)
    train, test = opts.datasets(dataset)
    data = opts.replace(train=train, test=test, progress=False)
    rows: list[dict[str, Any]] = []
    total = len(names) * len(g.ratios) * len(g.seeds)
    with progress_bar(total, "feature-space grid", progress) as bar:
        for seed in g.seeds:
            for ratio in g.ratios:
                settings = g.extractor.replace(protocol="minority", ratio=ratio, seed=seed)
                ex = train_extractor(dataset, settings, data)
                extra = {"ratio": float(ratio), "minority": ",".join(map(str, ex.minority_classes))}
                run = HeadSettings(seed=seed, ratio=float(ratio), rho_d=g.rho_d, head=head)
                rows += method_rows(ex, names, run, extra, data, bar)
    return pd.DataFrame(rows)


#: The names the end-to-end CNNs' own classifiers are shown under (plain and weighted CE).
CNN_CE, CNN_CW = "CNN-CE", "CNN-CW"  # the loss-based family's names for the same two CNNs
#: The two end-to-end CNNs scored beside the heads: name -> the extractor's loss weights.
CNN_REFERENCES: dict[str, Any] = {CNN_CE: None, CNN_CW: "balanced"}


def cnn_reference_rows(
    dataset: str = "fashion_mnist",
    ratios: Sequence[float] = (10, 20, 40, 100),
    seeds: Sequence[int] = (0,),
    settings: ExtractorSettings | None = None,
    options: RunOptions | None = None,
) -> pd.DataFrame:
    """The CNNs' own classifiers ``h`` (plain and weighted CE) on :func:`run_grid`'s splits.

    The thesis does not say whether its "Baseline" is a head on the features or the CNN
    itself, so both readings are scored. ``settings`` and ``options`` go to
    :func:`~imbnb.methods.train_extractor` (cached, so the weighted CNN is the extractor the
    heads share); each run sets their ``class_weight``, ``ratio`` and ``seed`` itself.
    ``seconds`` is the CNN's training time, the cost a head adds to.
    """
    base, opts = settings or ExtractorSettings(), options or RunOptions()
    rows = []
    for seed in seeds:
        for ratio in ratios:
            for name, weight in CNN_REFERENCES.items():
                s = base.replace(ratio=ratio, seed=seed, class_weight=weight)
                rows.append(_cnn_row(name, train_extractor(dataset, s, opts), ratio, seed))
    return pd.DataFrame(rows)


def _cnn_row(name: str, cnn: Any, ratio: float, seed: int) -> dict[str, Any]:
    """One CNN's own classifier scored as a row of :func:`cnn_reference_rows`."""
    labels = list(range(cnn.proba_test.shape[1]))
    report = evaluate(
        cnn.y_test,
        cnn.y_pred_test,
        cnn.proba_test,
        minority=cnn.minority_classes,
        labels=labels,
    )
    recalls = report.per_class["recall"].to_numpy()
    return {
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
