"""The experiment layer behind book chapter 8 ("Results"): runs, results store, sweeps, splits.

* :class:`RunConfig` -- a run is a config; :func:`run_config` runs it and returns a row;
* :class:`ResultsStore` -- a Parquet table, one row per config hash, safe for concurrent
  writers and verified on every read;
* :func:`sweep` -- a grid of configs, locally (process pool) or on Ray, resumable;
* :func:`run_split` / :func:`export_splits` -- the exact train/test indices, for readers;
* :func:`setting_table` -- reading the results table; :func:`per_ratio_comparison`,
  :func:`against_reference`, :func:`across_ratios`, :func:`draw_ranks` -- comparing methods
  with the class draw as the unit of replication (:mod:`imbnb.experiments.statistics`);
* :func:`results_grid` / :func:`coverage` -- chapter 8's grid, and how much of it a table holds;
* :func:`cost_table` / :func:`run_costs` -- what each method costs: its network and its own steps;
* :func:`register_sampler`, :func:`register_loss`, :func:`register_estimator` -- bring your own
  method: it runs through every grid by its name;
* ``provenance`` -- where a results table's rows came from (``imbnb sweep`` records it;
  ``merge_results``, ``imbnb merge``, brings tables swept elsewhere in with theirs).
"""

from imbnb.experiments.analysis import (
    best_of,
    compare_orderings,
    complete_methods,
    critical_difference,
    setting_table,
)
from imbnb.experiments.book_grid import coverage, plan, results_grid
from imbnb.experiments.config import PROTOCOLS, RunConfig
from imbnb.experiments.cost import COST_COLUMNS, cost_table, run_costs
from imbnb.experiments.extend import register_estimator, register_loss, register_sampler
from imbnb.experiments.registry import FAMILIES, METHODS, family_of, run_config, shared_key
from imbnb.experiments.splits import export_split, export_splits, read_split, run_split, splits_dir
from imbnb.experiments.statistics import (
    across_ratios,
    against_reference,
    distinguishable_pairs,
    draw_ranks,
    per_ratio_comparison,
    verdict_table,
)
from imbnb.experiments.store import ResultsStore
from imbnb.experiments.sweep import (
    BACKENDS,
    MISSING,
    expand_grid,
    load_grid,
    parse_where,
    results_for,
    select_configs,
    sweep,
)

__all__ = [
    "BACKENDS",
    "COST_COLUMNS",
    "MISSING",
    "FAMILIES",
    "METHODS",
    "PROTOCOLS",
    "ResultsStore",
    "against_reference",
    "across_ratios",
    "best_of",
    "compare_orderings",
    "complete_methods",
    "cost_table",
    "coverage",
    "critical_difference",
    "distinguishable_pairs",
    "draw_ranks",
    "per_ratio_comparison",
    "verdict_table",
    "plan",
    "register_estimator",
    "register_loss",
    "register_sampler",
    "RunConfig",
    "expand_grid",
    "export_split",
    "export_splits",
    "family_of",
    "load_grid",
    "parse_where",
    "read_split",
    "results_for",
    "results_grid",
    "run_config",
    "run_costs",
    "run_split",
    "select_configs",
    "setting_table",
    "shared_key",
    "splits_dir",
    "sweep",
]
