"""Bring your own method: a registered sampler, loss or estimator runs through grids, pools and
tables."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from imblearn.over_sampling import SVMSMOTE
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from imbnb.experiments import (
    METHODS,
    expand_grid,
    register_estimator,
    register_loss,
    register_sampler,
    sweep,
)
from imbnb.experiments.extend import registered, unregister
from imbnb.experiments.tuning import search_space
from imbnb.losses import LOSSES, ImbalanceLoss


@pytest.fixture(autouse=True)
def _forget_registrations():
    """A test's registrations end with it, so later tests see the book's methods only."""
    before = set(registered())
    yield
    for name in set(registered()) - before:
        unregister(name)


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


class HalvedCE(ImbalanceLoss):
    """A reader's loss: cross-entropy times ``factor`` (a knob for the search)."""

    def __init__(self, class_counts=None, factor: float = 0.5) -> None:
        super().__init__()
        self.factor = factor

    def per_sample(self, logits, target):
        return self.factor * torch.nn.functional.cross_entropy(logits, target, reduction="none")


def flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1) / 255.0


def pixel_logreg(seed: int):
    return make_pipeline(FunctionTransformer(flat), LogisticRegression(max_iter=50))


LOSS_PARAMS = {"family:losses": {"epochs": 1}}


def test_a_registered_loss_and_estimator_run_through_a_pooled_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    loss = register_loss(
        "Halved-CE-test", HalvedCE, "CE / 2", search=[{"factor": f} for f in (0.25, 0.5)],
        replace=True,
    )  # fmt: skip
    est = register_estimator("PixelLR-test", pixel_logreg, "logistic regression", replace=True)
    assert METHODS[loss] == "losses" and METHODS[est] == "estimator"
    assert search_space(loss) == [
        {"loss_params": {"factor": 0.25}},
        {"loss_params": {"factor": 0.5}},
    ]
    assert search_space(est) == [{}]
    spec = {"base": BASE, "grid": {"ratio": [10], "seed": [0], "method": [loss, est]}}
    configs = expand_grid({**spec, "params": LOSS_PARAMS})
    rows = sweep(configs, tmp_path / "r.parquet", workers=2, progress=False)  # spawned workers
    assert rows["method"].tolist() == [loss, est]
    assert rows["family"].tolist() == ["losses", "estimator"]
    assert rows["acsa"].between(0, 1).all() and (rows["network_seconds"] > 0).all()
    assert {"kind": "loss"}.items() <= registered()[loss].items()


def test_loss_and_estimator_registration_errors_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="method 'Focal' exists already"):
        register_loss("Focal", HalvedCE)
    with pytest.raises(ValueError, match=r"head must be one of \['linear', 'cosine'\]"):
        register_loss("X-loss", HalvedCE, head="mlp")
    with pytest.raises(ValueError, match="search must hold at least one candidate"):
        register_loss("X-loss", HalvedCE, search=[])
    with pytest.raises(ValueError, match="make must build the loss .* got a loss instance"):
        register_loss("X-loss", HalvedCE())
    with pytest.raises(ValueError, match=r"make must be callable as make\(class_counts=..."):
        register_loss("X-loss", "ce")
    with pytest.raises(ValueError, match=r"build must be callable as build\(seed\) -> estimator"):
        register_estimator("X-est", pixel_logreg(0))
    with pytest.raises(ValueError, match="method 'GAMO' exists already"):
        register_estimator("GAMO", pixel_logreg)
    assert "X-loss" not in METHODS and "X-est" not in METHODS


def test_unregister_removes_a_registration_and_refuses_the_books_methods() -> None:
    name = register_loss("Gone-test", HalvedCE, replace=True)
    assert name in METHODS and "registered:Gone-test" in LOSSES
    unregister(name)
    assert name not in METHODS and "registered:Gone-test" not in LOSSES
    with pytest.raises(ValueError, match="'Focal' was not registered by register_sampler"):
        unregister("Focal")
