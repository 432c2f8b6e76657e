"""Chapter 9's loss baselines: per-class corrections of each loss, per-class recall heat map,
both drawn the book's column wide."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from imbnb.book.style import COLUMN_INCHES, facet_height
from imbnb.plotting.ticks import log_ticks

__all__ = ["plot_class_corrections", "plot_methods_by_setting", "plot_recall_heatmap"]


def _wrap(label: str, width: int = 16) -> str:
    """``label`` on two or more lines, a row's label: broken before its parenthesis when it has
    one ("CB weight" over "(mean 1)"), else at spaces every ``width`` characters or so."""
    if " (" in label:
        return label.replace(" (", "\n(", 1)
    return textwrap.fill(label, width, break_long_words=False)


def plot_class_corrections(
    corr: pd.DataFrame, *, log_prefixes: Sequence[str] = ("n_j", "BL+CW", "CNN-CW", "CB")
) -> plt.Figure:
    """Bars of each loss's per-class correction (rows) under each protocol (columns), ch. 9.

    ``corr``: tidy rows (protocol, correction, class, value, group). A row shares its y axis,
    so the two protocols' corrections compare at a glance, and the figure is the book's column
    wide. Rows whose correction starts with one of ``log_prefixes`` use a log axis with
    plain-number ticks: counts and weights span 100x, and on a linear axis the majority bars
    would not show.
    """

    absent = sorted({"protocol", "correction", "class", "value", "group"} - set(corr.columns))
    if absent:
        raise ValueError(f"corr lacks the columns {absent}")
    n_cols = corr["protocol"].nunique()
    grid = sns.catplot(
        data=corr,
        x="class",
        y="value",
        hue="group",
        col="protocol",
        row="correction",
        kind="bar",
        sharey="row",
        height=1.75,
        aspect=COLUMN_INCHES / n_cols / 1.75,  # the figure is the column wide
        dodge=False,
        palette={"majority": "tab:blue", "minority": "tab:red"},
        legend_out=False,
    )
    grid.set_titles(template="")
    grid.set(xlabel="", ylabel="")
    for (row, col), ax in grid.axes_dict.items():
        if row == grid.row_names[0]:
            ax.set_title(col)  # the protocol, over its column
        if col == grid.col_names[0]:
            ax.set_ylabel(_wrap(row))  # the correction, beside its row
        if row.startswith(tuple(log_prefixes)):
            ax.set_yscale("log")
            log_ticks(ax, "y")  # plain numbers
    for ax in grid.axes[-1]:
        ax.set_xlabel("class")
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, title=None)
    grid.figure.tight_layout()
    return grid.figure


def plot_recall_heatmap(
    recalls: pd.DataFrame,
    *,
    title: str,
    xlabel: str = "class (* minority), training images n",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Heat map of test recall, a row per method and a column per class, annotated (ch. 9).

    Drawn the book's column wide, its class labels upright: ten classes leave each column
    too narrow for a label written across it.
    """

    if recalls.empty:
        raise ValueError("recalls is empty: nothing to plot")
    own_figure = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(COLUMN_INCHES, 0.42 * len(recalls) + 2.4))
    sns.heatmap(
        recalls,
        annot=True,
        fmt=".2f",
        cmap="rocket_r",
        vmin=0,
        vmax=1,
        cbar=False,
        annot_kws={"size": 10},
        ax=ax,
    )
    ax.set(xlabel=xlabel, ylabel="", title=title)
    ax.tick_params(axis="x", labelsize=10, rotation=90)
    ax.tick_params(axis="y", labelsize=11)
    if own_figure:
        ax.figure.tight_layout()  # the method names inside the column
    return ax


_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")


def plot_methods_by_setting(
    rows: pd.DataFrame,
    metrics: dict[str, str],
    order: Sequence[str],
    settings: Sequence[str],
    *,
    reference: str = "CNN-CE",
    title: str = "",
) -> plt.Figure:
    """Each method's mean ± std over seeds of each metric (a facet per metric on its own
    range, two per row), one marker per setting, ``reference``'s row shaded: chapter 9's
    overview, column wide.

    ``rows``: one per run with ``setting``, ``method``, ``seed`` and the ``metrics`` columns.
    The legend sits below the facets so they keep the column's width.
    """

    long = rows.melt(id_vars=["setting", "method", "seed"], value_vars=list(metrics),
                     var_name="measure", value_name="value")  # fmt: skip
    long["measure"] = long["measure"].map(metrics)
    markers = list(_MARKERS[: len(settings)])
    grid = sns.catplot(
        data=long, y="method", x="value", hue="setting", col="measure", col_wrap=2,
        kind="point", order=list(order), hue_order=list(settings), errorbar="sd",
        linestyle="none", dodge=0.4, markers=markers, palette="deep", legend=False,
        height=facet_height(2, 1.3), aspect=1.3,  # the column wide, method names inside it
        sharex=False,  # each measure on its own range: the gaps show
    )  # fmt: skip
    grid.set_titles("{col_name}")
    grid.set(xlabel="", ylabel="")
    for ax in grid.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(3))
        if reference in order:
            ax.axhline(list(order).index(reference), color="0.85", lw=6, zorder=0)
    colours = sns.color_palette("deep", len(settings))
    handles = [
        Line2D([], [], marker=m, color=c, linestyle="none", markersize=8)
        for m, c in zip(markers, colours, strict=True)
    ]
    grid.figure.legend(handles, list(settings), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                       ncol=2, frameon=False)  # fmt: skip
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure
