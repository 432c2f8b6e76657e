"""Chapter 7 (weighted calibration): the sweep of its ``k`` and of its component cap.

The chapter narrates and calls; the runs of the sweep live here so that its cells stay short.
Each run is :func:`imbnb.methods.deepsmote.run_generative` (cached) of DeepDenoising+WC on the
thesis's count protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from imbnb.methods.deepsmote import count_protocol, run_generative

__all__ = ["METHOD", "knob_sweep"]

#: The method whose sampler the sweep varies.
METHOD = "DeepDenoising+WC"


def knob_sweep(
    dataset: str,
    seeds: Sequence[int],
    knobs: Mapping[str, tuple[str, Sequence[Any]]],
    wc_params: Mapping[str, Any],
    *,
    count_scale: float,
    n_test: int | None,
    ae: Mapping[str, Any],
    classifier: Mapping[str, Any],
) -> pd.DataFrame:
    """One :data:`METHOD` run per knob, value and seed, the other knobs at ``wc_params``.

    ``knobs``: name -> (the sampler parameter it sets, the values to try), e.g.
    ``{"k": ("k", [1, 3]), "cap": ("max_components", [3, 10])}``. Returns the metric rows
    with ``knob``, ``value`` and ``seed`` in front.
    """
    sweep = []
    for name, (key, values) in knobs.items():
        for v in values:
            for s in seeds:
                params = {**wc_params, key: v}
                train_s, test_s, _, _ = count_protocol(
                    dataset, count_scale=count_scale, seed=s, n_test=n_test
                )
                row = run_generative(
                    METHOD, train_s, test_s, seed=s, ae=ae, classifier=classifier,
                    sampler_params=params,
                )  # fmt: skip
                sweep.append({"knob": name, "value": v, "seed": s, **row})
    return pd.DataFrame(sweep)
