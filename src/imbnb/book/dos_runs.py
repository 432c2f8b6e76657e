"""Chapter 4's runs: its DOS grid written as run configs, its rows computed or read from tables.

Under ``quick`` the chapter trains every DOS run itself (:func:`imbnb.book.dos_chapter.
run_protocol`). Under ``paper`` it reads committed sweeps: each DOS run of the paper's protocol
is the ``DOS`` / ``DOS-LR`` / ``DOS-kNN`` run config of the experiment layer (removal fraction
p as its ratio 1/(1-p), :func:`imbnb.methods.dos.ratio_from_fraction`), read from chapter 8's
table where it holds the run (same config hash) and from ``book/grids/chapters.yaml``'s table
otherwise; only the figures' networks (the first dataset's and seed's runs) are trained here.
The CNN that DOS starts from, and LR and kNN on its embedding (the paper's CNN baselines), are
the experiment layer's ``DOS-init`` methods, read for every p at the main k.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from imbnb.book.ados_runs import cnn_rows, feature_configs, grid_rows
from imbnb.book.loss_chapter import loss_configs
from imbnb.book.table_source import Source, check_readable, missing_runs, read_rows
from imbnb.experiments import RunConfig
from imbnb.experiments.figures import FigureData, load_figure
from imbnb.experiments.registry import SETTINGS
from imbnb.methods.dos import INIT_METHODS, DOSConfig, ratio_from_fraction, run_dos
from imbnb.methods.dos_figure import N_PLOT, DOSFigure
from imbnb.methods.feature_space import CNN_CE, FeatureGrid
from imbnb.methods.losses_baselines import LossGrid, LossRunSettings

__all__ = [
    "DOS_METHODS",
    "balanced_config",
    "balanced_configs",
    "chapter_configs",
    "chapter_missing",
    "check_dos_readable",
    "dos_params",
    "figure_runs",
    "init_params",
    "protocol_configs",
    "protocol_rows",
    "source_sentences",
    "thesis_configs",
    "thesis_rows",
]

#: The experiment layer's DOS methods: DOS's own classifier, and LR / kNN on its embedding.
DOS_METHODS = ("DOS", "DOS-LR", "DOS-kNN")
_DEFAULTS = SETTINGS["dos"]  # the experiment layer's defaults for a DOS run
#: What the experiment layer's DOS adapter always runs with (DOSConfig's defaults), and the
#: neighbours of its DOS-kNN (DOSRun.rows' default): a chapter setting other than these
#: cannot be read from a table.
_FIXED = {
    name: getattr(DOSConfig, name)
    for name in ("arch", "lr", "k_majority", "r", "lambda_f", "protocol")
}
_KNN_K = 5


def check_dos_readable(settings: DOSConfig, knn_k: int) -> None:
    """Refuse, by parameter name, settings a DOS run config cannot express."""
    check_readable(settings.arch, _FIXED["arch"])
    for name, value in _FIXED.items():
        if getattr(settings, name) != value:
            raise ValueError(
                f"{name} must be {value!r} to read committed DOS runs (the experiment layer's "
                f"DOS runs use it), got {getattr(settings, name)!r}"
            )
    if knn_k != _KNN_K:
        raise ValueError(
            f"knn_k must be {_KNN_K} to read committed DOS runs (DOS-kNN's neighbours), "
            f"got {knn_k!r}"
        )


def dos_params(settings: DOSConfig, k: int) -> dict[str, Any]:
    """A DOS run's ``params``: init_epochs, rounds and k always (as chapter 8's grid writes
    them), the batch size only where it differs from the default, so equal runs share a hash."""
    params: dict[str, Any] = {"init_epochs": settings.init_epochs, "k": k}
    params["rounds"] = settings.rounds
    if settings.batch_size != _DEFAULTS["batch_size"]:
        params["batch_size"] = settings.batch_size
    return params


def init_params(settings: DOSConfig) -> dict[str, Any]:
    """A DOS-init run's ``params``: init_epochs always, the batch size where it differs from
    the default (no DOS knob: the initial CNN runs no round)."""
    params: dict[str, Any] = {"init_epochs": settings.init_epochs}
    if settings.batch_size != _DEFAULTS["batch_size"]:
        params["batch_size"] = settings.batch_size
    return params


def balanced_config(base: DOSConfig, seed: int, n_train: int | None) -> DOSConfig:
    """DOS on balanced data (the paper's §4.2 and Table 8): every class overloaded with k
    neighbours and r = 1, as the experiment layer runs it (the minority protocol at ratio 1:
    no class is cut, so the drawn classes are minority in name only)."""
    return replace(base, p=None, ratio=1.0, minority_classes=None, n_minority=4, seed=seed,
                   k_majority=base.k, r=1, n_train=n_train)  # fmt: skip


def balanced_configs(
    base: DOSConfig, dataset: str, seeds: Sequence[int], n_train: int | None, profile: str
) -> list[RunConfig]:
    """The balanced comparison's six classifiers per seed as run configs (DOS's with k for
    every class and r = 1; the CNN baselines are the ratio-1 split's DOS-init runs)."""
    dos = {**dos_params(base, base.k), "k_majority": base.k, "r": 1}
    return [
        RunConfig(method, dataset=dataset, ratio=1.0, seed=seed, n_train=n_train,
                  n_test=base.n_test, profile=profile,
                  params=init_params(base) if method in INIT_METHODS else dos)
        for seed in seeds
        for method in (*DOS_METHODS, *INIT_METHODS)
    ]  # fmt: skip


def _cells(
    datasets: Sequence[str], seeds: Sequence[int], grid: Sequence[tuple[float, int]], k_main: int
) -> list[tuple[str, int, float, int, str]]:
    """(dataset, seed, p, k, method) of every run the chapter shows: the three DOS methods and
    the three CNN baselines (DOS-init) at ``k_main``, DOS alone at the other k (Table 7 shows
    only DOS's own classifier)."""
    return [
        (name, seed, p, k, method)
        for name in datasets
        for seed in seeds
        for p, k in grid
        for method in ((*DOS_METHODS, *INIT_METHODS) if k == k_main else DOS_METHODS[:1])
    ]


def protocol_configs(
    settings: DOSConfig,
    datasets: Sequence[str],
    seeds: Sequence[int],
    grid: Sequence[tuple[float, int]],
    profile: str,
) -> list[RunConfig]:
    """Every run of the paper's protocol as a run config, in :func:`run_protocol`'s order
    (dataset, seed, then ``grid``'s (p, k)); ``settings.k`` is the main k."""
    return [cfg for cfg, _, _ in _protocol_cells(settings, datasets, seeds, grid, profile)]


def _protocol_cells(
    settings: DOSConfig,
    datasets: Sequence[str],
    seeds: Sequence[int],
    grid: Sequence[tuple[float, int]],
    profile: str,
) -> list[tuple[RunConfig, float, int]]:
    """Each run config of the protocol with its removal fraction p and its k."""
    shared = {"n_minority": settings.n_minority, "minority_classes": settings.minority_classes,
              "n_train": settings.n_train,
              "n_test": settings.n_test, "profile": profile}  # fmt: skip
    return [
        (
            RunConfig(
                method,
                dataset=name,
                ratio=ratio_from_fraction(p),
                seed=seed,
                params=init_params(settings) if method in INIT_METHODS else dos_params(settings, k),
                **shared,
            ),
            p,
            k,
        )  # fmt: skip
        for name, seed, p, k, method in _cells(datasets, seeds, grid, settings.k)
    ]


def protocol_rows(
    settings: DOSConfig,
    datasets: Sequence[str],
    seeds: Sequence[int],
    grid: Sequence[tuple[float, int]],
    knn_k: int,
    source: Source,
) -> pd.DataFrame:
    """The protocol's rows read from ``source``'s tables, as :func:`run_protocol` computes
    them: ``dataset``, ``p`` and ``k`` columns, the CNN baselines under the paper's names
    (CNN, CNN-LR, CNN-kNN) with no k."""
    check_dos_readable(settings, knn_k)
    cells = _protocol_cells(settings, datasets, seeds, grid, source.profile)
    rows = read_rows([cfg for cfg, _, _ in cells], source)
    at = {cfg.key(): (p, None if cfg.method in INIT_METHODS else k) for cfg, p, k in cells}
    rows["p"] = [at[h][0] for h in rows["config_hash"]]
    rows["k"] = [at[h][1] for h in rows["config_hash"]]
    rows["method"] = rows["method"].replace(INIT_METHODS)
    return rows


def _dos_config(settings: DOSConfig, name: str, seed: int, p: float, profile: str) -> RunConfig:
    """The run config of DOS's own classifier at ``p`` and the main k (its figure's run)."""
    cells = _protocol_cells(settings, [name], [seed], [(p, settings.k)], profile)
    (cfg,) = [c for c, _, _ in cells if c.method == "DOS"]
    return cfg


def figure_runs(
    settings: DOSConfig,
    data: Mapping[str, tuple[Any, Any]],
    seeds: Sequence[int],
    ps: Sequence[float],
    source: Source,
    n_plot: int = N_PLOT,
) -> dict[tuple[str, int, float, int], DOSFigure]:
    """What the figures draw when the rows are read: the first dataset's and seed's DOS run at
    every p with the main k, from the figure file a sweep stored beside its row
    (:mod:`imbnb.experiments.figures`), or trained here (or loaded from the cache) without one."""
    name, seed = next(iter(data)), seeds[0]
    train, test = data[name]
    tables = source.table_paths
    runs = {}
    for p in ps:
        cfg = _dos_config(settings, name, seed, p, source.profile)
        stored = load_figure(tables, cfg.key())
        if stored is not None:
            runs[name, seed, p, settings.k] = DOSFigure.from_arrays(stored.arrays, stored.meta)
            continue
        config = replace(settings, dataset=name, seed=seed, p=p, ratio=None)
        run = run_dos(config, train=train, test=test)
        runs[name, seed, p, settings.k] = DOSFigure.from_run(run, n_plot, seed)
    return runs


def thesis_configs(base: DOSConfig, grid: FeatureGrid, profile: str) -> dict[str, list[RunConfig]]:
    """The thesis comparison's runs on ``grid``'s splits (chapter 3's): DOS's three methods with
    this chapter's DOS settings (chapter 8's DOS runs), and chapter 3's BL and ADOS heads."""
    ex = grid.extractor
    check_readable(ex.arch, _FIXED["arch"])
    dos = [
        RunConfig(method, dataset=base.dataset, ratio=float(rho), n_minority=ex.n_minority,
                  minority_classes=ex.minority_classes, seed=seed, n_train=ex.n_train,
                  n_test=ex.n_test, params=dos_params(base, base.k), profile=profile)
        for seed in grid.seeds
        for rho in grid.ratios
        for method in DOS_METHODS
    ]  # fmt: skip
    return {"DOS": dos, "chapter 3": feature_configs(base.dataset, grid, profile)}


def thesis_rows(base: DOSConfig, grid: FeatureGrid, knn_k: int, source: Source) -> pd.DataFrame:
    """The thesis comparison's rows from ``source``'s tables: chapter 8's DOS runs, chapter
    3's BL and ADOS heads and chapter 8's CNN-CE of chapter 3's recipe, on the same splits."""
    check_dos_readable(replace(base, minority_classes=grid.extractor.minority_classes), knn_k)
    dos = read_rows(thesis_configs(base, grid, source.profile)["DOS"], source)
    heads = grid_rows(base.dataset, grid, source)
    cnn = cnn_rows(base.dataset, grid, source)
    return pd.concat([dos, heads, cnn[cnn["method"] == CNN_CE]], ignore_index=True)


def _cnn_configs(base: DOSConfig, grid: FeatureGrid, profile: str) -> list[RunConfig]:
    """Chapter 8's CNN-CE runs of chapter 3's recipe on ``grid``'s splits (as
    :func:`imbnb.book.ados_runs.cnn_rows` reads them)."""
    ex = grid.extractor
    run = LossRunSettings(
        protocol="minority", n_minority=ex.n_minority, n_train=ex.n_train, n_test=ex.n_test,
        epochs=ex.epochs, batch_size=ex.batch_size, lr=ex.lr,
    )  # fmt: skip
    return loss_configs(base.dataset, LossGrid([CNN_CE], grid.ratios, grid.seeds, run), profile)


def chapter_configs(
    settings: DOSConfig,
    datasets: Sequence[str],
    seeds: Sequence[int],
    grid: Sequence[tuple[float, int]],
    thesis: FeatureGrid | None,
    profile: str,
) -> dict[str, list[RunConfig]]:
    """Every run the chapter reads under a table source, by comparison: the paper's protocol
    (Tables 6-7, the six classifiers) and the thesis comparison (none when ``thesis`` is None)."""
    out = {"paper's protocol": protocol_configs(settings, datasets, seeds, grid, profile)}
    if thesis is not None:
        parts = thesis_configs(settings, thesis, profile)
        cnn = _cnn_configs(settings, thesis, profile)
        out["thesis comparison"] = [*parts["DOS"], *parts["chapter 3"], *cnn]
    return out


def chapter_missing(configs: Mapping[str, Sequence[RunConfig]], source: Source) -> pd.DataFrame:
    """The runs of ``configs`` that ``source``'s tables lack, by comparison (none computed)."""
    if source.computes:
        return pd.DataFrame()
    held = replace(source, allow_missing=True)
    parts = [read_rows(list(c), held) for c in configs.values() if c]
    return missing_runs(dict(configs), pd.concat(parts, ignore_index=True))


def _tables(source: Source) -> str:
    """The source's tables as the prose names them."""
    return " and ".join(source.tables)


def _n_train_text(n_train: int | None) -> str:
    """A training-set cap as the prose says it."""
    return "every training image" if n_train is None else f"at most {n_train} training images"


def source_sentences(
    settings: DOSConfig,
    datasets: Sequence[str],
    seeds: Sequence[int],
    grid: Sequence[tuple[float, int]],
    rows: pd.DataFrame,
    source: Source,
) -> dict[str, str]:
    """What the prose says about where the protocol's ``rows``, the thesis comparison's and the
    figures' networks come from (glue name -> text)."""
    if source.computes:
        return {
            "protocol_source": "Every run of the protocol is trained (or loaded from the cache) "
            "by this execution, and the figures draw them all.",
            "protocol_scope": "the whole protocol",
            "thesis_source": "We run DOS on exactly those splits, starting from the plain "
            "cross-entropy CNN that chapter 3 trains as its CNN-CE reference, and read the "
            "Baseline and ADOS rows of chapter 3. Training-set cap, epochs, batch size and head "
            "are chapter 3's under the same profile, so both come from the cache when chapter 3 "
            "ran first (otherwise they are computed here).",
            "bal_note": _balanced_note(len(seeds), source),
        }
    s = settings
    files = _figure_files(s, datasets[0], seeds[0], grid, source)
    asked = {c.key() for c in protocol_configs(s, datasets, seeds, grid, source.profile)}
    held = (len(asked & set(rows["config_hash"])), len(asked))
    return {
        "protocol_source": f"The tables and numbers of the six classifiers below are read "
        f"from {_tables(source)}: DOS, DOS-LR and DOS-kNN are the experiment layer's DOS runs "
        "of that split and k, and CNN, CNN-LR and CNN-kNN its DOS-init runs, which score DOS's "
        "initial network alone ("
        f"{held[0]} of the {held[1]} runs are held; the rest are listed at the end of the "
        "chapter). " + _figure_sentence(s, files, datasets[0], seeds[0]),
        "protocol_scope": "reading the figures' runs from their figure files"
        if all(files)
        else "the runs trained (or read) for the figures",
        "thesis_source": f"Every row is read from {_tables(source)}: chapter 3's Baseline and "
        "ADOS heads and chapter 8's CNN-CE of chapter 3's recipe on those splits, and chapter "
        "8's DOS, DOS-LR and DOS-kNN runs, which start from DOS's own initialisation "
        f"({s.init_epochs} epochs of plain cross-entropy, batch {s.batch_size}; then "
        f"{s.rounds} rounds with k = {s.k}, this chapter's settings) rather than from chapter "
        "3's CNN-CE.",
        "bal_note": _balanced_note(len(seeds), source),
    }


def _figure_files(
    s: DOSConfig, name: str, seed: int, grid: Sequence[tuple[float, int]], source: Source
) -> list[FigureData | None]:
    """The figure data the tables hold of the figures' runs (None where they hold none)."""
    tables, ps = source.table_paths, [p for p, k in grid if k == s.k]
    return [load_figure(tables, _dos_config(s, name, seed, p, source.profile).key()) for p in ps]


def _figure_sentence(s: DOSConfig, files: list[FigureData | None], name: str, seed: int) -> str:
    """Where the figures' runs come from: the sweep's figure files, or trained here."""
    stored = [f for f in files if f is not None]
    what = f"the seed-{seed} runs on {name} at every p with k = {s.k}"
    if len(stored) == len(files):
        same = all(f.meta.get("reproduces_row") for f in stored)
        where = (
            "their networks gave the stored rows' metrics again"
            if same
            else "their networks were trained again from the same configurations on "
            f"{stored[0].meta.get('cpu', 'another machine')}, not the machine that swept the "
            "rows, so the figures show the same runs up to the last bits of training, not "
            "bit for bit"
        )
        return (
            f"The figures of the variance and of the embeddings draw {what} from the figure "
            f"data stored beside the rows ({N_PLOT:,} test images for the embeddings; see the "
            f"table of runs above), so no network is trained here; {where}."
        )
    return (
        "The figures of the variance and of the embeddings need the trained networks; the "
        f"tables hold the figure data of {len(stored)} of {what}, so the others are trained "
        f"here at this profile's scale ({_n_train_text(s.n_train)} before the cut; the table "
        "of runs above)."
    )


def _balanced_note(n_seeds: int, source: Source) -> str:
    """How many seeds the balanced table averages, and where its rows come from."""
    if not source.computes:
        return (
            f"the table averages the {n_seeds} seeds' runs that {_tables(source)} hold: each "
            "is the experiment layer's DOS (or DOS-init) run at ratio 1 with k for every class "
            "and r = 1; any run they lack is listed at the end of the chapter."
        )
    if n_seeds == 1:
        return "one seed, as here, cannot confirm or refute the claim."
    return f"these are means over {n_seeds} seeds."
