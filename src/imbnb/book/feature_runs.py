"""Chapter 2's runs: its extractors, and its classifier rows computed or read from tables.

Computed, every seed's two extractors (plain and class-weighted cross-entropy) are trained
(:func:`imbnb.methods.train_extractor`, cached) and each is scored under its own classifier
``h``, kNN and logistic regression on its features (:func:`~imbnb.book.feature_chapter.
classifier_rows`). Under ``paper`` the rows are read instead: each (training, classifier, seed)
is a feature-space run config (``CNN-h``, or ``BL`` with a kNN or logistic-regression head,
``extractor_weight`` None or "balanced"), swept from ``book/grids/chapters.yaml``; only the
first seed's two extractors are trained, for the embedding figure and the class sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pandas as pd

from imbnb.book.ados_runs import head_run_params
from imbnb.book.feature_chapter import classifier_rows
from imbnb.book.table_source import COMPUTE, Source, read_rows
from imbnb.experiments import RunConfig
from imbnb.experiments.figures import load_figure
from imbnb.methods import ExtractorSettings, RunOptions, train_extractor
from imbnb.methods.extractor_figure import N_PLOT, ExtractorFigure
from imbnb.metrics import SUMMARY_SCORES

__all__ = [
    "TRAININGS",
    "FeatureRuns",
    "chapter_extractor",
    "classifier_configs",
    "classifier_heads",
    "feature_runs",
    "read_configs",
    "runs_sentence",
]

#: The chapter's two trainings: label -> the extractor loss's class weights (Algorithm 2).
TRAININGS: dict[str, str | None] = {"plain CE": None, "weighted CE": "balanced"}
_ARCH = ExtractorSettings().arch  # the network a feature-space run config trains
_OWN_HEAD = "CNN classifier h"  # the classifier whose run carries its extractor's figure data


class FeatureRuns(NamedTuple):
    """What the chapter's class table and embedding figure draw of the first seed's extractors,
    by (training, seed), and its rows by training, classifier and seed."""

    figures: dict[tuple[str, int], ExtractorFigure]
    results: pd.DataFrame


def chapter_extractor(p: Mapping[str, Any]) -> ExtractorSettings:
    """The chapter's extractor settings from its parameter values ``p`` (each training and
    seed sets its loss weights and seed)."""
    keys = ("ratio", "n_minority", "minority_classes", "arch", "epochs", "batch_size", "lr",
            "n_train", "n_test")  # fmt: skip
    return ExtractorSettings(protocol="minority", **{k: p[k] for k in keys})


def read_configs(p: Mapping[str, Any]) -> dict[str, list[RunConfig]]:
    """The runs the chapter reads from tables with parameter values ``p`` (what
    ``book/grids/chapters.yaml`` is generated from): each training's three classifiers."""
    configs = classifier_configs(p["dataset"], chapter_extractor(p), p["seeds"], p["k"],
                                 p["profile"])  # fmt: skip
    return {"classifiers": list(configs.values())}


def classifier_heads(k: int) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """The chapter's three classifiers: label -> (feature-space method, head options)."""
    return {
        _OWN_HEAD: ("CNN-h", None),
        f"kNN (k={k})": ("BL", {"kind": "knn", "n_neighbors": int(k)}),
        "logistic regression": ("BL", {"kind": "logreg"}),
    }


def classifier_configs(
    dataset: str, ex: ExtractorSettings, seeds: Sequence[int], k: int, profile: str
) -> dict[tuple[str, str, int], RunConfig]:
    """(training, classifier, seed) -> its run config, in the order the chapter computes."""
    if ex.arch != _ARCH:
        raise ValueError(f"arch must be {_ARCH!r} to read committed runs, got {ex.arch!r}")
    if ex.protocol != "minority":
        raise ValueError(f"protocol must be 'minority' to read committed runs, got {ex.protocol!r}")
    classes = None if ex.minority_classes is None else tuple(ex.minority_classes)
    split = {"dataset": dataset, "ratio": float(ex.ratio), "n_minority": ex.n_minority,
             "minority_classes": classes, "n_train": ex.n_train, "n_test": ex.n_test,
             "profile": profile}  # fmt: skip
    return {
        (label, name, seed): RunConfig(
            method,
            seed=seed,
            params=head_run_params(ex.replace(class_weight=w), 1.0, head),
            **split,
        )
        for seed in seeds
        for label, w in TRAININGS.items()
        for name, (method, head) in classifier_heads(k).items()
    }


def _rows_from_table(
    configs: dict[tuple[str, str, int], RunConfig], source: Source
) -> pd.DataFrame:
    """The stored rows as the chapter's frame: training, classifier, seed and the scores."""
    rows = read_rows(list(configs.values()), source).set_index("config_hash")
    out = [
        {"training": label, "classifier": name, "seed": seed,
         **{s: rows.at[cfg.key(), s] for s in SUMMARY_SCORES}, "config_hash": cfg.key()}
        for (label, name, seed), cfg in configs.items()
        if cfg.key() in rows.index
    ]  # fmt: skip
    if not out:
        raise ValueError("the tables hold none of the chapter's runs; run `imbnb sweep` into them")
    return pd.DataFrame(out)


def feature_runs(
    dataset: str,
    ex: ExtractorSettings,
    seeds: Sequence[int],
    k: int,
    source: Source = COMPUTE,
    options: RunOptions | None = None,
    n_plot: int = N_PLOT,
    how: str = "tsne",
) -> FeatureRuns:
    """Train (or load) the extractors and score the classifiers, or read the rows from
    ``source``'s tables; the first seed's figure data (``n_plot`` test images, pictured by
    ``how``) from its extractors, or read from the tables' figure files where they hold them
    (:mod:`imbnb.experiments.figures`), so no network is trained for them."""
    if source.computes:
        extractors = {
            (label, seed): train_extractor(dataset, ex.replace(seed=seed, class_weight=w), options)
            for seed in seeds
            for label, w in TRAININGS.items()
        }
        n_classes = len(next(iter(extractors.values())).classes)
        figures = {key: ExtractorFigure.from_extractor(extractors[key], n_plot, key[1], [how])
                   for key in extractors if key[1] == seeds[0]}  # fmt: skip
        return FeatureRuns(figures, classifier_rows(extractors, k, n_classes))
    configs = classifier_configs(dataset, ex, seeds, k, source.profile)
    figures = {
        (label, seeds[0]): _figure(
            dataset, ex.replace(seed=seeds[0], class_weight=w),
            configs[label, _OWN_HEAD, seeds[0]].key(), source, (options, n_plot, how),
        )
        for label, w in TRAININGS.items()
    }  # fmt: skip
    return FeatureRuns(figures, _rows_from_table(configs, source))


def _figure(
    dataset: str, ex: ExtractorSettings, key: str, source: Source, plot: tuple
) -> ExtractorFigure:
    """The figure data of extractor ``ex`` (of run ``key``, its CNN-h run): from the tables'
    figure file, or from the extractor trained (or loaded from the cache) here."""
    stored = load_figure(source.table_paths, key)
    if stored is not None:
        return ExtractorFigure.from_arrays(stored.arrays, stored.meta)
    options, n_plot, how = plot
    trained = train_extractor(dataset, ex, options)
    return ExtractorFigure.from_extractor(trained, n_plot, ex.seed, [how])


def runs_sentence(
    source: Source, first_seed: int, figures: Mapping[Any, ExtractorFigure] | None = None
) -> str:
    """Where the chapter's networks and scores come from, for the page (``figures``: the
    first seed's, read from figure files or not)."""
    if source.computes:
        return "Every network is trained (or loaded from the cache) by this execution."
    tables = " and ".join(source.tables)
    stored = bool(figures) and all(f.network == "figure file" for f in figures.values())
    figure = (
        f"seed {first_seed}'s two networks are not trained here either: the class sizes and the "
        "embeddings come from the figure data stored beside their CNN-h rows"
        if stored
        else f"only seed {first_seed}'s two networks are trained here, for the class sizes and "
        "the embeddings"
    )
    return (
        f"The classifier scores below are read from {tables}: each training, classifier and "
        "seed is a feature-space run of the experiment layer (CNN-h, the network's own "
        f"classifier, or BL with a kNN or logistic-regression head), on the same networks; "
        f"{figure}."
    )
