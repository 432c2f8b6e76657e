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
from imbnb.imbalance_presets import LONGTAIL_PRESETS

__all__ = ["PROTOCOLS", "RunConfig"]

#: ``minority``: the ADOS thesis's protocol (``n_minority`` classes cut to ``n_max / ratio``);
#: ``counts``: the count list of GAMO / DeepSMOTE ``[4000, ..., 40]`` times ``count_scale``;
#: ``longtail``: the loss papers' exponential profile ``n_i = n_max · ratio^(-i/(C-1))``
#: (``lt_preset`` fixes ``n_max``, e.g. 6000 for ``fashion_mnist_lt``; classes with at most
#: ``n_max / lt_rho_prime`` images count as minority; chapter 9).
PROTOCOLS: tuple[str, ...] = ("minority", "counts", "longtail")

#: Fields that only the long-tail protocol reads (left out of other runs' keys), and the
#: fields it ignores (left out of its keys), so every run keeps one identity.
_LONGTAIL_ONLY = ("lt_preset", "lt_rho_prime")
_NOT_LONGTAIL = ("n_minority", "count_scale")
#: Optional fields: absent from the keys (and rows) of runs that leave them at their default.
_OPTIONAL = ("validation", "minority_classes", *_LONGTAIL_ONLY, *_NOT_LONGTAIL)


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
    "lt_preset": ((str, _NONE), f"one of {list(LONGTAIL_PRESETS)} or null"),
    "lt_rho_prime": ((_REAL,), "a number >= 1"),
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
    lt_preset: str | None = None  # longtail protocol: n_max's preset (None: the capped pool's)
    lt_rho_prime: float = 10.0  # longtail protocol: minority when n_i <= n_max / lt_rho_prime
    # minority protocol: these classes are cut (in this order; n_minority then unused), not
    # n_minority classes drawn by the seed (None)
    minority_classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        """Check each field's type, the protocol and its parameters, naming what is allowed."""
        self._check_classes()
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
        if self.protocol == "longtail":
            self._check_longtail()
        if not 0 <= float(self.validation) < 1:
            raise ValueError(f"validation must lie in [0, 1), got {self.validation!r}")
        if self.validation and self.protocol != "minority":
            raise ValueError("a validation run needs protocol 'minority' (the count list is fixed)")
        if not isinstance(self.params, dict):
            raise ValueError(f"params must be a dict, got {type(self.params).__name__}")
        canonical_config(self.params)  # JSON-able, or a clear error now rather than mid-sweep

    def _check_classes(self) -> None:
        """Fixed minority classes: distinct non-negative integers, kept as a tuple in order."""
        classes = self.minority_classes
        if classes is None:
            return
        text = "null or a non-empty list of distinct class indices >= 0"
        if isinstance(classes, str | bytes) or not hasattr(classes, "__iter__"):
            raise ValueError(f"minority_classes must be {text}, got {classes!r}")
        items = list(classes)
        bad = [c for c in items if isinstance(c, bool) or not isinstance(c, _INT) or c < 0]
        if not items or bad or len(set(items)) != len(items):
            raise ValueError(f"minority_classes must be {text}, got {classes!r}")
        if self.protocol != "minority":
            raise ValueError(
                f"minority_classes needs protocol 'minority' (it fixes the classes that protocol "
                f"cuts), got protocol {self.protocol!r}"
            )
        object.__setattr__(self, "minority_classes", tuple(int(c) for c in items))

    def _check_longtail(self) -> None:
        """The long-tail protocol's own parameters, refused by name."""
        if self.ratio is None or float(self.ratio) < 1:
            raise ValueError(f"the longtail protocol needs ratio >= 1, got {self.ratio!r}")
        if self.lt_preset is not None and self.lt_preset not in LONGTAIL_PRESETS:
            raise ValueError(
                f"lt_preset must be one of {list(LONGTAIL_PRESETS)} or null, got {self.lt_preset!r}"
            )
        if not float(self.lt_rho_prime) >= 1:
            raise ValueError(f"lt_rho_prime must be a number >= 1, got {self.lt_rho_prime!r}")

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
        if self.protocol == "longtail":
            d["lt_rho_prime"] = float(self.lt_rho_prime)
            for name in _NOT_LONGTAIL:
                del d[name]
        else:  # the other protocols' keys are what they were before the long tail existed
            for name in _LONGTAIL_ONLY:
                del d[name]
        if self.minority_classes is None:
            del d["minority_classes"]  # drawn by the seed: the key it always had
        else:
            d["minority_classes"] = list(self.minority_classes)
            del d["n_minority"]  # unused when the classes are fixed
        return d

    def key(self) -> str:
        """The run's identity in the results store (hash of the config and package version)."""
        return config_hash(self.to_dict())

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunConfig:
        """Rebuild the config of a results-table row (its fields, ``params`` as JSON text)."""
        d: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            value = row.get(name) if name in _OPTIONAL else row[name]
            if name in _OPTIONAL and _absent(value):  # NaN: not in its key
                continue  # the field's default
            if name == "minority_classes":
                value = _classes_of(value)
            elif name in ("validation", "lt_rho_prime", "count_scale"):
                value = float(value)
            elif name == "params":
                value = json.loads(value) if isinstance(value, str) else dict(value)
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                value = None  # pandas' missing value: ratio of the counts protocol, n_train
            elif name in ("n_minority", "seed", "n_train", "n_test"):
                value = int(value)
            d[name] = value
        return cls(**d)

    def row_fields(self) -> dict[str, Any]:
        """The config's fields as a results row holds them (``params`` apart): fixed minority
        classes as text, "0,2,5,8", so the column stays a plain one."""
        d = {k: v for k, v in self.to_dict().items() if k != "params"}
        if "minority_classes" in d:
            d["minority_classes"] = ",".join(map(str, d["minority_classes"]))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from a dict, rejecting unknown fields by name."""
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"unknown run setting(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**d)


def _absent(value: Any) -> bool:
    """A row's missing value: None or NaN (a list or array is present)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _classes_of(value: Any) -> tuple[int, ...]:
    """Fixed minority classes from a row: "0,2,5,8" or a list of integers."""
    if isinstance(value, str):
        return tuple(int(c) for c in value.split(",") if c.strip())
    return tuple(int(c) for c in value)
