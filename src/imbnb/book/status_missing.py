"""What the committed results tables lack, for the status page: per table and family, runs
expected, stored and missing, the hours still to run, and the command that fills them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from imbnb.experiments.book_grid import plan
from imbnb.experiments.config import RunConfig
from imbnb.experiments.cost import run_costs
from imbnb.experiments.grid import load_grid
from imbnb.experiments.registry import family_of
from imbnb.experiments.store import ResultsStore
from imbnb.experiments.tuning import tuning_configs
from imbnb.experiments.verdicts import final_grids

__all__ = ["MISSING", "hours", "load_table", "missing_table"]

RESULTS = "book/data/results"
PAPER_GRID = "book/grids/paper.yaml"
CHAPTERS_GRID = "book/grids/chapters.yaml"
VERDICTS_GRID = "book/grids/verdicts.yaml"
TUNING_DRAWS = (0, 1, 2)


def hours(seconds: float) -> str:
    """Seconds as hours, two decimals."""
    return f"{seconds / 3600:.2f}"


def missing_table(
    configs: Sequence[RunConfig],
    rows: pd.DataFrame,
    command: Callable[[RunConfig], str],
    pace: Mapping[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """Per family and filling command: runs expected, stored, missing, which methods miss
    runs, and the hours still to run at the pace of the stored runs (:func:`plan`); a method
    with none is paced by ``pace`` (seconds per run by protocol and method) where given."""
    cols = ["family", "expected", "stored", "missing", "methods missing runs", "hours to run"]
    if not configs:
        return pd.DataFrame(columns=[*cols, "command"])
    planned = plan(configs, rows).reset_index()
    slots = list(zip(planned["protocol"], planned["method"], strict=True))
    pace = pace or {}
    planned["paced"] = planned["s to run"].isna().to_numpy() & [s in pace for s in slots]
    for i in planned.index[planned["paced"]]:
        planned.loc[i, "s to run"] = planned.loc[i, "missing"] * pace[slots[i]]
    by_slot = {(c.protocol, c.method): command(c) for c in configs}
    planned["command"] = [by_slot[s] for s in slots]
    lines = []
    for (family, cmd), part in planned.groupby(["family", "command"], sort=False):
        short = part[part["missing"] > 0]
        lines.append(
            {
                "family": family,
                "expected": int(part["grid"].sum()),
                "stored": int(part["stored"].sum()),
                "missing": int(part["missing"].sum()),
                "methods missing runs": ", ".join(_method_gaps(short)) or "—",
                "hours to run": _estimate(short),
                "command": f"`{cmd}`" if len(short) else "—",
            }
        )
    return pd.DataFrame(lines, columns=[*cols, "command"])


def _method_gaps(short: pd.DataFrame) -> list[str]:
    """``DeepSMOTE 6`` per method missing runs (protocol named when it is not the thesis's)."""
    gaps = zip(short["protocol"], short["method"], short["missing"], strict=True)
    return [f"{m}{'' if p == 'minority' else f' ({p})'} {int(n)}" for p, m, n in gaps]


def _estimate(short: pd.DataFrame) -> str:
    """Hours still to run: ≈ when paced by another table, ≥ when some methods are untimed."""
    if short.empty:
        return "—"
    known = short["s to run"].dropna()
    unknown = short.loc[short["s to run"].isna(), "method"].tolist()
    if short["paced"].any() and not unknown:
        return f"≈ {hours(known.sum())} (paced by paper.parquet)"
    if not unknown:
        return hours(known.sum())
    if known.empty:
        return "unknown (no stored run to time)"
    return f"≥ {hours(known.sum())} (untimed: {', '.join(unknown)})"


def _paper_pace(root: Path) -> dict[tuple[str, str], float]:
    """Median seconds per run (its network and its own steps) by protocol and method in the
    paper table: the pace of methods another table has no run of yet."""
    rows = load_table(root / RESULTS / "paper.parquet")
    if rows.empty:
        return {}
    costs = run_costs(rows.assign(family=[family_of(m) for m in rows["method"]]))
    total = costs["network_seconds"] + costs["method_seconds"]
    return total.groupby([costs["protocol"], costs["method"]]).median().dropna().to_dict()


def load_table(path: Path) -> pd.DataFrame:
    """A table's rows (folded or not), empty when it does not exist."""
    store = ResultsStore(path)
    if not path.is_file() and not store.runs_dir.is_dir():
        return pd.DataFrame(columns=["config_hash"])
    return store.load()


def _paper_missing(root: Path) -> pd.DataFrame:
    """The paper table against ``book/grids/paper.yaml``, one ``--only FAMILY`` per line."""
    sweep = f"imbnb sweep {PAPER_GRID} --store {RESULTS}/paper.parquet --only"
    configs, rows = load_grid(root / PAPER_GRID), load_table(root / RESULTS / "paper.parquet")
    return missing_table(configs, rows, lambda c: f"{sweep} {family_of(c.method)}")


def _chapters_missing(root: Path) -> pd.DataFrame:
    """The chapters' own table against ``book/grids/chapters.yaml``, one line per protocol; a
    method with no stored run on the dataset it misses is paced by the paper table's runs."""
    sweep = f"imbnb sweep {CHAPTERS_GRID} --store {RESULTS}/chapters.parquet --where protocol="
    configs, rows = load_grid(root / CHAPTERS_GRID), load_table(root / RESULTS / "chapters.parquet")
    return missing_table(configs, rows, lambda c: f"{sweep}{c.protocol}", _paper_pace(root))


def _tune_command(family: str) -> str:
    draws = ",".join(str(d) for d in TUNING_DRAWS)
    return (
        f"imbnb tune {VERDICTS_GRID} --store {RESULTS}/tuning.parquet "
        f"--out book/grids/verdicts-final-{family}.yaml --draws {draws} --only {family}"
    )


def _tuning_missing(root: Path) -> pd.DataFrame:
    """The tuning table against the validation runs of ``book/grids/verdicts.yaml``."""
    configs = tuning_configs(load_grid(root / VERDICTS_GRID), draws=list(TUNING_DRAWS))
    rows = load_table(root / RESULTS / "tuning.parquet")
    return missing_table(
        configs, rows, lambda c: _tune_command(family_of(c.method)), _paper_pace(root)
    )


def _verdicts_missing(root: Path) -> pd.DataFrame:
    """The verdicts table against the final grids; methods of the verdicts grid that no final
    grid holds yet are listed with the tuning that writes theirs."""
    store = f"{RESULTS}/verdicts.parquet"
    grid_of: dict[str, str] = {}
    configs: list[RunConfig] = []
    for grid in final_grids(root):
        for cfg in load_grid(grid):
            grid_of[cfg.key()] = f"imbnb sweep {grid.relative_to(root)} --store {store}"
            configs.append(cfg)
    final = {c.method for c in configs}
    untuned = [c for c in load_grid(root / VERDICTS_GRID) if c.method not in final]
    for cfg in untuned:
        fam = family_of(cfg.method)
        sweep = f"imbnb sweep book/grids/verdicts-final-{fam}.yaml --store {store}"
        grid_of[cfg.key()] = f"{_tune_command(fam)}, then {sweep}"
    rows = load_table(root / store)
    return missing_table([*configs, *untuned], rows, lambda c: grid_of[c.key()], _paper_pace(root))


#: per table: what it is measured against, the grid that must exist, the builder
MISSING = (
    ("paper", f"`{PAPER_GRID}`", PAPER_GRID, _paper_missing),
    ("chapters", f"`{CHAPTERS_GRID}` (the chapters' own runs)", CHAPTERS_GRID, _chapters_missing),
    ("tuning", "`imbnb tune`'s validation runs (draws 0-2)", VERDICTS_GRID, _tuning_missing),
    ("verdicts", "the final grids (`verdicts-final-*.yaml`)", VERDICTS_GRID, _verdicts_missing),
)
