"""Chapter 4 (DOS): the toy round, the runs, tables, figures and prose numbers the chapter shows.

The chapter narrates and calls; the computing lives here so that each of its cells stays short.
Training goes through :func:`imbnb.methods.dos.run_dos` (cached); everything else shapes its
runs and rows:

* :func:`toy_overloading` / :func:`plot_toy_overloading`: one DOS round on a 2-D toy class;
  :func:`worked_example`: the micro-cluster losses on three neighbours;
* :func:`run_protocol`, :func:`runs_table`, :func:`protocol_numbers`: the paper's protocol;
  :func:`chapter_runs`: its runs trained here, or its rows read from committed tables
  (:mod:`imbnb.book.dos_runs`, re-exported here) and only the figures' networks trained;
* :func:`variance_by_round`, :func:`variance_per_class`, :func:`plot_variance`,
  :func:`variance_numbers`: the in-class variance; :func:`plot_embeddings`: the PCA panels;
* :func:`table_6`, :func:`table_7`, :func:`plot_six_classifiers`, :func:`classifier_numbers`,
  :func:`k_numbers`: the paper's Tables 6-7 and what the prose quotes;
  :func:`thesis_comparison` (chapter 3's ρ protocol) and :func:`balanced_comparison`
  (Table 8): these live in :mod:`imbnb.book.dos_tables` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from scipy.spatial import ConvexHull, Delaunay

from imbnb.book.dos_runs import (
    chapter_configs,
    chapter_missing,
    figure_runs,
    protocol_rows,
    source_sentences,
)
from imbnb.book.dos_tables import (
    MEASURES,
    MODELS,
    ThesisSettings,
    balanced_comparison,
    chapter_settings,
    classifier_numbers,
    k_numbers,
    plot_six_classifiers,
    read_configs,
    table_6,
    table_7,
    thesis_comparison,
    thesis_grid,
)
from imbnb.book.style import column_figsize
from imbnb.book.table_source import COMPUTE, Source, chapter_source
from imbnb.methods.dos import (
    DOSConfig,
    DOSRun,
    in_class_neighbors,
    in_class_variance,
    micro_cluster_losses,
    run_dos,
    sample_simplex,
)
from imbnb.methods.dos_figure import N_PLOT, DOSFigure

__all__ = [
    "MEASURES",
    "MODELS",
    "ThesisSettings",
    "ToyOverloading",
    "balanced_comparison",
    "chapter_configs",
    "chapter_missing",
    "chapter_runs",
    "chapter_settings",
    "chapter_source",
    "classifier_numbers",
    "k_numbers",
    "plot_embeddings",
    "plot_six_classifiers",
    "plot_toy_overloading",
    "plot_variance",
    "protocol_numbers",
    "read_configs",
    "run_protocol",
    "runs_table",
    "source_sentences",
    "table_6",
    "table_7",
    "thesis_comparison",
    "thesis_grid",
    "toy_overloading",
    "toy_round_numbers",
    "variance_by_round",
    "variance_numbers",
    "variance_per_class",
    "worked_example",
]

_NAN = float("nan")
#: What the figures draw of each run, by (dataset, seed, p, k).
Figures = Mapping[tuple[str, int, float, int], DOSFigure]

# -- the toy round and the worked example -------------------------------------------------------


@dataclass(frozen=True)
class ToyOverloading:
    """One DOS round on a 2-D toy: a minority image, its neighbours, targets, local means."""

    k: int
    r: int
    major: np.ndarray  # majority points (k = 0)
    minor: np.ndarray  # minority points
    neighbors: np.ndarray  # N(x_i) of the first minority point, itself first (eq. 1)
    targets: np.ndarray  # its r targets sum_i w_i v_i (minimisers of eq. 8)
    local_means: np.ndarray  # every minority point's local mean (minimiser of eq. 3)
    var_drop: float  # share of the minority's in-class variance the local means remove


def toy_overloading(rng: np.random.Generator, k: int = 5, r: int = 8) -> ToyOverloading:
    """Draw the toy (120 majority points, a minority of two clumps) and overload it."""
    major = rng.normal([0.0, 0.0], [1.4, 1.0], size=(120, 2))
    minor = np.vstack(
        [
            rng.normal([3.0, 1.5], [0.5, 0.35], size=(12, 2)),
            rng.normal([4.2, 2.7], [0.4, 0.4], size=(6, 2)),
        ]
    )
    z = np.vstack([major, minor]).astype(np.float32)
    y = np.repeat([0, 1], [len(major), len(minor)])
    nbrs = in_class_neighbors(z, y, {0: 0, 1: k})  # eq. 1, column 0 = the point itself
    minor_rows = np.flatnonzero(y == 1)
    n_i = z[nbrs[minor_rows[0]]]
    w = sample_simplex(rng, r, k + 1)  # r weight vectors (flat Dirichlet)
    local_means = np.stack([z[nbrs[j]].mean(axis=0) for j in minor_rows])  # minimiser of eq. 3
    before = in_class_variance(z[minor_rows], np.zeros(len(minor_rows)))["within"]
    after = in_class_variance(local_means, np.zeros(len(minor_rows)))["within"]
    return ToyOverloading(k, r, major, minor, n_i, w @ n_i, local_means, 1 - after / before)


def toy_round_numbers(toy: ToyOverloading) -> dict[str, Any]:
    """What the prose says about the toy figure, measured on it (glue name -> value)."""
    centre = toy.minor.mean(axis=0)
    closer = np.linalg.norm(toy.local_means - centre, axis=1) < np.linalg.norm(
        toy.minor - centre, axis=1
    )
    inside = int((Delaunay(toy.neighbors).find_simplex(toy.targets) >= 0).sum())
    return {
        "toy_k": toy.k,
        "toy_r": toy.r,
        "toy_var_drop": toy.var_drop,
        "toy_closer": int(closer.sum()),
        "toy_n_minor": len(toy.minor),
        "toy_inside_text": f"all {inside}" if inside == toy.r else f"{inside} of the {toy.r}",
    }


def _draw_neighbourhood(ax: plt.Axes, toy: ToyOverloading, *, zoom: bool) -> None:
    """N(x_i) of one minority image, its hull (in the zoom) and its r targets above f(x_i)."""
    if zoom:
        hull = toy.neighbors[ConvexHull(toy.neighbors).vertices]
        ax.fill(*hull.T, color="tab:orange", alpha=0.15, lw=0, label="hull of N(x_i)")
    ax.scatter(
        *toy.neighbors[1:].T,
        s=160 if zoom else 110,
        facecolor="none",
        edgecolor="tab:orange",
        lw=1.5,
        label=f"its k = {toy.k} in-class neighbours",
    )
    ax.scatter(
        *toy.neighbors[0],
        marker="s",
        s=70,
        facecolor="none",
        edgecolor="k",
        lw=1.5,
        label="f(x_i)",
        zorder=3,
    )  # hollow and under the targets, so that none hides behind it
    ax.scatter(
        *toy.targets.T,
        marker="x",
        s=50 if zoom else 30,
        c="tab:green",
        lw=1.5,
        zorder=4,
        label=f"r = {toy.r} targets Σ w_i v_i",
    )


def _add_zoom(ax: plt.Axes, toy: ToyOverloading) -> None:
    """An inset that enlarges the overloaded image's neighbourhood (lower right of ``ax``)."""
    inset = ax.inset_axes([0.6, 0.03, 0.38, 0.46])
    _draw_neighbourhood(inset, toy, zoom=True)
    lo, hi = toy.neighbors.min(axis=0), toy.neighbors.max(axis=0)
    pad = 0.2 * (hi - lo).max()
    inset.set(xlim=(lo[0] - pad, hi[0] + pad), ylim=(lo[1] - pad, hi[1] + pad))
    inset.set(xticks=[], yticks=[], facecolor="white")
    ax.indicate_inset_zoom(inset, edgecolor="0.3")


def plot_toy_overloading(toy: ToyOverloading) -> plt.Figure:
    """Top: one minority image overloaded (its neighbourhood enlarged in an inset); bottom:
    every minority point moved to its local mean, and the minority's centre (column wide)."""
    fig, axes = plt.subplots(2, 1, figsize=column_figsize(2, 0.55), sharex=True, sharey=True)
    for ax in axes:
        ax.scatter(*toy.major.T, s=8, c="0.8", label="majority (k = 0)")
        ax.scatter(*toy.minor.T, s=30, c="tab:red", edgecolor="k", lw=0.4, label="minority")
    ax = axes[0]
    _draw_neighbourhood(ax, toy, zoom=False)
    ax.set_title("overloading one minority image")
    ax.legend(loc="upper left")
    _add_zoom(ax, toy)
    ax = axes[1]
    for p0, p1 in zip(toy.minor, toy.local_means, strict=True):
        ax.annotate("", xy=p1, xytext=p0, arrowprops={"arrowstyle": "->", "color": "tab:blue"})
    ax.scatter(*toy.local_means.T, s=18, c="tab:blue", label="local means (eq. 3)")
    ax.scatter(*toy.minor.mean(axis=0), marker="P", s=120, c="k", zorder=4, label="minority centre")
    ax.set_title("every minority point pulled to its local mean")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def worked_example() -> pd.DataFrame:
    """Eqs. 8-10 by hand: f(x) = 0, N(x) = {(1,0), (0,2), (3,3)}, w = (.5, .25, .25), y = 1."""
    fx = torch.zeros(1, 2)
    v = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]])
    w = torch.tensor([[0.5, 0.25, 0.25]])
    mask, y = torch.ones(1, 3, dtype=torch.bool), torch.tensor([1])
    loss_f, loss_g = micro_cluster_losses(fx, v, w, mask, y, lambda z: z)
    sq = ((fx - v[0]) ** 2).sum(dim=1)
    raw = torch.exp(-w[0] * sq)
    raw[0] = 1.0  # the image's own embedding: distance 0 (section 3.3)
    table = pd.DataFrame(
        {
            "v_i": [tuple(x) for x in v[0].tolist()],
            "w_i": w[0].numpy(),
            "||f(x)-v_i||²": sq.numpy(),
            "ρ'_i (eq. 10)": (raw / raw.sum()).numpy(),
        }
    )
    losses = {"ℓ'_f (eq. 8)": float(loss_f), "ℓ'_g (eq. 9)": float(loss_g)}
    return table.assign(**losses).round(3)


# -- the paper's protocol -----------------------------------------------------------------------


def run_protocol(
    base: DOSConfig,
    data: Mapping[str, tuple[Any, Any]],
    seeds: Sequence[int],
    grid: Sequence[tuple[float, int]],
    knn_k: int,
) -> tuple[dict[tuple[str, int, float, int], DOSRun], pd.DataFrame]:
    """DOS at every (p, k) of ``grid``, dataset and seed; runs by key and one row per metric row.

    ``base`` holds the settings shared by all runs, its ``k`` is the main k: the CNN rows (which
    do not depend on k) are kept once, from the runs with that k.
    """
    runs, rows = {}, []
    for name, (train, test) in data.items():
        for seed in seeds:
            for p, k in grid:
                config = replace(base, dataset=name, seed=seed, p=p, ratio=None, k=k)
                run = run_dos(config, train=train, test=test)
                runs[name, seed, p, k] = run
                for row in run.rows(knn_k=knn_k):
                    is_cnn = row["method"].startswith("CNN")
                    if is_cnn and k != base.k:
                        continue  # the CNN rows do not depend on k
                    rows.append({"dataset": name, "p": p, "k": None if is_cnn else k, **row})
    return runs, pd.DataFrame(rows)


def chapter_runs(
    settings: DOSConfig,
    data: Mapping[str, tuple[Any, Any]],
    seeds: Sequence[int],
    grid: Sequence[tuple[float, int]],
    knn_k: int,
    source: Source = COMPUTE,
    n_plot: int = N_PLOT,
) -> tuple[dict[tuple[str, int, float, int], DOSFigure], pd.DataFrame]:
    """What the figures draw of each run, and the protocol's rows: all trained here
    (:func:`run_protocol`), or the rows read from ``source``'s tables and the figures of the
    first dataset's and seed's runs at every p with the main k read from the tables' figure
    files, or trained where none is stored (:func:`imbnb.book.dos_runs.figure_runs`)."""
    if source.computes:
        runs, rows = run_protocol(settings, data, seeds, grid, knn_k)
        return {key: DOSFigure.from_run(run, n_plot, key[1]) for key, run in runs.items()}, rows
    rows = protocol_rows(settings, list(data), seeds, grid, knn_k, source)
    ps = [p for p, k in grid if k == settings.k]
    return figure_runs(settings, data, seeds, ps, source, n_plot), rows


def runs_table(runs: Figures) -> pd.DataFrame:
    """One line per run: split, sizes, r, seconds and where its network came from."""
    return pd.DataFrame(
        [
            {
                "dataset": n,
                "seed": s,
                "p": p,
                "k": k,
                "minority": run.minority_classes,
                "training images": run.n_train,
                "quadruplets per round": run.quadruplets,
                "r (minority)": run.r_minority,
                "DOS seconds": round(run.dos_seconds, 1),
                "network": run.network,
            }
            for (n, s, p, k), run in runs.items()
        ]
    )


def protocol_numbers(
    first: DOSFigure, runs: Mapping[Any, DOSFigure], run_seconds: float
) -> dict[str, Any]:
    """The cost numbers the prose quotes (glue name -> value): times, and a round against an
    epoch in items (quadruplets per round / training images) and in seconds."""
    dos_seconds, cnn_seconds = first.dos_seconds, first.cnn_seconds
    rounds, epochs = first.rounds, first.init_epochs
    quadruplets = first.quadruplets if first.history else _NAN
    return {
        "run_seconds": run_seconds,
        "n_runs": len(runs),
        "dos_seconds": dos_seconds,
        "cnn_seconds": cnn_seconds,
        "round_items_ratio": quadruplets / first.n_train,
        "round_seconds_ratio": (dos_seconds / rounds) / (cnn_seconds / epochs)
        if rounds and epochs
        else _NAN,
    }


# -- the in-class variance and the embeddings ---------------------------------------------------


def variance_by_round(
    runs: Mapping[tuple[str, int, float, int], DOSFigure], k: int
) -> pd.DataFrame:
    """Within / total variance of the training embeddings before round 1 and after each."""
    rows = []
    for (name, seed, p, k_run), run in runs.items():
        if k_run != k or not run.history:
            continue
        at = {"dataset": name, "seed": seed, "p": p}
        rows.append({**at, "round": 0, "within / total": run.history[0]["var_ratio_before"]})
        for h in run.history:
            rows.append({**at, "round": h["round"], "within / total": h["var_ratio_after"]})
    return pd.DataFrame(rows)


def variance_per_class(
    runs: Mapping[tuple[str, int, float, int], DOSFigure], p_max: float, k: int
) -> pd.DataFrame:
    """Per class, the within / total variance before (the CNN) and after (DOS), at ``p_max``."""
    rows = []
    for (name, seed, p, k_run), run in runs.items():
        if p != p_max or k_run != k:
            continue
        for label, shares in [("CNN (before)", run.var_cnn), ("DOS (after)", run.var_dos)]:
            for c, share in zip(run.classes, shares, strict=True):
                group = "minority" if c in run.minority_classes else "majority"
                rows.append({"dataset": name, "seed": seed, "embedding": label, "group": group,
                             "within / total": float(share)})  # fmt: skip
    return pd.DataFrame(rows)


def plot_variance(
    variance: pd.DataFrame, per_class: pd.DataFrame, rounds: int, p_max: float
) -> plt.Figure:
    """Variance over the rounds (top) and per class group before / after (bottom), column wide."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=column_figsize(2, 0.45))
    style = "dataset" if variance["dataset"].nunique() > 1 else None
    sns.lineplot(
        data=variance,
        x="round",
        y="within / total",
        hue="p",
        style=style,
        marker="o",
        ax=ax1,
        palette="viridis",
    )
    ax1.set(title="mean in-class variance of the training embeddings", xticks=range(rounds + 1))
    sns.move_legend(ax1, "upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # off the lines
    sns.barplot(
        data=per_class,
        x="group",
        y="within / total",
        hue="embedding",
        ax=ax2,
        errorbar=None,
        palette=["0.6", "tab:green"],
    )
    ax2.set(title=f"per class group, p = {p_max}", xlabel="")
    fig.tight_layout()
    return fig


def variance_numbers(first: DOSFigure, per_class: pd.DataFrame, p_max: float) -> dict[str, Any]:
    """Variance shares the prose quotes: first run before / after, minority classes."""
    h0 = first.history
    grp = per_class.groupby(["group", "embedding"])["within / total"].mean()
    return {
        "var_before": h0[0]["var_ratio_before"] if h0 else _NAN,
        "var_after": h0[-1]["var_ratio_after"] if h0 else _NAN,
        "p_max": p_max,
        "var_min_before": float(grp.get(("minority", "CNN (before)"), np.nan)),
        "var_min_after": float(grp.get(("minority", "DOS (after)"), np.nan)),
    }


def plot_embeddings(
    run: DOSFigure, classes: Sequence[str], *, dos_label: str, p: float
) -> plt.Figure:
    """The PCA of the run's drawn test embeddings under the CNN and DOS (minority in colour)."""
    y_shown, minority = run.y_shown, run.minority_classes
    palette = dict(zip(minority, sns.color_palette("bright", len(minority)), strict=True))
    fig, axes = plt.subplots(1, 2, figsize=column_figsize(1, 0.62))
    panels = [("CNN (initialisation)", run.xy_cnn), (dos_label, run.xy_dos)]
    for ax, (label, xy) in zip(axes, panels, strict=True):
        major = ~np.isin(y_shown, minority)
        ax.scatter(xy[major, 0], xy[major, 1], s=6, c="0.75", label="majority classes")
        for c in minority:
            sel = y_shown == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=10, color=palette[c], label=f"{c} {classes[c]}")
        ax.set(title=label, xticks=[], yticks=[])
    fig.suptitle(f"Test embeddings f(x), PCA of {len(y_shown)} images, p = {p}")
    fig.tight_layout()
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
               markerscale=2, frameon=False)  # fmt: skip
    return fig
