"""Chapter 5's Table 1 runs: the plan, each split, computed or read from committed tables.

:class:`Table1Plan` is the chapter's setting of the comparison; :func:`table1_split` the
training and test images of one dataset and seed (the paper's class counts, ``test_per_class``
test images per class). Under ``paper`` the runs are read instead of trained:
:func:`table1_configs` writes them as GAMO-family run configs (the ``counts`` protocol, whose
count list and draws are the chapter's, and only the knobs chapter 8's grid writes), refusing by
name a setting a run config cannot hold, and :func:`table1_rows` reads their rows in the frame
the chapter computes. The figures that need a trained GAMO read the figure file a sweep stored
beside Table 1's GAMO run, or get the network from :func:`figure_gamo` (:func:`chapter_figure`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from imbnb.book.table_source import Source, chapter_source, read_rows
from imbnb.data import load_dataset
from imbnb.experiments import RunConfig
from imbnb.experiments.figures import load_figure
from imbnb.experiments.registry import family_of
from imbnb.imbalance import COUNT_PRESETS, ImbalancedSplit, make_imbalanced, select_test
from imbnb.methods.deepsmote import count_split
from imbnb.methods.gamo import GAMO, GAMOSettings, method_config, train_gamo
from imbnb.methods.gamo_figure import GAMOFigure, GAMOFigureSettings

__all__ = [
    "FigureGAMO",
    "Table1Plan",
    "Table1Runs",
    "chapter_source",
    "counts_for",
    "chapter_figure",
    "figure_gamo",
    "figure_sentence",
    "figure_settings",
    "read_configs",
    "runs_sentence",
    "table1_configs",
    "table1_plan",
    "table1_rows",
    "table1_split",
]


@dataclass(frozen=True)
class Table1Plan:
    """The chapter's settings of the Table 1 comparison (its parameters cell)."""

    datasets: Sequence[str]
    seeds: Sequence[int]
    losses: Sequence[str]
    methods: Sequence[str]
    variants: Mapping[str, str]
    steps: int
    batch_size: int
    lr: float
    count_scale: float = 1.0
    test_per_class: int = 100


def table1_plan(p: Mapping[str, Any]) -> Table1Plan:
    """The chapter's Table 1 settings from its parameter values ``p``."""
    return Table1Plan(**{f.name: p[f.name] for f in fields(Table1Plan)})


def read_configs(p: Mapping[str, Any]) -> dict[str, list[RunConfig]]:
    """The runs the chapter reads from tables with parameter values ``p`` (what
    ``book/grids/chapters.yaml`` is generated from): Table 1's."""
    return {"Table 1": table1_configs(table1_plan(p), p["profile"])}


@dataclass
class Table1Runs:
    """What :func:`imbnb.book.gamo_chapter.run_table1` made: metric rows, and (computed only)
    the trained models and each split's data."""

    results: pd.DataFrame
    models: dict[tuple, GAMO] = field(default_factory=dict)
    data: dict[tuple, tuple[np.ndarray, ...]] = field(default_factory=dict)


def counts_for(train: Any, count_scale: float) -> list[int]:
    """The paper's counts times ``count_scale``, shrunk to what the dataset holds (ratio kept)."""
    paper = np.array(COUNT_PRESETS["fashion_mnist"], dtype=float)
    fit = min(1.0, np.bincount(train.labels).min() / paper.max())
    return [max(2, math.ceil(c * count_scale * fit - 1e-9)) for c in paper]


def table1_split(
    plan: Table1Plan, train: Any, test: Any, seed: int
) -> tuple[ImbalancedSplit, tuple[np.ndarray, ...]]:
    """One seed's split of a dataset and its (X, y, X_test, y_test) images and labels."""
    split = make_imbalanced(
        train.labels, "counts", counts=counts_for(train, plan.count_scale), seed=seed
    )
    X, y = train.images[split.indices], train.labels[split.indices]
    test_idx = select_test(test.labels, per_class=plan.test_per_class, seed=seed)
    return split, (X, y, test.images[test_idx], test.labels[test_idx])


# --------------------------------------------------------------------------------------------
# The runs as run configs, read from tables


def _check_counts(plan: Table1Plan) -> None:
    """Refuse a ``count_scale`` whose counts differ from the counts protocol's on a dataset
    (it rounds where the chapter rounds up), so a read run is the chapter's split."""
    for name in plan.datasets:
        train = load_dataset(name, "train")
        ours = counts_for(train, plan.count_scale)
        theirs = count_split(train.labels, float(plan.count_scale)).counts
        theirs = [int(theirs.get(c, 0)) for c in range(len(ours))]
        if ours != theirs:
            raise ValueError(
                f"count_scale must give the counts protocol's class counts to read committed "
                f"runs: on {name} count_scale={plan.count_scale} gives the chapter {ours}, a run "
                f"config {theirs} (1.0 gives both the paper's counts)"
            )


def table1_configs(plan: Table1Plan, profile: str) -> list[RunConfig]:
    """Table 1's runs as run configs (protocol ``counts``, ``n_test`` = ``test_per_class``), in
    :func:`~imbnb.book.gamo_chapter.run_table1`'s order: ``steps`` and ``lr`` always, as chapter
    8's grid writes them; loss, variant and batch size only where not GAMO's default."""
    odd = [m for m in plan.methods if family_of(m) != "gamo"]
    if odd:
        raise ValueError(f"methods must be GAMO-family methods to read committed runs, got {odd}")
    _check_counts(plan)
    default = GAMOSettings()
    configs = []
    for name in plan.datasets:
        variant = plan.variants[name]
        for seed in plan.seeds:
            for loss in plan.losses:
                params: dict[str, Any] = {"steps": plan.steps, "lr": plan.lr}
                own = {"loss": loss, "variant": variant, "batch_size": plan.batch_size}
                params.update({k: v for k, v in own.items() if v != getattr(default, k)})
                configs += [
                    RunConfig(method, dataset=name, protocol="counts", seed=seed,
                              count_scale=float(plan.count_scale), n_test=plan.test_per_class,
                              params=params, profile=profile)
                    for method in plan.methods
                ]  # fmt: skip
    return configs


_FIRST = ["dataset", "loss", "method", "seed", "seconds"]  # the computed rows' first columns


def table1_rows(plan: Table1Plan, source: Source) -> pd.DataFrame:
    """The plan's rows from ``source``'s tables, as :func:`run_table1` computes them (``loss``
    in capitals; a stored row's other columns after the chapter's), in the configs' order."""
    configs = table1_configs(plan, source.profile)
    rows = read_rows(configs, source)
    loss = {c.key(): str(c.params.get("loss", GAMOSettings().loss)).upper() for c in configs}
    if rows.empty:
        return pd.DataFrame(columns=[*_FIRST, "acsa", "gmean", "config_hash"])
    rows = rows.assign(loss=rows["config_hash"].map(loss))
    rows["seed"] = rows["seed"].astype(int)
    return rows[[*_FIRST, *(c for c in rows.columns if c not in _FIRST)]]


def runs_sentence(source: Source, plan: Table1Plan, results: pd.DataFrame) -> str:
    """Where Table 1's runs come from, and how many of them the tables hold."""
    if source.computes:
        return "Every run is trained (or loaded from the cache) by this execution."
    tables = " and ".join(source.tables)
    n_runs = len(plan.datasets) * len(plan.seeds) * len(plan.losses) * len(plan.methods)
    held = "all of them" if len(results) == n_runs else f"{len(results)} of the {n_runs}"
    return (
        f"The runs are read from {tables}, which hold {held}: each is a GAMO-family run of the "
        "experiment layer on the counts protocol, with this chapter's split, network and cache "
        "key, so nothing of the table is trained here."
    )


# --------------------------------------------------------------------------------------------
# The one GAMO the figures need


class FigureGAMO(NamedTuple):
    """The GAMO the boundary analysis and GAMO2pix use, and its training images."""

    model: GAMO
    X: np.ndarray
    y: np.ndarray


def _figure_loss(plan: Table1Plan) -> str:
    """The loss of the figures' GAMO: least squares if it was run."""
    return "ls" if "ls" in plan.losses else plan.losses[0]


def figure_gamo(plan: Table1Plan, runs: Table1Runs, figure_steps: int | None) -> FigureGAMO:
    """The first dataset's and seed's GAMO: Table 1's own network where it was computed and
    ``figure_steps`` is None, else trained here (cached) for ``figure_steps`` (None: ``steps``)
    iterations on that split, as a sweep trains it."""
    name, seed, loss = plan.datasets[0], plan.seeds[0], _figure_loss(plan)
    if (name, seed, loss, "GAMO") in runs.models and figure_steps is None:
        X, y, _, _ = runs.data[name, seed]
        return FigureGAMO(runs.models[name, seed, loss, "GAMO"], X, y)
    _, (X, y, _, _) = table1_split(
        plan, load_dataset(name, "train"), load_dataset(name, "test"), seed
    )
    cfg = method_config(
        "GAMO", loss=loss, variant=plan.variants[name], steps=figure_steps or plan.steps,
        batch_size=plan.batch_size, lr=plan.lr, seed=seed,
    )  # fmt: skip
    return FigureGAMO(train_gamo(X, y, cfg), X, y)


def figure_settings(p: Mapping[str, Any]) -> GAMOFigureSettings:
    """How the boundary and GAMO2pix figures are made, from the chapter's parameter values."""
    return GAMOFigureSettings(
        boundary_class=p["boundary_class"], n_generate=p["n_generate"],
        pix_classes=tuple(p["pix_classes"]), pix_steps=p["pix_steps"],
        batch_size=p["batch_size"], seed=p["seeds"][0],
    )  # fmt: skip


def _figure_config(plan: Table1Plan, profile: str) -> RunConfig:
    """The run config of the figures' GAMO: Table 1's GAMO on the first dataset and seed."""
    one = replace(plan, datasets=plan.datasets[:1], seeds=plan.seeds[:1],
                  losses=[_figure_loss(plan)], methods=["GAMO"])  # fmt: skip
    return table1_configs(one, profile)[0]


def chapter_figure(
    plan: Table1Plan,
    runs: Table1Runs,
    source: Source,
    settings: GAMOFigureSettings,
    figure_steps: int | None,
) -> GAMOFigure:
    """What the boundary and GAMO2pix figures draw: the figure file a sweep stored beside
    Table 1's GAMO run where the tables hold one made with ``settings`` (and ``figure_steps``
    is None), else the same measured on :func:`figure_gamo`'s network."""
    if figure_steps is None and not source.computes:
        stored = load_figure(source.table_paths, _figure_config(plan, source.profile).key())
        if stored is not None:
            figure = GAMOFigure.from_arrays(stored.arrays, stored.meta)
            if figure.settings == settings:
                return figure
    model, X, y = figure_gamo(plan, runs, figure_steps)
    return GAMOFigure.from_model(model, X, y, settings)


def figure_sentence(
    plan: Table1Plan, runs: Table1Runs, figure_steps: int | None, figure: GAMOFigure | None = None
) -> str:
    """Which GAMO the boundary analysis and GAMO2pix show, at which scale, and whether it was
    trained here or read from its figure file (``figure``)."""
    name, seed, loss = plan.datasets[0], plan.seeds[0], _figure_loss(plan).upper()
    which = f"This GAMO ({name}, seed {seed}, {loss} loss)"
    if figure is not None and figure.network == "figure file":
        how = (
            "its network gave the stored row's metrics again"
            if figure.meta.get("reproduces_row")
            else "its network was trained again from the same configuration on "
            f"{figure.meta.get('cpu', 'another machine')}, not the machine that swept the row, "
            "so the figures show the same run up to the last bits of training"
        )
        return (
            f"{which} is Table 1's own network ({plan.steps:,} iterations): the sweep stored "
            f"what the two figures draw beside its row, so nothing is trained here; {how}."
        )
    if runs.models and figure_steps is None:
        return f"{which} is Table 1's own network, trained (or loaded from the cache) above."
    steps = figure_steps or plan.steps
    if steps == plan.steps:
        return f"{which} is trained here as the sweep trained it ({steps:,} iterations)."
    return (
        f"{which} is trained here for {steps:,} iterations of Algorithm 1 instead of Table 1's "
        f"{plan.steps:,}: this figure and the GAMO2pix images show the method at that scale, "
        "not Table 1's networks."
    )
