"""A run config can fix its minority classes (the chapters' quick profiles cut 0, 2, 5, 8)."""

from __future__ import annotations

import pandas as pd
import pytest

from imbnb.data import load_dataset
from imbnb.experiments import RunConfig, sweep
from imbnb.experiments.grid import select_configs
from imbnb.experiments.registry import run_config
from imbnb.experiments.splits import run_split, split_name
from imbnb.experiments.validation import validation_split

FIXED = (0, 2, 5, 8)
TINY = {"ratio": 20, "n_train": 300, "n_test": 10}


def test_fixed_classes_key_and_row_form() -> None:
    drawn = RunConfig("BL")
    assert "minority_classes" not in drawn.to_dict()  # drawn by the seed: keys as before
    fixed = RunConfig("BL", minority_classes=[0, 2, 5, 8])
    assert fixed.minority_classes == FIXED and fixed.key() != drawn.key()
    assert (
        fixed.to_dict()["minority_classes"] == list(FIXED) and "n_minority" not in fixed.to_dict()
    )
    assert RunConfig("BL", minority_classes=FIXED, n_minority=3).key() == fixed.key()  # unused
    assert RunConfig("BL", minority_classes=(8, 5, 2, 0)).key() != fixed.key()  # the cut's order
    row = {**fixed.row_fields(), "params": "{}"}
    assert row["minority_classes"] == "0,2,5,8"
    assert RunConfig.from_row(row) == fixed and RunConfig.from_dict(fixed.to_dict()) == fixed
    assert RunConfig.from_row({**drawn.row_fields(), "params": "{}"}) == drawn


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"minority_classes": []}, "non-empty list of distinct class indices"),
        ({"minority_classes": [1, 1]}, "distinct"),
        ({"minority_classes": [-1]}, "class indices >= 0"),
        ({"minority_classes": "0,2"}, "minority_classes must be"),
        ({"minority_classes": [True]}, "minority_classes must be"),
        ({"minority_classes": [0], "protocol": "counts"}, "needs protocol 'minority'"),
    ],
)
def test_bad_fixed_classes_are_refused_by_name(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        RunConfig("BL", **fields)


def test_split_cuts_the_fixed_classes_in_every_view() -> None:
    cfg = RunConfig("CNN-CE", minority_classes=FIXED, **TINY)
    split = run_split(cfg)
    assert split["minority_classes"] == list(FIXED)
    assert [split["counts"][c] for c in range(10)] == [2, 30, 2, 30, 30, 2, 30, 30, 2, 30]
    assert split_name(cfg).endswith("ratio20_classes0-2-5-8_seed0_train300_test10")
    val = validation_split(RunConfig("CNN-CE", minority_classes=FIXED, validation=0.2, **TINY),
                           load_dataset("fashion_mnist", "train"))  # fmt: skip
    assert val["minority_classes"] == list(FIXED)
    picked = select_configs([cfg, RunConfig("CNN-CE", **TINY)], where={"n_minority": [4]})
    assert picked == [cfg, RunConfig("CNN-CE", **TINY)]  # a key leaves it out; the value stays


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("CNN-CE", {"epochs": 1}),
        ("BL", {"epochs": 1}),
        ("DOS", {"init_epochs": 1, "rounds": 1}),
        ("MLP-pixels", {}),
    ],
)
def test_every_family_runs_on_the_fixed_classes(tmp_path, monkeypatch, method, params) -> None:
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path))
    cfg = RunConfig(method, minority_classes=FIXED, params=params, **TINY)
    table = tmp_path / "t.parquet"
    rows = sweep([cfg], table, progress=False)
    row = rows.iloc[0].to_dict()
    assert row["minority_classes"] == "0,2,5,8"
    assert row["recall_min"] == pytest.approx(_mean_recall(row, FIXED))  # scored as minority
    assert RunConfig.from_row(pd.read_parquet(table).iloc[0].to_dict()).key() == cfg.key()
    drawn = run_config(RunConfig(method, params=params, **TINY))
    others = set(range(10)) - set(run_split(RunConfig(method, **TINY))["minority_classes"])
    assert drawn["recall_maj"] == pytest.approx(_mean_recall(drawn, others))


def _mean_recall(row: dict, classes) -> float:
    """The mean test recall of ``classes`` in a row's per-class columns."""
    return sum(row[f"recall_c{c}"] for c in classes) / len(classes)
