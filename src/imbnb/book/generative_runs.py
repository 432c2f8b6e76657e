"""Chapters 6-7's runs: the count-list comparisons, computed here or read from committed tables.

Under ``quick`` the chapters train their autoencoders themselves
(:func:`imbnb.methods.deepsmote.run_grid`). Under ``paper`` they read committed sweeps:
:func:`comparison_configs` writes each run as the generative-family
:class:`~imbnb.experiments.RunConfig` a sweep stores it under (protocol ``counts``, whose count
list, draws and minority rule are the chapters'; the autoencoder's width, epochs and learning
rate and the classifier's epochs always, as chapter 8's grid writes them, other knobs only where
they differ from their defaults), so a run chapter 8's table holds is read from there and
nothing is trained twice. Figures that need a trained autoencoder use :func:`figure_ae`'s
smaller one, which the page states (:func:`figure_sentence`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from imbnb.book.table_source import COMPUTE, Source, missing_runs, read_rows
from imbnb.data import DatasetNotFoundError, ImageDataset, load_dataset
from imbnb.estimators.autoencoder import AEConfig
from imbnb.experiments import RunConfig
from imbnb.experiments.registry import family_of
from imbnb.experiments.statistics import against_reference, format_p
from imbnb.methods.deepsmote import METHODS, ClassifierConfig, run_generative, run_grid
from imbnb.oversample import WeightedCalibration

__all__ = [
    "FILL_COMMAND",
    "GenerativeSettings",
    "caveats_sentence",
    "chapter_settings",
    "comparison_configs",
    "comparison_rows",
    "figure_ae",
    "figure_sentence",
    "generative_params",
    "missing_of",
    "penalty_configs",
    "penalty_rows",
    "penalty_effects",
    "penalty_sentence",
    "penalty_table",
    "read_configs",
    "runs_sentence",
    "table_dataset",
]

#: The command that fills the chapters' own runs (a GPU makes it minutes; see the status page).
FILL_COMMAND = (
    "imbnb sweep book/grids/chapters.yaml --store book/data/results/chapters.parquet "
    "--only generative --where protocol=counts"
)
_AE_ALWAYS = ("width", "epochs", "lr")  # chapter 8's grid writes these even at their defaults
_WC = "weighted_calibration"
_PENALTY_COLUMNS = ["recon_mse_test", "recall_macro", "f1_macro", "gmean"]


@dataclass(frozen=True)
class GenerativeSettings:
    """What a chapter's runs share: the count list's scale, test images per class, and the
    autoencoder's and classifier's knobs (the chapter's ``ae`` and ``classifier`` dicts)."""

    count_scale: float
    n_test: int | None
    ae: Mapping[str, Any]
    classifier: Mapping[str, Any]


def chapter_settings(p: Mapping[str, Any]) -> GenerativeSettings:
    """Chapters 6-7's shared run settings from their parameter values ``p``: the count list's
    scale, the test images, the autoencoder's knobs and the classifier's epochs."""
    ae = {"width": p["width"], "latent_dim": p["latent_dim"], "epochs": p["ae_epochs"],
          "batch_size": p["ae_batch_size"], "lr": p["ae_lr"], "noise_sigma": p["noise_sigma"],
          "sparsity_lambda": p["sparsity_lambda"]}  # fmt: skip
    return GenerativeSettings(p["count_scale"], p["n_test"], ae, {"epochs": p["clf_epochs"]})


def read_configs(p: Mapping[str, Any]) -> dict[str, list[RunConfig]]:
    """The runs chapter 6 reads from tables with parameter values ``p``, by comparison (what
    ``book/grids/chapters.yaml`` is generated from): every variant, then the penalty modes."""
    s, datasets, seeds = chapter_settings(p), p["datasets"], p["seeds"]
    return {
        "comparison": comparison_configs(datasets, seeds, p["methods"], s, p["profile"]),
        "penalty": penalty_configs(datasets[0], seeds, p["penalty_modes"], s, p["profile"]),
    }


def table_dataset(name: str) -> str:
    """The dataset a run of ``name`` uses: ``mnist`` is the 5k sample where full MNIST is not
    on disk, as :func:`imbnb.methods.deepsmote.count_protocol` decides."""
    return name if _on_disk(name) else "mnist5k"


@functools.cache
def _on_disk(name: str) -> bool:
    """Whether dataset ``name`` loads (looked up once per process: a run config per run would
    load it again); a missing dataset other than ``mnist`` is refused by name."""
    try:
        load_dataset(name, "train")
    except DatasetNotFoundError:
        if name != "mnist":
            raise
        return False
    return True


def _own_knobs(given: Mapping[str, Any], defaults: Mapping[str, Any], what: str) -> dict:
    """``given`` without the knobs equal to their defaults; an unknown knob is refused."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"{what} holds unknown setting(s) {unknown} for a run config; allowed: "
            f"{sorted(defaults)}"
        )
    norm = lambda v: list(v) if isinstance(v, tuple | list) else v  # noqa: E731
    return {k: v for k, v in given.items() if norm(v) != norm(defaults[k])}


def _sampler_defaults(method: str) -> dict[str, Any]:
    """Weighted calibration's k and component cap at the sampler's defaults, which chapter 8's
    grid writes; no other sampler's."""
    if METHODS[method].sampler != _WC:
        return {}
    signature = inspect.signature(WeightedCalibration)
    return {k: signature.parameters[k].default for k in ("k", "max_components")}


def generative_params(
    method: str, settings: GenerativeSettings, sampler_params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One run's ``params`` as chapter 8's grid writes them, so equal runs share a hash."""
    ae_defaults = {f.name: f.default for f in fields(AEConfig) if f.name not in ("variant", "seed")}
    ae = {k: settings.ae.get(k, ae_defaults[k]) for k in _AE_ALWAYS}
    ae |= {k: v for k, v in _own_knobs(settings.ae, ae_defaults, "ae").items() if k not in ae}
    clf_defaults = {f.name: f.default for f in fields(ClassifierConfig)}
    clf = {"epochs": settings.classifier.get("epochs", clf_defaults["epochs"])}
    clf |= {k: v for k, v in _own_knobs(settings.classifier, clf_defaults, "classifier").items()
            if k != "epochs"}  # fmt: skip
    params: dict[str, Any] = {"ae": ae, "classifier": clf}
    sp = {**_sampler_defaults(method), **(sampler_params or {})}
    if sp:
        params["sampler_params"] = sp
    return params


def _config(method: str, dataset: str, seed: int, params: dict, s: GenerativeSettings,
            profile: str) -> RunConfig:  # fmt: skip
    """A generative run config on the counts protocol."""
    return RunConfig(
        method, dataset=dataset, protocol="counts", count_scale=float(s.count_scale), seed=seed,
        n_test=s.n_test, params=params, profile=profile,
    )  # fmt: skip


def comparison_configs(
    datasets: Sequence[str],
    seeds: Sequence[int],
    methods: Sequence[str],
    settings: GenerativeSettings,
    profile: str,
    sampler_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[RunConfig]:
    """The comparison's runs in :func:`run_grid`'s order (dataset, seed, method);
    ``sampler_params``: method name -> its sampler's parameters."""
    odd = [m for m in methods if family_of(m) != "generative"]
    if odd:
        raise ValueError(f"methods must be generative-family methods to read runs, got {odd}")
    per_method = {m: generative_params(m, settings, (sampler_params or {}).get(m)) for m in methods}
    return [
        _config(m, table_dataset(d), s, per_method[m], settings, profile)
        for d in datasets
        for s in seeds
        for m in methods
    ]


_FIRST = ["dataset", "method", "seed"]  # run_grid's first columns


def _as_computed(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows with :func:`run_grid`'s first columns first (the others after)."""
    if rows.empty:
        return pd.DataFrame(columns=[*_FIRST, "f1_macro", "gmean", "recon_mse_test", "seconds"])
    rows = rows.assign(seed=rows["seed"].astype(int))
    return rows[[*_FIRST, *(c for c in rows.columns if c not in _FIRST)]]


def comparison_rows(
    datasets: Sequence[str],
    seeds: Sequence[int],
    methods: Sequence[str],
    settings: GenerativeSettings,
    source: Source = COMPUTE,
    sampler_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Every (dataset, seed, method) row: trained here (:func:`run_grid`), or read from
    ``source``'s tables (``from_table``; with ``allow_missing`` the rows they hold)."""
    if source.computes:
        return run_grid(
            datasets, seeds, methods, count_scale=settings.count_scale, n_test=settings.n_test,
            ae=dict(settings.ae), classifier=dict(settings.classifier),
            sampler_params=sampler_params,
        )  # fmt: skip
    configs = comparison_configs(datasets, seeds, methods, settings, source.profile,
                                 sampler_params)  # fmt: skip
    return _as_computed(read_rows(configs, source))


def penalty_configs(
    dataset: str, seeds: Sequence[int], modes: Sequence[str], settings: GenerativeSettings,
    profile: str,
) -> list[RunConfig]:  # fmt: skip
    """DeepSMOTE with each permutation penalty of ``modes``, seed by mode (``official``, the
    default, is the comparison's own DeepSMOTE run)."""
    return [
        _config("DeepSMOTE", table_dataset(dataset), s,
                generative_params("DeepSMOTE", _with_penalty(settings, mode)), settings, profile)
        for s in seeds
        for mode in modes
    ]  # fmt: skip


def _with_penalty(settings: GenerativeSettings, mode: str) -> GenerativeSettings:
    """``settings`` with the autoencoder's penalty set to ``mode``."""
    return GenerativeSettings(settings.count_scale, settings.n_test,
                              {**settings.ae, "penalty": mode}, settings.classifier)  # fmt: skip


def penalty_rows(
    data: tuple[ImageDataset, ImageDataset, str],
    seeds: Sequence[int],
    modes: Sequence[str],
    settings: GenerativeSettings,
    source: Source = COMPUTE,
) -> pd.DataFrame:
    """DeepSMOTE's rows per penalty mode on ``data`` (train, test, dataset name): computed on the
    first seed, or read from ``source``'s tables for every seed (those they hold)."""
    train, test, name = data
    if source.computes:
        return pd.DataFrame([
            {"penalty": mode, **run_generative(
                "DeepSMOTE", train, test, seed=seeds[0], ae={**settings.ae, "penalty": mode},
                classifier=settings.classifier)}
            for mode in modes
        ])  # fmt: skip
    configs = penalty_configs(name, seeds, modes, settings, source.profile)
    mode_of = {c.key(): c.params["ae"].get("penalty", AEConfig.penalty) for c in configs}
    rows = read_rows(configs, source)
    if rows.empty:
        return pd.DataFrame(columns=["penalty", "seed", *_PENALTY_COLUMNS])
    return rows.assign(penalty=rows["config_hash"].map(mode_of))


def penalty_table(rows: pd.DataFrame, modes: Sequence[str]) -> pd.DataFrame:
    """Each mode's seeds held and its reconstruction error and scores (the mean over those
    seeds), in the order of ``modes``; a mode without rows is left out."""
    held = pd.Index([m for m in modes if m in set(rows["penalty"])], name="penalty")
    grouped = rows.groupby("penalty", sort=False)
    table = grouped[_PENALTY_COLUMNS].mean().reindex(held).astype(float)
    table.insert(0, "seeds", grouped["seed"].nunique().reindex(held).astype(int))
    return table


def penalty_effects(rows: pd.DataFrame, modes: Sequence[str]) -> pd.DataFrame:
    """Each other penalty mode against the authors' ("official"), paired over the seeds that
    hold both, on the classifier's macro F1 and the test reconstruction error, Holm-adjusted
    across the modes (:func:`imbnb.experiments.statistics.against_reference`). One row per
    (metric, mode); empty with fewer than two such seeds."""
    out = []
    for metric in ("f1_macro", "recon_mse_test"):
        wide = rows.pivot_table(index="seed", columns="penalty", values=metric)
        wide = wide[[m for m in modes if m in wide.columns]].dropna()
        if "official" not in wide.columns or len(wide) < 2:
            continue
        out.append(against_reference(wide, "official").assign(metric=metric))
    if not out:
        empty = pd.DataFrame(columns=["metric", "mode", "draws", "mean difference", "verdict"])
        return empty.set_index(["metric", "mode"])
    return pd.concat(out).rename_axis("mode").reset_index().set_index(["metric", "mode"])


def _p_phrase(p: float) -> str:
    """ "= 0.067" or "< 0.001", to follow "p"."""
    text = format_p(p)
    return text if text.startswith("<") else f"= {text}"


def _effect_phrase(effects: pd.DataFrame, mode: str) -> str:
    """How ``mode`` differs from the authors' penalty, in F1 and reconstruction error."""
    said = []
    for metric, name in [("f1_macro", "F1"), ("recon_mse_test", "reconstruction error")]:
        if (metric, mode) not in effects.index:
            continue
        e = effects.loc[(metric, mode)]
        told = "higher" if e["mean difference"] > 0 else "lower"
        told = "not told apart" if e["verdict"] == "cannot be told apart" else told
        said.append(
            f"{name} {told} ({e['mean difference']:+.4f}, unadjusted 95% interval "
            f"{e['CI low']:+.4f} to {e['CI high']:+.4f}, Holm-adjusted p "
            f"{_p_phrase(e['p (Holm)'])})"
        )
    return ", ".join(said)


def penalty_sentence(
    table: pd.DataFrame, modes: Sequence[str], n_seeds: int, effects: pd.DataFrame | None = None
) -> str:
    """What the penalty comparison shows, for the modes the table holds, each with the seeds
    its numbers average (``n_seeds``: the seeds the chapter asks for); with ``effects``
    (:func:`penalty_effects`) each mode is also tested against the authors' penalty."""

    def say(m: str) -> str:
        n = int(table.loc[m, "seeds"])
        over = "" if n == n_seeds == 1 else " (one seed)" if n == 1 else f" (means over {n} seeds)"
        return (f"a test reconstruction error of {table.loc[m, 'recon_mse_test']:.4f} "
                f"and a classifier F1 of {table.loc[m, 'f1_macro']:.3f}{over}")  # fmt: skip

    parts = []
    if "official" in table.index:
        parts.append(f"With the authors' penalty the autoencoder reaches {say('official')}.")
    if "paired" in table.index:
        parts.append(
            "Pairing different images of a class (so that the decoder must map one image's "
            f"code to another image of the same class) gives {say('paired')}."
        )
    if "none" in table.index:
        parts.append(f"Without any penalty: {say('none')}.")
    partial = [m for m in table.index if table.loc[m, "seeds"] < n_seeds]
    if partial:
        parts.append(
            "The tables hold "
            + " and ".join(
                f"{table.loc[m, 'seeds']} of the {n_seeds} seeds of penalty {m}" for m in partial
            )  # fmt: skip
            + " so far (the rest are listed above as missing)."
        )
    tested = [] if effects is None else sorted({m for _, m in effects.index}, key=list(modes).index)
    if tested:
        seeds = int(effects["draws"].min())
        parts.append(
            f"Against the authors' penalty, paired over {seeds} seeds (t-tests with Holm's "
            "correction across the modes; the verdict follows the adjusted p, the intervals are "
            "each mode's own): "
            + "; ".join(f"{m}: {_effect_phrase(effects, m)}" for m in tested)
            + "."
        )
    lacking = [m for m in modes if m not in table.index]
    if lacking:
        parts.append(
            f"The tables do not hold the runs with penalty {' and '.join(lacking)} yet (listed "
            "above as missing), so their rows wait for them."
        )
    return " ".join(parts)


def runs_sentence(source: Source, configs: Sequence[RunConfig], rows: pd.DataFrame) -> str:
    """Where the comparison's runs come from, and how many of them the tables hold."""
    if source.computes:
        return "Every run is trained (or loaded from the cache) by this execution."
    tables = " and ".join(source.tables)
    wanted = {c.key() for c in configs}
    n_held = len(wanted & set(rows.get("config_hash", pd.Series(dtype=str))))
    held = "all of them" if n_held == len(wanted) else f"{n_held} of the {len(wanted)}"
    return (
        f"The runs are read from {tables}, which hold {held}: each is a generative-family run "
        "of the experiment layer on the counts protocol, with this chapter's split, "
        "autoencoder, classifier and cache key, so nothing of these tables is trained here. "
        f"Every run of the chapter they lack is listed below; {FILL_COMMAND} fills them, "
        "with the other chapter's (about 7 hours on two CPU cores in all, most of it width-64 "
        "autoencoders; minutes per autoencoder on a GPU). A method without rows is left out "
        "of the tables, and a number of it reads nan."
    )


def figure_ae(
    ae: Mapping[str, Any], width: int | None, epochs: int | None, lr: float | None
) -> dict[str, Any]:
    """The autoencoder knobs of the figures: ``ae`` with each of ``width``, ``epochs`` and
    ``lr`` that is not None in place of its own."""
    smaller = {"width": width, "epochs": epochs, "lr": lr}
    return {**ae, **{k: v for k, v in smaller.items() if v is not None}}


def figure_sentence(ae: Mapping[str, Any], fig_ae: Mapping[str, Any], seed: int) -> str:
    """Which autoencoders the figures below use, at which scale."""
    if dict(fig_ae) == dict(ae):
        return (
            f"The figures below use the comparison's own autoencoders (first dataset, seed "
            f"{seed}), loaded from the cache."
        )
    what = lambda a: f"width {a['width']}, {a['epochs']} epochs at learning rate {a['lr']:g}"  # noqa: E731
    return (
        f"The figures below need trained autoencoders, so they are trained here on the first "
        f"dataset's split (seed {seed}) at a smaller scale than the tables' runs: "
        f"{what(fig_ae)}, against {what(ae)} in the tables. They show what each method does to "
        "the images, not the tables' networks, and their images are rougher than those."
    )


def missing_of(source: Source, comparisons: Mapping[str, Sequence[RunConfig]]) -> pd.DataFrame:
    """Per comparison, the runs ``source``'s tables lack (nothing when the rows are computed)."""
    configs = [c for part in comparisons.values() for c in part]
    rows = pd.DataFrame(columns=["config_hash"]) if source.computes else read_rows(configs, source)
    return missing_runs(dict(comparisons), rows)


def caveats_sentence(width: int, ae_epochs: int, n_seeds: int) -> str:
    """The second and third reasons the chapter's numbers do not test the thesis's claim."""
    if width < 64 or ae_epochs < 50:
        scale = (
            f"Second, this profile trains narrow or short autoencoders (width {width}, "
            f"{ae_epochs} epochs), where the thesis trained the full width (64) for 50-350 "
            "epochs; decoded images are correspondingly rough."
        )
    else:
        scale = (
            f"Second, these autoencoders have the paper's width ({width}) and {ae_epochs} "
            "epochs, while the thesis trained for 50-350 epochs, until the loss plateaus."
        )
    if n_seeds == 1:
        seeds = (
            "Third, one seed: the spread between seeds (the paper profile runs three) is of "
            "the same order as the differences between the variants."
        )
    else:
        seeds = (
            f"Third, the spread between seeds: the bars above show it over {n_seeds} seeds "
            "(one standard deviation); weigh the differences between the variants against it."
        )
    return f"{scale} {seeds}"
