"""The validation protocol and the equal tuning budget: selection never reads the test set."""

from __future__ import annotations

import numpy as np
import pytest

import imbnb.data
from imbnb import paths
from imbnb.data import load_dataset
from imbnb.experiments import METHODS, ResultsStore, RunConfig, load_grid, sweep
from imbnb.experiments.tuning import (
    BUDGET,
    final_configs,
    search_space,
    select,
    tuning_configs,
)
from imbnb.experiments.validation import held_out, validation_split
from imbnb.methods.dos import INIT_METHODS

#: the methods chapter 8's tuned comparison runs
VERDICT_METHODS = {c.method for c in load_grid(paths.book_dir() / "grids" / "verdicts.yaml")}

BASE = {"dataset": "fashion_mnist", "n_train": 1000, "n_test": 10, "profile": "test"}
PARAMS = {"epochs": 1, "head": {"epochs": 2}}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_held_out_is_stratified_and_leaves_every_class_a_training_image() -> None:
    labels = np.repeat([0, 1, 2, 3], [6000, 60, 2, 1])
    idx = held_out(labels, 0.2, seed=0)
    counts = np.bincount(labels[idx], minlength=4)
    assert counts.tolist() == [1200, 12, 1, 0]  # at rho = 100: 12 of a 60-image class
    assert np.array_equal(idx, held_out(labels, 0.2, seed=0))
    assert not np.array_equal(idx, held_out(labels, 0.2, seed=1))


def test_validation_and_test_are_disjoint_and_keep_the_proportions() -> None:
    train = load_dataset("fashion_mnist", "train")
    cfg = RunConfig("BL", **BASE, ratio=10, seed=2, validation=0.2)
    s = validation_split(cfg, train)
    assert np.intersect1d(s["pool"], s["validation"]).size == 0
    val_counts = np.bincount(train.labels[s["validation"]], minlength=10)
    minority = s["minority_classes"]
    majority = [c for c in range(10) if c not in minority]
    assert (val_counts[majority] == 20).all() and (val_counts[minority] == 2).all()  # 100, 10
    with pytest.raises(ValueError, match="validation"):
        RunConfig("BL", **BASE, protocol="counts", validation=0.2)
    with pytest.raises(ValueError, match=r"validation must lie in \[0, 1\)"):
        RunConfig("BL", **BASE, ratio=10, validation=1.0)
    plain = RunConfig("BL", **BASE, ratio=10)
    assert "validation" not in plain.to_dict()  # test runs keep their hashes
    assert RunConfig.from_row({**plain.to_dict(), "params": "{}"}).key() == plain.key()


def test_a_validation_run_never_loads_the_test_set(cache, monkeypatch) -> None:
    from imbnb.experiments import run_config

    real = imbnb.data._load_fashion_mnist

    def train_only(split, *args, **kwargs):
        if split == "test":
            raise AssertionError("a validation run read the test set")
        return real(split, *args, **kwargs)

    monkeypatch.setattr(imbnb.data, "_load_fashion_mnist", train_only)
    cfg = RunConfig("FS-SMOTE", **BASE, ratio=10, seed=0, params=PARAMS, validation=0.2)
    row = run_config(cfg)
    assert row["evaluated_on"] == "validation" and row["n_validation"] > 0
    assert row["config_hash"] == cfg.key() and row["dataset"] == "fashion_mnist"


def test_every_method_has_a_budget_and_the_tuned_families_use_all_of_it() -> None:
    for method in METHODS:
        space = search_space(method)
        assert 1 <= len(space) <= BUDGET
        if method in INIT_METHODS:  # chapter 4's CNN baselines: no knob, not in chapter 8
            assert space == [{}] and method not in VERDICT_METHODS
        elif METHODS[method] in ("feature_space", "losses", "dos"):
            assert len(space) == BUDGET, method


def test_selection_is_blind_to_the_test_labels(cache, tmp_path, monkeypatch) -> None:
    grid = [RunConfig(m, **BASE, ratio=10, seed=s, params=PARAMS) for m in ("BL",) for s in (0,)]
    grid.append(RunConfig("LogitAdj-posthoc", **BASE, ratio=10, seed=0, params={"epochs": 1}))
    runs = tuning_configs(grid, draws=[0, 1])
    assert len(runs) == 2 * 4 + 2 * 4  # two draws x four candidates, per method
    rows = sweep(runs, tmp_path / "tune.parquet", progress=False)
    assert set(rows["evaluated_on"]) == {"validation"}
    chosen = select(grid, rows, draws=[0, 1])

    real = imbnb.data._load_fashion_mnist

    def shuffled(split, *args, **kwargs):  # every test label permuted
        ds = real(split, *args, **kwargs)
        if split == "test":
            ds.labels = np.random.default_rng(0).permutation(ds.labels)
        return ds

    monkeypatch.setattr(imbnb.data, "_load_fashion_mnist", shuffled)
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "other-cache"))
    again = sweep(runs, tmp_path / "tune2.parquet", progress=False)
    assert select(grid, again, draws=[0, 1]) == chosen
    monkeypatch.undo()
    final = final_configs(grid, chosen)
    assert [c.params for c in final] == [chosen[("BL", 10)], chosen[("LogitAdj-posthoc", 10)]]
    with pytest.raises(ValueError, match="runs missing"):
        select(grid, rows.iloc[:3], draws=[0, 1])
    stored = ResultsStore(tmp_path / "tune.parquet").load()
    assert len(stored) == len(runs)


def test_cli_tune_writes_the_final_grid_and_refuses_a_dirty_tree(cache, tmp_path, capsys):
    import yaml

    from imbnb import paths
    from imbnb.cli import main
    from imbnb.experiments import load_grid, provenance

    spec = {
        "blocks": [
            {
                "base": {**BASE, "protocol": "minority"},
                "grid": {"ratio": [10], "seed": [0, 1], "method": ["LogitAdj-posthoc"]},
                "params": {"LogitAdj-posthoc": {"epochs": 1}},
            }
        ]
    }
    grid_path, out = tmp_path / "grid.yaml", tmp_path / "final.yaml"
    grid_path.write_text(yaml.safe_dump(spec))
    argv = ["tune", grid_path, "--store", tmp_path / "t.parquet", "--out", out, "--draws", "0"]
    assert main([str(a) for a in [*argv, "--no-progress"]]) == 0
    assert "4 validation runs" in capsys.readouterr().out  # four taus, one network
    final = load_grid(out)
    assert [c.seed for c in final] == [0, 1] and len({c.key() for c in final}) == 2
    assert final[0].params["tau"] in (0.5, 1.0, 1.5, 2.0) and final[0].params["epochs"] == 1
    assert "best mean validation acsa over draws [0]" in out.read_text()
    # a table inside the repository needs a clean checkout (or --allow-dirty)
    inside = paths.repo_root() / "never-written.parquet"
    original = provenance.git_commit
    provenance.git_commit = lambda ignore=(): "abc+dirty"
    try:
        assert main(["sweep", str(grid_path), "--store", str(inside), "--no-progress"]) == 2
    finally:
        provenance.git_commit = original
    assert "uncommitted changes" in capsys.readouterr().err and not inside.exists()


def test_pipeline_table_ranks_the_methods_under_each_pipeline() -> None:
    import json

    import pandas as pd

    from imbnb.experiments.tuning import pipeline_table

    rows = []
    for weight, hidden, gain in [("balanced", [], 0.0), (None, [256, 128], 0.1)]:
        params = json.dumps({"extractor_weight": weight, "head": {"hidden": hidden}})
        for method, score in [("BL", 0.8), ("FS-SMOTE", 0.7 + 2 * gain)]:
            for seed in (0, 1):
                rows.append(
                    {"family": "feature_space", "evaluated_on": "validation", "params": params,
                     "method": method, "seed": seed, "acsa": score}
                )  # fmt: skip
    table = pipeline_table(pd.DataFrame(rows))
    assert table[("rank", "CW extractor, linear head")].to_dict() == {"BL": 1.0, "FS-SMOTE": 2.0}
    assert table[("rank", "CE extractor, MLP head")].to_dict() == {"BL": 2.0, "FS-SMOTE": 1.0}
    assert table[("mean acsa", "CE extractor, MLP head")]["FS-SMOTE"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="no feature-space validation rows"):
        pipeline_table(pd.DataFrame(rows).assign(evaluated_on="test"))


def test_the_registry_search_spaces_reproduce_every_committed_tuning_run() -> None:
    """Moving a search space (or a default) would orphan the committed validation rows."""
    from imbnb import paths
    from imbnb.experiments import load_grid

    root = paths.repo_root()
    stored = ResultsStore(root / "book/data/results/tuning.parquet").load()
    runs = tuning_configs(load_grid(root / "book/grids/verdicts.yaml"), draws=[0, 1, 2])
    missing = set(stored["config_hash"]) - {r.key() for r in runs}
    assert len(stored) > 0 and not missing, f"{len(missing)} committed tuning rows orphaned"


def test_validation_scores_keep_what_select_chooses_by() -> None:
    from imbnb import paths
    from imbnb.experiments import load_grid, select_configs
    from imbnb.experiments.tuning import validation_scores

    root = paths.repo_root()
    rows = ResultsStore(root / "book/data/results/tuning.parquet").load()
    grid = load_grid(root / "book/grids/verdicts.yaml")
    configs = select_configs(grid, ["GaussPert", "DOS-kNN"], {})
    scores = validation_scores(configs, rows, draws=[0, 1, 2])
    assert (
        len(scores) == 2 * 4 * BUDGET
        and scores.groupby(["method", "ratio"]).chosen.sum().eq(1).all()
    )
    chosen = select(configs, rows, draws=[0, 1, 2])
    for (method, ratio), params in chosen.items():
        best = scores[(scores.method == method) & (scores.ratio == ratio) & scores.chosen]
        assert best["params"].iloc[0] == params
        assert (
            best["acsa"].iloc[0]
            == scores[(scores.method == method) & (scores.ratio == ratio)]["acsa"].max()
        )
    unswept = rows[rows["method"] != "DOS-kNN"]
    missing = validation_scores(select_configs(grid, ["DOS-kNN"], {}), unswept, draws=[0])
    assert missing.empty  # not swept: left out, never guessed
