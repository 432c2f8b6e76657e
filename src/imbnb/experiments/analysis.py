"""Reading a results table: tables per setting and orderings beside a paper's (chapter 8).

* :func:`setting_table` -- one metric as mean ± std, a row per method, a column per setting;
* :func:`compare_orderings` -- per ratio, do our scores order the methods as a paper's do;
* :func:`critical_difference` -- Nemenyi's critical difference of average ranks.

Tests of one method against another live in :mod:`imbnb.experiments.statistics`, whose unit
of replication is the class draw (a seed), not the setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from imbnb.metrics import format_table, summarise

__all__ = [
    "SETTING",
    "best_of",
    "compare_orderings",
    "complete_methods",
    "critical_difference",
    "setting_table",
]

#: The columns that make one "setting" in which methods are compared.
SETTING: tuple[str, ...] = ("dataset", "protocol", "ratio", "count_scale", "seed")


def _wide(rows: pd.DataFrame, metric: str, setting: Sequence[str]) -> pd.DataFrame:
    """Settings x methods table of ``metric`` (settings every method ran in only)."""
    if metric not in rows.columns:
        raise ValueError(f"metric {metric!r} not in the results; columns: {sorted(rows.columns)}")
    cols = [c for c in setting if c in rows.columns]
    keyed = rows.assign(_setting=rows[cols].astype(str).agg("|".join, axis=1))
    return keyed.pivot_table(index="_setting", columns="method", values=metric).dropna()


def complete_methods(rows: pd.DataFrame, setting: Sequence[str] = SETTING) -> list[str]:
    """The methods that ran in every setting present in ``rows`` (in order of appearance)."""
    cols = [c for c in setting if c in rows.columns]
    if rows.empty:
        return []
    n_settings = rows[cols].astype(str).drop_duplicates().shape[0]
    per_method = (
        rows[[*cols, "method"]].astype(str).drop_duplicates().groupby("method", sort=False).size()
    )
    return [m for m, n in per_method.items() if n == n_settings]


def critical_difference(n_methods: int, n_settings: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of average ranks (Demsar 2006): q_a sqrt(k(k+1)/6N).

    ``n_settings`` is N, the number of independent units ranked (here: class draws).
    """
    if n_methods < 2 or n_settings < 1:
        raise ValueError("need at least 2 methods and 1 setting")
    q = stats.studentized_range.ppf(1 - alpha, n_methods, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(n_methods * (n_methods + 1) / (6.0 * n_settings)))


def best_of(rows: pd.DataFrame, methods: Sequence[str], metric: str = "acsa") -> str:
    """The method among ``methods`` with the highest mean ``metric``."""
    present = [m for m in methods if m in set(rows["method"])]
    if not present:
        raise ValueError(f"none of {list(methods)} is in the results")
    return str(rows[rows.method.isin(present)].groupby("method")[metric].mean().idxmax())


def compare_orderings(
    side: pd.DataFrame, ours: str, published: str, by: str = "ratio"
) -> pd.DataFrame:
    """Per ``by`` value: do our scores order the methods as a paper's do?

    ``side`` is indexed by (method, ``by``) with our and the published score as columns. For
    each group: the best method by each, Kendall's tau between the two orderings, and the
    share of method pairs ordered the same way (ties in either count as disagreement).
    """
    if not {ours, published} <= set(side.columns):
        raise ValueError(f"side needs columns {ours!r} and {published!r}; has {list(side)}")
    out = []
    for value, group in side.groupby(level=by):
        g = group.droplevel(by)
        a, b = g[ours].to_numpy(), g[published].to_numpy()
        i, j = np.triu_indices(len(g), k=1)
        same = np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) > 0
        tau = float(stats.kendalltau(a, b).statistic) if len(g) > 1 else float("nan")
        out.append(
            {
                by: value,
                "methods": len(g),
                "best (published)": g[published].idxmax(),
                "best (ours)": g[ours].idxmax(),
                "Kendall tau": tau,
                "pairs ordered alike": float(same.mean()) if len(i) else float("nan"),
            }
        )
    columns = [
        by,
        "methods",
        "best (published)",
        "best (ours)",
        "Kendall tau",
        "pairs ordered alike",
    ]
    return pd.DataFrame(out, columns=columns).set_index(by)


def _setting_label(protocol: str, ratio: float) -> str:
    """A column heading: "ρ = 10" on the thesis's protocol, "count list" on GAMO's counts."""
    if protocol == "minority":
        return f"ρ = {ratio:g}"
    if protocol == "counts":
        return "count list"
    return protocol if pd.isna(ratio) else f"{protocol}, ρ = {ratio:g}"


def setting_table(rows: pd.DataFrame, metric: str = "acsa", *, digits: int = 3) -> pd.DataFrame:
    """One metric as "mean ± std" over seeds, a row per method and a column per setting.

    Methods keep the rows' order, settings go thesis ratios first (ascending), then the count
    list; a cell is empty where the method has no run and a lone mean marks a single run. A
    long (protocol, ratio, method) table of the whole grid runs to over a hundred rows.
    """
    need = {"method", "protocol", "ratio", "seed"}
    if not need <= set(rows.columns):
        raise ValueError(
            f"rows need the columns {sorted(need)}; missing {sorted(need - set(rows.columns))}"
        )
    numeric = sorted(
        c
        for c in rows.columns
        if c not in need
        and pd.api.types.is_numeric_dtype(rows[c])
        and not pd.api.types.is_bool_dtype(rows[c])
    )
    if metric not in numeric:
        raise ValueError(
            f"metric must be a numeric column of the rows, one of {numeric}; got {metric!r}"
        )
    cells = format_table(
        summarise(rows, by=["protocol", "ratio", "method"], metrics=[metric]),
        [metric],
        digits=digits,
    )[metric].reset_index()
    cells["setting"] = [
        _setting_label(p, r) for p, r in zip(cells["protocol"], cells["ratio"], strict=True)
    ]
    order = (
        cells.assign(_thesis=cells["protocol"] != "minority")
        .sort_values(["_thesis", "protocol", "ratio"], kind="stable")["setting"]
        .unique()
    )
    wide = cells.pivot(index="method", columns="setting", values=metric)
    wide = wide.reindex(index=list(pd.unique(rows["method"])), columns=list(order)).fillna("")
    wide.index.name, wide.columns.name = "method", None
    return wide
