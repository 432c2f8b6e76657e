"""Chapter 4 (DOS): the paper's Tables 6-8 and chapter 3's comparison, its six-classifier
figure and the numbers the prose quotes about them.

Rows are :meth:`imbnb.methods.dos.DOSRun.rows` with ``dataset``, ``p`` and ``k`` columns (see
:func:`imbnb.book.dos_chapter.run_protocol`); the paper's numbers come from
:func:`imbnb.published.load_published` (``paper="ando2017dos"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from imbnb.book.dos_runs import (
    balanced_config,
    balanced_configs,
    chapter_configs,
    check_dos_readable,
    thesis_rows,
)
from imbnb.book.runner import chapter_defaults, load_profiles
from imbnb.book.style import column_figsize
from imbnb.book.table_source import COMPUTE, Source, read_rows
from imbnb.experiments import RunConfig
from imbnb.methods.dos import INIT_METHODS, DOSConfig, ratio_from_fraction, run_dos
from imbnb.methods.extractor import ExtractorSettings
from imbnb.methods.feature_space import CNN_CE, FeatureGrid, run_grid
from imbnb.methods.options import RunOptions

__all__ = [
    "MEASURES",
    "MODELS",
    "ThesisSettings",
    "balanced_comparison",
    "chapter_settings",
    "classifier_numbers",
    "k_numbers",
    "plot_six_classifiers",
    "read_configs",
    "table_6",
    "table_7",
    "thesis_comparison",
    "thesis_grid",
]

#: The paper's measures: short name -> metric column stem of the rows.
MEASURES = {"Pr": "precision", "Re": "recall", "F1": "f1", "AUC": "auprc"}
#: The six classifiers in the order the figures and tables show them.
MODELS = ["CNN", "CNN-LR", "CNN-kNN", "DOS", "DOS-LR", "DOS-kNN"]
_COLOURS = ["0.2", "0.5", "0.75", "tab:green", "tab:olive", "tab:cyan"]  # of MODELS, in order
_MARKERS = ["o", "s", "^", "o", "s", "^"]
_NAN = float("nan")


def _paper_layout(res: pd.DataFrame, ps: Sequence[float], k: int) -> pd.DataFrame:
    """Rows (model, p, class) x columns measure: CNN, CNN-CL (kNN; AUC from LR), DOS."""
    out = []
    sources = {
        "CNN": {m: "CNN" for m in MEASURES},
        "CNN-CL": {"Pr": "CNN-kNN", "Re": "CNN-kNN", "F1": "CNN-kNN", "AUC": "CNN-LR"},
        f"DOS (k={k})": {m: "DOS" for m in MEASURES},
    }
    for model, src in sources.items():
        for p in ps:
            for grp in ["min", "maj"]:
                row = {"model": model, "p": p, "class": "mnr" if grp == "min" else "mjr"}
                for short, metric in MEASURES.items():
                    sel = res[(res.method == src[short]) & (res.p == p)]
                    if src[short].startswith("DOS"):
                        sel = sel[sel.k == k]
                    row[short] = sel[f"{metric}_{grp}"].mean()
                out.append(row)
    return pd.DataFrame(out).set_index(["model", "p", "class"])


def _paper_values(
    published: pd.DataFrame, table: str, dataset: str, ps: Sequence[float], k: int
) -> pd.DataFrame:
    """The paper's numbers for the same layout (NaN where it has none)."""
    pub = published[(published.table == table) & (published.dataset == dataset)]
    out = []
    for model in ["CNN", "CNN-CL", f"DOS (k={k})"]:
        for p in ps:
            for grp in ["min", "maj"]:
                row = {"model": model, "p": p, "class": "mnr" if grp == "min" else "mjr"}
                for short, metric in MEASURES.items():
                    ratio = round(ratio_from_fraction(p))
                    sel = pub[
                        (pub.method == model)
                        & (pub.ratio == ratio)
                        & (pub.metric == f"{metric}_{grp}")
                    ]
                    row[short] = sel.value.iloc[0] if len(sel) else np.nan
                out.append(row)
    return pd.DataFrame(out).set_index(["model", "p", "class"])


def table_6(
    results: pd.DataFrame,
    published: pd.DataFrame,
    datasets: Sequence[str],
    ps: Sequence[float],
    k: int,
) -> pd.DataFrame:
    """The paper's Table 6 layout per dataset, with its MNIST numbers beside."""
    ours = {name: _paper_layout(results[results.dataset == name], ps, k) for name in datasets}
    paper = _paper_values(published, "Table 6", "mnist", ps, k)
    return pd.concat({**ours, "paper: MNIST": paper}, axis=1)


def _k_table(
    base: pd.DataFrame, dos_at: Callable[[int], pd.DataFrame], ks: Sequence[int], p: float
) -> pd.DataFrame:
    """CNN and CNN-CL rows of ``base``, then DOS at every k (``dos_at(k)``), all at ``p``."""
    base = base.xs(p, level="p")
    parts = {"CNN": base.loc["CNN"], "CNN-CL": base.loc["CNN-CL"]}
    for k in sorted(ks):
        parts[f"DOS (k={k})"] = dos_at(k).xs(p, level="p").loc[f"DOS (k={k})"]
    return pd.concat(parts, names=["model"])


def _our_k_table(res: pd.DataFrame, ks: Sequence[int], k_main: int, p_max: float) -> pd.DataFrame:
    """Rows (model, class) x measures at p_max for the CNN, CNN-CL and DOS at every k."""
    base = _paper_layout(res, [p_max], k_main)
    return _k_table(base, lambda k: _paper_layout(res, [p_max], k), ks, p_max)


def table_7(
    results: pd.DataFrame,
    published: pd.DataFrame,
    datasets: Sequence[str],
    ks: Sequence[int],
    k_main: int,
    p_max: float,
) -> pd.DataFrame:
    """The paper's Table 7 layout at ``p_max``, and its own (at p = 0.99; CNN rows from its
    Table 6, whose p = 0.99 rows its Table 7 repeats)."""
    ours = {
        name: _our_k_table(results[results.dataset == name], ks, k_main, p_max) for name in datasets
    }
    base = _paper_values(published, "Table 6", "mnist", [0.99], 5)
    paper = _k_table(
        base, lambda k: _paper_values(published, "Table 7", "mnist", [0.99], k), ks, 0.99
    )
    return pd.concat({**ours, "paper: MNIST": paper}, axis=1)


def plot_six_classifiers(results: pd.DataFrame, k_main: int, dataset: str) -> plt.Figure:
    """Minority F1 and AUPRC and majority F1 of the six classifiers over p (mean over seeds)."""
    long = results[(results.dataset == dataset) & (results.k.isna() | (results.k == k_main))]
    long = long.assign(model=long.method)
    shown = [i for i, m in enumerate(MODELS) if m in set(long.model)]  # a table may lack some
    fig, grid = plt.subplots(2, 2, figsize=column_figsize(2, 0.42), sharey=True)
    axes = grid.flat[:3]  # three measures; the fourth cell holds the legend
    for ax, metric in zip(axes, ["f1_min", "auprc_min", "f1_maj"], strict=True):
        sns.pointplot(
            data=long,
            x="p",
            y=metric,
            hue="model",
            ax=ax,
            errorbar=None,
            hue_order=[MODELS[i] for i in shown],
            palette=[_COLOURS[i] for i in shown],
            markers=[_MARKERS[i] for i in shown],
            dodge=0.3,  # equal scores stay visible
        )
        ax.set(title=metric.replace("_", " "), ylim=(0, 1.02), ylabel="")
        handles, labels = ax.get_legend_handles_labels()
        ax.get_legend().remove()
    grid.flat[3].axis("off")
    grid.flat[3].legend(handles, labels, loc="center", frameon=False)
    count = {3: "three", 6: "six"}.get(len(shown), str(len(shown)))
    fig.suptitle(f"{dataset}: {count} classifiers over p (k = {k_main}, mean over seeds)")
    fig.tight_layout()
    return fig


def _band(value: float, tol: float, words: tuple[str, str, str]) -> str:
    """``words[0]`` above ``tol``, ``words[1]`` below ``-tol``, ``words[2]`` between."""
    return words[0] if value > tol else (words[1] if value < -tol else words[2])


def classifier_numbers(results: pd.DataFrame, k_main: int, ps: Sequence[float]) -> dict[str, Any]:
    """What the prose quotes about the six classifiers at the largest p, and DOS's gain."""
    long = results[(results.k.isna()) | (results.k == k_main)]
    cols = ["acsa", "f1_min", "auprc_min", "f1_maj", "auprc_maj"]
    summary = long.groupby(["p", "method"])[cols].mean()
    p_max = max(ps)

    def at(method: str, col: str, p: float = p_max) -> float:  # NaN: a run the rows lack
        return float(summary.loc[(p, method), col]) if (p, method) in summary.index else _NAN

    out: dict[str, Any] = {}
    tags = ["cnn", "cnnlr", "cnnknn", "dos", "doslr", "dosknn"]
    for method, tag in zip(MODELS, tags, strict=True):
        for col in ["acsa", "f1_min", "auprc_min", "f1_maj"]:
            out[f"{tag}_{col}"] = at(method, col)
    best = summary.loc[p_max]["acsa"].idxmax()
    out["best_method"] = best
    out["best_acsa"] = float(summary.loc[(p_max, best), "acsa"])
    gains = [at("DOS", "f1_min", p) - at("CNN", "f1_min", p) for p in ps]
    out["dos_gain_word"] = (
        "raises"
        if min(gains) > 0.01
        else ("lowers" if max(gains) < -0.01 else "does not consistently change")
    )
    out["dos_gain_min"] = min(gains)
    out["dos_gain_max"] = max(gains)
    own_vs_cl = at("DOS", "acsa") - max(at("DOS-LR", "acsa"), at("DOS-kNN", "acsa"))
    out["own_vs_cl"] = _band(own_vs_cl, 0.005, ("better than", "worse than", "on par with"))
    out["cnn_comparison"] = _cnn_sentence(out, p_max)
    return out


def _cnn_sentence(n: dict[str, Any], p_max: float) -> str:
    """What the prose says about the CNN that DOS starts from, or why the rows lack it."""
    if np.isnan(n["cnn_f1_min"]):
        return (
            "The committed tables hold no row of the CNN that DOS starts from, nor of logistic "
            "regression and kNN on its embedding (CNN, CNN-LR, CNN-kNN, and so the paper's "
            "CNN-CL): the experiment layer has no method for them, so their rows above are "
            "empty and DOS is compared with its refitted classifiers only."
        )
    return (
        f"Over the removal fractions, DOS {n['dos_gain_word']} the minority F1 of the CNN it "
        f"starts from (by {n['dos_gain_min']:.3f} to {n['dos_gain_max']:.3f}). At "
        f"p = {p_max}, the CNN reaches a minority F1 of {n['cnn_f1_min']:.3f}, an ACSA of "
        f"{n['cnn_acsa']:.3f} and a minority AUPRC of {n['cnn_auprc_min']:.3f}; logistic "
        f"regression and kNN on its embedding a minority F1 of {n['cnnlr_f1_min']:.3f} and "
        f"{n['cnnknn_f1_min']:.3f}."
    )


def k_numbers(results: pd.DataFrame, ks: Sequence[int], p_max: float) -> dict[str, Any]:
    """DOS's minority F1 across k at ``p_max``: its spread and the best k."""
    at_p_max = (results.method == "DOS") & (results.p == p_max)  # k_main also ran at other p
    dos_k = results[at_p_max].groupby("k")[["f1_min", "f1_maj"]].mean()
    dos_k = dos_k.loc[[k for k in sorted(ks) if k in dos_k.index]]
    numbers = {
        "k_spread": float(dos_k["f1_min"].max() - dos_k["f1_min"].min()),
        "k_best": int(dos_k["f1_min"].idxmax()),
        "ks_text": ", ".join(str(int(k)) for k in dos_k.index),  # the k with rows
    }
    if len(dos_k) < 2:  # a table that holds one k: no spread to speak of
        numbers["k_sentence"] = (
            f"At p = {p_max:g} only k = {numbers['ks_text']} has runs yet, so how much DOS "
            "depends on k is not measured here."
        )
    else:
        numbers["k_sentence"] = (
            f"At p = {p_max:g}, across k = {numbers['ks_text']}, the minority F1 of DOS "
            f"varies by {numbers['k_spread']:.3f} (best at k = {numbers['k_best']})."
        )
    return numbers


# -- chapter 3's protocol and the balanced data -------------------------------------------------


@dataclass(frozen=True)
class ThesisSettings:
    """Chapter 3's settings under a profile, so that its cached networks and rows are reused."""

    n_train: int | None
    epochs: int
    batch_size: int
    n_test: int | None
    minority: list[int]
    head: dict[str, Any]
    extractor_weight: Any
    rho_d: float

    @classmethod
    def from_profile(cls, profile: str, n_test: int | None) -> ThesisSettings:
        """Chapter 3's defaults overridden by ``profile``; ``n_test`` where they set none."""
        ch3 = {
            **chapter_defaults("03_ados"),
            **load_profiles().get(profile, {}).get("chapters", {}).get("03_ados", {}),
        }
        head = {
            "hidden": ch3.get("head_hidden", [256, 128]),
            "epochs": ch3.get("head_epochs", 20),
            "batch_size": ch3.get("head_batch_size", 128),
        }
        return cls(
            n_train=ch3.get("n_train", 20000),
            epochs=ch3.get("epochs", 5),
            batch_size=ch3.get("batch_size", 64),
            n_test=ch3.get("n_test", n_test),
            minority=ch3.get("minority_classes", [0, 2, 5, 8]),
            head=head,
            extractor_weight=ch3.get("extractor_weight", "balanced"),
            rho_d=ch3.get("rho_d", 1.0),
        )


_THESIS_COLS = ["acsa", "gmean", "f1_min", "f1_maj", "auprc_min", "precision_min", "recall_min"]
_THESIS_ORDER = [CNN_CE, "BL", "ADOS", "DOS", "DOS-LR", "DOS-kNN"]
_THESIS_TAGS = [("DOS", "dos"), ("ADOS", "ados"), (CNN_CE, "cnn"), ("BL", "bl")]
_QUOTED = ["acsa", "f1_min"]


@dataclass(frozen=True)
class _ThesisRun:
    """What :func:`thesis_comparison` runs: DOS's shared config and chapter 3's protocol."""

    base: DOSConfig  # what every DOS run shares (dataset, network, DOS settings)
    ch3: ThesisSettings  # chapter 3's classes, cap, epochs, batch size, head
    ratios: Sequence[float]
    seeds: Sequence[int]
    data: tuple[Any, Any]  # the training and test splits
    knn_k: int  # neighbours of DOS-kNN


def _dos_thesis_rows(run: _ThesisRun) -> list[dict[str, Any]]:
    """DOS on chapter 3's splits (its classes, cap, epochs, batch size), one row a classifier."""
    base, ch3 = run.base, run.ch3
    rows = []
    for seed in run.seeds:
        for rho in run.ratios:
            config = replace(
                base,
                p=None,
                ratio=rho,
                minority_classes=ch3.minority,
                n_minority=4,  # run_dos's default: the classes are given
                seed=seed,
                init_epochs=ch3.epochs,
                batch_size=ch3.batch_size,
                n_train=ch3.n_train,
                n_test=ch3.n_test,
            )
            dos = run_dos(config, train=run.data[0], test=run.data[1])
            rows += [{"ratio": float(rho), **row} for row in dos.rows(knn_k=run.knn_k)]
    return rows


def _ados_thesis_grid(run: _ThesisRun) -> FeatureGrid:
    """Chapter 3's BL and ADOS on the same splits: its extractor, ``rho_d`` and head."""
    base, ch3 = run.base, run.ch3
    extractor = ExtractorSettings(
        minority_classes=ch3.minority,
        arch=base.arch,
        epochs=ch3.epochs,
        batch_size=ch3.batch_size,
        lr=base.lr,
        class_weight=ch3.extractor_weight,
        n_train=ch3.n_train,
        n_test=ch3.n_test,
    )
    return FeatureGrid(["BL", "ADOS"], run.ratios, run.seeds, extractor, ch3.rho_d, ch3.head)


def thesis_grid(
    base: DOSConfig, ch3: ThesisSettings, ratios: Sequence[float], seeds: Sequence[int]
) -> FeatureGrid:
    """Chapter 3's BL and ADOS heads on its thesis splits (for listing the runs read)."""
    return _ados_thesis_grid(_ThesisRun(base, ch3, ratios, seeds, (None, None), 5))


def thesis_comparison(
    base: DOSConfig,
    ch3: ThesisSettings,
    ratios: Sequence[float],
    seeds: Sequence[int],
    data: tuple[Any, Any],
    knn_k: int,
    source: Source = COMPUTE,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """DOS, chapter 3's BL and ADOS on the thesis's ρ protocol: the table (mean over
    seeds) and the numbers the prose quotes at the first ratio (NaN when ``ratios`` is empty).
    With a table ``source`` every row is read (:func:`imbnb.book.dos_runs.thesis_rows`)."""
    if not ratios:
        keys = ["thesis_rho", *[f"thesis_{t}_{c}" for _, t in _THESIS_TAGS for c in _QUOTED]]
        return pd.DataFrame(), dict.fromkeys(keys, _NAN)
    run = _ThesisRun(base, ch3, ratios, seeds, data, knn_k)
    if source.computes:
        dos = pd.DataFrame(_dos_thesis_rows(run))  # DOS's rows first, then the heads'
        options = RunOptions(train=data[0], test=data[1])
        ados = run_grid(base.dataset, grid=_ados_thesis_grid(run), options=options, progress=False)
        thesis = pd.concat([dos, ados], ignore_index=True)
    else:
        thesis = thesis_rows(base, _ados_thesis_grid(run), knn_k, source)
    thesis["method"] = thesis["method"].replace({"CNN": CNN_CE})
    table = (
        thesis[thesis.method.isin(_THESIS_ORDER)]
        .groupby(["ratio", "method"])[_THESIS_COLS]
        .mean()
        .reindex(_THESIS_ORDER, level="method")
    )
    rho0 = float(ratios[0])
    numbers: dict[str, Any] = {"thesis_rho": ratios[0]}
    for method, tag in _THESIS_TAGS:
        for col in _QUOTED:
            held = (rho0, method) in table.index  # a table may lack a run
            numbers[f"thesis_{tag}_{col}"] = float(table.loc[(rho0, method), col]) if held else _NAN
    return table, numbers


def balanced_comparison(
    base: DOSConfig,
    seeds: Sequence[int],
    data: tuple[Any, Any],
    n_train: int | None,
    knn_k: int,
    source: Source = COMPUTE,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """DOS on balanced data (the paper's Table 8: every class k = ``base.k``, r = 1): macro F1,
    macro AUPRC and ACSA of the six classifiers, trained here or read from ``source``'s tables
    (:func:`imbnb.book.dos_runs.balanced_configs`), and the numbers the prose quotes."""
    balanced = pd.DataFrame()
    if n_train != 0 and source.computes:
        rows = []
        for seed in seeds:
            config = balanced_config(base, seed, n_train)
            rows += run_dos(config, train=data[0], test=data[1]).rows(knn_k=knn_k)
        balanced = pd.DataFrame(rows)
    elif n_train != 0:
        check_dos_readable(base, knn_k)
        configs = balanced_configs(base, base.dataset, seeds, n_train, source.profile)
        balanced = read_rows(configs, replace(source, allow_missing=True))
        if len(balanced):  # the CNN baselines under the paper's names, as computed
            balanced["method"] = balanced["method"].replace(INIT_METHODS)
    keys = ["bal_cnn_f1", "bal_dos_f1", "bal_cnn_auc", "bal_dos_auc"]
    if not len(balanced):
        return pd.DataFrame(), dict.fromkeys(keys, _NAN)
    cols = ["f1_macro", "auprc_macro", "acsa"]
    table = balanced.groupby("method")[cols].mean().reindex(MODELS)
    cells = [
        ("CNN", "f1_macro"),
        ("DOS", "f1_macro"),
        ("CNN", "auprc_macro"),
        ("DOS", "auprc_macro"),
    ]
    return table, {key: float(table.loc[cell]) for key, cell in zip(keys, cells, strict=True)}


def chapter_settings(p: Mapping[str, Any]) -> tuple[DOSConfig, list[tuple[float, int]]]:
    """The chapter's DOS settings and (p, k) grid from its parameter values ``p``: every removal
    fraction at the main k, every other k at the largest fraction (each run sets its dataset,
    seed, p and k)."""
    keys = ("minority_classes", "n_minority", "arch", "init_epochs", "batch_size", "lr",
            "k_majority", "r", "rounds", "lambda_f", "n_train", "n_test")  # fmt: skip
    p_max, k_main = max(p["remove_fractions"]), p["k_main"]
    settings = DOSConfig(p["datasets"][0], p=p_max, k=k_main, **{k: p[k] for k in keys})
    grid = [(f, k_main) for f in p["remove_fractions"]]
    return settings, grid + [(p_max, k) for k in p["ks"] if k != k_main]


def read_configs(p: Mapping[str, Any]) -> dict[str, list[RunConfig]]:
    """The runs the chapter reads from tables with parameter values ``p``, by comparison (what
    ``book/grids/chapters.yaml`` is generated from): the paper's protocol, the thesis's, then
    the balanced data's (none when ``balanced_n_train`` is 0)."""
    settings, grid = chapter_settings(p)
    ch3 = ThesisSettings.from_profile(p["profile"], p["n_test"])
    ratios = p["thesis_ratios"]
    thesis = thesis_grid(settings, ch3, ratios, p["seeds"]) if ratios else None
    out = chapter_configs(settings, p["datasets"], p["seeds"], grid, thesis, p["profile"])
    n_train = p["balanced_n_train"]
    if n_train != 0:
        out["balanced data"] = balanced_configs(
            settings, settings.dataset, p["seeds"], n_train, p["profile"]
        )
    return out
