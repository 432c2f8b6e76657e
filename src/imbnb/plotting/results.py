"""Chapter 8's results: metric-against-ratio curves per method family, and average ranks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_ranks", "plot_vs_ratio"]


def _check_vs_ratio(
    rows: pd.DataFrame, metrics: Sequence[str], by: str, reference: str | None
) -> None:
    """Refuse rows that cannot be drawn, naming what is missing."""
    need = {"method", "ratio", by, *metrics}
    absent = sorted(need - set(rows.columns))
    if absent:
        raise ValueError(f"rows lack the columns {absent} (metrics={list(metrics)}, by={by!r})")
    if not len(metrics):
        raise ValueError("metrics must name at least one column")
    if rows.empty:
        raise ValueError("rows is empty: nothing to plot")
    if reference is not None and reference not in set(rows["method"]):
        raise ValueError(
            f"reference {reference!r} is not a method in rows; use one of "
            f"{sorted(set(rows['method']))} or None"
        )


def _reference_line(ax: plt.Axes, ref: pd.DataFrame, metric: str, reference: str) -> None:
    """The reference method's mean over seeds, a dashed grey line."""
    mean = ref.groupby("ratio")[metric].mean()
    ax.plot(
        mean.index,
        mean.to_numpy(),
        ls="--",
        color="0.5",
        lw=1.2,
        label=f"{reference} (reference)",
    )


def _legend_outside(ax: plt.Axes) -> None:
    """Move ``ax``'s legend (its lines and the reference) out to the right of the row."""
    handles, names = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.legend(
        handles,
        names,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
    )


@dataclass(frozen=True)
class _RowStyle:
    """What every row of :func:`plot_vs_ratio` shares."""

    metrics: Sequence[str]
    ref: pd.DataFrame  # the reference method's rows (none without one)
    reference: str | None
    labels: Mapping[str, str]
    errorbar: str | None
    n_groups: int


def _family_row(axes: Sequence[plt.Axes], sub: pd.DataFrame, group, i: int, st: _RowStyle) -> None:
    """Row ``i``: each metric of the group's methods, the reference dashed, axes labelled."""
    import seaborn as sns

    methods = list(dict.fromkeys(sub["method"]))
    palette = sns.color_palette("tab10" if len(methods) <= 10 else "husl", len(methods))
    for j, (ax, metric) in enumerate(zip(axes, st.metrics, strict=True)):
        sns.lineplot(
            data=sub,
            x="ratio",
            y=metric,
            hue="method",
            hue_order=methods,
            palette=palette,
            marker="o",
            errorbar=st.errorbar,
            ax=ax,
            legend=j == len(st.metrics) - 1,
        )
        if len(st.ref) and st.reference not in methods:
            _reference_line(ax, st.ref, metric, st.reference)
        ax.set(
            xscale="log",
            xlabel="ratio" if i == st.n_groups - 1 else "",
            ylabel=str(group).replace("_", " ") if j == 0 else "",
        )
        if i == 0:
            ax.set_title(st.labels.get(metric, metric))


def plot_vs_ratio(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    *,
    by: str = "family",
    reference: str | None = "BL",
    labels: Mapping[str, str] | None = None,
    errorbar: str | None = "sd",
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> plt.Figure:
    """Each metric against the imbalance ratio, one row of panels per ``by`` group (chapter 8).

    Thirty methods on one panel cannot be told apart; a row per family keeps each panel to a
    handful, with its own colours and legend. ``reference`` (a method in ``rows``) is drawn as
    a dashed grey line in every other row, so each family is read against the same baseline.
    Shaded bands are ``errorbar`` over seeds (seaborn's; ``None`` for none). ``bounds`` is the
    metrics' range (every imbnb metric lies in [0, 1]): the axes stop just past it, so a band
    of mean ± sd that crosses 0 is cut there rather than drawn over impossible values.
    """
    _check_vs_ratio(rows, metrics, by, reference)
    labels = dict(labels or {})
    groups = list(dict.fromkeys(rows[by]))
    fig, axes = plt.subplots(
        len(groups),
        len(metrics),
        squeeze=False,
        sharex=True,
        sharey="col",
        figsize=(3.3 * len(metrics) + 2.4, 2.4 * len(groups)),
    )
    ref = rows[rows["method"] == reference] if reference is not None else rows.iloc[:0]
    style = _RowStyle(metrics, ref, reference, labels, errorbar, len(groups))
    for i, group in enumerate(groups):
        sub = rows[rows[by] == group]
        _family_row(axes[i], sub, group, i, style)
        _legend_outside(axes[i, -1])
    if bounds is not None:
        for ax in axes[0]:  # rows share y per column
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(lo, bounds[0] - 0.02), min(hi, bounds[1] + 0.02))
    ratios = sorted(set(rows["ratio"]))
    for ax in axes[-1]:
        ax.set_xticks(ratios, [f"{r:g}" for r in ratios])
        ax.minorticks_off()
    fig.tight_layout()
    return fig


def plot_ranks(ranks: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Average ranks (1 = best, top) as points with ±CD/2 bars, from :func:`draw_ranks`.

    Two methods whose bars overlap are not distinguishable at the 5% level. The axis spans the
    possible ranks, 1 to the number of methods, so bars longer than that are cut at its edges.
    """
    cd = ranks.attrs.get("critical_difference")
    if cd is None or "average rank" not in ranks.columns:
        raise ValueError(
            "ranks must come from imbnb.experiments.draw_ranks (an 'average "
            "rank' column and attrs['critical_difference'])"
        )
    if ranks.empty:
        raise ValueError("ranks is empty: no method ran in every setting")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.3 * len(ranks) + 1))
    y = np.arange(len(ranks))
    ax.errorbar(ranks["average rank"], y, xerr=cd / 2, fmt="o", capsize=3)
    ax.set(
        yticks=y,
        yticklabels=list(ranks.index),
        xlabel="average rank (±CD/2)",
        xlim=(0.5, len(ranks) + 0.5),
        ylim=(len(ranks) - 0.5, -0.5),
    )  # best on top
    return ax
