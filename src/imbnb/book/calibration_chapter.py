"""Chapter 7 (weighted calibration): the sweep of its ``k`` and of its component cap.

The chapter narrates and calls; the runs of the sweep live here so that its cells stay short.
Each run is :func:`imbnb.methods.deepsmote.run_generative` (cached) of DeepDenoising+WC on the
thesis's count protocol, or under ``paper`` that run read from a committed table
(:func:`knob_configs`, :func:`knob_rows`: run configs written as chapter 8's grid writes them,
see :mod:`imbnb.book.generative_runs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from imbnb.book.generative_runs import GenerativeSettings, chapter_settings, comparison_configs
from imbnb.book.table_source import COMPUTE, Source, read_rows
from imbnb.experiments import RunConfig
from imbnb.experiments.statistics import against_reference
from imbnb.methods.deepsmote import count_protocol, run_generative

__all__ = [
    "METHOD",
    "knob_configs",
    "knob_effects",
    "knob_rows",
    "knob_sentence",
    "knob_sweep",
    "knobs_of",
    "read_configs",
    "verdict_sentence",
    "wc_params_of",
]

#: The method whose sampler the sweep varies.
METHOD = "DeepDenoising+WC"


def wc_params_of(p: Mapping[str, Any]) -> dict[str, Any]:
    """The sampler's settings in the comparison, from the chapter's parameter values ``p``."""
    return {"k": p["wc_k"], "max_components": p["wc_max_components"]}


def knobs_of(p: Mapping[str, Any]) -> dict[str, tuple[str, Sequence[Any]]]:
    """The sweep's knobs from ``p``: name -> (the sampler's parameter, its values)."""
    return {"k": ("k", p["ks"]), "cap": ("max_components", p["caps"])}


def read_configs(p: Mapping[str, Any]) -> dict[str, list[RunConfig]]:
    """The runs the chapter reads from tables with parameter values ``p``, by comparison (what
    ``book/grids/chapters.yaml`` is generated from): the comparison, then the knob sweep."""
    s, seeds, wc = chapter_settings(p), p["seeds"], wc_params_of(p)
    comparison = comparison_configs([p["dataset"]], seeds, p["methods"], s, p["profile"],
                                    {METHOD: wc})  # fmt: skip
    knobs = knob_configs(p["dataset"], seeds, knobs_of(p), wc, s, p["profile"])
    return {"comparison": comparison, "k and cap": knobs}


def knob_sweep(
    dataset: str,
    seeds: Sequence[int],
    knobs: Mapping[str, tuple[str, Sequence[Any]]],
    wc_params: Mapping[str, Any],
    *,
    count_scale: float,
    n_test: int | None,
    ae: Mapping[str, Any],
    classifier: Mapping[str, Any],
) -> pd.DataFrame:
    """One :data:`METHOD` run per knob, value and seed, the other knobs at ``wc_params``.

    ``knobs``: name -> (the sampler parameter it sets, the values to try), e.g.
    ``{"k": ("k", [1, 3]), "cap": ("max_components", [3, 10])}``. Returns the metric rows
    with ``knob``, ``value`` and ``seed`` in front.
    """
    sweep = []
    for name, v, s, params in _knob_points(seeds, knobs, wc_params):
        train_s, test_s, _, _ = count_protocol(
            dataset, count_scale=count_scale, seed=s, n_test=n_test
        )
        row = run_generative(
            METHOD, train_s, test_s, seed=s, ae=ae, classifier=classifier, sampler_params=params
        )
        sweep.append({"knob": name, "value": v, "seed": s, **row})
    return pd.DataFrame(sweep)


def _knob_points(
    seeds: Sequence[int],
    knobs: Mapping[str, tuple[str, Sequence[Any]]],
    wc_params: Mapping[str, Any],
) -> list[tuple[str, Any, int, dict[str, Any]]]:
    """(knob, value, seed, sampler parameters) of every point, in :func:`knob_sweep`'s order."""
    return [
        (name, v, s, {**wc_params, key: v})
        for name, (key, values) in knobs.items()
        for v in values
        for s in seeds
    ]


def knob_configs(
    dataset: str,
    seeds: Sequence[int],
    knobs: Mapping[str, tuple[str, Sequence[Any]]],
    wc_params: Mapping[str, Any],
    settings: GenerativeSettings,
    profile: str,
) -> list[RunConfig]:
    """The sweep's points as :data:`METHOD` run configs, in :func:`knob_sweep`'s order (a point
    at ``wc_params`` itself is the comparison's own run, the same config)."""
    return [
        comparison_configs([dataset], [s], [METHOD], settings, profile, {METHOD: params})[0]
        for _, _, s, params in _knob_points(seeds, knobs, wc_params)
    ]


def knob_rows(
    dataset: str,
    seeds: Sequence[int],
    knobs: Mapping[str, tuple[str, Sequence[Any]]],
    wc_params: Mapping[str, Any],
    settings: GenerativeSettings,
    source: Source = COMPUTE,
) -> pd.DataFrame:
    """:func:`knob_sweep`'s rows: computed, or read from ``source``'s tables (the points they
    hold, ``knob``, ``value`` and ``seed`` in front as computed)."""
    if source.computes:
        return knob_sweep(
            dataset, seeds, knobs, wc_params, count_scale=settings.count_scale,
            n_test=settings.n_test, ae=settings.ae, classifier=settings.classifier,
        )  # fmt: skip
    configs = knob_configs(dataset, seeds, knobs, wc_params, settings, source.profile)
    stored = read_rows(configs, source).set_index("config_hash", drop=False)
    points = _knob_points(seeds, knobs, wc_params)
    held = [(p, c.key()) for p, c in zip(points, configs, strict=True) if c.key() in stored.index]
    rows = [{"knob": p[0], "value": p[1], "seed": p[2], **stored.loc[key].to_dict()}
            for p, key in held]  # fmt: skip
    return pd.DataFrame(rows, columns=None if rows else ["knob", "value", "seed", "f1_macro",
                                                          "gmean"])  # fmt: skip


def _label(knob: str, value: Any) -> str:
    return f"{knob} = {value:g}"


def knob_effects(
    sweep: pd.DataFrame,
    knobs: Mapping[str, tuple[str, Sequence[Any]]],
    default: Mapping[str, Any],
    metric: str = "f1_macro",
) -> pd.DataFrame:
    """Every other setting of the sweep against the default one (``default``: the sampler's
    parameters, chapter 8's run, which both knobs share), paired over the seeds that hold
    both, Holm-adjusted across the settings
    (:func:`imbnb.experiments.statistics.against_reference`; the seed is the unit of
    replication). Empty while the default run or a seed's pair is missing."""
    is_default = pd.Series(False, index=sweep.index)
    for knob, (param, _) in knobs.items():  # the one default run, listed under every knob
        is_default |= (sweep.knob == knob) & (sweep.value == default[param])
    base = sweep[is_default]
    columns: dict[str, pd.Series] = {"default": base.groupby("seed")[metric].mean()}
    for knob, (param, _) in knobs.items():
        part = sweep[(sweep.knob == knob) & (sweep.value != default[param])]
        for value, rows in part.groupby("value"):
            columns[_label(knob, value)] = rows.groupby("seed")[metric].mean()
    # settings no seed holds yet drop out; then the seeds that hold all the rest, alike
    table = pd.DataFrame(columns).dropna(axis=1, how="all").dropna()
    if "default" not in table or len(table) < 2:  # nothing to pair with: no row
        table = pd.DataFrame({"default": table.get("default", pd.Series(dtype=float))})
    return against_reference(table, "default")


def _setting_list(effects: pd.DataFrame) -> str:
    return "; ".join(
        f"{name} by {abs(r['mean difference']):.3f} [{r['CI low']:+.3f}, {r['CI high']:+.3f}]"
        for name, r in effects.iterrows()
    )


def _held_phrase(knob: str, held: Sequence[Any], tried: Sequence[Any]) -> str:
    """Which of ``tried`` the tables hold of one knob, for the sentence's opening."""
    if len(held) < 2:
        have = f"only {knob} = {held[0]:g}" if len(held) else f"no value of {knob}"
        return (
            f"The tables hold {have} of the values tried ({', '.join(map(str, tried))}); the "
            f"other points are listed above as missing, so the effect of {knob} cannot be read yet."
        )
    lacking = [v for v in tried if v not in set(held)]
    return f" (the tables lack {knob} = {', '.join(map(str, lacking))} so far)" if lacking else ""


def _knob_range(sweep: pd.DataFrame, knob: str, tried: Sequence[Any]) -> str:
    """How far the macro F1 moves across one knob's values, on the seeds that hold them all."""
    wide = sweep[sweep.knob == knob].pivot_table(index="seed", columns="value", values="f1_macro")
    opening = _held_phrase(knob, list(wide.columns), tried)
    if wide.shape[1] < 2:
        return opening
    complete = wide.dropna()  # the seeds that hold every value, so means compare alike
    means, n = (complete if len(complete) else wide).mean(), len(complete)
    over = (
        f"over the {n} seeds that hold every value" if n > 1
        else f"on seed {complete.index[0]:g} (the one that holds every value)" if n
        else "over the seeds that hold each value"
    )  # fmt: skip
    return (
        f"Across {knob} = {', '.join(f'{v:g}' for v in means.index)}{opening}, the macro F1 "
        f"{over} varies by {means.max() - means.min():.3f}, best at {knob} = {means.idxmax():g}."
    )


def knob_sentence(
    sweep: pd.DataFrame,
    knobs: Mapping[str, tuple[str, Sequence[Any]]],
    default: Mapping[str, Any],
) -> str:
    """How the macro F1 moves with each knob (means over the seeds, best value), then every
    setting against the default one, paired over the seeds with Holm's correction
    (:func:`knob_effects`): which differ and which the seeds cannot tell apart."""
    parts = [_knob_range(sweep, knob, list(tried)) for knob, (_, tried) in knobs.items()]
    effects = knob_effects(sweep, knobs, default)
    if effects.empty:
        untested = "Fewer than two seeds hold the default and another setting, so no difference "
        return " ".join([*parts, untested + "can be tested against the seeds' spread yet."])
    fixed = ", ".join(_label(k, default[param]) for k, (param, _) in knobs.items())
    seeds = int(effects["draws"].min())
    head = (
        f"Against the default ({fixed}), paired over {seeds} seed{'s' if seeds != 1 else ''} "
        f"with Holm's correction across the {len(effects)} other settings (unadjusted 95% "
        "intervals):"
    )
    told = []
    for verdict in ("better", "worse"):
        group = effects[effects["verdict"] == verdict]
        if len(group):
            told.append(f"{verdict}: {_setting_list(group)}")
    rest = effects[effects["verdict"] == "cannot be told apart"]
    if len(rest):
        span = f"(differences {rest['mean difference'].min():+.3f} to " \
               f"{rest['mean difference'].max():+.3f})"  # fmt: skip
        told.append(f"the rest cannot be told apart from it {span}" if told
                    else f"the seeds cannot tell any setting apart from it {span}")  # fmt: skip
    return " ".join([*parts, head, "; ".join(told) + "."])


def verdict_sentence(f1: pd.Series) -> str:
    """How weighted calibration fared against SMOTE in the same latent space (mean macro F1 by
    method), for the methods the rows hold."""
    wc, smote = f1.get(METHOD), f1.get("DeepDenoisingSMOTE")
    if wc is None or smote is None or wc != wc or smote != smote:
        return (
            "Whether it beats SMOTE in the same latent space waits for the runs the tables do "
            "not hold yet (listed above)."
        )
    scores = f"on macro F1 ({wc:.3f} against {smote:.3f})"
    if wc > smote:
        return (
            f"In our run it nevertheless beat SMOTE in the same latent space {scores}: more "
            "varied, partly mislabelled minority images can still move the classifier's "
            "boundaries towards the small classes. Whether the gain survives more seeds, "
            "longer-trained autoencoders and the thesis's MNIST setting is what the paper "
            "profile and the exercises test."
        )
    return (
        f"In our run it did not beat SMOTE in the same latent space {scores}, unlike in the "
        "thesis's MNIST setting (Table 5.2), which exercise 3 runs."
    )
