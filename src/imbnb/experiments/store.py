"""The results table: one row per run, safe for any number of concurrent writers (chapter 8).

For a store ``results.parquet`` three names are used, side by side:

* ``results.parquet`` -- the compacted table: what a chapter reads and what is committed;
* ``results.runs/`` -- one Parquet file per run not compacted yet, named by its config hash;
* ``results.parquet.lock`` -- taken (``flock``) only to compact or to write provenance.

Why this design: an append writes its row to a temporary name and links it into place with
``os.link``, which is atomic and fails when the name exists, so any number of writers (sweep
processes on one machine, Ray workers on shared storage) add rows without a lock, without
rewriting anything, and a config hash is stored exactly once. SQLite in WAL mode was the
alternative; it needs shared memory on one host and is unsafe on network file systems, and
the committed artifact would stop being the plain Parquet file every reader already opens.
:meth:`ResultsStore.compact` (run at the end of every sweep and merge) folds the run files
into the table under the lock; a reader always sees the table plus the run files, so a
killed sweep's rows are never lost, only not compacted yet.

Integrity: every file is written with Parquet page checksums, verified on read, and carries a
SHA-256 of its content (column names, types and every value) in its metadata, recomputed on
read. A file that fails either check is refused by name (:class:`StoreIntegrityError`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ResultsStore", "StoreIntegrityError"]

_DIGEST_KEY = b"imbnb.content_sha256"
_HASH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


class StoreIntegrityError(ValueError):
    """A results file is damaged: unreadable, a page checksum fails, or its content digest."""


def content_digest(table: pa.Table) -> str:
    """SHA-256 over a table's column names and every value, in order, as canonical JSON.

    Values as Python objects, so the digest does not depend on how a reader types them
    (``string`` or ``large_string``, say); a float keeps its exact ``repr``.
    """
    text = json.dumps(table.to_pydict(), allow_nan=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table whose metadata holds the SHA-256 of its content."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), _DIGEST_KEY: content_digest(table).encode()}
    return table.replace_schema_metadata(meta)


def write_verified(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` (a new or temporary name) with checksums and digest."""
    pq.write_table(_to_arrow(frame), path, write_page_checksum=True)


def read_verified(path: Path, *, legacy_ok: bool = False) -> pa.Table:
    """Read one results file, verifying page checksums and the content digest.

    A file without a digest is refused (a damaged key looks the same as a missing one);
    ``legacy_ok`` lets it through, for :meth:`ResultsStore.upgrade` alone.
    """
    try:  # one read of the bytes: a file replaced meanwhile is read whole, old or new
        data = pa.py_buffer(Path(path).read_bytes())
        table = pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
        digest = (table.schema.metadata or {}).get(_DIGEST_KEY)
        actual = content_digest(table) if digest is not None else None
    except (OSError, pa.ArrowException, ValueError, TypeError, KeyError) as err:
        raise StoreIntegrityError(f"results file {path} is damaged and was refused: {err}") from err
    if digest is None:
        if not legacy_ok:
            raise StoreIntegrityError(
                f"results file {path} has no content digest, so it cannot be verified: it is "
                "damaged, or was written by imbnb before tables were verified; if you trust "
                f"it, `imbnb store upgrade {path}` adds the digest"
            )
    elif actual != digest.decode():
        raise StoreIntegrityError(
            f"results file {path} is damaged and was refused: its content does not match the "
            "SHA-256 recorded when it was written"
        )
    return table


def _frame(tables: list[pa.Table]) -> pd.DataFrame:
    """One frame from several tables (columns unified, types promoted), first hash wins."""
    if not tables:
        return pd.DataFrame({"config_hash": pd.Series(dtype=str)})
    tables = [t.replace_schema_metadata(None) for t in tables]
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    return frame.drop_duplicates("config_hash", keep="first").reset_index(drop=True)


class ResultsStore:
    """A Parquet results table at ``path``: lock-free concurrent appends, verified reads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.suffix != ".parquet":
            raise ValueError(f"the results file must end in .parquet, got {self.path.name!r}")
        self.runs_dir = self.path.with_name(f"{self.path.stem}.runs")
        self.lock_path = self.path.with_name(f"{self.path.name}.lock")

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    # ------------------------------------------------------------------ reading

    def _table(self) -> pa.Table | None:
        """The compacted table (verified), or None when there is none yet."""
        if not self.path.exists():
            return None
        return read_verified(self.path)

    def _run_files(self) -> list[Path]:
        """The run files not compacted yet, oldest first (temporary files excluded)."""
        if not self.runs_dir.is_dir():
            return []
        files = [p for p in self.runs_dir.iterdir() if p.suffix == ".parquet"]
        return sorted(files, key=lambda p: (_mtime(p), p.name))

    def load(self) -> pd.DataFrame:
        """Every stored row, compacted or not (an empty frame when nothing is stored yet)."""
        main = self._table()
        runs = [t for t in (_read_run(p) for p in self._run_files()) if t is not None]
        return _frame(([main] if main is not None else []) + runs)

    def hashes(self) -> set[str]:
        """The config hashes already stored."""
        main = self._table()
        done = set() if main is None else {str(h) for h in main.column("config_hash").to_pylist()}
        return done | {p.stem for p in self._run_files()}

    def __contains__(self, key: str) -> bool:
        return key in self.hashes()

    def verify(self) -> int:
        """Check every file of the store; return the number of rows. Raises when one is damaged."""
        return len(self.load())

    # ------------------------------------------------------------------ writing

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store the rows whose hash is new; return how many this call added.

        Safe with any number of concurrent writers: each row becomes its own file, created
        atomically under its hash, so a hash stored by someone else is skipped, never doubled.
        """
        new = pd.DataFrame([dict(r) for r in rows])
        if new.empty:
            return 0
        if "config_hash" not in new.columns:
            raise ValueError("every row needs a 'config_hash' column")
        new = new.drop_duplicates("config_hash", keep="first")
        stored = self.hashes()
        added = 0
        for i in range(len(new)):
            row = new.iloc[[i]]
            key = str(row["config_hash"].iloc[0])
            if key not in stored and self._write_run(key, row):
                added += 1
        return added

    def _write_run(self, key: str, row: pd.DataFrame) -> bool:
        """Write one row as ``runs/<key>.parquet``; False when that name exists already."""
        if not _HASH_RE.fullmatch(key):
            raise ValueError(f"config_hash {key!r} is not a usable name (letters, digits, ._-)")
        fd, tmp = self._temp_file(key)
        os.close(fd)
        try:
            write_verified(row, Path(tmp))
            os.link(tmp, self.runs_dir / f"{key}.parquet")  # atomic; fails if it exists
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    def _temp_file(self, key: str) -> tuple[int, str]:
        """A new temporary file in the runs folder, which a compaction may remove meanwhile."""
        for _ in range(100):
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=self.runs_dir, prefix=f".{key[:16]}.", suffix=".tmp")
            except FileNotFoundError:  # removed (empty) between mkdir and mkstemp: again
                continue
        raise OSError(f"cannot create a file in {self.runs_dir}")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's exclusive lock (compaction, provenance); blocks until free."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def upgrade(self) -> int:
        """Give a table written before digests its digest and page checksums; return its rows.

        Its content is not checked (there is nothing to check it against): upgrade only a
        table you trust. The rows and their values are unchanged.
        """
        with self.lock():
            table = read_verified(self.path, legacy_ok=True)
            frame = _frame([table])
            _replace(frame, self.path)
            return len(frame)

    def compact(self) -> int:
        """Fold the run files into the table (atomically, under the lock); return how many."""
        with self.lock():
            main = self._table()
            files = self._run_files()
            runs = [t for t in (_read_run(p) for p in files) if t is not None]
            if not files:
                return 0
            before = 0 if main is None else main.num_rows
            frame = _frame(([main] if main is not None else []) + runs)
            _replace(frame, self.path)
            for p in files:
                p.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.runs_dir.rmdir()  # only when empty: a writer may have added one since
            return len(frame) - before


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # compacted meanwhile
        return 0


def _read_run(path: Path) -> pa.Table | None:
    """One run file, verified; None when a compaction removed it in the meantime."""
    try:
        return read_verified(path)
    except StoreIntegrityError:
        if not path.exists():
            return None
        raise


def _replace(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` over ``path`` atomically (temporary file, then ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write_verified(frame, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
