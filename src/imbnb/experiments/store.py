"""The results table: one Parquet file, one row per run, appended atomically (chapter 8).

Rows are keyed by ``config_hash``. :meth:`ResultsStore.append` rewrites the file through a
temporary file and ``os.replace``, so a crash or a kill leaves either the old table or the new
one, never half of one; a row whose hash is already stored is skipped, so a resumed sweep
neither loses nor duplicates rows. One process writes (the sweep's driver); workers only
compute.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ResultsStore"]


class ResultsStore:
    """A Parquet results table at ``path`` with atomic appends and hash-based de-duplication."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.suffix != ".parquet":
            raise ValueError(f"the results file must end in .parquet, got {self.path.name!r}")

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    def load(self) -> pd.DataFrame:
        """Every stored row (an empty frame when nothing is stored yet)."""
        if not self.path.exists():
            return pd.DataFrame({"config_hash": pd.Series(dtype=str)})
        return pd.read_parquet(self.path)

    def hashes(self) -> set[str]:
        """The config hashes already stored."""
        return set(self.load()["config_hash"].astype(str))

    def __contains__(self, key: str) -> bool:
        return key in self.hashes()

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add the rows whose hash is new; return how many were added. Atomic."""
        new = pd.DataFrame([dict(r) for r in rows])
        if new.empty:
            return 0
        if "config_hash" not in new.columns:
            raise ValueError("every row needs a 'config_hash' column")
        old = self.load()
        new = new.drop_duplicates("config_hash", keep="first")
        new = new[~new["config_hash"].isin(set(old["config_hash"]))]
        if new.empty:
            return 0
        table = new if old.empty else pd.concat([old, new], ignore_index=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".parquet.tmp")
        os.close(fd)
        try:
            table.to_parquet(tmp, index=False)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(new)
