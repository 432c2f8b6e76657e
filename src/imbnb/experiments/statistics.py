"""Comparing methods with the class draw as the unit of replication (chapter 8).

A seed draws the minority classes once for every ratio, so the rows of one seed at different
ratios share their draw and are not independent: the unit of replication is the draw, and a
table of three seeds holds three independent units, not twelve. Every function here counts
draws, and uses the libraries made for comparing classifiers:

* :func:`per_ratio_comparison` -- at each ratio, every method minus the best baseline there,
  paired over draws: mean difference, its 95% t interval, the paired t-test and its p-value
  adjusted with Holm's method across the methods of that ratio (statsmodels'
  ``multipletests``); the verdict is "better", "worse" or "cannot be told apart". The interval
  is each pair's own, not adjusted: the verdict carries the correction, so an interval that
  leaves out zero can sit beside "cannot be told apart" (the prose says so);
* :func:`against_reference` -- the same paired comparison for any table of draws (chapter 7's
  settings of weighted calibration against the default);
* :func:`across_ratios` -- each draw averaged over the ratios first (one number per method and
  draw), then every method against a reference: mean difference with its t interval and the
  Bayesian signed-rank test with a region of practical equivalence (baycomp; Benavoli et al.
  2017), which says how probable "better by more than ``rope``", "equivalent within
  ``rope``" and "worse" are;
* :func:`draw_ranks` -- average ranks over draws, with the Friedman test and the Nemenyi
  critical difference for that many methods and draws (autorank's procedure and report where
  there are five draws or more, which it needs).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from imbnb.experiments.analysis import critical_difference

__all__ = [
    "DRAW",
    "VERDICTS",
    "against_reference",
    "across_ratios",
    "draw_ranks",
    "distinguishable_pairs",
    "draw_table",
    "format_p",
    "per_ratio_comparison",
    "verdict_table",
]

#: the column that identifies a draw (the seed fixes the minority classes for every ratio)
DRAW = "seed"
#: what a comparison can conclude
VERDICTS: tuple[str, ...] = ("better", "worse", "cannot be told apart")


def draw_table(rows: pd.DataFrame, metric: str, by: Sequence[str] = ("ratio",)) -> pd.DataFrame:
    """``metric`` with one row per (``by``..., draw) and one column per method."""
    if metric not in rows.columns:
        raise ValueError(f"metric {metric!r} not in the results; columns: {sorted(rows.columns)}")
    index = [*by, DRAW]
    return rows.pivot_table(index=index, columns="method", values=metric, aggfunc="mean")


def _t_summary(d: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """Mean of paired differences, its (1 - alpha) t interval, and the paired t-test's p."""
    n, mean = len(d), float(np.mean(d))
    if n < 2:
        return mean, float("nan"), float("nan"), float("nan")
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        return mean, mean, mean, (1.0 if mean == 0 else 0.0)
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * sd / np.sqrt(n)
    p = float(stats.ttest_1samp(d, 0.0).pvalue)
    return mean, mean - half, mean + half, p


def _holm(p: Sequence[float], alpha: float) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels); NaN where a p-value is NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="holm")[1]
    return out


def format_p(p: float) -> str:
    """A p-value for prose: three decimals, "< 0.001" below that, "n/a" where it is NaN."""
    if np.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _verdict(diff: float, p_adj: float, alpha: float) -> str:
    if np.isnan(p_adj) or p_adj >= alpha:
        return "cannot be told apart"
    return "better" if diff > 0 else "worse"


def against_reference(table: pd.DataFrame, reference: str, *, alpha: float = 0.05) -> pd.DataFrame:
    """Every column of ``table`` (one row per draw) minus its ``reference`` column, paired over
    the draws both hold: mean difference, its t interval, the paired t-test's p and its
    Holm-adjusted value across the columns compared, and the verdict. One row per column but
    the reference; ``draws`` says how many pairs each rests on."""
    part = []
    for method in table.columns.drop(reference):
        d = (table[method] - table[reference]).dropna().to_numpy()
        mean, lo, hi, p = _t_summary(d, alpha)
        part.append(
            {"method": method, "reference": reference, "draws": len(d), "mean difference": mean,
             "CI low": lo, "CI high": hi, "p": p}
        )  # fmt: skip
    adjusted = _holm([r["p"] for r in part], alpha)
    for r, p_adj in zip(part, adjusted, strict=True):
        r["p (Holm)"] = float(p_adj)
        r["verdict"] = _verdict(r["mean difference"], p_adj, alpha)
    columns = ["method", "reference", "draws", "mean difference", "CI low", "CI high", "p",
               "p (Holm)", "verdict"]  # fmt: skip
    return pd.DataFrame(part, columns=columns).set_index("method")


def _split_draws(
    wide: pd.DataFrame, fewer_draws: Collection[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The methods that hold every draw of ``wide``, and those of ``fewer_draws`` (named to be
    compared on the draws they hold; their draws must be among the others')."""
    partial = [m for m in fewer_draws if m in wide.columns]
    full = wide.drop(columns=partial).dropna(axis=1, how="any")
    return full, wide[partial]


def per_ratio_comparison(
    rows: pd.DataFrame,
    baselines: Sequence[str],
    metric: str = "acsa",
    *,
    alpha: float = 0.05,
    fewer_draws: Collection[str] = (),
) -> pd.DataFrame:
    """At each ratio, every method minus that ratio's best baseline, paired over draws.

    The best baseline is the one of ``baselines`` with the highest mean at the ratio. p-values
    are Holm-adjusted across the methods compared at one ratio. One row per (ratio, method).
    A method missing a draw is left out, unless ``fewer_draws`` names it (a dearer method run
    on a subset of the draws, e.g. GAMO on five of ten): it is paired with the same reference
    over the draws it holds, and its p-value joins that ratio's Holm correction.
    """
    wide = draw_table(rows, metric)
    out = []
    for ratio, table in wide.groupby(level="ratio"):
        full, partial = _split_draws(table, fewer_draws)
        present = [b for b in baselines if b in full.columns]
        if not present:
            raise ValueError(f"none of the baselines {list(baselines)} ran at ratio {ratio}")
        ref = str(full[present].mean().idxmax())
        table = pd.concat([full, partial.dropna(axis=1, how="all")], axis=1)
        out.append(against_reference(table, ref, alpha=alpha).reset_index().assign(ratio=ratio))
    return pd.concat(out).set_index(["ratio", "method"])[
        ["reference", "draws", "mean difference", "CI low", "CI high", "p", "p (Holm)", "verdict"]
    ]


def across_ratios(
    rows: pd.DataFrame,
    reference: str,
    metric: str = "acsa",
    *,
    rope: float = 0.01,
    alpha: float = 0.05,
    confidence: float = 0.95,
    seed: int = 0,
    fewer_draws: Collection[str] = (),
) -> pd.DataFrame:
    """Every method against ``reference`` with each draw averaged over the ratios first.

    The Bayesian signed-rank test (baycomp) gives ``P(better)``, ``P(equivalent)`` (the
    difference inside ±``rope``) and ``P(worse)``; the verdict is the one whose probability
    reaches ``confidence``, else "cannot be told apart". Its Monte-Carlo draws are seeded.
    A method missing a draw is left out, unless ``fewer_draws`` names it: it is compared over
    the draws it ran at every ratio (``draws`` says how many).
    """
    import baycomp

    full, partial = _split_draws(draw_table(rows, metric), fewer_draws)
    per_draw = full.groupby(level=DRAW).mean()  # one number per method and draw
    if len(partial.columns):  # a draw counts only where the method ran at every ratio
        whole = partial.notna().groupby(level=DRAW).all()
        per_draw = per_draw.join(partial.groupby(level=DRAW).mean().where(whole))
    if reference not in full.columns:
        raise ValueError(f"reference {reference!r} not among {sorted(full.columns)}")
    out = []
    for method in per_draw.columns.drop(reference):
        pair = per_draw[[method, reference]].dropna()
        if pair.empty:  # named in fewer_draws, but complete on no draw
            continue
        x, y = pair[method].to_numpy(), pair[reference].to_numpy()
        mean, lo, hi, _ = _t_summary(x - y, alpha)
        better, equal, worse = (
            baycomp.SignedRankTest.probs(x, y, rope=rope, random_state=seed)
            if len(x) > 1
            else (np.nan, np.nan, np.nan)  # one draw: nothing to test
        )
        probs = {"better": better, "equivalent": equal, "worse": worse}
        top = max(probs, key=lambda k: np.nan_to_num(probs[k]))
        verdict = top if probs[top] >= confidence else "cannot be told apart"
        out.append(
            {"method": method, "draws": len(x), "mean difference": mean, "CI low": lo,
             "CI high": hi, "P(better)": float(better), "P(equivalent)": float(equal),
             "P(worse)": float(worse), "verdict": verdict}
        )  # fmt: skip
    return pd.DataFrame(out).set_index("method").sort_values("mean difference", ascending=False)


def draw_ranks(rows: pd.DataFrame, metric: str = "acsa", *, alpha: float = 0.05) -> pd.DataFrame:
    """Average rank (1 = best) of each method over draws, each draw averaged over the ratios.

    ``attrs`` holds the Friedman p-value, the Nemenyi critical difference for this many
    methods and *draws*, and, with five draws or more, autorank's own result.
    """
    per_draw = draw_table(rows, metric).dropna(axis=1, how="any").groupby(level=DRAW).mean()
    n, k = per_draw.shape
    ranks = per_draw.rank(axis=1, ascending=False)
    out = pd.DataFrame(
        {"average rank": ranks.mean(), f"mean {metric}": per_draw.mean(), "draws": n}
    ).sort_values("average rank")
    out.attrs["critical_difference"] = critical_difference(k, n, alpha) if k > 1 else np.nan
    out.attrs["friedman_p"] = (
        float(stats.friedmanchisquare(*per_draw.to_numpy().T).pvalue) if k > 2 and n > 1 else np.nan
    )
    out.attrs["autorank"] = _autorank(per_draw, alpha) if n >= 5 and k > 1 else None
    return out


def distinguishable_pairs(ranks: pd.DataFrame) -> int:
    """How many pairs of methods differ in average rank by more than the critical difference."""
    r = ranks["average rank"].to_numpy()
    cd = ranks.attrs["critical_difference"]
    if np.isnan(cd):
        return 0
    i, j = np.triu_indices(len(r), k=1)
    return int((np.abs(r[i] - r[j]) > cd).sum())


def _autorank(per_draw: pd.DataFrame, alpha: float):
    """autorank's procedure (tests chosen by its assumption checks) on draws x methods."""
    from autorank import autorank

    return autorank(per_draw, alpha=alpha, verbose=False)


_MARKS = {"better": " ▲", "worse": " ▼", "cannot be told apart": ""}


def verdict_table(per_ratio: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Methods x ratios: difference to the ratio's best baseline, its 95% interval (the pair's
    own, unadjusted), a mark.

    ▲ better, ▼ worse (Holm-adjusted); no mark: the draws cannot tell the two apart. Each
    column names its reference. For reading :func:`per_ratio_comparison` at a glance.
    """
    f = f"{{:+.{digits}f}}"
    cells = per_ratio.assign(
        cell=[
            f"{f.format(m)} [{f.format(lo)}, {f.format(hi)}]{_MARKS[v]}"
            if not np.isnan(lo)
            else f"{f.format(m)}{_MARKS[v]}"
            for m, lo, hi, v in zip(
                per_ratio["mean difference"], per_ratio["CI low"], per_ratio["CI high"],
                per_ratio["verdict"], strict=True,
            )
        ]
    ).reset_index()  # fmt: skip
    refs = cells.groupby("ratio")["reference"].first()
    cells["column"] = [f"ρ = {r:g} vs {refs[r]}" for r in cells["ratio"]]
    wide = cells.pivot(index="method", columns="column", values="cell").fillna("")
    order = [f"ρ = {r:g} vs {refs[r]}" for r in sorted(refs.index)]
    wide = wide[order]
    wide.columns.name = None
    return wide
