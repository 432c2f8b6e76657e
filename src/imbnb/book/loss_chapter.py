"""Chapter 9's runs: its parameters written as run configs, its rows computed or read from tables.

Under ``quick`` the chapter trains its networks itself (:func:`imbnb.methods.losses_baselines.
run_loss_grid`, with the fixed minority classes of its parameters cell). Under ``paper`` it
reads committed sweeps: :func:`loss_configs` writes each run of a :class:`LossGrid` as the
:class:`~imbnb.experiments.RunConfig` a sweep stores it under, leaving out every knob equal to
its default, so the thesis protocol's runs are chapter 8's rows of ``book/data/results/
paper.parquet`` (same config hash) and nothing is trained twice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pandas as pd

from imbnb.book.table_source import COMPUTE, Source, check_readable, read_rows
from imbnb.experiments import RunConfig
from imbnb.experiments.registry import SETTINGS
from imbnb.methods.losses_baselines import (
    DEFAULT_LOSS_PARAMS,
    LOSS_METHODS,
    LossGrid,
    LossRunSettings,
    RunOptions,
    run_loss_grid,
)

__all__ = ["chapter_grids", "chapter_rows", "loss_configs", "read_configs"]

_DEFAULTS = SETTINGS["losses"]  # the experiment layer's defaults for a loss-based run
_ARCH = LossRunSettings().arch  # the one network a run config trains


def chapter_grids(p: Mapping[str, Any]) -> dict[str, LossGrid]:
    """The chapter's two grids from its parameter values ``p``: the thesis protocol (four
    minority classes at each of ``ratios``) and the loss papers' long tail (``lt_ratio``)."""
    loss_params = {
        "focal": {"gamma": p["focal_gamma"]},
        "cb": {"beta": p["cb_beta"]},
        "ldam_drw": {"max_m": p["ldam_max_m"], "s": p["ldam_s"], "beta": p["cb_beta"]},
        "logit_adjusted": {"tau": p["tau"]},
    }
    shared = {k: p[k] for k in ("arch", "epochs", "batch_size", "lr", "n_test")}
    thesis = LossRunSettings(
        protocol="minority", n_minority=p["n_minority"], minority_classes=p["minority_classes"],
        n_train=p["n_train"], loss_params=loss_params, **shared,
    )  # fmt: skip
    longtail = LossRunSettings(
        protocol="longtail", lt_preset=p["lt_preset"], lt_rho_prime=p["lt_rho_prime"],
        n_train=p["lt_n_train"], loss_params=loss_params, **shared,
    )  # fmt: skip
    methods, seeds, tau = list(p["methods"]), list(p["seeds"]), p["tau"]
    return {
        "thesis": LossGrid(methods, list(p["ratios"]), seeds, thesis, tau),
        "longtail": LossGrid(methods, [p["lt_ratio"]], seeds, longtail, tau),
    }


def read_configs(
    p: Mapping[str, Any], computed: Collection[str] = ()
) -> dict[str, list[RunConfig]]:
    """The runs the chapter reads from tables with parameter values ``p``, by protocol (what
    ``book/grids/chapters.yaml`` is generated from); a protocol in ``computed`` is left out."""
    grids = chapter_grids(p)
    return {
        name: loss_configs(p["dataset"], grid, p["profile"])
        for name, grid in grids.items()
        if name not in computed
    }


def _readable(run: LossRunSettings) -> None:
    """Refuse, by parameter name, settings a run config cannot express."""
    check_readable(run.arch, _ARCH)


def _params(name: str, run: LossRunSettings, tau: float) -> dict[str, Any]:
    """One method's ``params``: epochs and batch always (as chapter 8's grid), the rest only
    where they differ from the defaults, so equal runs get equal config hashes."""
    spec = LOSS_METHODS[name]
    params: dict[str, Any] = {"epochs": run.epochs, "batch_size": run.batch_size}
    if run.lr != _DEFAULTS["lr"]:
        params["lr"] = run.lr
    given = (run.loss_params or {}).get(spec.loss, {})
    own = {k: v for k, v in given.items() if DEFAULT_LOSS_PARAMS[spec.loss].get(k) != v}
    if own:
        params["loss_params"] = own
    if spec.posthoc and tau != _DEFAULTS["tau"]:
        params["tau"] = tau
    return params


def _fields(run: LossRunSettings, ratio: float, seed: int) -> dict[str, Any]:
    """The run config's split fields under ``run``'s protocol."""
    fields: dict[str, Any] = {"protocol": run.protocol, "ratio": float(ratio), "seed": seed}
    fields |= {"n_train": run.n_train, "n_test": run.n_test}
    if run.protocol == "longtail":
        return fields | {"lt_preset": run.lt_preset, "lt_rho_prime": float(run.lt_rho_prime)}
    return fields | {"n_minority": run.n_minority, "minority_classes": run.minority_classes}


def loss_configs(dataset: str, grid: LossGrid, profile: str) -> list[RunConfig]:
    """Every run of ``grid`` as a run config, in the order :func:`run_loss_grid` makes them
    (seed, then ratio, then method)."""
    _readable(grid.run)
    return [
        RunConfig(
            method=name,
            dataset=dataset,
            params=_params(name, grid.run, grid.tau),
            profile=profile,
            **_fields(grid.run, ratio, seed),
        )
        for seed in grid.seeds
        for ratio in grid.ratios
        for name in grid.methods
    ]


def chapter_rows(
    dataset: str, grid: LossGrid, source: Source = COMPUTE, options: RunOptions | None = None
) -> pd.DataFrame:
    """The grid's rows: trained here, or read from ``source``'s committed table (with
    ``allow_missing``, the rows it holds; :func:`missing_runs` names the rest); the column
    ``from_table`` says which."""
    if source.computes:
        return run_loss_grid(dataset, grid=grid, options=options).assign(from_table=False)
    return read_rows(loss_configs(dataset, grid, source.profile), source)
