"""Class-imbalance metrics in one call: per-class scores, minority/majority averages, ACSA,
G-mean, macro AUPRC and the confusion matrix (book chapter "01 Motivation", which explains why
accuracy misleads; definitions follow the ADOS thesis eqs. 2.1-2.12, AUPRC as in DOS §4.2).

Conventions, stated once and used everywhere:

* A class that is never predicted has precision 0 (sklearn ``zero_division=0``), and so F1 0.
* A class in ``labels`` with no samples in ``y_true`` has recall 0 (same convention, as in
  sklearn's macro recall and imblearn's ``geometric_mean_score``); ``evaluate`` warns because such
  a class pulls ACSA and G-mean down.
* AUPRC is undefined for a class absent from ``y_true``: its per-class value is NaN and it is left
  out of ``auprc_macro``/``auprc_min``/``auprc_maj``, which therefore stay NaN-free.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
)
from sklearn.utils.multiclass import unique_labels

__all__ = ["SUMMARY_SCORES", "Report", "evaluate", "format_table", "summarise"]

#: The summary scores of every report, in order (the AUPRC ones follow when probabilities are
#: given): the columns a results row and a chapter's tables share.
SUMMARY_SCORES: tuple[str, ...] = (
    "accuracy", "acsa", "gmean", "precision_macro", "recall_macro", "f1_macro",
    "precision_min", "recall_min", "f1_min", "gmean_min",
    "precision_maj", "recall_maj", "f1_maj", "gmean_maj",
)  # fmt: skip


@dataclass
class Report:
    """The result of :func:`evaluate`: scalar summary, per-class table and confusion matrix."""

    summary: dict[str, float]
    per_class: pd.DataFrame
    confusion: np.ndarray
    labels: list[Any] = field(default_factory=list)
    minority: list[Any] | None = None
    majority: list[Any] | None = None

    def __getitem__(self, key: str) -> float:
        """Shortcut ``report["acsa"]`` for ``report.summary["acsa"]``."""
        return self.summary[key]

    def to_row(self) -> dict[str, float]:
        """Flatten to one table row: the summary plus ``{precision,recall,f1,support}_c{k}``."""
        row: dict[str, float] = dict(self.summary)
        cols = ["precision", "recall", "f1", "support"]
        if "auprc" in self.per_class.columns:
            cols.append("auprc")
        for label, rec in self.per_class.iterrows():
            for col in cols:
                row[f"{col}_c{label}"] = float(rec[col])
        return row

    def __repr__(self) -> str:
        """Short text form listing the summary scores."""
        body = ", ".join(f"{k}={v:.4f}" for k, v in self.summary.items())
        return f"Report({body})"


def _as_1d(name: str, y: Any) -> np.ndarray:
    """Coerce labels to a 1-D array, naming the argument on failure."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D (one label per sample), got shape {arr.shape}")
    return arr


def _resolve_labels(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, labels: Any
) -> list[Any]:
    """Fix the class order: explicit ``labels``, else 0..K-1 from ``proba``, else the union."""
    observed = unique_labels(y_true, y_pred)
    if labels is not None:
        out = list(np.asarray(labels).tolist())
        if len(out) == 0:
            raise ValueError("`labels` must not be empty")
        if len(set(out)) != len(out):
            raise ValueError(f"`labels` contains duplicates: {out}")
        missing = sorted(set(observed.tolist()) - set(out))
        if missing:
            raise ValueError(f"y_true/y_pred contain labels not in `labels`: {missing}")
        return out
    if proba is not None and proba.ndim == 2:
        # Columns of proba are classes 0..K-1 unless `labels` says otherwise.
        k = proba.shape[1]
        if np.issubdtype(observed.dtype, np.integer) and (
            observed.size == 0 or (observed.min() >= 0 and observed.max() < k)
        ):
            return list(range(k))
        raise ValueError(
            f"cannot map the {k} columns of `proba` to labels {observed.tolist()}; "
            "pass `labels` (one per column of `proba`)"
        )
    return observed.tolist()


def _check_proba(proba: Any, n_samples: int, n_labels: int) -> np.ndarray:
    """Validate ``proba`` as an (n_samples, n_labels) finite score matrix."""
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1 and n_labels == 2:
        p = np.column_stack([1.0 - p, p])  # binary shorthand: P(labels[1])
    if p.ndim != 2 or p.shape != (n_samples, n_labels):
        raise ValueError(
            f"`proba` must have shape (n_samples, n_labels) = ({n_samples}, {n_labels}), "
            f"got {np.shape(proba)}"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError("`proba` contains NaN or infinite values")
    return p


def _mean(values: Iterable[float]) -> float:
    """Mean of a possibly empty iterable (NaN when empty)."""
    arr = np.asarray(list(values), dtype=float)
    return float(arr.mean()) if arr.size else float("nan")


def evaluate(
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    *,
    minority: Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
) -> Report:
    """Score predictions for an imbalanced problem in one call (ADOS thesis eqs. 2.1-2.12).

    Parameters
    ----------
    y_true, y_pred
        True and predicted labels, 1-D.
    proba
        Optional class scores of shape ``(n_samples, n_labels)``, columns in ``labels`` order
        (for two classes a 1-D score of ``labels[1]`` is accepted). Enables ``auprc_*``.
    minority
        Minority classes; the rest of ``labels`` are the majority. Adds the ``*_min`` and
        ``*_maj`` keys.
    labels
        Class order. Default: ``0..K-1`` when ``proba`` has K columns, else the sorted union of
        ``y_true`` and ``y_pred``.

    Summary keys: ``accuracy``, ``acsa`` (mean per-class recall, i.e. balanced accuracy),
    ``gmean`` (geometric mean of all per-class recalls), ``precision_macro``, ``recall_macro``,
    ``f1_macro``; with ``minority``: ``precision_min``, ``recall_min``, ``f1_min``, ``gmean_min``
    and the same with ``_maj``; with ``proba``: ``auprc_macro`` (and ``auprc_min``,
    ``auprc_maj``), one-vs-rest average precision averaged over classes present in ``y_true``.

    A class never predicted has precision 0 (and F1 0) by convention (sklearn
    ``zero_division=0``); a listed class with no true samples has recall 0 and triggers a warning.
    """
    yt, yp = _as_pair(y_true, y_pred)
    p_arr = None if proba is None else np.asarray(proba)
    labs = _resolve_labels(yt, yp, p_arr, labels)
    p = None if proba is None else _check_proba(proba, yt.shape[0], len(labs))
    groups = _groups(minority, labs)

    prec, rec, f1, support = precision_recall_fscore_support(
        yt, yp, labels=labs, average=None, zero_division=0
    )
    _warn_absent(labs, support)
    min_list = groups["min"] if groups else None
    per_class = _per_class_frame((prec, rec, f1), support, labs, min_list)
    summary = _summary(yt, yp, (prec, rec, f1), labs, per_class, groups)
    if p is not None:
        _add_auprc(summary, per_class, (yt, p), labs, groups)
    cm = confusion_matrix(yt, yp, labels=labs)
    majority = groups["maj"] if groups else None
    return Report(summary, per_class, cm, labels=labs, minority=min_list, majority=majority)


def _warn_absent(labs: list[Any], support: np.ndarray) -> None:
    """Warn (at :func:`evaluate`'s caller) about listed classes with no true samples."""
    absent = [c for c, s in zip(labs, support, strict=True) if s == 0]
    if absent:
        warnings.warn(
            f"classes {absent} have no samples in y_true; their recall counts as 0 in "
            "acsa/gmean/recall averages",
            UserWarning,
            stacklevel=3,
        )


def _per_class_frame(
    scores: tuple[np.ndarray, np.ndarray, np.ndarray],
    support: np.ndarray,
    labs: list[Any],
    min_list: list[Any] | None,
) -> pd.DataFrame:
    """The per-class table: precision, recall, F1, support and minority flag, by class."""
    prec, rec, f1 = scores
    return pd.DataFrame(
        {
            "precision": prec.astype(float),
            "recall": rec.astype(float),
            "f1": f1.astype(float),
            "support": support.astype(int),
            "is_minority": [min_list is not None and c in min_list for c in labs],
        },
        index=pd.Index(labs, name="class"),
    )


def _as_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted labels as 1-D arrays of one (non-zero) length."""
    yt = _as_1d("y_true", y_true)
    yp = _as_1d("y_pred", y_pred)
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"`y_true` and `y_pred` differ in length: {yt.shape[0]} vs {yp.shape[0]}")
    if yt.shape[0] == 0:
        raise ValueError("`y_true` is empty")
    return yt, yp


def _groups(minority: Sequence[Any] | None, labs: list[Any]) -> dict[str, list[Any]] | None:
    """``{"min": minority, "maj": the rest}`` in label order, checked; None without minority."""
    if minority is None:
        return None
    min_list = list(np.asarray(minority).tolist())
    unknown = [c for c in min_list if c not in labs]
    if unknown:
        raise ValueError(f"`minority` classes {unknown} are not among labels {labs}")
    if not min_list or len(set(min_list)) == len(labs):
        raise ValueError("`minority` must be a non-empty proper subset of the labels")
    min_set = set(min_list)
    return {  # label order, no duplicates
        "min": [c for c in labs if c in min_set],
        "maj": [c for c in labs if c not in min_set],
    }


def _gmean(yt: np.ndarray, yp: np.ndarray, subset: list[Any]) -> float:
    """imblearn's multiclass G-mean over ``subset`` (eqs. 2.10-2.11)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # absent classes already warned about in evaluate
        return float(
            geometric_mean_score(yt, yp, labels=subset, average="multiclass", correction=0.0)
        )


def _summary(
    yt: np.ndarray,
    yp: np.ndarray,
    scores: tuple[np.ndarray, np.ndarray, np.ndarray],
    labs: list[Any],
    per_class: pd.DataFrame,
    groups: dict[str, list[Any]] | None,
) -> dict[str, float]:
    """The scalar scores of :func:`evaluate` without AUPRC, in its key order.

    ``scores``: per-class precision, recall and F1 as sklearn returns them.
    """
    prec, rec, f1 = scores
    summary: dict[str, float] = {
        "accuracy": float(accuracy_score(yt, yp)),
        "acsa": float(rec.mean()),  # eq. 2.5
        "gmean": _gmean(yt, yp, labs),
        "precision_macro": float(prec.mean()),  # eq. 2.2
        "recall_macro": float(rec.mean()),
        "f1_macro": float(f1.mean()),  # eq. 2.8
    }
    for suffix, subset in (groups or {}).items():
        rows = per_class.loc[subset]
        summary[f"precision_{suffix}"] = float(rows["precision"].mean())  # eq. 2.3
        summary[f"recall_{suffix}"] = float(rows["recall"].mean())  # eq. 2.6
        summary[f"f1_{suffix}"] = float(rows["f1"].mean())  # eq. 2.9
        summary[f"gmean_{suffix}"] = _gmean(yt, yp, subset)  # eq. 2.11
    return summary


def _add_auprc(
    summary: dict[str, float],
    per_class: pd.DataFrame,
    truth_scores: tuple[np.ndarray, np.ndarray],
    labs: list[Any],
    groups: dict[str, list[Any]] | None,
) -> None:
    """Add one-vs-rest average precision per class and its means (DOS §4.2) in place.

    ``truth_scores``: the true labels and the checked ``proba`` (columns in ``labs`` order).
    """
    yt, p = truth_scores
    ap = np.full(len(labs), np.nan)
    for j, c in enumerate(labs):
        positives = yt == c
        if positives.any():  # AP is undefined without positives: leave NaN, skip in means
            ap[j] = average_precision_score(positives.astype(int), p[:, j])
    per_class["auprc"] = ap
    summary["auprc_macro"] = _mean(a for a in ap if not np.isnan(a))
    for suffix, subset in (groups or {}).items():
        vals = per_class.loc[subset, "auprc"]
        summary[f"auprc_{suffix}"] = _mean(vals.dropna())


def summarise(
    rows: Sequence[dict[str, Any]] | pd.DataFrame,
    by: Sequence[str] | str = (),
    metrics: Sequence[str] | None = None,
    *,
    ddof: int = 1,
) -> pd.DataFrame:
    """Mean and spread over repeated runs (seeds): columns ``{m}_mean``, ``{m}_std`` and ``n``.

    ``rows`` are flat dicts (e.g. ``Report.to_row()`` plus run parameters); ``by`` names the
    grouping columns (everything that is not a seed); ``metrics`` defaults to every numeric
    column not in ``by`` and not called ``seed``. ``std`` is the sample standard deviation
    (``ddof=1``), NaN for a single run.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    by_list = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by_list if c not in df.columns]
    if missing:
        raise ValueError(f"`by` columns not in rows: {missing}")
    if metrics is None:
        metrics = [
            c
            for c in df.columns
            if c not in by_list and c != "seed" and pd.api.types.is_numeric_dtype(df[c])
        ]
        metrics = [c for c in metrics if not pd.api.types.is_bool_dtype(df[c])]
    metrics = list(metrics)
    absent = [m for m in metrics if m not in df.columns]
    if absent:
        raise ValueError(f"`metrics` not in rows: {absent}")
    if by_list:
        grouped = df.groupby(by_list, sort=False, dropna=False)
        mean = grouped[metrics].mean()
        std = grouped[metrics].std(ddof=ddof)
        n = grouped.size()
    else:
        mean = df[metrics].mean().to_frame().T
        std = df[metrics].std(ddof=ddof).to_frame().T
        n = pd.Series([len(df)], index=mean.index)
    out = pd.DataFrame(index=mean.index)
    for m in metrics:
        out[f"{m}_mean"] = mean[m]
        out[f"{m}_std"] = std[m]
    out["n"] = n.astype(int)
    return out


def format_table(
    summary: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    digits: int = 3,
    scale: float = 1.0,
) -> pd.DataFrame:
    """Render :func:`summarise` output as ``"mean ± std"`` strings for a chapter table.

    ``scale=100`` shows percentages; a NaN std (single run) prints the mean alone.
    """
    if metrics is None:
        metrics = [c[: -len("_mean")] for c in summary.columns if c.endswith("_mean")]
    out = pd.DataFrame(index=summary.index)
    for m in metrics:
        if f"{m}_mean" not in summary.columns:
            raise ValueError(f"metric {m!r} has no `{m}_mean` column in the summary")
        mu = summary[f"{m}_mean"] * scale
        sd = summary.get(f"{m}_std", pd.Series(np.nan, index=summary.index)) * scale
        out[m] = [
            f"{a:.{digits}f}" if np.isnan(b) else f"{a:.{digits}f} ± {b:.{digits}f}"
            for a, b in zip(mu, sd, strict=True)
        ]
    return out
