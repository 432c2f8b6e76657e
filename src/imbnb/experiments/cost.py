"""What each run cost: the network it builds on and its own steps, in seconds (chapter 8).

Methods of one family share networks (one extractor per split for the feature-space methods,
one autoencoder for DeepADASYN, DeepDenoisingSMOTE and DeepDenoising+WC, ...), trained by
whichever run came first; its wall time carries the training and the others' do not. A fair
price of a method is the training of the network it needs plus its own steps, whichever run
paid for the training. Rows record both parts (``network_seconds``, ``method_seconds``, see
:mod:`imbnb.experiments.registry`); for rows from before they did, :func:`run_costs` derives
them from the times those rows did record.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from imbnb.experiments.config import RunConfig
from imbnb.experiments.registry import shared_key

__all__ = ["COST_COLUMNS", "cost_table", "run_costs"]

#: The two parts of a run's cost, in seconds.
COST_COLUMNS: tuple[str, str] = ("network_seconds", "method_seconds")


def _col(rows: pd.DataFrame, name: str) -> pd.Series:
    """A column as floats, NaN where the table has none."""
    if name not in rows:
        return pd.Series(np.nan, index=rows.index)
    return pd.to_numeric(rows[name], errors="coerce").astype(float)


def _groups(rows: pd.DataFrame) -> pd.Series:
    """Each row's shared-network key (:func:`imbnb.experiments.registry.shared_key`)."""

    return pd.Series(
        [shared_key(RunConfig.from_row(r)) for _, r in rows.iterrows()],
        index=rows.index,
        dtype=object,
    )


def _trained_once(excess: pd.Series, groups: pd.Series) -> pd.Series:
    """A group's network time: the largest excess wall time over its other runs' median.

    The run that trained the network took longer than the rest by its training; subtracting
    the others' median removes what every run pays (loading data and the cached network).
    NaN for a group of one run, whose excess cannot be told apart from its own steps.
    """

    def one(g: pd.Series) -> float:
        if len(g) < 2:
            return np.nan
        return float(max(g.max() - g.drop(g.idxmax()).median(), 0.0))

    return excess.groupby(groups).transform(one)


def _derived(rows: pd.DataFrame) -> pd.DataFrame:
    """Both parts of the cost for rows that predate recording them, family by family."""
    wall, seconds = _col(rows, "wall_seconds"), _col(rows, "seconds")
    family, groups = rows["family"], _groups(rows)
    net = pd.Series(np.nan, index=rows.index)
    own = pd.Series(np.nan, index=rows.index)
    # seconds = the loss CNN's or GAMO's training (kept in its cache), also on a cache hit
    trained = family.isin(["losses", "gamo"])
    net[trained] = seconds[trained]
    own[trained] = (wall - seconds).where(wall >= seconds, wall)[trained]  # else: from cache
    fs = family == "feature_space"  # seconds = resampling + head; the rest is the extractor
    net[fs], own[fs] = _trained_once((wall - seconds)[fs], groups[fs]), seconds[fs]
    dos = family == "dos"  # no own time recorded: the run that trained DOS took the longest
    net[dos] = _trained_once(wall[dos], groups[dos])
    is_trainer = wall[dos] == wall[dos].groupby(groups[dos]).transform("max")
    own[dos] = wall[dos] - net[dos].where(is_trainer, 0.0)
    gen = family == "generative"  # seconds_ae: the AE's training on the run that trained it
    ae = _col(rows, "seconds_ae")[gen]
    has_ae = ae.notna()
    net[gen] = ae.groupby(groups[gen]).transform("max").where(has_ae, 0.0)
    own[gen] = seconds[gen] - ae.fillna(0.0)
    return pd.DataFrame({"network_seconds": net, "method_seconds": own})


def run_costs(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with both cost columns filled: as recorded, else derived (:func:`_derived`).

    A column ``cost_derived`` says which. A derived network time assumes the table holds the
    run that trained each network (true of sweeps that start from an empty cache, such as the
    committed paper table's).
    """
    out = rows.copy()
    recorded = pd.DataFrame({c: _col(rows, c) for c in COST_COLUMNS})
    missing = recorded.isna().any(axis=1)
    if missing.any():
        recorded.loc[missing] = _derived(rows[missing]).to_numpy()
    for c in COST_COLUMNS:
        out[c] = recorded[c]
    out["cost_derived"] = missing
    return out


def cost_table(rows: pd.DataFrame, by: Sequence[str] = ("family", "method")) -> pd.DataFrame:
    """Mean network, own and total seconds per ``by`` group, cheapest first.

    ``runs`` counts the rows of a group and ``derived`` is the share whose parts were derived.
    """
    costs = run_costs(rows)
    costs["total_seconds"] = costs["network_seconds"] + costs["method_seconds"]
    grouped = costs.groupby(list(by))
    out = grouped[[*COST_COLUMNS, "total_seconds"]].mean()
    out["runs"] = grouped.size()
    out["derived"] = grouped["cost_derived"].mean()
    return out.sort_values("total_seconds")
