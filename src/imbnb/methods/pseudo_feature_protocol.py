"""The pseudo-feature paper's §3 protocol (Konno & Iwazume 2018): 1 to 9 minor classes at 1:10.

For each number of minor classes and each seed an extractor is trained on the imbalanced data
(plain cross-entropy, as in the paper's Step 1), then every method retrains the head on the same
features (§2.1); :func:`run_pseudo_feature_protocol` returns one row per run. Re-exported by
:mod:`imbnb.methods.feature_space`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from imbnb.methods.extractor import ExtractorSettings, train_extractor
from imbnb.methods.feature_methods import (
    PSEUDO_FEATURE_METHODS,
    HeadSettings,
    check_methods,
    head_options,
    method_rows,
    progress_bar,
)
from imbnb.methods.options import RunOptions

__all__ = ["PseudoFeatureGrid", "run_pseudo_feature_protocol"]


@dataclass(frozen=True)
class PseudoFeatureGrid:
    """The protocol's methods, numbers of minor classes and seeds, and how each run trains.

    ``extractor``: the extractor's settings; its ``ratio`` is the protocol's 1:``ratio`` cut
    (10 in the paper), its ``n_minority`` and ``seed`` come from the grid and its minor classes
    are drawn by the seed. ``head``: options of the retrained head.
    """

    methods: Sequence[str] = PSEUDO_FEATURE_METHODS
    n_minor: Sequence[int] = tuple(range(1, 10))
    seeds: Sequence[int] = (0,)
    extractor: ExtractorSettings = field(default_factory=ExtractorSettings)
    head: Mapping[str, Any] | None = None


def run_pseudo_feature_protocol(
    dataset: str = "fashion_mnist",
    *,
    grid: PseudoFeatureGrid | None = None,
    options: RunOptions | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The pseudo-feature paper's §3 protocol: ``k`` random minor classes cut to 1:``ratio``.

    For each number of minor classes ``k`` in ``n_minor`` and each seed (which draws the
    classes), the network is trained on the imbalanced data and every method retrains the head
    on the same features. ``grid``: what runs (None: :class:`PseudoFeatureGrid`'s defaults);
    ``options``: where and how (:class:`RunOptions`). Rows carry ``n_minor``; the paper's four
    measures are ``accuracy``, ``gmean`` ("multiplicative average of accs"), ``recall_min``
    (mean minority accuracy) and ``recall_worst`` (min acc).
    """
    g, opts = grid or PseudoFeatureGrid(), options or RunOptions()
    names = check_methods(g.methods)
    head = head_options(g.head)
    train, test = opts.datasets(dataset)
    bad = [k for k in g.n_minor if not 1 <= int(k) < train.n_classes]
    if bad:
        raise ValueError(f"n_minor values must lie in [1, {train.n_classes - 1}], got {bad}")
    data = opts.replace(train=train, test=test, progress=False)
    ratio = float(g.extractor.ratio)
    rows: list[dict[str, Any]] = []
    total = len(names) * len(g.n_minor) * len(g.seeds)
    with progress_bar(total, "pseudo-feature protocol", progress) as bar:
        for seed in g.seeds:
            for k in g.n_minor:
                settings = g.extractor.replace(
                    protocol="minority", n_minority=int(k), minority_classes=None, seed=seed
                )
                ex = train_extractor(dataset, settings, data)
                extra = {
                    "n_minor": int(k),
                    "ratio": ratio,
                    "minority": ",".join(map(str, ex.minority_classes)),
                }
                run = HeadSettings(seed=seed, ratio=ratio, rho_d=1.0, head=head)
                rows += method_rows(ex, names, run, extra, data, bar)
    return pd.DataFrame(rows)
