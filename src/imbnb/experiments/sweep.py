"""Sweeps: a grid of run configs, run locally (process pool) or on Ray, resumable (chapter 8).

A grid file (YAML) has one or more blocks, each with ``base`` (fields shared by its runs),
``grid`` (fields whose values are crossed) and ``params`` (settings by method name or by
``family:<name>``; a method's own entry wins)::

    blocks:
      - base: {dataset: fashion_mnist, protocol: minority, n_train: 3000}
        grid: {ratio: [10, 100], seed: [0, 1], method: [BL, FS-SMOTE, ADOS]}
        params: {"family:feature_space": {epochs: 3}}

:func:`sweep` skips every config whose hash is already in the store, appends each finished
row at once (so a killed sweep resumes where it stopped) and returns the rows of the grid.
Every row carries the ``sweep_id`` of the sweep that stored it. Pool workers die with their
driver: a ``kill -9`` of the sweep leaves no process behind.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from imbnb import paths
from imbnb.cache import cache_dir
from imbnb.experiments import provenance
from imbnb.experiments.config import RunConfig
from imbnb.experiments.extend import registered, restore
from imbnb.experiments.figure_makers import FIGURES, figure_data
from imbnb.experiments.figures import has_figure, save_figure
from imbnb.experiments.grid import expand_grid, load_grid, parse_where, select_configs
from imbnb.experiments.registry import needs_gpu, run_config, shared_key
from imbnb.experiments.store import ResultsStore
from imbnb.versions import cpu_description

__all__ = [
    "BACKENDS",
    "MISSING",
    "expand_grid",
    "fill_figures",
    "load_grid",
    "results_for",
    "parse_where",
    "select_configs",
    "sweep",
]

BACKENDS: tuple[str, ...] = ("local", "ray")
#: What :func:`results_for` does when a stored table lacks some of the configs asked for.
MISSING: tuple[str, ...] = ("error", "skip")


def _run(cfg_dict: dict[str, Any], methods: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Worker entry point: rebuild the config (picklable as a dict) and run it.

    ``methods``: the driver's registered methods (a Ray worker has not seen them).
    """
    if methods:
        restore(methods)
    return run_config(RunConfig.from_dict(cfg_dict))


def _term_interrupts() -> Callable[[], None]:
    """Make SIGTERM end the sweep as Ctrl-C does (rows folded in, provenance completed).

    A sweep started in the background of a script ignores SIGINT, so TERM is how it is
    stopped. Only in the main thread; returns the function that restores the old handler.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _init_worker(
    parent: int, gpu_share: float | None = None, methods: Mapping[str, Any] | None = None
) -> None:
    """Pool-worker initializer: die with the driver; cap its GPU share; the user's methods."""
    _die_with_parent(parent)
    if methods:
        restore(methods)
    if gpu_share is not None:
        import torch

        if torch.cuda.is_available():  # several trainings share one GPU: memory by share
            torch.cuda.set_per_process_memory_fraction(min(float(gpu_share), 1.0))


def _die_with_parent(parent: int) -> None:
    """End this worker when the driver ``parent`` dies, even by SIGKILL.

    On Linux the kernel sends the signal (``PR_SET_PDEATHSIG``); everywhere a watchdog thread
    also checks the parent every second, and covers a parent that died before this ran.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="imbnb-parent-watch", daemon=True).start()


def _fail(cfg: RunConfig, err: BaseException) -> RuntimeError:
    """Name the run that failed; finished rows are already stored, so rerunning resumes."""
    return RuntimeError(
        f"run {cfg.method} {cfg.to_dict()} failed: {err!r}; finished rows are "
        "stored, rerun the sweep to resume"
    )


def _chains(todo: Sequence[RunConfig]) -> list[deque[RunConfig]]:
    """The configs grouped by the network they share (:func:`shared_key`), in grid order."""
    groups: dict[str, deque[RunConfig]] = {}
    for cfg in todo:
        groups.setdefault(shared_key(cfg), deque()).append(cfg)
    return list(groups.values())


def _local(
    todo: Sequence[RunConfig],
    store: _Stamped,
    workers: int,
    bar: Any,
    gpus_per_run: float | None = None,
) -> None:
    """Inline for one worker; otherwise a spawn-based process pool whose workers die with us.

    In the pool, configs that share a network run one after another (the next is submitted
    when the previous finishes and has cached it), so no two workers train the same network.
    """
    if workers <= 1:
        for cfg in todo:
            try:
                row = run_config(cfg)
            except Exception as err:
                raise _fail(cfg, err) from err
            store.append([row])
            bar.update()
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(os.getpid(), gpus_per_run, registered()),
    ) as pool:
        _chained(lambda cfg: pool.submit(_run, cfg.to_dict()), todo, store, bar)


class _Stamped:
    """A store whose appended rows carry ``sweep_id``; counts the rows this sweep added."""

    def __init__(self, store: ResultsStore, sweep_id: str) -> None:
        self.store, self.sweep_id, self.added = store, sweep_id, 0

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        n = self.store.append([{**r, "sweep_id": self.sweep_id} for r in rows])
        self.added += n
        return n


def _chained(
    submit: Callable[[RunConfig], Future],
    todo: Sequence[RunConfig],
    store: _Stamped,
    bar: Any,
    cancel: Callable[[Future], Any] = Future.cancel,
) -> None:
    """Run every config through ``submit``, one config per chain at a time; store each row.

    A failed run cancels the runs already submitted (``cancel``) and names the failure.
    """
    futures: dict[Future, tuple[RunConfig, deque[RunConfig]]] = {}

    def next_of(chain: deque[RunConfig]) -> None:
        cfg = chain.popleft()
        futures[submit(cfg)] = (cfg, chain)

    for chain in _chains(todo):
        next_of(chain)
    while futures:
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        for fut in done:
            cfg, chain = futures.pop(fut)
            try:
                row = fut.result()
            except Exception as err:
                for other in futures:
                    cancel(other)
                raise _fail(cfg, err) from err
            store.append([row])
            bar.update()
            if chain:
                next_of(chain)


def _ray(
    todo: Sequence[RunConfig],
    store: _Stamped,
    workers: int,
    address: str | None,
    bar: Any,
    gpus_per_run: float | None = None,
) -> None:
    """One Ray task per run, with ``gpus_per_run`` of a GPU (default 1) when the cluster has
    GPUs: a fraction lets Ray place several trainings on one GPU.

    As in the pool, configs that share a network are chained: one task at a time per chain.
    """
    try:
        import ray
    except ImportError as err:  # pragma: no cover - exercised where ray is absent
        raise ImportError("backend='ray' needs Ray: pip install 'imbnb[ray]'") from err
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(_run)
    refs: dict[Future, Any] = {}

    def submit(cfg: RunConfig) -> Future:
        gpus = (gpus_per_run or 1) if has_gpu and needs_gpu(cfg.method) else 0
        ref = task.options(num_cpus=1, num_gpus=gpus).remote(cfg.to_dict(), registered())
        fut = ref.future()  # a concurrent.futures.Future; cancelling it leaves the task running
        refs[fut] = ref
        return fut

    _chained(submit, todo, store, bar, cancel=lambda fut: ray.cancel(refs[fut]))


def sweep(
    configs: Iterable[RunConfig],
    store: ResultsStore | str | Path,
    *,
    backend: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: bool = True,
    record: Mapping[str, Any] | None = None,
    gpus_per_run: float | None = None,
) -> pd.DataFrame:
    """Run every config not yet in ``store``; return the grid's rows in config order.

    With ``record`` (``command``, ``grid``, ``commit`` for :func:`~imbnb.experiments.provenance.
    start_sweep`) a sweep that has anything to run writes its provenance entry before the
    first run and completes it at the end, however the sweep ends. The store is compacted at
    the end; rows of a sweep killed before that are read from its run files.
    ``gpus_per_run`` (e.g. 0.125) is each run's share of a GPU: Ray schedules by it, and each
    pool worker caps its GPU memory at it, so 1 / share trainings fit on one GPU.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if gpus_per_run is not None and not 0 < float(gpus_per_run) <= 1:
        raise ValueError(f"gpus_per_run must lie in (0, 1], got {gpus_per_run}")
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    configs = list({c.key(): c for c in configs}.values())
    done = store.hashes()
    todo = [c for c in configs if c.key() not in done]
    sweep_id = uuid.uuid4().hex
    if record is not None and todo:
        provenance.start_sweep(store.path, sweep_id=sweep_id, **record)
    stamped, status = _Stamped(store, sweep_id), "failed"
    restore_term = _term_interrupts()
    try:
        with tqdm(
            total=len(configs),
            initial=len(configs) - len(todo),
            desc=f"sweep ({backend})",
            disable=not progress,
        ) as bar:
            if backend == "local":
                _local(todo, stamped, workers, bar, gpus_per_run)
            else:
                _ray(todo, stamped, workers, address, bar, gpus_per_run)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        restore_term()
        if todo:
            store.compact()
        if record is not None and todo:
            provenance.finish_sweep(store.path, sweep_id, runs_added=stamped.added, status=status)
    return _in_config_order(store.load(), configs)


def fill_figures(
    configs: Iterable[RunConfig],
    store: ResultsStore | str | Path,
    *,
    progress: bool = True,
    about: Mapping[str, Any] | None = None,
) -> int:
    """Store the figure data of every stored run of ``configs`` whose method makes one
    (:data:`~imbnb.experiments.figure_makers.FIGURES`) and whose file is missing; returns how many.

    Each run is run again (its network comes from the cache when this machine swept it) and
    its figure file records whether the run gave the stored row's metrics again
    (``reproduces_row``: False where another CPU type or an empty cache trained it anew), with
    ``about`` (the commit, say) and the machine it ran on.
    """
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    rows = store.load().set_index("config_hash") if store.hashes() else pd.DataFrame()
    todo = [c for c in configs if c.method in FIGURES and c.key() in rows.index
            and not has_figure(store.path, c.key())]  # fmt: skip
    for cfg in tqdm(todo, desc="figures", disable=not progress):
        new = run_config(cfg)
        figure = figure_data(cfg)
        stored = rows.loc[cfg.key()]
        same = all(new[m] == stored[m] for m in ("accuracy", "acsa", "gmean") if m in new)
        figure.meta |= {**(about or {}), "reproduces_row": bool(same), "cpu": cpu_description()}
        save_figure(store.path, cfg.key(), figure)
    return len(todo)


def _in_config_order(table: pd.DataFrame, configs: Sequence[RunConfig]) -> pd.DataFrame:
    """The rows of ``table`` that belong to ``configs``, in the configs' order.

    A table appended to by several sweeps holds rows in the order they finished; tables and
    plots built from the rows should follow the grid instead (ratio by ratio, method order).
    """
    order: dict[str, int] = {}
    for i, c in enumerate(configs):
        order.setdefault(c.key(), i)
    rows = table[table["config_hash"].isin(order)]
    return rows.sort_values("config_hash", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )


def results_for(
    configs: Sequence[RunConfig],
    source: str = "compute",
    *,
    workers: int = 1,
    backend: str = "local",
    progress: bool = True,
    missing: str = "error",
) -> pd.DataFrame:
    """The rows of ``configs``: swept into the cache's results table, or read from a file.

    ``source="compute"`` runs what is missing into ``<cache>/results.parquet``; any other
    value is a Parquet table (absolute, or relative to the repository root), e.g. a committed
    ``paper`` sweep, that must hold every config (``missing="error"``) or whose stored rows
    are returned as they are (``missing="skip"``; :func:`coverage` lists what is absent).
    Either way the rows come in the configs' order, not the order the table gained them.
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {list(MISSING)}, got {missing!r}")
    if source == "compute":
        return sweep(
            configs,
            cache_dir() / "results.parquet",
            backend=backend,
            workers=workers,
            progress=progress,
        )
    path = Path(source)
    path = path if path.is_absolute() else paths.repo_root() / path
    if not path.exists() and not ResultsStore(path).runs_dir.is_dir():  # unfolded rows count
        raise ValueError(
            f"results_source {source!r}: no such file; use 'compute' or a Parquet results table"
        )
    rows = _in_config_order(ResultsStore(path).load(), configs)
    wanted = {c.key() for c in configs}
    if len(rows) < len(wanted) and missing == "error":
        raise ValueError(
            f"{path} holds {len(rows)} of the {len(wanted)} runs asked for; "
            "run `imbnb sweep` into it, use results_source='compute', or "
            "allow missing runs"
        )
    return rows
