"""Chapter 9 under `paper` reads committed runs: its configs, the long-tail protocol, the tables."""

from __future__ import annotations

import pandas as pd
import pytest
from _table_checks import assert_table_is_computed

from imbnb import paths
from imbnb.book.chapters_grid import chapter_configs
from imbnb.book.loss_chapter import chapter_grids, chapter_rows, loss_configs, read_configs
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import Source, missing_runs
from imbnb.experiments import RunConfig, load_grid
from imbnb.experiments.registry import run_config
from imbnb.experiments.splits import run_split, split_name

RESULTS = paths.book_dir() / "data" / "results"
PAPER = "book/data/results/paper.parquet"


def _paper_values(**changes) -> dict:
    """Chapter 9's parameter values under `paper`, ``changes`` on top."""
    return chapter_values("09_loss_baselines", "paper", **changes)


def _keys(grid) -> dict[str, RunConfig]:
    """A grid's configs under `paper`, by key."""
    return {c.key(): c for c in loss_configs("fashion_mnist", grid, "paper")}


def test_paper_thesis_runs_are_chapter_8s_committed_rows() -> None:
    grids = chapter_grids(_paper_values())
    wanted = _keys(grids["thesis"])
    assert len(wanted) == 9 * 4 * 3
    stored = set(pd.read_parquet(RESULTS / "paper.parquet")["config_hash"])
    assert set(wanted) <= stored  # the chapter trains nothing that chapter 8's sweep holds


def test_paper_runs_are_what_chapters_yaml_is_generated_from() -> None:
    grids = chapter_grids(_paper_values())
    longtail = _keys(grids["longtail"])
    assert len(longtail) == 27
    # what book/grids/chapters.yaml is generated from (tests/test_grid_file.py checks the file)
    read = [c.key() for c in chapter_configs("09_loss_baselines", "paper")]
    assert read == [*_keys(grids["thesis"]), *longtail]
    only = read_configs(_paper_values(), computed=["thesis"])  # computed: nothing to read
    assert list(only) == ["longtail"] and [c.key() for c in only["longtail"]] == list(longtail)
    assert all(
        c.protocol == "longtail" and c.lt_preset == "fashion_mnist_lt" for c in longtail.values()
    )


def test_a_changed_knob_changes_only_the_runs_it_reaches() -> None:
    base = _keys(chapter_grids(_paper_values())["thesis"])
    focal = _keys(chapter_grids(_paper_values(focal_gamma=1.0))["thesis"])
    moved = {base[k].method for k in set(base) - set(focal)}
    assert moved == {"Focal"}
    tau = _keys(chapter_grids(_paper_values(tau=2.0))["thesis"])
    assert {base[k].method for k in set(base) - set(tau)} == {"LogitAdj", "LogitAdj-posthoc"}
    cfg = next(c for c in tau.values() if c.method == "LogitAdj-posthoc")
    assert cfg.params["tau"] == 2.0 and "loss_params" not in cfg.params


def test_reading_tables_refuses_settings_a_run_config_cannot_hold() -> None:
    grid = chapter_grids(_paper_values(arch="C6-C16-F120"))["thesis"]
    with pytest.raises(ValueError, match="arch must be 'C6-C16-F400-F120'"):
        chapter_rows("fashion_mnist", grid, Source(PAPER))


def test_fixed_classes_swept_as_configs_give_the_chapters_numbers(tmp_path, monkeypatch) -> None:
    """The quick profile's fixed minority classes are run configs too: a table of them holds
    the rows the chapter computes."""
    values = chapter_values("09_loss_baselines", "smoke", methods=["CNN-CE", "Focal"],
                            n_train=300, n_test=10)  # fmt: skip
    grid = chapter_grids(values)["thesis"]
    configs = loss_configs("fashion_mnist", grid, "smoke")
    assert {c.minority_classes for c in configs} == {(0, 2, 5, 8)}
    assert_table_is_computed(
        configs,
        lambda source: chapter_rows("fashion_mnist", grid, source),
        lambda: chapter_rows("fashion_mnist", grid),
        ["method", "acsa", "gmean", "recall_min", "recall_c0", "recall_c2"],
        (tmp_path, monkeypatch),
    )


def test_rows_from_a_table_and_the_runs_it_lacks(tmp_path) -> None:
    grids = chapter_grids(_paper_values(seeds=[0]))
    rows = chapter_rows("fashion_mnist", grids["thesis"], Source(PAPER, "paper"))
    assert len(rows) == 36 and rows["from_table"].all()
    assert list(rows["method"][:9]) == list(grids["thesis"].methods)  # the grid's order
    configs = [c for g in grids.values() for c in loss_configs("fashion_mnist", g, "paper")]
    missing = missing_runs(configs, rows.iloc[1:])
    assert missing.loc[("minority", "losses", "CNN-CE"), "missing"] == 1
    assert missing.loc[("longtail", "losses", "Focal"), "missing"] == 1
    assert ("minority", "losses", "Focal") not in missing.index  # complete: not listed


def test_longtail_config_keys_and_refusals() -> None:
    cfg = RunConfig("CNN-CE", protocol="longtail", ratio=100, lt_preset="fashion_mnist_lt")
    d = cfg.to_dict()
    assert d["lt_preset"] == "fashion_mnist_lt" and "n_minority" not in d
    assert "lt_preset" not in RunConfig("CNN-CE").to_dict()  # other protocols' keys unchanged
    assert RunConfig.from_row({**d, "params": "{}"}) == cfg
    for bad, message in [
        ({"lt_preset": "mnist_lt"}, "lt_preset must be one of"),
        ({"lt_rho_prime": 0.5}, "lt_rho_prime must be a number >= 1"),
        ({"ratio": None}, "longtail protocol needs ratio >= 1"),
        ({"validation": 0.2}, "needs protocol 'minority'"),
    ]:
        with pytest.raises(ValueError, match=message):
            RunConfig("CNN-CE", protocol="longtail", **{"ratio": 10, **bad})


@pytest.mark.parametrize("table", ["paper", "chapters", "tuning", "verdicts"])
def test_committed_rows_keep_their_keys(table: str) -> None:
    rows = pd.read_parquet(RESULTS / f"{table}.parquet")
    for row in rows.to_dict("records"):
        assert RunConfig.from_row(row).key() == row["config_hash"]


def test_a_longtail_run_trains_on_the_exponential_profile(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path))
    cfg = RunConfig("CB", protocol="longtail", ratio=20, n_train=200, n_test=10,
                    params={"epochs": 1})  # fmt: skip
    split = run_split(cfg)
    assert [split["counts"][c] for c in range(10)] == [20, 14, 10, 7, 5, 3, 2, 1, 1, 1]
    row = run_config(cfg)
    assert row["protocol"] == "longtail" and row["train_size"] == sum(split["counts"].values())
    assert row["minority"] == ",".join(map(str, split["minority_classes"]))
    assert split_name(cfg) == "fashion_mnist_longtail_ratio20_seed0_train200_test10"
    with pytest.raises(ValueError, match="runs on protocol 'minority', not 'longtail'"):
        run_config(RunConfig("FS-SMOTE", protocol="longtail", ratio=20))


def test_committed_chapters_table_belongs_to_its_grid() -> None:
    grid = {c.key() for c in load_grid(paths.book_dir() / "grids" / "chapters.yaml")}
    rows = pd.read_parquet(RESULTS / "chapters.parquet")
    assert len(rows) and set(rows["config_hash"]) <= grid
    assert rows["config_hash"].is_unique
