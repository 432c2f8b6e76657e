"""Chapter 9's loss baselines: per-class corrections of each loss, per-class recall heat map."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from imbnb.plotting.ticks import log_ticks

__all__ = ["plot_class_corrections", "plot_recall_heatmap"]


def plot_class_corrections(
    corr: pd.DataFrame, *, log_prefixes: Sequence[str] = ("n_j", "BL+CW", "CB")
) -> plt.Figure:
    """Bars of each loss's per-class correction (columns) under each protocol (rows), ch. 9.

    ``corr``: tidy rows (protocol, correction, class, value, group). Panels whose correction
    starts with one of ``log_prefixes`` use a log axis with plain-number ticks: counts and
    weights span 100x, and on a linear axis the majority bars would not show.
    """
    import seaborn as sns

    absent = sorted({"protocol", "correction", "class", "value", "group"} - set(corr.columns))
    if absent:
        raise ValueError(f"corr lacks the columns {absent}")
    grid = sns.catplot(
        data=corr,
        x="class",
        y="value",
        hue="group",
        col="correction",
        row="protocol",
        kind="bar",
        sharey=False,
        height=2.6,
        aspect=1.0,
        dodge=False,
        palette={"majority": "tab:blue", "minority": "tab:red"},
    )
    grid.set_titles("{col_name}")
    grid.set(xlabel="class", ylabel="")
    for (row, col), ax in grid.axes_dict.items():
        if col == grid.col_names[0]:
            ax.set_ylabel(row.replace(", ", ",\n"))  # the protocol, beside its row
        if col.startswith(tuple(log_prefixes)):
            ax.set_yscale("log")
            log_ticks(ax, "y")  # plain numbers
    return grid.figure


def plot_recall_heatmap(
    recalls: pd.DataFrame,
    *,
    title: str,
    xlabel: str = "class (* minority), training images n",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Heat map of test recall, a row per method and a column per class, annotated (ch. 9)."""
    import seaborn as sns

    if recalls.empty:
        raise ValueError("recalls is empty: nothing to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.45 * len(recalls) + 1.6))
    sns.heatmap(
        recalls,
        annot=True,
        fmt=".2f",
        cmap="rocket_r",
        vmin=0,
        vmax=1,
        cbar=False,
        annot_kws={"size": 8},
        ax=ax,
    )
    ax.set(xlabel=xlabel, ylabel="", title=title)
    ax.tick_params(axis="x", labelsize=8, rotation=0)
    return ax
