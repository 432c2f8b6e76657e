"""A run is a config: dataset, imbalance protocol, seed, method and its settings (chapter 8).

:class:`RunConfig` is frozen and JSON-able; its :meth:`~RunConfig.key` (a hash of every field
and the package version, :func:`imbnb.cache.config_hash`) identifies the run in the results
store, so the same config is never run twice.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from imbnb.cache import canonical_config, config_hash

__all__ = ["PROTOCOLS", "RunConfig"]

#: ``minority``: the ADOS thesis's protocol (``n_minority`` classes cut to ``n_max / ratio``);
#: ``counts``: the count list of GAMO / DeepSMOTE ``[4000, ..., 40]`` times ``count_scale``.
PROTOCOLS: tuple[str, ...] = ("minority", "counts")


_INT = numbers.Integral
_REAL = numbers.Real
_NONE = type(None)
#: the type each field must have (bools refused where numbers are expected)
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "method": ((str,), "a method name (text)"),
    "dataset": ((str,), "a dataset name (text)"),
    "protocol": ((str,), f"one of {list(PROTOCOLS)}"),
    "ratio": ((_REAL, _NONE), "a number >= 1 or null"),
    "n_minority": ((_INT,), "an integer"),
    "count_scale": ((_REAL,), "a number > 0"),
    "seed": ((_INT,), "an integer"),
    "n_train": ((_INT, _NONE), "an integer or null"),
    "n_test": ((_INT, _NONE), "an integer or null"),
    "profile": ((str,), "a profile name (text)"),
    "validation": ((_REAL,), "a share in [0, 1): 0 scores the test set"),
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one run's metrics row."""

    method: str
    dataset: str = "fashion_mnist"
    protocol: str = "minority"
    ratio: float | None = 100.0  # minority protocol: n_max / n_min
    n_minority: int = 4  # minority protocol: how many classes are cut (random by seed)
    count_scale: float = 1.0  # counts protocol: multiplies the count list
    seed: int = 0
    n_train: int | None = None  # training images kept (equal per class) before imbalancing
    n_test: int | None = None  # test images per class (None: the full test set)
    params: dict[str, Any] = field(default_factory=dict)  # the method's settings
    profile: str = "quick"
    validation: float = 0.0  # > 0: hold out this share of the training set and score it instead

    def __post_init__(self) -> None:
        """Check each field's type, the protocol and its parameters, naming what is allowed."""
        for name, (kinds, text) in _FIELD_TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{name} must be {text}, got {value!r}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {self.protocol!r}")
        if self.protocol == "minority" and (self.ratio is None or float(self.ratio) < 1):
            raise ValueError(f"the minority protocol needs ratio >= 1, got {self.ratio!r}")
        if self.protocol == "counts" and not float(self.count_scale) > 0:
            raise ValueError(f"count_scale must be > 0, got {self.count_scale!r}")
        if not 0 <= float(self.validation) < 1:
            raise ValueError(f"validation must lie in [0, 1), got {self.validation!r}")
        if self.validation and self.protocol != "minority":
            raise ValueError("a validation run needs protocol 'minority' (the count list is fixed)")
        if not isinstance(self.params, dict):
            raise ValueError(f"params must be a dict, got {type(self.params).__name__}")
        canonical_config(self.params)  # JSON-able, or a clear error now rather than mid-sweep

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (JSON-able)."""
        d = asdict(self)
        d["ratio"] = None if self.ratio is None else float(self.ratio)  # 10 and 10.0: one key
        d["count_scale"] = float(self.count_scale)
        if self.protocol == "counts":
            d["ratio"] = None  # not a knob of this protocol: keep it out of the key
        if self.validation:
            d["validation"] = float(self.validation)
        else:
            del d["validation"]  # a test run's key is what it was before validation runs existed
        return d

    def key(self) -> str:
        """The run's identity in the results store (hash of the config and package version)."""
        return config_hash(self.to_dict())

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunConfig:
        """Rebuild the config of a results-table row (its fields, ``params`` as JSON text)."""
        d: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            value = row.get(name) if name == "validation" else row[name]
            if name == "validation":
                value = 0.0 if value is None or value != value else float(value)  # NaN: a test run
            elif name == "params":
                value = json.loads(value) if isinstance(value, str) else dict(value)
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                value = None  # pandas' missing value: ratio of the counts protocol, n_train
            elif name in ("n_minority", "seed", "n_train", "n_test"):
                value = int(value)
            d[name] = value
        return cls(**d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from a dict, rejecting unknown fields by name."""
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"unknown run setting(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**d)
