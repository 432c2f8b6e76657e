"""Chapter 8's results: metric-against-ratio curves per method family, and average ranks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.transforms import Bbox

from imbnb.book.style import COLUMN_INCHES

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


#: Layout of :func:`plot_vs_ratio` in inches: a panel's height, one legend line, the margins.
_PANEL_IN, _LINE_IN, _LEFT_IN, _TOP_IN, _XLABEL_IN = 1.9, 0.27, 0.85, 0.35, 0.55
#: Room between two panels of a row (their y tick labels) and right of the last, in inches.
_GAP_IN, _RIGHT_IN = 0.6, 0.2
#: Legend entries per line under a row: three fit the column's width.
_LEGEND_COLUMNS = 3


def _legend_lines(sub: pd.DataFrame, reference: str | None) -> int:
    """Lines the legend under a row takes: its methods, and the reference when it is not one."""
    n = sub["method"].nunique() + int(reference is not None and reference not in set(sub.method))
    return -(-n // _LEGEND_COLUMNS)


def _legend_below(ax: plt.Axes, slot: Bbox) -> None:
    """Move ``ax``'s legend (its lines and the reference) into ``slot`` (a figure-fraction box
    under its row), right-aligned: beside the row it would take a third of the column."""
    handles, names = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.legend(
        handles,
        names,
        loc="lower right",
        bbox_to_anchor=slot,
        bbox_transform=ax.figure.transFigure,
        ncol=min(_LEGEND_COLUMNS, len(names)),
        frameon=False,
        borderaxespad=0.1,
        handlelength=1.5,
        columnspacing=1.0,
    )


def _vs_ratio_grid(
    n_metrics: int, lines: Sequence[int]
) -> tuple[plt.Figure, np.ndarray, list[Bbox]]:
    """A column-wide figure of one row of ``n_metrics`` panels per entry of ``lines``, each row
    followed by a slot for its legend of that many lines (the last one under the x labels).

    Returns the figure, the panels (rows x metrics) and each legend slot's figure-fraction box.
    """
    slots = [0.2 + _LINE_IN * n for n in lines]
    slots[-1] += _XLABEL_IN
    heights = [h for slot in slots for h in (_PANEL_IN, slot)]
    fig = plt.figure(figsize=(COLUMN_INCHES, sum(heights) + _TOP_IN))
    width = COLUMN_INCHES - _LEFT_IN - _RIGHT_IN
    panel = (width - (n_metrics - 1) * _GAP_IN) / n_metrics
    gs = fig.add_gridspec(
        2 * len(lines),
        n_metrics,
        height_ratios=heights,
        hspace=0,
        wspace=_GAP_IN / panel,
        left=_LEFT_IN / COLUMN_INCHES,
        right=1 - _RIGHT_IN / COLUMN_INCHES,
        top=1 - _TOP_IN / fig.get_figheight(),
        bottom=0.0,
    )
    axes = np.empty((len(lines), n_metrics), dtype=object)
    for i in range(len(lines)):
        for j in range(n_metrics):
            share = {"sharex": axes[0, 0], "sharey": axes[0, j]} if i else {}
            axes[i, j] = fig.add_subplot(gs[2 * i, j], **share)
    boxes = [gs[2 * i + 1, :].get_position(fig) for i in range(len(lines))]
    return fig, axes, boxes


def _row_groups(rows: pd.DataFrame, by: str, max_methods: int) -> list[tuple[str, pd.DataFrame]]:
    """(row label, rows) per ``by`` group, a group of more than ``max_methods`` methods split
    over as few rows as fit, evenly ("feature space 1/2", ...), so its bands do not pile up."""
    out = []
    for group in dict.fromkeys(rows[by]):
        sub = rows[rows[by] == group]
        methods = list(dict.fromkeys(sub["method"]))
        n_parts = -(-len(methods) // max_methods)  # as few rows as fit, filled evenly
        size, extra = divmod(len(methods), n_parts)
        bounds = [k * size + min(k, extra) for k in range(n_parts + 1)]
        parts = [methods[bounds[k] : bounds[k + 1]] for k in range(n_parts)]
        name = str(group).replace("_", " ")
        for k, part in enumerate(parts, 1):
            label = name if len(parts) == 1 else f"{name} {k}/{len(parts)}"
            out.append((label, sub[sub["method"].isin(part)]))
    return out


@dataclass(frozen=True)
class _RowStyle:
    """What every row of :func:`plot_vs_ratio` shares."""

    metrics: Sequence[str]
    ref: pd.DataFrame  # the reference method's rows (none without one)
    reference: str | None
    labels: Mapping[str, str]
    errorbar: str | None
    n_groups: int


def _family_row(
    axes: Sequence[plt.Axes], sub: pd.DataFrame, label: str, i: int, st: _RowStyle
) -> None:
    """Row ``i``: each metric of the group's methods, the reference dashed, axes labelled."""

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
            markersize=5,
            errorbar=st.errorbar,
            ax=ax,
            legend=j == len(st.metrics) - 1,
        )
        if len(st.ref) and st.reference not in methods:
            _reference_line(ax, st.ref, metric, st.reference)
        ax.set(
            xscale="log",
            xlabel="ratio" if i == st.n_groups - 1 else "",
            ylabel=label if j == 0 else "",
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
    max_methods: int = 4,
) -> plt.Figure:
    """Each metric against the imbalance ratio, one row of panels per ``by`` group (chapter 8).

    Thirty methods on one panel cannot be told apart; a row per family keeps each panel to a
    handful, with its own colours and legend (under the row), and a family of more than
    ``max_methods`` methods wraps onto further rows. ``reference`` (a method in ``rows``) is
    drawn as a dashed grey line in every row without it, so each row is read against the same
    baseline. Shaded bands are ``errorbar`` over seeds (seaborn's; ``None`` for none).
    ``bounds`` is the metrics' range (every imbnb metric lies in [0, 1]): the axes stop just
    past it, so a band of mean ± sd that crosses 0 is cut there rather than drawn over
    impossible values. The figure is the book's column wide (:data:`COLUMN_INCHES`).
    """
    _check_vs_ratio(rows, metrics, by, reference)
    if max_methods < 1:
        raise ValueError(f"max_methods must be at least 1, not {max_methods}")
    labels = dict(labels or {})
    groups = _row_groups(rows, by, max_methods)
    fig, axes, slots = _vs_ratio_grid(
        len(metrics), [_legend_lines(sub, reference) for _, sub in groups]
    )
    ref = rows[rows["method"] == reference] if reference is not None else rows.iloc[:0]
    style = _RowStyle(metrics, ref, reference, labels, errorbar, len(groups))
    for i, (label, sub) in enumerate(groups):
        _family_row(axes[i], sub, label, i, style)
        _legend_below(axes[i, -1], slots[i])
        if i < len(groups) - 1:
            for ax in axes[i]:
                ax.tick_params(which="both", labelbottom=False)  # ratios: under the last row
    if bounds is not None:
        for ax in axes[0]:  # rows share y per column
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(lo, bounds[0] - 0.02), min(hi, bounds[1] + 0.02))
    ratios = sorted(set(rows["ratio"]))
    for ax in axes[-1]:
        ax.set_xticks(ratios, [f"{r:g}" for r in ratios])
        ax.minorticks_off()
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
        _, ax = plt.subplots(figsize=(COLUMN_INCHES, 0.3 * len(ranks) + 1), layout="constrained")
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
