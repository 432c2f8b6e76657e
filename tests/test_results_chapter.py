"""Chapter 8's conclusions in words: each phrase names what the comparison tables hold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from imbnb.book.results_chapter import (
    absent_plan,
    against_text,
    compared_text,
    fill_text,
    final_rows,
    missing_plan,
    one_against_others,
    tuned_phrases,
)
from imbnb.experiments.config import RunConfig
from imbnb.experiments.statistics import across_ratios
from imbnb.experiments.tuning import tuning_configs
from imbnb.experiments.verdicts import tuned_verdicts

LINEAR = {"extractor_weight": None, "head": {"hidden": [], "epochs": 10}}
METHODS = ("BL", "BL+CW", "ADOS", "FS-SMOTE")


def _grid() -> list[RunConfig]:
    return [
        RunConfig(method=m, ratio=r, seed=s, params=LINEAR)
        for m in METHODS
        for r in (10.0, 100.0)
        for s in range(8)
    ]


def _rows(configs: list[RunConfig], gain: dict[tuple[str, float], float]) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        [
            {"config_hash": c.key(), "method": c.method, "ratio": c.ratio, "seed": c.seed,
             "protocol": c.protocol, "params": json.dumps(c.params),
             "acsa": 0.7 + 0.02 * c.seed + gain.get((c.method, c.ratio), 0.0)
             + rng.normal(0, 0.001)}
            for c in configs
        ]
    )  # fmt: skip


def test_phrases_name_each_method_with_its_verdict_and_ratios() -> None:
    grid = _grid()
    gain = {("BL", 10.0): -0.05, ("BL", 100.0): -0.05, ("ADOS", 100.0): 0.004}
    gain |= {("FS-SMOTE", 10.0): -0.03}
    tuned = tuned_verdicts(_rows(grid, gain), grid, baselines=["BL", "BL+CW"])
    assert tuned.reference == "BL+CW"
    phrases = tuned_phrases(tuned, [*METHODS, "GAMO"], validated={"BL", "BL+CW", "ADOS"})
    assert phrases["tuned_worse_names"] == "FS-SMOTE (-0.015), BL (-0.050)"  # best first
    assert "ADOS (+0.00" in phrases["tuned_equivalent_names"]
    assert phrases["tuned_better_names"] == "none"
    assert phrases["tuned_ratio_better"] == "ADOS at ρ = 100"
    assert phrases["tuned_ratio_worse_all"] == "BL"
    assert phrases["tuned_ratio_worse_some"] == "FS-SMOTE at ρ = 10"
    assert phrases["tuned_ratio_references"] == "BL+CW at ρ = 10 and 100"
    assert phrases["tuned_absent"] == "GAMO"  # in the chapter's grid, not compared
    assert phrases["tuned_untuned"] == "FS-SMOTE"  # compared without validation runs
    assert "smaller than the region of equivalence" in phrases["tuned_reconcile"]
    wide = tuned_phrases(tuned, METHODS, rope=0.002)["tuned_reconcile"]
    assert "exceeds the region of equivalence (up to +0.00" in wide


def test_without_final_runs_every_phrase_says_so() -> None:
    phrases = tuned_phrases(None, ["BL", "ADOS"])
    assert phrases["tuned_absent"] == "BL, ADOS"
    assert phrases["tuned_equivalent_names"] == "none" and phrases["tuned_untuned"] == "none"
    assert set(phrases) == set(tuned_phrases(None, []))  # the same names glued either way


def test_absent_plan_counts_the_protocol_runs_still_missing_and_their_cost() -> None:
    grid = [
        RunConfig(method=m, ratio=r, seed=s, params={"steps": 100})
        for m in ("GAMO", "DOS")
        for r in (10.0, 20.0)
        for s in range(5)
    ]
    done = [c for c in grid if c.method == "DOS"]
    plan = absent_plan(grid, done, pd.Series({"GAMO": 360.0}))
    assert list(plan.index) == ["GAMO"]
    # 4 candidates x 2 ratios x 3 tuning draws, then 2 ratios x 5 draws
    assert plan.loc["GAMO", "validation runs"] == 24 and plan.loc["GAMO", "final runs"] == 10
    assert plan.loc["GAMO", "core-hours"] == (24 + 10) * 360.0 / 3600
    # validation runs the tuning table holds are counted and cost nothing more
    stored = [c.key() for c in tuning_configs([c for c in grid if c.method == "GAMO"], draws=[0])]
    plan = absent_plan(grid, done, pd.Series({"GAMO": 360.0}), stored=[*stored, "other"])
    assert plan.loc["GAMO", "stored"] == 8 and plan.loc["GAMO", "validation runs"] == 24
    assert plan.loc["GAMO", "core-hours"] == (24 - 8 + 10) * 360.0 / 3600
    assert absent_plan(grid, grid, pd.Series(dtype=float)).empty


def test_summary_names_the_reference_and_every_verdict_in_two_sentences() -> None:
    grid = _grid()
    gain = {("BL", 10.0): -0.05, ("BL", 100.0): -0.05}
    tuned = tuned_verdicts(_rows(grid, gain), grid, baselines=["BL", "BL+CW"])
    text = tuned_phrases(tuned, [*METHODS, "GAMO"])["tuned_summary"]
    assert "8 class draws, against the best tuned baseline, BL+CW" in text
    assert "no method beats it by more than ±0.01 ACSA" in text
    assert "1 is worse (BL)" in text and text.endswith("Not in that comparison yet: GAMO.")
    assert "paper profile" in tuned_phrases(None, METHODS)["tuned_summary"]


def test_one_method_against_the_others_reads_only_complete_final_runs() -> None:
    grid = _grid()
    gain = {("ADOS", 10.0): 0.03, ("ADOS", 100.0): 0.03, ("BL+CW", 10.0): 0.029}
    gain |= {("BL+CW", 100.0): 0.031}
    stored = [c for c in grid if not (c.method == "FS-SMOTE" and c.seed == 7)]  # one draw short
    extra = _rows([RunConfig(method="BL", ratio=40.0)], {})  # not a final config: ignored
    rows = final_rows(pd.concat([_rows(stored, gain), extra]), grid)
    assert set(rows["method"]) == {"BL", "BL+CW", "ADOS"} and set(rows["ratio"]) == {10.0, 100.0}
    table = one_against_others(rows, "ADOS", ["BL", "BL+CW", "FS-SMOTE", "ADOS"], ["acsa"])
    assert list(table.index) == ["BL", "BL+CW"]  # FS-SMOTE lacks a draw; ADOS is the focus
    assert table.loc["BL", ("acsa", "verdict")] == "better"
    assert table.loc["BL+CW", ("acsa", "verdict")] == "equivalent"
    assert abs(table.loc["BL", ("acsa", "difference")] - 0.03) < 0.002
    text = against_text(table, "acsa")
    assert text.startswith("better than BL (+0.03") and "; equivalent to BL+CW (+0.00" in text
    assert against_text(pd.DataFrame()) == "not compared under this profile"
    assert one_against_others(rows, "PseudoFeat", ["BL"]).empty  # a focus not in the rows


def test_a_pair_tested_alone_gets_the_numbers_of_the_test_over_every_method() -> None:
    gain = {("ADOS", 10.0): 0.01, ("BL+CW", 100.0): 0.004}
    rows = _rows(_grid(), gain)
    alone = one_against_others(rows, "ADOS", ["BL+CW"], ["acsa"])  # the two methods' rows
    full = across_ratios(rows, "BL+CW", "acsa").loc["ADOS"]  # every method's rows
    assert alone.loc["BL+CW", ("acsa", "difference")] == full["mean difference"]
    assert alone.loc["BL+CW", ("acsa", "verdict")] == full["verdict"]
    assert alone.loc["BL+CW", ("acsa", "95% interval")] == (
        f"[{full['CI low']:+.3f}, {full['CI high']:+.3f}]"
    )


def test_missing_runs_are_listed_with_the_commands_that_fill_them() -> None:
    grid = _grid() + [RunConfig(method="DeepSMOTE", ratio=10.0, seed=s) for s in range(3)]
    rows = _rows([c for c in grid if c.method != "DeepSMOTE"][2:], {})
    plan = missing_plan(grid, rows, "book/data/results/paper.parquet")
    assert plan.set_index("family")["missing"].to_dict() == {"feature_space": 2, "generative": 3}
    text = fill_text(plan).splitlines()
    sweep = "`imbnb sweep book/grids/paper.yaml --store book/data/results/paper.parquet --only"
    assert (
        text[0].startswith("- feature_space: 2 runs (BL 2)")
        and f"{sweep} feature_space`" in text[0]
    )
    assert "GPU" not in text[0]  # minutes on a CPU
    assert text[1].startswith("- generative: 3 runs (DeepSMOTE 3)")
    assert f"{sweep} generative`" in text[1]
    assert "on a lent GPU, `OUT=DIR BUDGET=SECONDS bash benchmarks/gpu_session.sh`" in text[1]
    assert missing_plan(grid, _rows(grid, {}), "t.parquet").empty


def test_methods_on_fewer_draws_are_named_with_their_count() -> None:
    grid = _grid() + [
        RunConfig(method=m, ratio=r, seed=s, params={"loss": "ce", "lr": 0.0002})
        for m in ("GAMO", "GAMO-noD")
        for r in (10.0, 100.0)
        for s in range(4)
    ]
    tuned = tuned_verdicts(_rows(grid, {}), grid, baselines=["BL", "BL+CW"])
    phrases = tuned_phrases(tuned, [*METHODS, "GAMO", "DeepSMOTE"])
    fewer = "GAMO, GAMO-noD on 4 of them, paired with the same reference over those"
    assert phrases["tuned_fewer"] == fewer
    assert f"8 class draws ({fewer}), against the best tuned baseline" in phrases["tuned_summary"]
    assert phrases["tuned_absent"] == "DeepSMOTE"
    assert compared_text(tuned).endswith("FS-SMOTE, GAMO (4 draws), GAMO-noD (4 draws)")
    assert tuned_phrases(None, METHODS)["tuned_fewer"] == "none"
    assert compared_text(None).startswith("none yet")
