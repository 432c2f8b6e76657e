"""The results chapter's grid, built from its parameters (chapter 8, ``book/grids/paper.yaml``).

:func:`results_grid` turns chapter 8's parameters (a :class:`ResultsGridSettings`) into a grid
spec (the ``blocks`` of a grid file); the chapter expands it and ``book/grids/paper.yaml`` is the
same spec written out for the ``paper`` profile, so the committed paper table, ``imbnb sweep``
and the chapter agree on every config hash (a test checks it). :func:`coverage` says how much
of a grid a table holds, so a chapter rendered from a partly swept table states what is
missing, and :func:`plan` adds the measured cost per run and of the rest, so the rest of a sweep
can be sized before it starts.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imbnb.experiments.config import RunConfig
from imbnb.experiments.cost import COST_COLUMNS, run_costs
from imbnb.experiments.registry import family_of, shared_key

__all__ = ["ResultsGridSettings", "coverage", "plan", "results_grid"]


@dataclass(frozen=True)
class ResultsGridSettings:
    """Chapter 8's grid: the thesis protocol's seeds, ratios and methods, each family's settings.

    Feature-space extractors and loss-based CNNs train ``epochs`` epochs (batch 40 and
    ``loss_batch_size``), DOS pre-trains ``dos_init_epochs`` then runs ``dos_rounds`` rounds
    with k = 5, GAMO runs ``gamo_steps`` iterations at ``gamo_lr``, the generative methods
    train an autoencoder of ``ae_width`` for ``ae_epochs`` at ``ae_lr`` and a classifier for
    ``clf_epochs``; weighted calibration takes ``wc_params`` (default k = 3, 10 components,
    chapter 7's). ``count_methods`` run on the count-list protocol (``count_seeds``,
    ``count_scale``).
    """

    profile: str
    seeds: Sequence[int]
    ratios: Sequence[float]
    methods: Sequence[str]
    n_train: int | None = None
    n_test: int | None = None
    epochs: int = 5
    loss_batch_size: int = 40
    dos_init_epochs: int = 3
    dos_rounds: int = 3
    gamo_steps: int = 25000
    gamo_lr: float = 2e-4
    ae_width: int = 64
    ae_epochs: int = 50
    ae_lr: float = 3e-4
    clf_epochs: int = 20
    wc_params: Mapping[str, Any] | None = None
    count_methods: Sequence[str] = ()
    count_seeds: Sequence[int] = (0,)
    count_scale: float = 1.0

    def params(self) -> dict[str, Any]:
        """The ``params`` of every block: each family's settings."""
        generative = {
            "ae": {"width": self.ae_width, "epochs": self.ae_epochs, "lr": self.ae_lr},
            "classifier": {"epochs": self.clf_epochs},
        }
        wc = dict(self.wc_params) if self.wc_params is not None else {"k": 3, "max_components": 10}
        return {
            "family:feature_space": {"epochs": self.epochs, "batch_size": 40},
            "family:losses": {"epochs": self.epochs, "batch_size": self.loss_batch_size},
            "family:dos": {"init_epochs": self.dos_init_epochs, "rounds": self.dos_rounds, "k": 5},
            "family:gamo": {"steps": self.gamo_steps, "lr": self.gamo_lr},
            "family:generative": generative,
            "DeepDenoising+WC": {**generative, "sampler_params": wc},
        }

    def spec(self) -> dict[str, Any]:
        """The grid spec: the thesis protocol block, then the count-list block if asked."""
        for name in (*self.methods, *self.count_methods):
            family_of(name)  # an unknown method fails here, naming every allowed one
        params = self.params()
        base = {"dataset": "fashion_mnist", "protocol": "minority", "n_train": self.n_train}
        blocks = [
            {
                "base": {**base, "n_test": self.n_test, "profile": self.profile},
                "grid": {
                    "ratio": list(self.ratios),
                    "seed": list(self.seeds),
                    "method": list(self.methods),
                },
                "params": params,
            }
        ]
        if self.count_methods:
            count = {"dataset": "fashion_mnist", "protocol": "counts", "n_test": self.n_test}
            blocks.append(
                {
                    "base": {**count, "count_scale": self.count_scale, "profile": self.profile},
                    "grid": {"seed": list(self.count_seeds), "method": list(self.count_methods)},
                    "params": params,
                }
            )
        return {"blocks": blocks}


def results_grid(settings: ResultsGridSettings | None = None, /, **fields: Any) -> dict[str, Any]:
    """Chapter 8's grid spec (:meth:`ResultsGridSettings.spec`) from settings or their fields.

    ``results_grid(profile=..., seeds=..., ratios=..., methods=..., epochs=...)`` builds the
    settings from keywords; given ``settings``, keywords replace its fields.
    """
    if settings is None:
        return ResultsGridSettings(**fields).spec()
    return dataclasses.replace(settings, **fields).spec()


# keyword form for help() and inspect.signature: settings, then the fields of ResultsGridSettings
results_grid.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("settings", inspect.Parameter.POSITIONAL_ONLY, default=None),
        *(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default,
                annotation=f.type,
            )
            for f in dataclasses.fields(ResultsGridSettings)
        ),
    ]
)


def coverage(configs: Sequence[RunConfig], rows: pd.DataFrame) -> pd.DataFrame:
    """Per protocol, family and method: runs in the grid, runs in ``rows``, runs missing."""
    stored = set(rows["config_hash"]) if "config_hash" in rows.columns else set()
    table = pd.DataFrame(
        [
            {
                "protocol": c.protocol,
                "family": family_of(c.method),
                "method": c.method,
                "stored": c.key() in stored,
            }
            for c in configs
        ]
    )
    if table.empty:
        return pd.DataFrame(columns=["grid", "stored", "missing"])
    out = table.groupby(["protocol", "family", "method"], sort=False)["stored"].agg(
        grid="size", stored="sum"
    )
    out["missing"] = out["grid"] - out["stored"]
    return out


def _stored_costs(done: pd.DataFrame, by_key: Mapping[str, RunConfig]) -> pd.DataFrame:
    """Median network and own seconds per (protocol, method) of the stored runs of a grid."""

    frame = pd.DataFrame(
        [
            {**by_key[h].to_dict(), "family": family_of(by_key[h].method)}
            for h in done["config_hash"]
        ],
        index=done.index,
    )
    for col in ("wall_seconds", "seconds", "seconds_ae", *COST_COLUMNS):
        if col in done.columns:
            frame[col] = done[col]
    costs = run_costs(frame)
    return costs.groupby(["protocol", "method"])[list(COST_COLUMNS)].median()


def plan(configs: Sequence[RunConfig], rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`coverage` plus each method's measured cost and the time still to run.

    ``s network`` and ``s own`` are the medians, over the stored runs, of the two parts of a
    run's cost (:func:`imbnb.experiments.run_costs`): the network it builds on and its own
    steps; ``s per run`` is their sum. ``s to run`` charges every missing run its own steps and
    every network the missing runs need once, to the first run that needs it, as a sweep
    trains it; a network that a stored run built counts as cached (a sweep resumed where it
    ran). NaN where a method has no stored run yet.
    """

    out = coverage(configs, rows)
    cols = ["s network", "s own", "s per run", "s to run"]
    if out.empty or "wall_seconds" not in rows.columns:
        return out.assign(**dict.fromkeys(cols, float("nan")))
    by_key = {c.key(): c for c in configs}
    done = rows[rows["config_hash"].isin(by_key)]
    costs = (
        _stored_costs(done, by_key)
        if len(done)
        else pd.DataFrame(columns=["network_seconds", "method_seconds"])
    )
    stored = set(done["config_hash"])
    built = {shared_key(by_key[h]) for h in stored}
    to_run: dict[tuple[str, str], float] = {}
    for cfg in configs:
        if cfg.key() in stored:
            continue
        where = (cfg.protocol, cfg.method)
        net, own = costs.loc[where].tolist() if where in costs.index else [float("nan")] * 2
        group = shared_key(cfg)
        to_run[where] = to_run.get(where, 0.0) + own + (0.0 if group in built else net)
        built.add(group)  # the first missing run of a network trains it; the rest find it
    keys = list(
        zip(
            out.index.get_level_values("protocol"),
            out.index.get_level_values("method"),
            strict=True,
        )
    )
    for col, name in (("network_seconds", "s network"), ("method_seconds", "s own")):
        out[name] = [costs[col].get(k, float("nan")) if len(costs) else float("nan") for k in keys]
    out["s per run"] = out["s network"] + out["s own"]
    out["s to run"] = [to_run.get(k, 0.0) for k in keys]
    return out
