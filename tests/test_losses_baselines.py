"""Loss-based baselines end to end (imbnb.methods.losses_baselines) on a tiny synthetic split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imbnb.cache import Cache
from imbnb.data import make_synthetic
from imbnb.methods.losses_baselines import (
    LOSS_METHODS,
    LossGrid,
    LossRunSettings,
    RunOptions,
    make_split,
    method_row,
    run_loss_grid,
    train_with_loss,
)

torch.set_num_threads(2)

TINY = {"epochs": 1, "batch_size": 32, "n_train": None, "n_test": 10}
METRICS = ["accuracy", "acsa", "gmean", "recall_min", "f1_min", "precision_min", "recall_maj"]


@pytest.fixture(scope="module")
def data():
    """A learnable 4-class 28x28 problem: 40 training and 10 test images per class."""
    train = make_synthetic(40, n_classes=4, size=28, seed=0, split="train")
    test = make_synthetic(10, n_classes=4, size=28, seed=1, split="test")
    return train, test


@pytest.fixture(scope="module")
def grid(data, tmp_path_factory):
    """Every method once on the minority protocol (class 0 cut to 40 / 4 = 10 images)."""
    train, test = data
    cache = Cache(tmp_path_factory.mktemp("cache"))
    kw = dict(protocol="minority", minority_classes=[0], n_minority=1, cache=cache, **TINY)
    df = run_loss_grid(
        "synthetic", ratios=[4], seeds=[0], train=train, test=test, progress=False, **kw
    )
    return df, cache, kw


def test_every_method_gives_a_full_metric_row(grid):
    df, _, _ = grid
    assert list(df["method"]) == list(LOSS_METHODS)
    assert set(METRICS) <= set(df.columns)
    assert df[METRICS].notna().all().all()
    assert ((df[METRICS] >= 0) & (df[METRICS] <= 1)).all().all()
    assert (df["n_train"] == 3 * 40 + 10).all()
    assert (df["minority"] == "0").all()
    # post-hoc adjustment reuses the BL network: no training of its own
    bl, ph = (df.set_index("method").loc[m] for m in ("CNN-CE", "LogitAdj-posthoc"))
    assert ph["seconds"] == bl["seconds"] and ph["wall_seconds"] < 0.5


def test_rerun_is_a_cache_hit_with_identical_rows(grid, data):
    df, _, kw = grid
    train, test = data
    again = run_loss_grid(
        "synthetic", ratios=[4], seeds=[0], train=train, test=test, progress=False, **kw
    )
    assert again["from_cache"].all() and not df["from_cache"].any()
    cols = ["method", *METRICS]
    assert again[cols].equals(df[cols])
    # the same grid as settings objects reads the same cache entries
    run = LossRunSettings(
        protocol="minority", minority_classes=[0], n_minority=1, **{k: v for k, v in TINY.items()}
    )
    grid = LossGrid(ratios=[4], seeds=[0], run=run)
    opts = RunOptions(cache=kw["cache"], train=train, test=test)
    third = run_loss_grid("synthetic", grid=grid, options=opts, progress=False)
    assert third["from_cache"].all() and third[cols].equals(df[cols])


def test_changed_parameter_is_a_cache_miss(grid, data):
    _, cache, kw = grid
    train, test = data
    run = train_with_loss(
        "focal",
        "synthetic",
        ratio=4,
        train=train,
        test=test,
        loss_params={"focal": {"gamma": 1.0}},
        **kw,
    )
    assert not run.from_cache
    assert run.config["loss_params"] == {"gamma": 1.0}


def test_seeded_training_is_deterministic(data):
    train, test = data
    kw = dict(
        protocol="minority",
        ratio=4,
        minority_classes=[0],
        train=train,
        test=test,
        use_cache=False,
        **TINY,
    )
    a = train_with_loss("ldam_drw", head="cosine", seed=3, **kw)
    b = train_with_loss("ldam_drw", head="cosine", seed=3, **kw)
    c = train_with_loss("ldam_drw", head="cosine", seed=4, **kw)
    np.testing.assert_array_equal(a.logits_test, b.logits_test)
    settings = LossRunSettings(
        loss="ldam_drw", head="cosine", seed=3, ratio=4, minority_classes=[0], **TINY
    )
    d = train_with_loss(settings, options=RunOptions(use_cache=False, train=train, test=test))
    np.testing.assert_array_equal(a.logits_test, d.logits_test)
    assert d.config == a.config
    assert not np.array_equal(a.logits_test, c.logits_test)
    # cosine head: logits are cosines in [-1, 1]
    assert np.abs(a.logits_test).max() <= 1 + 1e-5


def test_posthoc_row_follows_the_formula(data):
    train, test = data
    run = train_with_loss(
        "ce",
        protocol="minority",
        ratio=4,
        minority_classes=[0],
        train=train,
        test=test,
        use_cache=False,
        **TINY,
    )
    pi = run.train_counts / run.train_counts.sum()
    pred = (run.logits_test - 2.0 * np.log(pi)).argmax(axis=1)  # Menon et al.: logits - tau log pi
    row = method_row("LogitAdj-posthoc", run, tau=2.0)
    assert row["accuracy"] == pytest.approx(float((pred == run.y_test).mean()))
    assert method_row("CNN-CE", run)["accuracy"] == pytest.approx(
        float((run.logits_test.argmax(axis=1) == run.y_test).mean())
    )


def test_longtail_split_and_unknown_names(data):
    train, _ = data
    split, idx = make_split(
        train, protocol="longtail", ratio=10, seed=0, n_train=None, lt_rho_prime=3
    )
    counts = np.bincount(train.labels[idx], minlength=4)
    np.testing.assert_array_equal(counts, [40, 18, 8, 4])  # floor(40 * 10^(-i/3))
    assert split.minority_classes == [2, 3]  # n_c <= 40 / 3
    with pytest.raises(ValueError, match="protocol"):
        make_split(train, protocol="counts", ratio=10, seed=0, n_train=None)
    with pytest.raises(ValueError, match="unknown method"):
        run_loss_grid("synthetic", methods=["nope"], train=train, test=train)
