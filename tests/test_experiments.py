"""The experiment layer: configs, grids, the results store, sweeps (local, pool, Ray), splits."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imbnb.book.cli import main
from imbnb.experiments import (
    ResultsStore,
    RunConfig,
    expand_grid,
    export_splits,
    load_grid,
    read_split,
    run_config,
    run_split,
    sweep,
)

#: tiny but real runs: 1,000 Fashion-MNIST training images, 10 test images per class
BASE = {"dataset": "fashion_mnist", "protocol": "minority", "n_train": 1000, "n_test": 10,
        "profile": "test"}
PARAMS = {"family:feature_space": {"epochs": 1, "head": {"epochs": 2}}}
VOLATILE = ["wall_seconds", "seconds", "seconds_resample"]


def grid(methods, seeds=(0,), ratios=(10,)):
    return {"blocks": [{"base": BASE, "params": PARAMS,
                        "grid": {"ratio": list(ratios), "seed": list(seeds), "method": methods}}]}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def stable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in VOLATILE if c in df.columns]).reset_index(drop=True)


# ----------------------------------------------------------------------------- configs


def test_config_key_is_stable_and_validated() -> None:
    a = RunConfig("BL", ratio=10, params={"epochs": 1})
    assert a.key() == RunConfig("BL", ratio=10.0, params={"epochs": 1}).key()
    assert a.key() != RunConfig("BL", ratio=20, params={"epochs": 1}).key()
    # the counts protocol ignores ratio, so it cannot split one run into two keys
    assert RunConfig("DeepSMOTE", protocol="counts", ratio=5).key() == RunConfig(
        "DeepSMOTE", protocol="counts", ratio=50).key()
    with pytest.raises(ValueError, match="protocol must be one of"):
        RunConfig("BL", protocol="longtail")
    with pytest.raises(ValueError, match="ratio >= 1"):
        RunConfig("BL", ratio=0.5)
    with pytest.raises(ValueError, match="unknown run setting"):
        RunConfig.from_dict({"method": "BL", "epochs": 3})


def test_expand_grid_crosses_and_applies_params() -> None:
    spec = {"blocks": [{"base": BASE, "grid": {"ratio": [10, 100], "method": ["BL", "ADOS"]},
                        "params": {"family:feature_space": {"epochs": 2}, "ADOS": {"epochs": 3}}}]}
    configs = expand_grid(spec)
    assert len(configs) == 4
    by = {(c.method, c.ratio): c.params for c in configs}
    assert by["BL", 10] == {"epochs": 2} and by["ADOS", 100] == {"epochs": 3}
    assert len(expand_grid({"blocks": spec["blocks"] * 2})) == 4  # duplicates collapse
    with pytest.raises(ValueError, match="unknown key"):
        expand_grid({"blocks": [{"grid": {"method": ["BL"]}, "sweep": 1}]})
    with pytest.raises(ValueError, match="unknown method 'XYZ'"):
        expand_grid({"blocks": [{"grid": {"method": ["XYZ"]}}]})


def test_run_config_errors_name_the_problem(cache) -> None:
    with pytest.raises(ValueError, match="runs on protocol 'minority' only"):
        run_config(RunConfig("ADOS", protocol="counts"))
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['depth'\]"):
        run_config(RunConfig("BL", **{k: v for k, v in BASE.items()}, ratio=10,
                             params={"depth": 3}))


# ----------------------------------------------------------------------------- store


def test_store_appends_atomically_and_skips_duplicates(tmp_path, monkeypatch) -> None:
    store = ResultsStore(tmp_path / "r.parquet")
    assert store.append([{"config_hash": "a", "x": 1.0}, {"config_hash": "b", "x": 2.0}]) == 2
    assert store.append([{"config_hash": "a", "x": 9.0}, {"config_hash": "c", "x": 3.0}]) == 1
    table = store.load()
    assert table["config_hash"].tolist() == ["a", "b", "c"] and table["x"].tolist() == [1, 2, 3]

    def broken(self, path, **kw):  # write half a file, then die
        Path(path).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        store.append([{"config_hash": "d", "x": 4.0}])
    monkeypatch.undo()
    assert store.load()["config_hash"].tolist() == ["a", "b", "c"]  # the old table, intact
    assert [p.name for p in tmp_path.iterdir()] == ["r.parquet"]  # no temp file left
    with pytest.raises(ValueError, match=r"\.parquet"):
        ResultsStore(tmp_path / "r.csv")


# ----------------------------------------------------------------------------- sweeps


def test_sweep_runs_every_family_once_and_reuses_the_store(cache, tmp_path) -> None:
    spec = grid(["BL", "FS-SMOTE", "ADOS", "CNN-CE", "DOS", "GAMO"])
    spec["blocks"][0]["params"].update({
        "family:losses": {"epochs": 1},
        "family:dos": {"init_epochs": 1, "rounds": 1, "k": 3},
        "family:gamo": {"steps": 10},
    })
    spec["blocks"].append({
        "base": {**BASE, "protocol": "counts", "count_scale": 0.05},
        "grid": {"method": ["MLP-pixels", "DeepSMOTE"]},
        "params": {"family:generative": {"ae": {"width": 4, "latent_dim": 8, "epochs": 1},
                                         "classifier": {"epochs": 1}}},
    })
    configs = expand_grid(spec)
    rows = sweep(configs, tmp_path / "r.parquet", progress=False)
    assert rows["method"].tolist() == [c.method for c in configs]
    assert set(rows["family"]) == {"feature_space", "losses", "dos", "generative", "gamo"}
    for col in ["acsa", "gmean", "recall_macro", "recall_c0", "wall_seconds", "device",
                "imbnb_version", "config_hash"]:
        assert rows[col].notna().all(), col
    assert rows["config_hash"].is_unique
    start = time.perf_counter()
    again = sweep(configs, tmp_path / "r.parquet", progress=False)
    assert time.perf_counter() - start < 5  # nothing recomputed
    pd.testing.assert_frame_equal(again, rows)


def test_process_pool_gives_the_same_rows(cache, tmp_path) -> None:
    configs = expand_grid(grid(["BL", "FS-SMOTE"], seeds=(0, 1)))
    one = sweep(configs, tmp_path / "one.parquet", progress=False)
    os.environ["IMBNB_CACHE"] = str(tmp_path / "cache2")  # recompute in the workers
    two = sweep(configs, tmp_path / "two.parquet", workers=2, progress=False)
    pd.testing.assert_frame_equal(stable(one), stable(two))


def test_killed_sweep_resumes_without_lost_or_duplicated_rows(cache, tmp_path) -> None:
    spec = grid(["BL", "BL+CW", "FS-SMOTE", "FS-ADASYN", "ADOS", "GaussPert"], seeds=(0, 1))
    path = tmp_path / "grid.yaml"
    import yaml

    path.write_text(yaml.safe_dump(spec))
    store = tmp_path / "r.parquet"
    script = textwrap.dedent(f"""
        from imbnb.experiments import load_grid, sweep
        sweep(load_grid({str(path)!r}), {str(store)!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))
    deadline = time.time() + 240
    while time.time() < deadline:
        if store.exists() and len(ResultsStore(store).load()) >= 2:
            break
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    partial = len(ResultsStore(store).load())
    configs = load_grid(path)
    assert 2 <= partial < len(configs), partial  # killed mid-sweep
    rows = sweep(configs, store, progress=False)
    assert len(rows) == len(configs) == len(ResultsStore(store).load())
    assert rows["config_hash"].is_unique


def test_ray_backend_gives_the_same_rows(cache, tmp_path, monkeypatch) -> None:
    ray = pytest.importorskip("ray")
    configs = expand_grid(grid(["BL", "FS-SMOTE"]))
    local = sweep(configs, tmp_path / "local.parquet", progress=False)
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "ray-cache"))  # the Ray workers recompute
    try:
        remote = sweep(configs, tmp_path / "ray.parquet", backend="ray", workers=2,
                       progress=False)
    finally:
        ray.shutdown()
    assert (tmp_path / "ray-cache").exists()  # the workers trained, not read our cache
    pd.testing.assert_frame_equal(stable(local), stable(remote))


def test_bad_backend_and_workers(tmp_path) -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        sweep([], tmp_path / "r.parquet", backend="dask")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        sweep([], tmp_path / "r.parquet", workers=0)


def test_cli_sweep_and_splits_export(cache, tmp_path, capsys) -> None:
    import yaml

    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid(["BL"])))
    assert main(["sweep", str(path), "--store", str(tmp_path / "r.parquet"),
                 "--no-progress"]) == 0
    assert "1 of 1 runs stored" in capsys.readouterr().out
    assert main(["splits", "export", str(path), "--out", str(tmp_path / "splits")]) == 0
    assert len(list((tmp_path / "splits").glob("*.json.gz"))) == 1
    assert main(["sweep", str(path), "--backend", "spark"]) == 2


# ----------------------------------------------------------------------------- splits


def test_exported_splits_match_the_protocol_and_the_methods(cache, tmp_path) -> None:
    from imbnb.data import load_dataset
    from imbnb.methods.deepsmote import count_protocol
    from imbnb.methods.extractor import train_extractor

    minority = RunConfig("BL", **{**BASE, "ratio": 10, "seed": 1})
    counts = RunConfig("DeepSMOTE", **{**BASE, "protocol": "counts", "count_scale": 0.1})
    paths = export_splits([minority, counts, minority], tmp_path)
    assert len(paths) == 2
    labels = load_dataset("fashion_mnist", "train").labels
    doc = read_split(paths[0])
    assert doc["protocol"] == "minority" and doc["parameters"]["ratio"] == 10
    got = np.bincount(labels[doc["train_indices"]], minlength=10)
    n_max = got.max()
    for c in range(10):
        expected = math.ceil(n_max / 10) if c in doc["minority_classes"] else n_max
        assert got[c] == expected == doc["counts"][str(c)]
    assert len(doc["minority_classes"]) == 4 and len(doc["test_indices"]) == 100
    # the feature-space family trains on exactly these images
    ex = train_extractor("fashion_mnist", protocol="minority", ratio=10, seed=1, epochs=1,
                         n_train=1000, n_test=10)
    np.testing.assert_array_equal(ex.train_indices, doc["train_indices"])
    np.testing.assert_array_equal(ex.test_indices, doc["test_indices"])
    # and the generative family (chapter 6's split) on these
    doc = read_split(paths[1])
    train, _, split, _ = count_protocol("fashion_mnist", count_scale=0.1, seed=0, n_test=10)
    np.testing.assert_array_equal(split.indices, doc["train_indices"])
    assert np.bincount(labels[doc["train_indices"]]).tolist() == [400, 200, 100, 75, 50, 35,
                                                                   20, 10, 6, 4]
    np.testing.assert_array_equal(run_split(counts)["train_indices"], doc["train_indices"])


def test_committed_splits_are_readable_and_consistent() -> None:
    from imbnb.experiments import splits_dir

    files = sorted(splits_dir().glob("*.json.gz"))
    assert files, "book/data/splits/ holds the book's exported splits"
    for path in files:
        doc = read_split(path)
        assert set(doc) >= {"dataset", "protocol", "parameters", "seed", "train_indices",
                            "test_indices", "counts", "minority_classes"}
        assert len(doc["train_indices"]) == sum(doc["counts"].values())
        assert len(set(doc["train_indices"])) == len(doc["train_indices"])


def test_grid_files_in_the_repository_expand(tmp_path) -> None:
    from imbnb import paths

    grids = sorted((paths.book_dir() / "grids").glob("*.yaml"))
    assert grids
    for g in grids:
        assert load_grid(g)


# ----------------------------------------------------------------------------- analysis


def _toy_results() -> pd.DataFrame:
    rows = []
    for seed in range(8):
        for ratio in (10, 100):
            base = 0.5 + 0.01 * seed
            for method, gain in [("A", 0.0), ("B", 0.05), ("C", 0.0001 * (-1) ** seed)]:
                rows.append({"dataset": "d", "protocol": "minority", "ratio": ratio,
                             "count_scale": 1.0, "seed": seed, "method": method,
                             "acsa": base + gain})
    return pd.DataFrame(rows)


def test_average_ranks_and_critical_difference() -> None:
    from imbnb.experiments import average_ranks, critical_difference

    ranks = average_ranks(_toy_results())
    assert ranks.index[0] == "B" and ranks.loc["B", "average rank"] == 1.0
    assert ranks.loc["A", "average rank"] + ranks.loc["C", "average rank"] == 5.0
    assert (ranks["settings"] == 16).all()
    # Demsar (2006), Table 5: q_0.05 = 2.343 for three methods
    assert critical_difference(3, 16) == pytest.approx(2.343 * math.sqrt(12 / 96), rel=1e-3)
    assert ranks.attrs["critical_difference"] == pytest.approx(critical_difference(3, 16))
    with pytest.raises(ValueError, match="metric 'f1'"):
        average_ranks(_toy_results(), "f1")


def test_paired_comparison_states_significance_plainly() -> None:
    from imbnb.experiments import best_of, paired_comparison

    table = paired_comparison(_toy_results(), "A")
    assert table.loc["B", "verdict"] == "better" and table.loc["B", "pairs"] == 16
    assert table.loc["B", "mean difference"] == pytest.approx(0.05)
    assert table.loc["C", "verdict"] == "not significant"
    assert table.loc["C", "CI low"] < 0 < table.loc["C", "CI high"]
    assert best_of(_toy_results(), ["A", "B"]) == "B"
    with pytest.raises(ValueError, match="reference 'Z'"):
        paired_comparison(_toy_results(), "Z")


def test_results_for_reads_a_committed_table_or_refuses(cache, tmp_path) -> None:
    from imbnb.experiments import results_for

    configs = expand_grid(grid(["BL"], seeds=(0, 1)))
    computed = results_for(configs, "compute", progress=False)
    assert len(computed) == 2 and (cache / "results.parquet").exists()
    committed = tmp_path / "paper.parquet"
    sweep(configs[:1], committed, progress=False)
    with pytest.raises(ValueError, match="holds 1 of the 2 runs"):
        results_for(configs, str(committed))
    sweep(configs, committed, progress=False)
    assert len(results_for(configs, str(committed))) == 2
    with pytest.raises(ValueError, match="no such file"):
        results_for(configs, "book/data/results/none.parquet")
