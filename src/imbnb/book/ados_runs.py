"""Chapter 3's runs: its grids written as run configs, its rows computed or read from tables.

Under ``quick`` the chapter trains its extractors and heads itself (:func:`imbnb.methods.
feature_space.run_grid`, fixed minority classes). Under ``paper`` it reads committed sweeps:
the thesis protocol's heads are chapter 8's rows of ``book/data/results/paper.parquet`` (same
config hash), the end-to-end CNNs are chapter 8's ``CNN-CE`` and ``CNN-CW`` (the same recipe,
trained by chapter 9's code rather than as this chapter's extractor), and the pseudo-feature
protocol is ``book/grids/chapters.yaml``'s block, swept into ``chapters.parquet``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from imbnb.book.loss_chapter import loss_configs
from imbnb.book.table_source import COMPUTE, Source, check_readable, read_rows
from imbnb.experiments import RunConfig
from imbnb.experiments.figures import load_figure
from imbnb.experiments.registry import SETTINGS
from imbnb.methods.ados_figure import ADOSFigure
from imbnb.methods.extractor import ExtractorSettings, train_extractor
from imbnb.methods.feature_methods import head_changes
from imbnb.methods.feature_space import (
    CNN_CE,
    CNN_CW,
    FeatureGrid,
    PseudoFeatureGrid,
    cnn_reference_rows,
    run_grid,
    run_pseudo_feature_protocol,
)
from imbnb.methods.losses_baselines import LossGrid, LossRunSettings
from imbnb.methods.options import RunOptions

__all__ = [
    "chapter_grids",
    "cnn_rows",
    "extractor_figures",
    "figures_sentence",
    "feature_configs",
    "grid_rows",
    "head_run_params",
    "pf_rows",
    "pseudo_feature_configs",
    "read_configs",
]

_DEFAULTS = SETTINGS["feature_space"]  # the experiment layer's defaults for a head's run
_ARCH = ExtractorSettings().arch


def chapter_grids(p: Mapping[str, Any]) -> dict[str, Any]:
    """The chapter's grids from its parameter values ``p``: the thesis protocol's heads on the
    weighted extractor, and the pseudo-feature protocol's on plain cross-entropy ones."""
    head = {
        "hidden": p["head_hidden"],
        "epochs": p["head_epochs"],
        "batch_size": p["head_batch_size"],
    }
    extractor = ExtractorSettings(  # the thesis protocol's extractor; ratio and seed set per run
        protocol="minority", n_minority=p["n_minority"], minority_classes=p["minority_classes"],
        arch=p["arch"], epochs=p["epochs"], batch_size=p["batch_size"], lr=p["lr"],
        n_train=p["n_train"], n_test=p["n_test"],
    )  # fmt: skip
    weighted = extractor.replace(class_weight=p["extractor_weight"])
    pf_extractor = extractor.replace(  # plain cross-entropy (the paper's Step 1)
        ratio=p["pf_ratio"], epochs=p["pf_epochs"], n_train=p["pf_n_train"]
    )
    seeds = list(p["seeds"])
    return {
        "head": head,
        "extractor": extractor,
        "thesis": FeatureGrid(p["methods"], p["ratios"], seeds, weighted, p["rho_d"], head),
        "pseudo": PseudoFeatureGrid(p["pf_methods"], p["pf_n_minor"], seeds, pf_extractor, head),
    }


def read_configs(
    p: Mapping[str, Any], computed: Collection[str] = ()
) -> dict[str, list[RunConfig]]:
    """The runs the chapter reads from tables with parameter values ``p``, by protocol (what
    ``book/grids/chapters.yaml`` is generated from); a protocol in ``computed`` is left out."""
    grids, out = chapter_grids(p), {}
    if "thesis protocol" not in computed:
        out["thesis protocol"] = feature_configs(p["dataset"], grids["thesis"], p["profile"])
    if "pseudo-feature protocol" not in computed:
        pseudo = pseudo_feature_configs(p["dataset"], grids["pseudo"], p["profile"])
        out["pseudo-feature protocol"] = pseudo
    return out


def _readable(ex: ExtractorSettings) -> None:
    """Refuse, by parameter name, settings a run config cannot express."""
    check_readable(ex.arch, _ARCH)


def head_run_params(ex: ExtractorSettings, rho_d: float, head: Any) -> dict[str, Any]:
    """A head run's ``params``: epochs and batch always (as chapter 8's grid), the rest only
    where they differ from the defaults, so equal runs get equal config hashes."""
    params: dict[str, Any] = {"epochs": ex.epochs, "batch_size": ex.batch_size}
    changed = {
        "lr": ex.lr,
        "extractor_weight": ex.class_weight,
        "rho_d": float(rho_d),
    }
    params |= {k: v for k, v in changed.items() if v != _DEFAULTS[k]}
    own = head_changes(head)
    if own:  # only the options that differ from DEFAULT_HEAD
        params["head"] = own
    return params


def _head_runs(
    dataset: str, ex: ExtractorSettings, params: dict[str, Any], profile: str, cells: list
) -> list[RunConfig]:
    """One run config per ``(method, ratio, n_minority, seed)`` of ``cells`` on ``ex``'s data."""
    return [
        RunConfig(method=m, dataset=dataset, ratio=float(r), n_minority=int(k), seed=s,
                  n_train=ex.n_train, n_test=ex.n_test, params=params, profile=profile,
                  minority_classes=ex.minority_classes)
        for m, r, k, s in cells
    ]  # fmt: skip


def feature_configs(dataset: str, grid: FeatureGrid, profile: str) -> list[RunConfig]:
    """Every head run of ``grid`` as a run config, in :func:`run_grid`'s order."""
    ex = grid.extractor
    _readable(ex)
    cells = [
        (m, r, ex.n_minority, s) for s in grid.seeds for r in grid.ratios for m in grid.methods
    ]
    return _head_runs(dataset, ex, head_run_params(ex, grid.rho_d, grid.head), profile, cells)


def pseudo_feature_configs(dataset: str, grid: PseudoFeatureGrid, profile: str) -> list[RunConfig]:
    """Every run of the pseudo-feature protocol as a run config (``k`` minor classes is the
    config's ``n_minority``), in :func:`run_pseudo_feature_protocol`'s order."""
    ex = grid.extractor
    _readable(ex)
    cells = [(m, ex.ratio, k, s) for s in grid.seeds for k in grid.n_minor for m in grid.methods]
    return _head_runs(dataset, ex, head_run_params(ex, 1.0, grid.head), profile, cells)


def grid_rows(
    dataset: str, grid: FeatureGrid, source: Source = COMPUTE, options: RunOptions | None = None
) -> pd.DataFrame:
    """The thesis protocol's head rows: trained here or read from ``source``'s table."""
    if source.computes:
        return run_grid(dataset, grid=grid, options=options).assign(from_table=False)
    return read_rows(feature_configs(dataset, grid, source.profile), source)


def cnn_rows(
    dataset: str, grid: FeatureGrid, source: Source = COMPUTE, options: RunOptions | None = None
) -> pd.DataFrame:
    """The end-to-end CNNs' rows on ``grid``'s splits: this chapter's extractors' own
    classifiers, or chapter 8's ``CNN-CE``/``CNN-CW`` runs of the same recipe from a table."""
    ex = grid.extractor
    if source.computes:
        rows = cnn_reference_rows(dataset, grid.ratios, grid.seeds, ex, options)
        return rows.assign(from_table=False)
    _readable(ex)
    run = LossRunSettings(
        protocol="minority", n_minority=ex.n_minority, minority_classes=ex.minority_classes,
        n_train=ex.n_train, n_test=ex.n_test, epochs=ex.epochs, batch_size=ex.batch_size,
        lr=ex.lr,
    )  # fmt: skip
    losses = LossGrid([CNN_CE, CNN_CW], grid.ratios, grid.seeds, run)
    rows = read_rows(loss_configs(dataset, losses, source.profile), source)
    return rows.assign(n_synthetic=0, n_resampled=rows["n_train"])  # trained on the data as is


def pf_rows(
    dataset: str,
    grid: PseudoFeatureGrid,
    source: Source = COMPUTE,
    options: RunOptions | None = None,
) -> pd.DataFrame:
    """The pseudo-feature protocol's rows (with ``n_minor``): trained here or read."""
    if source.computes:
        rows = run_pseudo_feature_protocol(dataset, grid=grid, options=options)
        return rows.assign(from_table=False)
    rows = read_rows(pseudo_feature_configs(dataset, grid, source.profile), source)
    return rows.assign(n_minor=rows["n_minority"].astype(int))


def _stored_figure(
    dataset: str, grid: FeatureGrid, ratio: float, source: Source
) -> ADOSFigure | None:
    """The figure file the tables hold beside the first seed's ADOS run at ``ratio`` (made
    with the grid's ``rho_d``), or None."""
    one = replace(grid, methods=["ADOS"], ratios=[ratio], seeds=list(grid.seeds)[:1])
    stored = load_figure(source.table_paths, feature_configs(dataset, one, source.profile)[0].key())
    if stored is None:
        return None
    figure = ADOSFigure.from_arrays(stored.arrays, stored.meta)
    return figure if figure.rho_d == float(grid.rho_d) else None


def extractor_figures(
    dataset: str, grid: FeatureGrid, source: Source = COMPUTE, options: RunOptions | None = None
) -> dict[float, ADOSFigure]:
    """What the figures and sentences on the extractors draw, at the smallest and largest
    ratio for the first seed: the figure data a sweep stored beside the ADOS rows read from
    ``source``, or the extractor trained (or loaded from the cache) here."""
    seed, out = list(grid.seeds)[0], {}
    for ratio in sorted({min(grid.ratios), max(grid.ratios)}):
        stored = None if source.computes else _stored_figure(dataset, grid, ratio, source)
        if stored is None:
            ex = train_extractor(dataset, grid.extractor.replace(ratio=ratio, seed=seed), options)
            stored = ADOSFigure.from_extractor(ex, grid.rho_d, seed)
        out[ratio] = stored
    return out


def figures_sentence(figures: Mapping[float, ADOSFigure]) -> str:
    """Where the extractors' figures come from: figure files, or extractors trained here."""
    ratios = " and ".join(f"{r:g}" for r in figures)
    if all(f.network == "figure file" for f in figures.values()):
        same = all(f.meta.get("reproduces_row") for f in figures.values())
        how = (
            "their extractors gave the stored rows' metrics again"
            if same
            else "their extractors were trained again from the same configurations on "
            f"{next(iter(figures.values())).meta.get('cpu', 'another machine')}, so the "
            "figures show the same runs up to the last bits of training"
        )
        return (
            f"Here they are read from the figure data a sweep stored beside the first seed's "
            f"ADOS rows at ρ = {ratios} (`imbnb sweep --figures`), so no network is trained for "
            f"them; {how}."
        )
    return (
        f"Here they are measured on the first seed's extractors at ρ = {ratios}, trained (or "
        "loaded from the cache) by this execution."
    )
