"""Chapter 8's conclusions in words: the tuned verdicts named method by method.

The chapter's tuned section (:func:`imbnb.experiments.verdicts.tuned_verdicts`) yields tables;
:func:`tuned_phrases` turns them into the glued phrases the prose states, so every sentence
of the conclusion is regenerated from the committed table and stays true when it changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import pandas as pd

from imbnb.book.prose import phrase_list
from imbnb.book.status_missing import PAPER_GRID, missing_table
from imbnb.experiments.analysis import complete_methods
from imbnb.experiments.config import RunConfig
from imbnb.experiments.registry import family_of
from imbnb.experiments.statistics import across_ratios
from imbnb.experiments.tuning import tuning_configs
from imbnb.experiments.verdicts import TunedVerdicts

__all__ = [
    "VERDICTS",
    "absent_plan",
    "against_text",
    "compared_text",
    "fewer_text",
    "fill_text",
    "final_rows",
    "missing_plan",
    "one_against_others",
    "tuned_phrases",
]

#: The verdicts of the comparisons, in the order the prose names them.
VERDICTS = ("better", "equivalent", "worse", "cannot be told apart")
#: One device call that sweeps the autoencoder runs on a lent GPU (README, "Running on a GPU")
GPU_COMMAND = "OUT=DIR BUDGET=SECONDS bash benchmarks/gpu_session.sh"
#: families whose runs take hours each on two CPU cores: their page names the GPU command too
GPU_FAMILIES = ("generative",)


def missing_plan(
    configs: Sequence[RunConfig], rows: pd.DataFrame, table: str, grid: str = PAPER_GRID
) -> pd.DataFrame:
    """Per family, the runs of ``configs`` that ``rows`` (the committed ``table``) lack: how
    many, which methods, the hours at the stored runs' pace and the sweep that fills them;
    empty when nothing is missing."""
    sweep = f"imbnb sweep {grid} --store {table} --only"
    plan = missing_table(configs, rows, lambda c: f"{sweep} {family_of(c.method)}")
    plan = plan[plan["missing"] > 0].reset_index(drop=True)
    return plan.assign(command=plan["command"].str.strip("`"))


def fill_text(plan: pd.DataFrame) -> str:
    """The commands of :func:`missing_plan` as Markdown, one item per family, with the GPU
    call for the families that need hours per run on a CPU."""
    items = []
    for _, r in plan.iterrows():
        gpu = (
            f"; on a lent GPU, `{GPU_COMMAND}` (README, *Running on a GPU*), then `imbnb merge` "
            "its side tables here"
            if r["family"] in GPU_FAMILIES
            else ""
        )
        hours, _, note = str(r["hours to run"]).partition(" (")
        note = f" ({note}" if note else ""
        items.append(
            f"- {r['family']}: {r['missing']} runs ({r['methods missing runs']}), {hours} "
            f"hours{note} at the pace of the stored runs: `{r['command']}`{gpu}."
        )
    return "\n".join(items)


def _key(verdict: str) -> str:
    return verdict.replace(" ", "_")


def _ratio_text(ratios: Sequence[float]) -> str:
    """ "ρ = 20" or "ρ = 20, 40 and 100": the ratios of one statement."""
    texts = [f"{r:g}" for r in sorted(ratios)]
    joined = texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} and {texts[-1]}"
    return f"ρ = {joined}"


def _across_names(across: pd.DataFrame, verdict: str, digits: int) -> str:
    """The methods with ``verdict`` across ratios, each with its mean difference, best first."""
    picked = across[across["verdict"] == verdict]["mean difference"].sort_values(ascending=False)
    return phrase_list(f"{m} ({d:+.{digits}f})" for m, d in picked.items())


def _per_ratio(per_ratio: pd.DataFrame, verdict: str) -> dict[str, list[float]]:
    """Method -> the ratios where its per-ratio verdict is ``verdict``."""
    picked = per_ratio[per_ratio["verdict"] == verdict]
    by_method: dict[str, list[float]] = {}
    for ratio, method in picked.index:
        by_method.setdefault(str(method), []).append(float(ratio))
    return by_method


def _some_ratios(by_method: dict[str, list[float]], n_ratios: int) -> str:
    """ "A at ρ = 20 and 40; B at ρ = 100": the methods with a verdict at some ratios only."""
    parts = (f"{m} at {_ratio_text(r)}" for m, r in by_method.items() if len(r) < n_ratios)
    return phrase_list(parts, sep="; ")


def _all_ratios(by_method: dict[str, list[float]], n_ratios: int) -> str:
    """The methods with a verdict at every ratio."""
    return phrase_list(m for m, r in by_method.items() if len(r) == n_ratios)


def _references(per_ratio: pd.DataFrame) -> str:
    """Which baseline each ratio's comparisons are against ("BL+CW at ρ = 10, ...")."""
    refs = per_ratio["reference"].groupby(level=0).first()
    by_ref: dict[str, list[float]] = {}
    for ratio, ref in refs.items():
        by_ref.setdefault(str(ref), []).append(float(ratio))
    return phrase_list((f"{ref} at {_ratio_text(r)}" for ref, r in by_ref.items()), sep="; ")


def _reconcile(per_ratio: pd.DataFrame, rope: float) -> str:
    """How the per-ratio "better" verdicts sit against the across-ratio region of equivalence."""
    gains = per_ratio.loc[per_ratio["verdict"] == "better", "mean difference"]
    if gains.empty:
        return "No per-ratio test finds a method ahead of its reference."
    if gains.max() < rope:
        return (
            f'Every per-ratio "better" is smaller than the region of equivalence (at most '
            f"{gains.max():+.3f}), so the two views agree: such a method is ahead consistently "
            "over the draws, by less than matters."
        )
    return (
        f'Some per-ratio "better" exceeds the region of equivalence (up to {gains.max():+.3f}): '
        "there a ratio shows a gain that the average over the ratios dilutes."
    )


def _count(names: Sequence[str]) -> str:
    """ "1 is" or "3 are": the number of ``names`` with its verb."""
    return f"{len(names)} {'is' if len(names) == 1 else 'are'}"


def _summary(tuned: TunedVerdicts, absent: str, rope: float, metric: str) -> str:
    """The tuned verdicts in two sentences, for the top of the chapter."""
    assert tuned.across is not None  # only called with a comparison
    names = {v: list(tuned.across.index[tuned.across["verdict"] == v]) for v in VERDICTS}
    ref, band = tuned.reference, f"±{rope:g} {metric.upper() if metric == 'acsa' else metric}"
    parts = [
        f"{phrase_list(names['better'])} beat it by more than {band}"
        if names["better"]
        else f"no method beats it by more than {band}",
        f"{_count(names['equivalent'])} equivalent to it within that band "
        f"({phrase_list(names['equivalent'])})",
        f"{_count(names['worse'])} worse ({phrase_list(names['worse'])})",
    ]
    if names["cannot be told apart"]:
        parts.append(f"{phrase_list(names['cannot be told apart'])} cannot be told apart from it")
    fewer = fewer_text(tuned)
    return (
        f"With every method tuned on validation splits and {tuned.draws} class draws"
        f"{f' ({fewer})' if fewer != 'none' else ''}, against the best tuned baseline, {ref}, "
        f"{'; '.join(parts)}. Not in that comparison yet: {absent}."
    )


def fewer_text(tuned: TunedVerdicts | None) -> str:
    """ "GAMO, GAMO-noD on 5 of them, paired with the same reference over those": the methods
    compared on fewer draws than the others, or "none"."""
    if tuned is None or not tuned.fewer:
        return "none"
    by_count: dict[int, list[str]] = {}
    for method, n in tuned.fewer.items():
        by_count.setdefault(n, []).append(method)
    parts = (f"{phrase_list(ms)} on {n} of them" for n, ms in sorted(by_count.items()))
    return f"{phrase_list(parts, sep='; ')}, paired with the same reference over those"


def compared_text(tuned: TunedVerdicts | None) -> str:
    """The compared methods, each of those on fewer draws with its count, for the prose."""
    if tuned is None or len(tuned.compared) < 2:
        return "none yet (a comparison needs a baseline and one more method on every draw)"
    fewer = tuned.fewer
    return ", ".join(f"{m} ({fewer[m]} draws)" if m in fewer else m for m in tuned.compared)


def _empty(grid_methods: Sequence[str]) -> dict[str, str]:
    """The phrases when no final runs are read (the quick and smoke profiles)."""
    out = {f"tuned_{_key(v)}_names": "none" for v in VERDICTS}
    out.update(
        tuned_ratio_better="none",
        tuned_ratio_worse_all="none",
        tuned_ratio_worse_some="none",
        tuned_ratio_references="none",
        tuned_absent=phrase_list(grid_methods),
        tuned_untuned="none",
        tuned_fewer="none",
        tuned_reconcile="No final runs are read under this profile.",
        tuned_summary="This profile does not read the tuned verdicts (the paper profile reads "
        "them from book/data/results/verdicts.parquet); the comparisons below are its own runs'.",
    )
    return out


def tuned_phrases(
    tuned: TunedVerdicts | None,
    grid_methods: Sequence[str],
    validated: Collection[str] = (),
    *,
    rope: float = 0.01,
    metric: str = "acsa",
    digits: int = 3,
) -> dict[str, str]:
    """Glue name -> phrase for chapter 8's tuned conclusions.

    ``tuned_<verdict>_names``: the methods with that verdict across ratios, each with its mean
    difference to the reference; ``tuned_ratio_better``: the methods a Holm-corrected per-ratio
    test finds ahead, with their ratios; ``tuned_ratio_worse_all`` / ``_some``: those behind
    at every ratio, and those behind at some (with their ratios);
    ``tuned_ratio_references``: each ratio's reference; ``tuned_absent``: methods of the
    chapter's grid that the tuned comparison does not hold (never swept, or not on every draw);
    ``tuned_untuned``: compared methods without validation runs among ``validated`` (the
    methods the tuning table holds), so their final runs are at the grid's setting;
    ``tuned_fewer``: the methods compared on fewer draws (:func:`fewer_text`);
    ``tuned_reconcile``: a sentence setting the per-ratio gains against ``rope``;
    ``tuned_summary``: the across-ratio verdicts in two sentences, for the chapter's top.
    """
    if tuned is None or tuned.per_ratio is None or tuned.across is None:
        return _empty(grid_methods)
    out = {f"tuned_{_key(v)}_names": _across_names(tuned.across, v, digits) for v in VERDICTS}
    n_ratios = tuned.per_ratio.index.get_level_values(0).nunique()
    better = _per_ratio(tuned.per_ratio, "better")
    out["tuned_ratio_better"] = phrase_list(
        (f"{m} at {_ratio_text(r)}" for m, r in better.items()), sep="; "
    )
    worse = _per_ratio(tuned.per_ratio, "worse")
    out["tuned_ratio_worse_all"] = _all_ratios(worse, n_ratios)
    out["tuned_ratio_worse_some"] = _some_ratios(worse, n_ratios)
    out["tuned_ratio_references"] = _references(tuned.per_ratio)
    compared = set(tuned.compared)
    out["tuned_absent"] = phrase_list(m for m in grid_methods if m not in compared)
    out["tuned_reconcile"] = _reconcile(tuned.per_ratio, rope)
    out["tuned_summary"] = _summary(tuned, out["tuned_absent"], rope, metric)
    out["tuned_untuned"] = phrase_list(m for m in tuned.compared if m not in set(validated))
    out["tuned_fewer"] = fewer_text(tuned)
    return out


def absent_plan(
    verdicts_grid: Sequence[RunConfig],
    final: Sequence[RunConfig],
    seconds_per_run: pd.Series,
    *,
    stored: Collection[str] = (),
    draws: Sequence[int] = (0, 1, 2),
) -> pd.DataFrame:
    """What the tuned comparison still lacks: per method of the verdicts grid without final
    runs, its validation runs (``draws``), how many of them ``stored`` holds (config hashes of
    the tuning table), its final runs, and the cost of the runs still missing at
    ``seconds_per_run`` (a method's measured seconds per run, e.g. from the paper table), in
    core-hours."""
    done = {c.method for c in final}
    todo = [c for c in verdicts_grid if c.method not in done]
    runs, keys = tuning_configs(todo, draws=list(draws)), set(stored)
    validation = Counter(c.method for c in runs)
    have = Counter(c.method for c in runs if c.key() in keys)
    finals = Counter(c.method for c in todo)
    table = pd.DataFrame(
        {
            "validation runs": [validation.get(m, 0) for m in finals],
            "stored": [have.get(m, 0) for m in finals],
            "final runs": list(finals.values()),
            "s per run": [float(seconds_per_run.get(m, float("nan"))) for m in finals],
        },
        index=pd.Index(list(finals), name="method"),
    )
    missing = table["validation runs"] - table["stored"] + table["final runs"]
    table["core-hours"] = missing * table["s per run"] / 3600
    return table


def final_rows(rows: pd.DataFrame, expected: Sequence[RunConfig]) -> pd.DataFrame:
    """The rows of the expected final configs, of the methods that ran every draw and ratio."""
    keys = {c.key() for c in expected}
    test = rows[rows["config_hash"].isin(keys)] if len(rows) else rows
    return test[test["method"].isin(complete_methods(test))] if len(test) else test


def _against(rows: pd.DataFrame, focus: str, other: str, metric: str, rope: float) -> pd.Series:
    """``focus`` minus ``other`` over the draws: chapter 8's across-ratio test, ``other`` as
    its reference, on the two methods' rows only (each pair is seeded alike, so the numbers
    are those of the test over every method, without testing every other method too)."""
    pair = rows[rows["method"].isin([focus, other])]
    return across_ratios(pair, other, metric, rope=rope).loc[focus]


def one_against_others(
    rows: pd.DataFrame,
    focus: str,
    others: Sequence[str],
    metrics: Sequence[str] = ("acsa", "gmean"),
    *,
    rope: float = 0.01,
) -> pd.DataFrame:
    """``focus`` against each of ``others`` that ``rows`` holds, per metric: the mean
    difference over draws (each averaged over the ratios) with its 95% interval, and the
    verdict of the Bayesian signed-rank test with ``rope`` (chapter 8's tuned protocol)."""
    present = set(rows["method"]) if len(rows) else set()
    if focus not in present:
        return pd.DataFrame()
    table = {}
    for other in (o for o in others if o in present and o != focus):
        cells = {}
        for metric in metrics:
            r = _against(rows, focus, other, metric, rope)
            cells[(metric, "difference")] = r["mean difference"]
            cells[(metric, "95% interval")] = f"[{r['CI low']:+.3f}, {r['CI high']:+.3f}]"
            cells[(metric, "verdict")] = r["verdict"]
        table[other] = cells
    out = pd.DataFrame.from_dict(table, orient="index")
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.name = f"{focus} minus"
    return out


def against_text(table: pd.DataFrame, metric: str = "acsa") -> str:
    """ "equivalent to FS-SMOTE (+0.007), worse than BL+CW (-0.012)": a table of
    :func:`one_against_others` in words, for the prose."""
    words = {"better": "better than", "worse": "worse than", "equivalent": "equivalent to"}
    parts = (
        f"{words.get(row[(metric, 'verdict')], 'not told apart from')} {other} "
        f"({row[(metric, 'difference')]:+.3f})"
        for other, row in table.iterrows()
    )
    return phrase_list(parts, sep="; ", empty="not compared under this profile")
