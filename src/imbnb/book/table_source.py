"""Where a chapter's rows come from: computed here, or read from a committed results table.

A chapter under ``paper`` writes its grid as run configs (with every knob at its default left
out, so equal runs get equal config hashes) and reads the rows a committed sweep stored under
them; :class:`Source` carries that choice, :func:`check_readable` refuses settings a run config
cannot hold, and :func:`read_rows` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from imbnb.experiments import RunConfig, coverage, results_for

__all__ = ["COMPUTE", "Source", "check_readable", "missing_runs", "read_rows"]


@dataclass(frozen=True)
class Source:
    """``path``: "compute" or a Parquet table (relative to the repository); ``profile``: the
    profile the stored runs were swept under; ``allow_missing``: return what the table holds."""

    path: str = "compute"
    profile: str = "quick"
    allow_missing: bool = False

    @property
    def computes(self) -> bool:
        """Whether the rows are made here rather than read."""
        return self.path == "compute"


COMPUTE = Source()


def check_readable(arch: str, default_arch: str, minority_classes: Sequence[int] | None) -> None:
    """Refuse, by parameter name, settings a run config cannot express."""
    if minority_classes is not None:
        raise ValueError(
            f"minority_classes must be None to read committed runs (a run config draws the "
            f"minority classes by seed), got {list(minority_classes)}"
        )
    if arch != default_arch:
        raise ValueError(f"arch must be {default_arch!r} to read committed runs, got {arch!r}")


def read_rows(configs: Sequence[RunConfig], source: Source) -> pd.DataFrame:
    """The configs' rows from ``source``'s table, in the configs' order, marked ``from_table``,
    with the columns a chapter's own computation gives (``n_train``: images trained on)."""
    missing = "skip" if source.allow_missing else "error"
    rows = results_for(list(configs), source.path, missing=missing)
    rows = rows.assign(from_table=True)
    if "train_size" in rows:  # a stored row's images trained on: a computed row's n_train
        rows["n_train"] = rows["train_size"]
    if "from_cache" in rows:  # a sweep's own cache hits (only some families record them)
        rows["from_cache"] = rows["from_cache"].fillna(False).astype(bool)
    return rows


def missing_runs(
    configs: Sequence[RunConfig] | Mapping[str, Sequence[RunConfig]], rows: pd.DataFrame
) -> pd.DataFrame:
    """Per protocol, family and method, the runs of ``configs`` that ``rows`` lacks (only
    methods with some missing), so a chapter rendered from a partly swept table says so.
    ``configs`` by name (a chapter's comparisons) counts each apart, the name first."""
    if isinstance(configs, Mapping):
        parts = {name: missing_runs(part, rows) for name, part in configs.items()}
        return pd.concat(parts, names=["comparison"]) if parts else coverage([], rows)
    table = coverage(configs, rows)
    return table[table["missing"] > 0]
