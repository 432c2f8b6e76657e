"""Chapter 5 (GAMO): the toy Figure 1, the Table 1 runs, the boundary analysis, GAMO2pix images.

The chapter narrates and calls; the computing lives here so that each of its cells stays short.

* :func:`figure1_toy` trains the four systems of the paper's Figure 1 on 2-D data and
  :func:`toy_numbers` reads the values the prose quotes from its table;
* :class:`Table1Plan` and :func:`run_table1` run the Table 1 comparison (every dataset, seed,
  loss and method) or read it from committed tables (:mod:`imbnb.book.gamo_runs`, whose plan,
  runs and counts are re-exported here), :func:`table1_numbers` computes what the prose quotes
  from it and
  :func:`paper_value` finds the published number of a method through its registry entry's
  ``paper_name`` (the paper's CN, SMOTE+CN, GAMO\\D are the book's GAMO-CN, GAMO-SMOTE+CN,
  GAMO-noD);
* :func:`boundary_analysis` measures how far generated, real and SMOTE points sit from the
  other classes, :func:`plot_boundary_distances` and :func:`boundary_numbers` show and quote it;
* :func:`gamo2pix_tiles` trains GAMO2pix decoders, decodes generated vectors and measures the
  tiles; :func:`plot_gamo2pix_tiles` shows real beside decoded images and
  :func:`gamo2pix_numbers` says what they show (from :mod:`imbnb.book.gamo_pix`).

The two measurements live in :mod:`imbnb.methods.gamo_figure`, where a sweep stores them as a
run's figure data (:class:`~imbnb.methods.gamo_figure.GAMOFigure`); they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from imbnb.book.gamo_pix import (
    Gamo2pixTiles,
    gamo2pix_numbers,
    gamo2pix_tiles,
    plot_gamo2pix_tiles,
)
from imbnb.book.gamo_runs import (
    Table1Plan,
    Table1Runs,
    counts_for,
    table1_rows,
    table1_split,
)
from imbnb.book.prose import threshold_phrase
from imbnb.book.style import facet_height
from imbnb.book.table_source import COMPUTE, Source
from imbnb.data import load_dataset
from imbnb.methods import catalog
from imbnb.methods.gamo import (
    GAMO,
    GAMOConfig,
    method_config,
    method_data,
    nearest_other_distance,
    train_gamo,
)
from imbnb.methods.gamo_figure import Boundary, boundary_analysis
from imbnb.metrics import evaluate

__all__ = [
    "FIGURE1_PANELS",
    "PAPER_DATASETS",
    "Boundary",
    "Gamo2pixTiles",
    "Table1Plan",
    "Table1Runs",
    "boundary_analysis",
    "boundary_numbers",
    "counts_for",
    "figure1_toy",
    "gamo2pix_numbers",
    "gamo2pix_tiles",
    "paper_value",
    "plot_boundary_distances",
    "plot_gamo2pix_tiles",
    "plot_table1_bars",
    "run_table1",
    "table1_numbers",
    "toy_numbers",
]

# --------------------------------------------------------------------------------------------
# The paper's Figure 1, in two dimensions

#: The four systems of Figure 1, as changes to :class:`GAMOConfig`.
FIGURE1_PANELS: dict[str, dict[str, Any]] = {
    "(a) M alone": {"generator": None, "discriminator": False},
    "(b) cGAN + M": {"generator": "free", "discriminator": True, "g_vs_m": False},
    "(c) convex G vs M (GAMO-noD)": {"generator": "convex", "discriminator": False},
    "(d) G vs M and D (GAMO)": {"generator": "convex", "discriminator": True},
}


def figure1_toy(
    X: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = 1000,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    n_generate: int = 500,
    loss: str = "ls",
) -> tuple[dict[str, GAMO], dict[str, np.ndarray], pd.DataFrame]:
    """Train Figure 1's four systems on 2-D data (flattened variant; class 1 the minority).

    Returns the trained models, each generator's ``n_generate`` minority points, and a table
    with majority and minority recall on the training points and the "bleeding" share: the
    generated points whose nearest real point is a majority point.
    """
    models, fakes, rows = {}, {}, []
    major, minor = X[y == 0], X[y == 1]
    for name, kw in FIGURE1_PANELS.items():
        cfg = GAMOConfig(
            variant="flat", loss=loss, steps=steps, batch_size=batch_size, lr=lr, seed=seed, **kw
        )
        model = models[name] = train_gamo(X, y, cfg)
        row: dict[str, Any] = {"system": name}
        if model.net_.G is not None:
            fake = fakes[name] = model.generate(np.ones(n_generate, dtype=np.int64), seed=seed)
            row["bleeding"] = float(
                np.mean(nearest_other_distance(fake, major) < nearest_other_distance(fake, minor))
            )
        pred = model.predict(X)
        row["majority recall"] = float(np.mean(pred[y == 0] == 0))
        row["minority recall"] = float(np.mean(pred[y == 1] == 1))
        rows.append(row)
    return models, fakes, pd.DataFrame(rows).set_index("system")


def toy_numbers(table: pd.DataFrame) -> dict[str, Any]:
    """Glue name -> value: each panel's recalls and (but for (a)) its bleeding share, and how
    far D has pulled GAMO's points back, from the bleeding of (d) against (c)."""
    out: dict[str, Any] = {}
    for key, name in zip("abcd", FIGURE1_PANELS, strict=True):
        out[f"toy_{key}_min"] = float(table.loc[name, "minority recall"])
        out[f"toy_{key}_maj"] = float(table.loc[name, "majority recall"])
        if key != "a":
            out[f"toy_{key}_bleed"] = float(table.loc[name, "bleeding"])
    out["toy_pull_text"] = threshold_phrase(
        out["toy_c_bleed"] - out["toy_d_bleed"],
        [
            (0.01, "has not yet pulled the points back onto the crescent"),
            (0.3, "has only begun to pull the points back onto the crescent"),
        ],
        "has pulled many of the points back onto the crescent",
    )
    return out


# --------------------------------------------------------------------------------------------
# Table 1: every dataset, seed, loss and method


def run_table1(plan: Table1Plan, source: Source = COMPUTE) -> Table1Runs:
    """Train and score every method with every loss on each dataset's split per seed, or read
    the runs from ``source``'s tables (:func:`~imbnb.book.gamo_runs.table1_rows`: no models)."""
    if not source.computes:
        return Table1Runs(table1_rows(plan, source))
    runs, rows = Table1Runs(pd.DataFrame()), []
    for name in plan.datasets:
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
        for seed in plan.seeds:
            split, runs.data[name, seed] = table1_split(plan, train, test, seed)
            for loss in plan.losses:
                for method in plan.methods:
                    rows.append(_table1_run(plan, runs, (name, seed, loss, method), split))
    runs.results = pd.DataFrame(rows)
    return runs


def _table1_run(plan: Table1Plan, runs: Table1Runs, run: tuple, split: Any) -> dict[str, Any]:
    """One (dataset, seed, loss, method): train on :func:`method_data`'s set, score, a row."""
    name, seed, loss, method = run
    X, y, X_test, y_test = runs.data[name, seed]
    cfg = method_config(
        method,
        loss=loss,
        variant=plan.variants[name],
        steps=plan.steps,
        batch_size=plan.batch_size,
        lr=plan.lr,
        seed=seed,
    )
    Xm, ym = method_data(method, X, y, seed)  # SMOTE-balanced for GAMO-SMOTE+CN
    model = runs.models[run] = train_gamo(Xm, ym, cfg)
    report = evaluate(
        y_test, model.predict(X_test), labels=list(range(10)), minority=split.minority_classes
    )
    return {
        "dataset": name,
        "loss": loss.upper(),
        "method": method,
        "seed": seed,
        "seconds": model.seconds_,
        **report.to_row(),
    }


#: The methods the prose quotes, with their glue names' prefixes.
_TAGS = [("GAMO-CN", "cn"), ("GAMO-SMOTE+CN", "smote"), ("GAMO-noD", "gamod"), ("GAMO", "gamo")]


def table1_numbers(plan: Table1Plan, results: pd.DataFrame, summary: pd.DataFrame) -> dict:
    """Glue name -> value of the first dataset: means per method, times, the smallest class
    (NaN, and words saying so, for runs a partly swept table does not hold)."""
    first = plan.datasets[0]
    main_loss = "LS" if "ls" in plan.losses else plan.losses[0].upper()
    out: dict[str, Any] = {}
    for method, tag in _TAGS:
        if method in plan.methods:
            for metric in ["acsa", "gmean"]:
                out[f"{tag}_{metric}"] = _cell(
                    summary, (first, main_loss, method), f"{metric}_mean"
                )
    out["main_loss"] = main_loss
    out["gamo_seconds"] = float(results.loc[results.method == "GAMO", "seconds"].mean())
    out["cn_seconds"] = float(results.loc[results.method == "GAMO-CN", "seconds"].mean())
    train = load_dataset(first, "train")
    smallest = int(np.argmin(counts_for(train, plan.count_scale)))
    main_rows = results[(results.dataset == first) & (results.loss == main_loss)]
    for method, tag in [("GAMO-CN", "cn"), ("GAMO", "gamo")]:
        if method in plan.methods:
            sel = main_rows.loc[main_rows.method == method].get(f"recall_c{smallest}")
            out[f"smallest_recall_{tag}"] = float(np.nan if sel is None else sel.mean())
    out["smallest_class"] = f"{smallest} ({train.classes[smallest]})"
    out["smote_rank_text"] = _rank_text(summary, first, main_loss, "GAMO-SMOTE+CN")
    out["zero_gm_text"] = _zero_gm_text(results[results.dataset == first])
    gain = out.get("smallest_recall_gamo", np.nan) - out.get("smallest_recall_cn", np.nan)
    out["smallest_verdict"] = (
        "is where GAMO's generated points matter most"
        if gain > 0.01
        else "is where GAMO's generated points should matter most, though not in this run"
        if not np.isnan(gain)
        else "is where GAMO's generated points should matter most (the tables lack its runs)"
    )
    return out


def _cell(summary: pd.DataFrame, key: tuple, column: str) -> float:
    """``summary.loc[key, column]``, NaN where the summary has no such row."""
    return float(summary.loc[key, column]) if key in summary.index else float("nan")


def _zero_gm_text(rows: pd.DataFrame) -> str:
    """How many of a dataset's runs have a GM of zero, in words."""
    zero, n_runs = int((rows["gmean"] == 0).sum()), len(rows)
    if not n_runs:
        return "the tables hold no run of this dataset yet"
    if not zero:
        return "here no run has a GM of zero"
    return (
        f"here all {n_runs} runs" if zero == n_runs else f"here {zero} of the {n_runs} runs"
    ) + (" have a GM of zero" if zero > 1 else " has a GM of zero")


def _rank_text(summary: pd.DataFrame, dataset: str, loss: str, method: str) -> str:
    """Where ``method`` ranks by mean ACSA among the methods run (with ``loss``), in words."""
    keys = {k[:2] for k in summary.index}
    if (dataset, loss) not in keys:
        return "not run"
    acsa = summary.xs((dataset, loss), level=("dataset", "loss"))["acsa_mean"]
    if method not in acsa.index:
        return "not run"
    rank = int((acsa > acsa[method]).sum())
    words = ["the best", "the second best", "the third best"]
    place = words[rank] if rank < len(words) else f"number {rank + 1}"
    return f"{place} of the {len(acsa)} by ACSA"


def plot_table1_bars(results: pd.DataFrame, methods: Sequence[str]) -> sns.FacetGrid | None:
    """ACSA and GM per method and loss (bars: mean over seeds, whiskers: their spread); a
    note instead where the tables hold no run yet."""
    if results.empty:
        fig, ax = plt.subplots(figsize=(6, 0.6))
        ax.text(0.5, 0.5, "The tables hold no run of Table 1 yet.", ha="center", va="center")
        ax.axis("off")
        return None
    long = results.melt(
        id_vars=["dataset", "loss", "method", "seed"],
        value_vars=["acsa", "gmean"],
        var_name="measure",
    )
    long["measure"] = long["measure"].map({"acsa": "ACSA", "gmean": "GM"})
    grid = sns.catplot(
        data=long,
        x="method",
        y="value",
        hue="loss",
        col="measure",
        row="dataset",
        kind="bar",
        height=facet_height(2, 1.3),  # two measures across the column
        aspect=1.3,
        errorbar="sd",
        order=list(methods),
        legend_out=False,  # the legend goes above, not beside
    )
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    grid.set(ylim=(0, 1), xlabel="", ylabel="")
    grid.set_titles("{row_name}, {col_name}")
    for ax in grid.axes.flat:  # the methods' names would overlap
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    return grid


#: The book's dataset -> the paper's column (its MNIST column is the full MNIST, not MNIST-5k).
PAPER_DATASETS = {"fashion_mnist": "fashion_mnist", "mnist5k": "mnist"}


def paper_value(published: pd.DataFrame, dataset: str, loss: str, method: str, metric: str) -> str:
    """Table 1's "mean ± std" of ``method`` with ``loss`` ("CE"/"LS"), "–" where not reported.

    The paper's rows are "<its name> (<loss>)"; a method's name there is its registry entry's
    ``paper_name`` (GAMO-noD is the paper's GAMO\\D).
    """
    label = f"{catalog.get(method, 'gamo').paper_name or method} ({loss})"
    sel = published[
        (published.dataset == PAPER_DATASETS.get(dataset, dataset)) & (published.method == label)
    ]
    mean = sel.loc[sel.metric == metric, "value"]
    std = sel.loc[sel.metric == f"{metric}_std", "value"]
    return f"{mean.iloc[0]:.2f} ± {std.iloc[0]:.2f}" if len(mean) else "–"


# --------------------------------------------------------------------------------------------
# Where does G put its points?


def plot_boundary_distances(ax: plt.Axes, boundary: Boundary, class_name: str) -> None:
    """Density of the distances to another class, one curve per kind of point."""
    sns.kdeplot(
        data=boundary.distances, x="distance", hue="points", common_norm=False, fill=True, ax=ax
    )
    ax.set(
        xlabel="distance to the nearest point of another class (feature space)",
        title=f"class {boundary.cls} ({class_name}), {boundary.n_real} real points",
    )


def boundary_numbers(boundary: Boundary, class_name: str) -> dict[str, Any]:
    """Glue name -> value: the class, the three medians, the sentence on GAMO's shift, and the
    spread (interquartile range) of GAMO's distances against the real points'."""
    medians = boundary.medians
    out: dict[str, Any] = {"boundary_name": f"{boundary.cls} ({class_name})"}
    for name in ["real", "GAMO", "SMOTE"]:
        out[f"median_{name.lower()}"] = float(medians[name])
    shift = float(medians["GAMO"] - medians["SMOTE"])
    out["fringe_text"] = (
        f"In this run GAMO's median lies {-shift:.3f} closer to the other classes than "
        "SMOTE's: the preference shows"
        if shift < 0
        else f"In this run GAMO's median lies {shift:.3f} farther from the other classes than "
        "SMOTE's: the preference does not show"
    )
    q = boundary.distances.groupby("points")["distance"].quantile([0.25, 0.75]).unstack()
    iqr = q[0.75] - q[0.25]
    out["iqr_real"], out["iqr_gamo"] = float(iqr["real"]), float(iqr["GAMO"])
    out["iqr_text"] = threshold_phrase(
        out["iqr_gamo"] / out["iqr_real"],
        [
            (
                0.5,
                "a band less than half as wide as the class's own: the generator covers only "
                "part of the class, and its curve is the narrow peak of the figure",
            ),
            (0.8, "a narrower band than the class's own"),
            (1.25, "a band about as wide as the class's own"),
        ],
        "a wider band than the class's own",
    )
    return out
