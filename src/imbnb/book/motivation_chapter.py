"""Chapter 1 (motivation): the plain CNN at every imbalance ratio, scored overall and per class.

The chapter narrates and calls; the loop over datasets, seeds and ratios lives here so that its
cells stay short. Computed, networks come from :func:`imbnb.methods.train_extractor` (cached),
scores from :func:`imbnb.metrics.evaluate`. Under ``paper`` the runs are read instead: each is
the ``CNN-CE`` run config of the experiment layer (chapter 8's plain CNN, the same recipe
trained by chapter 9's code), from chapter 8's table where it holds the run and from
``book/grids/chapters.yaml``'s table otherwise; only the confusion matrix's one network is
loaded or trained as that sweep trains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import softmax

from imbnb.book.table_source import COMPUTE, Source, chapter_source, check_readable, read_rows
from imbnb.data import load_dataset
from imbnb.experiments import RunConfig
from imbnb.experiments.registry import SETTINGS, loss_network
from imbnb.methods import ExtractorSettings, RunOptions, train_extractor
from imbnb.metrics import SUMMARY_SCORES, Report, evaluate

__all__ = [
    "MotivationRuns",
    "chapter_source",
    "confusion_note",
    "extractor_args",
    "motivation_configs",
    "motivation_runs",
    "network_report",
    "read_configs",
    "runs_sentence",
]

_ARCH = "C6-C16-F400-F120"  # the network a CNN-CE run config trains
_COLUMNS = ("precision", "recall", "f1", "support")  # a row's per-class scores, c0, c1, ...


class MotivationRuns(NamedTuple):
    """What chapter 1 shows: the runs' summary scores, per-class scores, and the reports."""

    summary: pd.DataFrame  # a row per (dataset, seed, rho): n_train and the summary scores
    per_class: pd.DataFrame  # a row per class and run, with its name and group
    reports: dict[tuple[str, int, float], Report]  # (dataset, seed, rho) -> the full report


def _class_rows(report: Report, classes: Sequence[str]) -> pd.DataFrame:
    """The report's per-class scores with the class names, one row per class."""
    per_class = report.per_class.reset_index()
    per_class["name"] = [classes[c] for c in per_class["class"]]
    return per_class


def motivation_runs(
    datasets: Sequence[str],
    seeds: Sequence[int],
    ratios: Sequence[float],
    extractor_args: Mapping[str, Any],
    source: Source = COMPUTE,
) -> MotivationRuns:
    """Train (or load) and score the CNN for every dataset, seed and ratio ``rho``, or read the
    runs from ``source``'s tables (``reports`` then holds the first dataset's and seed's run at
    the largest ratio, for the confusion matrix).

    ``extractor_args``: the other settings of :func:`imbnb.methods.train_extractor` (protocol,
    architecture, epochs...). Scores are on the test set of each extractor, every class
    counted; ``per_class`` gets a ``group`` column, "minority" or "majority".
    """
    if not source.computes:
        configs = motivation_configs(datasets, seeds, ratios, extractor_args, source.profile)
        return _from_rows(read_rows(configs, source), configs)
    summary_rows, class_rows, reports = [], [], {}
    for name in datasets:
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
        for seed in seeds:
            for rho in ratios:
                settings = ExtractorSettings(**extractor_args, ratio=rho, seed=seed)
                ex = train_extractor(name, settings, RunOptions(train=train, test=test))
                report = evaluate(
                    ex.y_test, ex.y_pred_test, ex.proba_test,
                    minority=ex.minority_classes, labels=list(range(train.n_classes)),
                )  # fmt: skip
                reports[name, seed, rho] = report
                summary_rows.append(
                    {"dataset": name, "seed": seed, "rho": rho, "n_train": len(ex.y_train),
                     **report.summary}
                )  # fmt: skip
                rows = _class_rows(report, train.classes)
                class_rows.append(rows.assign(dataset=name, seed=seed, rho=rho))
    per_class = pd.concat(class_rows, ignore_index=True)
    per_class["group"] = np.where(per_class["is_minority"], "minority", "majority")
    return MotivationRuns(pd.DataFrame(summary_rows), per_class, reports)


def runs_sentence(source: Source, minority_classes: Sequence[int] | None, n_minority: int) -> str:
    """Where the chapter's networks come from and how their minority classes are chosen."""
    if minority_classes is not None:
        classes = f"The minority classes are {', '.join(map(str, minority_classes))} in every run."
    else:
        classes = (
            f"Each seed draws its own {n_minority} minority classes and keeps them at every "
            "ratio: a seed is one class draw, the book's unit of replication."
        )
    if source.computes:
        return f"{classes} Every network is trained (or loaded from the cache) by this execution."
    tables = " and ".join(source.tables)
    return (
        f"{classes} The runs are read from {tables}: each is the CNN-CE run of the experiment "
        "layer, the same network and recipe trained by chapter 9's code "
        "(imbnb.methods.losses_baselines), so chapters 1, 8 and 9 share those runs; only the "
        "confusion matrix's network is loaded from the cache or trained again, as the sweep "
        "trained it."
    )


def extractor_args(p: Mapping[str, Any]) -> dict[str, Any]:
    """The chapter's CNN settings (:func:`imbnb.methods.train_extractor`'s) from its parameter
    values ``p``; the ratio and seed are set per run."""
    keys = ("n_minority", "minority_classes", "arch", "epochs", "batch_size", "lr", "n_train")
    return {"protocol": "minority", **{k: p[k] for k in keys}, "n_test": p["n_test"]}


def read_configs(p: Mapping[str, Any]) -> dict[str, list[RunConfig]]:
    """The runs the chapter reads from tables with parameter values ``p`` (what
    ``book/grids/chapters.yaml`` is generated from): every dataset, seed and ratio's CNN-CE."""
    configs = motivation_configs(p["datasets"], p["seeds"], p["ratios"], extractor_args(p),
                                 p["profile"])  # fmt: skip
    return {"plain CNN": configs}


def motivation_configs(
    datasets: Sequence[str],
    seeds: Sequence[int],
    ratios: Sequence[float],
    extractor_args: Mapping[str, Any],
    profile: str,
) -> list[RunConfig]:
    """The chapter's runs as ``CNN-CE`` run configs (epochs and batch always, as chapter 8's
    grid writes them; the learning rate only when not the default), dataset by seed by ratio."""
    a = extractor_args
    if a.get("protocol", "minority") != "minority":
        raise ValueError(
            f"protocol must be 'minority' to read committed runs, got {a['protocol']!r}"
        )
    check_readable(a.get("arch", _ARCH), _ARCH)
    params: dict[str, Any] = {"epochs": a["epochs"], "batch_size": a["batch_size"]}
    if a.get("lr", SETTINGS["losses"]["lr"]) != SETTINGS["losses"]["lr"]:
        params["lr"] = a["lr"]
    shared = {"n_minority": a.get("n_minority", 4), "minority_classes": a.get("minority_classes"),
              "n_train": a.get("n_train"),
              "n_test": a.get("n_test"), "params": params, "profile": profile}  # fmt: skip
    return [
        RunConfig("CNN-CE", dataset=name, ratio=rho, seed=seed, **shared)
        for name in datasets
        for seed in seeds
        for rho in ratios
    ]


def _class_rows_of(row: Mapping[str, Any], classes: Sequence[str]) -> pd.DataFrame:
    """A stored row's per-class columns (``recall_c3``...) as one row per class."""
    minority = {int(c) for c in str(row.get("minority") or "").split(",") if c != ""}
    return pd.DataFrame(
        [
            {"class": c, **{k: row[f"{k}_c{c}"] for k in _COLUMNS}, "is_minority": c in minority,
             "name": name}
            for c, name in enumerate(classes)
        ]
    )  # fmt: skip


def _from_rows(rows: pd.DataFrame, configs: Sequence[RunConfig]) -> MotivationRuns:
    """The chapter's frames from stored rows, and the report of its confusion matrix's run."""
    if rows.empty:
        raise ValueError("the tables hold none of the chapter's runs; run `imbnb sweep` into them")
    rows = rows.assign(rho=_plain_numbers(rows["ratio"]))
    scores = [k for k in SUMMARY_SCORES if k in rows]
    ids = ["dataset", "seed", "rho", "n_train", "config_hash"]  # the hash: for missing_runs
    summary = rows[[*ids, *scores]].reset_index(drop=True)
    parts = []
    for row in rows.to_dict("records"):
        classes = load_dataset(row["dataset"], "test").classes
        parts.append(
            _class_rows_of(row, classes).assign(dataset=row["dataset"], seed=row["seed"],
                                                rho=row["ratio"])
        )  # fmt: skip
    per_class = pd.concat(parts, ignore_index=True)
    per_class["support"] = per_class["support"].astype(int)
    per_class["rho"] = _plain_numbers(per_class["rho"])  # a record's numbers come as floats
    per_class["group"] = np.where(per_class["is_minority"], "minority", "majority")
    first = max((c for c in configs if (c.dataset, c.seed) == (configs[0].dataset,
                 configs[0].seed)), key=lambda c: c.ratio)  # fmt: skip
    key = (first.dataset, first.seed, first.ratio)
    return MotivationRuns(summary, per_class, {key: network_report(first)})


def _plain_numbers(values: pd.Series) -> pd.Series:
    """Ratios as the chapter writes them: integers when every one is whole (a row stores floats)."""
    whole = values.map(float).map(float.is_integer).all()
    return values.astype(int) if whole else values


def network_report(cfg: RunConfig) -> Report:
    """The full report (confusion matrix included) of a ``CNN-CE`` config's network."""
    run = loss_network(cfg)
    logits = run.logits_test
    return evaluate(
        run.y_test, logits.argmax(axis=1), softmax(logits, axis=1),
        minority=[int(c) for c in run.split.minority_classes],
        labels=list(range(logits.shape[1])),
    )  # fmt: skip


def confusion_note(runs: MotivationRuns, key: tuple[str, int, float], source: Source) -> str:
    """How the confusion matrix of run ``key`` relates to the tables' recall of that run."""
    if source.computes:
        return "Its diagonal is the recall of the tables above."
    name, seed, rho = key
    pc = runs.per_class
    row = pc[(pc["dataset"] == name) & (pc["seed"] == seed) & (pc["rho"] == rho)]
    diagonal = runs.reports[key].per_class["recall"].to_numpy()
    if len(row) != len(diagonal):
        return "The tables do not hold this run yet; the matrix is of the network trained here."
    gap = float(np.abs(row.sort_values("class")["recall"].to_numpy() - diagonal).max())
    if gap < 5e-4:
        return "Its network, trained again as the sweep trained it, has the tables' recall."
    return (
        f"Its network is trained again on this machine as the sweep trained it, and its recall "
        f"differs from the tables' by up to {gap:.3f}: trained weights depend on the CPU type "
        "(floating-point sums are not associative), so a run stored from another machine is "
        "not reproduced exactly."
    )
