"""Statistics with the class draw as the unit: textbook values and the libraries' own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imbnb.experiments import across_ratios, draw_ranks, per_ratio_comparison
from imbnb.experiments.statistics import (
    _holm,
    _t_summary,
    against_reference,
    draw_table,
    format_p,
)


def results(n_draws: int = 8, gain_b: float = 0.05) -> pd.DataFrame:
    """Methods A (reference), B (better by ``gain_b``), C (A plus noise of 1e-4)."""
    rows = []
    for seed in range(n_draws):
        for ratio in (10, 100):
            base = 0.5 + 0.01 * seed + (0.002 * seed if ratio == 100 else 0)
            for method, gain in [("A", 0.0), ("B", gain_b), ("C", 0.0001 * (-1) ** seed)]:
                rows.append({"seed": seed, "ratio": ratio, "method": method, "acsa": base + gain})
    return pd.DataFrame(rows)


def test_holm_on_a_known_p_vector() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    adjusted = _holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(_holm([0.01, np.nan], alpha=0.05)[1])


def test_t_interval_and_p_of_paired_differences() -> None:
    # d = 1..5: mean 3, sd 1.5811, t = 4.243 on 4 df, p = 0.0132; 95% CI 3 +- 2.776 * 0.7071
    mean, lo, hi, p = _t_summary(np.array([1.0, 2, 3, 4, 5]), alpha=0.05)
    assert mean == 3.0 and p == pytest.approx(0.01324, abs=1e-4)
    assert (lo, hi) == (pytest.approx(1.0367, abs=1e-3), pytest.approx(4.9633, abs=1e-3))


def test_against_reference_pairs_over_draws_with_holm_across_columns() -> None:
    # B - A = 1..5 per draw (the textbook case above); C - A = 0.1 * (-1)^draw
    table = pd.DataFrame(
        {"A": [0.0] * 5, "B": [1.0, 2, 3, 4, 5], "C": [0.1, -0.1, 0.1, -0.1, 0.1]},
        index=pd.Index(range(5), name="seed"),
    )
    out = against_reference(table, "A")
    assert list(out.index) == ["B", "C"] and (out["reference"] == "A").all()
    assert out.loc["B", "p"] == pytest.approx(0.01324, abs=1e-4)
    # Holm over two p-values: the smaller doubled, the larger kept (monotone)
    np.testing.assert_allclose(out["p (Holm)"], _holm(out["p"].to_numpy(), alpha=0.05))
    assert out.loc["B", "p (Holm)"] == pytest.approx(2 * out.loc["B", "p"])
    assert out.loc["B", "verdict"] == "better" and out.loc["C", "verdict"] == "cannot be told apart"
    assert against_reference(table[["A"]], "A").empty  # nothing to compare: no row


def test_draws_are_the_unit_not_the_settings() -> None:
    rows = results(n_draws=8)
    wide = draw_table(rows, "acsa")
    assert wide.shape == (16, 3)  # 2 ratios x 8 draws
    per = per_ratio_comparison(rows, ["A"], "acsa")
    assert (per["draws"] == 8).all() and set(per.index.get_level_values("ratio")) == {10, 100}
    assert (per.xs("B", level="method")["verdict"] == "better").all()
    assert (per.xs("C", level="method")["verdict"] == "cannot be told apart").all()
    assert (per["p (Holm)"] >= per["p"]).all()
    across = across_ratios(rows, "A")
    assert across.loc["B", "draws"] == 8  # not 16: ratios averaged within each draw first
    assert across.loc["B", "mean difference"] == pytest.approx(0.05)
    assert across.loc["B", "verdict"] == "better" and across.loc["B", "P(better)"] > 0.95
    assert across.loc["C", "verdict"] == "equivalent"  # |difference| far inside the rope
    ranks = draw_ranks(rows)
    assert ranks.index[0] == "B" and (ranks["draws"] == 8).all()
    assert ranks.attrs["autorank"] is not None  # five draws or more: autorank's procedure
    assert ranks.attrs["friedman_p"] < 0.05


def test_three_draws_rarely_decide() -> None:
    rows = results(n_draws=3, gain_b=0.002)
    ranks = draw_ranks(rows)
    assert ranks.attrs["autorank"] is None  # autorank needs five draws
    # Demsar's CD for 3 methods and 3 draws: 2.343 sqrt(12 / 18), nearly the whole range (2)
    assert ranks.attrs["critical_difference"] == pytest.approx(2.343 * np.sqrt(12 / 18), rel=1e-3)
    assert across_ratios(rows, "A").loc["B", "verdict"] == "equivalent"  # 0.002 < rope 0.01
    spread = rows.copy()  # B - A = +0.03, -0.01, +0.02 over the three draws
    spread.loc[spread.method == "B", "acsa"] += spread["seed"].map({0: 0.028, 1: -0.012, 2: 0.018})
    assert across_ratios(spread, "A").loc["B", "verdict"] == "cannot be told apart"
    with pytest.raises(ValueError, match="none of the baselines"):
        per_ratio_comparison(rows, ["Z"])
    with pytest.raises(ValueError, match="reference 'Z'"):
        across_ratios(rows, "Z")


def test_the_bayesian_test_is_seeded() -> None:
    rows = results(n_draws=5, gain_b=0.012)
    a, b = across_ratios(rows, "A", seed=3), across_ratios(rows, "A", seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_an_unadjusted_interval_can_leave_out_zero_where_holm_cannot_tell_apart() -> None:
    """Why the prose calls the intervals unadjusted: two methods about 5.5 standard errors from
    the reference over 3 draws have p about 0.03 alone, but Holm over both doubles the smaller."""
    table = pd.DataFrame(
        {"ref": [0.0, 0.0, 0.0], "x": [0.014, 0.020, 0.026], "y": [0.0135, 0.020, 0.0265]}
    )
    out = against_reference(table, "ref")
    assert (out["CI low"] > 0).all() and (out["p"] < 0.05).all()
    assert (out["p (Holm)"] >= 0.05).all()
    assert (out["verdict"] == "cannot be told apart").all()
    assert format_p(0.0667) == "0.067" and format_p(0.0004) == "< 0.001"
    assert format_p(float("nan")) == "n/a"


def test_a_method_on_fewer_draws_is_paired_over_its_own_and_joins_the_holm_family() -> None:
    rows = results(n_draws=8)
    # D ran on draws 0-4 only (as GAMO runs on five of ten), at every ratio, and at ratio 100
    # on draw 5 too (a draw it holds at one ratio only does not count across ratios)
    kept = (rows.method != "C") | (rows.seed < 5) | ((rows.seed == 5) & (rows.ratio == 100))
    d_rows = rows[kept].assign(method=lambda r: r.method.where(r.method != "C", "D"))
    both = pd.concat([rows, d_rows[d_rows.method == "D"]])
    assert "D" not in per_ratio_comparison(both, ["A"]).index.get_level_values("method")
    per_ratio = per_ratio_comparison(both, ["A"], fewer_draws=["D"])
    at10 = per_ratio.xs(10, level="ratio")
    assert at10.loc["D", "draws"] == 5 and at10.loc["B", "draws"] == 8
    assert per_ratio.xs(100, level="ratio").loc["D", "draws"] == 6
    # D's pairs are A's own draws 0-4: C and D share them, so their differences are alike
    at10_wide = draw_table(both, "acsa").xs(10, level="ratio")
    mine = against_reference(at10_wide[["A", "D"]].dropna(), "A")
    assert at10.loc["D", "p"] == pytest.approx(mine.loc["D", "p"])
    # Holm across B, C and D at the ratio: three p-values, not two
    expected = _holm(at10["p"].to_numpy(), alpha=0.05)
    np.testing.assert_allclose(at10["p (Holm)"], expected)
    across = across_ratios(both, "A", fewer_draws=["D"])
    assert across.loc["D", "draws"] == 5 and across.loc["B", "draws"] == 8
    assert across.loc["B", "verdict"] == "better"
    # the reference is chosen among the methods with every draw
    with pytest.raises(ValueError, match="reference 'D'"):
        across_ratios(both, "D", fewer_draws=["D"])
