"""The experiment layer: configs, grids, the results store, sweeps (local, pool, Ray), splits."""

from __future__ import annotations

import dataclasses
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
    cost_table,
    coverage,
    expand_grid,
    export_splits,
    load_grid,
    read_split,
    run_config,
    run_costs,
    run_split,
    sweep,
)
from imbnb.train import get_device
from imbnb.versions import cpu_description

#: tiny but real runs: 1,000 Fashion-MNIST training images, 10 test images per class
BASE = {
    "dataset": "fashion_mnist",
    "protocol": "minority",
    "n_train": 1000,
    "n_test": 10,
    "profile": "test",
}
PARAMS = {"family:feature_space": {"epochs": 1, "head": {"epochs": 2}}}
VOLATILE = [
    "sweep_id",
    "wall_seconds",
    "seconds",
    "seconds_resample",
    "network_seconds",
    "method_seconds",
]


def grid(methods, seeds=(0,), ratios=(10,)):
    return {
        "blocks": [
            {
                "base": BASE,
                "params": PARAMS,
                "grid": {"ratio": list(ratios), "seed": list(seeds), "method": methods},
            }
        ]
    }


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
    assert (
        RunConfig("DeepSMOTE", protocol="counts", ratio=5).key()
        == RunConfig("DeepSMOTE", protocol="counts", ratio=50).key()
    )
    with pytest.raises(ValueError, match="protocol must be one of"):
        RunConfig("BL", protocol="exponential")
    with pytest.raises(ValueError, match="ratio >= 1"):
        RunConfig("BL", ratio=0.5)
    with pytest.raises(ValueError, match="unknown run setting"):
        RunConfig.from_dict({"method": "BL", "epochs": 3})


def test_expand_grid_crosses_and_applies_params() -> None:
    spec = {
        "blocks": [
            {
                "base": BASE,
                "grid": {"ratio": [10, 100], "method": ["BL", "ADOS"]},
                "params": {"family:feature_space": {"epochs": 2}, "ADOS": {"epochs": 3}},
            }
        ]
    }
    configs = expand_grid(spec)
    assert len(configs) == 4
    by = {(c.method, c.ratio): c.params for c in configs}
    assert by["BL", 10] == {"epochs": 2} and by["ADOS", 100] == {"epochs": 3}
    assert len(expand_grid({"blocks": spec["blocks"] * 2})) == 4  # duplicates collapse
    with pytest.raises(ValueError, match="unknown key"):
        expand_grid({"blocks": [{"grid": {"method": ["BL"]}, "sweep": 1}]})
    with pytest.raises(ValueError, match="unknown method 'XYZ'"):
        expand_grid({"blocks": [{"grid": {"method": ["XYZ"]}}]})
    # a family's settings are checked when the grid expands, before anything runs
    bad = {"grid": {"method": ["BL", "DOS"]}, "params": {"family:dos": {"epochs": 3}}}
    with pytest.raises(ValueError, match=r"block 0: unknown setting\(s\) \['epochs'\] .*'DOS'"):
        expand_grid({"blocks": [bad]})
    # DOS's initial CNN runs no round: DOS's knobs would give one run two hashes
    init = {"grid": {"method": ["DOS-init-kNN"]}, "params": {"family:dos": {"rounds": 3}}}
    with pytest.raises(ValueError, match=r"\['rounds'\] do not apply .*allowed: init_epochs"):
        expand_grid({"blocks": [init]})


def test_run_config_errors_name_the_problem(cache) -> None:
    with pytest.raises(ValueError, match="runs on protocol 'minority', not 'counts'"):
        run_config(RunConfig("ADOS", protocol="counts"))
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['depth'\]"):
        run_config(
            RunConfig("BL", **{k: v for k, v in BASE.items()}, ratio=10, params={"depth": 3})
        )


# ----------------------------------------------------------------------------- store


# the store itself: tests/test_store.py


# ----------------------------------------------------------------------------- sweeps


def test_sweep_runs_every_family_once_and_reuses_the_store(cache, tmp_path) -> None:
    spec = grid(["BL", "FS-SMOTE", "ADOS", "CNN-CE", "DOS", "GAMO"])
    spec["blocks"][0]["params"].update(
        {
            "family:losses": {"epochs": 1},
            "family:dos": {"init_epochs": 1, "rounds": 1, "k": 3},
            "family:gamo": {"steps": 10},
        }
    )
    spec["blocks"].append(
        {
            "base": {**BASE, "protocol": "counts", "count_scale": 0.05},
            "grid": {"method": ["MLP-pixels", "DeepSMOTE"]},
            "params": {
                "family:generative": {
                    "ae": {"width": 4, "latent_dim": 8, "epochs": 1},
                    "classifier": {"epochs": 1},
                }
            },
        }
    )
    configs = expand_grid(spec)
    rows = sweep(configs, tmp_path / "r.parquet", progress=False)
    assert rows["method"].tolist() == [c.method for c in configs]
    assert set(rows["family"]) == {"feature_space", "losses", "dos", "generative", "gamo"}
    for col in [
        "acsa",
        "gmean",
        "recall_macro",
        "recall_c0",
        "wall_seconds",
        "device",
        "imbnb_version",
        "config_hash",
    ]:
        assert rows[col].notna().all(), col
    assert rows["config_hash"].is_unique
    assert [RunConfig.from_row(r).key() for _, r in rows.iterrows()] == [c.key() for c in configs]
    # cost: every row charges its network's training, also when it read it from the cache
    assert (rows[["network_seconds", "method_seconds"]] >= 0).all().all()
    by = rows.set_index("method")
    fs = by.loc[["BL", "FS-SMOTE", "ADOS"], "network_seconds"]
    assert fs.nunique() == 1 and fs.iloc[0] > 0  # one extractor, trained by BL's run
    assert by.loc["BL", "wall_seconds"] > fs.iloc[0]  # BL's run trained it
    assert by.loc["MLP-pixels", "network_seconds"] == 0 < by.loc["DeepSMOTE", "network_seconds"]
    assert not run_costs(rows)["cost_derived"].any()
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
        if len(ResultsStore(store).load()) >= 2:  # stored, compacted or not
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
        remote = sweep(configs, tmp_path / "ray.parquet", backend="ray", workers=2, progress=False)
    finally:
        ray.shutdown()
    assert (tmp_path / "ray-cache").exists()  # the workers trained, not read our cache
    pd.testing.assert_frame_equal(stable(local), stable(remote))


def test_bad_backend_and_workers(tmp_path) -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        sweep([], tmp_path / "r.parquet", backend="dask")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        sweep([], tmp_path / "r.parquet", workers=0)
    for share in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"gpus_per_run must lie in \(0, 1\]"):
            sweep([], tmp_path / "r.parquet", gpus_per_run=share)


def test_cli_sweep_and_splits_export(cache, tmp_path, capsys) -> None:
    import yaml

    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid(["BL"])))
    assert main(["sweep", str(path), "--store", str(tmp_path / "r.parquet"), "--no-progress"]) == 0
    assert "1 of 1 runs stored" in capsys.readouterr().out
    assert main(["splits", "export", str(path), "--out", str(tmp_path / "splits")]) == 0
    assert len(list((tmp_path / "splits").glob("*.json.gz"))) == 1
    assert main(["sweep", str(path), "--backend", "spark"]) == 2


def test_cli_sweep_skips_what_another_table_holds(cache, tmp_path, capsys) -> None:
    import yaml

    path, main_table, side = (
        tmp_path / "grid.yaml",
        tmp_path / "r.parquet",
        tmp_path / "gpu.parquet",
    )
    path.write_text(yaml.safe_dump(grid(["BL", "BL+CW"])))
    assert (
        main(["sweep", str(path), "--store", str(main_table), "--only", "BL", "--no-progress"]) == 0
    )
    args = ["sweep", str(path), "--store", str(side), "--skip-stored", str(main_table)]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 runs already in" in out and "1 of 1 runs stored" in out
    assert ResultsStore(side).load()["method"].tolist() == ["BL+CW"]  # only what main lacked
    missing = [
        "sweep",
        str(path),
        "--store",
        str(side),
        "--skip-stored",
        str(tmp_path / "typo.parquet"),
    ]
    assert main(missing) == 2
    assert "skip-stored: results table" in capsys.readouterr().err


def test_cli_sweep_records_provenance_and_runs_only_what_is_named(
    cache, tmp_path, capsys, monkeypatch
) -> None:
    import yaml

    from imbnb.experiments import provenance
    from imbnb.experiments.provenance import provenance_path, read_provenance

    commits = iter(["at-start", "at-end"])  # the checkout could move while a sweep runs
    monkeypatch.setattr(provenance, "git_commit", lambda ignore=(): next(commits))

    path, store = tmp_path / "grid.yaml", tmp_path / "r.parquet"
    path.write_text(yaml.safe_dump(grid(["BL", "BL+CW", "FS-SMOTE"])))
    assert (
        main(["sweep", str(path), "--store", str(store), "--only", "BL+CW", "--no-progress"]) == 0
    )
    assert "1 of 1 runs stored" in capsys.readouterr().out
    assert ResultsStore(store).load()["method"].tolist() == ["BL+CW"]
    (entry,) = read_provenance(store)
    assert provenance_path(store) == tmp_path / "r.provenance.json"
    assert entry["runs_added"] == 1 and entry["grid"] == str(path)
    assert entry["git_commit"] == "at-start"  # the code the runs ran on
    monkeypatch.undo()
    assert entry["command"].startswith("imbnb sweep") and "--only BL+CW" in entry["command"]
    assert entry["machine"]["device"] == str(get_device()) and entry["machine"]["versions"]["torch"]
    assert entry["machine"]["cpu"] == cpu_description()  # numbers follow the CPU type
    assert len(entry["grid_sha256"]) == 64 and entry["started_utc"] <= entry["finished_utc"]
    # a family name selects its methods; a rerun with nothing new records nothing
    assert (
        main(
            ["sweep", str(path), "--store", str(store), "--only", "feature_space", "--no-progress"]
        )
        == 0
    )
    assert main(["sweep", str(path), "--store", str(store), "--no-progress"]) == 0
    assert [e["runs_added"] for e in read_provenance(store)] == [1, 2]
    # --dry-run runs nothing and prints what is stored, with the measured time per run
    path.write_text(yaml.safe_dump(grid(["BL", "BL+CW", "FS-SMOTE", "ADOS"])))
    capsys.readouterr()
    assert main(["sweep", str(path), "--store", str(store), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 of 4 runs stored" in out and "1 methods not measured on those datasets yet" in out
    assert "on the machines that swept them" in out
    assert len(ResultsStore(store).load()) == 3 and len(read_provenance(store)) == 2
    from imbnb.experiments.provenance import provenance_table

    table = provenance_table(store)
    assert table["runs added"].tolist() == [1, 2]
    assert table["machine"].str.startswith(str(get_device())).all()
    assert table["machine"].str.contains(cpu_description(), regex=False).all()
    first = provenance_table("book/data/results/paper.parquet").iloc[0]  # swept before the CPU
    assert first["machine"] == "cpu, 2 CPUs, torch 2.14.1"  # was recorded: left out, not faked
    assert provenance_table(tmp_path / "none.parquet").empty
    assert main(["sweep", str(path), "--store", str(store), "--only", "GAN"]) == 2
    assert "only: unknown method or family ['GAN']; allowed" in capsys.readouterr().err


def test_a_resumed_sweep_is_not_refused_for_what_it_wrote_itself(tmp_path, monkeypatch) -> None:
    import subprocess

    from imbnb import paths
    from imbnb.experiments.provenance import git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)  # fmt: skip

    table, code = tmp_path / "r.parquet", tmp_path / "code.py"
    for path in (table, code, tmp_path / "r.provenance.json"):
        path.write_text("0")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    ours = [table, tmp_path / "r.provenance.json", tmp_path / "r.figures"]
    (tmp_path / "r.provenance.json").write_text("1")  # a killed sweep's own writes
    table.write_text("1")
    assert git_commit().endswith("+dirty")
    assert not git_commit(ignore=ours).endswith("+dirty")
    code.write_text("1")  # a change to the code still counts
    assert git_commit(ignore=ours).endswith("+dirty")


def test_a_copied_tree_without_git_takes_its_commit_from_the_environment(
    tmp_path, monkeypatch
) -> None:
    from imbnb import paths
    from imbnb.experiments.provenance import git_commit

    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)  # no .git: a copied tree
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("IMBNB_COMMIT", raising=False)
    assert git_commit() is None
    monkeypatch.setenv("IMBNB_COMMIT", "0123abc")
    assert git_commit() == "0123abc"


def test_merge_brings_side_tables_and_their_provenance(tmp_path, capsys) -> None:
    import datetime as dt

    import yaml

    from imbnb.experiments.provenance import merge_results, read_provenance, record_sweep

    configs = expand_grid(grid(["BL", "ADOS", "DOS"], seeds=(0, 1)))
    when = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def side(name, done, machine_note):
        store = ResultsStore(tmp_path / f"{name}.parquet")
        store.append([{"config_hash": c.key(), "method": c.method, "acsa": 0.5} for c in done])
        record_sweep(
            store.path,
            command=f"imbnb sweep {name}",
            started=when,
            finished=when,
            runs_added=len(done),
            extra={"where": machine_note},
        )
        return store.path

    main_path = side("main", configs[:2], "here")
    gpu = side("gpu", configs[2:4], "a GPU box")
    late = side("late", configs[3:6], "elsewhere")  # configs[3] is already in gpu
    assert merge_results(main_path, [gpu, late]) == [2, 2]
    rows = ResultsStore(main_path).load()
    assert sorted(rows["config_hash"]) == sorted(c.key() for c in configs)  # none twice
    entries = read_provenance(main_path)
    assert sum(e["runs_added"] for e in entries) == len(rows) == 6
    assert [e["command"] for e in entries] == [
        "imbnb sweep main",
        "imbnb sweep gpu",
        "imbnb sweep late",
    ]
    assert entries[1]["where"] == "a GPU box" and entries[1]["merged_from"] == "gpu.parquet"
    assert entries[2]["runs_added"] == 2
    assert entries[2]["merge_note"] == "2 of the side's 3 rows were new"
    assert merge_results(main_path, [gpu]) == [0]  # nothing new: no entry
    assert len(read_provenance(main_path)) == 3
    # a side without provenance, a missing side, or a row off the grid is refused, and
    # nothing is written, not even the good side named first
    bare = ResultsStore(tmp_path / "bare.parquet")
    bare.append([{"config_hash": "f" * 64, "method": "BL"}])
    other = side("other", expand_grid(grid(["BL"], seeds=(7,))), "off the grid")
    for sides, match in [
        ([gpu, bare.path], "has no bare.provenance.json"),
        ([gpu, tmp_path / "nope.parquet"], "does not exist"),
        ([gpu, other], "1 rows are not configs of the grid"),
    ]:
        target = tmp_path / "target.parquet"
        with pytest.raises((ValueError, FileNotFoundError), match=match):
            merge_results(target, sides, configs=configs)
        assert not target.exists() and read_provenance(target) == []
    # the command line
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid(["BL", "ADOS", "DOS"], seeds=(0, 1))))
    assert (
        main(["merge", str(gpu), "--into", str(tmp_path / "cli.parquet"), "--grid", str(path)]) == 0
    )
    assert "2 rows added" in capsys.readouterr().out
    assert (
        main(["merge", str(other), "--into", str(tmp_path / "cli.parquet"), "--grid", str(path)])
        == 2
    )
    assert "not configs of the grid" in capsys.readouterr().err


def test_merging_a_growing_checkout_keeps_one_entry_per_sweep(tmp_path, capsys) -> None:
    """A sweep in a checkout of the table, merged every few minutes as it runs: each merge
    brings its new rows and its sweep's latest state, never the history the checkout shares
    (which once nested the whole file into every merge entry, and it grew with each)."""
    import json
    import shutil

    from imbnb.experiments.provenance import (
        finish_sweep,
        merge_results,
        provenance_path,
        read_provenance,
        start_sweep,
        upgrade_provenance,
    )

    configs = expand_grid(grid(["BL", "ADOS", "DOS"], seeds=(0, 1)))
    main_path = tmp_path / "main" / "t.parquet"

    def sweep_rows(path, done, entry):
        ResultsStore(path).append(
            [{"config_hash": c.key(), "method": c.method, "sweep_id": entry["sweep_id"]}
             for c in done]
        )  # fmt: skip

    first = start_sweep(main_path, command="imbnb sweep here", commit="a" * 40)
    sweep_rows(main_path, configs[:2], first)
    finish_sweep(main_path, first["sweep_id"], runs_added=2)
    ResultsStore(main_path).compact()  # as committed
    side = tmp_path / "checkout" / "t.parquet"
    side.parent.mkdir()
    for path in (main_path, provenance_path(main_path)):
        shutil.copy(path, side.parent / path.name)
    running = start_sweep(side, command="imbnb tune there", commit="b" * 40)
    sizes = []
    for n in (3, 4, 5):  # the checkout's sweep adds a row between merges
        sweep_rows(side, configs[n - 1 : n], running)
        assert merge_results(main_path, [side]) == [1]
        entries = read_provenance(main_path)
        assert [e["command"] for e in entries] == ["imbnb sweep here", "imbnb tune there"]
        assert entries[1]["merge_note"] == f"1 of the side's {n} rows were new"
        assert entries[1]["status"] == "running" and entries[1]["runs_added"] == n - 2  # counted
        sizes.append(provenance_path(main_path).stat().st_size)
    assert max(sizes) - min(sizes) < 200  # the same two entries, only their stamps change
    finish_sweep(side, running["sweep_id"], runs_added=3)
    assert merge_results(main_path, [side]) == [0]  # no rows, but the sweep's end comes over
    done = read_provenance(main_path)[1]
    assert done["status"] == "finished" and done["runs_added"] == 3
    assert merge_results(main_path, [side]) == [0]
    assert len(read_provenance(main_path)) == 2
    assert len(ResultsStore(main_path).load()) == 5
    # a file nested by an older imbnb: every merge entry held the side's whole history
    old = read_provenance(main_path)
    nested = [old[0], {**old[1], "side_entries": [old[0], {**old[1], "side_entries": old}]}]
    provenance_path(main_path).write_text(json.dumps(nested))
    assert [e["command"] for e in read_provenance(main_path)] == [e["command"] for e in old]
    assert main(["store", "upgrade", str(main_path)]) == 0
    assert "provenance of 6 records kept as 2, one per sweep" in capsys.readouterr().out
    assert "side_entries" not in provenance_path(main_path).read_text()
    assert upgrade_provenance(main_path) == (2, 2)


def test_plan_charges_each_missing_network_once() -> None:
    from imbnb.experiments import plan

    configs = expand_grid(grid(["BL", "ADOS"], seeds=(0, 1)))  # order: BL, ADOS of seed 0, 1
    costs = {"BL": (30.0, 5.0), "ADOS": (30.0, 10.0)}  # one extractor per split, own steps

    def stored(done):
        return pd.DataFrame(
            {
                "config_hash": [c.key() for c in done],
                "protocol": "minority",
                "method": [c.method for c in done],
                "wall_seconds": 1.0,
                "network_seconds": [costs[c.method][0] for c in done],
                "method_seconds": [costs[c.method][1] for c in done],
            }
        )

    table = plan(configs, stored(configs[:2])).droplevel(["protocol", "family"])
    cols = ["grid", "stored", "missing", "s network", "s own", "s per run", "s to run"]
    assert table[cols].loc["BL"].tolist() == [2, 1, 1, 30.0, 5.0, 35.0, 35.0]  # trains seed 1's
    assert table[cols].loc["ADOS"].tolist() == [2, 1, 1, 30.0, 10.0, 40.0, 10.0]  # finds it
    table = plan(configs, stored(configs[:3])).droplevel(["protocol", "family"])
    assert table.loc["ADOS", "s to run"] == 10.0  # BL of seed 1 built the network already
    assert table.loc["BL", "s to run"] == 0.0
    nothing = plan(configs, stored(configs[:0]))
    assert nothing["s to run"].isna().all() and (nothing["stored"] == 0).all()
    # a missing run on another dataset is not paced by this one's runs
    other = [dataclasses.replace(c, dataset="mnist5k") for c in configs[:2]]
    mixed = plan([*configs[:2], *other], stored(configs[:2])).droplevel(["protocol", "family"])
    assert mixed.loc["BL", "missing"] == 1 and np.isnan(mixed.loc["BL", "s to run"])
    assert plan(configs, pd.DataFrame({"config_hash": []}))["s to run"].isna().all()


def test_select_configs_by_method_or_family() -> None:
    from imbnb.experiments import select_configs

    configs = expand_grid(grid(["BL", "ADOS", "CNN-CE", "DOS"]))
    assert [c.method for c in select_configs(configs, ["losses", "ADOS"])] == ["ADOS", "CNN-CE"]
    assert [c.method for c in select_configs(configs, [" DOS "])] == ["DOS"]
    with pytest.raises(ValueError, match="allowed: families"):
        select_configs(configs, [])


def test_select_configs_by_field_values() -> None:
    from imbnb.experiments import parse_where, select_configs

    spec = grid(["BL", "DeepSMOTE"], seeds=(0, 1), ratios=(10, 100))
    spec["blocks"].append(
        {"base": {**BASE, "protocol": "counts"}, "grid": {"seed": [0, 1], "method": ["DeepSMOTE"]}}
    )
    configs = expand_grid(spec)
    counts = select_configs(configs, ["generative"], parse_where(["protocol=counts"]))
    assert [(c.protocol, c.seed) for c in counts] == [("counts", 0), ("counts", 1)]
    some = select_configs(configs, None, parse_where(["ratio=100.0", "seed=1", "seed=0"]))
    assert len(some) == 4 and {c.ratio for c in some} == {100}  # numbers match by value
    assert select_configs(configs, None, {"seed": 1, "method": ["BL"]})[0].method == "BL"
    assert parse_where(["seed=0, 2"]) == {"seed": ["0", "2"]}
    with pytest.raises(ValueError, match="unknown field 'protocl'; allowed: .*'protocol'"):
        select_configs(configs, None, {"protocl": ["counts"]})
    for bad in ("protocol", "=counts", "seed="):
        with pytest.raises(ValueError, match="expected FIELD=VALUE"):
            parse_where([bad])


def test_shared_key_groups_the_runs_that_train_one_network() -> None:
    from imbnb.experiments import shared_key

    def key(method, **fields):
        params = fields.pop("params", {})
        return shared_key(
            RunConfig(method=method, ratio=fields.pop("ratio", 10), params=params, **fields)
        )

    ae = {"ae": {"width": 8, "epochs": 2}}
    denoising = key("DeepDenoisingSMOTE", params=ae)  # one AE for three methods
    assert (
        denoising
        == key("DeepADASYN", params=ae)
        == key("DeepDenoising+WC", params={**ae, "sampler_params": {"k": 3}})
    )
    assert key("DeepSMOTE", params=ae) != denoising
    assert key("DeepSMOTE", params=ae) != key("DeepSparseSMOTE", params=ae)
    assert key("DeepSMOTE", params=ae) != key("DeepSMOTE", params=ae, seed=1)
    assert key("DeepSMOTE", params=ae) != key("DeepSMOTE", params={"ae": {"width": 16}})
    assert key("MLP-pixels", params=ae) != key("DeepSMOTE", params=ae)
    assert key("BL") == key("ADOS") == key("FS-SMOTE", params={"rho_d": 0.5})  # one extractor
    assert key("BL") != key("BL", ratio=20) != key("BL", params={"epochs": 2})
    assert key("DOS") == key("DOS-kNN") != key("DOS", params={"k": 3})
    assert key("CNN-CE") == key("LogitAdj-posthoc", params={"tau": 2.0}) != key("Focal")
    assert key("GAMO") != key("GAMO-noD")


def test_pool_runs_one_config_per_shared_network_at_a_time(tmp_path) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from imbnb.experiments import shared_key
    from imbnb.experiments.sweep import _chained

    configs = expand_grid(grid(["BL", "FS-SMOTE", "ADOS", "GAMO", "GAMO-noD"], seeds=(0, 1)))
    spans: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def fake(cfg_dict):
        cfg = RunConfig.from_dict(cfg_dict)
        start = time.perf_counter()
        time.sleep(0.05)
        with lock:
            spans.append((shared_key(cfg), start, time.perf_counter()))
        return {"config_hash": cfg.key(), "method": cfg.method}

    class Bar:
        n = 0

        def update(self):
            self.n += 1

    store, bar = ResultsStore(tmp_path / "r.parquet"), Bar()
    with ThreadPoolExecutor(max_workers=4) as pool:
        _chained(lambda cfg: pool.submit(fake, cfg.to_dict()), configs, store, bar)
    assert bar.n == len(configs) == 10 and store.hashes() == {c.key() for c in configs}
    assert len({k for k, _, _ in spans}) == 6  # an extractor per seed, GAMO and GAMO-noD each
    for key in {k for k, _, _ in spans}:
        mine = sorted((a, b) for k, a, b in spans if k == key)
        assert all(b0 <= a1 for (_, b0), (a1, _) in zip(mine, mine[1:], strict=False))


def test_a_failed_run_cancels_the_submitted_ones_and_names_itself(tmp_path) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from imbnb.experiments.sweep import _chained

    configs = expand_grid(grid(["BL", "GAMO", "GAMO-noD"], seeds=(0, 1)))  # 6 chains
    release, cancelled = threading.Event(), []

    def fake(cfg_dict):
        if cfg_dict["method"] == "BL":
            raise ValueError("boom")
        release.wait(5)
        return {"config_hash": RunConfig.from_dict(cfg_dict).key(), "method": "x"}

    def cancel(fut):
        cancelled.append(fut.cancel())
        release.set()

    store = ResultsStore(tmp_path / "r.parquet")
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        pytest.raises(RuntimeError, match="run BL .*boom"),
    ):
        _chained(
            lambda cfg: pool.submit(fake, cfg.to_dict()),
            configs,
            store,
            type("Bar", (), {"update": lambda self: None})(),
            cancel=cancel,
        )
    assert len(cancelled) == 5 and all(cancelled)  # queued behind the failure: none ran
    assert not store.path.exists() or store.load().empty


def test_record_sweep_appends_entries_atomically(tmp_path, monkeypatch) -> None:
    import datetime as dt

    from imbnb.experiments import provenance

    store = tmp_path / "t.parquet"
    t0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    provenance.record_sweep(store, command="a", started=t0, finished=t0, runs_added=3)
    assert provenance.read_provenance(store)[0]["grid_sha256"] is None

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(provenance.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        provenance.record_sweep(store, command="b", started=t0, finished=t0, runs_added=1)
    monkeypatch.undo()
    assert [e["command"] for e in provenance.read_provenance(store)] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet.lock", "t.provenance.json"]
    with pytest.raises(ValueError, match="runs_added must be >= 0"):
        provenance.record_sweep(store, command="c", started=t0, finished=t0, runs_added=-1)


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
    ex = train_extractor(
        "fashion_mnist", protocol="minority", ratio=10, seed=1, epochs=1, n_train=1000, n_test=10
    )
    np.testing.assert_array_equal(ex.train_indices, doc["train_indices"])
    np.testing.assert_array_equal(ex.test_indices, doc["test_indices"])
    # and the generative family (chapter 6's split) on these
    doc = read_split(paths[1])
    train, _, split, _ = count_protocol("fashion_mnist", count_scale=0.1, seed=0, n_test=10)
    np.testing.assert_array_equal(split.indices, doc["train_indices"])
    assert np.bincount(labels[doc["train_indices"]]).tolist() == [
        400,
        200,
        100,
        75,
        50,
        35,
        20,
        10,
        6,
        4,
    ]
    np.testing.assert_array_equal(run_split(counts)["train_indices"], doc["train_indices"])


def test_committed_splits_are_readable_and_consistent() -> None:
    from imbnb.experiments import splits_dir

    files = sorted(splits_dir().glob("*.json.gz"))
    assert files, "book/data/splits/ holds the book's exported splits"
    for path in files:
        doc = read_split(path)
        assert set(doc) >= {
            "dataset",
            "protocol",
            "parameters",
            "seed",
            "train_indices",
            "test_indices",
            "counts",
            "minority_classes",
        }
        assert len(doc["train_indices"]) == sum(doc["counts"].values())
        assert len(set(doc["train_indices"])) == len(doc["train_indices"])


def test_grid_files_in_the_repository_expand(tmp_path) -> None:
    from imbnb import paths

    grids = sorted((paths.book_dir() / "grids").glob("*.yaml"))
    assert grids
    for g in grids:
        assert load_grid(g)


def test_results_grid_names_unknown_methods() -> None:
    from imbnb.experiments import results_grid

    with pytest.raises(ValueError, match="unknown method 'GAN'"):
        results_grid(profile="x", seeds=[0], ratios=[10], methods=["BL", "GAN"])
    spec = results_grid(profile="x", seeds=[0], ratios=[10], methods=["BL"])
    assert len(spec["blocks"]) == 1  # no count-list methods: no count-list block


def test_committed_paper_table_belongs_to_the_paper_grid() -> None:
    """Every committed row is a run of book/grids/paper.yaml, consistent with its config."""
    from imbnb import paths
    from imbnb.experiments.provenance import read_provenance

    store = ResultsStore(paths.book_dir() / "data" / "results" / "paper.parquet")
    table = store.load()
    assert len(table) > 0, "book/data/results/paper.parquet holds the committed paper sweep"
    grid_file = {c.key(): c for c in load_grid(paths.book_dir() / "grids" / "paper.yaml")}
    assert table["config_hash"].is_unique
    assert set(table["config_hash"]) <= set(grid_file)
    for row in table.itertuples():
        cfg = grid_file[row.config_hash]
        assert (row.method, row.protocol, row.seed, row.profile) == (
            cfg.method,
            cfg.protocol,
            cfg.seed,
            "paper",
        )
        assert cfg.protocol != "minority" or row.ratio == cfg.ratio
    rebuilt = [RunConfig.from_row(r).key() for _, r in table.iterrows()]
    assert rebuilt == table["config_hash"].tolist()  # each row's columns are its config
    for metric in ("acsa", "gmean", "f1_macro", "recall_min"):
        assert table[metric].between(0, 1).all(), metric
    assert (table["wall_seconds"] > 0).all()
    entries = read_provenance(store.path)
    assert sum(e["runs_added"] for e in entries) == len(table)
    assert all(
        e["machine"]["versions"]["imbnb"] == v for e in entries for v in set(table["imbnb_version"])
    )


def test_compare_orderings_counts_pairs_ordered_alike() -> None:
    from imbnb.experiments import compare_orderings

    idx = pd.MultiIndex.from_product([["A", "B", "C"], [10, 100]], names=["method", "ratio"])
    side = pd.DataFrame(
        {"ours": [0.9, 0.8, 0.8, 0.9, 0.7, 0.6], "paper": [0.7, 0.6, 0.8, 0.8, 0.6, 0.5]}, index=idx
    )
    table = compare_orderings(side, "ours", "paper")
    # ratio 10: ours A > B > C, paper B > A > C -> 2 of 3 pairs alike, tau = 1/3
    assert table.loc[10, "best (ours)"] == "A" and table.loc[10, "best (published)"] == "B"
    assert table.loc[10, "pairs ordered alike"] == pytest.approx(2 / 3)
    assert table.loc[10, "Kendall tau"] == pytest.approx(1 / 3)
    # ratio 100: ours B > A > C, paper B > A > C -> all alike
    assert table.loc[100, "pairs ordered alike"] == 1.0 and table.loc[100, "methods"] == 3
    assert compare_orderings(side.iloc[:0], "ours", "paper").empty
    with pytest.raises(ValueError, match="side needs columns"):
        compare_orderings(side, "ours", "thesis")


def test_complete_methods_keeps_those_in_every_setting() -> None:
    from imbnb.experiments import complete_methods

    rows = _toy_results()
    partial = rows[~((rows.method == "C") & (rows.seed == 3))]
    assert complete_methods(rows) == ["A", "B", "C"]
    assert complete_methods(partial) == ["A", "B"]
    assert complete_methods(partial.iloc[:0]) == []


# ----------------------------------------------------------------------------- analysis


def _toy_results() -> pd.DataFrame:
    rows = []
    for seed in range(8):
        for ratio in (10, 100):
            base = 0.5 + 0.01 * seed
            for method, gain in [("A", 0.0), ("B", 0.05), ("C", 0.0001 * (-1) ** seed)]:
                rows.append(
                    {
                        "dataset": "d",
                        "protocol": "minority",
                        "ratio": ratio,
                        "count_scale": 1.0,
                        "seed": seed,
                        "method": method,
                        "acsa": base + gain,
                    }
                )
    return pd.DataFrame(rows)


def test_setting_table_one_metric_a_row_per_method_a_column_per_setting() -> None:
    from imbnb.experiments import setting_table

    rows = pd.DataFrame(
        [
            {"method": "Z", "protocol": "minority", "ratio": 100.0, "seed": 0, "acsa": 0.5},
            {"method": "Z", "protocol": "minority", "ratio": 100.0, "seed": 1, "acsa": 0.7},
            {"method": "Z", "protocol": "minority", "ratio": 10.0, "seed": 0, "acsa": 0.9},
            {"method": "A", "protocol": "counts", "ratio": np.nan, "seed": 0, "acsa": 0.8},
            {"method": "A", "protocol": "minority", "ratio": 10.0, "seed": 0, "acsa": 0.6},
        ]
    )
    table = setting_table(rows, "acsa", digits=2)
    assert list(table.index) == ["Z", "A"]  # the rows' order, not sorted
    assert list(table.columns) == ["ρ = 10", "ρ = 100", "count list"]  # ratios ascending first
    assert table.loc["Z", "ρ = 100"] == "0.60 ± 0.14"  # mean ± sample std over two seeds
    assert table.loc["Z", "ρ = 10"] == "0.90"  # a single run: the mean alone
    assert table.loc["Z", "count list"] == "" and table.loc["A", "ρ = 100"] == ""  # no run
    assert table.loc["A", "count list"] == "0.80"
    with pytest.raises(ValueError, match="metric must be a numeric column.*'acsa'.*got 'f1'"):
        setting_table(rows, "f1")
    with pytest.raises(ValueError, match=r"missing \['protocol'\]"):
        setting_table(rows.drop(columns="protocol"), "acsa")


def test_critical_difference_and_best_of() -> None:
    from imbnb.experiments import best_of, critical_difference

    # Demsar (2006), Table 5: q_0.05 = 2.343 for three methods
    assert critical_difference(3, 16) == pytest.approx(2.343 * math.sqrt(12 / 96), rel=1e-3)
    # Demsar (2006), section 3.2.2's example: k = 4 methods on N = 14 data sets, CD = 1.25
    assert critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
    assert best_of(_toy_results(), ["A", "B"]) == "B"


def test_results_for_reads_a_committed_table_or_refuses(cache, tmp_path) -> None:
    from imbnb.experiments import results_for

    configs = expand_grid(grid(["BL"], seeds=(0, 1)))
    computed = results_for(configs, "compute", progress=False)
    assert len(computed) == 2 and (cache / "results.parquet").exists()
    committed = tmp_path / "paper.parquet"
    sweep(configs[:1], committed, progress=False)
    with pytest.raises(ValueError, match="holds 1 of the 2 runs"):
        results_for(configs, str(committed))
    partial = results_for(configs, str(committed), missing="skip")
    assert partial["config_hash"].tolist() == [configs[0].key()]
    table = coverage(configs, partial)
    assert table.loc[("minority", "feature_space", "BL")].tolist() == [2, 1, 1]
    with pytest.raises(ValueError, match="missing must be one of"):
        results_for(configs, str(committed), missing="ignore")
    sweep(configs, committed, progress=False)
    assert coverage(configs, results_for(configs, str(committed)))["missing"].sum() == 0
    assert len(results_for(configs, str(committed))) == 2
    with pytest.raises(ValueError, match="no such file"):
        results_for(configs, "book/data/results/none.parquet")


def test_results_for_returns_rows_in_grid_order_whatever_the_table_order(cache, tmp_path) -> None:
    from imbnb.experiments import results_for

    configs = expand_grid(grid(["BL", "BL+CW"], seeds=(0, 1)))
    committed = tmp_path / "paper.parquet"
    sweep(configs[::-1], committed, progress=False)  # the table gains them last first
    stored = ResultsStore(committed).load()["config_hash"].tolist()
    assert stored == [c.key() for c in configs[::-1]]
    want = [c.key() for c in configs]
    assert results_for(configs, str(committed))["config_hash"].tolist() == want
    assert (
        results_for(configs[1:], str(committed), missing="skip")["config_hash"].tolist() == want[1:]
    )
    assert sweep(configs, committed, progress=False)["config_hash"].tolist() == want
    with pytest.raises(ValueError, match="no such file"):
        results_for(configs, "book/data/results/none.parquet")


def _old_rows() -> pd.DataFrame:
    """Rows as tables swept before runs recorded their cost: wall and own times only."""
    base = {**BASE, "ratio": 10.0, "n_minority": 4, "count_scale": 1.0, "seed": 0, "params": "{}"}
    fs = [
        ("feature_space", m, w, s)
        for m, w, s in [("BL", 40.0, 6.0), ("FS-SMOTE", 11.0, 10.5), ("ADOS", 16.5, 16.0)]
    ]
    loss = [("losses", "CNN-CE", 30.0, 27.0), ("losses", "LogitAdj-posthoc", 0.4, 27.0)]
    dos = [
        ("dos", "DOS", 68.0, np.nan),
        ("dos", "DOS-LR", 0.3, np.nan),
        ("dos", "DOS-kNN", 0.5, np.nan),
    ]
    rows = [
        {**base, "family": f, "method": m, "wall_seconds": w, "seconds": s}
        for f, m, w, s in fs + loss + dos
    ]
    rows.append(
        {
            **base,
            "family": "feature_space",
            "method": "BL",
            "seed": 1,
            "wall_seconds": 39.0,
            "seconds": 5.0,
        }
    )  # alone on its split: not derivable
    return pd.DataFrame(rows)


def test_run_costs_charge_every_method_its_shared_networks_training() -> None:
    costs = run_costs(_old_rows()).set_index(["method", "seed"])
    assert costs["cost_derived"].all()
    fs = costs.loc[[("BL", 0), ("FS-SMOTE", 0), ("ADOS", 0)]]
    assert fs["network_seconds"].tolist() == [33.5] * 3  # 34 over the others' 0.5
    assert fs["method_seconds"].tolist() == [6.0, 10.5, 16.0]
    assert math.isnan(costs.loc[("BL", 1), "network_seconds"])
    assert costs.loc[("LogitAdj-posthoc", 0), "network_seconds"] == 27.0
    assert costs.loc[("CNN-CE", 0), "method_seconds"] == 3.0
    assert costs.loc[("LogitAdj-posthoc", 0), "method_seconds"] == 0.4  # read from the cache
    dos = costs.loc[[("DOS", 0), ("DOS-LR", 0), ("DOS-kNN", 0)]]
    assert dos["network_seconds"].tolist() == pytest.approx([67.6] * 3)
    assert dos["method_seconds"].tolist() == pytest.approx([0.4, 0.3, 0.5])
    table = cost_table(_old_rows())
    assert table.loc[("dos", "DOS-LR"), "total_seconds"] == pytest.approx(67.9)
    assert table.loc[("feature_space", "BL"), "runs"] == 2
    assert table["total_seconds"].is_monotonic_increasing
    recorded = _old_rows().assign(network_seconds=1.0, method_seconds=2.0)
    assert not run_costs(recorded)["cost_derived"].any()  # recorded parts are kept as they are
    assert (cost_table(recorded)["total_seconds"] == 3.0).all()


def _sweep_cli(args, **kw):
    """``imbnb sweep ...`` in its own process (its own session, so its group can be found)."""
    code = "import sys; from imbnb.book.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "sweep", *map(str, args), "--no-progress"],
        env=dict(os.environ),
        start_new_session=True,
        **kw,
    )


def test_two_concurrent_cli_sweeps_lose_nothing_and_count_their_own_rows(cache, tmp_path):
    import yaml

    from imbnb.experiments.provenance import read_provenance

    path, store = tmp_path / "grid.yaml", tmp_path / "r.parquet"
    path.write_text(yaml.safe_dump(grid(["BL", "BL+CW", "FS-SMOTE"], seeds=(0, 1))))
    procs = [
        _sweep_cli([path, "--store", store, "--where", f"seed={s}"], stdout=subprocess.PIPE)
        for s in (0, 1)
    ]
    outs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all("3 of 3 runs stored" in out for out in outs), outs
    table = ResultsStore(store).load()
    assert len(table) == 6 and table["config_hash"].is_unique
    entries = read_provenance(store)
    assert sorted(e["runs_added"] for e in entries) == [3, 3]
    assert {e["status"] for e in entries} == {"finished"}
    by_sweep = table.groupby("sweep_id")["seed"].agg(set).to_dict()
    assert {e["sweep_id"]: by_sweep[e["sweep_id"]] for e in entries}.keys() == by_sweep.keys()
    assert sorted(map(sorted, by_sweep.values())) == [[0], [1]]
    assert not (tmp_path / "r.runs").exists()  # both compacted at their end


def _group(pgid: int) -> list[int]:
    """The live processes of a process group (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_sigkilled_pooled_sweep_leaves_no_process_and_its_rows_have_provenance(
    cache, tmp_path
) -> None:
    import signal

    import yaml

    from imbnb.experiments.provenance import provenance_table, read_provenance

    path, store = tmp_path / "grid.yaml", tmp_path / "r.parquet"
    path.write_text(yaml.safe_dump(grid(["BL", "BL+CW", "FS-SMOTE", "ADOS"], seeds=(0, 1, 2))))
    proc = _sweep_cli([path, "--store", store, "--workers", "2"])
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "r.runs").glob("*.parquet")):
        time.sleep(0.2)
    assert len(_group(proc.pid)) >= 3  # the driver, two workers (and the resource tracker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while _group(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _group(proc.pid) == []
    table = ResultsStore(store).load()
    (entry,) = read_provenance(store)
    assert entry["status"] == "running" and entry["finished_utc"] is None
    assert 1 <= len(table) < 12 and (table["sweep_id"] == entry["sweep_id"]).all()
    assert provenance_table(store)["runs added"].tolist() == [len(table)]
    # the rerun resumes; merge accepts the table, its killed sweep's entry included
    assert main(["sweep", str(path), "--store", str(store), "--no-progress"]) == 0
    assert main(["merge", str(store), "--into", str(tmp_path / "all.parquet")]) == 0
    assert len(ResultsStore(tmp_path / "all.parquet").load()) == 12


def test_a_terminated_sweep_folds_its_rows_in_and_says_so(cache, tmp_path) -> None:
    import signal

    import yaml

    from imbnb.experiments.provenance import read_provenance

    path, store = tmp_path / "grid.yaml", tmp_path / "r.parquet"
    path.write_text(yaml.safe_dump(grid(["BL", "BL+CW", "FS-SMOTE", "ADOS"], seeds=(0, 1, 2))))
    proc = _sweep_cli([path, "--store", store])
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "r.runs").glob("*.parquet")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    (entry,) = read_provenance(store)
    assert entry["status"] == "interrupted" and entry["finished_utc"] is not None
    assert entry["runs_added"] == len(ResultsStore(store).load()) >= 1
    assert not (tmp_path / "r.runs").exists()  # folded into the table on the way out
