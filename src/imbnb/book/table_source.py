"""Where a chapter's rows come from: computed here, or read from a committed results table.

A chapter under ``paper`` writes its grid as run configs (with every knob at its default left
out, so equal runs get equal config hashes) and reads the rows a committed sweep stored under
them; :class:`Source` carries that choice, :func:`check_readable` refuses settings a run config
cannot hold, and :func:`read_rows` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from imbnb import paths
from imbnb.experiments import RunConfig, coverage, results_for

__all__ = ["COMPUTE", "Source", "check_readable", "chapter_source", "missing_runs", "read_rows"]


@dataclass(frozen=True)
class Source:
    """``path``: "compute" or a Parquet table (relative to the repository); ``profile``: the
    profile the stored runs were swept under; ``allow_missing``: return what the tables hold;
    ``also``: further tables read for the runs ``path`` lacks (a chapter's own sweep beside
    chapter 8's), so each run is stored once."""

    path: str = "compute"
    profile: str = "quick"
    allow_missing: bool = False
    also: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.computes and self.also:
            raise ValueError(
                f"a source that computes reads no further tables; got also={list(self.also)} "
                "(set the results source to a table, or every source to 'compute')"
            )
        if "compute" in self.also:
            raise ValueError(f"also must list Parquet tables, not 'compute'; got {self.also}")

    @property
    def computes(self) -> bool:
        """Whether the rows are made here rather than read."""
        return self.path == "compute"

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table read, in order: a run is taken from the first that holds it."""
        return () if self.computes else (self.path, *self.also)

    @property
    def table_paths(self) -> list[Path]:
        """The tables as paths, relative ones under the repository (for their figure files)."""
        return [t if t.is_absolute() else paths.repo_root() / t for t in map(Path, self.tables)]


COMPUTE = Source()


def chapter_source(
    results_source: str, own_results_source: str, profile: str, allow_missing: bool
) -> Source:
    """A chapter's two table parameters as one source: chapter 8's table, then the chapter's
    own (``book/grids/chapters.yaml``'s) for the runs chapter 8's lacks."""
    if results_source == "compute" and own_results_source != "compute":
        raise ValueError(
            "own_results_source needs results_source set to a table as well (chapter 8's, "
            f"read first); got results_source='compute', own_results_source={own_results_source!r}"
        )
    also = () if own_results_source == "compute" else (own_results_source,)
    return Source(results_source, profile, allow_missing, also)


def check_readable(arch: str, default_arch: str) -> None:
    """Refuse, by parameter name, settings a run config cannot express (fixed minority classes
    it can: :attr:`RunConfig.minority_classes`)."""
    if arch != default_arch:
        raise ValueError(f"arch must be {default_arch!r} to read committed runs, got {arch!r}")


def read_rows(configs: Sequence[RunConfig], source: Source) -> pd.DataFrame:
    """The configs' rows from ``source``'s table, in the configs' order, marked ``from_table``,
    with the columns a chapter's own computation gives (``n_train``: images trained on)."""
    rows = _stored_rows(list(configs), source)
    rows = rows.assign(from_table=True)
    if "train_size" in rows:  # a stored row's images trained on: a computed row's n_train
        rows["n_train"] = rows["train_size"]
    if "from_cache" in rows:  # a sweep's own cache hits (only some families record them)
        rows["from_cache"] = rows["from_cache"].fillna(False).astype(bool)
    return rows


def _stored_rows(configs: list[RunConfig], source: Source) -> pd.DataFrame:
    """The configs' rows from the source's tables (the first holding a run wins), in order."""
    if not source.also:
        missing = "skip" if source.allow_missing else "error"
        return results_for(configs, source.path, missing=missing)
    parts = [results_for(configs, table, missing="skip") for table in source.tables]
    rows = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    rows = rows.drop_duplicates("config_hash", keep="first")
    wanted = [c.key() for c in configs]
    held = set(rows["config_hash"]) if len(rows) else set()
    lacking = len(set(wanted) - held)
    if lacking and not source.allow_missing:
        raise ValueError(
            f"{' + '.join(source.tables)} hold {len(set(wanted)) - lacking} of the "
            f"{len(set(wanted))} runs asked for; run `imbnb sweep` into them, compute the "
            "rows, or allow missing runs"
        )
    order: dict[str, int] = {}
    for i, key in enumerate(wanted):
        order.setdefault(key, i)
    rows = rows.sort_values("config_hash", key=lambda k: k.map(order), kind="stable")
    return rows.reset_index(drop=True)


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
