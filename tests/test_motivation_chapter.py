"""Chapter 1 under `paper` reads committed CNN-CE runs from two tables; its one network again."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from imbnb import paths
from imbnb.book.chapters_grid import chapter_configs
from imbnb.book.motivation_chapter import (
    chapter_source,
    confusion_note,
    extractor_args,
    motivation_runs,
    network_report,
    read_configs,
    runs_sentence,
)
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import Source, missing_runs, read_rows
from imbnb.experiments import RunConfig, load_grid, sweep

RESULTS = paths.book_dir() / "data" / "results"
CHAPTER = "01_motivation"


def _values(profile: str = "paper", **changes) -> dict:
    """Chapter 1's parameter values under ``profile``, ``changes`` on top."""
    return chapter_values(CHAPTER, profile, **changes)


def _configs(v: dict) -> list[RunConfig]:
    """The runs the chapter lists from its values."""
    return read_configs(v)["plain CNN"]


def test_paper_runs_are_chapter_8s_rows_then_the_chapters_grid() -> None:
    read = [c.key() for c in _configs(_values())]
    # what book/grids/chapters.yaml is generated from (tests/test_grid_file.py checks the file)
    assert read == [c.key() for c in chapter_configs(CHAPTER, "paper")]
    wanted = set(read)
    assert len(wanted) == 2 * 5 * 5
    in_paper = wanted & set(pd.read_parquet(RESULTS / "paper.parquet")["config_hash"])
    paper_grid = {c.key() for c in load_grid(paths.book_dir() / "grids" / "paper.yaml")}
    assert len(in_paper) == 12 and in_paper <= paper_grid  # chapter 8's draws 0-2 at rho >= 10
    assert wanted & paper_grid == in_paper  # every other run is chapters.yaml's


def test_reading_tables_refuses_what_a_run_config_cannot_hold() -> None:
    with pytest.raises(ValueError, match="arch must be 'C6-C16-F400-F120'"):
        _configs(_values(arch="C6-C16-F120"))
    fixed = _configs(_values(minority_classes=[0, 2, 5, 8]))  # quick's classes: configs too
    assert {c.minority_classes for c in fixed} == {(0, 2, 5, 8)}
    with pytest.raises(ValueError, match="own_results_source needs results_source"):
        chapter_source("compute", "book/data/results/chapters.parquet", "paper", False)
    with pytest.raises(ValueError, match="reads no further tables"):
        Source("compute", also=("x.parquet",))


def test_sentence_says_where_runs_and_classes_come_from() -> None:
    drawn = runs_sentence(chapter_source("a.parquet", "b.parquet", "paper", False), None, 4)
    assert "a.parquet and b.parquet" in drawn and "draws its own 4 minority" in drawn
    fixed = runs_sentence(Source(), [0, 2, 5, 8], 4)
    assert "0, 2, 5, 8 in every run" in fixed and "trained (or loaded" in fixed


@pytest.fixture
def two_tables(tmp_path, monkeypatch):
    """A tiny chapter grid swept into two tables (rho 20 in one, rho 1 in the other)."""
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    v = _values("paper", datasets=["fashion_mnist"], seeds=[0, 1], ratios=[1, 20], epochs=1,
                n_train=400, n_test=20)  # fmt: skip
    configs = _configs(v)
    first, second = tmp_path / "first.parquet", tmp_path / "second.parquet"
    sweep([c for c in configs if c.ratio == 20], first, progress=False)
    sweep([c for c in configs if c.ratio == 1], second, progress=False)
    return v, configs, str(first), str(second)


def test_rows_come_from_both_tables_and_the_network_is_the_sweeps(tmp_path, two_tables) -> None:
    v, configs, first, second = two_tables
    source = chapter_source(first, second, "paper", False)
    runs = motivation_runs(v["datasets"], v["seeds"], v["ratios"], extractor_args(v), source)
    assert list(zip(runs.summary["seed"], runs.summary["rho"], strict=True)) == [
        (0, 1), (0, 20), (1, 1), (1, 20)
    ]  # fmt: skip
    for frame in (runs.summary, runs.per_class):  # the ratios as the chapter writes them
        assert frame["rho"].dtype.kind == "i"
    stored = read_rows(configs, source).set_index("config_hash")
    for run in runs.per_class.groupby(["seed", "rho"]):
        (seed, rho), part = run
        row = stored.loc[next(c.key() for c in configs if (c.seed, c.ratio) == (seed, rho))]
        assert np.allclose(part["recall"], [row[f"recall_c{c}"] for c in part["class"]])
        assert set(part.loc[part["is_minority"], "class"]) == set(
            map(int, row["minority"].split(","))
        )
    # the confusion matrix's network, trained again without the cache, is the stored run's
    shutil.rmtree(tmp_path / "cache")
    report = runs.reports["fashion_mnist", 0, 20]
    row = stored.loc[next(c.key() for c in configs if (c.seed, c.ratio) == (0, 20))]
    assert np.allclose(report.per_class["recall"], [row[f"recall_c{c}"] for c in range(10)])
    again = network_report(next(c for c in configs if (c.seed, c.ratio) == (0, 20)))
    assert np.array_equal(again.confusion, report.confusion)
    assert report.confusion.sum() == 10 * v["n_test"]


def test_missing_runs_are_listed_or_refused(two_tables) -> None:
    v, configs, first, _ = two_tables
    with pytest.raises(ValueError, match="hold 2 of the 4 runs"):
        read_rows(configs, Source(first, "paper", also=(first,)))
    source = chapter_source(first, first, "paper", True)
    runs = motivation_runs(v["datasets"], v["seeds"], v["ratios"], extractor_args(v), source)
    assert len(runs.summary) == 2
    missing = missing_runs(configs, runs.summary)
    assert missing.loc[("minority", "losses", "CNN-CE"), "missing"] == 2


def test_confusion_note_compares_the_matrix_with_the_tables(two_tables) -> None:
    v, configs, first, second = two_tables
    source = chapter_source(first, second, "paper", False)
    runs = motivation_runs(v["datasets"], v["seeds"], v["ratios"], extractor_args(v), source)
    key = ("fashion_mnist", 0, 20)
    assert "has the tables' recall" in confusion_note(runs, key, source)
    shifted = runs.per_class.assign(recall=runs.per_class["recall"] + 0.01)
    note = confusion_note(runs._replace(per_class=shifted), key, source)
    assert "differs from the tables' by up to 0.010" in note
    assert "diagonal is the recall" in confusion_note(runs, key, Source())
