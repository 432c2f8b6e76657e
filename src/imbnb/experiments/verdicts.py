"""The tuned verdicts (chapter 8): each method's validation-chosen setting run on every class
draw, read from the verdicts table and compared with the draw as the unit.

``imbnb tune`` writes one final grid per family (``book/grids/verdicts-final-<family>.yaml``);
``imbnb sweep`` runs them into ``book/data/results/verdicts.parquet``. :func:`tuned_verdicts`
says how much of the final grids the table holds, which setting each method runs with, and,
for the methods that ran on every draw at every ratio, the per-ratio and across-ratio
comparisons of :mod:`imbnb.experiments.statistics`. A method still being swept is listed with
its draws, never compared on fewer draws than the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from imbnb import paths
from imbnb.experiments.analysis import best_of, complete_methods
from imbnb.experiments.config import RunConfig
from imbnb.experiments.grid import load_grid
from imbnb.experiments.registry import family_of
from imbnb.experiments.statistics import across_ratios, per_ratio_comparison
from imbnb.experiments.store import ResultsStore
from imbnb.experiments.tuning import _pipeline, search_space, validation_scores

__all__ = [
    "TunedVerdicts",
    "final_grids",
    "load_final",
    "reading_choice",
    "setting_label",
    "tuned_verdicts",
]

#: where ``imbnb tune`` writes the final grids of the verdicts protocol (relative to the repo)
FINAL_GRIDS = "book/grids/verdicts-final-*.yaml"


@dataclass
class TunedVerdicts:
    """What the verdicts table says: coverage, chosen settings and the two comparisons."""

    coverage: pd.DataFrame  # per method: family, draws expected, draws stored at each ratio
    settings: pd.DataFrame  # per method and ratio: the setting validation chose (final grids)
    compared: list[str]  # methods with every draw their grid expects at every ratio
    draws: int  # draws the compared methods ran on (but those of ``fewer``)
    per_ratio: pd.DataFrame | None  # per_ratio_comparison over the compared methods
    across: pd.DataFrame | None  # across_ratios against ``reference``
    reference: str | None  # the best baseline over all ratios
    fewer: dict[str, int] = field(default_factory=dict)  # compared on fewer draws: how many

    def table(self) -> pd.DataFrame:
        """One cell per method and ratio: draws stored of those expected, and the setting."""
        ratios = [c for c in self.coverage.columns if c.startswith("ρ")]
        out = pd.DataFrame(index=self.coverage.index)
        for r in ratios:
            out[r] = [
                f"{n}/{e} · {s}"
                for n, e, s in zip(
                    self.coverage[r], self.coverage["draws expected"], self.settings[r], strict=True
                )
            ]
        return out


def final_grids(root: str | Path) -> list[Path]:
    """The final grids ``imbnb tune`` wrote under ``root`` (one per family), sorted."""
    return sorted(Path(root).glob(FINAL_GRIDS))


def load_final(
    table: str | Path, root: str | Path | None = None
) -> tuple[pd.DataFrame, list[RunConfig]]:
    """The verdicts table's rows (``table``, relative to ``root``: the repository by default)
    and the final configs its grids expect, which are the only rows a verdict reads."""
    root = Path(root) if root is not None else paths.repo_root()
    expected = [c for grid in final_grids(root) for c in load_grid(grid)]
    return ResultsStore(root / table).load(), expected


def setting_label(method: str, params: Mapping[str, Any]) -> str:
    """The tuned part of a method's settings in a few words (``"CE + linear"``: loss + head)."""
    if family_of(method) == "feature_space":
        return _pipeline(params).replace(" extractor, ", " + ").replace(" head", "")
    knobs = sorted({k for candidate in search_space(method) for k in candidate})
    if not knobs:
        return "not tuned"
    parts = []
    for k in knobs:
        v = params.get(k)
        parts.append(
            ", ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else f"{k}={v}"
        )
    return ", ".join(parts)


def _coverage(rows: pd.DataFrame, expected: Sequence[RunConfig]) -> pd.DataFrame:
    """Per method: its family, the draws the grids expect, and the draws stored per ratio."""
    want = pd.DataFrame([{"method": c.method, "ratio": c.ratio, "key": c.key()} for c in expected])
    if want.empty:
        return pd.DataFrame()
    stored = set(rows["config_hash"]) if len(rows) else set()
    want["stored"] = want["key"].isin(stored)
    table = want.pivot_table(index="method", columns="ratio", values="stored", aggfunc="sum")
    table.columns = [f"ρ = {r:g}" for r in table.columns]
    table.insert(
        0,
        "draws expected",
        want.groupby("method")["key"].count() // want.groupby("method")["ratio"].nunique(),
    )
    table.insert(0, "family", [family_of(m) for m in table.index])
    return table.astype({c: int for c in table.columns if c != "family"})


def _settings(expected: Sequence[RunConfig]) -> pd.DataFrame:
    """Per method and ratio, the setting validation chose (the final grids hold one per slot)."""
    if not expected:
        return pd.DataFrame()
    table = pd.DataFrame(
        [
            {"method": c.method, "ratio": c.ratio, "setting": setting_label(c.method, c.params)}
            for c in expected
        ]
    ).pivot_table(index="method", columns="ratio", values="setting", aggfunc="first")
    table.columns = [f"ρ = {r:g}" for r in table.columns]
    return table


def tuned_verdicts(
    rows: pd.DataFrame,
    expected: Iterable[RunConfig],
    baselines: Sequence[str],
    metric: str = "acsa",
    rope: float = 0.01,
) -> TunedVerdicts:
    """Coverage, settings and comparisons of the verdicts table's test rows.

    Only rows of the expected final configs count (a table may hold other runs); methods are
    compared when they ran on every expected draw at every ratio, baselines included. A method
    whose grid expects fewer draws than the baselines' (GAMO: five of ten) is compared once it
    holds them, paired with the same reference over its own draws (``fewer`` names it).
    """
    expected = list(expected)
    keys = {c.key() for c in expected}
    test = rows[rows["config_hash"].isin(keys)] if len(rows) else rows
    coverage = _coverage(test, expected)
    settings = _settings(expected)
    full = _complete(coverage)
    most = int(coverage["draws expected"].max()) if len(coverage) else 0
    main = [m for m in full if coverage.loc[m, "draws expected"] == most]
    main = [m for m in complete_methods(test[test["method"].isin(main)]) if m in main]
    present = [b for b in baselines if b in main]
    if not present or len(main) < 2:
        return TunedVerdicts(coverage, settings, main, 0, None, None, None)
    done = test[test["method"].isin(main)]
    draws = set(done["seed"])
    fewer = {
        m: int(test.loc[test["method"] == m, "seed"].nunique())
        for m in full
        if m not in main and set(test.loc[test["method"] == m, "seed"]) <= draws
    }
    done = test[test["method"].isin([*main, *fewer])]
    reference = best_of(done, present, metric)
    return TunedVerdicts(
        coverage=coverage,
        settings=settings,
        compared=[*main, *fewer],
        draws=len(draws),
        per_ratio=per_ratio_comparison(done, present, metric, fewer_draws=list(fewer)),
        across=across_ratios(done, reference, metric, rope=rope, fewer_draws=list(fewer)),
        reference=reference,
        fewer=fewer,
    )


def _complete(coverage: pd.DataFrame) -> list[str]:
    """The methods of ``coverage`` stored on every draw expected, at every ratio."""
    if coverage.empty:
        return []
    stored = coverage.drop(columns=["family", "draws expected"]).min(axis=1)
    return list(coverage.index[stored >= coverage["draws expected"]])


def reading_choice(
    configs: Iterable[RunConfig],
    tuning_rows: pd.DataFrame,
    readings: Sequence[str],
    *,
    draws: Sequence[int] = (0, 1, 2),
    metric: str = "acsa",
) -> pd.DataFrame:
    """Two (or more) readings of one method, each at its own best setting, on validation.

    Per ratio: each reading's best mean validation ``metric`` over the tuning ``draws`` (the
    score :func:`~imbnb.experiments.tuning.select` chose its setting by) and its setting; a
    last row ``mean`` averages over the ratios every reading has, and for two readings a column
    ``difference`` is the second minus the first. Empty until every reading's tuning runs are
    stored. The test set is never read.
    """
    wanted = [c for c in configs if c.method in set(readings)]
    scores = validation_scores(wanted, tuning_rows, draws=draws, metric=metric)
    best = scores[scores["chosen"]] if len(scores) else scores
    if best.empty or set(best["method"]) != set(readings):
        return pd.DataFrame()
    table = best.pivot_table(index="ratio", columns="method", values=metric, aggfunc="first")
    table = table[list(readings)].dropna()
    pairs = zip(best["method"], best["params"], strict=True)
    labels = best.assign(label=[setting_label(m, p) for m, p in pairs])
    settings = labels.pivot_table(index="ratio", columns="method", values="label", aggfunc="first")
    out = table.copy()
    out.loc["mean"] = table.mean()
    if len(readings) == 2:  # the second reading minus the first
        out["difference"] = out[readings[1]] - out[readings[0]]
    for reading in readings:
        out[f"{reading} setting"] = settings[reading].reindex(out.index).fillna("")
    out.index = [f"ρ = {r:g}" if r != "mean" else "mean" for r in out.index]
    out.columns.name = None
    return out
