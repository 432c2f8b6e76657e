"""Figure data beside a table's rows: written whole or not at all, read without pickles,
kept small, and carried along by a merge."""

from __future__ import annotations

import numpy as np
import pytest

from imbnb.experiments import ResultsStore
from imbnb.experiments.figures import (
    MAX_BYTES,
    FigureData,
    figures_dir,
    has_figure,
    load_figure,
    save_figure,
    stored_figures,
)
from imbnb.experiments.provenance import merge_results, start_sweep

HASH = "ab" * 32


def test_a_figure_file_round_trips_beside_its_table(tmp_path) -> None:
    table = tmp_path / "paper.parquet"
    data = FigureData({"xy": np.arange(6, dtype=np.float32).reshape(3, 2), "y": np.arange(3)},
                      {"kind": "dos", "history": [{"round": 1, "var": 0.5}]})  # fmt: skip
    path = save_figure(table, HASH, data)
    assert path.parent == figures_dir(table) == tmp_path / "paper.figures"
    back = load_figure([tmp_path / "other.parquet", table], HASH)  # the first holding it
    assert back.meta == data.meta and np.array_equal(back.arrays["xy"], data.arrays["xy"])
    assert back.arrays["xy"].dtype == np.float32 and set(back.arrays) == {"xy", "y"}
    assert has_figure(table, HASH) and list(stored_figures(table)) == [HASH]
    assert load_figure(table, "cd" * 32) is None


def test_bad_figure_data_is_refused_and_nothing_is_left(tmp_path) -> None:
    table = tmp_path / "t.parquet"
    with pytest.raises(ValueError, match="numbers or strings"):
        save_figure(table, HASH, FigureData({"x": np.array([{"a": 1}], dtype=object)}))
    noise = np.random.default_rng(0).random(MAX_BYTES // 4)  # incompressible: over the limit
    with pytest.raises(ValueError, match="over MAX_BYTES"):
        save_figure(table, HASH, FigureData({"x": noise}))
    with pytest.raises(ValueError, match="alphanumeric"):
        save_figure(table, "../x", FigureData({"x": np.zeros(1)}))
    assert not has_figure(table, HASH) and not list(figures_dir(table).glob("*"))


def test_a_merge_brings_the_sides_figure_files(tmp_path) -> None:
    side, into = tmp_path / "side.parquet", tmp_path / "into.parquet"
    ResultsStore(side).append([{"config_hash": HASH, "method": "DOS", "acsa": 0.5}])
    start_sweep(side, sweep_id="s", command="imbnb sweep", commit="c")
    save_figure(side, HASH, FigureData({"x": np.zeros(2)}, {"kind": "dos"}))
    assert merge_results(into, [side]) == [1]
    assert load_figure(into, HASH).meta == {"kind": "dos"}
