"""A chapter's table path against its own computation: sweep its run configs into a table,
read them back as the chapter does, compute them again in a fresh cache, compare."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pytest

from imbnb.book.table_source import Source
from imbnb.experiments import RunConfig, sweep
from imbnb.train import torch_threads


def assert_table_is_computed(
    configs: Sequence[RunConfig],
    read: Callable[[Source], pd.DataFrame],
    compute: Callable[[], pd.DataFrame],
    columns: Sequence[str],
    where: tuple[Path, pytest.MonkeyPatch],
) -> None:
    """``read(source)`` of the swept ``configs`` equals ``compute()`` on ``columns``.

    ``where``: pytest's ``tmp_path`` and ``monkeypatch`` (each side gets its own cache; the
    computation runs on one thread, as a sweep's runs do).
    """
    tmp_path, monkeypatch = where
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "sweep-cache"))
    table = tmp_path / "t.parquet"
    sweep(list(configs), table, progress=False)
    rows = read(Source(str(table), configs[0].profile))
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "chapter-cache"))  # trained again
    with torch_threads(1):
        computed = compute()
    cols = list(columns)
    pd.testing.assert_frame_equal(rows[cols], computed[cols], check_dtype=False)
