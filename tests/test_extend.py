"""Bring your own method: a registered sampler runs through grids, pools and tables."""

from __future__ import annotations

import functools

import pytest
from imblearn.over_sampling import SVMSMOTE

from imbnb.experiments import METHODS, expand_grid, register_sampler, sweep
from imbnb.experiments.extend import registered
from imbnb.experiments.tuning import search_space

BASE = {"dataset": "fashion_mnist", "protocol": "minority", "n_train": 1000, "n_test": 10}
PARAMS = {"family:feature_space": {"epochs": 1, "head": {"epochs": 2}}}


def svm_smote(seed: int, k: int) -> SVMSMOTE:
    return SVMSMOTE(k_neighbors=k, random_state=seed)


def test_a_registered_sampler_runs_through_a_pooled_sweep(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    name = register_sampler(
        "FS-SVMSMOTE-test", functools.partial(svm_smote, k=3), "SVM-SMOTE", replace=True
    )
    assert METHODS[name] == "feature_space" and name in registered()
    assert len(search_space(name)) == 4  # the same budget as the book's samplers
    spec = {"base": BASE, "grid": {"ratio": [10], "seed": [0], "method": ["BL", name]}}
    configs = expand_grid({**spec, "params": PARAMS})
    rows = sweep(configs, tmp_path / "r.parquet", workers=2, progress=False)  # spawned workers
    assert rows["method"].tolist() == ["BL", name]
    assert rows["n_synthetic"].iloc[1] > 0 and rows["acsa"].between(0, 1).all()


def test_registration_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="method 'ADOS' exists already"):
        register_sampler("ADOS", SVMSMOTE)
    with pytest.raises(ValueError, match="weighting must be one of"):
        register_sampler("X-test", SVMSMOTE, weighting="both")
    with pytest.raises(ValueError, match="build must be callable"):
        register_sampler("X-test", SVMSMOTE())
    assert "X-test" not in METHODS
