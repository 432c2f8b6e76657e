"""Canonical JSON form of a cache config: what :mod:`imbnb.cache` hashes into its keys.

Tuples become lists, numpy scalars Python numbers, paths POSIX strings, large arrays a sha256
of their bytes; anything that JSON cannot hold faithfully is refused, naming where it sits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["ARRAY_DIGEST_THRESHOLD", "canonical_config"]

ARRAY_DIGEST_THRESHOLD = 256
"""Arrays in a config with more elements than this are keyed by a sha256 of their bytes."""


def _canon(value: Any, where: str) -> Any:
    """Normalise one config value to plain JSON types, naming ``where`` on failure."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # also turns np.str_ into str
    if isinstance(value, np.generic) and not isinstance(value, (np.str_, np.bytes_)):
        if isinstance(value, np.void) or value.dtype.kind in "OVMm":
            raise TypeError(f"config value at {where!r} of dtype {value.dtype} is not JSON-able")
        value = value.item()
        return _canon(value, where)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"config value at {where!r} is {value!r}, which JSON cannot hold")
        return float(value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufU":
            raise TypeError(
                f"config array at {where!r} has dtype {value.dtype}; only bool/int/float/str "
                "arrays can be part of a cache key"
            )
        if value.size > ARRAY_DIGEST_THRESHOLD:
            arr = np.ascontiguousarray(value)
            return {
                "__ndarray_sha256__": hashlib.sha256(arr.tobytes()).hexdigest(),
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
            }
        return _canon(value.tolist(), where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canon(dataclasses.asdict(value), where)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                raise TypeError(f"config key {k!r} at {where!r} must be a str or int")
            sk = str(k)
            if sk in out:
                raise TypeError(f"config keys at {where!r} collide once made strings: {sk!r}")
            out[sk] = _canon(v, f"{where}.{sk}" if where else sk)
        return out
    if isinstance(value, (list, tuple)):
        return [_canon(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [_canon(v, f"{where}{{}}") for v in value]
        try:
            return sorted(items)
        except TypeError as err:
            raise TypeError(f"config set at {where!r} mixes unorderable values") from err
    raise TypeError(
        f"config value at {where!r} of type {type(value).__name__} is not JSON-able; "
        "pass plain numbers, strings, lists, dicts, numpy scalars/arrays or paths"
    )


def canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as plain JSON types (tuples -> lists, numpy -> Python, Path -> str)."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    return _canon(config, "")
