"""An equal tuning budget for every method, selected on validation runs (chapter 8).

Each method declares a search space of at most :data:`BUDGET` configurations in its registry
entry (:mod:`imbnb.methods.catalog`; :func:`search_space` reads it). :func:`tuning_configs`
turns a grid of final configs into
validation runs (:mod:`imbnb.experiments.validation`) of every candidate on a few *tuning
draws*; :func:`select` picks, per method and ratio, the candidate with the best mean
validation score over those draws, never reading a test set; :func:`final_configs` runs the
chosen candidate on every draw against the test set, once. The final row's ``params`` record
the choice; :func:`write_final_grid` writes them as a grid file for ``imbnb sweep``.

What each family searches:

* feature space: the shared pipeline, that is the extractor's loss (class-weighted or plain
  cross-entropy) and the head (a linear layer for 10 epochs or the 256-128 MLP for 20);
* loss-based: the loss's own knob (focal gamma, class-balanced beta, LDAM's largest margin,
  the logit adjustment's tau), or the learning rate where a loss has none;
* DOS: its neighbours k and its rounds;
* GAMO: its loss (cross-entropy or least squares) and Adam's learning rate;
* the autoencoder methods: nothing yet (a run costs hours on a CPU; they keep their
  paper-table rows until a GPU sweeps them).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from imbnb.experiments.book_grid import grid_text
from imbnb.experiments.config import RunConfig
from imbnb.experiments.registry import family_of
from imbnb.methods import catalog

__all__ = [
    "BUDGET",
    "final_configs",
    "search_space",
    "select",
    "validation_scores",
    "pipeline_table",
    "tuning_configs",
    "write_final_grid",
]

#: the most candidates any method may try (every method gets the same budget)
BUDGET = 4


def search_space(method: str) -> list[dict[str, Any]]:
    """The candidate settings of ``method`` (each overrides the grid's params), <= BUDGET.

    Read from the method's registry entry (:func:`imbnb.methods.catalog.search_space`).
    """
    family_of(method)  # an unknown name is refused, listing every method
    space = catalog.search_space(method)
    if len(space) > BUDGET:
        raise ValueError(f"{method}: {len(space)} candidates exceed the budget {BUDGET}")
    return space


def _merge(params: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
    """The grid's params with a candidate's settings on top (``head`` merged key by key)."""
    out = dict(params)
    for key, value in candidate.items():
        if key == "head" and isinstance(out.get("head"), Mapping):
            out["head"] = {**out["head"], **value}
        else:
            out[key] = value
    return out


def tuning_configs(
    configs: Iterable[RunConfig], *, draws: Sequence[int], validation: float = 0.2
) -> list[RunConfig]:
    """Validation runs of every candidate of every (method, ratio) of ``configs``, per draw."""
    out: dict[str, RunConfig] = {}
    for cfg in configs:
        space = search_space(cfg.method)
        if len(space) < 2:
            continue  # nothing to choose: no validation runs
        for candidate in space:
            for seed in draws:
                run = dataclasses.replace(
                    cfg, seed=int(seed), validation=validation, params=_merge(cfg.params, candidate)
                )
                out.setdefault(run.key(), run)
    return list(out.values())


def _slot(cfg: RunConfig) -> tuple[str, Any]:
    return cfg.method, cfg.ratio


def _draw_keys(
    cfg: RunConfig, params: Mapping[str, Any], draws: Sequence[int], validation: float
) -> list[str]:
    """The config hashes of one candidate's validation runs, one per tuning draw."""
    return [
        dataclasses.replace(cfg, seed=int(s), validation=validation, params=dict(params)).key()
        for s in draws
    ]


def select(
    configs: Iterable[RunConfig],
    rows: pd.DataFrame,
    *,
    draws: Sequence[int],
    validation: float = 0.2,
    metric: str = "acsa",
) -> dict[tuple[str, Any], dict[str, Any]]:
    """Per (method, ratio): the candidate with the best mean validation ``metric`` over draws.

    ``rows`` must hold every validation run of :func:`tuning_configs` (only validation rows
    are read, by config hash); ties go to the candidate listed first.
    """
    by_hash = rows.set_index("config_hash")
    chosen: dict[tuple[str, Any], dict[str, Any]] = {}
    for cfg in configs:
        slot = _slot(cfg)
        if slot in chosen:
            continue
        space = search_space(cfg.method)
        if len(space) < 2:
            chosen[slot] = _merge(cfg.params, space[0])
            continue
        best, best_score = None, float("-inf")
        for candidate in space:
            params = _merge(cfg.params, candidate)
            keys = _draw_keys(cfg, params, draws, validation)
            missing = [k for k in keys if k not in by_hash.index]
            if missing:
                raise ValueError(f"{cfg.method} at ratio {cfg.ratio}: {len(missing)} runs missing")
            score = float(by_hash.loc[keys, metric].mean())
            if score > best_score:
                best, best_score = params, score
        chosen[slot] = best
    return chosen


def validation_scores(
    configs: Iterable[RunConfig],
    rows: pd.DataFrame,
    *,
    draws: Sequence[int],
    validation: float = 0.2,
    metric: str = "acsa",
) -> pd.DataFrame:
    """Per (method, ratio, candidate): the mean validation ``metric`` over ``draws``.

    The scores :func:`select` chooses by, kept, so a chapter can set two methods' best
    validation scores side by side (GaussPert's two covariance readings, say). Slots whose
    candidates are not all stored are left out; ``chosen`` marks each slot's best.
    """
    by_hash = rows.set_index("config_hash") if len(rows) else pd.DataFrame()
    out, seen = [], set()
    for cfg in configs:
        if _slot(cfg) in seen:
            continue
        seen.add(_slot(cfg))
        scores = []
        for i, candidate in enumerate(search_space(cfg.method)):
            params = _merge(cfg.params, candidate)
            keys = _draw_keys(cfg, params, draws, validation)
            if not all(k in by_hash.index for k in keys):
                scores = []
                break
            scores.append((i, params, float(by_hash.loc[keys, metric].mean())))
        best = max(scores, key=lambda t: (t[2], -t[0]))[0] if scores else None
        for i, params, score in scores:
            out.append(
                {"method": cfg.method, "ratio": cfg.ratio, "candidate": i, "params": params,
                 metric: score, "chosen": i == best}
            )  # fmt: skip
    columns = ["method", "ratio", "candidate", "params", metric, "chosen"]
    return pd.DataFrame(out, columns=columns)


def final_configs(
    configs: Iterable[RunConfig], chosen: Mapping[tuple[str, Any], Mapping[str, Any]]
) -> list[RunConfig]:
    """``configs`` with each (method, ratio)'s chosen params: the runs that read the test set."""
    return [dataclasses.replace(c, params=dict(chosen[_slot(c)])) for c in configs]


def write_final_grid(
    configs: Sequence[RunConfig],
    chosen: Mapping[tuple[str, Any], Mapping[str, Any]],
    path: str | os.PathLike[str],
    header: str = "",
) -> Path:
    """The final runs as a grid file: one block per (method, ratio), its seeds, its choice."""
    slots: dict[tuple[str, Any], list[RunConfig]] = {}
    for cfg in configs:
        slots.setdefault(_slot(cfg), []).append(cfg)
    blocks = []
    for slot, group in slots.items():
        first = group[0].to_dict()
        base = {k: v for k, v in first.items() if k not in ("method", "seed", "params")}
        blocks.append(
            {
                "base": base,
                "grid": {"seed": sorted({c.seed for c in group}), "method": [slot[0]]},
                "params": {slot[0]: dict(chosen[slot])},
            }
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(grid_text({"blocks": blocks}, header), "utf-8")  # no YAML aliases
    return path


def _pipeline(params: Mapping[str, Any]) -> str:
    """``"CW extractor, MLP head"``: the shared pipeline a feature-space run used."""
    weight = params.get("extractor_weight", "balanced")
    hidden = (params.get("head") or {}).get("hidden", [256, 128])
    return f"{'CW' if weight else 'CE'} extractor, {'MLP' if hidden else 'linear'} head"


def pipeline_table(rows: pd.DataFrame, metric: str = "acsa") -> pd.DataFrame:
    """The feature-space methods under each fixed pipeline: mean ``metric`` and rank.

    From validation rows (the tuning runs): per pipeline (extractor loss x head), each
    method's mean over draws and ratios, and its rank among the methods (1 = best). Which
    verdicts hold under every pipeline, and which flip with it, can be read off the ranks.
    """

    fs = rows[(rows["family"] == "feature_space") & (rows["evaluated_on"] == "validation")]
    if fs.empty:
        raise ValueError("no feature-space validation rows (run `imbnb tune --only feature_space`)")
    pipe = [_pipeline(json.loads(p)) for p in fs["params"]]
    means = fs.assign(pipeline=pipe).pivot_table(
        index="method", columns="pipeline", values=metric, aggfunc="mean"
    )
    ranks = means.rank(ascending=False)
    return pd.concat({f"mean {metric}": means, "rank": ranks}, axis=1)
