"""Ordinary mistakes get one clear error naming the parameter, file or value; nothing is lost."""

from __future__ import annotations

import gzip
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from imbnb.book.cli import main
from imbnb.experiments import ResultsStore, expand_grid
from imbnb.imbalance import longtail_counts, make_imbalanced
from imbnb.oversample import (
    ADASYN,
    ADOS,
    ROSRUS,
    SMOTE,
    BorderlineSMOTE,
    GaussianPerturbation,
    PseudoFeatures,
    RandomOverSampler,
    RandomUnderSampler,
    WeightedCalibration,
)

SAMPLERS = [
    ROSRUS(ratio=2),
    RandomOverSampler(),
    RandomUnderSampler(),
    SMOTE(k_neighbors=3),
    BorderlineSMOTE(k_neighbors=3),
    ADASYN(n_neighbors=3),
    ADOS(),
    GaussianPerturbation(),
    PseudoFeatures(),
    WeightedCalibration(),
]
COMPUTING = [s for s in SAMPLERS if type(s).__name__ not in {"ROSRUS", "RandomUnderSampler"}]
COMPUTING = [s for s in COMPUTING if type(s).__name__ != "RandomOverSampler"]


def data(n_major=40, n_minor=8, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_major + n_minor, d))
    return X, np.r_[np.zeros(n_major, int), np.ones(n_minor, int)]


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_every_sampler_refuses_x_and_y_of_different_lengths(sampler) -> None:
    X, y = data()
    name = type(sampler).__name__
    with pytest.raises(ValueError, match=f"{name}: X and y must have the same number of rows; "):
        sampler.fit_resample(X, y[:-1])
    with pytest.raises(ValueError, match="got 48 rows in X and 49 labels in y"):
        sampler.fit(X, np.r_[y, 1])


@pytest.mark.parametrize("sampler", COMPUTING, ids=lambda s: type(s).__name__)
def test_features_that_would_overflow_are_refused_not_turned_into_nan(sampler) -> None:
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow reaches numpy
        with pytest.raises(ValueError, match="X holds values up to .* Standardise X"):
            sampler.fit_resample(X * 1e154, y)
        X_res, _ = sampler.fit_resample(X * 1e3, y)  # large but safe: finite rows
    assert np.isfinite(X_res).all()
    # random over-sampling copies rows: no arithmetic, no limit
    assert np.isfinite(RandomOverSampler().fit_resample(X * 1e300, y)[0]).all()


def test_non_finite_synthetic_rows_are_refused(monkeypatch) -> None:
    X, y = data()

    def nan_rows(self, X, y):
        return np.vstack([X, np.full((32, X.shape[1]), np.nan)]), np.r_[y, np.ones(32, int)]

    monkeypatch.setattr(ADOS, "_fit_resample", nan_rows)
    with pytest.raises(ValueError, match="ADOS: 32 of the 32 synthetic rows are not finite"):
        ADOS().fit_resample(X, y)


@pytest.mark.parametrize("case", ["one sample", "duplicates"])
def test_borderline_smote_warns_when_a_class_has_no_borderline_sample(case) -> None:
    X, y = data(n_minor=8)
    if case == "one sample":
        X, y = X[:41], y[:41]
    else:
        X[40:] = X[40]
    with pytest.warns(UserWarning, match=r"BorderlineSMOTE generated fewer rows .*class 1: 0 of"):
        X_res, _ = BorderlineSMOTE(k_neighbors=3).fit_resample(X, y)
    assert len(X_res) == len(X)


def test_a_long_tail_ratio_that_empties_a_class_is_refused_with_the_largest_allowed() -> None:
    y = np.repeat(np.arange(10), 50)
    with pytest.raises(ValueError, match=r"`ratio` = 1000 would empty .* allow is 50"):
        make_imbalanced(y, "longtail", ratio=1000)
    assert min(make_imbalanced(y, "longtail", ratio=50).counts.values()) == 1
    with pytest.raises(ValueError, match="allow is 5000"):
        longtail_counts(5000, 6000)


# ----------------------------------------------------------------------------- the CLI


def one_line_error(capsys, argv) -> str:
    """Run ``imbnb ARGV``: exit code 2, one message on stderr, no traceback."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imbnb: error: ") and "Traceback" not in err, err
    return err


GRID = {
    "base": {"dataset": "fashion_mnist", "protocol": "minority", "n_train": 1000, "n_test": 10},
    "grid": {"ratio": [10], "seed": [0, 1], "method": ["BL", "ADOS"]},
}


def test_grid_mistakes_name_the_file_and_the_field(tmp_path, capsys) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("blocks:\n  - base: {dataset: fashion_mnist\n    grid: [\n")
    err = one_line_error(capsys, ["sweep", path, "--store", tmp_path / "r.parquet"])
    assert f"grid {path}: not valid YAML (line" in err
    path.write_text(yaml.safe_dump({**GRID, "grid": {**GRID["grid"], "seed": 0}}))
    err = one_line_error(capsys, ["sweep", path, "--dry-run"])
    assert "grid field 'seed' must be a non-empty list of values, got 0; write `seed: [0]`" in err
    path.write_text(yaml.safe_dump({**GRID, "base": {**GRID["base"], "n_train": "all"}}))
    assert "n_train must be an integer or null, got 'all'" in one_line_error(
        capsys, ["sweep", path, "--dry-run"]
    )
    with pytest.raises(ValueError, match="'blocks' must be a list"):
        expand_grid({"blocks": {"base": {}}})
    err = one_line_error(capsys, ["sweep", tmp_path / "missing.yaml", "--dry-run"])
    assert "missing.yaml" in err


def test_filters_that_match_nothing_list_what_exists(tmp_path, capsys) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(GRID))
    err = one_line_error(capsys, ["sweep", path, "--where", "method=Nope", "--dry-run"])
    assert "where: method=Nope matches no run; the values of method in the runs selected: " in err
    assert "['ADOS', 'BL']" in err
    err = one_line_error(capsys, ["sweep", path, "--where", "seed=0,7", "--dry-run"])
    assert "seed=7 matches no run" in err and "['0', '1']" in err
    err = one_line_error(capsys, ["sweep", path, "--only", "DOS", "--dry-run"])
    assert "only: ['DOS'] match no run of the grid; its methods: ['ADOS', 'BL']" in err


def test_merge_of_a_damaged_table_is_refused_by_name_and_writes_nothing(tmp_path, capsys) -> None:
    side = tmp_path / "side.parquet"
    side.write_bytes(b"PAR1" + os.urandom(200) + b"PAR1")
    (tmp_path / "side.provenance.json").write_text('[{"runs_added": 1}]')
    into = tmp_path / "into.parquet"
    err = one_line_error(capsys, ["merge", side, "--into", into])
    assert f"results file {side} is damaged and was refused" in err
    assert not into.exists()
    err = one_line_error(capsys, ["store", "verify", side])
    assert "damaged" in err


def test_cache_clear_removes_a_linked_entry_but_not_its_target(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("IMBNB_CACHE", str(cache))
    from imbnb.cache import Cache

    c = Cache(cache)
    c.save_json("extractor", {"a": 1}, {"x": 1})
    entry = c.entries()[0]
    elsewhere = tmp_path / "elsewhere"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere, target_is_directory=True)
    assert main(["cache", "clear"]) == 0
    assert "removed 1 cached entries" in capsys.readouterr().out
    assert not entry.exists() and not entry.is_symlink() and (elsewhere / "config.json").exists()


def test_a_damaged_dataset_file_is_named(tmp_path, monkeypatch) -> None:
    from imbnb.data import load_dataset

    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\xff" + b"\x00" * 8))
    monkeypatch.setenv("IMBNB_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz is truncated.*Reinstall"):
        load_dataset("fashion_mnist", split="train")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz is damaged"):
        load_dataset("fashion_mnist", split="train")


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("epochs", "[10,", "-p epochs: '[10,' is not a valid value"),
        ("seeds", "3", "chapter 01_motivation: parameter 'seeds' must be a list, e.g. [1, 2]"),
        (
            "epochs",
            "three",
            "parameter 'epochs' must be an integer (its default is 3); got 'three'",
        ),
        ("epochs", "null", "must be an integer (its default"),
    ],
)
def test_book_run_parses_and_type_checks_values_before_any_chapter(
    name, value, message, tmp_path, capsys
) -> None:
    out = tmp_path / "out"
    argv = ["book", "run", "--chapter", "1", "-p", name, value, "--out", out]
    assert message in one_line_error(capsys, argv)
    assert not out.exists() or not list(out.glob("*.ipynb"))  # nothing ran


def test_store_keeps_rows_when_a_bad_row_is_refused(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.parquet")
    store.append([{"config_hash": "a", "x": 1.0}])
    with pytest.raises(ValueError, match="not a usable name"):
        store.append([{"config_hash": "b", "x": 2.0}, {"config_hash": "bad/name", "x": 3.0}])
    assert sorted(store.load()["config_hash"]) == ["a", "b"]
    pd.testing.assert_frame_equal(store.load(), store.load())
