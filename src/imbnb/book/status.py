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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from imbnb import paths
from imbnb.book.status_missing import MISSING, RESULTS, hours, load_table, missing_table
from imbnb.experiments.figures import load_figure, stored_figures
from imbnb.experiments.provenance import flat_entries, git_commit, machine, read_provenance
from imbnb.experiments.registry import family_of

__all__ = [
    "GENERATED",
    "benchmarks_markdown",
    "contents_table",
    "figures_table",
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
RECORDS = "benchmarks/records"
CHAPTERS_GRID = "book/grids/chapters.yaml"
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


def figures_table(path: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """The figure files stored beside table ``path``: each one's run (method, dataset, protocol,
    ratio, seed, params), what it draws, the commit and machine that made it, and whether its
    network gave the stored row's metrics again."""
    cols = ["method", "dataset", "protocol", "ratio", "seed", "params"]
    stored = list(stored_figures(path))
    runs = rows.set_index("config_hash").reindex(index=stored, columns=cols) if len(rows) else None
    if runs is None or runs.empty:
        return pd.DataFrame(columns=[*cols, "kind", "commit", "machine", "reproduces row"])
    metas = [load_figure(path, key).meta for key in stored]
    said = {True: "yes", False: "no"}
    out = runs.reset_index(drop=True).assign(
        kind=[m.get("kind", "?") for m in metas],
        commit=[str(m.get("commit", ""))[:7] or "—" for m in metas],
        machine=[m.get("cpu", "—") for m in metas],
        **{"reproduces row": [said.get(m.get("reproduces_row"), "—") for m in metas]},
    )
    out = out.sort_values(["method", "ratio", "params"], kind="stable", na_position="first")
    return out.assign(ratio=[_ratios(pd.Series([r])) for r in out["ratio"]],
                      params=[f"`{p}`" for p in out["params"]]).reset_index(drop=True)  # fmt: skip


def _ratios(values: pd.Series) -> str:
    found = sorted({float(v) for v in values.dropna()})
    return ", ".join(f"{v:g}" for v in found) if found else "—"


def _grids_served(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The grid files a table's sweeps ran (nested merge entries included), in order."""
    return list(dict.fromkeys(e["grid"] for e in flat_entries(list(entries)) if e.get("grid")))


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


def _wallhours(entry: Mapping[str, Any]) -> str:
    start, end = entry.get("started_utc"), entry.get("finished_utc")
    if not start or not end:
        return "—"
    span = _dt.datetime.fromisoformat(end) - _dt.datetime.fromisoformat(start)
    return hours(span.total_seconds())


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
    for e in flat_entries(list(entries)):
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
                "wall h": _wallhours(e),
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
        figures = figures_table(path, rows[path])
        if len(figures):
            parts.append(
                f"Figure data beside it (`{path.stem}.figures/`, written by `imbnb sweep "
                "--figures`), which the chapters draw under `paper` instead of training:\n"
            )
            parts.append(markdown_table(figures) + "\n")
    return parts


def _missing_section(root: Path) -> list[str]:
    parts = ["## What is missing\n", _HOURS_NOTE + "\n"]
    for name, against, grid, build in MISSING:
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
    rows = {path: load_table(path) for path in tables}
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
