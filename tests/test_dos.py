"""Deep Over-sampling's steps (imbnb.estimators.dos): overloading, simplex weights, micro-cluster
losses; and the experiment protocol's pieces in imbnb.methods.dos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import imbnb.estimators.dos as est
import imbnb.methods.dos as methods_dos
from imbnb.estimators.dos import (
    build_overloaded_set,
    class_overloading,
    in_class_neighbors,
    in_class_variance,
    micro_cluster_losses,
    oversampling_rates,
    sample_simplex,
)
from imbnb.methods.dos import DOSConfig, ratio_from_fraction

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray]:
    """Three 2-d blobs of sizes 12, 12, 4 (class 2 is the minority)."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    y = np.repeat([0, 1, 2], [12, 12, 4])
    z = centres[y] + rng.normal(scale=0.5, size=(len(y), 2))
    return z.astype(np.float32), y


def test_overloading_and_rates_follow_section_3_5() -> None:
    ks = class_overloading([0, 1, 2], minority=[2], k=5)
    assert ks == {0: 0, 1: 0, 2: 5}
    counts = {0: 100, 1: 100, 2: 10, 3: 12}
    # eq. 11: R = mean(10, 12) / 100 = 0.11 -> r = ceil(1/R) = 10 for the minority
    assert oversampling_rates(counts, [2, 3]) == {0: 1, 1: 1, 2: 10, 3: 10}
    assert oversampling_rates(counts, [2, 3], r=3) == {0: 1, 1: 1, 2: 3, 3: 3}
    assert oversampling_rates(counts, [], r="auto") == {0: 1, 1: 1, 2: 1, 3: 1}
    with pytest.raises(ValueError):
        oversampling_rates(counts, [2], r=0)
    assert ratio_from_fraction(0.9) == 10 and ratio_from_fraction(0.99) == 100


def test_neighbour_sets_are_in_class_and_start_with_self(toy) -> None:
    z, y = toy
    nbrs = in_class_neighbors(z, y, {0: 0, 1: 3, 2: 5})
    assert nbrs.shape == (len(y), 6)
    assert (nbrs[:, 0] == np.arange(len(y))).all()  # f(x_i) is in N(x_i) (eq. 1)
    assert (nbrs[y == 0, 1:] == -1).all()  # k = 0: N = {f(x_i)}
    ones = nbrs[y == 1]
    assert (ones[:, 1:4] >= 0).all() and (ones[:, 4:] == -1).all()
    assert (y[ones[:, :4]] == 1).all()
    # class 2 has 4 members: at most 3 neighbours besides itself, all of class 2, no repeats
    twos = nbrs[y == 2]
    assert (twos[:, 4:] == -1).all() and (y[twos[:, :4]] == 2).all()
    assert all(len(set(row[:4])) == 4 for row in twos)
    # they are the nearest: brute force on class 1
    rows = np.flatnonzero(y == 1)
    d = ((z[rows, None] - z[None, rows]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    expect = rows[np.argsort(d, axis=1)[:, :3]]
    assert (np.sort(ones[:, 1:4], axis=1) == np.sort(expect, axis=1)).all()


def test_simplex_weights() -> None:
    rng = np.random.default_rng(0)
    w = sample_simplex(rng, 500, np.array([1, 3, 6] * 166 + [2, 2]))
    assert w.shape == (500, 6)
    assert (w >= 0).all() and np.allclose(w.sum(axis=1), 1.0, atol=1e-6)
    assert (w[0, 1:] == 0).all() and w[0, 0] == 1.0
    assert (w[1, 3:] == 0).all()
    # flat Dirichlet on 3 entries: each mean 1/3
    assert np.allclose(w[1::3, :3].mean(axis=0), 1 / 3, atol=0.05)


def test_overloaded_set_size_is_sum_n_j_r_j(toy) -> None:
    z, y = toy
    ks = class_overloading([0, 1, 2], [2], k=3)
    rates = oversampling_rates({0: 12, 1: 12, 2: 4}, [2])
    assert rates[2] == 3
    zset = build_overloaded_set(z, y, ks, rates, np.random.default_rng(0))
    assert len(zset) == 12 + 12 + 4 * 3  # sum_j n_j r_j (eq. 7)
    assert (zset.labels == y[zset.source]).all()
    assert np.allclose(zset.weights.sum(axis=1), 1.0, atol=1e-6)
    assert ((zset.weights > 0) == (zset.neighbors >= 0)).all()
    # each minority sample appears r = 3 times, with different weight vectors
    first = np.flatnonzero(zset.source == np.flatnonzero(y == 2)[0])
    assert len(first) == 3 and not np.allclose(zset.weights[first[0]], zset.weights[first[1]])
    assert np.array_equal(zset.targets, z)
    # k larger than a class: the neighbour set is the whole class, shapes stay consistent
    big = build_overloaded_set(z, y, {0: 0, 1: 0, 2: 10}, rates, np.random.default_rng(0))
    assert big.weights.shape == big.neighbors.shape == (len(big), 11)
    assert ((big.weights > 0) == (big.neighbors >= 0)).all()


def test_micro_cluster_losses_match_hand_computation() -> None:
    fx = torch.tensor([[0.0, 0.0]], requires_grad=True)
    # N(x) = {f(x_i) at round start, v1, v2}; the third column is padding
    targets = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [9.0, 9.0]]])
    w = torch.tensor([[0.5, 0.25, 0.25, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    y = torch.tensor([1])
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        lin.bias.zero_()
    lf, lg = micro_cluster_losses(fx, targets, w, mask, y, lin)
    # eq. 8: 0.5*1 + 0.25*4 + 0.25*18 = 6.0
    assert lf.item() == pytest.approx(6.0)
    # eq. 10: self weight exp(0); v1: exp(-0.25*4); v2: exp(-0.25*18)
    raw = np.array([1.0, np.exp(-1.0), np.exp(-4.5)])
    rho = raw / raw.sum()

    def ce(logits: list[float]) -> float:  # H(g(v), y=1)
        logits_a = np.array(logits)
        return float(-logits_a[1] + np.log(np.exp(logits_a).sum()))

    expect = rho[0] * ce([0, 0]) + rho[1] * ce([0, 2]) + rho[2] * ce([3, 3])
    assert lg.item() == pytest.approx(expect, rel=1e-5)
    (lf + lg).sum().backward()
    # d lf / d f(x) = 2 sum w_i (f - v_i) = 2 * (-(0.5*[1,0] + 0.25*[0,2] + 0.25*[3,3]))
    grad_f = -2 * np.array([0.5 + 0.75, 0.5 + 0.75])
    ce_grad = rho[0] * (np.array([0.5, 0.5]) - np.array([0.0, 1.0]))  # softmax - onehot, via g
    assert np.allclose(fx.grad.numpy()[0], grad_f + ce_grad, atol=1e-5)


def test_in_class_variance(toy) -> None:
    z, y = toy
    v = in_class_variance(z, y)
    assert 0 < v["ratio"] < 0.2  # well separated blobs
    centred = z.copy()
    for c in range(3):
        centred[y == c] = z[y == c].mean(axis=0)
    assert in_class_variance(centred, y)["within"] == pytest.approx(0.0, abs=1e-9)


def test_methods_dos_reexports_the_estimator_and_its_steps() -> None:
    """Code that imports DOS's names from imbnb.methods.dos keeps working."""
    for name in est.__all__:
        assert getattr(methods_dos, name) is getattr(est, name)


def test_dos_config_checks_the_split_settings() -> None:
    with pytest.raises(ValueError, match="exactly one of p"):
        DOSConfig()
    with pytest.raises(ValueError, match="exactly one of p"):
        DOSConfig(p=0.9, ratio=10)
    with pytest.raises(ValueError, match="remove fraction"):
        DOSConfig(p=1.0)
    assert DOSConfig(p=0.99).split_ratio() == 100
    assert DOSConfig(ratio=20).split_ratio() == 20.0
    assert DOSConfig(protocol="none").split_ratio() is None
    cfg = DOSConfig(ratio=20, seed=3, k=4, rounds=2, lambda_f=0.5)
    dos = cfg.estimator([1, 2])
    assert dos.get_config() == {
        "arch": "C6-C16-F400-F120",
        "k": 4,
        "k_majority": 0,
        "minority": [1, 2],
        "r": "auto",
        "rounds": 2,
        "init_epochs": 3,
        "batch_size": 60,
        "lr": 1e-3,
        "lambda_f": 0.5,
        "seed": 3,
    }


def test_chapter_toy_and_worked_example() -> None:
    """Chapter 4's toy round and worked example (imbnb.book.dos_chapter)."""
    chapter = pytest.importorskip("imbnb.book.dos_chapter")
    toy = chapter.toy_overloading(np.random.default_rng(0), k=5, r=8)
    assert toy.neighbors.shape == (6, 2) and toy.targets.shape == (8, 2)
    assert len(toy.local_means) == len(toy.minor) == 18
    assert 0 < toy.var_drop < 1  # local means lie closer to the class centre
    again = chapter.toy_overloading(np.random.default_rng(0), k=5, r=8)
    assert np.array_equal(toy.targets, again.targets)
    table = chapter.worked_example()
    assert table["ℓ'_f (eq. 8)"].iloc[0] == pytest.approx(6.0)  # as in the test above
    assert table["ρ'_i (eq. 10)"].sum() == pytest.approx(1.0, abs=2e-3)


def _fake_results() -> pd.DataFrame:
    """Rows as run_protocol makes them: CNN rows once (k None), DOS rows per k."""
    rows = []
    for p in [0.9, 0.99]:
        for method in ["CNN", "CNN-LR", "CNN-kNN", "DOS", "DOS-LR", "DOS-kNN"]:
            ks = [None] if method.startswith("CNN") else ([3, 5] if p == 0.99 else [5])
            for k in ks:
                score = 0.5 + 0.1 * method.startswith("DOS") + 0.01 * (k or 0) - 0.1 * p
                metrics = {
                    f"{m}_{g}": score
                    for m in ["precision", "recall", "f1", "auprc"]
                    for g in ["min", "maj"]
                }
                rows.append(
                    {"dataset": "toy", "p": p, "k": k, "method": method, "acsa": score, **metrics}
                )
    return pd.DataFrame(rows)


def test_chapter_tables_and_numbers() -> None:
    """Tables 6-7 keep the paper's layout; the quoted numbers come from the right rows."""
    tables = pytest.importorskip("imbnb.book.dos_tables")
    from imbnb.published import load_published

    res, pub = _fake_results(), load_published(paper="ando2017dos")
    t6 = tables.table_6(res, pub, ["toy"], [0.9, 0.99], 5)
    assert list(t6.columns.get_level_values(0).unique()) == ["toy", "paper: MNIST"]
    assert t6.loc[("DOS (k=5)", 0.99, "mnr"), ("toy", "F1")] == pytest.approx(0.6 + 0.05 - 0.099)
    t7 = tables.table_7(res, pub, ["toy"], [3, 5], 5, 0.99)
    assert list(t7.index.get_level_values("model").unique()) == [
        "CNN",
        "CNN-CL",
        "DOS (k=3)",
        "DOS (k=5)",
    ]
    # the paper's DOS rows come from its Table 7 for every k, its CNN rows from Table 6
    paper_dos5 = pub[
        (pub.table == "Table 7")
        & (pub.dataset == "mnist")
        & (pub.method == "DOS (k=5)")
        & (pub.metric == "f1_min")
    ].value.iloc[0]
    assert t7.loc[("DOS (k=5)", "mnr"), ("paper: MNIST", "F1")] == paper_dos5
    nums = tables.classifier_numbers(res, 5, [0.9, 0.99])
    assert nums["dos_f1_min"] == pytest.approx(0.6 + 0.05 - 0.099)
    assert nums["dos_gain_word"] == "raises" and nums["best_method"] == "DOS"
    assert nums["own_vs_cl"] == "on par with"
    k = tables.k_numbers(res, [3, 5], 0.99)
    assert {n: k[n] for n in ("k_spread", "k_best", "ks_text")} == {
        "k_spread": pytest.approx(0.02), "k_best": 5, "ks_text": "3, 5"
    }  # fmt: skip
    assert "varies by 0.020 (best at k = 5)" in k["k_sentence"]
    one = tables.k_numbers(res[res["k"] == 5], [3, 5], 0.99)  # a table holding one k
    assert "only k = 5 has runs yet" in one["k_sentence"]
