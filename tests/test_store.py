"""The results store: concurrent writers lose nothing, damaged files are refused by name."""

from __future__ import annotations

import multiprocessing
import struct
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from imbnb import paths
from imbnb.experiments import ResultsStore
from imbnb.experiments.store import StoreIntegrityError


def _writer(path: str, writer: int, n: int) -> None:
    """One of several processes appending ``n`` rows, compacting now and then."""
    store = ResultsStore(path)
    for i in range(n):
        assert store.append([{"config_hash": f"w{writer}r{i}", "x": i / 7, "writer": writer}]) == 1
        if i % 17 == 0:
            store.compact()


def test_append_skips_stored_hashes_and_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "r.parquet")
    assert store.append([{"config_hash": "a", "x": 1.0}, {"config_hash": "b", "x": 2.0}]) == 2
    assert store.append([{"config_hash": "a", "x": 9.0}, {"config_hash": "c", "x": 3.0}]) == 1
    assert store.compact() == 3
    assert store.append([{"config_hash": "c", "x": 8.0}]) == 0  # compacted: still known
    table = store.load()
    assert dict(zip(table["config_hash"], table["x"], strict=True)) == {"a": 1, "b": 2, "c": 3}

    def broken(table, where, **kw):  # write half a file, then die
        Path(where).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        store.append([{"config_hash": "d", "x": 4.0}])
    with pytest.raises(OSError, match="disk full"):
        store.append([{"config_hash": "e", "x": 5.0}])
        store.compact()
    monkeypatch.undo()
    assert sorted(store.load()["config_hash"]) == ["a", "b", "c"]  # the old table, intact
    leftovers = [p.name for p in tmp_path.rglob("*") if p.is_file() and "tmp" in p.name]
    assert leftovers == []
    with pytest.raises(ValueError, match=r"\.parquet"):
        ResultsStore(tmp_path / "r.csv")
    with pytest.raises(ValueError, match="config_hash"):
        store.append([{"x": 1.0}])
    with pytest.raises(ValueError, match="not a usable name"):
        store.append([{"config_hash": "../escape", "x": 1.0}])


@pytest.mark.parametrize("attempt", range(3))
def test_four_concurrent_writers_store_exactly_their_rows(tmp_path, attempt) -> None:
    path = str(tmp_path / "r.parquet")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)  # about 25 s on two busy cores; generous, so a failure is a fault
    hung = [w for w, p in enumerate(procs) if p.is_alive()]
    for w in hung:
        procs[w].kill()
    assert not hung, f"writers {hung} still running after 600 s"
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]  # a writer's traceback is in stderr
    table = ResultsStore(path).load()
    assert len(table) == 200 and table["config_hash"].is_unique
    assert table.groupby("writer").size().tolist() == [50, 50, 50, 50]
    ResultsStore(path).compact()
    again = ResultsStore(path).load()
    assert len(again) == 200 and not (tmp_path / "r.runs").exists()
    assert pq.read_table(path).num_rows == 200


def _flip(path: Path, offset: int) -> bytes:
    data = bytearray(path.read_bytes())
    original = bytes(data)
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    return original


def test_a_bit_flipped_table_is_refused_by_name_never_read_wrong(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.parquet")
    rows = [
        {"config_hash": f"h{i:03d}", "acsa": 0.6 + i / 1000, "seed": i % 3, "method": "BL"}
        for i in range(40)
    ]
    store.append(rows)
    store.compact()
    good = store.load()
    size = store.path.stat().st_size
    refused, offsets = 0, range(4, size - 8, 3)
    for offset in offsets:  # every third byte between the magic numbers
        original = _flip(store.path, offset)
        try:
            got = store.load()
        except StoreIntegrityError as err:
            assert str(store.path) in str(err)
            refused += 1
        else:  # a flip the reader never uses (a statistic, say) must not change one value
            pd.testing.assert_frame_equal(got, good)
        finally:
            store.path.write_bytes(original)
    assert refused > len(offsets) / 3, (refused, len(offsets))  # data, digest, footer
    # a damaged run file (not compacted yet) is refused too, by its own name
    store.append([{"config_hash": "zzz", "acsa": 0.123456789}])
    run = store.runs_dir / "zzz.parquet"
    _flip(run, run.read_bytes().index(struct.pack("<d", 0.123456789)) + 3)  # the value itself
    with pytest.raises(StoreIntegrityError, match="zzz.parquet"):
        store.load()


def test_a_table_without_digest_is_refused_until_upgraded(tmp_path) -> None:
    path = tmp_path / "old.parquet"
    pd.DataFrame({"config_hash": ["a", "b"], "acsa": [0.5, 0.6]}).to_parquet(path)
    store = ResultsStore(path)
    with pytest.raises(StoreIntegrityError, match="old.parquet has no content digest.*upgrade"):
        store.load()
    assert store.upgrade() == 2
    assert store.load()["acsa"].tolist() == [0.5, 0.6]


def test_the_committed_table_is_verified() -> None:
    committed = paths.book_dir() / "data" / "results" / "paper.parquet"
    assert ResultsStore(committed).verify() > 0
