"""Chapter 9's loss baselines: per-class corrections of each loss, per-class recall heat map,
both drawn the book's column wide."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from imbnb.book.style import COLUMN_INCHES
from imbnb.plotting.ticks import log_ticks

__all__ = ["plot_class_corrections", "plot_recall_heatmap"]


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
    import seaborn as sns

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
    import seaborn as sns

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
