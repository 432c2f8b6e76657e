"""Committed numbers do not move (issue 24): re-run committed configs, get the same metrics.

For each of three families the cheapest committed row swept on this machine's CPU type (its
sweep's provenance names the CPU) is run again from scratch, in a private cache, and every
metric must equal the committed one exactly. Float sums differ between CPU types, so on
another type the family is skipped and the reason says which type would check it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from imbnb.experiments.config import RunConfig
from imbnb.experiments.provenance import machine, read_provenance
from imbnb.experiments.registry import run_config
from imbnb.experiments.store import ResultsStore

pytestmark = pytest.mark.slow

RESULTS = Path(__file__).resolve().parents[1] / "book" / "data" / "results"
#: Metric columns compared; identity, timing and provenance columns are not numbers of the run.
METRICS = ("accuracy", "acsa", "gmean", "f1_macro", "auprc_macro", "recall_min", "n_synthetic")
FAMILIES = ("feature_space", "dos", "losses")


def _committed_rows() -> pd.DataFrame:
    """Every committed row with the CPU its sweep ran on (None when not recorded)."""
    frames = []
    for table in sorted(RESULTS.glob("*.parquet")):
        rows = ResultsStore(table).load()
        cpus = {e.get("sweep_id"): e.get("machine", {}).get("cpu") for e in read_provenance(table)}
        if "sweep_id" not in rows:
            continue
        frames.append(rows.assign(cpu=rows["sweep_id"].map(cpus), table=table.name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _cheapest(rows: pd.DataFrame, family: str, cpu: str) -> pd.Series | None:
    """The committed row of ``family`` from this CPU type that costs least to re-run."""
    if rows.empty:
        return None
    mine = rows[(rows["family"] == family) & (rows["cpu"] == cpu)]
    if mine.empty:
        return None
    cost = mine["network_seconds"].fillna(0) + mine["method_seconds"].fillna(0)
    return mine.loc[cost.idxmin()]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("family", FAMILIES)
def test_a_committed_run_gives_the_committed_metrics(
    family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpu = machine().get("cpu")
    rows = _committed_rows()
    row = _cheapest(rows, family, cpu)
    if row is None:
        swept_on = sorted({str(c) for c in rows.loc[rows["family"] == family, "cpu"].dropna()})
        pytest.skip(f"no committed {family} row from a {cpu!r} CPU (rows exist from {swept_on})")
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))  # retrain, never read a cache
    cfg = RunConfig.from_row(row.to_dict())
    assert cfg.key() == row["config_hash"], "the committed row's config hash moved"
    again = run_config(cfg)
    moved = {
        m: (row[m], again[m])
        for m in METRICS + tuple(c for c in row.index if c.startswith("recall_c"))
        if m in again and not _same(row[m], again[m])
    }
    assert not moved, f"{row['table']} {row['method']} ({json.loads(row['params'])}): {moved}"
