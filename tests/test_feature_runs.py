"""Chapter 2 under `paper` reads its classifier rows: CNN-h and kNN / LR heads as run configs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imbnb import paths
from imbnb.book import feature_runs as feature_runs_module
from imbnb.book.chapters_grid import chapter_configs
from imbnb.book.feature_chapter import classifier_rows
from imbnb.book.feature_runs import (
    chapter_extractor,
    classifier_configs,
    feature_runs,
    read_configs,
    runs_sentence,
)
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import COMPUTE, chapter_source, missing_runs
from imbnb.experiments import RunConfig, load_grid, sweep
from imbnb.experiments.sweep import fill_figures
from imbnb.methods import train_extractor
from imbnb.methods.feature_methods import Features, head_changes, head_options, run_method
from imbnb.train import torch_threads

CHAPTER = "02_feature_learning"


def test_head_kinds_are_options_and_leave_the_mlp_keys_alone() -> None:
    assert "kind" not in head_options(None)  # the MLP head's options (cache keys) unchanged
    assert head_changes({"kind": "knn", "n_neighbors": 7}) == {"kind": "knn", "n_neighbors": 7}
    assert head_changes({"hidden": (), "epochs": 10}) == {"hidden": [], "epochs": 10}
    with pytest.raises(ValueError, match=r"head kind must be one of \['mlp', 'logreg', 'knn'\]"):
        head_options({"kind": "svm"})


def test_cnn_h_scores_the_extractors_own_classifier() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 3)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    proba = np.column_stack([np.linspace(0, 1, 40), np.linspace(1, 0, 40)])
    row = run_method("CNN-h", Features(z, y, z, y, minority=[1], n_classes=2, proba_test=proba))
    assert row["accuracy"] == pytest.approx(np.mean(proba.argmax(1) == y))
    with pytest.raises(ValueError, match="CNN-h scores the extractor's own classifier"):
        run_method("CNN-h", Features(z, y, z, y))


def test_paper_runs_are_the_chapters_grid_block() -> None:
    v = chapter_values(CHAPTER, "paper")
    configs = classifier_configs(v["dataset"], chapter_extractor(v), v["seeds"], v["k"], "paper")
    assert len(configs) == 3 * 2 * 3
    # what the chapter lists, and book/grids/chapters.yaml is generated from (test_grid_file)
    assert read_configs(v) == {"classifiers": list(configs.values())}
    assert [c.key() for c in configs.values()] == [
        c.key() for c in chapter_configs(CHAPTER, "paper")
    ]
    paper = {c.key() for c in load_grid(paths.book_dir() / "grids" / "paper.yaml")}
    assert not paper & {c.key() for c in configs.values()}  # chapter 8 holds none of them
    with pytest.raises(ValueError, match="arch must be 'C6-C16-F400-F120'"):
        classifier_configs(
            "fashion_mnist", chapter_extractor({**v, "arch": "C6-C16-F120"}), [0], 5, "x"
        )


def test_table_rows_are_the_rows_the_chapter_computes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    v = chapter_values(CHAPTER, "smoke", seeds=[0, 1])
    ex = chapter_extractor(v)
    configs = classifier_configs(v["dataset"], ex, v["seeds"], v["k"], "smoke")
    table = tmp_path / "t.parquet"
    sweep(list(configs.values())[:-1], table, progress=False)  # the last run left missing
    source = chapter_source(str(table), str(table), "smoke", True)
    read = feature_runs(v["dataset"], ex, v["seeds"], v["k"], source, n_plot=200, how="pca")
    assert list(read.figures) == [("plain CE", 0), ("weighted CE", 0)]  # the first seed's
    assert {f.network for f in read.figures.values()} <= {"trained", "cache"}
    # with the CNN-h runs' figure files, the figures train nothing
    assert fill_figures(list(configs.values()), table, progress=False) == 4  # 2 seeds x 2
    with monkeypatch.context() as mp:
        mp.setattr(feature_runs_module, "train_extractor", lambda *a, **k: pytest.fail("trained"))
        stored = feature_runs(v["dataset"], ex, v["seeds"], v["k"], source, n_plot=200)
    assert {f.network for f in stored.figures.values()} == {"figure file"}
    assert "not trained here either" in runs_sentence(source, 0, stored.figures)
    with torch_threads(1):  # as a sweep runs
        computed = feature_runs(v["dataset"], ex, v["seeds"], v["k"], COMPUTE, n_plot=3000)
    for key, figure in computed.figures.items():  # the same numbers and points as computed
        assert np.array_equal(figure.counts, stored.figures[key].counts)
        assert np.allclose(figure.weights, stored.figures[key].weights)
        assert np.array_equal(figure.y_shown, stored.figures[key].y_shown)
        assert np.allclose(figure.projection("tsne"), stored.figures[key].projection("tsne"))
    keys = ["training", "classifier", "seed"]
    both = computed.results.merge(read.results, on=keys, suffixes=("", "_table"))
    assert len(both) == len(configs) - 1
    for score in ("acsa", "gmean", "recall_min", "precision_maj"):
        assert np.allclose(both[score], both[f"{score}_table"]), score
    missing = missing_runs(list(configs.values()), read.results)
    assert missing["missing"].sum() == 1
    assert "seed 0's two networks" in runs_sentence(source, 0)


def test_computed_rows_score_each_extractors_own_minority(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path))
    v = chapter_values(CHAPTER, "smoke", minority_classes=None)
    ex = chapter_extractor(v)
    extractors = {
        ("plain CE", s): train_extractor(v["dataset"], ex.replace(seed=s)) for s in (0, 1)
    }
    rows = classifier_rows(extractors, 3, 10)
    assert set(extractors["plain CE", 0].minority_classes) != set(
        extractors["plain CE", 1].minority_classes
    )  # the seeds draw different classes, and each row is scored on its own
    h = rows[rows["classifier"] == "CNN classifier h"].set_index("seed")
    for seed in (0, 1):
        cfg = RunConfig("CNN-h", ratio=ex.ratio, n_train=ex.n_train, n_test=ex.n_test, seed=seed,
                        params={"epochs": ex.epochs, "batch_size": ex.batch_size,
                                "extractor_weight": None}, profile="smoke")  # fmt: skip
        row = sweep([cfg], tmp_path / f"s{seed}.parquet", progress=False).iloc[0]
        assert h.loc[seed, "recall_min"] == pytest.approx(row["recall_min"])
    assert isinstance(rows, pd.DataFrame)
