"""imbnb.metrics against sklearn.metrics / imblearn.metrics on random inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)

from imbnb.metrics import Report, evaluate, format_table, summarise

SEEDS = [0, 1, 2, 3, 4]


def _random_case(seed: int, n: int = 300, k: int = 5, acc: float = 0.6):
    """Labels, noisy predictions and matching row-stochastic probabilities."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, size=n)
    y_true[:k] = np.arange(k)  # every class present
    flip = rng.random(n) > acc
    y_pred = np.where(flip, rng.integers(0, k, size=n), y_true)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y_pred] += 2.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y_true, y_pred, proba


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_sklearn_and_imblearn(seed: int) -> None:
    y_true, y_pred, proba = _random_case(seed)
    rep = evaluate(y_true, y_pred, proba)
    s = rep.summary
    assert s["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert s["acsa"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert s["recall_macro"] == pytest.approx(recall_score(y_true, y_pred, average="macro"))
    assert s["precision_macro"] == pytest.approx(
        precision_score(y_true, y_pred, average="macro", zero_division=0)
    )
    assert s["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert s["gmean"] == pytest.approx(geometric_mean_score(y_true, y_pred, average="multiclass"))
    # G-mean is the geometric mean of per-class recalls (ADOS thesis eq. 2.10)
    recalls = recall_score(y_true, y_pred, average=None)
    assert s["gmean"] == pytest.approx(float(np.prod(recalls) ** (1 / len(recalls))))
    onehot = np.eye(proba.shape[1])[y_true]
    assert s["auprc_macro"] == pytest.approx(
        average_precision_score(onehot, proba, average="macro")
    )
    np.testing.assert_array_equal(rep.confusion, confusion_matrix(y_true, y_pred))
    p, r, f, sup = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    np.testing.assert_allclose(rep.per_class["precision"], p)
    np.testing.assert_allclose(rep.per_class["recall"], r)
    np.testing.assert_allclose(rep.per_class["f1"], f)
    np.testing.assert_array_equal(rep.per_class["support"], sup)
    assert list(rep.per_class.columns[:5]) == [
        "precision",
        "recall",
        "f1",
        "support",
        "is_minority",
    ]
    assert not rep.per_class["is_minority"].any()
    assert "gmean_min" not in s and "f1_maj" not in s


@pytest.mark.parametrize("seed", SEEDS)
def test_minority_and_majority_averages(seed: int) -> None:
    y_true, y_pred, proba = _random_case(seed, k=6)
    minority = [4, 1, 5]
    majority = [0, 2, 3]
    rep = evaluate(y_true, y_pred, proba, minority=minority)
    s = rep.summary
    assert rep.minority == [1, 4, 5] and rep.majority == majority
    for suffix, subset in (("min", minority), ("maj", majority)):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=subset, average="macro", zero_division=0
        )
        assert s[f"precision_{suffix}"] == pytest.approx(p)
        assert s[f"recall_{suffix}"] == pytest.approx(r)
        assert s[f"f1_{suffix}"] == pytest.approx(f)
        rec = recall_score(y_true, y_pred, labels=subset, average=None)
        assert s[f"gmean_{suffix}"] == pytest.approx(float(np.prod(rec) ** (1 / len(subset))))
        assert s[f"gmean_{suffix}"] == pytest.approx(
            geometric_mean_score(y_true, y_pred, labels=subset, average="multiclass")
        )
        ap = [average_precision_score(y_true == c, proba[:, c]) for c in subset]
        assert s[f"auprc_{suffix}"] == pytest.approx(np.mean(ap))
    assert rep.per_class["is_minority"].tolist() == [c in minority for c in range(6)]


def test_class_never_predicted_has_precision_zero() -> None:
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 4, size=200)
    y_true[:4] = np.arange(4)
    y_pred = y_true.copy()
    y_pred[y_pred == 3] = 0  # class 3 is never predicted
    y_pred[rng.random(200) < 0.2] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the convention is stated, not warned about
        rep = evaluate(y_true, y_pred, minority=[3])
    assert rep.per_class.loc[3, "precision"] == 0.0
    assert rep.per_class.loc[3, "recall"] == 0.0
    assert rep.per_class.loc[3, "f1"] == 0.0
    assert rep["gmean"] == 0.0 and rep["gmean_min"] == 0.0
    assert rep["precision_macro"] == pytest.approx(
        precision_score(y_true, y_pred, average="macro", zero_division=0)
    )
    assert rep["acsa"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert rep["precision_min"] == 0.0
    assert "precision is 0" in evaluate.__doc__ or "precision 0" in evaluate.__doc__


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explicit_labels_including_an_absent_class(seed: int) -> None:
    y_true, y_pred, proba = _random_case(seed, k=4)
    labels = [0, 1, 2, 3, 4]  # class 4 never occurs
    proba5 = np.column_stack([proba, np.full(len(y_true), 0.01)])
    with pytest.warns(UserWarning, match=r"classes \[4\] have no samples"):
        rep = evaluate(y_true, y_pred, proba5, labels=labels, minority=[3, 4])
    assert rep.confusion.shape == (5, 5)
    assert rep.per_class.index.tolist() == labels
    assert rep.per_class.loc[4, "support"] == 0
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    assert rep["precision_macro"] == pytest.approx(p)
    assert rep["recall_macro"] == pytest.approx(r) == rep["acsa"]
    assert rep["f1_macro"] == pytest.approx(f)
    assert rep["gmean"] == 0.0  # recall 0 for the absent class, as imblearn does
    # AUPRC: NaN per class for the absent one, left out of the averages
    assert np.isnan(rep.per_class.loc[4, "auprc"])
    assert rep["auprc_macro"] == pytest.approx(
        average_precision_score(np.eye(4)[y_true], proba5[:, :4], average="macro")
    )
    assert rep["auprc_min"] == pytest.approx(average_precision_score(y_true == 3, proba5[:, 3]))
    assert all(np.isfinite(v) for v in rep.summary.values())


def test_string_labels_and_label_order() -> None:
    y_true = np.array(["cat", "dog", "dog", "eel", "cat", "eel"])
    y_pred = np.array(["cat", "dog", "cat", "eel", "cat", "dog"])
    rep = evaluate(y_true, y_pred, labels=["eel", "dog", "cat"], minority=["eel"])
    assert rep.per_class.index.tolist() == ["eel", "dog", "cat"]
    np.testing.assert_array_equal(
        rep.confusion, confusion_matrix(y_true, y_pred, labels=["eel", "dog", "cat"])
    )
    assert rep["recall_min"] == 0.5
    assert rep.to_row()["recall_ceel"] == 0.5


def test_labels_default_from_proba_columns() -> None:
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1])
    proba = np.array([[0.9, 0.1, 0.0], [0.4, 0.6, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    with pytest.warns(UserWarning, match="no samples"):
        rep = evaluate(y_true, y_pred, proba)
    assert rep.labels == [0, 1, 2]
    assert rep.confusion.shape == (3, 3)


def test_binary_one_dimensional_score() -> None:
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, size=100)
    score = np.clip(y_true * 0.3 + rng.random(100) * 0.7, 0, 1)
    y_pred = (score > 0.5).astype(int)
    rep = evaluate(y_true, y_pred, score)
    expected = np.mean(
        [average_precision_score(y_true == 0, 1 - score), average_precision_score(y_true, score)]
    )
    assert rep["auprc_macro"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "bad",
    [
        np.ones((10, 3)),  # too few columns
        np.ones((9, 4)),  # too few rows
        np.ones(10),  # 1-D with 4 classes
        np.ones((10, 4, 1)),  # 3-D
    ],
)
def test_proba_shape_errors_name_proba(bad: np.ndarray) -> None:
    y = np.arange(10) % 4
    with pytest.raises(ValueError, match="`proba`"):
        evaluate(y, y, bad, labels=[0, 1, 2, 3])


def test_other_input_errors() -> None:
    y = np.arange(8) % 4
    with pytest.raises(ValueError, match="`proba`"):
        evaluate(y, y, np.full((8, 4), np.nan))
    with pytest.raises(ValueError, match="differ in length"):
        evaluate(y, y[:-1])
    with pytest.raises(ValueError, match="not among labels"):
        evaluate(y, y, minority=[7])
    with pytest.raises(ValueError, match="proper subset"):
        evaluate(y, y, minority=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="not in `labels`"):
        evaluate(y, y, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="1-D"):
        evaluate(y.reshape(2, 4), y.reshape(2, 4))
    with pytest.raises(ValueError, match="pass `labels`"):
        evaluate(y + 10, y + 10, np.ones((8, 4)))


def test_to_row_is_flat_and_complete() -> None:
    y_true, y_pred, proba = _random_case(0, k=3)
    rep = evaluate(y_true, y_pred, proba, minority=[2])
    row = rep.to_row()
    assert isinstance(rep, Report)
    assert all(isinstance(v, float) for v in row.values())
    for k in range(3):
        for col in ("recall", "precision", "f1", "support", "auprc"):
            assert f"{col}_c{k}" in row
        assert row[f"recall_c{k}"] == rep.per_class.loc[k, "recall"]
    assert set(rep.summary) <= set(row)
    assert "Report(accuracy=" in repr(rep)


def test_summarise_mean_and_std_over_seeds() -> None:
    rows = []
    for method in ("baseline", "ados"):
        for seed in range(3):
            y_true, y_pred, proba = _random_case(seed, acc=0.5 if method == "baseline" else 0.8)
            rows.append({"method": method, "seed": seed, **evaluate(y_true, y_pred).to_row()})
    df = pd.DataFrame(rows)
    out = summarise(rows, by="method", metrics=["acsa", "gmean"])
    assert list(out.columns) == ["acsa_mean", "acsa_std", "gmean_mean", "gmean_std", "n"]
    assert out.index.tolist() == ["baseline", "ados"]
    base = df[df.method == "baseline"]["acsa"]
    assert out.loc["baseline", "acsa_mean"] == pytest.approx(base.mean())
    assert out.loc["baseline", "acsa_std"] == pytest.approx(np.std(base, ddof=1))
    assert out.loc["ados", "n"] == 3
    everything = summarise(df, by=["method"])
    assert "seed_mean" not in everything.columns and "recall_c0_mean" in everything.columns
    table = format_table(out, ["acsa"], digits=2, scale=100)
    mu, sd = out.loc["ados", "acsa_mean"] * 100, out.loc["ados", "acsa_std"] * 100
    assert table.loc["ados", "acsa"] == f"{mu:.2f} ± {sd:.2f}"
    single = summarise(rows[:1], by="method", metrics=["acsa"])
    assert format_table(single).iloc[0, 0] == f"{rows[0]['acsa']:.3f}"
    with pytest.raises(ValueError, match="`by`"):
        summarise(rows, by="nope")
