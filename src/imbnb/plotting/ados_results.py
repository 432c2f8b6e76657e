"""Chapter 3's result curves: each measure against the ratio, and the pseudo-feature protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from imbnb.book.style import facet_height

__all__ = ["plot_methods_vs_ratio", "plot_pseudo_feature_protocol"]


def _long_form(
    table: pd.DataFrame, ids: list[str], metrics: Mapping[str, str], subject: str
) -> pd.DataFrame:
    """``table`` in long form (one row per id and measure, measures by their labels); a
    missing column is refused in a sentence that starts with ``subject`` ("rows lack")."""
    absent = sorted({*ids, *metrics} - set(table.columns))
    if absent:
        raise ValueError(f"{subject} the columns {absent}")
    long = table.melt(id_vars=ids, value_vars=list(metrics), var_name="measure", value_name="value")
    long["measure"] = long["measure"].map(metrics)
    return long


def _legend_below(grid: Any) -> None:
    """The grid's legend under its panels in three columns: beside them it would make the
    figure wider than the text column and shrink every label on the page."""

    sns.move_legend(
        grid, "upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, title=None, frameon=False
    )


def plot_methods_vs_ratio(
    rows: pd.DataFrame,
    metrics: Mapping[str, str],
    order: Sequence[str],
    ratios: Sequence[float],
    *,
    title: str,
    dashed_prefix: str = "CNN",
) -> plt.Figure:
    """Each metric (a panel, titled by ``metrics[col]``) against the ratio, a line per method.

    Means over seeds with ±sd bands, on a log ratio axis ticked at ``ratios``; methods in
    ``order`` (up to 20 distinct colours), those starting with ``dashed_prefix`` dashed
    (chapter 3's end-to-end CNNs beside the heads).
    """

    long = _long_form(rows, ["method", "ratio", "seed"], metrics, "rows lack")
    colors = sns.color_palette("tab10") + sns.color_palette("dark", 10)  # distinct up to 20
    palette = dict(zip(order, colors[: len(order)], strict=True))
    dashes = {m: (2, 2) if m.startswith(dashed_prefix) else "" for m in order}
    grid = sns.relplot(
        data=long,
        x="ratio",
        y="value",
        hue="method",
        style="method",
        col="measure",
        col_wrap=2,
        kind="line",
        markers=True,
        dashes=dashes,
        palette=palette,
        hue_order=order,
        style_order=order,
        errorbar="sd",
        height=facet_height(2, 1.35, beside=0.4),  # two facets a row, the column wide
        aspect=1.35,
        facet_kws={"sharey": False, "legend_out": False},
    )
    _legend_below(grid)
    grid.set(xscale="log", xlabel="imbalance ratio ρ", ylabel="")
    for ax in grid.axes.flat:
        ax.set_xticks(ratios, labels=[str(r) for r in ratios])
        ax.minorticks_off()
    grid.set_titles("{col_name}")
    grid.figure.suptitle(title, y=1.02)
    return grid.figure


def plot_pseudo_feature_protocol(
    pf: pd.DataFrame,
    metrics: Mapping[str, str],
    *,
    hue_order: Sequence[str],
    n_minor: Sequence[int],
    title: str,
) -> plt.Figure:
    """Each measure against the number of minor classes, a line per method ``name`` (ch. 3).

    ``pf``: rows of :func:`imbnb.methods.feature_space.run_pseudo_feature_protocol` with a
    ``name`` column (the method as the pseudo-feature paper calls it); means over seeds ±sd.
    """

    pf_long = _long_form(pf, ["name", "n_minor", "seed"], metrics, "pf lacks")
    grid = sns.relplot(
        data=pf_long,
        x="n_minor",
        y="value",
        hue="name",
        style="name",
        col="measure",
        col_wrap=2,
        kind="line",
        markers=True,
        errorbar="sd",
        height=facet_height(2, 1.35, beside=0.4),  # two facets a row, the column wide
        aspect=1.35,
        facet_kws={"sharey": False, "legend_out": False},
        hue_order=hue_order,
    )
    _legend_below(grid)
    grid.set(xlabel="number of minor classes", ylabel="")
    for ax in grid.axes.flat:
        ax.set_xticks(n_minor)
    grid.set_titles("{col_name}")
    grid.figure.suptitle(title, y=1.02)
    return grid.figure
