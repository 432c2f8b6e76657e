"""Chapter 5 under `paper` reads Table 1 from committed tables: its configs, splits, the rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from imbnb import paths
from imbnb.book import gamo_runs
from imbnb.book.chapters_grid import chapter_configs
from imbnb.book.gamo_chapter import run_table1, table1_numbers
from imbnb.book.gamo_runs import (
    Table1Plan,
    chapter_figure,
    chapter_source,
    figure_gamo,
    figure_sentence,
    figure_settings,
    read_configs,
    runs_sentence,
    table1_configs,
    table1_plan,
    table1_split,
)
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import Source, missing_runs
from imbnb.data import load_dataset
from imbnb.experiments import figure_makers, load_grid, sweep
from imbnb.experiments.splits import run_split
from imbnb.experiments.sweep import fill_figures
from imbnb.methods.gamo_figure import GAMOFigure
from imbnb.metrics import summarise
from imbnb.train import torch_threads

GRIDS = paths.book_dir() / "grids"


def _plan(profile: str = "paper", **changes) -> Table1Plan:
    """The chapter's Table1Plan cell under ``profile``, ``changes`` on top."""
    return table1_plan(chapter_values("05_gamo", profile, **changes))


def test_paper_runs_are_the_chapters_grid_block_and_none_twice() -> None:
    wanted = {c.key(): c for c in table1_configs(_plan(), "paper")}
    assert len(wanted) == 2 * 3 * 2 * 4
    # what the chapter lists, and book/grids/chapters.yaml is generated from (test_grid_file)
    assert read_configs(chapter_values("05_gamo", "paper")) == {"Table 1": list(wanted.values())}
    assert list(wanted) == [c.key() for c in chapter_configs("05_gamo", "paper")]
    paper = {c.key() for c in load_grid(GRIDS / "paper.yaml")}
    assert not set(wanted) & paper  # chapter 8 holds none: all are chapters.yaml's
    # the knobs are written as chapter 8's grid writes them: its GAMO on the minority protocol
    cfg = next(c for c in wanted.values() if c.method == "GAMO" and c.dataset == "fashion_mnist"
               and "loss" not in c.params)  # fmt: skip
    minority = dataclasses.replace(cfg, protocol="minority", ratio=10, n_test=None)
    assert minority.key() in paper


@pytest.mark.parametrize(("dataset", "count_scale"), [("fashion_mnist", 1.0), ("mnist5k", 1.0),
                                                      ("fashion_mnist", 0.1)])  # fmt: skip
def test_a_run_configs_split_is_the_chapters(dataset, count_scale) -> None:
    plan = _plan(datasets=[dataset], seeds=[1], count_scale=count_scale, test_per_class=30)
    cfg = table1_configs(plan, "paper")[0]
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    split, (X, y, X_test, y_test) = table1_split(plan, train, test, seed=1)
    s = run_split(cfg, train, test)
    assert np.array_equal(train.images[s["train_indices"]], X)
    assert np.array_equal(test.labels[s["test_indices"]], y_test)
    assert np.array_equal(test.images[s["test_indices"]], X_test)
    assert s["minority_classes"] == [int(c) for c in split.minority_classes]


def test_reading_tables_refuses_what_a_run_config_cannot_hold() -> None:
    with pytest.raises(ValueError, match="count_scale must give the counts protocol's"):
        table1_configs(_plan(datasets=["mnist5k"], count_scale=0.05), "paper")  # 2.5: 3 or 2
    with pytest.raises(ValueError, match="methods must be GAMO-family"):
        table1_configs(_plan(methods=["GAMO", "DOS"]), "paper")
    with pytest.raises(ValueError, match="own_results_source needs results_source"):
        chapter_source("compute", "book/data/results/chapters.parquet", "paper", False)


def _drop_seconds(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows without their timings (a run's seconds are measured, not computed)."""
    return frame.drop(columns="seconds").reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny Table 1 (both datasets and losses, every method) swept into a table, and the
    same plan computed by the chapter, each with its own cache."""
    root = tmp_path_factory.mktemp("gamo")
    plan = _plan("smoke", datasets=["fashion_mnist", "mnist5k"], seeds=[0], steps=6,
                 count_scale=0.1, test_per_class=10)  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMBNB_CACHE", str(root / "sweep"))
        sweep(table1_configs(plan, "paper"), root / "t.parquet", progress=False)
        mp.setenv("IMBNB_CACHE", str(root / "chapter"))
        computed = run_table1(plan)
        read = run_table1(plan, Source(str(root / "t.parquet"), "paper"))
        mp.setenv("IMBNB_CACHE", str(root / "figure"))
        figure = figure_gamo(plan, read, None)  # trained again, as the sweep trained it
    return plan, computed, read, figure, root


def test_table_rows_are_the_chapters_own_numbers(tiny) -> None:
    plan, computed, read, _, _ = tiny
    assert len(computed.results) == 16 and read.results["from_table"].all()
    mine, stored = computed.results, read.results[list(computed.results.columns)]
    pd.testing.assert_frame_equal(_drop_seconds(stored), _drop_seconds(mine), check_dtype=False)
    by = ["dataset", "loss", "method"]
    numbers = [
        table1_numbers(plan, r, summarise(r, by=by, metrics=["acsa", "gmean"]))
        for r in (mine, stored)
    ]
    for key, value in numbers[0].items():
        if not key.endswith("_seconds"):
            assert numbers[1][key] == value or (value != value and numbers[1][key] != value)


def test_the_figures_gamo_is_table_1s_network(tiny) -> None:
    plan, computed, read, figure, _ = tiny
    mine = figure_gamo(plan, computed, None)
    assert mine.model is computed.models["fashion_mnist", 0, "ls", "GAMO"]
    assert np.array_equal(figure.X, mine.X) and np.array_equal(figure.y, mine.y)
    again, table1 = figure.model.net_.state_dict(), mine.model.net_.state_dict()
    assert again.keys() == table1.keys()
    assert all(np.array_equal(again[k].numpy(), table1[k].numpy()) for k in again)
    assert "Table 1's own network" in figure_sentence(plan, computed, None)
    assert "as the sweep trained it (6 iterations)" in figure_sentence(plan, read, None)
    assert "for 3 iterations of Algorithm 1 instead of Table 1's 6" in figure_sentence(
        plan, read, 3
    )


def test_missing_runs_are_listed_and_said(tiny, monkeypatch) -> None:
    plan, _, _, _, root = tiny
    monkeypatch.setenv("IMBNB_CACHE", str(root / "sweep"))  # the sweep's networks: loaded
    configs = table1_configs(plan, "paper")
    sweep([c for c in configs if c.dataset == "fashion_mnist"], root / "half.parquet",
          progress=False)  # fmt: skip
    source = chapter_source(str(root / "half.parquet"), str(root / "half.parquet"), "paper", True)
    results = run_table1(plan, source).results
    assert len(results) == 8
    missing = missing_runs(configs, results)
    assert missing["missing"].sum() == 8 and set(missing["missing"]) == {2}
    assert "which hold 8 of the 16" in runs_sentence(source, plan, results)
    with pytest.raises(ValueError, match="hold 8 of the 16 runs"):
        run_table1(plan, chapter_source(str(root / "half.parquet"), str(root / "half.parquet"),
                                        "paper", False))  # fmt: skip


def test_the_figures_are_read_from_the_sweeps_figure_file(tiny, monkeypatch) -> None:
    """A sweep asked for figures stores what the boundary and GAMO2pix figures draw beside
    Table 1's GAMO row; the chapter reads it, trains nothing, and draws what its own network
    gives."""
    plan, computed, _, _, root = tiny
    monkeypatch.setenv("IMBNB_CACHE", str(root / "sweep"))  # the sweep's networks: loaded
    settings = figure_settings(chapter_values("05_gamo", "smoke", seeds=list(plan.seeds)))
    monkeypatch.setattr(figure_makers, "GAMO_FIGURE", settings)  # the smoke profile's, not paper's
    table = root / "t.parquet"
    configs = table1_configs(plan, "paper")
    assert fill_figures(configs, table, progress=False) == 4  # GAMO: 2 datasets x 2 losses
    source = Source(str(table), "paper")
    read = run_table1(plan, source)
    with monkeypatch.context() as mp:
        mp.setattr(gamo_runs, "figure_gamo", lambda *a, **k: pytest.fail("trained a network"))
        stored = chapter_figure(plan, read, source, settings, None)
    assert stored.network == "figure file" and stored.meta["reproduces_row"]
    assert "the sweep stored what the two figures draw" in figure_sentence(plan, read, None, stored)
    model, X, y = figure_gamo(plan, computed, None)  # Table 1's own network, computed
    with torch_threads(1):  # as a sweep's runs
        mine = GAMOFigure.from_model(model, X, y, settings)
    pd.testing.assert_frame_equal(
        stored.boundary.distances.reset_index(drop=True),
        mine.boundary.distances.reset_index(drop=True),
    )
    assert stored.tiles.classes == mine.tiles.classes == [9]
    assert np.allclose(stored.tiles.made[9], mine.tiles.made[9], atol=1e-6)
    pd.testing.assert_frame_equal(stored.tiles.measures, mine.tiles.measures)
    other = dataclasses.replace(settings, n_generate=settings.n_generate + 1)
    assert chapter_figure(plan, read, source, other, None).network == "trained"  # not that file
