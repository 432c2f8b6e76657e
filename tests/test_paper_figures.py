"""Under `paper` (what `make book` renders) chapters 2-5 draw their paper-scale figures from the
figure data committed beside the tables: nothing there trains a network. A changed config hash
or a lost figure file would otherwise cost the book minutes of training without failing."""

from __future__ import annotations

import pandas as pd
import pytest

from imbnb.book import ados_runs, dos_chapter, dos_runs, feature_runs, gamo_runs
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import Source, chapter_source
from imbnb.data import load_dataset


def _refuse(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
    """Make ``module.name`` (a trainer) fail the test when called."""
    monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail(f"{name} trained a network"))


def _source(p: dict) -> Source:
    """A chapter's two committed tables under `paper`."""
    return chapter_source(p["results_source"], p["own_results_source"], "paper", p["allow_missing"])


def test_chapter_2_reads_its_extractor_figures(monkeypatch) -> None:
    p = chapter_values("02_feature_learning", "paper")
    _refuse(monkeypatch, feature_runs, "train_extractor")
    ex, plot = feature_runs.chapter_extractor(p), (p["n_plot"], p["embedding_plot"])
    runs = feature_runs.feature_runs(p["dataset"], ex, p["seeds"], p["k"], _source(p), None, *plot)
    assert runs.figures and {f.network for f in runs.figures.values()} == {"figure file"}


def test_chapter_3_reads_its_extractor_figures(monkeypatch) -> None:
    p = chapter_values("03_ados", "paper")
    _refuse(monkeypatch, ados_runs, "train_extractor")
    grid = ados_runs.chapter_grids(p)["thesis"]
    figures = ados_runs.extractor_figures(p["dataset"], grid, Source(p["results_source"], "paper"))
    assert sorted(figures) == [min(p["ratios"]), max(p["ratios"])]
    assert {f.network for f in figures.values()} == {"figure file"}


def test_chapter_4_reads_its_dos_figures(monkeypatch) -> None:
    p = chapter_values("04_dos", "paper")
    _refuse(monkeypatch, dos_runs, "run_dos")
    _refuse(monkeypatch, dos_chapter, "run_dos")
    settings, grid = dos_chapter.chapter_settings(p)
    data = {
        name: (load_dataset(name, "train"), load_dataset(name, "test")) for name in p["datasets"]
    }
    runs, _ = dos_chapter.chapter_runs(settings, data, p["seeds"], grid, p["knn_k"], _source(p),
                                       p["n_plot"])  # fmt: skip
    assert runs and {r.network for r in runs.values()} == {"figure file"}


def test_chapter_5_reads_its_gamo_figures(monkeypatch) -> None:
    p = chapter_values("05_gamo", "paper")
    _refuse(monkeypatch, gamo_runs, "figure_gamo")
    plan, nothing = gamo_runs.table1_plan(p), gamo_runs.Table1Runs(pd.DataFrame())
    figure = gamo_runs.chapter_figure(plan, nothing, _source(p), gamo_runs.figure_settings(p),
                                      p["figure_steps"])  # fmt: skip
    assert figure.network == "figure file" and figure.tiles is not None
