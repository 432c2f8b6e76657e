"""Chapters 6-7 under `paper` read their count-list runs from committed tables: configs, splits,
refusals, and the rows a sweep stores against the chapters' own computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imbnb import paths
from imbnb.book import calibration_chapter, generative_runs
from imbnb.book.calibration_chapter import knob_configs, knob_effects, knob_rows, knob_sentence
from imbnb.book.chapters_grid import chapter_configs
from imbnb.book.generative_runs import (
    GenerativeSettings,
    comparison_configs,
    comparison_rows,
    figure_ae,
    figure_sentence,
    generative_params,
    missing_of,
    penalty_configs,
    penalty_effects,
    penalty_rows,
    penalty_sentence,
    penalty_table,
    runs_sentence,
    table_dataset,
)
from imbnb.book.runner import chapter_values
from imbnb.book.table_source import Source, chapter_source
from imbnb.data import load_dataset
from imbnb.experiments import load_grid, sweep
from imbnb.experiments.splits import run_split
from imbnb.methods.deepsmote import count_protocol
from imbnb.train import torch_threads

GRIDS = paths.book_dir() / "grids"
WC = "DeepDenoising+WC"


@pytest.mark.parametrize(("chapter", "read_configs", "n_runs", "n_paper"), [
    ("06_deepsmote", generative_runs.read_configs, 2 * 3 * 7 + 3 * 2, 21),
    ("07_weighted_calibration", calibration_chapter.read_configs, 3 * 6 + 3 * 6, 18),
])  # fmt: skip
def test_paper_runs_are_chapter_8s_rows_then_the_chapters_grid(
    chapter, read_configs, n_runs, n_paper
) -> None:
    parts = read_configs(chapter_values(chapter, "paper"))  # what the chapter lists
    read = [c.key() for part in parts.values() for c in part]
    if table_dataset("mnist") == "mnist5k":  # where full MNIST is not on disk: the grid's runs
        assert read == [c.key() for c in chapter_configs(chapter, "paper")]
    wanted = set(read)
    assert len(wanted) == n_runs
    paper = wanted & {c.key() for c in load_grid(GRIDS / "paper.yaml")}
    assert len(paper) == n_paper  # chapter 8's; the others are chapters.yaml's


def test_params_are_written_as_chapter_8s_grid_writes_them() -> None:
    ae = {"width": 64, "epochs": 50, "lr": 3e-4, "latent_dim": 300, "noise_sigma": 0.1}
    s = GenerativeSettings(1.0, None, ae, {"epochs": 20, "hidden": [256, 128]})
    assert generative_params("DeepSMOTE", s) == {
        "ae": {"width": 64, "epochs": 50, "lr": 3e-4, "noise_sigma": 0.1},
        "classifier": {"epochs": 20},
    }
    wc = generative_params(WC, s, {"k": 5})
    assert wc["sampler_params"] == {"k": 5, "max_components": 10}


@pytest.mark.parametrize(("dataset", "count_scale"), [("fashion_mnist", 0.3), ("mnist", 1.0)])
def test_a_run_configs_split_is_the_chapters(dataset, count_scale) -> None:
    s = GenerativeSettings(count_scale, 30, {}, {})
    (cfg,) = comparison_configs([dataset], [1], ["DeepSMOTE"], s, "paper")
    train, test, split, name = count_protocol(dataset, count_scale=count_scale, seed=1, n_test=30)
    assert cfg.dataset == name == table_dataset(dataset)
    full_train, full_test = load_dataset(name, "train"), load_dataset(name, "test")
    got = run_split(cfg, full_train, full_test)
    assert np.array_equal(full_train.images[got["train_indices"]], train.images)
    assert np.array_equal(full_test.labels[got["test_indices"]], test.labels)
    assert train.fingerprint() == full_train.subset(got["train_indices"]).fingerprint()


def test_reading_tables_refuses_what_a_run_config_cannot_hold() -> None:
    s = GenerativeSettings(1.0, None, {"width": 4}, {})
    with pytest.raises(ValueError, match="methods must be generative-family"):
        comparison_configs(["fashion_mnist"], [0], ["DeepSMOTE", "DOS"], s, "paper")
    with pytest.raises(ValueError, match=r"ae holds unknown setting\(s\) \['depth'\]"):
        comparison_configs(["fashion_mnist"], [0], ["DeepSMOTE"],
                           GenerativeSettings(1.0, None, {"depth": 3}, {}), "paper")  # fmt: skip
    with pytest.raises(ValueError, match=r"classifier holds unknown setting\(s\) \['dropout'\]"):
        generative_params("MLP-pixels", GenerativeSettings(1.0, None, {}, {"dropout": 0.5}))
    with pytest.raises(ValueError, match="own_results_source needs results_source"):
        chapter_source("compute", "book/data/results/chapters.parquet", "paper", False)


def test_figure_sentence_says_the_scale() -> None:
    ae = {"width": 64, "epochs": 50, "lr": 3e-4}
    assert figure_ae(ae, None, None, None) == ae
    assert "comparison's own autoencoders" in figure_sentence(ae, ae, 0)
    small = figure_ae(ae, 16, 3, 1e-3)
    text = figure_sentence(ae, small, 0)
    assert "width 16, 3 epochs at learning rate 0.001, against width 64, 50 epochs" in text


TINY_AE = {"width": 4, "latent_dim": 8, "epochs": 1, "batch_size": 50, "lr": 1e-3}
TINY = GenerativeSettings(0.05, 10, TINY_AE, {"epochs": 1})
METHODS = ["MLP-pixels", "DeepSMOTE", WC]
KNOBS = {"k": ("k", [1, 3])}
MODES = ["official", "paired"]


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame's computed numbers (metrics and counts), not its timings or bookkeeping."""
    keep = ["seed", "n_synthetic", "recon_mse_test", "recall_macro", "precision_macro",
            "f1_macro", "gmean", "acsa", "accuracy"]  # fmt: skip
    return frame[[c for c in keep if c in frame]].reset_index(drop=True).astype(float)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny comparison, penalty comparison and k sweep, swept into a table with one cache and
    computed by the chapters' own path with another."""
    root = tmp_path_factory.mktemp("generative")
    wc = {"k": 3, "max_components": 2}
    configs = [
        *comparison_configs(["fashion_mnist"], [0], METHODS, TINY, "paper", {WC: wc}),
        *penalty_configs("fashion_mnist", [0], MODES, TINY, "paper"),
        *knob_configs("fashion_mnist", [0], KNOBS, wc, TINY, "paper"),
    ]
    data = count_protocol("fashion_mnist", count_scale=0.05, seed=0, n_test=10)
    data = (data[0], data[1], data[3])
    frames = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMBNB_CACHE", str(root / "sweep"))
        sweep(configs, root / "t.parquet", progress=False)
        for name, source in [("computed", Source()), ("read", Source(str(root / "t.parquet"),
                                                                     "paper"))]:  # fmt: skip
            mp.setenv("IMBNB_CACHE", str(root / name))
            # one thread, as a sweep trains (float sums, hence trained weights, depend on the
            # thread count: a chapter computing on more threads gets other weights by design)
            with torch_threads(1):
                frames[name] = (
                    comparison_rows(["fashion_mnist"], [0], METHODS, TINY, source, {WC: wc}),
                    penalty_rows(data, [0], MODES, TINY, source),
                    knob_rows("fashion_mnist", [0], KNOBS, wc, TINY, source),
                )
    return frames, configs, root


def test_table_rows_are_the_chapters_own_numbers(tiny) -> None:
    frames, _, _ = tiny
    computed, read = frames["computed"], frames["read"]
    assert read[0]["from_table"].all()
    assert list(read[0]["method"]) == list(computed[0]["method"]) == METHODS
    for mine, stored in zip(computed, read, strict=True):
        pd.testing.assert_frame_equal(_numbers(stored), _numbers(mine), check_exact=True)
    assert list(read[1]["penalty"]) == MODES
    assert read[2][["knob", "value", "seed"]].values.tolist() == [["k", 1, 0], ["k", 3, 0]]
    pen = [penalty_table(r, MODES) for r in (computed[1], read[1])]
    pd.testing.assert_frame_equal(pen[0], pen[1], check_exact=True)
    assert penalty_sentence(pen[0], MODES, 1) == penalty_sentence(pen[1], MODES, 1)


def test_missing_runs_are_listed_and_said(tiny, monkeypatch) -> None:
    _, configs, root = tiny
    monkeypatch.setenv("IMBNB_CACHE", str(root / "sweep"))
    half = [c for c in configs if c.method != WC]
    sweep(half, root / "half.parquet", progress=False)
    source = chapter_source(str(root / "half.parquet"), str(root / "half.parquet"), "paper", True)
    wc = {"k": 3, "max_components": 2}
    rows = comparison_rows(["fashion_mnist"], [0], METHODS, TINY, source, {WC: wc})
    assert list(rows["method"]) == METHODS[:2]
    comparison = comparison_configs(["fashion_mnist"], [0], METHODS, TINY, "paper", {WC: wc})
    assert "which hold 2 of the 3" in runs_sentence(source, comparison, rows)
    knobs = knob_configs("fashion_mnist", [0], KNOBS, wc, TINY, "paper")
    missing = missing_of(source, {"comparison": comparison, "k and cap": knobs})
    assert missing["missing"].to_dict() == {
        ("comparison", "counts", "generative", WC): 1,
        ("k and cap", "counts", "generative", WC): 2,
    }
    assert "no value of k" in knob_sentence(knob_rows("fashion_mnist", [0], KNOBS, wc, TINY,
                                                      source), KNOBS, wc)  # fmt: skip
    paired = penalty_table(pd.DataFrame({"penalty": ["official"], "seed": [0], "f1_macro": [0.5],
                                         "recon_mse_test": [0.1], "recall_macro": [0.5],
                                         "gmean": [0.4]}), MODES)  # fmt: skip
    assert "do not hold the runs with penalty paired yet" in penalty_sentence(paired, MODES, 1)
    with pytest.raises(ValueError, match="hold 2 of the 3 runs"):
        comparison_rows(["fashion_mnist"], [0], METHODS, TINY,
                        chapter_source(str(root / "half.parquet"), str(root / "half.parquet"),
                                       "paper", False), {WC: wc})  # fmt: skip


def _knob_sweep(shift_k1: float, seeds: int = 3) -> pd.DataFrame:
    """Chapter 7's sweep shape: k and cap, their shared default run (k 3, cap 10) alike."""
    rng = np.random.default_rng(0)
    base = {s: 0.8 + 0.003 * rng.standard_normal() for s in range(seeds)}
    rows = []
    for knob, values in [("k", [1, 3, 5]), ("cap", [3, 10, 30])]:
        for v in values:
            for s in range(seeds):
                default = (knob, v) in {("k", 3), ("cap", 10)}
                noise = 0.0 if default else 0.002 * rng.standard_normal()
                gain = shift_k1 if (knob, v) == ("k", 1) else 0.0
                rows.append({"knob": knob, "value": v, "seed": s,
                             "f1_macro": base[s] + noise + gain})  # fmt: skip
    return pd.DataFrame(rows)


CHAPTER7_KNOBS = {"k": ("k", [1, 3, 5]), "cap": ("max_components", [3, 10, 30])}
CHAPTER7_DEFAULT = {"k": 3, "max_components": 10}


def test_knob_effects_pair_every_setting_with_the_default_over_seeds() -> None:
    effects = knob_effects(_knob_sweep(0.03), CHAPTER7_KNOBS, CHAPTER7_DEFAULT)
    assert list(effects.index) == ["k = 1", "k = 5", "cap = 3", "cap = 30"]
    assert (effects["draws"] == 3).all()  # the seed is the unit
    assert effects.loc["k = 1", "verdict"] == "better"
    assert effects.loc["k = 1", "mean difference"] == pytest.approx(0.03, abs=0.005)
    assert (effects.drop("k = 1")["verdict"] == "cannot be told apart").all()
    text = knob_sentence(_knob_sweep(0.03), CHAPTER7_KNOBS, CHAPTER7_DEFAULT)
    assert "Against the default (k = 3, cap = 10), paired over 3 seeds" in text
    assert "better: k = 1 by 0.03" in text and "the rest cannot be told apart" in text
    assert "across the 4 other settings" in text and "best at k = 1" in text


def test_knob_sentence_says_what_one_seed_cannot_test() -> None:
    one = _knob_sweep(0.03, seeds=1)
    assert knob_effects(one, CHAPTER7_KNOBS, CHAPTER7_DEFAULT).empty
    text = knob_sentence(one, CHAPTER7_KNOBS, CHAPTER7_DEFAULT)
    assert "on seed 0 (the one that holds every value)" in text
    assert "no difference can be tested" in text and "better" not in text
    flat = knob_sentence(_knob_sweep(0.0), CHAPTER7_KNOBS, CHAPTER7_DEFAULT)
    assert "the seeds cannot tell any setting apart from it" in flat
    assert "better" not in flat and "worse" not in flat


def test_penalty_effects_test_each_mode_against_the_authors_over_seeds() -> None:
    rows = pd.DataFrame(
        [
            {"penalty": mode, "seed": s, "f1_macro": 0.80 + 0.01 * s + gain + 0.001 * (-1) ** s,
             "recon_mse_test": 0.02 + 0.001 * s + (0.005 if mode == "paired" else 0.0),
             "recall_macro": 0.8, "gmean": 0.7}
            for s in range(3)
            for mode, gain in [("official", 0.0), ("paired", 0.0), ("none", 0.0)]
        ]
    )  # fmt: skip
    modes = ["official", "paired", "none"]
    effects = penalty_effects(rows, modes)
    assert set(effects.index) == {(m, p) for m in ("f1_macro", "recon_mse_test")
                                  for p in ("paired", "none")}  # fmt: skip
    assert (effects["draws"] == 3).all()
    assert effects.loc[("recon_mse_test", "paired"), "verdict"] == "better"  # higher error
    assert effects.loc[("f1_macro", "paired"), "verdict"] == "cannot be told apart"
    text = penalty_sentence(penalty_table(rows, modes), modes, 3, effects)
    assert "Against the authors' penalty, paired over 3 seeds" in text
    assert "paired: F1 not told apart" in text and "reconstruction error higher (+0.0050" in text
    assert "unadjusted 95% interval" in text and "Holm-adjusted p " in text
    assert penalty_effects(rows[rows.seed == 0], modes).empty  # one seed: nothing to test
    assert "Against the authors'" not in penalty_sentence(penalty_table(rows, modes), modes, 1)
    partial = rows[(rows.penalty == "official") | ((rows.penalty == "paired") & (rows.seed == 0))]
    table = penalty_table(partial, modes)
    assert table["seeds"].tolist() == [3, 1]
    text = penalty_sentence(table, modes, 3, penalty_effects(partial, modes))
    assert "F1 of 0.810 (means over 3 seeds)" in text and "(one seed)" in text
    assert "hold 1 of the 3 seeds of penalty paired so far" in text
    assert "Against the authors'" not in text and "penalty none yet" in text


def test_knob_effects_skip_a_setting_no_seed_holds_yet() -> None:
    sweep = _knob_sweep(0.03)
    partial = sweep[~((sweep.knob == "cap") & (sweep.value == 30))]
    effects = knob_effects(partial, CHAPTER7_KNOBS, CHAPTER7_DEFAULT)
    assert list(effects.index) == ["k = 1", "k = 5", "cap = 3"] and (effects["draws"] == 3).all()
    one_listing = sweep[~((sweep.knob == "k") & (sweep.value == 3))]  # cap 10 is the same run
    assert len(knob_effects(one_listing, CHAPTER7_KNOBS, CHAPTER7_DEFAULT)) == 4
    no_default = one_listing[~((one_listing.knob == "cap") & (one_listing.value == 10))]
    assert knob_effects(no_default, CHAPTER7_KNOBS, CHAPTER7_DEFAULT).empty
