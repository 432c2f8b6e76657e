"""Where a results table came from: one entry per sweep that added rows (chapter 8).

Beside ``results.parquet`` lies ``results.provenance.json``: a list of sweeps, each with its
command, grid file and its SHA-256, start and end (UTC), rows added, the git commit of the
code, and the machine (CPU count, torch device, library versions). ``imbnb sweep`` writes its
entry when it starts (:func:`start_sweep`, status ``running``) and completes it when it ends
(:func:`finish_sweep`), so the rows of a killed sweep, which carry its ``sweep_id``, are
traceable. The file is rewritten atomically under the store's lock, so concurrent sweeps
never lose each other's entries. :func:`merge_results` (``imbnb merge``) brings the rows of
tables swept elsewhere, a GPU machine say, into one, entries included.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from imbnb import paths
from imbnb.experiments.figures import copy_figures
from imbnb.experiments.store import ResultsStore
from imbnb.train import get_device, gpu_name
from imbnb.versions import cpu_description, library_versions

__all__ = [
    "finish_sweep",
    "flat_entries",
    "git_commit",
    "machine",
    "merge_results",
    "provenance_path",
    "provenance_table",
    "read_provenance",
    "record_sweep",
    "start_sweep",
    "upgrade_provenance",
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
        return flat_entries(json.load(f))


#: fields a merge adds to an entry; two entries differing only in these are the same record
_STAMPS = ("merged_from", "merged_utc", "merge_note")
_STATUS_RANK = {"running": 0, "interrupted": 1, "finished": 2}


def _identity(entry: Mapping[str, Any]) -> str:
    """A sweep's ``sweep_id``, or for an entry without one its content less a merge's stamps."""
    if entry.get("sweep_id"):
        return str(entry["sweep_id"])
    return json.dumps({k: v for k, v in entry.items() if k not in _STAMPS}, sort_keys=True)


def _progress(entry: Mapping[str, Any]) -> tuple[int, str, int]:
    """How far a sweep's record has come: its status, its end, its rows (later states win)."""
    rank = _STATUS_RANK.get(str(entry.get("status")), 1 if entry.get("finished_utc") else 0)
    return rank, str(entry.get("finished_utc") or ""), int(entry.get("runs_added") or 0)


def flat_entries(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per sweep, in the order first recorded: the nested side entries of merges
    written by imbnb before 2026-12-05 brought up (each merge nested the side's whole history,
    so files grew with every merge), and of several records of one sweep the furthest along
    (its status, end and rows), keeping the merge stamps of either."""
    out: dict[str, dict[str, Any]] = {}

    def visit(entry: Mapping[str, Any], stamp: Mapping[str, Any]) -> None:
        own = {k: v for k, v in entry.items() if k != "side_entries"}
        inner = {k: own[k] for k in _STAMPS if k in own}
        for side in entry.get("side_entries") or ():
            visit(side, {**stamp, **inner})
        record = {**stamp, **own}
        key = _identity(record)
        if key not in out:
            out[key] = record
        elif _progress(record) >= _progress(out[key]):
            out[key] = {**out[key], **record}
        else:
            out[key] = {**record, **out[key]}

    for entry in entries:
        visit(entry, {})
    return list(out.values())


def upgrade_provenance(store: str | os.PathLike[str]) -> tuple[int, int]:
    """Rewrite ``store``'s provenance file with one entry per sweep (:func:`flat_entries`);
    return the records it held, nested ones included, and the entries it holds now."""
    path = provenance_path(store)
    if not path.exists():
        return 0, 0

    def count(entries: Sequence[Mapping[str, Any]]) -> int:
        return sum(1 + count(e.get("side_entries") or ()) for e in entries)

    with _locked(store):
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        _write(store, _counted(flat_entries(raw), ResultsStore(store)))
    return count(raw), len(read_provenance(store))


def _counted(entries: list[dict[str, Any]], store: ResultsStore) -> list[dict[str, Any]]:
    """Each sweep's ``runs_added`` as the rows of ``store`` that carry its ``sweep_id``: a
    sweep merged while it ran, or killed, never recorded its own count."""
    rows = store.load() if store.path.exists() or store.runs_dir.is_dir() else None
    if rows is None or "sweep_id" not in rows:
        return entries
    counts = rows["sweep_id"].value_counts()
    return [
        {**e, "runs_added": int(counts.get(e["sweep_id"], 0))} if e.get("sweep_id") else e
        for e in entries
    ]


def provenance_table(store: str | os.PathLike[str]) -> pd.DataFrame:
    """One line per recorded sweep: what ran, when, how many rows, on which code and machine.

    A relative ``store`` is taken from the repository root (as chapter 8's results_source).
    """
    path = Path(store)
    path = path if path.is_absolute() else paths.repo_root() / path
    lines = [
        {
            "command": e["command"],
            "started (UTC)": e["started_utc"],
            "finished (UTC)": e["finished_utc"] or "not finished (killed?)",
            "runs added": _runs_added(e, path),
            "commit": (e.get("runs_executed_at_commit") or e["git_commit"] or "?")[:7],
            "machine": _machine_text(e["machine"]),
        }
        for e in read_provenance(path)
    ]
    return pd.DataFrame(
        lines,
        columns=["command", "started (UTC)", "finished (UTC)", "runs added", "commit", "machine"],
    )


def _runs_added(entry: Mapping[str, Any], store: Path) -> int:
    """An entry's rows; for a sweep that never finished, its rows counted in the table."""
    if entry.get("status") != "running":
        return int(entry["runs_added"])
    table = ResultsStore(store).load()
    if "sweep_id" not in table.columns:
        return 0
    return int((table["sweep_id"] == entry["sweep_id"]).sum())


def _machine_text(m: dict[str, Any]) -> str:
    """``cpu, AMD EPYC with AVX2, 2 CPUs, torch 2.14.1`` (entries made before the CPU was
    recorded leave it out)."""
    cpu = f"{m['cpu']}, " if m.get("cpu") else ""
    gpu = f" ({m['gpu']})" if m.get("gpu") else ""
    return f"{m['device']}{gpu}, {cpu}{m['cpus']} CPUs, torch {m['versions'].get('torch', '?')}"


def _git(*args: str, strip: bool = True) -> str:
    """The output of ``git ARGS`` in the repository, stripped unless told not to."""
    done = subprocess.run(
        ["git", *args],
        cwd=paths.repo_root(),
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return done.stdout.strip() if strip else done.stdout


def git_commit(ignore: Sequence[str | os.PathLike[str]] = ()) -> str | None:
    """The checked-out commit (with ``+dirty`` for uncommitted changes).

    Changes to the files or folders in ``ignore`` do not count: a sweep resumed into a table
    in the repository has changed that table and its provenance itself, not the code. Outside
    git (a tree copied to a GPU machine without its ``.git``) it is what ``IMBNB_COMMIT``
    names, the commit the copy was made from, or None.
    """
    try:
        head = _git("rev-parse", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no", "-z", strip=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return os.environ.get("IMBNB_COMMIT") or None
    root, skip = paths.repo_root().resolve(), [Path(p).resolve() for p in ignore]
    files = [(root / entry[3:]).resolve() for entry in changed.split("\0") if entry]
    dirty = [f for f in files if not any(f == s or f.is_relative_to(s) for s in skip)]
    return f"{head}+dirty" if dirty else head


def machine() -> dict[str, Any]:
    """The facts about this machine that bear on a run's numbers and wall time."""
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_description(),
        "device": str(get_device()),
        "gpu": gpu_name(),
        "platform": platform.platform(),
        "versions": library_versions(_LIBRARIES),
    }


def _sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _entry(
    command: str, grid: str | None, started: _dt.datetime, commit: str | None
) -> dict[str, Any]:
    """The fields every entry starts with."""
    return {
        "command": command,
        "grid": grid,
        "grid_sha256": _sha256(grid) if grid else None,
        "started_utc": _utc(started),
        "git_commit": commit if commit is not None else git_commit(),
        "machine": machine(),
    }


def _utc(when: _dt.datetime) -> str:
    return when.astimezone(_dt.UTC).isoformat(timespec="seconds")


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
    """Append one finished sweep's entry to ``store``'s provenance file and return it.

    ``commit`` is the code the runs ran on (:func:`git_commit` when the sweep started); by
    default the commit checked out now.
    """
    if runs_added < 0:
        raise ValueError(f"runs_added must be >= 0, got {runs_added}")
    entry = {
        **_entry(command, grid, started, commit),
        "finished_utc": _utc(finished),
        "runs_added": int(runs_added),
        **dict(extra or {}),
    }
    with _locked(store):
        _write(store, [*read_provenance(store), entry])
    return entry


def start_sweep(
    store: str | os.PathLike[str],
    *,
    command: str,
    grid: str | None = None,
    commit: str | None = None,
    sweep_id: str | None = None,
) -> dict[str, Any]:
    """Record a sweep as it starts (status ``running``); return its entry with its ``sweep_id``.

    The rows it stores carry the id, so they stay traceable even if the sweep is killed.
    """
    entry = {
        "sweep_id": sweep_id or uuid.uuid4().hex,
        "status": "running",
        **_entry(command, grid, _dt.datetime.now(_dt.UTC), commit),
        "finished_utc": None,
        "runs_added": 0,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    with _locked(store):
        _write(store, [*read_provenance(store), entry])
    return entry


def finish_sweep(
    store: str | os.PathLike[str], sweep_id: str, *, runs_added: int, status: str = "finished"
) -> dict[str, Any]:
    """Complete the entry :func:`start_sweep` wrote: end time, rows added, final status."""
    if runs_added < 0:
        raise ValueError(f"runs_added must be >= 0, got {runs_added}")
    with _locked(store):
        entries = read_provenance(store)
        for entry in entries:
            if entry.get("sweep_id") == sweep_id:
                entry.update(
                    status=status,
                    finished_utc=_utc(_dt.datetime.now(_dt.UTC)),
                    runs_added=int(runs_added),
                )
                _write(store, entries)
                return entry
    raise ValueError(f"sweep_id {sweep_id!r} has no entry in {provenance_path(store)}")


def _locked(store: str | os.PathLike[str]) -> Any:
    """The store's lock: one writer of the provenance file at a time."""
    return ResultsStore(store).lock()


def _write(store: str | os.PathLike[str], entries: list[dict[str, Any]]) -> None:
    """Rewrite ``store``'s provenance file atomically (temp file, then ``os.replace``)."""
    path = provenance_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(flat_entries(entries), f, indent=1)
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
    that overlaps ``into`` (a checkout of it, say) brings only the entries ``into`` lacks or
    holds at an earlier state, with a note of how many of its rows were new. Either way, each
    entry gains ``merged_from`` and ``merged_utc``. The side's figure
    files (:mod:`imbnb.experiments.figures`) come along where ``into`` lacks them. Returns the
    rows added per side.
    """
    allowed = {c.key() for c in configs} if configs is not None else None
    loaded = [_load_side(Path(side), allowed) for side in sides]
    main, added_per_side = ResultsStore(into), []
    for side_path, rows, entries in loaded:
        copy_figures(side_path, into, rows["config_hash"])  # before the rows, as a sweep
        fresh = rows[~rows["config_hash"].isin(main.hashes())]
        added = main.append(rows.to_dict("records"))
        main.compact()
        added_per_side.append(added)
        with main.lock():  # a side's sweep may have ended since its rows came: state too
            known = read_provenance(into)
            ids = set(fresh["sweep_id"].dropna()) if "sweep_id" in fresh else set()
            new = _merged_entries(side_path, entries, known, rows, added, ids)
            if new:
                _write(into, _counted([*known, *new], main))
    return added_per_side


def _load_side(side_path: Path, allowed: set[str] | None) -> tuple[Path, pd.DataFrame, list]:
    """A side table's rows and provenance entries, refused by name if unfit to merge."""
    if not side_path.is_file() and not ResultsStore(side_path).runs_dir.is_dir():
        raise FileNotFoundError(f"side table {side_path} does not exist")
    entries = read_provenance(side_path)
    if not entries:
        raise ValueError(
            f"side table {side_path} has no {provenance_path(side_path).name}: "
            "where its rows came from is unknown, so it is not merged"
        )
    rows = ResultsStore(side_path).load()  # verified: a damaged side is refused by name
    if allowed is not None:
        foreign = rows[~rows["config_hash"].isin(allowed)]
        if len(foreign):
            raise ValueError(
                f"side table {side_path}: {len(foreign)} rows are not configs "
                f"of the grid (first: {foreign['config_hash'].iloc[0][:12]}, "
                f"method {foreign.get('method', pd.Series(['?'])).iloc[0]})"
            )
    return side_path, rows, entries


def _merged_entries(
    side_path: Path,
    entries: list[dict[str, Any]],
    known: list[dict[str, Any]],
    rows: pd.DataFrame,
    added: int,
    fresh_ids: set[str],
) -> list[dict[str, Any]]:
    """The side's entries that ``known`` (``into``'s) lacks, holds at an earlier state, or whose
    sweep brought rows new to ``into`` (``fresh_ids``), stamped with the merge. A side checked
    out from ``into`` holds ``into``'s history too: only its own sweeps come over, so repeated
    merges of a growing side update one entry per sweep."""
    have = {_identity(e): {k: v for k, v in e.items() if k not in _STAMPS} for e in known}
    new = [
        e
        for e in entries
        if e.get("sweep_id") in fresh_ids
        or have.get(_identity(e)) != {k: v for k, v in e.items() if k not in _STAMPS}
    ]
    stamp = {
        "merged_from": side_path.name,
        "merged_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if not new:
        return []
    if added == len(rows) and sum(int(e.get("runs_added") or 0) for e in new) == added:
        return [{**e, **stamp} for e in new]
    note = {**stamp, "merge_note": f"{added} of the side's {len(rows)} rows were new"}
    if len(new) == 1 and not new[0].get("sweep_id"):
        return [{**new[0], "runs_added": added, **note}]  # a side sweep of old, without ids
    return [{**e, **note} for e in new]
