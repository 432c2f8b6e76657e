"""Grid files: the YAML blocks of a sweep expanded into run configs, and their selection.

A grid file has one or more blocks, each with ``base`` (fields shared by its runs), ``grid``
(fields whose values are crossed) and ``params`` (settings by method name or by
``family:<name>``; a method's own entry wins); see :mod:`imbnb.experiments.sweep`, which
re-exports these functions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from imbnb.experiments.config import RunConfig
from imbnb.experiments.registry import FAMILIES, METHODS, family_of, settings_of

__all__ = ["expand_grid", "load_grid", "parse_where", "select_configs"]

_BLOCK_KEYS = {"base", "grid", "params"}


def _params_for(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Family settings, then the method's own (which win)."""
    out = dict(params.get(f"family:{family_of(method)}", {}))
    out.update(params.get(method, {}))
    return out


def expand_grid(spec: Mapping[str, Any]) -> list[RunConfig]:
    """Every config of a grid spec (a dict with ``blocks``, or one block), de-duplicated."""
    blocks = spec.get("blocks", [spec]) if isinstance(spec, Mapping) else None
    if blocks is None or blocks == []:
        raise ValueError("a grid needs 'blocks' (a list) or one block with base/grid/params")
    configs: dict[str, RunConfig] = {}
    if not isinstance(blocks, list):
        raise ValueError(f"'blocks' must be a list of blocks, got {type(blocks).__name__}")
    for i, block in enumerate(blocks):
        base, grid, params = _check_block(i, block)
        names = list(grid)
        for values in itertools.product(*(grid[n] for n in names)):
            fields = {**base, **dict(zip(names, values, strict=True))}
            fields["params"] = _params_for(fields["method"], params)
            try:
                cfg = RunConfig.from_dict(fields)
                settings_of(cfg)  # an unknown setting stops the grid before any run
            except (TypeError, ValueError) as err:
                raise ValueError(f"block {i}: {err}") from err
            configs.setdefault(cfg.key(), cfg)
    return list(configs.values())


def _check_block(i: int, block: Any) -> tuple[dict, dict, dict]:
    """A block's ``base``, ``grid`` and ``params``, each of the right shape, or a clear error."""
    if not isinstance(block, Mapping):
        raise ValueError(f"block {i} must be a mapping of base/grid/params, got {block!r}")
    unknown = sorted(set(block) - _BLOCK_KEYS)
    if unknown:
        raise ValueError(f"block {i}: unknown key(s) {unknown}; allowed: {sorted(_BLOCK_KEYS)}")
    parts = {k: block.get(k) or {} for k in ("base", "grid", "params")}
    for key, part in parts.items():
        if not isinstance(part, Mapping):
            raise ValueError(f"block {i}: {key!r} must be a mapping, got {part!r}")
    for name, values in parts["grid"].items():
        if not isinstance(values, list) or not values:
            raise ValueError(
                f"block {i}: grid field {name!r} must be a non-empty list of values, got "
                f"{values!r}; write `{name}: [{values}]` for one value, or put it in base"
            )
    if "method" not in parts["grid"] and "method" not in parts["base"]:
        raise ValueError(f"block {i}: give 'method' in grid or base")
    return dict(parts["base"]), dict(parts["grid"]), dict(parts["params"])


def select_configs(
    configs: Sequence[RunConfig],
    only: Sequence[str] | None = None,
    where: Mapping[str, Sequence[Any]] | None = None,
) -> list[RunConfig]:
    """The configs whose method or family is in ``only`` and whose fields match ``where``.

    ``only=None`` keeps every method (an empty list names nothing: an error). ``where`` maps a
    config field (``protocol``, ``seed``, ``ratio``...) to its allowed values, e.g.
    ``{"protocol": ["counts"], "seed": [0, 1]}``; numbers match by value (10 == 10.0).
    """
    out = list(configs)
    if only is not None:
        wanted = {n.strip() for n in only if n.strip()}
        unknown = sorted(wanted - set(FAMILIES) - set(METHODS))
        if unknown or not wanted:
            raise ValueError(
                f"only: unknown method or family {unknown or list(only)}; allowed: "
                f"families {list(FAMILIES)} or methods {sorted(METHODS)}"
            )
        present = sorted({c.method for c in out})
        out = [c for c in out if c.method in wanted or family_of(c.method) in wanted]
        if not out and present:
            raise ValueError(
                f"only: {sorted(wanted)} match no run of the grid; its methods: {present}"
            )
    fields = sorted(set(RunConfig.__dataclass_fields__) - {"params"})
    for name, values in (where or {}).items():
        if name not in fields:
            raise ValueError(f"where: unknown field {name!r}; allowed: {fields}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = [values]
        have = {_norm(_field(c, name)): _field(c, name) for c in out}
        absent = [v for v in values if _norm(v) not in have]
        if absent and out:
            shown = sorted(map(str, have.values()))
            raise ValueError(
                f"where: {name}={','.join(map(str, absent))} matches no run; "
                f"the values of {name} in the runs selected: {shown}"
            )
        allowed = {_norm(v) for v in values}
        out = [c for c in out if _norm(_field(c, name)) in allowed]
    return out


def _field(cfg: RunConfig, name: str) -> Any:
    """A field as the run's key holds it (counts: ratio None), else its value (a field the key
    leaves out, such as the long tail's preset on another protocol)."""
    d = cfg.to_dict()
    return d[name] if name in d else getattr(cfg, name)


def _norm(value: Any) -> Any:
    """A field value for matching: numbers by value (10, 10.0 and "10" agree), else as text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def parse_where(items: Iterable[str]) -> dict[str, list[str]]:
    """``["protocol=counts", "seed=0,1"]`` -> ``{"protocol": ["counts"], "seed": ["0", "1"]}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ValueError(f"where: expected FIELD=VALUE[,VALUE...], got {item!r}")
        out.setdefault(name.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return out


def load_grid(path: str | Path) -> list[RunConfig]:
    """Read a YAML grid file and expand it; a malformed file is refused with its name."""
    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ValueError(f"grid {path}: not valid YAML{at}: {problem}") from err
    try:
        return expand_grid(spec)
    except ValueError as err:
        raise ValueError(f"grid {path}: {err}") from err
