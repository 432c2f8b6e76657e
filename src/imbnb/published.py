"""Every published figure the book sets beside its own results, in one table (all chapters).

``book/data/published.csv`` holds one number per row with the columns :data:`COLUMNS`:
``paper`` is the key of the publication in ``book/references.bib``, ``table`` the table it was
read from, ``metric`` an :mod:`imbnb.metrics` summary name where one exists (``acsa``,
``gmean``, ``recall_macro``, ``f1_min``...; ``*_std`` for a published spread). The ADOS
thesis's Table 7.2 groups (majority / minority / average) are folded into the metric name
(``recall_maj``, ``f1_min``, ``gmean_avg``). Numbers are transcribed from the papers; no text.
``method`` is the paper's own label (a quoted table keeps its labels, e.g. GAMO's "GAMO\\D (CE)",
Cao et al.'s "ERM"); a chapter that sets a row beside its own maps the label to the book's one
name, through the registry's ``paper_name`` (:mod:`imbnb.methods.catalog`) or, where none is
set, a mapping in the chapter. Chapters read the table through :func:`load_published` instead
of retyping numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from imbnb import paths

__all__ = ["COLUMNS", "load_published", "published_path"]

COLUMNS: tuple[str, ...] = (
    "paper",
    "table",
    "dataset",
    "protocol",
    "ratio",
    "method",
    "metric",
    "value",
    "note",
)


def published_path() -> Path:
    """Location of the published-numbers table inside the repository."""
    return paths.book_dir() / "data" / "published.csv"


def load_published(**filters: Any) -> pd.DataFrame:
    """The published numbers, filtered by exact column matches (``paper="mullick2019gamo"``).

    An unknown column, or a filter that matches no row, is a ValueError naming what exists.
    """
    unknown = sorted(set(filters) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; allowed: {list(COLUMNS)}")
    df = pd.read_csv(published_path(), keep_default_na=False, na_values={"ratio": [""]})
    df["value"] = pd.to_numeric(df["value"])
    for column, wanted in filters.items():
        if column in ("ratio", "value"):
            match = df[column] == float(wanted)
        else:
            match = df[column].astype(str) == str(wanted)
        if not match.any():
            allowed = sorted(map(str, df[column].unique()))
            raise ValueError(f"no published row with {column}={wanted!r}; values here: {allowed}")
        df = df[match]
    return df.reset_index(drop=True)
