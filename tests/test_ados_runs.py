"""Chapter 3 under `paper` reads committed runs: its grids as run configs, the same rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from _table_checks import assert_table_is_computed

from imbnb import paths
from imbnb.book import ados_runs
from imbnb.book.ados_runs import (
    chapter_grids,
    cnn_rows,
    extractor_figures,
    feature_configs,
    figures_sentence,
    grid_rows,
    pf_rows,
    pseudo_feature_configs,
    read_configs,
)
from imbnb.book.chapters_grid import chapter_configs
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import Source, missing_runs
from imbnb.experiments import sweep
from imbnb.experiments.sweep import fill_figures
from imbnb.methods.options import RunOptions
from imbnb.train import torch_threads

RESULTS = paths.book_dir() / "data" / "results"
PAPER = "book/data/results/paper.parquet"


def _values(profile: str = "paper", **changes) -> dict:
    """Chapter 3's parameter values under ``profile``, ``changes`` on top."""
    return chapter_values("03_ados", profile, **changes)


def test_paper_heads_and_cnns_are_chapter_8s_committed_rows() -> None:
    grids = chapter_grids(_values())
    stored = set(pd.read_parquet(RESULTS / "paper.parquet")["config_hash"])
    heads = feature_configs("fashion_mnist", grids["thesis"], "paper")
    assert len(heads) == 9 * 4 * 3 and {c.key() for c in heads} <= stored
    cnns = cnn_rows("fashion_mnist", grids["thesis"], source=Source(PAPER, "paper"))
    assert len(cnns) == 2 * 4 * 3 and set(cnns["method"]) == {"CNN-CE", "CNN-CW"}
    rows = grid_rows("fashion_mnist", grids["thesis"], source=Source(PAPER, "paper"))
    assert len(rows) == 108 and rows["from_table"].all()
    assert rows["n_train"].notna().all() and (cnns["n_synthetic"] == 0).all()  # as computed
    pf = pseudo_feature_configs("fashion_mnist", grids["pseudo"], "paper")
    missing = missing_runs({"thesis": heads, "pseudo-feature": pf}, rows)
    assert set(missing.index.get_level_values("comparison")) == {"pseudo-feature"}
    assert missing["missing"].sum() == 135  # counted apart from the thesis heads they resemble


def test_paper_runs_are_what_chapters_yaml_is_generated_from() -> None:
    grids = chapter_grids(_values())
    configs = pseudo_feature_configs("fashion_mnist", grids["pseudo"], "paper")
    assert len(configs) == 5 * 9 * 3
    heads = feature_configs("fashion_mnist", grids["thesis"], "paper")
    # what book/grids/chapters.yaml is generated from (tests/test_grid_file.py checks the file)
    read = [c.key() for c in chapter_configs("03_ados", "paper")]
    assert read == [c.key() for c in [*heads, *configs]]
    assert all(c.params["extractor_weight"] is None for c in configs)  # plain cross-entropy
    only = read_configs(_values(), computed=["thesis protocol"])  # computed: nothing to read
    assert list(only) == ["pseudo-feature protocol"] and only["pseudo-feature protocol"] == configs


def test_a_changed_head_or_extractor_changes_the_keys() -> None:
    base = {
        c.key() for c in feature_configs("fashion_mnist", chapter_grids(_values())["thesis"], "x")
    }
    for change in ({"head_epochs": 12}, {"extractor_weight": None}, {"rho_d": 0.5}):
        grid = chapter_grids(_values(**change))["thesis"]
        assert not base & {c.key() for c in feature_configs("fashion_mnist", grid, "x")}


def test_fixed_classes_swept_as_configs_give_the_chapters_head_rows(tmp_path, monkeypatch) -> None:
    """The quick profile's fixed minority classes are run configs too (issue 24)."""
    tiny = _values(profile="smoke", seeds=[0], ratios=[20], methods=["BL", "FS-SMOTE"],
                   n_train=300, n_test=10, epochs=1, head_epochs=1)  # fmt: skip
    grid = chapter_grids(tiny)["thesis"]
    configs = feature_configs("fashion_mnist", grid, "smoke")
    assert {c.minority_classes for c in configs} == {(0, 2, 5, 8)}
    assert_table_is_computed(
        configs,
        lambda source: grid_rows("fashion_mnist", grid, source),
        lambda: grid_rows("fashion_mnist", grid, options=RunOptions(progress=False)),
        ["method", "accuracy", "gmean", "recall_min", "recall_worst", "recall_c0"],
        (tmp_path, monkeypatch),
    )


def test_a_table_row_is_the_row_the_chapter_computes(tmp_path, monkeypatch) -> None:
    """The pseudo-feature protocol swept as run configs gives the chapter's own numbers."""
    tiny = _values(
        profile="smoke", seeds=[0], pf_n_minor=[2], pf_methods=["BL", "FS-SMOTE"],
        pf_n_train=300, n_test=10, pf_epochs=1, head_epochs=1, minority_classes=None,
    )  # fmt: skip
    grid = chapter_grids(tiny)["pseudo"]
    assert_table_is_computed(
        pseudo_feature_configs("fashion_mnist", grid, "smoke"),
        lambda source: pf_rows("fashion_mnist", grid, source),
        lambda: pf_rows("fashion_mnist", grid, options=RunOptions(progress=False)),
        ["method", "n_minor", "accuracy", "gmean", "recall_min", "recall_worst", "recall_c0"],
        (tmp_path, monkeypatch),
    )


def test_the_extractor_figures_are_read_from_the_sweeps_figure_files(tmp_path, monkeypatch):
    """A sweep asked for figures stores what the adaptive-k figure, the near-duplication table
    and the fit sentence measure beside the first seed's ADOS rows; the chapter reads them,
    trains nothing, and gets what its own extractors give."""
    tiny = _values(profile="smoke", seeds=[0], ratios=[10, 20], methods=["ADOS"], n_train=300,
                   n_test=10, epochs=1, head_epochs=1)  # fmt: skip
    grid = chapter_grids(tiny)["thesis"]
    configs = feature_configs("fashion_mnist", grid, "smoke")
    table = tmp_path / "t.parquet"
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "sweep-cache"))
    sweep(configs, table, progress=False)
    assert fill_figures(configs, table, progress=False) == 2  # ADOS at both ratios
    source = Source(str(table), "smoke")
    with monkeypatch.context() as mp:
        mp.setattr(ados_runs, "train_extractor", lambda *a, **k: pytest.fail("trained a network"))
        stored = extractor_figures("fashion_mnist", grid, source)
    assert [f.network for f in stored.values()] == ["figure file"] * 2
    assert "read from the figure data a sweep stored" in figures_sentence(stored)
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "chapter-cache"))  # trained again
    with torch_threads(1):  # as a sweep's runs
        own = extractor_figures("fashion_mnist", grid, options=RunOptions(progress=False))
    assert "trained (or loaded from the cache) by this execution" in figures_sentence(own)
    for ratio in (10, 20):
        a, b = stored[ratio], own[ratio]
        assert (a.minority_classes, a.counts, a.dup, a.fit_spread) == (
            b.minority_classes, b.counts, b.dup, b.fit_spread)  # fmt: skip
        assert a.profile.k_max == b.profile.k_max and a.profile.grid_k == b.profile.grid_k
        assert np.array_equal(a.profile.d_x, b.profile.d_x)
        assert np.array_equal(a.profile.ks, b.profile.ks)
    other = dataclasses.replace(grid, rho_d=2.0)  # another run: the tables hold no figure of it
    assert extractor_figures("fashion_mnist", other, source)[10].network != "figure file"
