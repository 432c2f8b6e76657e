"""The ``imbnb`` command: run chapters, build the book, clear the cache (book: "How to re-run").

imbnb book run [--profile P] [--chapter N ...] [-p name value ...] [--fail-fast]
imbnb book build [--no-strict]
imbnb book list
imbnb cache clear [--kind K]
imbnb sweep GRID.yaml [--store results.parquet] [--backend local|ray] [--workers N] [--address A]
            [--only METHOD_OR_FAMILY,...] [--where FIELD=VALUE[,VALUE] ...] [--gpus-per-run F]
            [--skip-stored TABLE ...] [--dry-run]
imbnb merge SIDE.parquet ... --into results.parquet [--grid GRID.yaml]
imbnb tune GRID.yaml --store tuning.parquet --out final.yaml [--draws 0,1,2] [--only ...]
imbnb splits export GRID.yaml [--out DIR]
imbnb grid write --profile P [--grid results|chapters] [--out FILE|-]   (chapter 8's grid file, or
            the chapters' own runs it lacks; reads the book's profiles)
imbnb store verify|compact|upgrade results.parquet
imbnb data get [NAME ...] [--download]   (find each dataset offline; download only when told)

Only the ``book`` and ``grid`` subcommands import the book toolchain (papermill, nbformat,
Jupyter Book), and only when they run: ``sweep``, ``merge``, ``splits``, ``store``, ``data``
and ``cache`` work on a machine without it (README "Running on a bare GPU machine"). Also
runnable as ``python -m imbnb.cli``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="imbnb", description=__doc__.splitlines()[0])
    top = parser.add_subparsers(dest="group", required=True)
    _add_book(top)
    _add_cache(top)
    _add_sweep(top)
    _add_tune(top)
    _add_tables(top)
    _add_grid(top)
    _add_data(top)
    return parser


def _add_book(top: Any) -> None:
    """``imbnb book run|build|list``."""
    book = top.add_parser("book", help="execute chapters and build the book")
    book_cmd = book.add_subparsers(dest="command", required=True)
    run = book_cmd.add_parser("run", help="execute chapters with papermill into book/chapters")
    run.add_argument("--profile", default="quick", help="smoke, quick (default) or paper")
    run.add_argument(
        "--chapter",
        action="extend",
        nargs="+",
        default=[],
        metavar="N",
        help="chapter numbers or names, e.g. --chapter 1 2 (default: all)",
    )
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter; VALUE is YAML, e.g. -p ratios '[10, 100]'",
    )
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    run.add_argument("--out", default=None, help="folder for executed chapters")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    build = book_cmd.add_parser("build", help="jupyter-book build . -W --keep-going")
    build.add_argument("--no-strict", action="store_true", help="do not fail on warnings")
    book_cmd.add_parser("list", help="list chapters, their parameters and the profiles")


def _add_cache(top: Any) -> None:
    """``imbnb cache clear``."""
    cache = top.add_parser("cache", help="manage the artifact cache")
    cache_cmd = cache.add_subparsers(dest="command", required=True)
    clear = cache_cmd.add_parser("clear", help="delete cached artifacts")
    clear.add_argument("--kind", default=None, help="only this kind (e.g. extractor)")


def _add_sweep(top: Any) -> None:
    """``imbnb sweep GRID``."""
    sw = top.add_parser("sweep", help="run a grid of experiments into a results table")
    sw.add_argument("grid", help="YAML grid file (see imbnb.experiments.sweep)")
    sw.add_argument("--store", default="results.parquet", help="Parquet results table")
    sw.add_argument("--backend", default="local", help="local (process pool, default) or ray")
    sw.add_argument("--workers", type=int, default=1, help="parallel runs (default 1)")
    sw.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    sw.add_argument(
        "--only",
        default=None,
        help="comma-separated methods or families to run (default: the whole grid)",
    )
    sw.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="FIELD=VALUE[,VALUE]",
        help="only configs whose field has one of the values, e.g. "
        "--where protocol=counts --where seed=0,1 (repeatable)",
    )
    sw.add_argument(
        "--gpus-per-run",
        type=float,
        default=None,
        metavar="FLOAT",
        help="GPU share per run for Ray and the pool (e.g. 0.125: 8 trainings share a GPU)",
    )
    sw.add_argument(
        "--dry-run",
        action="store_true",
        help="run nothing: print runs stored and missing, with measured times",
    )
    sw.add_argument(
        "--figures",
        action="store_true",
        help="also store the figure data of the runs whose method makes some (DOS: chapter "
        "4's variance and embedding figures), beside the table as TABLE.figures/HASH.npz",
    )
    sw.add_argument(
        "--skip-stored",
        action="append",
        default=[],
        metavar="TABLE",
        help="leave out the runs this results table already holds (repeatable): a side table "
        "swept elsewhere, e.g. on a GPU, then holds only the runs the committed one lacks",
    )
    sw.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _allow_dirty(sw)


def _add_tune(top: Any) -> None:
    """``imbnb tune GRID``."""
    tune = top.add_parser(
        "tune", help="select each method's settings on validation runs; write the final grid"
    )
    tune.add_argument("grid", help="YAML grid file of the final runs")
    tune.add_argument("--store", required=True, help="Parquet table for the validation runs")
    tune.add_argument("--out", required=True, help="the final grid file to write (YAML)")
    tune.add_argument("--draws", default="0,1,2", help="tuning draws (seeds), e.g. 0,1,2")
    tune.add_argument("--validation", type=float, default=0.2, help="held-out share (0.2)")
    tune.add_argument("--metric", default="acsa", help="validation metric to maximise")
    tune.add_argument("--only", default=None, help="comma-separated methods or families")
    tune.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE[,VALUE]")
    tune.add_argument("--workers", type=int, default=1, help="parallel runs (default 1)")
    tune.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _allow_dirty(tune)


def _add_tables(top: Any) -> None:
    """``imbnb merge``, ``imbnb splits export`` and ``imbnb store``: results tables."""
    merge = top.add_parser("merge", help="append tables swept elsewhere, with their provenance")
    merge.add_argument("sides", nargs="+", metavar="SIDE", help="Parquet results tables to add")
    merge.add_argument("--into", required=True, help="the results table that receives them")
    merge.add_argument(
        "--grid", default=None, help="YAML grid file: refuse rows that are not its configs"
    )

    splits = top.add_parser("splits", help="export the train/test indices of a grid's splits")
    splits_cmd = splits.add_subparsers(dest="command", required=True)
    export = splits_cmd.add_parser("export", help="one .json.gz file per split")
    export.add_argument("grid", help="YAML grid file whose splits to export")
    export.add_argument("--out", default=None, help="folder (default: book/data/splits)")
    store = top.add_parser("store", help="check or maintain a results table")
    store_cmd = store.add_subparsers(dest="command", required=True)
    for name, text in _STORE_COMMANDS.items():
        store_cmd.add_parser(name, help=text).add_argument("path", help="results .parquet")


def _add_grid(top: Any) -> None:
    """``imbnb grid write``: chapter 8's grid file under a profile, or the chapters' own runs
    it lacks (``--grid chapters``), generated from the profile."""
    grid = top.add_parser("grid", help="generate a grid file of the book's runs from a profile")
    grid_cmd = grid.add_subparsers(dest="command", required=True)
    write = grid_cmd.add_parser("write", help="write a grid file under a profile (YAML)")
    write.add_argument("--profile", required=True, help="e.g. paper (see imbnb book list)")
    write.add_argument(
        "--grid",
        choices=["results", "chapters"],
        default="results",
        help="results: chapter 8's grid (default: book/grids/PROFILE.yaml); chapters: the "
        "chapters' own runs it lacks (default for paper: book/grids/chapters.yaml)",
    )
    write.add_argument("--out", default=None, help="grid file (default: see --grid; - prints it)")


def _add_data(top: Any) -> None:
    """``imbnb data get``: find datasets offline; download what is missing only when told."""
    data = top.add_parser("data", help="find the datasets the book reads")
    data_cmd = data.add_subparsers(dest="command", required=True)
    get = data_cmd.add_parser("get", help="load each dataset's splits, or say where to put it")
    get.add_argument(
        "names",
        nargs="*",
        default=["fashion_mnist"],
        metavar="NAME",
        help="datasets (default: fashion_mnist, the one the book's chapters read)",
    )
    get.add_argument(
        "--download",
        action="store_true",
        help="download what no searched place holds (torchvision, into the user cache)",
    )


def _data_get(args: argparse.Namespace) -> int:
    """``imbnb data get``: each dataset's train and test split, found (or fetched) and counted."""
    from imbnb.data import load_dataset

    for name in args.names:
        train, test = (load_dataset(name, s, download=args.download) for s in ("train", "test"))
        print(
            f"{name}: {len(train.labels)} training and {len(test.labels)} test images, "
            f"{len(train.classes)} classes"
        )
    return 0


def _grid_write(args: argparse.Namespace) -> int:
    """``imbnb grid write``: a grid file from the profile (imports the book layer)."""
    if args.grid == "chapters":
        from imbnb.book.chapters_grid import chapters_grid_text as text
        from imbnb.book.chapters_grid import write_chapters_grid as write
    else:
        from imbnb.book.grid_file import grid_file_text as text
        from imbnb.book.grid_file import write_grid_file as write

    if args.out == "-":
        print(text(args.profile), end="")
        return 0
    print(f"wrote {write(args.profile, args.out)}")
    return 0


_STORE_COMMANDS = {
    "verify": "check every file of the table (checksums, content digest)",
    "compact": "fold the rows of unfinished or concurrent sweeps into the table",
    "upgrade": "give an older table its digest and one provenance entry per sweep (rows unchanged)",
}


def _store(args: argparse.Namespace) -> int:
    """``imbnb store verify|compact|upgrade PATH``."""
    from imbnb.experiments import ResultsStore

    store = ResultsStore(args.path)
    if args.command != "upgrade" and not store.path.exists() and not store.runs_dir.exists():
        raise FileNotFoundError(f"results table {store.path} does not exist")
    if args.command == "verify":
        print(f"{store.path}: {store.verify()} rows, every file verified")
    elif args.command == "compact":
        print(f"{store.path}: {store.compact()} rows compacted")
    else:
        from imbnb.experiments.provenance import upgrade_provenance

        print(f"{store.path}: {store.upgrade()} rows, digest added")
        before, after = upgrade_provenance(store.path)
        print(f"{store.path}: provenance of {before} records kept as {after}, one per sweep")
    return 0


def _allow_dirty(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-dirty`` (sweep into the repository from an uncommitted checkout)."""
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="sweep into a table inside the repository from a checkout with uncommitted changes",
    )


def _check_clean(store: Any, allow_dirty: bool) -> str | None:
    """The commit the runs run on; refuse a dirty checkout for a table in the repository.

    Rows that feed a committed table must come from committed code (their commit is
    recorded); ``--allow-dirty`` overrides, and the provenance then says ``+dirty``.
    """
    from imbnb import paths
    from imbnb.experiments.figures import figures_dir
    from imbnb.experiments.provenance import git_commit, provenance_path

    # what a killed sweep into this table already wrote there does not make the code dirty
    commit = git_commit(ignore=[store.path, provenance_path(store.path), figures_dir(store.path)])
    inside = Path(store.path).resolve().is_relative_to(paths.repo_root().resolve())
    if inside and commit and commit.endswith("+dirty") and not allow_dirty:
        raise ValueError(
            f"{store.path} is inside the repository and the checkout has uncommitted changes: "
            "commit them first, or pass --allow-dirty (the provenance then records +dirty)"
        )
    return commit


def _selected(args: argparse.Namespace) -> list[Any]:
    """The grid's configs, narrowed by ``--only`` and ``--where``."""
    from imbnb.experiments import load_grid, parse_where, select_configs

    configs = load_grid(args.grid)
    if args.only is not None or args.where:
        only = args.only.split(",") if args.only is not None else None
        configs = select_configs(configs, only, parse_where(args.where))
    return configs


def _without_stored(configs: list[Any], tables: Sequence[str]) -> list[Any]:
    """The configs none of ``tables`` holds (``sweep --skip-stored``); a missing table is an
    error, not an empty one, so that a typo cannot send every run to the GPU again."""
    from imbnb.experiments import ResultsStore

    for table in tables:
        if not Path(table).is_file() and not ResultsStore(table).runs_dir.is_dir():
            raise FileNotFoundError(f"skip-stored: results table {table} does not exist")
        held = set(ResultsStore(table).load()["config_hash"])
        kept = [c for c in configs if c.key() not in held]
        print(f"{len(configs) - len(kept)} of {len(configs)} runs already in {table}: skipped")
        configs = kept
    return configs


def _tune(args: argparse.Namespace) -> int:
    """``imbnb tune``: validation runs of every candidate, the choice, the final grid file."""
    from imbnb.experiments import ResultsStore, sweep
    from imbnb.experiments.tuning import select, tuning_configs, write_final_grid

    configs = _selected(args)
    draws = [int(d) for d in args.draws.split(",") if d.strip()]
    store = ResultsStore(args.store)
    record = {
        "command": " ".join(["imbnb", *args.argv]),
        "grid": args.grid,
        "commit": _check_clean(store, args.allow_dirty),
    }
    runs = tuning_configs(configs, draws=draws, validation=args.validation)
    rows = sweep(runs, store, workers=args.workers, progress=not args.no_progress, record=record)
    chosen = select(configs, rows, draws=draws, validation=args.validation, metric=args.metric)
    header = (
        f"Final runs chosen by `imbnb {' '.join(args.argv)}`:\n"
        f"each (method, ratio)'s best mean validation {args.metric} over draws {draws}."
    )
    write_final_grid(configs, chosen, args.out, header)
    print(f"{len(runs)} validation runs in {args.store}; {len(configs)} final runs in {args.out}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """``imbnb sweep``: run the grid's configs not yet stored, with provenance; summarise."""
    from imbnb.experiments import ResultsStore, sweep
    from imbnb.experiments.figures import figures_dir
    from imbnb.experiments.sweep import fill_figures

    configs = _without_stored(_selected(args), args.skip_stored)
    store = ResultsStore(args.store)
    if args.dry_run:
        return _sweep_plan(configs, store)
    record = {
        "command": " ".join(["imbnb", *args.argv]),
        "grid": args.grid,
        "commit": _check_clean(store, args.allow_dirty),  # now: later writes dirty the tree
    }
    rows = sweep(
        configs,
        store,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        progress=not args.no_progress,
        record=record,
        gpus_per_run=args.gpus_per_run,
    )
    print(f"{len(rows)} of {len(configs)} runs stored in {args.store}")
    if args.figures:
        made = fill_figures(configs, store, progress=not args.no_progress, about=record)
        print(f"{made} figure files written to {figures_dir(store.path)}")
    return 0 if len(rows) == len(configs) else 1


def _merge(args: argparse.Namespace) -> int:
    """``imbnb merge``: add side tables' new rows and provenance to ``--into``."""
    from imbnb.experiments import load_grid
    from imbnb.experiments.provenance import merge_results

    configs = load_grid(args.grid) if args.grid else None
    added = merge_results(args.into, args.sides, configs=configs)
    for side, n in zip(args.sides, added, strict=True):
        print(f"{side}: {n} new rows")
    print(f"{args.into}: {sum(added)} rows added")
    return 0


def _sweep_plan(configs: Sequence[Any], store: Any) -> int:
    """``imbnb sweep --dry-run``: per family and method, runs stored, missing, time to run."""
    import pandas as pd

    from imbnb.experiments import plan

    table = plan(configs, store.load())
    with pd.option_context("display.max_rows", None, "display.width", 120):
        print(table.round(1).to_string())
    unknown = table.loc[(table["missing"] > 0) & table["s to run"].isna()]
    print(
        f"{int(table['stored'].sum())} of {int(table['grid'].sum())} runs stored in "
        f"{store.path}; {int(table['missing'].sum())} missing, about "
        f"{table['s to run'].sum() / 3600:.1f} h of one worker for the methods measured"
        + (f", {len(unknown)} methods not measured on those datasets yet" if len(unknown) else "")
    )
    print(
        "times are what the stored runs took on the machines that swept them (provenance); "
        "on another CPU type a run can take several times as long"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    """``imbnb book run``: execute chapters and report each outcome."""
    from imbnb.book.parameters import parse_value
    from imbnb.book.runner import run_chapters

    overrides = {name: parse_value(name, value) for name, value in args.parameter}
    start = time.perf_counter()
    results = run_chapters(
        args.chapter or None,
        profile=args.profile,
        overrides=overrides,
        out_dir=args.out,
        progress=not args.no_progress,
        fail_fast=args.fail_fast,
    )
    for res in results:
        state = "ok" if res.ok else "FAILED"
        print(f"{res.chapter.stem}: {state} in {res.seconds:.1f} s -> {res.output}")
    print(f"total {time.perf_counter() - start:.1f} s (profile {args.profile})")
    failed = [r for r in results if not r.ok]
    for res in failed:
        print(res.error, file=sys.stderr)
    return 1 if failed else 0


def _list() -> int:
    """``imbnb book list``: chapters with their parameters; profile names."""
    from imbnb.book.runner import discover_chapters, load_profiles, notebook_parameters

    for chapter in discover_chapters():
        print(f"{chapter.number:2d} {chapter.stem}")
        for name, info in notebook_parameters(chapter.source).items():
            comment = f"  # {info['help']}" if info.get("help") else ""
            print(f"     {name} = {info['default']}{comment}")
    for name, prof in load_profiles().items():
        print(f"profile {name}: {prof.get('description', '')}")
    return 0


def _one_line(err: BaseException) -> str:
    """The error's message; an OS error also names its file (``[Errno 2] ...: 'x.yaml'``)."""
    if isinstance(err, OSError) and err.filename and str(err.filename) not in str(err):
        return f"{err.filename}: {err.strerror or err}"
    return str(err) or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imbnb`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command, for provenance
    try:
        if args.group == "book" and args.command == "run":
            return _run(args)
        if args.group == "book" and args.command == "build":
            from imbnb.book.build import build_book

            build_book(strict=not args.no_strict)
            return 0
        if args.group == "book" and args.command == "list":
            return _list()
        if args.group == "sweep":
            return _sweep(args)
        if args.group == "tune":
            return _tune(args)
        if args.group == "merge":
            return _merge(args)
        if args.group == "store":
            return _store(args)
        if args.group == "grid" and args.command == "write":
            return _grid_write(args)
        if args.group == "data" and args.command == "get":
            return _data_get(args)
        if args.group == "splits" and args.command == "export":
            from imbnb.experiments import export_splits, load_grid

            written = export_splits(load_grid(args.grid), args.out)
            print(f"wrote {len(written)} split files to {written[0].parent if written else '-'}")
            return 0
        if args.group == "cache" and args.command == "clear":
            from imbnb.cache import clear_cache

            removed = clear_cache(kind=args.kind)
            print(f"removed {removed} cached entries")
            return 0
    except (ValueError, RuntimeError, OSError, yaml.YAMLError) as err:
        # a user's mistake (a file, a field, a value): one message, no traceback
        print(f"imbnb: error: {_one_line(err)}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse enforces the subcommands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
