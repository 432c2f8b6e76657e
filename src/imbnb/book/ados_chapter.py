"""Chapter 3 (ADOS): the toy steps, tables and prose numbers the chapter shows, from its runs.

The chapter narrates and calls; the computing lives here so that each of its cells stays
short. Nothing here trains a network: the functions take the chapter's extractors, metric
rows (:func:`imbnb.methods.feature_space.run_grid`) and the thesis's published table.

* :func:`toy_steps` makes the 2-D toy problem and one ADOS and one SMOTE step on it
  (:mod:`imbnb.book.ados_figures`), and :func:`adaptive_k_profile` applies Algorithm 4 to the
  embeddings of one class (:mod:`imbnb.methods.ados_figure`, where a sweep's figure data is
  made): the data behind the chapter's first figures;
* :func:`cost_table`, :func:`long_form`, :func:`table_72`, :func:`with_measure_group`,
  :func:`thesis_comparison` and :func:`side_by_side` shape the tables;
* :func:`thesis_gap_numbers`, :func:`published_inconsistencies`, :func:`ados_versus`,
  :func:`cnn_fit_numbers`, :func:`seeds_note`, :func:`best_per_ratio` and
  :func:`pseudo_feature_numbers` compute what the prose quotes (glue names -> values);
* :func:`near_duplication` measures how close ADOS's synthetic rows sit to their seeds (it
  lives in :mod:`imbnb.methods.ados_figure`, where a sweep's figure data is made).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imbnb.book.ados_figures import KProfile, ToySteps, adaptive_k_profile, toy_steps
from imbnb.book.prose import direction_word, lookup, phrase_list, threshold_phrase
from imbnb.methods.ados_figure import NearDuplication, near_duplication
from imbnb.methods.feature_space import CNN_CE, CNN_CW

__all__ = [
    "GROUPS",
    "KProfile",
    "NearDuplication",
    "ToySteps",
    "adaptive_k_profile",
    "ados_versus",
    "best_per_ratio",
    "cnn_fit_numbers",
    "cost_table",
    "long_form",
    "near_duplication",
    "published_inconsistencies",
    "pseudo_feature_numbers",
    "seeds_note",
    "side_by_side",
    "table_72",
    "thesis_comparison",
    "thesis_gap_numbers",
    "toy_steps",
    "with_measure_group",
]

#: The thesis's Table 7.2 groups: group -> {measure: metric column of the rows}.
GROUPS: dict[str, dict[str, str]] = {
    "Maj": {"Re": "recall_maj", "F1": "f1_maj", "GMean": "gmean_maj"},
    "Min": {"Re": "recall_min", "F1": "f1_min", "GMean": "gmean_min"},
    "Average": {"Re": "acsa", "F1": "f1_macro", "GMean": "gmean"},
}


def cost_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean real rows, synthetic rows and seconds per method (rows) and ratio (columns)."""
    cost = rows.assign(ratio=rows["ratio"].astype(int)).groupby(["ratio", "method"], sort=False)
    cost = cost[["n_train", "n_synthetic", "seconds"]].mean()
    cost[["n_train", "n_synthetic"]] = cost[["n_train", "n_synthetic"]].round().astype(int)
    return cost.unstack(0).round(1)


def long_form(summary: pd.DataFrame) -> pd.DataFrame:
    """(ratio, method, group, measure) -> mean, std from :func:`imbnb.metrics.summarise`."""
    out = []
    for (rho, method), rec in summary.iterrows():
        for group, measures in GROUPS.items():
            for measure, col in measures.items():
                out.append(
                    {
                        "ratio": int(rho),
                        "method": method,
                        "group": group,
                        "measure": measure,
                        "mean": rec[f"{col}_mean"],
                        "std": rec[f"{col}_std"],
                    }
                )
    return pd.DataFrame(out)


def table_72(ours: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """The thesis's Table 7.2 layout of :func:`long_form`: "mean ± std" per method and measure."""
    cells = ours.assign(
        cell=[
            f"{m:.3f}" if np.isnan(s) else f"{m:.3f} ± {s:.3f}"
            for m, s in zip(ours["mean"], ours["std"], strict=True)
        ]
    )
    table = cells.pivot_table(
        index=["ratio", "group"], columns=["method", "measure"], values="cell", aggfunc="first"
    )
    table = table.reindex(columns=pd.MultiIndex.from_product([order, ["Re", "F1", "GMean"]]))
    table = table.reindex(
        pd.MultiIndex.from_product([sorted(ours["ratio"].unique()), list(GROUPS)])
    )
    table.index.names = ["ρ", "class"]
    return table


def with_measure_group(published: pd.DataFrame) -> pd.DataFrame:
    """The published Table 7.2 with ``measure`` (Re, F1, GMean) and ``group`` columns added."""
    published = published.copy()
    measure_group = published["metric"].str.rsplit("_", n=1, expand=True)  # e.g. recall_avg
    published["measure"] = measure_group[0].map({"recall": "Re", "f1": "F1", "gmean": "GMean"})
    published["group"] = measure_group[1].map({"maj": "Maj", "min": "Min", "avg": "Average"})
    return published


def thesis_comparison(
    ours: pd.DataFrame, published: pd.DataFrame, pairs: Sequence[tuple[str, str]]
) -> pd.DataFrame:
    """Our means beside the thesis's values, one row per (pair, ratio, group, measure), + diff."""
    compare = []
    for ours_name, paper_name in pairs:
        a = ours[ours["method"] == ours_name].set_index(["ratio", "group", "measure"])["mean"]
        b = published[published["method"] == paper_name].set_index(["ratio", "group", "measure"])[
            "value"
        ]
        both = pd.concat({"ours": a, "thesis": b}, axis=1, join="inner").reset_index()
        both["ours_method"], both["thesis_method"] = ours_name, paper_name
        compare.append(both)
    compare = pd.concat(compare, ignore_index=True)
    compare["diff"] = compare["ours"] - compare["thesis"]
    return compare


def side_by_side(main: pd.DataFrame) -> pd.DataFrame:
    """Ours, thesis and their difference for ACSA (Re) and G-mean, per pair and ratio."""
    side = main.pivot_table(
        index=["ours_method", "thesis_method", "ratio"],
        columns="measure",
        values=["ours", "thesis", "diff"],
        sort=False,
    )
    side = side.reindex(
        columns=pd.MultiIndex.from_product([["ours", "thesis", "diff"], ["Re", "GMean"]])
    )
    side.index.names = ["ours", "thesis", "ρ"]
    return side


def _describe(frame: pd.DataFrame) -> str:
    """'method at ρ = r (Re +0.050, GMean +0.040); ...' for the rows of ``frame``."""
    parts = []
    for (method, rho), grp in frame.groupby(["ours_method", "ratio"], sort=False):
        diffs = ", ".join(f"{r.measure} {r.diff:+.3f}" for r in grp.itertuples())
        parts.append(f"{method} at ρ = {rho:g} ({diffs})")
    return phrase_list(parts, sep="; ")


def thesis_gap_numbers(
    main: pd.DataFrame, ours: pd.DataFrame, published: pd.DataFrame, *, tol: float = 0.03
) -> dict[str, Any]:
    """Glue values on where we differ from the thesis (by more than ``tol``) and why.

    ``main``: :func:`thesis_comparison` rows of the Average group's Re and GMean. Gives
    ``n_big``, ``n_cells``, ``big_list``; the mean absolute gaps of our head and our CNN to
    the thesis's baselines (``bl_head_gap``, ``bl_cnn_gap``, ``cw_head_gap``, ``cw_cnn_gap``)
    and which is ``bl_closer``; ``ados_mean_diff``, ``smote_mean_diff``; and, when ADOS and
    BL+CW ran, ADOS's G-mean margin over BL+CW in the thesis and here (``pub_ados_margin``,
    ``our_ados_margin``, ``margin_gap``).
    """
    big = main[main["diff"].abs() > tol]
    same_name = big[big["ours_method"] == big["thesis_method"]]
    paired = main[main["ours_method"] == main["thesis_method"]]
    numbers: dict[str, Any] = {
        "n_big": int(len(same_name.groupby(["ours_method", "ratio"]))),
        "n_cells": int(len(paired.groupby(["ours_method", "ratio"]))),
        "big_list": _describe(same_name),
    }
    mean_abs = main.groupby(["ours_method", "thesis_method"], sort=False)["diff"].apply(
        lambda d: d.abs().mean()
    )
    numbers["bl_head_gap"] = lookup(mean_abs, ("BL", "BL"))
    numbers["bl_cnn_gap"] = lookup(mean_abs, (CNN_CE, "BL"))
    numbers["cw_head_gap"] = lookup(mean_abs, ("BL+CW", "BL+CW"))
    numbers["cw_cnn_gap"] = lookup(mean_abs, (CNN_CW, "BL+CW"))
    numbers["bl_closer"] = (
        "the end-to-end CNN"
        if mean_abs.get((CNN_CE, "BL"), np.inf) < mean_abs.get(("BL", "BL"), np.inf)
        else "the head on the features"
    )
    sign = paired.groupby("ours_method", sort=False)["diff"].mean()
    numbers["ados_mean_diff"] = lookup(sign, "ADOS")
    numbers["smote_mean_diff"] = lookup(sign, "FS-SMOTE")
    # margin of ADOS over class weighting of the head, in the thesis and here (average G-mean)
    pub_g = published[(published["group"] == "Average") & (published["measure"] == "GMean")]
    pub_g = pub_g.pivot_table(index="ratio", columns="method", values="value")
    ours_g = ours[(ours["group"] == "Average") & (ours["measure"] == "GMean")]
    ours_g = ours_g.pivot_table(index="ratio", columns="method", values="mean")
    if {"ADOS", "BL+CW"} <= set(ours_g.columns):
        numbers["pub_ados_margin"] = float((pub_g["ADOS"] - pub_g["BL+CW"]).mean())
        numbers["our_ados_margin"] = float((ours_g["ADOS"] - ours_g["BL+CW"]).mean())
        margin_gap = (ours_g["ADOS"] - ours_g["BL+CW"] - pub_g["ADOS"] + pub_g["BL+CW"]).mean()
        numbers["margin_gap"] = float(margin_gap)
    return numbers


def published_inconsistencies(published: pd.DataFrame, *, tol: float = 0.005) -> str:
    """Table 7.2 cells whose Average recall is not 0.6 x majority + 0.4 x minority, as text.

    Six majority and four minority classes: the printed average should be their weighted
    mean; "none" when every row agrees within ``tol``.
    """
    pub = published.pivot_table(
        index=["ratio", "method", "measure"], columns="group", values="value"
    )
    re_check = pub.xs("Re", level="measure")
    re_gap = re_check["Average"] - (0.6 * re_check["Maj"] + 0.4 * re_check["Min"])
    bad_pub = re_gap[re_gap.abs() > tol]
    return phrase_list(
        (
            f"{m} at ρ = {r:g} (printed {re_check.loc[(r, m), 'Average']:.3f}, "
            f"implied {re_check.loc[(r, m), 'Average'] - g:.3f})"
            for (r, m), g in bad_pub.items()
        ),
        sep="; ",
    )


def _versus(per: pd.DataFrame, a: str, b: str, measure: str) -> pd.Series:
    """Per-ratio difference a - b of the seed-mean of ``measure``."""
    return per.loc[a, measure] - per.loc[b, measure]


def ados_versus(
    per: pd.DataFrame,
    methods: Sequence[str],
    *,
    others: Sequence[str] = ("FS-SMOTE", "BL", "ADOS-noRW", "BL+CW"),
    measures: Sequence[str] = ("acsa", "gmean"),
    tol: float = 0.01,
) -> tuple[dict[str, Any], dict[tuple[str, str], pd.Series]]:
    """ADOS against each of ``others``: glue values and the per-ratio differences.

    ``per``: seed means indexed by (method, ratio). For each other method and measure the
    glue names ``ados_vs_{key}_{measure}`` (mean difference), ``..._word``
    (:func:`direction_word` over the ratios) and ``..._wins`` (ratios won by more than
    ``tol``); with ADOS-noRW and FS-SMOTE also ``rw_effect``, ``place_effect`` and
    ``rw_or_place``, the split of ADOS - FS-SMOTE into re-weighting and placement.
    """
    numbers: dict[str, Any] = {}
    result: dict[tuple[str, str], pd.Series] = {}
    for other in others:
        if "ADOS" in methods and other in methods:
            for measure in measures:
                d = _versus(per, "ADOS", other, measure)
                key = other.lower().replace("-", "_").replace("+", "_")
                numbers[f"ados_vs_{key}_{measure}"] = float(d.mean())
                numbers[f"ados_vs_{key}_{measure}_word"] = direction_word(d, tol=tol)
                numbers[f"ados_vs_{key}_{measure}_wins"] = int((d > tol).sum())
                result[other, measure] = d
    if {"ADOS", "ADOS-noRW", "FS-SMOTE"} <= set(methods):
        # split ADOS - FS-SMOTE into the re-weighting (ADOS - ADOS-noRW) and the placement of
        # the points (ADOS-noRW - FS-SMOTE), in G-mean averaged over the ratios
        rw_effect = float(_versus(per, "ADOS", "ADOS-noRW", "gmean").mean())
        place_effect = float(_versus(per, "ADOS-noRW", "FS-SMOTE", "gmean").mean())
        numbers["rw_effect"] = rw_effect
        numbers["place_effect"] = place_effect
        numbers["rw_or_place"] = (
            "its sample weights rather than from where its points are placed"
            if abs(rw_effect) > abs(place_effect)
            else "where its points are placed rather than from its sample weights"
        )
    return numbers, result


def cnn_fit_numbers(per: pd.DataFrame, fit_spread: float, top_ratio: float) -> dict[str, Any]:
    """The weighted CNN's own classifier against the heads, and how tightly it fits.

    ``cnn_vs_ados`` and ``cnn_vs_bl_cw`` (ACSA, mean over ratios); ``fit_spread``: the
    minority training embeddings' mean distance to their class mean over the test
    embeddings' at ``top_ratio`` (:func:`imbnb.methods.ados_figure.fit_spread`), with
    ``fit_comment`` and ``top_ratio``.
    """
    return {
        "cnn_vs_ados": float(_versus(per, CNN_CW, "ADOS", "acsa").mean()),
        "cnn_vs_bl_cw": float(_versus(per, CNN_CW, "BL+CW", "acsa").mean()),
        "fit_spread": fit_spread,
        "fit_comment": threshold_phrase(
            fit_spread,
            [
                (
                    0.9,
                    "the training points are packed more tightly than the test points, so "
                    "whatever is generated between them covers less of the region where the "
                    "test points fall",
                )
            ],
            "about as widely, so over-tight training features do not explain the gap here",
        ),
        "top_ratio": top_ratio,
    }


def seeds_note(n_seeds: int) -> str:
    """How far to trust differences, given the number of seeds behind the means."""
    if n_seeds == 1:
        return (
            "with one seed, so differences of a few hundredths are within the "
            "seed-to-seed spread (the paper profile runs three seeds)"
        )
    return f"mean over {n_seeds} seeds; the Table 7.2 layout above gives the spread"


def best_per_ratio(per: pd.DataFrame, measure: str = "gmean") -> str:
    """'method at ρ = r, ...': the best method on ``measure`` at each ratio."""
    best = per[measure].groupby(level="ratio").idxmax().map(lambda t: t[0])
    return ", ".join(f"{m} at ρ = {int(r)}" for r, m in best.items())


def pseudo_feature_numbers(
    pf_mean: pd.DataFrame, metrics: Mapping[str, str], *, tol: float = 0.005
) -> dict[str, Any]:
    """Glue values of the pseudo-feature protocol: pseudo-features and RUS against BL, SMOTE.

    ``pf_mean``: the measures' means per method. With PseudoFeat, FS-SMOTE and BL:
    ``pf_beats`` (the measures on which pseudo-features beat both by more than ``tol``),
    ``pf_vs_bl_acc``, ``pf_vs_smote_gmean``; with RUS and BL: ``rus_vs_bl_acc``,
    ``rus_vs_bl_min`` and ``rus_word``.
    """
    numbers: dict[str, Any] = {}
    if {"PseudoFeat", "FS-SMOTE", "BL"} <= set(pf_mean.index):
        beats = [
            metrics[k]
            for k in metrics
            if pf_mean.loc["PseudoFeat", k]
            > max(pf_mean.loc["FS-SMOTE", k], pf_mean.loc["BL", k]) + tol
        ]
        numbers["pf_beats"] = phrase_list(beats, empty="none of the four measures")
        numbers["pf_vs_bl_acc"] = float(
            pf_mean.loc["PseudoFeat", "accuracy"] - pf_mean.loc["BL", "accuracy"]
        )
        numbers["pf_vs_smote_gmean"] = float(
            pf_mean.loc["PseudoFeat", "gmean"] - pf_mean.loc["FS-SMOTE", "gmean"]
        )
    if "RUS" in pf_mean.index and "BL" in pf_mean.index:
        numbers["rus_vs_bl_acc"] = float(
            pf_mean.loc["RUS", "accuracy"] - pf_mean.loc["BL", "accuracy"]
        )
        numbers["rus_vs_bl_min"] = float(
            pf_mean.loc["RUS", "recall_min"] - pf_mean.loc["BL", "recall_min"]
        )
        numbers["rus_word"] = (
            "unlike" if pf_mean.loc["RUS", "accuracy"] > pf_mean.loc["BL", "accuracy"] else "like"
        )
    return numbers
