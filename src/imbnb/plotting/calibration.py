"""Chapter 7's weighted-calibration panels: the three steps on 2-D data, and its knob sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from imbnb.book.style import column_figsize
from imbnb.plotting.toys import covariance_ellipse

__all__ = ["CALIBRATED_COLOUR", "COMPONENT_COLOUR", "plot_calibration_steps", "plot_knob_sweep"]


#: What each colour means in every panel: a class's own colour (tab10) for its points and
#: the SMOTE rows that grow it; black for the saved mixture components; crimson for what the
#: calibration makes (a minority point's calibrated Gaussian and its Cauchy draws).
COMPONENT_COLOUR, CALIBRATED_COLOUR = "k", "crimson"


def _scatter_classes(axes: Sequence[plt.Axes], X: np.ndarray, y: np.ndarray, sampler) -> None:
    """Every class in its tab10 colour on each panel, labelled with its partition on the first."""
    palette = plt.get_cmap("tab10")
    labels = {c: f"class {c}: {sampler.partition_[c]}" for c in sampler.partition_}
    for cls in np.unique(y):
        for ax in axes:
            ax.scatter(
                *X[y == cls].T,
                s=8,
                color=palette(int(cls)),
                alpha=0.5,
                label=labels[cls] if ax is axes[0] else None,
            )


def _mixture_panel(ax: plt.Axes, sampler) -> None:
    """(a): the saved mixture components, a cross and a 2-sd ellipse each."""
    for i, (mean, cov) in enumerate(zip(sampler.means_, sampler.covariances_, strict=True)):
        label = "saved component (2 sd)" if i == 0 else None
        ax.plot(*mean, "+", color=COMPONENT_COLOUR, ms=10, label=label)
        covariance_ellipse(ax, mean, cov, color=COMPONENT_COLOUR, lw=1)
    ax.set_title("(a) partition, mixture components")


def _calibrated_point_panel(
    ax: plt.Axes, X: np.ndarray, y: np.ndarray, sampler, point: int
) -> np.ndarray:
    """(b): one minority point, its nearest saved means, its calibrated Gaussian; the means."""
    palette = plt.get_cmap("tab10")
    cls = int(y[point])
    row = int(np.flatnonzero(np.flatnonzero(y == cls) == point)[0])
    near = sampler.mean_indices_[cls][row]
    for i, j in enumerate(near):
        label = "to a nearest saved component" if i == 0 else None
        ax.plot(
            *np.c_[X[point], sampler.means_[j]], "--", color=COMPONENT_COLOUR, lw=1, label=label
        )
        covariance_ellipse(
            ax, sampler.means_[j], sampler.covariances_[j], color=COMPONENT_COLOUR, lw=1
        )
    mu = sampler.calibrated_means_[cls][row]
    Xc = X[y == cls]
    own = dict(color=palette(cls), lw=1.5, ls=":", label="its class's covariance")
    covariance_ellipse(ax, Xc.mean(0), np.cov(Xc.T, bias=True), **own)
    calibrated = dict(color=CALIBRATED_COLOUR, lw=2, label="calibrated covariance")
    covariance_ellipse(ax, mu, sampler.calibrated_covariances_[cls][row], **calibrated)
    ax.plot(*X[point], "o", color=CALIBRATED_COLOUR, mfc="none", ms=12, label="the point")
    ax.plot(*mu, "*", color=CALIBRATED_COLOUR, ms=14, ls="", label="calibrated mean")
    ax.set_title("(b) one minority point, calibrated")
    return near


def _synthetic_panel(ax: plt.Axes, X_res: np.ndarray, sampler, y_res: np.ndarray | None) -> None:
    """(c): the synthetic rows, Cauchy draws (minority, crimson) and SMOTE rows (median
    classes, each in its class's colour; dark grey without ``y_res``)."""
    palette = plt.get_cmap("tab10")
    synth = sampler.is_synthetic_
    cauchy = synth & (sampler.origin_ == "calibration")
    ax.scatter(*X_res[cauchy].T, s=14, marker="x", color=CALIBRATED_COLOUR, label="Cauchy rows")
    smote = synth & (sampler.origin_ == "smote")
    classes = [None] if y_res is None else list(np.unique(y_res[smote]))
    for cls in classes:
        sel = smote if cls is None else smote & (y_res == cls)
        ax.scatter(
            *X_res[sel].T,
            s=14,
            marker="^",
            color="0.3" if cls is None else palette(int(cls)),
            edgecolor="k",
            linewidth=0.4,
            label="SMOTE rows" if cls is None else f"SMOTE rows (class {cls})",
        )
    ax.set_title("(c) synthetic rows")


def _legend_below(ax: plt.Axes, ncol: int = 1) -> None:
    """``ax``'s legend under the panel, where it hides none of the points."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=ncol, frameon=False)


def plot_calibration_steps(
    X: np.ndarray,
    y: np.ndarray,
    X_res: np.ndarray,
    sampler,
    point: int,
    axes: Sequence[plt.Axes],
    *,
    y_res: np.ndarray | None = None,
) -> None:
    """Three panels of weighted calibration on 2-D data (chapter 7), each legend under its panel.

    (a) the class partition and the saved mixture components; (b) one minority point, its k
    nearest saved means, and its calibrated mean and covariance beside the class covariance;
    (c) the synthetic rows: Cauchy draws for minority classes, SMOTE for median ones. A colour
    means one thing in every panel (:data:`CALIBRATED_COLOUR`, :data:`COMPONENT_COLOUR`).
    """
    a, b, c = axes
    _scatter_classes((a, b, c), X, y, sampler)
    _mixture_panel(a, sampler)
    near = _calibrated_point_panel(b, X, y, sampler, point)
    _synthetic_panel(c, X_res, sampler, y_res)
    for ax in (a, b, c):
        _legend_below(ax)
    lo, hi = X.min(0) - 1, X.max(0) + 1
    for ax in (a, c):
        ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xticks=[], yticks=[])
    span = 1.2 * np.abs(sampler.means_[near] - X[point]).max() + 0.5  # zoom on the point
    b.set(
        xlim=(X[point, 0] - span, X[point, 0] + span),
        ylim=(X[point, 1] - span, X[point, 1] + span),
        xticks=[],
        yticks=[],
    )


def plot_knob_sweep(
    sweep: pd.DataFrame,
    knobs: Sequence[Any] = ("k", "cap"),
    metrics: Sequence[str] = ("f1_macro", "gmean"),
) -> plt.Figure:
    """One panel per knob: each of ``metrics`` (mean over seeds) against the knob's value.

    ``sweep``: rows with ``knob``, ``value`` and the metric columns (chapter 7's sweep of
    weighted calibration's ``k`` and component cap); log axis ticked at the values run.
    """
    absent = sorted({"knob", "value", *metrics} - set(sweep.columns))
    if absent:
        raise ValueError(f"sweep lacks the columns {absent}")
    # a column wide (text at its set size on the page); one legend, on the first panel
    size = column_figsize(aspect=0.5 if len(knobs) > 1 else 0.6)
    fig, axes = plt.subplots(1, len(knobs), figsize=size, squeeze=False, sharey=True)
    for i, (ax, knob) in enumerate(zip(axes[0], knobs, strict=True)):
        part = sweep[sweep.knob == knob].groupby("value")[list(metrics)].mean()
        part.plot(ax=ax, marker="o", logx=True, legend=i == 0)
        ax.set(xlabel=knob, ylabel="score" if i == 0 else "", ylim=(0, 1))
        ax.set_xticks(part.index, labels=[f"{v:g}" for v in part.index])  # ticks at the values run
        ax.minorticks_off()
    fig.tight_layout()
    return fig
