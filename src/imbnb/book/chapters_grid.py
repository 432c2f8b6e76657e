"""The chapters' own grid file, generated from a profile (``imbnb grid write --grid chapters``).

``book/grids/chapters.yaml`` is :func:`chapters_grid_text` of the ``paper`` profile: each
chapter's runs under the profile, computed from its parameters (:func:`imbnb.book.runner.
chapter_values`) as its notebook turns them into run configs (:func:`chapter_configs`), less
those chapter 8's grid holds (same config hash; :mod:`imbnb.book.grid_file`), chapter by
chapter under a comment. :func:`grid_blocks` writes each chapter's configs as a few blocks (a
base, the crossed fields, each family's params), so the file stays readable and
:func:`imbnb.experiments.load_grid` reads back exactly those configs. A chapter reads chapter
8's rows where the hash is the same and these from the chapters' table, and no test keeps a
copy of either grid in step.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from imbnb import paths
from imbnb.book.ados_runs import read_configs as ados_read
from imbnb.book.calibration_chapter import read_configs as calibration_read
from imbnb.book.dos_tables import read_configs as dos_read
from imbnb.book.feature_runs import read_configs as features_read
from imbnb.book.gamo_runs import read_configs as gamo_read
from imbnb.book.generative_runs import read_configs as deepsmote_read
from imbnb.book.grid_file import grid_settings, shown_path
from imbnb.book.loss_chapter import read_configs as loss_read
from imbnb.book.motivation_chapter import read_configs as motivation_read
from imbnb.book.runner import chapter_values
from imbnb.experiments import RunConfig, expand_grid
from imbnb.experiments.book_grid import grid_text
from imbnb.experiments.config import PROTOCOLS
from imbnb.experiments.registry import family_of

__all__ = [
    "CHAPTERS",
    "ChapterRuns",
    "chapter_configs",
    "chapters_grid_text",
    "grid_blocks",
    "own_configs",
    "write_chapters_grid",
]

_WIDTH = 100  # the grid file's line length
#: The committed tables' MNIST is the 5k sample, what chapter 6's "mnist" reads where full MNIST
#: is not on disk (:func:`imbnb.book.generative_runs.table_dataset`), so the file is the same on
#: every machine (where full MNIST is on disk the chapter lists its "mnist" runs as missing).
_TABLE_DATASETS = {"mnist": "mnist5k"}


Parts = Callable[[Mapping[str, Any]], dict[str, list[RunConfig]]]


def _on_table_datasets(read: Parts) -> Parts:
    """``read`` (chapters 6-7's) on the datasets the committed tables hold (``mnist`` as the
    5k sample), whatever this machine has on disk."""

    def on_tables(v: Mapping[str, Any]) -> dict[str, list[RunConfig]]:
        changed: dict[str, Any] = {}
        if "dataset" in v:
            changed["dataset"] = _TABLE_DATASETS.get(v["dataset"], v["dataset"])
        if "datasets" in v:
            changed["datasets"] = [_TABLE_DATASETS.get(d, d) for d in v["datasets"]]
        return read({**v, **changed})

    return on_tables


@dataclass(frozen=True)
class ChapterRuns:
    """A chapter of the file: its notebook, the comment over its blocks (``{runs}``: how many
    runs they hold) and its runs by comparison from its parameter values: the function its
    notebook calls to list the runs it reads."""

    chapter: str
    comment: str
    parts: Parts


#: The file's chapters, in its order, each comment describing its runs under ``paper``.
CHAPTERS: tuple[ChapterRuns, ...] = (
    ChapterRuns(
        "09_loss_baselines",
        "Chapter 9: every loss on the loss papers' long tail, Fashion-MNIST-LT (n_max 6000, rho "
        "100: 6000, 3596, ..., 60 images; classes with at most 600 count as minority), 5 epochs, "
        "batch 40.",
        loss_read,
    ),
    ChapterRuns(
        "03_ados",
        'Chapter 3, "Pseudo-features": Konno & Iwazume\'s section 3 protocol. k = 1..9 minor '
        "classes, drawn by the seed, keep 1/10 of their images; one plain cross-entropy "
        "extractor per (k, seed) (the paper's Step 1), then each method retrains the 256-128 "
        "MLP head on its features.",
        ados_read,
    ),
    ChapterRuns(
        "01_motivation",
        "Chapter 1: the plain CNN (CNN-CE: cross-entropy, 5 epochs, batch 40) at every ratio of "
        "the thesis's minority protocol, 5 class draws, on Fashion-MNIST and MNIST-5k. Chapter "
        "8's table holds Fashion-MNIST's draws 0-2 at rho >= 10; these blocks are the other "
        "{runs} runs.",
        motivation_read,
    ),
    ChapterRuns(
        "04_dos",
        "Chapter 4 (DOS): the DOS paper's protocol (section 4.2; a removal fraction p is the "
        "ratio 1/(1-p): p = 0.9, 0.95, 0.99 are rho = 10, 20, 100) that chapter 8's table lacks. "
        "Chapter 8 holds Fashion-MNIST at k = 5; these are MNIST-5k at k = 5 (Table 6 and its "
        "classifiers), k = 3 and 10 at p = 0.99 on both datasets (Table 7: DOS's own "
        "classifier only), and the paper's CNN baselines on both (DOS-init: DOS's initial "
        "network before any round, its own classifier and LR / kNN on its embedding), then "
        "Table 8's balanced data on Fashion-MNIST (ratio 1: k = 5 for every class, r = 1). "
        "Three seeds, DOS's Table 4 settings (3 epochs of initialisation, 3 rounds, batch 60).",
        dos_read,
    ),
    ChapterRuns(
        "05_gamo",
        "Chapter 5 (GAMO), Table 1: the paper's class counts (protocol counts: 4000, 2000, ..., "
        "40; MNIST-5k's shrunk to what it holds, 400, ..., 4), 100 test images per class, three "
        "seeds, the four systems (the paper's CN, SMOTE+CN, GAMO\\D, GAMO) with both losses, "
        "25,000 iterations of Algorithm 1 at lr 2e-4, batch 32; F convolutional on "
        "Fashion-MNIST, the flattened variant on MNIST-5k. Chapter 8's table runs GAMO on the "
        "minority protocol only, so these are all {runs} of the chapter's runs (a block per "
        "dataset and loss: their params differ).",
        gamo_read,
    ),
    ChapterRuns(
        "02_feature_learning",
        "Chapter 2: plain and class-weighted cross-entropy extractors at rho 20 (three class "
        "draws), each scored by its own classifier h (CNN-h), kNN (k = 5) and logistic "
        "regression on its features (BL with that head; DOS Tables 2-3's comparison). {runs} "
        "runs, a block per training and head.",
        features_read,
    ),
    ChapterRuns(
        "06_deepsmote",
        "Chapter 6 (DeepSMOTE and regularised autoencoders) under paper: the count list "
        "(protocol counts, count_scale 1.0) with chapter 8's autoencoder (width 64, 50 epochs, "
        "lr 3e-4) and classifier (20 epochs). Chapter 8's table holds Fashion-MNIST's runs; "
        "these are MNIST-5k's (the chapter's \"mnist\" where full MNIST is not on disk: the list "
        "shrunk to 400, ..., 4) and the penalty comparison (DeepSMOTE's paired and no penalty; "
        "official is chapter 8's run) on Fashion-MNIST, three seeds, not on every variant.",
        _on_table_datasets(deepsmote_read),
    ),
    ChapterRuns(
        "07_weighted_calibration",
        "Chapter 7 (weighted calibration) under paper: the sweep of k (1, 5, 10) and of the "
        "component cap (1, 3, 30), the other knob at its default (k 3, cap 10: chapter 8's run), "
        "on Fashion-MNIST's count list, three seeds; every run reuses the seed's denoising "
        "autoencoder.",
        _on_table_datasets(calibration_read),
    ),
)
_BY_NAME = {c.chapter: c for c in CHAPTERS}


def chapter_configs(chapter: str, profile: str) -> list[RunConfig]:
    """Every run ``chapter`` reads from tables under ``profile``, in the order it reads them."""
    if chapter not in _BY_NAME:
        raise ValueError(f"chapter must be one of {list(_BY_NAME)}, got {chapter!r}")
    parts = _BY_NAME[chapter].parts(chapter_values(chapter, profile))
    return [c for part in parts.values() for c in part]


def own_configs(profile: str) -> dict[str, list[RunConfig]]:
    """Each chapter's runs under ``profile`` that chapter 8's grid lacks (same config hash),
    in :data:`CHAPTERS`' order; a run two chapters read is listed under the first."""
    held = {c.key() for c in expand_grid(grid_settings(profile).spec())}
    out: dict[str, list[RunConfig]] = {}
    for part in CHAPTERS:
        own = {c.key(): c for c in chapter_configs(part.chapter, profile) if c.key() not in held}
        out[part.chapter] = list(own.values())
        held |= set(own)
    return out


# -- a set of configs as a few blocks ----------------------------------------------------------

#: The order of a block's fields (``seed`` first and ``method`` last in its grid).
_ORDER = ("method", "dataset", "protocol", "ratio", "lt_preset", "lt_rho_prime", "n_minority",
          "minority_classes", "count_scale", "seed", "n_train", "n_test", "validation",
          "profile")  # fmt: skip
_SHOWN = {"method", "dataset", "protocol", "seed", "profile"}  # written even at their default
_PROTOCOL_FIELDS = {"minority": {"ratio"}, "counts": {"count_scale"},
                    "longtail": {"ratio", "lt_preset", "lt_rho_prime"}}  # fmt: skip
#: Each field's default, and each protocol's key at the defaults (a field it drops is absent).
_FIELD_DEFAULTS = {f.name: f.default for f in fields(RunConfig) if f.default is not MISSING}
_KEY_DEFAULTS = {p: RunConfig("x", protocol=p).to_dict() for p in PROTOCOLS}
_UNSET = object()


_WHOLE = ("ratio", "lt_rho_prime")  # written 10, not 10.0 (the same key)


def _plain(name: str, value: Any) -> Any:
    """A field's value as the file writes it: a whole ratio as an integer, lists for tuples."""
    if name in _WHOLE and isinstance(value, float) and value.is_integer():
        return int(value)
    return list(value) if isinstance(value, tuple) else value


def _fields(cfg: RunConfig) -> dict[str, Any]:
    """The fields of a config's key that the file writes: the run's identity, its protocol's
    own fields, and any other field away from its default."""
    keep, default = _SHOWN | _PROTOCOL_FIELDS[cfg.protocol], _KEY_DEFAULTS[cfg.protocol]
    return {
        k: _plain(k, v)
        for k, v in cfg.to_dict().items()
        if k != "params" and (k in keep or v != default.get(k, _UNSET))
    }


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a field value (a list of classes)."""
    return tuple(value) if isinstance(value, list) else value


def _values(rows: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """The distinct values of field ``name`` among ``rows``, in order of first appearance."""
    seen: dict[Any, Any] = {}
    for row in rows:
        seen.setdefault(_frozen(row[name]), row[name])
    return list(seen.values())


def _is_product(rows: Sequence[Mapping[str, Any]], varying: Sequence[str]) -> bool:
    """Whether ``rows`` (distinct) are every combination of their varying fields' values."""
    size = 1
    for name in varying:
        size *= len(_values(rows, name))
    return size == len(rows)


def _split(rows: list[dict[str, Any]], name: str) -> list[tuple[list[Any], list[dict]]]:
    """``rows`` by their value of ``name``, values whose other fields' rows are the same set
    together: (values, those rows without ``name``)."""
    groups: dict[frozenset, tuple[list[Any], list[dict]]] = {}
    for value in _values(rows, name):
        rest = [{k: v for k, v in r.items() if k != name} for r in rows if r[name] == value]
        key = frozenset(tuple((k, _frozen(v)) for k, v in r.items()) for r in rest)
        groups.setdefault(key, ([], rest))[0].append(value)
    return list(groups.values())


def _cover(rows: list[dict[str, Any]]) -> list[dict[str, list[Any]]]:
    """The fewest products found of ``rows`` (each field -> its values), splitting on one
    field at a time: the first in :data:`_ORDER` (the seed last) among equally good ones."""
    varying = [n for n in _ORDER if n in rows[0] and len(_values(rows, n)) > 1]
    if _is_product(rows, varying):
        return [{n: _values(rows, n) for n in rows[0]}]
    best: list[dict[str, list[Any]]] | None = None
    for name in [n for n in varying if n != "seed"] + ["seed"] * ("seed" in varying):
        cover = [
            {name: values, **product}
            for values, rest in _split(rows, name)
            for product in _cover(rest)
        ]
        if best is None or len(cover) < len(best):
            best = cover
    return best or []


def _block(product: Mapping[str, list[Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """A product as a grid block: one-value fields in ``base`` (seeds always in ``grid``)."""
    names = [n for n in _ORDER if n in product]
    crossed = [n for n in names if len(product[n]) > 1 or n == "seed"]
    order = sorted(crossed, key=lambda n: (n != "seed", n == "method"))  # stable otherwise
    base = {n: product[n][0] for n in names if n not in crossed}
    grid = {n: product[n] for n in order}
    return {"base": base, "grid": grid, "params": dict(params)}


def grid_blocks(configs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """Grid blocks that expand to exactly ``configs`` (distinct): a block per family and
    params, split where their other fields are not every combination of their values."""
    groups: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for cfg in configs:
        params = {f"family:{family_of(cfg.method)}": json.loads(json.dumps(cfg.params))}
        rows = groups.setdefault(json.dumps(params, sort_keys=True), (params, []))[1]
        rows.append(_fields(cfg))
    blocks = []
    for params, rows in groups.values():
        names = [n for n in _ORDER if any(n in r for r in rows)]
        full = [{n: r[n] if n in r else _plain(n, _FIELD_DEFAULTS[n]) for n in names} for r in rows]
        blocks += [_block(product, params) for product in _cover(full)]
    return blocks


# -- the file ----------------------------------------------------------------------------------

_ABOUT = (
    "Do not edit: the chapters' own runs under the `{profile}` profile that chapter 8's grid "
    "({grid}) does not hold, written by imbnb.book.chapters_grid from each chapter's "
    "parameters (its parameters cell, then its entry of src/imbnb/book/profiles.yaml) as its "
    "notebook turns them into run configs: a chapter reads chapter 8's rows where the config "
    "hash is the same, and these from {store}. Change a profile or a chapter's runs, then "
    "rerun the command (a test checks the committed book/grids/chapters.yaml). Run with:"
)


def _default_out(profile: str) -> Path:
    """Where a profile's chapters grid lives: ``book/grids/chapters.yaml`` for ``paper``."""
    name = "chapters.yaml" if profile == "paper" else f"chapters_{profile}.yaml"
    return paths.book_dir() / "grids" / name


def _store(profile: str) -> str:
    """The table the chapters read their own runs from under ``profile`` (chapter 1's)."""
    source = chapter_values("01_motivation", profile).get("own_results_source")
    return source if isinstance(source, str) and source.endswith(".parquet") else "results.parquet"


def _header(profile: str, out: str) -> str:
    """The file's comment: generated by which command, from what, and how to run it."""
    store = _store(profile)
    command = f"imbnb grid write --profile {profile} --grid chapters --out {out}"
    about = _ABOUT.format(profile=profile, grid=f"book/grids/{profile}.yaml", store=store)
    return "\n".join(
        [
            f"GENERATED by `{command}`.",
            textwrap.fill(about, width=_WIDTH - 2, break_on_hyphens=False),
            f"  imbnb sweep {out} --store {store}",
        ]
    )


def _comment(text: str) -> list[str]:
    """A chapter's comment, as lines of the ``blocks`` list."""
    lines = textwrap.wrap(text, width=_WIDTH - 4, break_on_hyphens=False)
    return [f"  # {line}" for line in lines]


def chapters_grid_text(profile: str, out: str | Path | None = None) -> str:
    """The text of the chapters' grid file under ``profile`` (to be written to ``out``, by
    default ``book/grids/chapters.yaml`` for ``paper``, which its header names)."""
    lines = []
    for chapter, configs in own_configs(profile).items():
        if configs:
            blocks = grid_text({"blocks": grid_blocks(configs)}).splitlines()[1:]
            lines += [*_comment(_BY_NAME[chapter].comment.format(runs=len(configs))), *blocks]
    if not lines:
        raise ValueError(f"under profile {profile!r} chapter 8's grid holds every chapter's runs")
    shown = shown_path(out or _default_out(profile))
    header = grid_text({"blocks": []}, _header(profile, shown)).splitlines()
    return "\n".join([*header, *lines]) + "\n"


def write_chapters_grid(profile: str, out: str | Path | None = None) -> Path:
    """Write the chapters' grid file under ``profile`` to ``out`` (by default
    ``book/grids/chapters.yaml`` for ``paper``); returns its path."""
    path = Path(out) if out is not None else _default_out(profile)
    path.write_text(chapters_grid_text(profile, path), encoding="utf-8")
    return path
