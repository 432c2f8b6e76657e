"""The book's status page, generated (book: "Status"): what the results tables hold, what is
missing and the command that fills it, which sweeps made them on which machine, and the newest
benchmark figures per machine type. :func:`write_status` writes the file ``book/status.md``
includes (the build calls it; ``python -m imbnb.book.status --write PATH`` by hand); benchmark
scripts append their figures to ``benchmarks/records/*.jsonl`` (:func:`record_benchmark`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from imbnb import paths
from imbnb.experiments.book_grid import plan
from imbnb.experiments.config import RunConfig
from imbnb.experiments.cost import run_costs
from imbnb.experiments.grid import load_grid
from imbnb.experiments.provenance import git_commit, machine, read_provenance
from imbnb.experiments.registry import family_of
from imbnb.experiments.store import ResultsStore
from imbnb.experiments.tuning import tuning_configs
from imbnb.experiments.verdicts import final_grids

__all__ = [
    "GENERATED",
    "benchmarks_markdown",
    "contents_table",
    "markdown_table",
    "missing_table",
    "newest_records",
    "read_records",
    "record_benchmark",
    "status_markdown",
    "sweeps_table",
    "write_status",
]

#: where :func:`write_status` writes by default (relative to the root; git-ignored)
GENERATED = "book/_generated/status_tables.md"
RESULTS = "book/data/results"
RECORDS = "benchmarks/records"
PAPER_GRID = "book/grids/paper.yaml"
CHAPTERS_GRID = "book/grids/chapters.yaml"
VERDICTS_GRID = "book/grids/verdicts.yaml"
TUNING_DRAWS = (0, 1, 2)
#: the benchmark scripts the page reports on, recorded or not
BENCHMARKS = ("bench_autoencoder", "bench_oversample")


def _cell(value: Any) -> str:
    """A table cell: integers as integers, missing as a dash, pipes escaped."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (its index is not shown): no tabulate needed."""
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *body])


def _number(value: float) -> str:
    """A measured figure, to about three significant digits; integers stay integers."""
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def contents_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per family, method, protocol and evaluation set: runs, class draws (seeds) and ratios."""
    cols = ["family", "method", "protocol", "evaluated on", "runs", "draws", "ratios"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    evaluated = rows["evaluated_on"].fillna("test") if "evaluated_on" in rows else "test"
    frame = rows.assign(family=[family_of(m) for m in rows["method"]], evaluated_on=evaluated)
    keys = ["family", "method", "protocol", "evaluated_on"]
    out = frame.groupby(keys, sort=False).agg(
        runs=("seed", "size"), draws=("seed", "nunique"), ratios=("ratio", _ratios)
    )
    out = out.reset_index().rename(columns={"evaluated_on": "evaluated on"})[cols]
    rank = {f: i for i, f in enumerate(dict.fromkeys(frame["family"]))}
    order = out["family"].map(rank).astype(int) * 2 + (out["protocol"] != "minority")
    return out.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def _ratios(values: pd.Series) -> str:
    found = sorted({float(v) for v in values.dropna()})
    return ", ".join(f"{v:g}" for v in found) if found else "—"


def _grids_served(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The grid files a table's sweeps ran (nested merge entries included), in order."""
    return list(dict.fromkeys(e["grid"] for e in _flat(entries) if e.get("grid")))


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
        return f"≈ {_hours(known.sum())} (paced by paper.parquet)"
    if not unknown:
        return _hours(known.sum())
    if known.empty:
        return "unknown (no stored run to time)"
    return f"≥ {_hours(known.sum())} (untimed: {', '.join(unknown)})"


def _paper_pace(root: Path) -> dict[tuple[str, str], float]:
    """Median seconds per run (its network and its own steps) by protocol and method in the
    paper table: the pace of methods another table has no run of yet."""
    rows = _load(root / RESULTS / "paper.parquet")
    if rows.empty:
        return {}
    costs = run_costs(rows.assign(family=[family_of(m) for m in rows["method"]]))
    total = costs["network_seconds"] + costs["method_seconds"]
    return total.groupby([costs["protocol"], costs["method"]]).median().dropna().to_dict()


def _load(path: Path) -> pd.DataFrame:
    """A table's rows (folded or not), empty when it does not exist."""
    store = ResultsStore(path)
    if not path.is_file() and not store.runs_dir.is_dir():
        return pd.DataFrame(columns=["config_hash"])
    return store.load()


def _paper_missing(root: Path) -> pd.DataFrame:
    """The paper table against ``book/grids/paper.yaml``, one ``--only FAMILY`` per line."""
    sweep = f"imbnb sweep {PAPER_GRID} --store {RESULTS}/paper.parquet --only"
    configs, rows = load_grid(root / PAPER_GRID), _load(root / RESULTS / "paper.parquet")
    return missing_table(configs, rows, lambda c: f"{sweep} {family_of(c.method)}")


def _chapters_missing(root: Path) -> pd.DataFrame:
    """The chapters' own table against ``book/grids/chapters.yaml``, one line per protocol."""
    sweep = f"imbnb sweep {CHAPTERS_GRID} --store {RESULTS}/chapters.parquet --where protocol="
    configs, rows = load_grid(root / CHAPTERS_GRID), _load(root / RESULTS / "chapters.parquet")
    return missing_table(configs, rows, lambda c: f"{sweep}{c.protocol}")


def _tune_command(family: str) -> str:
    draws = ",".join(str(d) for d in TUNING_DRAWS)
    return (
        f"imbnb tune {VERDICTS_GRID} --store {RESULTS}/tuning.parquet "
        f"--out book/grids/verdicts-final-{family}.yaml --draws {draws} --only {family}"
    )


def _tuning_missing(root: Path) -> pd.DataFrame:
    """The tuning table against the validation runs of ``book/grids/verdicts.yaml``."""
    configs = tuning_configs(load_grid(root / VERDICTS_GRID), draws=list(TUNING_DRAWS))
    rows = _load(root / RESULTS / "tuning.parquet")
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
    rows = _load(root / store)
    return missing_table([*configs, *untuned], rows, lambda c: grid_of[c.key()], _paper_pace(root))


def _flat(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Provenance entries with each merge's nested side entries in its place."""
    out: list[dict[str, Any]] = []
    for entry in entries:
        sides = entry.get("side_entries")
        if not sides:
            out.append(dict(entry))
            continue
        note = entry.get("merge_note", "")
        for side in sides:
            out.append({**side, "merged_from": entry.get("merged_from"), "merge_note": note})
    return out


def _status(entry: Mapping[str, Any]) -> str:
    """finished / interrupted / not finished / correction / note, and where it was merged from."""
    command = str(entry.get("command", ""))
    if command.startswith(("correction:", "note:")):
        status = command.split(":", 1)[0]
    elif entry.get("status") == "running":
        status = "not finished (killed?)"
    else:
        status = entry.get("status") or ("finished" if entry.get("finished_utc") else "?")
    if entry.get("merged_from"):
        status += f"; merged from {entry['merged_from']}"
        if entry.get("merge_note"):
            status += f" ({entry['merge_note']})"
    return status


def _when(stamp: str | None) -> str:
    return stamp[:16].replace("T", " ") if stamp else "—"


def _wall_hours(entry: Mapping[str, Any]) -> str:
    start, end = entry.get("started_utc"), entry.get("finished_utc")
    if not start or not end:
        return "—"
    span = _dt.datetime.fromisoformat(end) - _dt.datetime.fromisoformat(start)
    return _hours(span.total_seconds())


def _machine_short(m: Mapping[str, Any] | None) -> str:
    """``cpu, AMD EPYC with AVX2, 2 CPUs`` (with the GPU's name on one; "CPU not recorded")."""
    if not m:
        return "—"
    device = f"{m.get('device', '?')}" + (f" {m['gpu']}" if m.get("gpu") else "")
    cpu = m.get("cpu") or "CPU not recorded"
    return f"{device}, {cpu}, {m.get('cpus', '?')} CPUs"


def _commit(entry: Mapping[str, Any]) -> str:
    commit = entry.get("runs_executed_at_commit") or entry.get("git_commit") or "?"
    return commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")


def sweeps_table(entries: Sequence[Mapping[str, Any]], rows: pd.DataFrame) -> pd.DataFrame:
    """One line per provenance entry (merges flattened): id, grid, commit, machine, times, runs
    added (a sweep that never finished: its rows in ``rows``) and status."""
    ids = rows["sweep_id"].value_counts() if "sweep_id" in rows else pd.Series(dtype=int)
    lines = []
    for e in _flat(entries):
        added = int(e.get("runs_added") or 0)
        if e.get("status") == "running":
            added = int(ids.get(e.get("sweep_id"), 0))
        lines.append(
            {
                "sweep": (e.get("sweep_id") or "—")[:8],
                "grid": Path(e["grid"]).name if e.get("grid") else "—",
                "commit": _commit(e),
                "machine": _machine_short(e.get("machine")),
                "started (UTC)": _when(e.get("started_utc")),
                "finished (UTC)": _when(e.get("finished_utc")),
                "wall h": _wall_hours(e),
                "runs added": added,
                "status": _status(e),
            }
        )
    return pd.DataFrame(lines)


def record_benchmark(
    path: str | os.PathLike[str],
    benchmark: str,
    arguments: Mapping[str, Any],
    figures: Mapping[str, tuple[float, str]],
) -> dict[str, Any]:
    """Append one run of a benchmark (its printed figures as ``name: (value, unit)``) to the
    JSON Lines file ``path``, with the time, commit and machine; return the record."""
    record = {
        "benchmark": benchmark,
        "utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine(),
        "load_average": os.getloadavg()[0],  # 1 min, at the end: the run's own load included
        "arguments": dict(arguments),
        "figures": {k: {"value": float(v), "unit": u} for k, (v, u) in figures.items()},
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    return record


def read_records(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record of every ``*.jsonl`` file in ``folder`` (none when it does not exist)."""
    records = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number} is not a JSON record: {err}") from err
    return records


def newest_records(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict]:
    """The newest record per (benchmark, machine type)."""
    newest: dict[tuple[str, str], dict] = {}
    for rec in records:
        key = (rec["benchmark"], _machine_short(rec.get("machine")))
        if key not in newest or rec["utc"] > newest[key]["utc"]:
            newest[key] = dict(rec)
    return newest


def _benchmark_table(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Figures down, machine types across (``runs``: machine type -> record)."""
    names: dict[str, str] = {}
    for rec in runs.values():
        for name, fig in rec["figures"].items():
            names.setdefault(name, fig.get("unit", ""))
    table = pd.DataFrame({"figure": list(names), "unit": list(names.values())})
    for kind, rec in runs.items():
        figs = rec["figures"]
        table[kind] = [_number(figs[n]["value"]) if n in figs else "—" for n in names]
    return table


def benchmarks_markdown(
    records: Iterable[Mapping[str, Any]], known: Sequence[str] = BENCHMARKS
) -> str:
    """Per benchmark, the newest recorded figures per machine type, or "no recorded run yet"."""
    newest = newest_records(records)
    names = list(dict.fromkeys([*known, *sorted({b for b, _ in newest})]))
    parts = []
    for name in names:
        runs = {kind: rec for (bench, kind), rec in sorted(newest.items()) if bench == name}
        parts.append(f"### `benchmarks/{name}.py`\n")
        if not runs:
            command = f"python benchmarks/{name}.py --record {RECORDS}/{name}.jsonl"
            parts.append(f"No recorded run yet: `{command}` records one.\n")
            continue
        for kind, rec in runs.items():
            args = " ".join(f"{k}={v}" for k, v in rec.get("arguments", {}).items())
            load = f"load {rec['load_average']:.1f}, " if "load_average" in rec else ""
            when = f"{_when(rec['utc'])} UTC, commit {_commit(rec)}, {load}"
            parts.append(f"- {kind}: {when}{args or 'default arguments'}")
        parts.append("\n" + markdown_table(_benchmark_table(runs)) + "\n")
    return "\n".join(parts)


#: per table: what it is measured against, the grid that must exist, the builder
_MISSING = (
    ("paper", f"`{PAPER_GRID}`", PAPER_GRID, _paper_missing),
    ("chapters", f"`{CHAPTERS_GRID}` (chapters 3 and 9)", CHAPTERS_GRID, _chapters_missing),
    ("tuning", "`imbnb tune`'s validation runs (draws 0-2)", VERDICTS_GRID, _tuning_missing),
    ("verdicts", "the final grids (`verdicts-final-*.yaml`)", VERDICTS_GRID, _verdicts_missing),
)

_SWEEPS_NOTE = (
    "One line per entry of each table's provenance file (`*.provenance.json`); entries brought "
    "in by `imbnb merge` say where from. The commit is the code the runs ran on."
)
_HOURS_NOTE = (
    "Hours to run are one worker's, at the median pace of the table's stored runs of each "
    "method (its network, charged once per network the missing runs need, plus its own steps; "
    "`imbnb.experiments.plan`, as `--dry-run` prints it), so on the machines that swept them. "
    "≈: a method the table has no run of yet, paced by its runs in `paper.parquet`, each run "
    "paying its network (an upper estimate where runs share one). ≥: some methods untimed."
)


def _contents_section(tables: Sequence[Path], rows: Mapping[Path, pd.DataFrame]) -> list[str]:
    parts = ["## What the tables hold\n"]
    for path in tables:
        grids = ", ".join(f"`{g}`" for g in _grids_served(read_provenance(path))) or "no grid"
        parts.append(f"### Runs in `{path.name}`\n")
        parts.append(f"{len(rows[path])} runs; swept from {grids}.\n")
        parts.append(markdown_table(contents_table(rows[path])) + "\n")
    return parts


def _missing_section(root: Path) -> list[str]:
    parts = ["## What is missing\n", _HOURS_NOTE + "\n"]
    for name, against, grid, build in _MISSING:
        parts.append(f"### Missing from `{name}.parquet`\n")
        if not (root / grid).is_file():
            parts.append(f"No `{grid}` here: nothing to measure the table against.\n")
            continue
        parts.append(f"Against {against}.\n")
        parts.append(markdown_table(build(root)) + "\n")
    return parts


def _sweeps_section(tables: Sequence[Path], rows: Mapping[Path, pd.DataFrame]) -> list[str]:
    parts = ["## The sweeps\n", _SWEEPS_NOTE + "\n"]
    for path in tables:
        entries = read_provenance(path)
        parts.append(f"### Sweeps into `{path.name}`\n")
        if not entries:
            parts.append("No provenance recorded.\n")
            continue
        parts.append(markdown_table(sweeps_table(entries, rows[path])) + "\n")
    return parts


def status_markdown(root: str | os.PathLike[str] | None = None) -> str:
    """The generated part of the status page, from ``root``'s tables, grids and records."""
    root = Path(root) if root is not None else paths.repo_root()
    tables = sorted((root / RESULTS).glob("*.parquet"))
    rows = {path: _load(path) for path in tables}
    records = root / RECORDS
    if not records.is_dir():  # a copy of the book's sources only: the repository's records
        records = paths.repo_root() / RECORDS
    parts = [
        "<!-- generated by imbnb.book.status (python -m imbnb.book.status --write PATH); "
        "do not edit -->\n",
        *_contents_section(tables, rows),
        *_missing_section(root),
        *_sweeps_section(tables, rows),
        "## Benchmarks\n",
        "The newest recorded run of each benchmark per machine type "
        f"(`{RECORDS}/*.jsonl`, written by each script's `--record PATH`).\n",
        benchmarks_markdown(read_records(records)),
    ]
    return "\n".join(parts)


def write_status(
    root: str | os.PathLike[str] | None = None, path: str | os.PathLike[str] | None = None
) -> Path:
    """Write :func:`status_markdown` to ``path`` (default ``root/book/_generated/...``)."""
    root = Path(root) if root is not None else paths.repo_root()
    out = Path(path) if path is not None else root / GENERATED
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(status_markdown(root), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m imbnb.book.status [--root DIR] [--write PATH]``: write or print the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="repository (default: this checkout)")
    parser.add_argument("--write", default=None, metavar="PATH", help="file to write")
    args = parser.parse_args(argv)
    print(status_markdown(args.root) if args.write is None else write_status(args.root, args.write))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
