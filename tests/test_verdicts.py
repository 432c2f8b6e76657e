"""The tuned verdicts: coverage of the final grids, chosen settings, complete-draw comparisons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imbnb.experiments.config import RunConfig
from imbnb.experiments.verdicts import setting_label, tuned_verdicts

LINEAR = {"extractor_weight": None, "head": {"hidden": [], "epochs": 10}}
MLP_CW = {"extractor_weight": "balanced", "head": {"hidden": [256, 128], "epochs": 20}}


def _grid() -> list[RunConfig]:
    return [
        RunConfig(method=m, ratio=r, seed=s, params=LINEAR if m != "ADOS" else MLP_CW)
        for m in ("BL", "BL+CW", "ADOS")
        for r in (10.0, 100.0)
        for s in range(6)
    ]


def _rows(configs: list[RunConfig], gain: dict[str, float]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    out = []
    for c in configs:
        draw_effect = 0.02 * c.seed  # a draw moves every method alike: the pairing matters
        out.append(
            {"config_hash": c.key(), "method": c.method, "ratio": c.ratio, "seed": c.seed,
             "protocol": c.protocol, "params": json.dumps(c.params),
             "acsa": 0.7 + draw_effect + gain[c.method] + rng.normal(0, 0.002)}
        )  # fmt: skip
    return pd.DataFrame(out)


def test_compares_only_methods_with_every_draw_and_shows_their_settings() -> None:
    grid = _grid()
    stored = [c for c in grid if not (c.method == "BL+CW" and c.ratio == 100.0 and c.seed == 5)]
    rows = _rows(stored, {"BL": 0.0, "BL+CW": 0.01, "ADOS": 0.05})
    other = _rows([RunConfig(method="ADOS", ratio=40.0)], {"ADOS": 0.0})  # not in the grids
    v = tuned_verdicts(pd.concat([rows, other]), grid, baselines=["BL", "BL+CW"])
    assert v.coverage.loc["BL+CW", "ρ = 100"] == 5 and v.coverage.loc["ADOS", "ρ = 10"] == 6
    assert (v.coverage["draws expected"] == 6).all()
    assert v.compared == ["BL", "ADOS"] and v.draws == 6 and v.reference == "BL"
    assert v.settings.loc["ADOS", "ρ = 10"] == "CW + MLP"
    assert v.settings.loc["BL", "ρ = 100"] == "CE + linear"
    assert set(v.per_ratio.index.get_level_values("method")) == {"ADOS"}
    assert (v.per_ratio["verdict"] == "better").all()
    assert v.across.loc["ADOS", "verdict"] == "better"


def test_without_a_complete_baseline_nothing_is_compared() -> None:
    grid = _grid()
    rows = _rows(
        [c for c in grid if c.method != "BL" or c.seed < 3], {"BL": 0, "BL+CW": 0, "ADOS": 0}
    )
    v = tuned_verdicts(rows, grid, baselines=["BL"])
    assert v.per_ratio is None and v.across is None and v.reference is None
    assert v.coverage.loc["BL", "ρ = 10"] == 3


def test_setting_labels_name_the_tuned_knob() -> None:
    assert setting_label("DOS", {"k": 3, "rounds": 1, "init_epochs": 3}) == "k=3, rounds=1"
    assert setting_label("Focal", {"loss_params": {"gamma": 2.0}, "epochs": 5}) == "gamma=2.0"
    assert setting_label("CNN-CE", {"lr": 0.001}) == "lr=0.001"
    assert setting_label("GAMO", {"loss": "ce", "lr": 0.001, "steps": 100}) == "loss=ce, lr=0.001"
    pixels = {"classifier": {"epochs": 40, "lr": 0.0003}, "ae": None}
    assert setting_label("MLP-pixels", pixels) == "epochs=40, lr=0.0003"
    assert setting_label("DeepSMOTE", {"ae": {"epochs": 50}}) == "not tuned"


def test_table_shows_draws_stored_and_setting_per_ratio() -> None:
    grid = _grid()
    rows = _rows([c for c in grid if c.seed < 4], {"BL": 0, "BL+CW": 0, "ADOS": 0})
    table = tuned_verdicts(rows, grid, baselines=["BL"]).table()
    assert list(table.columns) == ["ρ = 10", "ρ = 100"]
    assert table.loc["ADOS", "ρ = 10"] == "4/6 · CW + MLP"


def test_reading_choice_sets_each_reading_at_its_own_best_setting() -> None:
    from imbnb import paths
    from imbnb.experiments import ResultsStore, load_grid
    from imbnb.experiments.tuning import select
    from imbnb.experiments.verdicts import reading_choice

    root = paths.repo_root()
    rows = ResultsStore(root / "book/data/results/tuning.parquet").load()
    grid = load_grid(root / "book/grids/verdicts.yaml")
    table = reading_choice(grid, rows, ["GaussPert", "PseudoFeat"])
    assert list(table.index) == ["ρ = 10", "ρ = 20", "ρ = 40", "ρ = 100", "mean"]
    chosen = select([c for c in grid if c.method == "GaussPert"], rows, draws=[0, 1, 2])
    for (_, ratio), params in chosen.items():
        keys = [
            RunConfig("GaussPert", **{**BASE_OF(grid), "ratio": ratio, "seed": s},
                      params=params, validation=0.2).key()
            for s in (0, 1, 2)
        ]  # fmt: skip
        score = rows.set_index("config_hash").loc[keys, "acsa"].mean()
        assert table.loc[f"ρ = {ratio:g}", "GaussPert"] == pytest.approx(score, abs=1e-12)
    diff = table["PseudoFeat"] - table["GaussPert"]
    assert table["difference"].tolist() == pytest.approx(diff.tolist())
    assert table.loc["mean", "GaussPert"] == pytest.approx(table["GaussPert"].iloc[:4].mean())
    without = rows[rows["method"] != "PseudoFeat"]
    assert reading_choice(grid, without, ["GaussPert", "PseudoFeat"]).empty  # not guessed


def BASE_OF(grid):  # noqa: N802 - the grid's shared fields, as RunConfig keywords
    first = grid[0].to_dict()
    return {k: v for k, v in first.items() if k not in ("method", "ratio", "seed", "params")}


def test_a_method_expected_on_fewer_draws_is_compared_on_them_once_it_holds_them() -> None:
    grid = _grid() + [
        RunConfig(method="GAMO", ratio=r, seed=s, params={"loss": "ce", "lr": 0.0002})
        for r in (10.0, 100.0)
        for s in range(3)  # three of the baselines' six draws, as GAMO runs five of ten
    ]
    gain = {"BL": 0.0, "BL+CW": 0.01, "ADOS": 0.05, "GAMO": -0.04}
    partly = _rows([c for c in grid if c.method != "GAMO" or c.seed < 2], gain)
    v = tuned_verdicts(partly, grid, baselines=["BL", "BL+CW"])
    assert "GAMO" not in v.compared and v.fewer == {} and v.coverage.loc["GAMO", "ρ = 10"] == 2
    assert v.coverage.loc["GAMO", "draws expected"] == 3
    v = tuned_verdicts(_rows(grid, gain), grid, baselines=["BL", "BL+CW"])
    assert v.compared == ["BL", "BL+CW", "ADOS", "GAMO"] and v.fewer == {"GAMO": 3}
    assert v.draws == 6 and v.reference == "BL+CW"
    gamo = v.per_ratio.xs("GAMO", level="method")
    assert (gamo["draws"] == 3).all() and (gamo["reference"] == "BL+CW").all()
    assert (gamo["verdict"] == "worse").all()
    assert v.across.loc["GAMO", "draws"] == 3 and v.across.loc["ADOS", "draws"] == 6
    # Holm's family at a ratio holds GAMO's test beside the others
    assert len(v.per_ratio.xs(10.0, level="ratio")) == 3
