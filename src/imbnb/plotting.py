"""Small plotting helpers shared by chapters.

Image strips and grids of generated samples (chapters 6 and 7), the 2-D panels of chapters 5
and 7, and chapter 8's metric-against-ratio curves (one row of panels per method family)
and its average ranks with the critical difference; plain-number ticks on log axes.
Chapter 3's ADOS/SMOTE toy steps, adaptive k, metric-against-ratio and pseudo-feature panels;
chapter 9's per-class loss corrections and per-class recall heat map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = [
    "covariance_ellipse",
    "image_grid",
    "log_ticks",
    "plot_adaptive_k",
    "plot_ados_smote_steps",
    "plot_calibration_steps",
    "plot_class_corrections",
    "plot_decision_panels",
    "plot_methods_vs_ratio",
    "plot_pseudo_feature_protocol",
    "plot_ranks",
    "plot_recall_heatmap",
    "plot_vs_ratio",
    "tile",
]


def tile(images: np.ndarray, n: int | None = None) -> np.ndarray:
    """Side-by-side strip (H, n*W) or (H, n*W, 3) of the first ``n`` images (N, C, H, W)."""
    x = np.asarray(images, dtype=np.float32)[:n]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {x.shape}")
    if len(x) == 0:
        raise ValueError("images is empty: nothing to tile")
    x = np.moveaxis(x, 1, -1)  # N, H, W, C
    strip = np.concatenate(list(x), axis=1)
    return strip[..., 0] if strip.shape[-1] == 1 else strip


def image_grid(
    rows: Mapping[str, np.ndarray],
    *,
    n: int = 8,
    title: str | None = None,
    row_height: float = 0.9,
    axes: Sequence[plt.Axes] | None = None,
) -> plt.Figure:
    """One labelled strip of up to ``n`` images per row (e.g. real vs synthetic per class)."""
    if not rows:
        raise ValueError("rows is empty: give at least one label -> images entry")
    if axes is None:
        fig, axes = plt.subplots(
            len(rows), 1, figsize=(1.0 * n, row_height * len(rows) + 0.4), squeeze=False
        )
        axes = axes[:, 0]
    fig = axes[0].figure
    for ax, (label, imgs) in zip(axes, rows.items(), strict=True):
        strip = tile(imgs, n)
        ax.imshow(strip, cmap="gray_r" if strip.ndim == 2 else None, vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def covariance_ellipse(
    ax: plt.Axes, mean: np.ndarray, cov: np.ndarray, n_std: float = 2.0, **kw
) -> None:
    """Draw the ``n_std`` contour of a 2-D Gaussian with ``mean`` and ``cov`` on ``ax``."""
    from matplotlib.patches import Ellipse

    w, v = np.linalg.eigh(np.asarray(cov, dtype=float))
    angle = float(np.degrees(np.arctan2(v[1, -1], v[0, -1])))
    width, height = 2 * n_std * np.sqrt(np.clip(w[::-1], 0, None))
    ax.add_patch(Ellipse(tuple(mean), width, height, angle=angle, fill=False, **kw))


def plot_calibration_steps(
    X: np.ndarray, y: np.ndarray, X_res: np.ndarray, sampler, point: int, axes: Sequence[plt.Axes]
) -> None:
    """Three panels of weighted calibration on 2-D data (chapter 7).

    (a) the class partition and the saved mixture components; (b) one minority point, its k
    nearest saved means, and its calibrated mean and covariance beside the class covariance;
    (c) the synthetic rows: Cauchy draws for minority classes, SMOTE for median ones.
    """
    palette = plt.get_cmap("tab10")
    labels = {c: f"{c}: {sampler.partition_[c]}" for c in sampler.partition_}
    a, b, c = axes
    for cls in np.unique(y):
        for ax in (a, b, c):
            ax.scatter(
                *X[y == cls].T,
                s=8,
                color=palette(int(cls)),
                alpha=0.5,
                label=labels[cls] if ax is a else None,
            )
    for mean, cov in zip(sampler.means_, sampler.covariances_, strict=True):
        a.plot(*mean, "k+", ms=10)
        covariance_ellipse(a, mean, cov, color="k", lw=1)
    a.set_title("(a) partition, mixture components")
    a.legend(loc="lower left", fontsize=8)
    cls = int(y[point])
    row = int(np.flatnonzero(np.flatnonzero(y == cls) == point)[0])
    near = sampler.mean_indices_[cls][row]
    for j in near:
        b.plot(*np.c_[X[point], sampler.means_[j]], "k--", lw=1)
        covariance_ellipse(b, sampler.means_[j], sampler.covariances_[j], color="grey", lw=1)
    mu = sampler.calibrated_means_[cls][row]
    Xc = X[y == cls]
    covariance_ellipse(b, Xc.mean(0), np.cov(Xc.T, bias=True), color=palette(cls), lw=1.5, ls=":")
    covariance_ellipse(b, mu, sampler.calibrated_covariances_[cls][row], color="crimson", lw=2)
    b.plot(*X[point], "o", color="crimson", mfc="none", ms=12)
    b.plot(*mu, "*", color="crimson", ms=14)
    b.set_title("(b) one minority point, calibrated")
    synth = sampler.is_synthetic_
    for origin, marker in [("calibration", "x"), ("smote", "^")]:
        sel = synth & (sampler.origin_ == origin)
        c.scatter(
            *X_res[sel].T,
            s=14,
            marker=marker,
            color="crimson" if origin == "calibration" else "darkgreen",
            label=f"{origin} rows",
        )
    c.legend(loc="lower left", fontsize=8)
    c.set_title("(c) synthetic rows")
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


def plot_decision_panels(
    axes: Sequence[plt.Axes],
    X: np.ndarray,
    y: np.ndarray,
    models: Mapping[str, object],
    fakes: Mapping[str, np.ndarray],
    lim: float = 3.2,
) -> None:
    """One panel per 2-D classifier: its minority region, the data, generated points (ch. 5)."""
    xx, yy = np.meshgrid(np.linspace(-lim, lim, 160), np.linspace(-lim, lim, 160))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float32)
    for ax, (name, model) in zip(axes, models.items(), strict=True):
        inside = model.predict_proba(grid)[:, 1].reshape(xx.shape) > 0.5
        ax.contourf(xx, yy, inside, levels=[-0.5, 0.5, 1.5], colors=["#dce6f5", "#f5dcdc"])
        ax.scatter(*X[y == 0].T, s=5, color="tab:blue", label="majority")
        ax.scatter(*X[y == 1].T, s=14, color="tab:red", label="minority")
        if name in fakes:
            ax.scatter(*fakes[name].T, marker="+", s=22, color="tab:green", label="generated")
        ax.set(title=name, xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[])
    axes[0].legend(loc="lower left", fontsize=8)


def log_ticks(ax: plt.Axes, axis: str = "x", max_ticks: int = 9) -> None:
    """Label a log axis with plain numbers (5, 10, 20, ... 10,000), at most ``max_ticks``.

    matplotlib labels only powers of ten (a one-decade axis shows a single "10^1"); this puts
    ticks at 1-2-5, 1-3 or 1 per decade, the densest that fits, and no minor labels.
    """
    import matplotlib.ticker as mticker

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    if lo <= 0:
        raise ValueError(f"a log axis needs positive limits, got {lo:g} to {hi:g}")
    decades = np.log10(hi / lo)
    subs = next(
        (s for s in [(1.0, 2.0, 5.0), (1.0, 3.0), (1.0,)] if len(s) * (decades + 1) <= max_ticks),
        (1.0,),
    )
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(mticker.LogLocator(subs=subs))
    target.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.10g}"))
    target.set_minor_formatter(mticker.NullFormatter())


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
    import seaborn as sns

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
    for i, group in enumerate(groups):
        sub = rows[rows[by] == group]
        methods = list(dict.fromkeys(sub["method"]))
        palette = sns.color_palette("tab10" if len(methods) <= 10 else "husl", len(methods))
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            sns.lineplot(
                data=sub,
                x="ratio",
                y=metric,
                hue="method",
                hue_order=methods,
                palette=palette,
                marker="o",
                errorbar=errorbar,
                ax=ax,
                legend=j == len(metrics) - 1,
            )
            if len(ref) and reference not in methods:
                mean = ref.groupby("ratio")[metric].mean()
                ax.plot(
                    mean.index,
                    mean.to_numpy(),
                    ls="--",
                    color="0.5",
                    lw=1.2,
                    label=f"{reference} (reference)",
                )
            ax.set(
                xscale="log",
                xlabel="ratio" if i == len(groups) - 1 else "",
                ylabel=str(group).replace("_", " ") if j == 0 else "",
            )
            if i == 0:
                ax.set_title(labels.get(metric, metric))
        handles, names = axes[i, -1].get_legend_handles_labels()
        if axes[i, -1].get_legend() is not None:
            axes[i, -1].get_legend().remove()
        axes[i, -1].legend(
            handles,
            names,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize="small",
            frameon=False,
        )
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


def plot_ados_smote_steps(
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed_point: np.ndarray,
    ados_neighbors: np.ndarray,
    ados_weights: np.ndarray,
    ados_centre: np.ndarray,
    ados_new: np.ndarray,
    delta: float,
    smote_neighbors: np.ndarray,
    smote_pick: np.ndarray,
    smote_new: np.ndarray,
    gap: float,
    resampled: Mapping[str, np.ndarray],
) -> plt.Figure:
    """One ADOS step beside one SMOTE step on 2-D data (top), and both run to balance (ch. 3).

    ``X``, ``y``: the toy set (0 majority, 1 minority). Top left: the seed, ADOS's weighted
    neighbours (marker size ∝ weight), their weighted mean ``ados_centre`` and the new point
    at ``delta``; top right: SMOTE's neighbours, the one picked and the new point at ``gap``.
    ``resampled``: two named resampled sets whose rows after ``len(X)`` are synthetic.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) != len(y):
        raise ValueError(f"X must be (n, 2) with one label per row, got {X.shape}, {y.shape}")
    if len(resampled) != 2:
        raise ValueError(f"resampled must hold two sets (ADOS, SMOTE), got {list(resampled)}")
    major, minor = X[y == 0], X[y == 1]
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    for ax in axes.flat:
        ax.scatter(*major.T, s=8, c="0.8", label="majority")
        ax.scatter(*minor.T, s=28, c="tab:red", edgecolor="k", lw=0.4, label="minority")
    ax = axes[0, 0]
    ax.scatter(
        *ados_neighbors.T,
        s=2000 * ados_weights,
        facecolor="none",
        edgecolor="tab:orange",
        lw=1.5,
        label=f"k = {len(ados_neighbors)} neighbours (size ∝ weight)",
    )
    ax.scatter(
        *ados_centre, marker="D", s=60, c="tab:orange", label="synthetic neighbour x̂ (eq. 4.6)"
    )
    _step_tail(ax, seed_point, ados_centre, ados_new, "tab:orange",
               f"new point, δ = {delta:.2f} (eq. 4.7)", "one ADOS step")  # fmt: skip
    ax = axes[0, 1]
    ax.scatter(
        *smote_neighbors.T,
        s=140,
        facecolor="none",
        edgecolor="tab:blue",
        lw=1.5,
        label=f"{len(smote_neighbors)} nearest neighbours",
    )
    _step_tail(ax, seed_point, smote_pick, smote_new, "tab:blue",
               f"new point, gap = {gap:.2f}", "one SMOTE step")  # fmt: skip
    for ax, (name, Xr) in zip(axes[1], resampled.items(), strict=True):
        syn = Xr[len(X) :]
        ax.scatter(*syn.T, s=6, c="tab:green", alpha=0.5, label=f"{len(syn)} synthetic rows")
        ax.set_title(f"{name}, minority grown to the majority size")
    # top row: zoom on the seed's neighbourhood; bottom row: on the minority class
    near = np.vstack([ados_neighbors, smote_neighbors, np.atleast_2d(seed_point)])
    lo, hi = near.min(axis=0), near.max(axis=0)
    pad = 0.35 * (hi - lo).max()
    for ax in axes[0]:
        ax.set(xlim=(lo[0] - pad, hi[0] + pad), ylim=(lo[1] - pad, hi[1] + pad))
    lo, hi = minor.min(axis=0), minor.max(axis=0)
    for ax in axes[1]:
        ax.set(xlim=(lo[0] - 1.0, hi[0] + 0.5), ylim=(lo[1] - 1.0, hi[1] + 0.5))
    for ax in axes.flat:
        ax.legend(loc="lower left" if ax in axes[0] else "lower right", fontsize=8, frameon=True)
    fig.tight_layout()
    return fig


def plot_adaptive_k(
    d_x: np.ndarray,
    ks: np.ndarray,
    *,
    grid_d: np.ndarray,
    grid_k: Sequence[int],
    k_max: Mapping[int, int],
    cls: int,
    class_names: Sequence[str],
    minority: Sequence[int],
    ratio: float,
    rng: np.random.Generator | None = None,
) -> plt.Figure:
    """ADOS's adaptive ``k`` against the nearest-neighbour distance, and ``k_max`` per class.

    Left: Algorithm 4's line over ``grid_d`` and each point ``(d_x, k)`` of class ``cls``,
    ``k`` jittered vertically by ``rng`` (none without one) so equal values do not hide each
    other. Right: the class-wise ``k_max`` of eq. 4.3, minority classes starred and red (ch. 3).
    """
    if len(d_x) != len(ks):
        raise ValueError(f"d_x and ks differ in length: {len(d_x)} != {len(ks)}")
    if cls not in k_max:
        raise ValueError(f"class {cls} has no k_max; classes: {sorted(k_max)}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    ax1.plot(grid_d, grid_k, c="0.6", lw=1, label="Algorithm 4 over [d_min, d_max]")
    ax1.scatter(
        d_x,
        ks + (rng.uniform(-0.15, 0.15, len(ks)) if rng is not None else 0.0),
        s=12,
        c="tab:red",
        label=f"{len(ks)} training points of class {cls}",
    )
    ax1.set(
        xlabel="distance to the nearest in-class neighbour d_x",
        ylabel="k (jittered)" if rng is not None else "k",
        title=f"{class_names[cls]}, ρ = {ratio}: k_max = {k_max[cls]}",
    )
    ax1.legend(frameon=True, fontsize=8)
    kmax_table = pd.Series(
        {f"{c} {class_names[c]}" + ("*" if c in minority else ""): k_max[c] for c in sorted(k_max)}
    )
    kmax_table.plot.barh(ax=ax2, color=["tab:red" if "*" in i else "0.6" for i in kmax_table.index])
    ax2.set(xlabel="k_max (eq. 4.3)", title="class-wise k_max (* minority)")
    fig.tight_layout()
    return fig


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
    import seaborn as sns

    absent = sorted({"method", "ratio", "seed", *metrics} - set(rows.columns))
    if absent:
        raise ValueError(f"rows lack the columns {absent}")
    long = rows.melt(
        id_vars=["method", "ratio", "seed"],
        value_vars=list(metrics),
        var_name="measure",
        value_name="value",
    )
    long["measure"] = long["measure"].map(metrics)
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
        height=3.3,
        aspect=1.35,
        facet_kws={"sharey": False},
    )
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
    import seaborn as sns

    absent = sorted({"name", "n_minor", "seed", *metrics} - set(pf.columns))
    if absent:
        raise ValueError(f"pf lacks the columns {absent}")
    pf_long = pf.melt(
        id_vars=["name", "n_minor", "seed"],
        value_vars=list(metrics),
        var_name="measure",
        value_name="value",
    )
    pf_long["measure"] = pf_long["measure"].map(metrics)
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
        height=3.2,
        aspect=1.35,
        facet_kws={"sharey": False},
        hue_order=hue_order,
    )
    grid.set(xlabel="number of minor classes", ylabel="")
    for ax in grid.axes.flat:
        ax.set_xticks(n_minor)
    grid.set_titles("{col_name}")
    grid.figure.suptitle(title, y=1.02)
    return grid.figure


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
