"""What chapter 3's figures and extractor sentences draw of one trained extractor, small enough to
store beside its ADOS run's row.

:func:`adaptive_k_profile` applies ADOS's Algorithm 4 to the embeddings of one class,
:func:`near_duplication` measures how close ADOS's synthetic rows sit to their seeds and
:func:`fit_spread` how tightly the extractor packs its minority training points. :class:`ADOSFigure`
holds all three for one extractor (kilobytes, where the extractor holds a network and 60,000
embeddings): chapter 3 computes it from an extractor it trained (:meth:`ADOSFigure.from_extractor`)
or reads it from a sweep's figure file (:meth:`ADOSFigure.from_arrays`), and draws the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from imbnb.methods.extractor import TrainedExtractor
from imbnb.oversample import ADOS
from imbnb.oversample.ados import adaptive_k, class_k_max

__all__ = [
    "ADOSFigure",
    "KProfile",
    "NearDuplication",
    "adaptive_k_profile",
    "fit_spread",
    "near_duplication",
]


@dataclass(frozen=True)
class KProfile:
    """Algorithm 4 on one class: each point's nearest-neighbour distance and its ``k``."""

    cls: int
    k_max: dict  # class -> k_max^(c) (eq. 4.3)
    d_x: np.ndarray  # distance of each point of the class to its nearest in-class neighbour
    ks: np.ndarray  # the k Algorithm 4 gives each point
    d_min: float  # smallest positive pairwise distance in the class
    d_max: float  # largest pairwise distance in the class
    grid_d: np.ndarray  # distances spanning [d_min, d_max]
    grid_k: list[int]  # Algorithm 4's k at each of them


def adaptive_k_profile(
    z: np.ndarray, y: np.ndarray, cls: int, *, k_min: int = 2, n_grid: int = 200
) -> KProfile:
    """Class-wise ``k_max`` (eq. 4.3) and Algorithm 4's ``k`` for every embedding of ``cls``."""
    counts = dict(zip(*np.unique(y, return_counts=True), strict=True))
    k_max = class_k_max(counts)  # eq. 4.3
    Xc = z[y == cls].astype(np.float64)
    D = cdist(Xc, Xc)
    positive = D[D > 0]
    d_min, d_max = positive.min(), positive.max()  # Alg. 4 l.2-3
    np.fill_diagonal(D, np.inf)
    d_x = D.min(axis=1)  # Alg. 4 l.10
    ks = np.array([adaptive_k(d, d_min, d_max, k_min, k_max[cls]) for d in d_x])
    grid_d = np.linspace(d_min, d_max, n_grid)
    grid_k = [adaptive_k(d, d_min, d_max, k_min, k_max[cls]) for d in grid_d]
    return KProfile(cls, k_max, d_x, ks, d_min, d_max, grid_d, grid_k)


@dataclass(frozen=True)
class NearDuplication:
    """How far ADOS's synthetic minority rows sit from their seeds, and its loss mass."""

    n_synthetic: int  # synthetic rows
    per_seed: float  # synthetic rows per original minority point
    near_frac: float  # fraction within 1% of the class's median NN distance of their seed
    spread_ratio: float  # trace of the synthetic rows' covariance over the originals'
    mass_ratio: float  # minority / majority total sample weight (ADOS's re-weighting)

    def table(self) -> pd.Series:
        """The five numbers, labelled for the chapter's table (a count shown as an integer)."""
        return pd.Series(
            {
                "synthetic rows": int(self.n_synthetic),
                "rows per original seed": round(float(self.per_seed), 1),
                "fraction within 1% of NN distance of their seed": round(self.near_frac, 3),
                "synthetic spread / original spread": round(self.spread_ratio, 3),
                "minority / majority loss mass (ADOS weights)": round(self.mass_ratio, 3),
            },
            dtype=object,
        )


def near_duplication(
    z: np.ndarray, y: np.ndarray, minority: Sequence[int], sampler: ADOS
) -> NearDuplication:
    """Resample embeddings ``z`` with an (unfitted) ADOS ``sampler`` and measure its rows.

    A synthetic row is "near" its seed when closer than 1 % of its class's median
    nearest-neighbour distance among the original points.
    """
    Z_res, y_res = sampler.fit_resample(z.astype(np.float64), y)
    syn = np.flatnonzero(sampler.is_synthetic_)
    to_seed = np.linalg.norm(Z_res[syn] - Z_res[sampler.source_index_[syn]], axis=1)
    near, spreads = np.zeros(len(syn), dtype=bool), []
    for c in minority:
        orig = z[y == c].astype(np.float64)
        Dc = cdist(orig, orig)
        np.fill_diagonal(Dc, np.inf)
        scale = np.median(Dc.min(axis=1))
        in_c = y_res[syn] == c
        near[in_c] = to_seed[in_c] < 0.01 * scale
        spreads.append(
            np.trace(np.cov(Z_res[syn][in_c], rowvar=False)) / np.trace(np.cov(orig, rowvar=False))
        )
    sw = sampler.sample_weight_
    mass = {c: sw[y_res == c].sum() for c in np.unique(y_res)}
    majority = [c for c in mass if c not in minority]
    mass_ratio = np.mean([mass[c] for c in minority]) / np.mean([mass[c] for c in majority])
    n_c = np.mean([np.sum(y == c) for c in minority])
    return NearDuplication(
        n_synthetic=len(syn),
        per_seed=len(syn) / len(minority) / n_c,
        near_frac=near.mean(),
        spread_ratio=np.mean(spreads),
        mass_ratio=mass_ratio,
    )


def fit_spread(ex: TrainedExtractor) -> float:
    """How tightly the extractor packs its minority training points: their mean distance to
    their class mean over the test points', averaged over the minority classes."""
    spread = [
        np.linalg.norm(z - z.mean(axis=0), axis=1).mean()
        for c in ex.minority_classes
        for z in (ex.z_train[ex.y_train == c], ex.z_test[ex.y_test == c])
    ]
    return float(np.mean(np.array(spread[0::2]) / np.array(spread[1::2])))


_PROFILE = ("d_x", "ks", "grid_d", "grid_k")


def _int_keys(d: dict) -> dict[int, int]:
    """A JSON object's keys back to the class numbers they were."""
    return {int(k): int(v) for k, v in d.items()}


@dataclass(frozen=True)
class ADOSFigure:
    """One extractor as chapter 3's adaptive-k figure and extractor sentences use it."""

    ratio: float
    seed: int
    rho_d: float  # ADOS's desired ratio of the near-duplication measure
    minority_classes: list[int]
    counts: dict[int, int]  # the split's training images per class
    extractor_seconds: float  # the extractor's training time where it was trained
    profile: KProfile  # Algorithm 4 on the first minority class
    dup: NearDuplication  # ADOS (rho_d, random_state = seed) on the training embeddings
    fit_spread: float
    network: str  # "trained", "cache" or "figure file": where the numbers come from
    meta: dict[str, Any] = field(default_factory=dict)  # a figure file's header (how made)

    @classmethod
    def from_extractor(cls, ex: TrainedExtractor, rho_d: float, seed: int) -> ADOSFigure:
        """The figure data of a trained (or cached) extractor; ADOS with ``rho_d`` and
        ``seed`` for the near-duplication measure."""
        minority = [int(c) for c in ex.minority_classes]
        sampler = ADOS(rho_d=rho_d, random_state=seed)
        return cls(
            ratio=float(ex.config["ratio"]),
            seed=int(seed),
            rho_d=float(rho_d),
            minority_classes=minority,
            counts={int(c): int(n) for c, n in ex.split.counts.items()},
            extractor_seconds=float(ex.history.get("seconds", float("nan"))),
            profile=adaptive_k_profile(ex.z_train, ex.y_train, minority[0]),
            dup=near_duplication(ex.z_train, ex.y_train, minority, sampler),
            fit_spread=fit_spread(ex),
            network="cache" if ex.from_cache else "trained",
        )

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and the JSON header of a figure file."""
        p = self.profile
        arrays = {k: np.asarray(getattr(p, k)) for k in _PROFILE}
        dup = {k: float(v) for k, v in asdict(self.dup).items()}
        dup["n_synthetic"] = int(self.dup.n_synthetic)
        meta = {
            "kind": "ados", "ratio": self.ratio, "seed": self.seed, "rho_d": self.rho_d,
            "minority_classes": self.minority_classes, "counts": self.counts,
            "extractor_seconds": self.extractor_seconds, "fit_spread": self.fit_spread,
            "profile": {"cls": int(p.cls), "k_max": _int_keys(p.k_max),
                        "d_min": float(p.d_min), "d_max": float(p.d_max)},
            "dup": dup,
        }  # fmt: skip
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ADOSFigure:
        """A figure read from a figure file (:meth:`to_arrays`)."""
        if meta.get("kind") != "ados":
            raise ValueError(f"not an ADOS figure file (kind {meta.get('kind')!r})")
        p = meta["profile"]
        profile = KProfile(
            int(p["cls"]), _int_keys(p["k_max"]), arrays["d_x"], arrays["ks"],
            float(p["d_min"]), float(p["d_max"]), arrays["grid_d"], arrays["grid_k"].tolist(),
        )  # fmt: skip
        return cls(
            ratio=float(meta["ratio"]),
            seed=int(meta["seed"]),
            rho_d=float(meta["rho_d"]),
            minority_classes=[int(c) for c in meta["minority_classes"]],
            counts=_int_keys(meta["counts"]),
            extractor_seconds=float(meta["extractor_seconds"]),
            profile=profile,
            dup=NearDuplication(**meta["dup"]),
            fit_spread=float(meta["fit_spread"]),
            network="figure file",
            meta=dict(meta),
        )
