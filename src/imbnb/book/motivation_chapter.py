"""Chapter 1 (motivation): the plain CNN at every imbalance ratio, scored overall and per class.

The chapter narrates and calls; the loop over datasets, seeds and ratios lives here so that its
cells stay short. Networks come from :func:`imbnb.methods.train_extractor` (cached), scores
from :func:`imbnb.metrics.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from imbnb.data import load_dataset
from imbnb.methods import train_extractor
from imbnb.metrics import Report, evaluate

__all__ = ["MotivationRuns", "motivation_runs"]


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
) -> MotivationRuns:
    """Train (or load) and score the CNN for every dataset, seed and ratio ``rho``.

    ``extractor_args``: the other settings of :func:`imbnb.methods.train_extractor` (protocol,
    architecture, epochs...). Scores are on the test set of each extractor, every class
    counted; ``per_class`` gets a ``group`` column, "minority" or "majority".
    """
    summary_rows, class_rows, reports = [], [], {}
    for name in datasets:
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
        for seed in seeds:
            for rho in ratios:
                ex = train_extractor(
                    name, ratio=rho, seed=seed, **extractor_args, train=train, test=test
                )
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
