"""On-disk cache of expensive artifacts (trained weights, embeddings, metric rows) keyed by a hash
of their full config (book page "How to re-run": what is cached, where, and how to clear it).

Layout: ``root/<kind>/<key[:2]>/<key>/`` holding the artifact (``arrays.npz``,
``state_dict.pt``, ``table.parquet``/``table.csv`` or ``data.json``) and a ``config.json`` for
humans. ``key`` is the sha256 of the canonical JSON of the config together with
``imbnb.__version__`` and :data:`CACHE_SCHEMA`, so a new release never reads stale entries.

Every file is written to a temporary file in its final directory and moved into place with
``os.replace`` (atomic on POSIX and Windows): an interrupted run leaves either the old entry, no
entry, or at worst a hidden ``.*.tmp`` file that is never read. Loading never unpickles:
``np.load(allow_pickle=False)``, ``torch.load(weights_only=True)``, Parquet/CSV, JSON.

``python -m imbnb.cache clear [--kind K]`` (or ``imbnb cache clear``) empties the cache.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import IO, Any, TypeVar

import numpy as np

from imbnb import __version__
from imbnb.canonical import ARRAY_DIGEST_THRESHOLD as ARRAY_DIGEST_THRESHOLD  # re-exported
from imbnb.canonical import canonical_config

__all__ = [
    "CACHE_SCHEMA",
    "Cache",
    "CacheMissError",
    "cache_dir",
    "cached_arrays",
    "cached_json",
    "cached_state_dict",
    "canonical_config",
    "clear_cache",
    "config_hash",
    "main",
]

CACHE_SCHEMA = 1
"""Bump when the on-disk layout or the key recipe changes: old entries then simply miss."""

ENV_VAR = "IMBNB_CACHE"
"""Environment variable that overrides the cache location."""

_ARTIFACTS = {
    "arrays": "arrays.npz",
    "state_dict": "state_dict.pt",
    "parquet": "table.parquet",
    "csv": "table.csv",
    "json": "data.json",
}
_KIND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")

log = logging.getLogger(__name__)
T = TypeVar("T")


class CacheMissError(LookupError):
    """Raised by a ``load_*`` call when the entry (or that artifact of it) is not cached."""


def cache_dir() -> Path:
    """The cache root: ``$IMBNB_CACHE`` if set, else the platform's user cache dir for imbnb.

    The user cache dir is platformdirs'; without platformdirs (a bare GPU machine), what it
    gives on Linux: ``$XDG_CACHE_HOME/imbnb``, else ``~/.cache/imbnb``.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        return Path(xdg or "~/.cache").expanduser() / "imbnb"
    return Path(platformdirs.user_cache_dir("imbnb", appauthor=False))


def _key_payload(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the key is hashed from: the canonical config, the code version and the schema."""
    return {
        "cache_schema": CACHE_SCHEMA,
        "config": canonical_config(config),
        "imbnb_version": __version__,
    }


def _dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable sha256 hex key of ``config`` + ``imbnb.__version__`` + :data:`CACHE_SCHEMA`."""
    return hashlib.sha256(_dumps(_key_payload(config)).encode("ascii")).hexdigest()


def _check_kind(kind: str) -> str:
    """A kind is one plain path component (letters, digits, ``_.-``)."""
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ValueError(
            f"cache kind must be a simple name like 'embeddings' (letters, digits, _.-), "
            f"got {kind!r}"
        )
    return kind


def _atomic_write(target: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``target`` via a temp file in the same directory and ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(  # closed below, before the rename
        mode="wb", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return target


class Cache:
    """A directory of artifacts keyed by ``(kind, config)``; see the module docstring."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        """Use ``root``, or :func:`cache_dir` (``$IMBNB_CACHE`` / user cache) when None."""
        self.root = Path(root).expanduser() if root is not None else cache_dir()

    def __repr__(self) -> str:
        """Show the root directory."""
        return f"Cache(root={str(self.root)!r})"

    # -- locating entries ---------------------------------------------------------------------

    def key(self, kind: str, config: Mapping[str, Any]) -> str:
        """The hex key of an entry (the kind only picks the folder).

        Where CUDA is the compute device the key also names it, so a network trained on the
        CPU is never served to a GPU run, nor the reverse; CPU keys are unchanged.
        """
        _check_kind(kind)
        device = _compute_device()
        return config_hash(config if device == "cpu" else {**config, "_device": device})

    def path(self, kind: str, config: Mapping[str, Any]) -> Path:
        """The entry directory ``root/kind/key[:2]/key`` (may not exist yet)."""
        key = self.key(kind, config)
        return self.root / kind / key[:2] / key

    def has(self, kind: str, config: Mapping[str, Any], artifact: str | None = None) -> bool:
        """Whether the entry holds ``artifact`` (one of arrays, state_dict, parquet, csv, json)."""
        entry = self.path(kind, config)
        names = [_ARTIFACTS[artifact]] if artifact else list(_ARTIFACTS.values())
        return any((entry / name).is_file() for name in names)

    def _file(self, kind: str, config: Mapping[str, Any], artifact: str) -> Path:
        """Path of an artifact file, raising :class:`CacheMissError` when absent."""
        f = self.path(kind, config) / _ARTIFACTS[artifact]
        if not f.is_file():
            raise CacheMissError(f"no cached {artifact} for kind {kind!r} at {f.parent}")
        return f

    def _prepare(self, kind: str, config: Mapping[str, Any], artifact: str) -> Path:
        """Write ``config.json`` (for humans) and return the artifact's target path."""
        entry = self.path(kind, config)
        meta = {
            "kind": kind,
            "key": entry.name,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **_key_payload(config),
        }
        text = json.dumps(meta, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        _atomic_write(entry / "config.json", lambda f: f.write(text.encode("utf-8")))
        return entry / _ARTIFACTS[artifact]

    def _done(self, op: str, kind: str, target: Path) -> Path:
        """Log a write."""
        log.debug("cache %s %s/%s", op, kind, target.parent.name[:12])
        return target

    # -- arrays -------------------------------------------------------------------------------

    def save_arrays(self, kind: str, config: Mapping[str, Any], /, **arrays: Any) -> Path:
        """Store named arrays as one ``.npz``; object arrays are refused (no pickling)."""
        if not arrays:
            raise ValueError("save_arrays needs at least one named array")
        plain: dict[str, np.ndarray] = {}
        for name, value in arrays.items():
            arr = np.asarray(value)
            if arr.dtype.hasobject:
                raise TypeError(
                    f"array {name!r} has dtype object; the cache stores only plain "
                    "numeric/bool/str arrays because loading must never unpickle"
                )
            plain[name] = arr
        target = self._prepare(kind, config, "arrays")
        _atomic_write(target, lambda f: np.savez(f, allow_pickle=False, **plain))
        return self._done("save arrays", kind, target)

    def load_arrays(self, kind: str, config: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Load the arrays saved by :meth:`save_arrays` (``allow_pickle=False``)."""
        f = self._file(kind, config, "arrays")
        try:
            with np.load(f, allow_pickle=False) as z:
                return {name: z[name] for name in z.files}
        except ValueError as err:
            if "allow_pickle" in str(err) or "Object arrays" in str(err):
                raise ValueError(
                    f"refusing to load {f}: it holds pickled object arrays, which the cache "
                    "never unpickles; delete the entry (imbnb cache clear)"
                ) from err
            raise

    # -- torch state dicts --------------------------------------------------------------------

    def save_state_dict(
        self, kind: str, config: Mapping[str, Any], state_dict: Mapping[str, Any]
    ) -> Path:
        """Store a model's ``state_dict()`` with ``torch.save``."""
        import torch

        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict must be a mapping (model.state_dict()), got {type(state_dict)}"
            )
        target = self._prepare(kind, config, "state_dict")
        _atomic_write(target, lambda f: torch.save(dict(state_dict), f))
        return self._done("save state_dict", kind, target)

    def load_state_dict(self, kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Load a state dict with ``torch.load(weights_only=True)`` onto the CPU."""
        import torch

        f = self._file(kind, config, "state_dict")
        return torch.load(f, map_location="cpu", weights_only=True)

    # -- tables -------------------------------------------------------------------------------

    def save_table(
        self, kind: str, config: Mapping[str, Any], table: Any, *, format: str = "parquet"
    ) -> Path:
        """Store a DataFrame as Parquet (default; needs str column names) or CSV."""
        import pandas as pd

        if format not in ("parquet", "csv"):
            raise ValueError(f"format must be 'parquet' or 'csv', got {format!r}")
        df = pd.DataFrame(table)
        target = self._prepare(kind, config, format)
        if format == "parquet":
            _atomic_write(target, lambda f: df.to_parquet(f))
        else:
            _atomic_write(target, lambda f: f.write(df.to_csv(index=False).encode("utf-8")))
        other = target.parent / _ARTIFACTS["csv" if format == "parquet" else "parquet"]
        other.unlink(missing_ok=True)  # one table per entry: the newest wins
        return self._done("save table", kind, target)

    def load_table(self, kind: str, config: Mapping[str, Any]) -> Any:
        """Load the table saved by :meth:`save_table` (Parquet first, then CSV)."""
        import pandas as pd

        entry = self.path(kind, config)
        if (entry / _ARTIFACTS["parquet"]).is_file():
            return pd.read_parquet(entry / _ARTIFACTS["parquet"])
        return pd.read_csv(self._file(kind, config, "csv"))

    # -- JSON ---------------------------------------------------------------------------------

    def save_json(self, kind: str, config: Mapping[str, Any], obj: Any) -> Path:
        """Store a JSON-able object (numpy scalars/arrays are converted; NaN is kept)."""
        text = json.dumps(obj, default=_json_default, sort_keys=True, indent=1)
        target = self._prepare(kind, config, "json")
        _atomic_write(target, lambda f: f.write(text.encode("utf-8")))
        return self._done("save json", kind, target)

    def load_json(self, kind: str, config: Mapping[str, Any]) -> Any:
        """Load the object saved by :meth:`save_json`."""
        with open(self._file(kind, config, "json"), encoding="utf-8") as fh:
            return json.load(fh)

    # -- housekeeping -------------------------------------------------------------------------

    def entries(self, kind: str | None = None) -> list[Path]:
        """Entry directories (``root/kind/xx/<64 hex>``), optionally of one kind."""
        if not self.root.is_dir():
            return []
        kinds = [self.root / _check_kind(kind)] if kind else sorted(self.root.iterdir())
        found: list[Path] = []
        for kdir in kinds:
            if not kdir.is_dir() or not _KIND_RE.match(kdir.name):
                continue
            for sub in sorted(kdir.iterdir()):
                if not sub.is_dir() or len(sub.name) != 2:
                    continue
                found.extend(
                    e
                    for e in sorted(sub.iterdir())
                    if e.is_dir() and _KEY_RE.match(e.name) and e.name[:2] == sub.name
                )
        return found

    def remove(self, kind: str, config: Mapping[str, Any]) -> bool:
        """Delete one entry (every artifact of it); returns whether there was one."""
        entry = self.path(kind, config)
        if not entry.is_dir():
            return False
        if entry.is_symlink():
            entry.unlink()
        else:
            shutil.rmtree(entry)
        _prune_empty_parents(entry)
        log.debug("cache remove %s/%s", kind, entry.name[:12])
        return True

    def clear(self, kind: str | None = None) -> int:
        """Delete every entry (or those of ``kind``); returns how many were removed.

        Only directories shaped like cache entries are touched, so a mis-set ``$IMBNB_CACHE``
        pointing at a home directory cannot wipe unrelated files.
        """
        removed = 0
        for entry in self.entries(kind):
            if entry.is_symlink():  # a link placed here: remove the link, never its target
                entry.unlink()
            else:
                shutil.rmtree(entry)
            removed += 1
            _prune_empty_parents(entry)
        log.info("cache cleared %d entries under %s", removed, self.root)
        return removed


def _json_default(obj: Any) -> Any:
    """``json.dumps`` fallback for numpy scalars/arrays and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, PurePath):
        return obj.as_posix()
    raise TypeError(f"{type(obj).__name__} is not JSON-able")


def _compute_device() -> str:
    """``cuda`` when torch computes there by default (``imbnb.train.get_device``), else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def clear_cache(kind: str | None = None, root: str | os.PathLike[str] | None = None) -> int:
    """Delete cached entries (all, or one kind) under ``root``/:func:`cache_dir`; return count."""
    return Cache(root).clear(kind)


def _cached(
    cache: Cache | None,
    kind: str,
    config: Mapping[str, Any],
    artifact: str,
    load: Callable[[Cache], T],
    compute_and_save: Callable[[Cache], T],
) -> T:
    """Shared hit/miss logic: load on hit, else compute, save and return."""
    c = cache if cache is not None else Cache()
    key = c.key(kind, config)
    if c.has(kind, config, artifact):
        log.info("cache hit  %s/%s", kind, key[:12])
        return load(c)
    log.info("cache miss %s/%s: computing", kind, key[:12])
    return compute_and_save(c)


def cached_arrays(
    kind: str,
    config: Mapping[str, Any],
    compute: Callable[[], Mapping[str, Any]],
    cache: Cache | None = None,
) -> dict[str, np.ndarray]:
    """Arrays for ``(kind, config)``: loaded on a hit, else ``compute()``-d, stored, returned."""

    def run(c: Cache) -> dict[str, np.ndarray]:
        result = compute()
        if not isinstance(result, Mapping):
            raise TypeError(f"compute() must return a dict of arrays, got {type(result)}")
        arrays = {str(k): np.asarray(v) for k, v in result.items()}
        c.save_arrays(kind, config, **arrays)
        return arrays

    return _cached(cache, kind, config, "arrays", lambda c: c.load_arrays(kind, config), run)


def cached_state_dict(
    kind: str,
    config: Mapping[str, Any],
    compute: Callable[[], Mapping[str, Any]],
    cache: Cache | None = None,
) -> dict[str, Any]:
    """A state dict for ``(kind, config)``: loaded on a hit, else ``compute()``-d and stored.

    ``compute`` trains and returns ``model.state_dict()``; callers then ``load_state_dict`` it
    into a freshly built model, so hit and miss leave the model in the same state.
    """

    def run(c: Cache) -> dict[str, Any]:
        sd = dict(compute())
        c.save_state_dict(kind, config, sd)
        return sd

    return _cached(
        cache, kind, config, "state_dict", lambda c: c.load_state_dict(kind, config), run
    )


def cached_json(
    kind: str,
    config: Mapping[str, Any],
    compute: Callable[[], Any],
    cache: Cache | None = None,
) -> Any:
    """A JSON-able result (e.g. a metric row) for ``(kind, config)``, computed once."""

    def run(c: Cache) -> Any:
        obj = compute()
        c.save_json(kind, config, obj)
        return c.load_json(kind, config)  # return what a hit returns (numpy -> plain types)

    return _cached(cache, kind, config, "json", lambda c: c.load_json(kind, config), run)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m imbnb.cache {clear [--kind K], info} [--root DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m imbnb.cache", description="Inspect or clear the imbnb artifact cache."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    clear = sub.add_parser("clear", help="delete cached entries")
    clear.add_argument("--kind", default=None, help="only this kind (e.g. embeddings)")
    clear.add_argument(
        "--root", default=None, help=f"cache root (default ${ENV_VAR} or user cache)"
    )
    info = sub.add_parser("info", help="show the cache location and entry counts per kind")
    info.add_argument("--root", default=None, help=f"cache root (default ${ENV_VAR} or user cache)")
    args = parser.parse_args(argv)
    cache = Cache(args.root)
    if args.command == "clear":
        n = cache.clear(args.kind)
        print(f"removed {n} cached entries from {cache.root}")
        return 0
    counts: dict[str, int] = {}
    for entry in cache.entries():
        counts[entry.parent.parent.name] = counts.get(entry.parent.parent.name, 0) + 1
    print(f"cache root: {cache.root}")
    for kind, n in sorted(counts.items()):
        print(f"  {kind}: {n} entries")
    if not counts:
        print("  (empty)")
    return 0


def _prune_empty_parents(entry: Path) -> None:
    """Drop an entry's shard folder (``xx/``) and kind folder once they hold nothing."""
    for parent in (entry.parent, entry.parent.parent):
        try:
            parent.rmdir()
        except OSError:  # not empty (or already gone): stop there
            break


if __name__ == "__main__":
    sys.exit(main())
