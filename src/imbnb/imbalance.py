"""Imbalance protocols: which training images to keep, deterministic by seed.

Explained in the book chapter "Data and imbalance protocols". Each protocol turns a balanced
(or any) label vector into the sorted indices of the kept images plus a description:

- ``"minority"``: ``n_minority`` classes (random by seed, or given) are cut to
  ``ceil(n_max / ratio)`` images — the ADOS thesis protocol (4 of 10 classes,
  ρ ∈ {10, 20, 40, 100}); or, with ``remove_fraction=p``, to ``ceil((1 - p) · n_c)`` — the DOS
  protocol (remove a fraction p of four random classes).
- ``"counts"``: explicit per-class counts, or one of :data:`COUNT_PRESETS` (the lists used by
  GAMO and the DeepSMOTE thesis).
- ``"longtail"``: the exponential profile ``n_i = floor(n_max · ratio^(-i / (C - 1)))``; with
  ``preset="cifar10_lt"`` (n_max 5000) or ``"fashion_mnist_lt"`` (n_max 6000) it is the
  CIFAR-10-LT protocol of the loss-based long-tail papers (Cao et al. 2019; ratios 10 and 100),
  see :data:`LONGTAIL_PRESETS` and :func:`longtail_counts`.
- ``"none"``: keep everything.

Also: a per-class test subset (:func:`select_test`), the ADOS thesis minority/majority split
(Definition 1.3, :func:`split_minority_majority`) and its class weights (Algorithm 2,
:func:`class_weights`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import numpy as np

from imbnb.imbalance_presets import (
    COUNT_PRESETS,
    LONGTAIL_PRESETS,
    check_ratio,
    longtail_counts,
)

__all__ = [
    "COUNT_PRESETS",
    "LONGTAIL_PRESETS",
    "PROTOCOLS",
    "ImbalancedSplit",
    "ProtocolOptions",
    "class_weights",
    "longtail_counts",
    "make_imbalanced",
    "select_test",
    "split_minority_majority",
]

PROTOCOLS: tuple[str, ...] = ("minority", "counts", "longtail", "none")


def _ceil(x: float) -> int:
    """Ceiling that ignores float noise (0.1 * 6000 must give 600, not 601)."""
    return math.ceil(round(x, 9))


def _as_labels(labels: Any) -> np.ndarray:
    """Labels as a 1-D int64 array, or a ValueError saying what is wrong."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"`labels` must be 1-D; got shape {y.shape}.")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(y == np.round(y)):
            raise ValueError(f"`labels` must be integer class labels; got dtype {y.dtype}.")
    return y.astype(np.int64)


def _class_counts(y: np.ndarray) -> dict[int, int]:
    """Number of samples per class present in ``y`` (sorted by class)."""
    classes, counts = np.unique(y, return_counts=True)
    return {int(c): int(n) for c, n in zip(classes, counts, strict=True)}


@dataclass(eq=False)
class ImbalancedSplit:
    """The kept training indices of one protocol application and how they came about."""

    indices: np.ndarray  # sorted int64 indices into the original labels
    counts: dict[int, int]  # kept samples per class
    minority_classes: list[int]
    majority_classes: list[int]
    protocol: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __len__(self) -> int:
        """Number of kept samples."""
        return len(self.indices)

    @property
    def imbalance_ratio(self) -> float:
        """ρ = n_max / n_min over the kept classes (ADOS thesis Definition 1.2)."""
        nonzero = [n for n in self.counts.values() if n > 0]
        return float(max(nonzero) / min(nonzero)) if nonzero else float("nan")

    def fingerprint(self) -> str:
        """Short sha256 of the kept indices (identifies the split in cache keys)."""
        return hashlib.sha256(self.indices.astype("<i8").tobytes()).hexdigest()[:16]

    def describe(self) -> str:
        """One readable paragraph: protocol, parameters, kept counts, minority classes, ρ."""
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items() if v is not None)
        head = f"protocol {self.protocol!r}" + (f" ({shown})" if shown else "")
        per_class = ", ".join(f"{c}: {n}" for c, n in self.counts.items())
        return (
            f"{head}, seed {self.seed}: kept {len(self):,} samples; per class {{{per_class}}}; "
            f"minority classes {self.minority_classes}, majority classes "
            f"{self.majority_classes}; imbalance ratio ρ = {self.imbalance_ratio:.4g}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no index array; ``fingerprint`` identifies the indices)."""
        return {
            "protocol": self.protocol,
            "params": dict(self.params),
            "seed": int(self.seed),
            "n_kept": len(self),
            "counts": {int(c): int(n) for c, n in self.counts.items()},
            "minority_classes": [int(c) for c in self.minority_classes],
            "majority_classes": [int(c) for c in self.majority_classes],
            "imbalance_ratio": self.imbalance_ratio,
            "fingerprint": self.fingerprint(),
        }


def split_minority_majority(
    counts: Mapping[int, int], rho_prime: float
) -> tuple[list[int], list[int]]:
    """ADOS thesis Definition 1.3: minority classes have n_c <= n_max / ρ′, the rest majority."""
    if not counts:
        raise ValueError("`counts` must hold at least one class.")
    if rho_prime is None or not np.isfinite(rho_prime) or rho_prime < 1:
        raise ValueError(f"`rho_prime` must be a finite number >= 1; got {rho_prime!r}.")
    n_max = max(counts.values())
    # n_c <= n_max / ρ′ written as n_c · ρ′ <= n_max (no division rounding)
    minority = sorted(int(c) for c, n in counts.items() if n * rho_prime <= n_max)
    majority = sorted(int(c) for c in counts if int(c) not in minority)
    return minority, majority


def class_weights(y: Any, *, classes: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """ADOS thesis Algorithm 2: normalised inverse priors, w_c = (1/p_c) / Σ_k (1/p_k).

    Weights follow the order of ``classes`` (default: the sorted classes in ``y``) and sum to 1.
    """
    y = _as_labels(y)
    if y.size == 0:
        raise ValueError("`y` must hold at least one label.")
    cls = np.unique(y) if classes is None else np.asarray(classes, dtype=np.int64)
    n_c = np.array([np.count_nonzero(y == c) for c in cls], dtype=np.float64)  # line 5
    missing = [int(c) for c, k in zip(cls, n_c, strict=True) if k == 0]
    if missing:
        raise ValueError(
            f"`classes` {missing} have no samples in `y`; their prior is 0 and the inverse "
            "prior weight would be infinite."
        )
    w = class_weights_from_counts(dict(enumerate(n_c)))
    return np.array([w[j] for j in range(len(cls))])


def class_weights_from_counts(counts: Mapping[Any, float]) -> dict:
    """Algorithm 2's weights from a ``{class: count}`` mapping (e.g. counts after resampling)."""
    classes = list(counts)
    n_c = np.array([float(counts[c]) for c in classes])
    if n_c.size == 0 or (n_c <= 0).any():
        raise ValueError(f"`counts` must be positive for every class; got {dict(counts)}.")
    p_c = n_c / n_c.sum()  # Alg. 2 line 9: prior of class c
    w = 1.0 / p_c  # line 10
    w = w / w.sum()  # lines 11 and 13: normalise by Z = Σ 1/p_c
    return dict(zip(classes, w.tolist(), strict=True))


def _pick_classes(
    classes: np.ndarray,
    given: Sequence[int] | None,
    n_minority: int,
    rng: np.random.Generator,
) -> list[int]:
    """The minority classes: the given ones (checked) or ``n_minority`` drawn by ``rng``."""
    if given is not None:
        chosen = [int(c) for c in given]
        unknown = sorted(set(chosen) - {int(c) for c in classes})
        if unknown:
            raise ValueError(
                f"`minority_classes` {unknown} are not among the classes {classes.tolist()}."
            )
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"`minority_classes` has repeated classes: {chosen}.")
        return sorted(chosen)
    n_minority = int(n_minority)
    if n_minority < 0 or n_minority > len(classes):
        raise ValueError(
            f"`n_minority` must be between 0 and the number of classes ({len(classes)}); "
            f"got {n_minority}."
        )
    return sorted(int(c) for c in rng.choice(classes, size=n_minority, replace=False))


def _check_order(classes: np.ndarray, class_order: Sequence[int] | None) -> list[int]:
    """Class order for count lists: a permutation of the classes (default: sorted)."""
    if class_order is None:
        return [int(c) for c in classes]
    order = [int(c) for c in class_order]
    if sorted(order) != [int(c) for c in classes]:
        raise ValueError(
            f"`class_order` must be a permutation of the classes {classes.tolist()}; got {order}."
        )
    return order


def _target_counts_from_list(counts: Sequence[int], order: list[int], param: str) -> dict[int, int]:
    """Map a count list onto the classes in ``order`` (entry i goes to class order[i])."""
    counts = [int(n) for n in counts]
    if len(counts) != len(order):
        raise ValueError(
            f"`{param}` must have one count per class ({len(order)} classes); got {len(counts)}."
        )
    return dict(zip(order, counts, strict=True))


def _validate_targets(targets: Mapping[int, int], available: dict[int, int], param: str) -> None:
    """Reject negative counts and counts above what a class holds."""
    for c, n in targets.items():
        if c not in available:
            raise ValueError(f"`{param}` names class {c}, which is not in `labels`.")
        if n < 0:
            raise ValueError(f"`{param}` must be non-negative; class {c} got {n}.")
        if n > available[c]:
            raise ValueError(
                f"`{param}` asks for {n} samples of class {c}, but only {available[c]} exist."
            )


class ProtocolOptions(TypedDict, total=False):
    """The rarely used keywords of :func:`make_imbalanced`, grouped (all optional)."""

    remove_fraction: float | None  # "minority": keep ceil((1 - p) · n_c) (the DOS protocol)
    class_order: Sequence[int] | None  # "counts"/"longtail": which class gets which entry
    rho_prime: float | None  # "counts"/"longtail": ADOS thesis Definition 1.3 threshold


@dataclass(frozen=True)
class _Spec:
    """Every parameter of one protocol application (what :func:`make_imbalanced` was given)."""

    protocol: str
    ratio: float | None = None
    n_minority: int = 4
    minority_classes: Sequence[int] | None = None
    counts: Sequence[int] | Mapping[int, int] | None = None
    preset: str | None = None
    remove_fraction: float | None = None
    class_order: Sequence[int] | None = None
    rho_prime: float | None = None


#: What a protocol helper returns: targets per class, the recorded params, minority or None.
_Plan = tuple[dict[int, int], dict[str, Any], list[int] | None]


def make_imbalanced(
    labels: Any,
    protocol: str,
    *,
    ratio: float | None = None,
    n_minority: int = 4,
    minority_classes: Sequence[int] | None = None,
    counts: Sequence[int] | Mapping[int, int] | None = None,
    preset: str | None = None,
    seed: int = 0,
    **options: Unpack[ProtocolOptions],
) -> ImbalancedSplit:
    """Apply an imbalance protocol to ``labels``; returns the kept indices and a description.

    - ``"minority"``: needs ``ratio`` (>= 1; 1 keeps everything) or ``remove_fraction`` p in
      [0, 1); cuts ``n_minority`` random classes (or ``minority_classes``) to
      ``ceil(n_max / ratio)`` resp. ``ceil((1 - p) · n_c)``. These classes are the minority.
    - ``"counts"``: ``counts`` (a list, one per class, or a ``{class: count}`` dict; absent
      classes keep all) or ``preset`` (a key of :data:`COUNT_PRESETS`); ``class_order``
      permutes which class gets which list entry.
    - ``"longtail"``: needs ``ratio`` >= 1; rank ``i`` (``class_order``, default sorted) keeps
      ``floor(n_max · ratio^(-i/(C-1)))``, with n_max the smallest class size, so every count
      exists -- or, with ``preset`` a key of :data:`LONGTAIL_PRESETS`, the preset's n_max
      (CIFAR-10-LT: ``preset="cifar10_lt", ratio=100``); every class must then hold enough.
    - ``"none"``: keeps everything; ``minority_classes`` is recorded if given.

    For ``counts`` and ``longtail`` the minority classes follow the ADOS thesis Definition 1.3
    with ``rho_prime`` if given, else every class smaller than the largest (GAMO's C − 1
    minority classes). Parameters that a protocol does not use are ignored. The rarely used
    ``remove_fraction``, ``class_order`` and ``rho_prime`` are keywords too
    (:class:`ProtocolOptions`).
    """
    unknown = sorted(set(options) - set(ProtocolOptions.__annotations__))
    if unknown:
        raise TypeError(f"make_imbalanced() got an unexpected keyword argument {unknown[0]!r}")
    spec = _Spec(protocol, ratio, n_minority, minority_classes, counts, preset, **options)
    return _apply(labels, spec, seed)


def _apply(labels: Any, spec: _Spec, seed: int) -> ImbalancedSplit:
    """:func:`make_imbalanced` on a checked spec: targets per class, then the subsample."""
    if spec.protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {list(PROTOCOLS)}; got {spec.protocol!r}.")
    y = _as_labels(labels)
    if y.size == 0:
        raise ValueError("`labels` must hold at least one label.")
    rng = np.random.default_rng(seed)
    available = _class_counts(y)
    classes = np.array(sorted(available), dtype=np.int64)
    plan = {
        "minority": _plan_minority,
        "counts": _plan_counts,
        "longtail": _plan_longtail,
        "none": _plan_none,
    }[spec.protocol]
    targets, params, minority = plan(spec, available, classes, rng)

    kept = []
    for c in classes:  # subsample each class without replacement, in class order
        idx = np.flatnonzero(y == c)
        k = targets[int(c)]
        kept.append(idx if k >= len(idx) else rng.choice(idx, size=k, replace=False))
    indices = np.sort(np.concatenate(kept)).astype(np.int64)
    kept_counts = {int(c): int(targets[int(c)]) for c in classes}

    if minority is None:
        minority = _default_minority(kept_counts, spec.rho_prime)
    if spec.rho_prime is not None:
        params["rho_prime"] = float(spec.rho_prime)
    majority = [int(c) for c in classes if int(c) not in minority]
    return ImbalancedSplit(
        indices=indices,
        counts=kept_counts,
        minority_classes=[int(c) for c in minority],
        majority_classes=majority,
        protocol=spec.protocol,
        params=_jsonable(params),
        seed=int(seed),
    )


def _default_minority(kept_counts: dict[int, int], rho_prime: float | None) -> list[int]:
    """Definition 1.3 with ``rho_prime``, else every class smaller than the largest."""
    if rho_prime is not None:
        minority, _ = split_minority_majority(kept_counts, rho_prime)
        return minority
    n_max_kept = max(kept_counts.values())
    return [c for c, n in kept_counts.items() if n < n_max_kept]


def _plan_minority(
    spec: _Spec, available: dict[int, int], classes: np.ndarray, rng: np.random.Generator
) -> _Plan:
    """``"minority"``: cut the chosen classes to ceil(n_max / ratio) or ceil((1 - p) · n_c)."""
    ratio, remove_fraction = spec.ratio, spec.remove_fraction
    if (ratio is None) == (remove_fraction is None):
        raise ValueError(
            "protocol 'minority' needs exactly one of `ratio` (cut to ceil(n_max / ratio)) "
            "or `remove_fraction` (keep ceil((1 - p) · n_c))."
        )
    minority = _pick_classes(classes, spec.minority_classes, spec.n_minority, rng)
    n_max = max(available.values())
    targets = dict(available)
    if ratio is not None:
        ratio = check_ratio(ratio)
        for c in minority:  # ADOS thesis: minority classes cut to n_max / ρ
            targets[c] = min(available[c], _ceil(n_max / ratio))
    else:
        p = float(remove_fraction)  # type: ignore[arg-type]
        if not 0.0 <= p < 1.0:
            raise ValueError(f"`remove_fraction` must lie in [0, 1); got {remove_fraction!r}.")
        for c in minority:  # DOS: remove a fraction p of each chosen class
            targets[c] = _ceil((1.0 - p) * available[c])
    params = {
        "ratio": ratio,
        "remove_fraction": remove_fraction,
        "n_minority": len(minority),
        "minority_classes": minority,
    }
    return targets, params, minority


def _plan_counts(
    spec: _Spec, available: dict[int, int], classes: np.ndarray, rng: np.random.Generator
) -> _Plan:
    """``"counts"``: explicit per-class counts or a :data:`COUNT_PRESETS` list."""
    counts, preset = spec.counts, spec.preset
    if (counts is None) == (preset is None):
        raise ValueError("protocol 'counts' needs exactly one of `counts` or `preset`.")
    order = _check_order(classes, spec.class_order)
    if preset is not None:
        if preset not in COUNT_PRESETS:
            raise ValueError(f"`preset` must be one of {list(COUNT_PRESETS)}; got {preset!r}.")
        wanted = _target_counts_from_list(COUNT_PRESETS[preset], order, "preset")
        param = "preset"
    elif isinstance(counts, Mapping):
        wanted = {int(c): int(n) for c, n in counts.items()}
        param = "counts"
    else:
        wanted = _target_counts_from_list(counts, order, "counts")  # type: ignore[arg-type]
        param = "counts"
    _validate_targets(wanted, available, param)
    params = {
        "preset": preset,
        "counts": None if preset is not None else {int(c): n for c, n in wanted.items()},
        "class_order": None if spec.class_order is None else order,
    }
    return {**available, **wanted}, params, None


def _plan_longtail(
    spec: _Spec, available: dict[int, int], classes: np.ndarray, rng: np.random.Generator
) -> _Plan:
    """``"longtail"``: the exponential profile from the smallest class or a preset's n_max."""
    if spec.ratio is None:
        raise ValueError("protocol 'longtail' needs `ratio` (n_max / n_min, >= 1).")
    ratio = check_ratio(spec.ratio)
    if len(classes) < 2:
        raise ValueError("protocol 'longtail' needs at least two classes in `labels`.")
    order = _check_order(classes, spec.class_order)
    n_top = min(available.values()) if spec.preset is None else spec.preset
    wanted = longtail_counts(n_top, ratio, len(order))
    targets = dict(zip(order, wanted, strict=True))
    _validate_targets(targets, available, "preset")
    params: dict[str, Any] = {
        "ratio": ratio,
        "class_order": None if spec.class_order is None else order,
    }
    if spec.preset is not None:
        params["preset"] = spec.preset
    return targets, params, None


def _plan_none(
    spec: _Spec, available: dict[int, int], classes: np.ndarray, rng: np.random.Generator
) -> _Plan:
    """``"none"``: keep everything; record ``minority_classes`` if given."""
    given = spec.minority_classes
    minority = [] if given is None else _pick_classes(classes, given, 0, rng)
    return dict(available), {}, minority


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars and containers to plain Python for ``json.dumps``."""
    if isinstance(obj, Mapping):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def select_test(labels: Any, per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Sorted test indices: all (``per_class=None``) or ``per_class`` random images per class.

    GAMO evaluates on 100 test images per class.
    """
    y = _as_labels(labels)
    if per_class is None:
        return np.arange(len(y), dtype=np.int64)
    per_class = int(per_class)
    if per_class < 0:
        raise ValueError(f"`per_class` must be non-negative or None; got {per_class}.")
    rng = np.random.default_rng(seed)
    picked = []
    for c, n in _class_counts(y).items():
        if per_class > n:
            raise ValueError(f"`per_class`={per_class} exceeds the {n} samples of class {c}.")
        picked.append(rng.choice(np.flatnonzero(y == c), size=per_class, replace=False))
    if not picked:
        return np.arange(0, dtype=np.int64)
    return np.sort(np.concatenate(picked)).astype(np.int64)
