"""imbnb.cache: stable keys, hit/miss, atomic writes, no unpickling, clearing."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import imbnb
from imbnb import cache as cache_mod
from imbnb.cache import (
    CACHE_SCHEMA,
    Cache,
    CacheMissError,
    cache_dir,
    cached_arrays,
    cached_json,
    cached_state_dict,
    canonical_config,
    clear_cache,
    config_hash,
)

CONFIG = {"dataset": "synthetic", "protocol": "minority", "ratio": 20, "seed": 0, "lr": 1e-3}


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- keys ----------------------------------------------------------------------------------------


def test_hash_is_stable_and_order_free() -> None:
    a = config_hash({"b": 1, "a": [1, 2], "c": {"y": 1.5, "x": None}})
    b = config_hash({"c": {"x": None, "y": 1.5}, "a": [1, 2], "b": 1})
    assert a == b and len(a) == 64 and int(a, 16) >= 0
    assert a == config_hash({"b": 1, "a": (1, 2), "c": {"y": 1.5, "x": None}})


def test_numpy_paths_and_tuples_normalise() -> None:
    plain = {"n": 3, "x": 0.5, "flag": True, "dims": [1, 2, 3], "root": "data/x", "ids": [4, 5]}
    fancy = {
        "n": np.int64(3),
        "x": np.float64(0.5),
        "flag": np.bool_(True),
        "dims": (1, 2, 3),
        "root": Path("data") / "x",
        "ids": np.array([4, 5]),
    }
    assert canonical_config(fancy) == plain
    assert config_hash(fancy) == config_hash(plain)
    assert canonical_config({"counts": {0: 10, 1: 5}}) == {"counts": {"0": 10, "1": 5}}
    big = np.arange(10_000)
    digest = canonical_config({"idx": big})["idx"]
    assert set(digest) == {"__ndarray_sha256__", "dtype", "shape"}
    assert config_hash({"idx": big}) != config_hash({"idx": big[::-1].copy()})


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"model": {"act": object()}}, "model.act"),
        ({"fn": len}, "fn"),
        ({"lr": float("nan")}, "lr"),
        ({"arr": np.array([1, None], dtype=object)}, "arr"),
        ({"xs": [1, {2, "a"}]}, "xs[1]"),
        ({"d": {(1, 2): 3}}, "d"),
    ],
)
def test_non_json_values_raise_type_error_naming_the_key(config: dict, where: str) -> None:
    with pytest.raises(TypeError, match=re.escape(f"'{where}'")):
        config_hash(config)


def test_key_covers_config_version_and_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    base = config_hash(CONFIG)
    assert config_hash({**CONFIG, "seed": 1}) != base
    assert config_hash({**CONFIG, "lr": 1e-4}) != base
    monkeypatch.setattr(cache_mod, "__version__", imbnb.__version__ + ".post1")
    assert config_hash(CONFIG) != base
    monkeypatch.undo()
    monkeypatch.setattr(cache_mod, "CACHE_SCHEMA", CACHE_SCHEMA + 1)
    assert config_hash(CONFIG) != base


def test_layout_and_human_readable_config(cache: Cache) -> None:
    cache.save_arrays("embeddings", CONFIG, z=np.zeros((3, 2), np.float32))
    key = config_hash(CONFIG)
    entry = cache.root / "embeddings" / key[:2] / key
    assert cache.path("embeddings", CONFIG) == entry
    assert sorted(p.name for p in entry.iterdir()) == ["arrays.npz", "config.json"]
    meta = json.loads((entry / "config.json").read_text())
    assert meta["config"] == CONFIG and meta["kind"] == "embeddings" and meta["key"] == key
    assert meta["imbnb_version"] == imbnb.__version__ and meta["cache_schema"] == CACHE_SCHEMA


def test_location_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"
    assert Cache().root == tmp_path / "here"
    monkeypatch.delenv("IMBNB_CACHE")
    assert "imbnb" in str(cache_dir())


def test_bad_kind_is_rejected(cache: Cache) -> None:
    for kind in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="kind"):
            cache.path(kind, CONFIG)


# -- round trips and hit/miss ---------------------------------------------------------------------


def test_cached_arrays_computes_once(cache: Cache, caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        rng = np.random.default_rng(0)
        return {"z": rng.normal(size=(5, 3)).astype(np.float32), "y": np.arange(5)}

    with caplog.at_level(logging.INFO, logger="imbnb.cache"):
        first = cached_arrays("embeddings", CONFIG, compute, cache=cache)
        second = cached_arrays("embeddings", dict(reversed(CONFIG.items())), compute, cache=cache)
    assert len(calls) == 1
    assert "cache miss" in caplog.text and "cache hit" in caplog.text
    assert second.keys() == first.keys()
    for name in first:
        np.testing.assert_array_equal(second[name], first[name])
        assert second[name].dtype == first[name].dtype
    third = cached_arrays("embeddings", {**CONFIG, "seed": 1}, compute, cache=cache)
    assert len(calls) == 2 and third.keys() == first.keys()
    assert len(cache.entries("embeddings")) == 2


def test_cached_state_dict_round_trip(cache: Cache) -> None:
    torch.manual_seed(0)
    calls = []

    def train() -> dict[str, torch.Tensor]:
        calls.append(1)
        return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).state_dict()

    sd1 = cached_state_dict("extractor", CONFIG, train, cache=cache)
    sd2 = cached_state_dict("extractor", CONFIG, train, cache=cache)
    assert len(calls) == 1
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k])
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    model.load_state_dict(sd2)


def test_tables_and_json(cache: Cache) -> None:
    df = pd.DataFrame({"method": ["a", "b"], "acsa": [0.5, 0.75], "seed": [0, 1]})
    cache.save_table("results", CONFIG, df)
    pd.testing.assert_frame_equal(cache.load_table("results", CONFIG), df)
    cache.save_table("results", CONFIG, df, format="csv")
    assert not cache.has("results", CONFIG, "parquet")
    pd.testing.assert_frame_equal(cache.load_table("results", CONFIG), df)
    calls = []

    def row() -> dict:
        calls.append(1)
        return {"acsa": np.float64(0.5), "auprc_c3": float("nan"), "counts": np.array([1, 2])}

    r1 = cached_json("metrics", CONFIG, row, cache=cache)
    r2 = cached_json("metrics", CONFIG, row, cache=cache)
    assert len(calls) == 1 and r1["acsa"] == r2["acsa"] == 0.5 and r2["counts"] == [1, 2]
    assert np.isnan(r2["auprc_c3"])


def test_miss_raises(cache: Cache) -> None:
    assert not cache.has("embeddings", CONFIG)
    with pytest.raises(CacheMissError, match="embeddings"):
        cache.load_arrays("embeddings", CONFIG)
    cache.save_json("embeddings", CONFIG, {"a": 1})
    with pytest.raises(CacheMissError):
        cache.load_arrays("embeddings", CONFIG)  # another artifact of the same entry


# -- atomicity ------------------------------------------------------------------------------------


def test_crash_mid_write_leaves_no_entry(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    real_savez = np.savez

    def crashing_savez(f, *args, **kwargs):
        real_savez(f, *args, **kwargs)  # the bytes are on their way ...
        f.truncate(20)  # ... half written ...
        raise KeyboardInterrupt("killed mid-write")  # ... and the run dies

    monkeypatch.setattr(np, "savez", crashing_savez)
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"z": np.ones((100, 10))}

    with pytest.raises(KeyboardInterrupt):
        cached_arrays("embeddings", CONFIG, compute, cache=cache)
    assert not cache.has("embeddings", CONFIG)
    assert not [p for p in _files(cache.root) if p.name.endswith(".tmp")]  # no temp litter
    with pytest.raises(CacheMissError):
        cache.load_arrays("embeddings", CONFIG)
    monkeypatch.undo()
    out = cached_arrays("embeddings", CONFIG, compute, cache=cache)  # next run recomputes
    assert len(calls) == 2 and out["z"].shape == (100, 10)
    assert cache.load_arrays("embeddings", CONFIG)["z"].sum() == 1000


def test_crash_keeps_the_old_entry(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.save_arrays("embeddings", CONFIG, z=np.zeros(3))

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        cache.save_arrays("embeddings", CONFIG, z=np.ones(3))
    monkeypatch.undo()
    np.testing.assert_array_equal(cache.load_arrays("embeddings", CONFIG)["z"], np.zeros(3))
    assert not [p for p in _files(cache.root) if p.name.endswith(".tmp")]


def test_leftover_temp_file_is_never_loaded(cache: Cache) -> None:
    # A hard kill (SIGKILL) cannot clean up: simulate its leftover temp file.
    entry = cache.path("embeddings", CONFIG)
    entry.mkdir(parents=True)
    (entry / ".arrays.npz.abc123.tmp").write_bytes(b"PK\x03\x04 truncated")
    (entry / "config.json").write_text("{}")
    assert not cache.has("embeddings", CONFIG)
    with pytest.raises(CacheMissError):
        cache.load_arrays("embeddings", CONFIG)
    calls = []
    cached_arrays("embeddings", CONFIG, lambda: calls.append(1) or {"a": np.ones(2)}, cache=cache)
    assert calls == [1] and cache.load_arrays("embeddings", CONFIG)["a"].tolist() == [1.0, 1.0]
    assert cache.clear() == 1 and not any(cache.root.rglob("*.tmp"))


# -- no pickle ------------------------------------------------------------------------------------


def test_object_arrays_are_refused_on_save(cache: Cache) -> None:
    with pytest.raises(TypeError, match="'bad' has dtype object"):
        cache.save_arrays("embeddings", CONFIG, ok=np.ones(2), bad=np.array([{"a": 1}, None]))
    assert not cache.has("embeddings", CONFIG)


def test_pickled_npz_is_refused_on_load(cache: Cache) -> None:
    cache.save_arrays("embeddings", CONFIG, z=np.ones(2))
    f = cache.path("embeddings", CONFIG) / "arrays.npz"
    np.savez(f, z=np.array([{"evil": 1}], dtype=object))  # tampered entry, written with pickle
    assert zipfile.is_zipfile(f)
    with pytest.raises(ValueError, match="never unpickles"):
        cache.load_arrays("embeddings", CONFIG)


def test_state_dict_load_is_weights_only(cache: Cache) -> None:
    cache.save_state_dict("extractor", CONFIG, {"w": torch.ones(2)})
    f = cache.path("extractor", CONFIG) / "state_dict.pt"
    torch.save({"w": torch.ones(2), "obj": Path("x")}, f)  # an arbitrary class, needs pickle
    with pytest.raises(Exception, match="(?i)weights_only"):
        cache.load_state_dict("extractor", CONFIG)


# -- clearing -------------------------------------------------------------------------------------


def test_clear_by_kind_and_all(cache: Cache, tmp_path: Path) -> None:
    for seed in range(3):
        cache.save_arrays("embeddings", {**CONFIG, "seed": seed}, z=np.ones(1))
    cache.save_json("metrics", CONFIG, {"acsa": 1.0})
    unrelated = cache.root / "notes.txt"
    unrelated.write_text("keep me")
    (cache.root / "embeddings" / "README").write_text("keep me too")
    assert cache.clear("metrics") == 1
    assert not (cache.root / "metrics").exists()
    assert len(cache.entries()) == 3
    assert clear_cache(root=cache.root) == 3
    assert cache.entries() == [] and unrelated.read_text() == "keep me"
    assert (cache.root / "embeddings" / "README").exists()
    assert clear_cache(root=tmp_path / "does-not-exist") == 0


def test_remove_drops_one_entry_only(cache: Cache) -> None:
    cache.save_arrays("embeddings", CONFIG, z=np.ones(1))
    cache.save_json("embeddings", CONFIG, {"n": 1})
    cache.save_arrays("embeddings", {**CONFIG, "seed": 9}, z=np.ones(1))
    assert cache.remove("embeddings", CONFIG)
    assert not cache.has("embeddings", CONFIG) and cache.has("embeddings", {**CONFIG, "seed": 9})
    assert not cache.remove("embeddings", CONFIG)  # already gone
    last = cache.path("embeddings", {**CONFIG, "seed": 9})
    assert cache.remove("embeddings", {**CONFIG, "seed": 9})
    assert not last.parent.exists() and not (cache.root / "embeddings").exists()
    cache.save_json("embeddings", CONFIG, {"n": 2})  # the folders come back when needed
    assert cache.load_json("embeddings", CONFIG) == {"n": 2}


def test_module_entry_point(cache: Cache, capsys: pytest.CaptureFixture[str]) -> None:
    cache.save_json("metrics", CONFIG, {"acsa": 1.0})
    assert cache_mod.main(["info", "--root", str(cache.root)]) == 0
    assert "metrics: 1 entries" in capsys.readouterr().out
    assert cache_mod.main(["clear", "--root", str(cache.root)]) == 0
    assert "removed 1 cached entries" in capsys.readouterr().out
    cache.save_json("metrics", CONFIG, {"acsa": 1.0})
    env = {**os.environ, "IMBNB_CACHE": str(cache.root)}
    proc = subprocess.run(
        [sys.executable, "-m", "imbnb.cache", "clear", "--kind", "metrics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 cached entries" in proc.stdout
    assert cache.entries() == []
