"""Phrases and numbers for a chapter's prose, so the text stays true for every profile.

A chapter states its findings with glued words ("ADOS {glue:text}`word` FS-SMOTE") rather than
fixed claims: the words come from the run. These helpers build them the same way everywhere:

* :func:`direction_word` turns a difference (or one per ratio, setting...) into a word such as
  "beats", "trails" or "matches";
* :func:`threshold_phrase` picks a clause by the band a number falls in;
* :func:`phrase_list` and :func:`ranked_text` join parts into one phrase;
* :func:`lookup` reads one number of a table, NaN where a method was not run;
* :func:`glue_all` glues a mapping of names to values without displaying them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "direction_word",
    "glue_all",
    "lookup",
    "phrase_list",
    "ranked_text",
    "threshold_phrase",
]


def direction_word(
    diff: float | Iterable[float],
    up: str = "beats",
    down: str = "trails",
    same: str = "matches",
    *,
    tol: float = 0.01,
    baseline: float = 0.0,
    missing: str = "cannot be compared with",
) -> str:
    """Word for where ``diff`` lies against ``baseline`` ± ``tol``, so prose fits every run.

    ``diff`` is one number or several (one per ratio, say). All above ``baseline + tol``:
    ``up``; all below ``baseline - tol``: ``down``; none outside: ``same``; some outside on
    one side only: "``same`` or ``up``" / "``same`` or ``down``"; both sides: "neither
    consistently ``up`` nor ``down``". NaN entries count on neither side; all NaN (a method
    that was not run) gives ``missing``.
    """
    values = np.atleast_1d(np.asarray(diff, dtype=float))
    if values.ndim != 1:
        raise ValueError(f"diff must be a number or 1-D, got shape {values.shape}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if values.size == 0 or np.isnan(values).all():
        return missing
    wins = int((values > baseline + tol).sum())
    losses = int((values < baseline - tol).sum())
    if wins == len(values):
        return up
    if losses == len(values):
        return down
    if losses == 0:
        return f"{same} or {up}" if wins else same
    if wins == 0:
        return f"{same} or {down}"
    return f"neither consistently {up} nor {down}"


def threshold_phrase(value: float, bands: Sequence[tuple[float, str]], otherwise: str) -> str:
    """Phrase of the first band whose bound ``value`` is below, else ``otherwise`` (and NaN)."""
    for bound, phrase in bands:
        if value < bound:
            return phrase
    return otherwise


def phrase_list(parts: Iterable[str], *, sep: str = ", ", empty: str = "none") -> str:
    """Parts joined by ``sep``, or ``empty`` when there are none, so a list never reads blank."""
    return sep.join(parts) or empty


def ranked_text(
    values: pd.Series | Mapping[Hashable, float],
    *,
    k: int | None = None,
    sep: str = ", ",
    names: Mapping[Hashable, str] | None = None,
    digits: int = 3,
) -> str:
    """A ranking for the text: "name (value)" for the ``k`` largest values, best first."""
    ranked = pd.Series(values, dtype=float).sort_values(ascending=False)
    if k is not None:
        ranked = ranked.head(k)
    names = names or {}
    return phrase_list((f"{names.get(m, m)} ({v:.{digits}f})" for m, v in ranked.items()), sep=sep)


def lookup(table: pd.DataFrame | pd.Series, key: Hashable, column: Hashable | None = None) -> float:
    """``table.loc[key, column]`` as a float, NaN when absent (a method the profile did not run)."""
    try:
        value = table.loc[key] if column is None else table.loc[key, column]
        return float(value)
    except KeyError:
        return float("nan")


def glue_all(values: Mapping[str, Any]) -> None:
    """Glue every name -> value in order without displaying it (myst-nb), for the prose."""
    from myst_nb import glue  # the book's extra; the package itself does not need it

    for name, value in values.items():
        glue(name, value, display=False)
