"""Small figure data stored beside a run's row, so a chapter draws a paper-scale figure
without training its network (issue: the paper book in minutes).

A sweep asked for figures (``imbnb sweep --figures``) stores, for each run whose family makes
one (:data:`imbnb.experiments.figure_makers.FIGURES`), a few named arrays and a JSON header in
``<table>.figures/<config_hash>.npz`` beside ``<table>.parquet``: kilobytes (at most
:data:`MAX_BYTES`), written atomically, read with ``allow_pickle=False`` (an ``.npz`` is a zip
whose members carry CRC-32 checksums, checked on read). A chapter then draws from
:func:`load_figure`; where no file exists it trains the network as before.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_BYTES",
    "FigureData",
    "copy_figures",
    "figures_dir",
    "has_figure",
    "load_figure",
    "save_figure",
    "stored_figures",
]

#: The largest figure file: the data of a figure, never a network or a dataset.
MAX_BYTES = 256 * 1024
_META = "meta_json"


@dataclass
class FigureData:
    """A run's figure data: named arrays and a JSON-safe header (what they are, how made)."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


def figures_dir(table: str | os.PathLike[str]) -> Path:
    """Where the figure files of ``table`` (``results.parquet``) live: ``results.figures/``."""
    path = Path(table)
    return path.with_name(path.name.removesuffix(".parquet") + ".figures")


def _path(table: str | os.PathLike[str], config_hash: str) -> Path:
    if not config_hash.isalnum():
        raise ValueError(f"config_hash must be alphanumeric, got {config_hash!r}")
    return figures_dir(table) / f"{config_hash}.npz"


def save_figure(table: str | os.PathLike[str], config_hash: str, data: FigureData) -> Path:
    """Write ``data`` as the figure file of run ``config_hash`` of ``table`` (atomically)."""
    odd = [k for k, a in data.arrays.items() if np.asarray(a).dtype.kind not in "biufU"]
    if odd or _META in data.arrays:
        raise ValueError(f"figure arrays must be numbers or strings, not {odd or [_META]}")
    out = _path(table, config_hash)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{config_hash}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            meta = np.array(json.dumps(data.meta, sort_keys=True))
            np.savez_compressed(fh, **{k: np.asarray(a) for k, a in data.arrays.items()},
                                **{_META: meta})  # fmt: skip
        size = os.path.getsize(tmp)
        if size > MAX_BYTES:
            raise ValueError(
                f"figure data of run {config_hash[:12]} is {size:,} bytes, over MAX_BYTES "
                f"({MAX_BYTES:,}): a figure file holds what a figure draws, not a network"
            )
        os.chmod(tmp, 0o644)  # a data file others read, as the table beside it
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def load_figure(
    tables: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], config_hash: str
) -> FigureData | None:
    """The figure data of run ``config_hash`` from the first of ``tables`` holding it."""
    for table in [tables] if isinstance(tables, str | os.PathLike) else tables:
        path = _path(table, config_hash)
        if path.is_file():
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files if k != _META}
                meta = json.loads(str(npz[_META]))
            return FigureData(arrays, meta)
    return None


def copy_figures(
    side: str | os.PathLike[str], into: str | os.PathLike[str], hashes: Iterable[str]
) -> int:
    """Copy the figure files of ``hashes`` from table ``side`` to table ``into`` where
    ``into`` lacks them (a merge of a side table); returns how many were copied."""
    copied = 0
    for h in hashes:
        src, dst = _path(side, h), _path(into, h)
        if src.is_file() and not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            copied += 1
    return copied


def has_figure(table: str | os.PathLike[str], config_hash: str) -> bool:
    """Whether ``table`` holds the figure file of run ``config_hash``."""
    return _path(table, config_hash).is_file()


def stored_figures(table: str | os.PathLike[str]) -> Mapping[str, Path]:
    """Every figure file of ``table``, by config hash."""
    folder = figures_dir(table)
    return {p.stem: p for p in sorted(folder.glob("*.npz"))} if folder.is_dir() else {}
