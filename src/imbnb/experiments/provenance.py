"""Where a results table came from: one entry per sweep that added rows (chapter 8).

Beside ``results.parquet`` lies ``results.provenance.json``: a list of sweeps, each with its
command, grid file and its SHA-256, start and end (UTC), rows added, the git commit of the
code, and the machine (CPU count, torch device, library versions). ``imbnb sweep`` appends an
entry; the file is rewritten atomically, like the table. :func:`merge_results` (``imbnb merge``)
brings the rows of tables swept elsewhere, a GPU machine say, into one, entries included.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "git_commit",
    "machine",
    "merge_results",
    "provenance_path",
    "provenance_table",
    "read_provenance",
    "record_sweep",
]

_LIBRARIES = ("torch", "numpy", "scikit-learn", "imbalanced-learn", "faiss-cpu")


def provenance_path(store: str | os.PathLike[str]) -> Path:
    """``x.parquet`` -> ``x.provenance.json`` (same folder)."""
    path = Path(store)
    return path.with_name(f"{path.stem}.provenance.json")


def read_provenance(store: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The sweeps recorded for ``store`` (empty when none is)."""
    path = provenance_path(store)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return list(json.load(f))


def provenance_table(store: str | os.PathLike[str]) -> pd.DataFrame:
    """One line per recorded sweep: what ran, when, how many rows, on which code and machine.

    A relative ``store`` is taken from the repository root (as chapter 8's results_source).
    """
    from imbnb import paths

    path = Path(store)
    path = path if path.is_absolute() else paths.repo_root() / path
    lines = [
        {
            "command": e["command"],
            "started (UTC)": e["started_utc"],
            "finished (UTC)": e["finished_utc"],
            "runs added": e["runs_added"],
            "commit": (e.get("runs_executed_at_commit") or e["git_commit"] or "?")[:7],
            "machine": _machine_text(e["machine"]),
        }
        for e in read_provenance(path)
    ]
    return pd.DataFrame(
        lines,
        columns=["command", "started (UTC)", "finished (UTC)", "runs added", "commit", "machine"],
    )


def _machine_text(m: dict[str, Any]) -> str:
    """``cpu, AMD EPYC with AVX2, 2 CPUs, torch 2.14.1`` (entries made before the CPU was
    recorded leave it out)."""
    cpu = f"{m['cpu']}, " if m.get("cpu") else ""
    return f"{m['device']}, {cpu}{m['cpus']} CPUs, torch {m['versions'].get('torch', '?')}"


def git_commit() -> str | None:
    """The checked-out commit (with ``+dirty`` for uncommitted changes), or None outside git."""
    from imbnb import paths

    try:
        root = paths.repo_root()
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return f"{head}+dirty" if dirty else head


def machine() -> dict[str, Any]:
    """The facts about this machine that bear on a run's numbers and wall time."""
    from imbnb.train import get_device
    from imbnb.versions import cpu_description, library_versions

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_description(),
        "device": str(get_device()),
        "platform": platform.platform(),
        "versions": library_versions(_LIBRARIES),
    }


def _sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def record_sweep(
    store: str | os.PathLike[str],
    *,
    command: str,
    started: _dt.datetime,
    finished: _dt.datetime,
    runs_added: int,
    grid: str | None = None,
    commit: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one sweep's entry to ``store``'s provenance file (atomically) and return it.

    ``commit`` is the code the runs ran on (:func:`git_commit` when the sweep started); by
    default the commit checked out now.
    """
    if runs_added < 0:
        raise ValueError(f"runs_added must be >= 0, got {runs_added}")
    entry: dict[str, Any] = {
        "command": command,
        "grid": grid,
        "grid_sha256": _sha256(grid) if grid else None,
        "started_utc": started.astimezone(_dt.UTC).isoformat(timespec="seconds"),
        "finished_utc": finished.astimezone(_dt.UTC).isoformat(timespec="seconds"),
        "runs_added": int(runs_added),
        "git_commit": commit if commit is not None else git_commit(),
        "machine": machine(),
        **dict(extra or {}),
    }
    _write(store, [*read_provenance(store), entry])
    return entry


def _write(store: str | os.PathLike[str], entries: list[dict[str, Any]]) -> None:
    """Rewrite ``store``'s provenance file atomically (temp file, then ``os.replace``)."""
    path = provenance_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entries, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge_results(
    into: str | os.PathLike[str],
    sides: Sequence[str | os.PathLike[str]],
    *,
    configs: Sequence[Any] | None = None,
) -> list[int]:
    """Append the rows of side tables (swept elsewhere) to ``into``, with their provenance.

    Every side is checked before anything is written: it must exist, carry a provenance file,
    and, when ``configs`` is given, hold only rows of those configs. A side whose rows are all
    new brings its sweeps' entries over unchanged (their commands, commits and machines); one
    that overlaps ``into`` brings one entry counting the rows actually added, its own entries
    nested. Either way, each entry gains ``merged_from`` and ``merged_utc``. Returns the rows
    added per side.
    """
    from imbnb.experiments.store import ResultsStore

    allowed = {c.key() for c in configs} if configs is not None else None
    loaded = []
    for side in sides:
        side_path = Path(side)
        if not side_path.is_file():
            raise FileNotFoundError(f"side table {side_path} does not exist")
        entries = read_provenance(side_path)
        if not entries:
            raise ValueError(
                f"side table {side_path} has no {provenance_path(side_path).name}: "
                "where its rows came from is unknown, so it is not merged"
            )
        rows = ResultsStore(side_path).load()
        if allowed is not None:
            foreign = rows[~rows["config_hash"].isin(allowed)]
            if len(foreign):
                raise ValueError(
                    f"side table {side_path}: {len(foreign)} rows are not configs "
                    f"of the grid (first: {foreign['config_hash'].iloc[0][:12]}, "
                    f"method {foreign.get('method', pd.Series(['?'])).iloc[0]})"
                )
        loaded.append((side_path, rows, entries))
    main, added_per_side = ResultsStore(into), []
    for side_path, rows, entries in loaded:
        added = main.append(rows.to_dict("records"))
        added_per_side.append(added)
        if not added:
            continue
        stamp = {
            "merged_from": side_path.name,
            "merged_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        if added == len(rows) and sum(int(e["runs_added"]) for e in entries) == len(rows):
            new = [{**e, **stamp} for e in entries]
        else:
            new = [
                {
                    **entries[-1],
                    "runs_added": added,
                    **stamp,
                    "side_entries": entries,
                    "merge_note": f"{added} of the side's {len(rows)} rows were new",
                }
            ]
        _write(into, [*read_provenance(into), *new])
    return added_per_side
