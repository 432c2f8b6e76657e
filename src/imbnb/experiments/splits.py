"""The train/test indices of a run's split, and their export for readers (chapter 8).

:func:`run_split` rebuilds exactly the split every method family uses for a
:class:`~imbnb.experiments.RunConfig` (cap per class by seed, then the imbalance protocol, then
the test draw), and :func:`export_split` writes it as a small gzipped JSON file under
``book/data/splits/`` with the protocol's parameters, so a reader can reuse our splits without
our code.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from imbnb import paths
from imbnb.data import ImageDataset, load_dataset
from imbnb.experiments.config import RunConfig
from imbnb.imbalance import COUNT_PRESETS, make_imbalanced, select_test
from imbnb.methods.deepsmote import count_split
from imbnb.methods.extractor import cap_per_class

__all__ = ["export_split", "export_splits", "read_split", "run_split", "split_name", "splits_dir"]


def splits_dir() -> Path:
    """Where the exported splits live in the repository."""
    return paths.book_dir() / "data" / "splits"


def split_name(cfg: RunConfig) -> str:
    """File stem of a split: dataset, protocol and its parameter, seed, caps."""
    what = f"scale{cfg.count_scale:g}" if cfg.protocol == "counts" else f"ratio{cfg.ratio:g}"
    if cfg.minority_classes is not None:
        what += "_classes" + "-".join(map(str, cfg.minority_classes))
    if cfg.protocol == "longtail":
        what += f"_{cfg.lt_preset}" if cfg.lt_preset else ""
        what += f"_rhoprime{cfg.lt_rho_prime:g}" if cfg.lt_rho_prime != 10 else ""
    caps = f"_train{cfg.n_train}" if cfg.n_train else ""
    caps += f"_test{cfg.n_test}" if cfg.n_test else ""
    return f"{cfg.dataset}_{cfg.protocol}_{what}_seed{cfg.seed}{caps}"


def run_split(
    cfg: RunConfig, train: ImageDataset | None = None, test: ImageDataset | None = None
) -> dict[str, Any]:
    """Train indices, test indices, counts and minority classes of ``cfg``'s split."""

    train = train if train is not None else load_dataset(cfg.dataset, "train")
    test = test if test is not None else load_dataset(cfg.dataset, "test")
    if cfg.protocol in ("minority", "longtail"):
        pool = cap_per_class(train.labels, cfg.n_train, cfg.seed)
        split = make_imbalanced(train.labels[pool], cfg.protocol, **_protocol_options(cfg))
        train_idx = pool[split.indices]
    else:
        split = count_split(train.labels, cfg.count_scale, cfg.seed)
        train_idx = split.indices
    test_idx = select_test(test.labels, per_class=cfg.n_test, seed=cfg.seed)
    return {
        "train_indices": np.asarray(train_idx, dtype=np.int64),
        "test_indices": np.asarray(test_idx, dtype=np.int64),
        "counts": {int(k): int(v) for k, v in split.counts.items()},
        "minority_classes": [int(c) for c in split.minority_classes],
    }


def _protocol_options(cfg: RunConfig) -> dict[str, Any]:
    """The cut's parameters: the thesis's minority classes, or the long tail's profile."""
    if cfg.protocol == "minority" and cfg.minority_classes is not None:
        return {
            "ratio": cfg.ratio,
            "minority_classes": list(cfg.minority_classes),
            "seed": cfg.seed,
        }
    if cfg.protocol == "minority":
        return {"ratio": cfg.ratio, "n_minority": cfg.n_minority, "seed": cfg.seed}
    return {
        "ratio": cfg.ratio,
        "preset": cfg.lt_preset,
        "rho_prime": cfg.lt_rho_prime,
        "seed": cfg.seed,
    }


def _parameters(cfg: RunConfig) -> dict[str, Any]:
    """The protocol's parameters as written in an exported split."""
    if cfg.protocol == "counts":
        return {"count_scale": cfg.count_scale, "count_list": COUNT_PRESETS["mnist"]}
    return {k: v for k, v in _protocol_options(cfg).items() if k != "seed"}


def export_split(cfg: RunConfig, folder: str | os.PathLike[str] | None = None) -> Path:
    """Write ``cfg``'s split to ``<folder>/<split_name>.json.gz`` atomically; return the path."""
    folder = Path(folder) if folder is not None else splits_dir()
    folder.mkdir(parents=True, exist_ok=True)
    s = run_split(cfg)
    doc = {
        "dataset": cfg.dataset,
        "protocol": cfg.protocol,
        "parameters": _parameters(cfg),
        "seed": cfg.seed,
        "n_train_per_class_cap": cfg.n_train,
        "n_test_per_class": cfg.n_test,
        "counts": s["counts"],
        "minority_classes": s["minority_classes"],
        "train_indices": s["train_indices"].tolist(),
        "test_indices": s["test_indices"].tolist(),
        "note": "indices into the dataset's official train / test files, in their order",
    }
    target = folder / f"{split_name(cfg)}.json.gz"
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(json.dumps(doc, separators=(",", ":")).encode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def export_splits(configs: Iterable[RunConfig], folder: str | None = None) -> list[Path]:
    """Export every distinct split among ``configs`` (methods share splits)."""
    seen: dict[str, RunConfig] = {}
    for cfg in configs:
        seen.setdefault(split_name(cfg), cfg)
    return [export_split(cfg, folder) for cfg in seen.values()]


def read_split(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load an exported split (plain JSON inside gzip; readable without imbnb)."""
    with gzip.open(path, "rb") as f:
        return json.loads(f.read())
