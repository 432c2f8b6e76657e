"""Chapter 4 under `paper` reads committed DOS runs: its grid as run configs, the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imbnb import paths
from imbnb.book import dos_runs
from imbnb.book.dos_chapter import (
    ThesisSettings,
    balanced_comparison,
    chapter_missing,
    chapter_runs,
    chapter_settings,
    read_configs,
    run_protocol,
    thesis_comparison,
)
from imbnb.book.dos_runs import DOS_METHODS, protocol_configs, protocol_rows
from imbnb.book.dos_tables import MODELS
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import Source, chapter_source
from imbnb.data import load_dataset
from imbnb.experiments import RunConfig, load_grid, sweep
from imbnb.experiments.figures import load_figure
from imbnb.experiments.splits import run_split
from imbnb.experiments.sweep import fill_figures
from imbnb.methods.dos import INIT_METHODS, DOSConfig, ratio_from_fraction
from imbnb.methods.dos_figure import N_PLOT, DOSFigure
from imbnb.train import torch_threads

RESULTS = paths.book_dir() / "data" / "results"
PAPER = "book/data/results/paper.parquet"
CHAPTERS = "book/data/results/chapters.parquet"


def _values(profile: str = "paper", **changes) -> dict:
    """Chapter 4's parameter values under ``profile``, ``changes`` on top."""
    return chapter_values("04_dos", profile, **changes)


def _settings(v: dict) -> DOSConfig:
    """The chapter's DOS settings (its protocol cell's), from its values."""
    return chapter_settings(v)[0]


def _grid(v: dict) -> list[tuple[float, int]]:
    """The chapter's (p, k) grid, from its values."""
    return chapter_settings(v)[1]


def test_paper_runs_are_chapter_8s_then_the_chapters_grid() -> None:
    # what the chapter lists and book/grids/chapters.yaml is generated from (test_grid_file)
    read = [c.key() for part in read_configs(_values()).values() for c in part]
    wanted = set(read)
    paper_grid = {c.key() for c in load_grid(paths.book_dir() / "grids" / "paper.yaml")}
    assert len(wanted) == 183 and len(wanted - paper_grid) == 111  # these in chapters.yaml
    stored = set(pd.read_parquet(RESULTS / "paper.parquet")["config_hash"])
    assert wanted & paper_grid <= stored  # chapter 8's are committed under the same hash


def test_read_rows_are_the_committed_rows() -> None:
    v = _values()
    source = chapter_source(PAPER, CHAPTERS, "paper", True)
    rows = protocol_rows(_settings(v), v["datasets"], v["seeds"], _grid(v), v["knn_k"], source)
    stored = pd.read_parquet(RESULTS / "paper.parquet").set_index("config_hash")
    assert len(rows) >= 27 and rows["from_table"].all()  # chapter 8's, then chapters.yaml's
    for row in rows[rows["config_hash"].isin(stored.index)].itertuples():  # chapter 8's
        assert row.f1_min == stored.loc[row.config_hash, "f1_min"]
        assert stored.loc[row.config_hash, "ratio"] == ratio_from_fraction(row.p)
    ch3 = ThesisSettings.from_profile("paper", None)
    table, numbers = thesis_comparison(
        _settings(v), ch3, v["thesis_ratios"], v["seeds"], (None, None), v["knn_k"], source
    )
    dos10 = stored[(stored.method == "DOS") & (stored.ratio == 10) & (stored.seed <= 2)]
    assert numbers["thesis_dos_acsa"] == pytest.approx(dos10["acsa"].mean(), abs=1e-12)
    assert set(table.index.get_level_values("method")) == {
        "CNN-CE", "BL", "ADOS", "DOS", "DOS-LR", "DOS-kNN"
    }  # fmt: skip
    missing = chapter_missing(read_configs(v), source)
    assert set(missing.index.get_level_values("comparison")) <= {
        "paper's protocol",
        "balanced data",
    }


def test_a_removal_fraction_is_its_ratios_split() -> None:
    train = load_dataset("fashion_mnist", "train")
    for p, rho in [(0.9, 10), (0.95, 20), (0.99, 100)]:
        assert ratio_from_fraction(p) == float(rho)  # one extractor key for both
        assert DOSConfig(p=p).split_ratio() == DOSConfig(ratio=rho).split_ratio()
        split = run_split(RunConfig("DOS", ratio=ratio_from_fraction(p)), train, train)
        minority = split["minority_classes"]
        assert len(minority) == 4
        assert {split["counts"][c] for c in minority} == {round(6000 * (1 - p))}  # p removed
        assert {n for c, n in split["counts"].items() if c not in minority} == {6000}


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"arch": "C6-C16-F120"}, "arch must be 'C6-C16-F400-F120'"),
        ({"lr": 0.01}, "lr must be 0.001"),
        ({"k_majority": 5}, "k_majority must be 0"),
        ({"r": 3}, "r must be 'auto'"),
        ({"lambda_f": 0.0}, "lambda_f must be 1.0"),
        ({"knn_k": 3}, "knn_k must be 5"),
    ],
)
def test_reading_tables_refuses_what_a_run_config_cannot_hold(change: dict, name: str) -> None:
    v = _values(**change)
    with pytest.raises(ValueError, match=name):
        protocol_rows(_settings(v), v["datasets"], v["seeds"], _grid(v), v["knn_k"],
                      Source(PAPER, "paper", True))  # fmt: skip


def test_own_table_needs_chapter_8s() -> None:
    with pytest.raises(ValueError, match="own_results_source needs results_source"):
        chapter_source("compute", CHAPTERS, "paper", False)
    assert chapter_source(PAPER, CHAPTERS, "paper", True).tables == (PAPER, CHAPTERS)


def test_a_table_row_is_the_row_the_chapter_computes(tmp_path, monkeypatch) -> None:
    """A tiny protocol swept as run configs gives the chapter's own rows of the six classifiers
    (the CNN baselines from DOS-init runs, which train no DOS), on one split."""
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "sweep-cache"))
    v = _values("smoke", seeds=[0], datasets=["fashion_mnist"], remove_fractions=[0.9],
                ks=[3, 5], k_main=5, minority_classes=None, init_epochs=1, rounds=1,
                n_train=400, n_test=20)  # fmt: skip
    settings, grid = _settings(v), _grid(v)
    configs = protocol_configs(settings, v["datasets"], v["seeds"], grid, "smoke")
    assert [c.method for c in configs] == [*DOS_METHODS, *INIT_METHODS, "DOS"]  # k = 3: DOS only
    table = tmp_path / "t.parquet"
    sweep(configs, table, progress=False)
    data = {"fashion_mnist": (load_dataset("fashion_mnist", "train"),
                              load_dataset("fashion_mnist", "test"))}  # fmt: skip
    source = Source(str(table), "smoke")
    runs, read = chapter_runs(settings, data, v["seeds"], grid, v["knn_k"], source)
    key = ("fashion_mnist", 0, 0.9, 5)
    assert list(runs) == [key] and runs[key].network != "figure file"  # only the figures
    assert fill_figures(configs, table, progress=False) == 2  # DOS at k = 5 and 3: a file each
    with monkeypatch.context() as mp:  # now nothing is trained for the figures
        mp.setattr(dos_runs, "run_dos", lambda *a, **k: pytest.fail("trained a network"))
        stored, _ = chapter_runs(settings, data, v["seeds"], grid, v["knn_k"], source)
    assert stored[key].network == "figure file"
    assert load_figure(table, configs[0].key()).meta["reproduces_row"]
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "chapter-cache"))  # trained again
    with torch_threads(1):  # as a sweep's runs
        own, computed = run_protocol(settings, data, v["seeds"], grid, v["knn_k"])
    shown = computed["k"].isna() | (computed["k"] == 5) | (computed["method"] == "DOS")
    cols = ["method", "p", "k", "accuracy", "acsa", "f1_min", "auprc_min", "recall_c0"]

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[cols].assign(k=frame["k"].astype(float))
        return frame.sort_values(["method", "k"]).reset_index(drop=True)

    assert sorted(read["method"]) == sorted([*MODELS, "DOS"])  # the six, and DOS at k = 3
    pd.testing.assert_frame_equal(
        ordered(read), ordered(computed[shown]), check_dtype=False, check_exact=True
    )
    figure = DOSFigure.from_run(own[key], N_PLOT, 0)  # the chapter's own, from its network
    for name in ("classes", "var_cnn", "var_dos", "y_shown", "xy_cnn", "xy_dos"):
        assert np.array_equal(getattr(stored[key], name), getattr(figure, name)), name
    assert stored[key].history == figure.history and stored[key].n_train == figure.n_train
    split = run_split(configs[0])  # the split of p = 0.9 is its ratio's
    ex = own["fashion_mnist", 0, 0.9, 5].extractor
    assert np.array_equal(ex.train_indices, split["train_indices"])
    assert ex.minority_classes == split["minority_classes"]


def test_balanced_table_read_from_runs_is_the_one_computed(tmp_path, monkeypatch) -> None:
    """Table 8's six classifiers swept as run configs (ratio 1, k for every class, r = 1) give
    the table the chapter computes, on the same balanced split."""
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    v = _values("smoke", seeds=[0], datasets=["fashion_mnist"], init_epochs=1, rounds=1,
                n_test=20, balanced_n_train=300)  # fmt: skip
    settings = _settings(v)
    configs = read_configs(v)["balanced data"]
    assert len(configs) == 6 and {c.ratio for c in configs} == {1.0}
    assert all(c.params["k_majority"] == settings.k for c in configs if c.method == "DOS")
    table = tmp_path / "t.parquet"
    sweep(configs, table, progress=False)
    data = (load_dataset("fashion_mnist", "train"), load_dataset("fashion_mnist", "test"))
    read, read_numbers = balanced_comparison(
        settings, [0], data, 300, v["knn_k"], Source(str(table), "smoke")
    )
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "chapter-cache"))  # trained again
    with torch_threads(1):  # as a sweep's runs
        computed, numbers = balanced_comparison(settings, [0], data, 300, v["knn_k"])
    pd.testing.assert_frame_equal(read, computed, check_exact=True)
    assert read_numbers == numbers and list(read.index) == MODELS
