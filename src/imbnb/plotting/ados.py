"""Chapter 3's ADOS figures: one ADOS step beside one SMOTE step, and the adaptive ``k``.

The long lists of marks travel as small dataclasses (:class:`AdosSmoteMarks`,
:class:`AdaptiveKCurve`): each function takes its object, not the fields as keywords.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from imbnb.book.style import column_figsize

__all__ = ["AdaptiveKCurve", "AdosSmoteMarks", "plot_adaptive_k", "plot_ados_smote_steps"]


@dataclass(frozen=True)
class AdosSmoteMarks:
    """One ADOS and one SMOTE step from the same seed: what the two top panels mark."""

    seed_point: np.ndarray  # the seed x_i
    ados_neighbors: np.ndarray  # ADOS: the k_i neighbours (points)
    ados_weights: np.ndarray  # ADOS: their weights w_ij (eq. 4.5)
    ados_centre: np.ndarray  # ADOS: the synthetic neighbour x-hat (eq. 4.6)
    ados_new: np.ndarray  # ADOS: the new point (eq. 4.7)
    delta: float
    smote_neighbors: np.ndarray  # SMOTE: the seed's nearest minority neighbours (points)
    smote_pick: np.ndarray  # SMOTE: the one drawn
    smote_new: np.ndarray  # SMOTE: the new point
    gap: float


def _step_tail(
    ax: plt.Axes,
    seed_point: np.ndarray,
    target: np.ndarray,
    new: np.ndarray,
    colour: str,
    new_label: str,
    title: str,
) -> None:
    """One oversampling step's common marks: seed -> target line, the seed, the new point."""
    ax.plot(*np.c_[seed_point, target], c=colour, ls="--", lw=1)
    ax.scatter(*seed_point, marker="s", s=70, c="k", label="seed x_i")
    ax.scatter(*new, marker="*", s=260, c="tab:green", edgecolor="k", label=new_label)
    ax.set_title(title)


def _ados_step(ax: plt.Axes, m: AdosSmoteMarks) -> None:
    """Top left: ADOS's weighted neighbours, their weighted mean and the new point."""
    ax.scatter(
        *m.ados_neighbors.T,
        s=2000 * m.ados_weights,
        facecolor="none",
        edgecolor="tab:orange",
        lw=1.5,
        label=f"k = {len(m.ados_neighbors)} neighbours (size ∝ weight)",
    )
    ax.scatter(
        *m.ados_centre, marker="D", s=60, c="tab:orange", label="synthetic neighbour x̂ (eq. 4.6)"
    )
    _step_tail(ax, m.seed_point, m.ados_centre, m.ados_new, "tab:orange",
               f"new point, δ = {m.delta:.2f} (eq. 4.7)", "one ADOS step")  # fmt: skip


def _smote_step(ax: plt.Axes, m: AdosSmoteMarks) -> None:
    """Top right: SMOTE's nearest neighbours, the one picked and the new point."""
    ax.scatter(
        *m.smote_neighbors.T,
        s=140,
        facecolor="none",
        edgecolor="tab:blue",
        lw=1.5,
        label=f"{len(m.smote_neighbors)} nearest neighbours",
    )
    _step_tail(ax, m.seed_point, m.smote_pick, m.smote_new, "tab:blue",
               f"new point, gap = {m.gap:.2f}", "one SMOTE step")  # fmt: skip


def _zoom(axes: np.ndarray, m: AdosSmoteMarks, minor: np.ndarray) -> None:
    """Top row: zoom on the seed's neighbourhood; bottom row: on the minority class."""
    near = np.vstack([m.ados_neighbors, m.smote_neighbors, np.atleast_2d(m.seed_point)])
    lo, hi = near.min(axis=0), near.max(axis=0)
    pad = 0.35 * (hi - lo).max()
    for ax in axes[0]:
        ax.set(xlim=(lo[0] - pad, hi[0] + pad), ylim=(lo[1] - pad, hi[1] + pad))
    lo, hi = minor.min(axis=0), minor.max(axis=0)
    for ax in axes[1]:
        ax.set(xlim=(lo[0] - 1.0, hi[0] + 0.5), ylim=(lo[1] - 1.0, hi[1] + 0.5))


def plot_ados_smote_steps(
    X: np.ndarray,
    y: np.ndarray,
    marks: AdosSmoteMarks,
    *,
    resampled: Mapping[str, np.ndarray],
) -> plt.Figure:
    """One ADOS step beside one SMOTE step on 2-D data (top), and both run to balance (ch. 3).

    ``X``, ``y``: the toy set (0 majority, 1 minority). Top left: the seed, ADOS's weighted
    neighbours (marker size ∝ weight), their weighted mean ``ados_centre`` and the new point
    at ``delta``; top right: SMOTE's neighbours, the one picked and the new point at ``gap``.
    ``marks``: the two steps (:class:`AdosSmoteMarks`). ``resampled``: two named resampled
    sets whose rows after ``len(X)`` are synthetic.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) != len(y):
        raise ValueError(f"X must be (n, 2) with one label per row, got {X.shape}, {y.shape}")
    if len(resampled) != 2:
        raise ValueError(f"resampled must hold two sets (ADOS, SMOTE), got {list(resampled)}")
    major, minor = X[y == 0], X[y == 1]
    fig, axes = plt.subplots(2, 2, figsize=column_figsize(2, aspect=0.62))  # the column wide
    for ax in axes.flat:
        ax.scatter(*major.T, s=8, c="0.8", label="majority")
        ax.scatter(*minor.T, s=28, c="tab:red", edgecolor="k", lw=0.4, label="minority")
    _ados_step(axes[0, 0], marks)
    _smote_step(axes[0, 1], marks)
    for ax, (name, Xr) in zip(axes[1], resampled.items(), strict=True):
        syn = Xr[len(X) :]
        ax.scatter(*syn.T, s=6, c="tab:green", alpha=0.5, label=f"{len(syn)} synthetic rows")
        ax.set_title(f"{name}, minority grown\nto the majority size")  # fits half the column
    _zoom(axes, marks, minor)
    # each legend below its panel (inside, it would hide what the panel shows), the left ones
    # from the left edge and the right ones from the right so that they never meet; the
    # majority and minority markers are named under the panels of the bottom row
    for r, row in enumerate(axes):
        for ax, (loc, x) in zip(row, [("upper left", 0.0), ("upper right", 1.0)], strict=True):
            pairs = [(h, t) for h, t in zip(*ax.get_legend_handles_labels(), strict=True)
                     if r == 1 or t not in ("majority", "minority")]  # fmt: skip
            ax.legend(*zip(*pairs, strict=True), loc=loc, bbox_to_anchor=(x, -0.09),
                      frameon=False)  # fmt: skip
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class AdaptiveKCurve:
    """Algorithm 4 on class ``cls``: each point's ``(d_x, k)`` and ``k`` over a distance grid.

    :class:`imbnb.methods.ados_figure.KProfile` has these fields too and can be plotted as is.
    """

    d_x: np.ndarray  # distance of each point of the class to its nearest in-class neighbour
    ks: np.ndarray  # the k Algorithm 4 gives each point
    grid_d: np.ndarray  # distances spanning [d_min, d_max]
    grid_k: Sequence[int]  # Algorithm 4's k at each of them
    k_max: Mapping[int, int]  # class -> k_max^(c) (eq. 4.3)
    cls: int


def _k_points(
    ax: plt.Axes, curve: AdaptiveKCurve, title: str, rng: np.random.Generator | None
) -> None:
    """Left: Algorithm 4's line and the class's points, ``k`` jittered by ``rng``."""
    ks = curve.ks
    ax.plot(curve.grid_d, curve.grid_k, c="0.6", lw=1, label="Algorithm 4 over [d_min, d_max]")
    ax.scatter(
        curve.d_x,
        ks + (rng.uniform(-0.15, 0.15, len(ks)) if rng is not None else 0.0),
        s=12,
        c="tab:red",
        label=f"{len(ks)} training points of class {curve.cls}",
    )
    ax.set(
        xlabel="distance to the nearest in-class neighbour d_x",
        ylabel="k (jittered)" if rng is not None else "k",
        title=title,
    )
    ax.legend(frameon=True)


def _k_max_bars(
    ax: plt.Axes, k_max: Mapping[int, int], class_names: Sequence[str], minority: Sequence[int]
) -> None:
    """Right: the class-wise ``k_max`` of eq. 4.3, minority classes starred and red."""
    kmax_table = pd.Series(
        {f"{c} {class_names[c]}" + ("*" if c in minority else ""): k_max[c] for c in sorted(k_max)}
    )
    kmax_table.plot.barh(ax=ax, color=["tab:red" if "*" in i else "0.6" for i in kmax_table.index])
    ax.set(xlabel="k_max (eq. 4.3)", title="class-wise k_max (* minority)")


def plot_adaptive_k(
    curve: AdaptiveKCurve,
    *,
    class_names: Sequence[str],
    minority: Sequence[int],
    ratio: float,
    rng: np.random.Generator | None = None,
) -> plt.Figure:
    """ADOS's adaptive ``k`` against the nearest-neighbour distance, and ``k_max`` per class.

    Left: Algorithm 4's line over ``grid_d`` and each point ``(d_x, k)`` of class ``cls``,
    ``k`` jittered vertically by ``rng`` (none without one) so equal values do not hide each
    other. Right: the class-wise ``k_max`` of eq. 4.3, minority classes starred and red (ch. 3).
    ``curve``: an :class:`AdaptiveKCurve`, or a ``KProfile`` (it has the same fields).
    """
    if len(curve.d_x) != len(curve.ks):
        raise ValueError(f"d_x and ks differ in length: {len(curve.d_x)} != {len(curve.ks)}")
    if curve.cls not in curve.k_max:
        raise ValueError(f"class {curve.cls} has no k_max; classes: {sorted(curve.k_max)}")
    # stacked, each the column wide: side by side they would shrink every label on the page
    n_classes = len(curve.k_max)
    fig, (ax1, ax2) = plt.subplots(
        2,
        1,
        figsize=(column_figsize()[0], 3.6 + 0.3 * n_classes + 1.2),
        gridspec_kw={"height_ratios": [3.6, 0.3 * n_classes + 0.6]},
    )
    title = f"{class_names[curve.cls]}, ρ = {ratio}: k_max = {curve.k_max[curve.cls]}"
    _k_points(ax1, curve, title, rng)
    _k_max_bars(ax2, curve.k_max, class_names, minority)
    fig.tight_layout()
    return fig
