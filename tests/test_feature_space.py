"""imbnb.methods.feature_space: the method registry, and the pipeline end to end on Fashion-MNIST.

The end-to-end test runs every chapter-3 method on one small imbalanced split (rho = 100) and
checks what must hold whatever the research outcome: a full metric row per method, class
weighting raising the minority recall over the plain baseline, identical numbers for a rerun
with the same seed, and the per-row cache.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from imbnb.cache import Cache
from imbnb.methods import ExtractorSettings, RunOptions
from imbnb.methods.feature_space import (
    METHODS,
    PSEUDO_FEATURE_METHODS,
    THESIS_METHODS,
    FeatureGrid,
    Features,
    PseudoFeatureGrid,
    cnn_reference_rows,
    get_method,
    make_sampler,
    run_grid,
    run_method,
    run_pseudo_feature_protocol,
)

torch.set_num_threads(2)

# small enough for CI: 400 training images per class before the cut, one epoch, short head
SMALL = dict(
    minority_classes=[0, 2, 5, 8],
    epochs=1,
    batch_size=64,
    n_train=4000,
    n_test=100,
    head={"epochs": 8, "batch_size": 128},
)
SMALL_EXTRACTOR = {k: v for k, v in SMALL.items() if k != "head"}
METRICS = ["accuracy", "acsa", "gmean", "recall_min", "recall_maj", "f1_macro", "f1_min"]


def test_registry_holds_every_chapter_method() -> None:
    assert set(THESIS_METHODS) <= set(METHODS)
    assert set(PSEUDO_FEATURE_METHODS) <= set(METHODS)
    assert get_method("ADOS").weighting == "sample"
    assert get_method("BL+CW").weighting == "class"
    assert get_method("ADOS-noRW").weighting == "none"
    y = np.repeat([0, 1, 2], [50, 50, 3])
    assert make_sampler("BL", y) is None
    assert make_sampler("ADOS-noRW", y, seed=3).reweight is False
    assert make_sampler("FS-SMOTE", y).k_neighbors == 2  # capped: the class has 3 points


@pytest.mark.parametrize("name", ["ados", "SMOTE", "", None])
def test_unknown_method_is_a_clear_error(name) -> None:
    with pytest.raises(ValueError, match="unknown feature-space method.*known methods: BL"):
        get_method(name)


def test_grid_rejects_unknown_method_and_head_option_before_training() -> None:
    options = RunOptions(train=object(), test=object())
    with pytest.raises(ValueError, match="unknown feature-space method 'DOS'"):
        run_grid(grid=FeatureGrid(methods=["BL", "DOS"]), options=options)
    with pytest.raises(ValueError, match="unknown head option 'depth'"):
        run_grid(grid=FeatureGrid(methods=["BL"], head={"depth": 3}), options=options)


def test_grids_take_their_settings_objects_only() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'extractor_weight'"):
        run_grid(extractor_weight="balanced")
    with pytest.raises(TypeError, match="unexpected keyword argument 'class_weight'"):
        cnn_reference_rows("fashion_mnist", [10], [0], class_weight="balanced")
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_minor'"):
        run_pseudo_feature_protocol(n_minor=[1])


def test_run_method_needs_features() -> None:
    with pytest.raises(ValueError, match="pass an extractor or a Features"):
        run_method("BL", None)
    with pytest.raises(TypeError, match="rho"):
        run_method("BL", Features(*[np.zeros(2)] * 4), rho=2)  # a mistyped setting


def test_run_method_on_arrays_counts_synthetic_rows() -> None:
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(3, 1, (6, 4))]).astype(np.float32)
    y = np.repeat([0, 1], [60, 6])
    row = run_method("ADOS", Features(z, y, z, y, minority=[1]), head={"epochs": 2})
    assert row["n_synthetic"] == 54 and row["n_resampled"] == 120
    assert row["method"] == "ADOS" and 0.0 <= row["recall_worst"] <= row["acsa"] <= 1.0


def test_pseudo_feature_protocol_rejects_bad_minor_counts() -> None:
    class Fake:
        n_classes = 10

    with pytest.raises(ValueError, match=r"n_minor values must lie in \[1, 9\]"):
        run_pseudo_feature_protocol(
            grid=PseudoFeatureGrid(n_minor=[0, 10]), options=RunOptions(train=Fake(), test=Fake())
        )


@pytest.fixture(scope="module")
def fmnist():
    from imbnb.data import DatasetNotFoundError, load_dataset

    try:
        return load_dataset("fashion_mnist", "train"), load_dataset("fashion_mnist", "test")
    except DatasetNotFoundError as err:  # pragma: no cover - CI installs the Debian package
        pytest.skip(f"Fashion-MNIST not installed: {err}")


def test_pipeline_end_to_end_on_fashion_mnist(fmnist, tmp_path: Path) -> None:
    train, test = fmnist
    cache = Cache(tmp_path)
    extractor = ExtractorSettings(class_weight="balanced").replace(**SMALL_EXTRACTOR)
    grid = FeatureGrid(THESIS_METHODS, [100], [0], extractor, head=SMALL["head"])
    options = RunOptions(cache=cache, train=train, test=test)
    rows = run_grid(grid=grid, options=options, progress=False)

    # every method yields a full metric row
    assert list(rows["method"]) == list(THESIS_METHODS)
    assert (rows["ratio"] == 100).all() and (rows["minority"] == "0,2,5,8").all()
    for m in METRICS + [f"recall_c{c}" for c in range(10)]:
        assert rows[m].notna().all() and rows[m].between(0, 1).all(), m
    assert (rows["n_train"] == 6 * 400 + 4 * 4).all()  # ceil(400 / 100) minority images
    by = rows.set_index("method")
    assert by.loc["BL", "n_synthetic"] == 0 and by.loc["BL+CW", "n_synthetic"] == 0
    for m in ["FS-SMOTE", "GaussPert", "PseudoFeat", "ADOS", "ADOS-noRW"]:
        assert by.loc[m, "n_resampled"] == 10 * 400, m  # every class up to the majority
    # class weighting raises the minority recall over the plain baseline at rho = 100
    assert by.loc["BL+CW", "recall_min"] > by.loc["BL", "recall_min"]

    # the same seed gives identical numbers (recomputed, not read from the cache)
    again = run_grid(grid=grid, options=options.replace(use_cache=False), progress=False)
    for m in METRICS + ["n_synthetic"]:
        np.testing.assert_array_equal(again[m].to_numpy(), rows[m].to_numpy(), err_msg=m)

    # a second call reads every row from the cache: the stored seconds come back unchanged
    cached = run_grid(grid=grid, options=options, progress=False)
    np.testing.assert_array_equal(cached["seconds"].to_numpy(), rows["seconds"].to_numpy())
    assert len(cache.entries("feature_space_row")) == len(THESIS_METHODS)
    assert all(math.isfinite(s) and s >= 0 for s in rows["seconds"])

    # the CNNs' own classifiers on the same split: the weighted CNN is the heads' extractor
    # (a cache hit), the plain one is trained once more; seconds are the CNN's training time
    cnn = cnn_reference_rows(
        "fashion_mnist", [100], [0], ExtractorSettings(**SMALL_EXTRACTOR), options
    )
    assert list(cnn["method"]) == ["CNN-CE", "CNN-CW"]
    assert len(cache.entries("extractor")) == 2
    assert (cnn["n_train"] == rows["n_train"].iloc[0]).all() and (cnn["n_synthetic"] == 0).all()
    assert (cnn["minority"] == "0,2,5,8").all() and (cnn["ratio"] == 100).all()
    for m in METRICS:
        assert cnn[m].between(0, 1).all(), m
    assert (cnn["seconds"] > 0).all()
    assert (
        cnn.set_index("method").loc["CNN-CW", "recall_min"]
        > cnn.set_index("method").loc["CNN-CE", "recall_min"]
    )
