"""The generated status page (imbnb.book.status): each table builder on small synthetic tables
and provenance, the benchmark records, the benchmark scripts' ``--record``, and the page built
from the committed tables."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from imbnb import paths
from imbnb.book import status
from imbnb.experiments import expand_grid
from imbnb.experiments.figures import FigureData, save_figure
from imbnb.experiments.store import ResultsStore

ROOT = paths.repo_root()
MACHINE = {"cpus": 2, "cpu": "Test CPU with AVX2", "device": "cpu", "gpu": None}


def _spec(methods: list[str], seeds: list[int]) -> dict:
    base = {"dataset": "fashion_mnist", "protocol": "minority", "profile": "smoke"}
    return {
        "blocks": [{"base": base, "grid": {"ratio": [10, 100], "seed": seeds, "method": methods}}]
    }


def _rows(configs, **extra) -> pd.DataFrame:
    """Result rows of ``configs`` with recorded costs (10 s network, 5 s own, 15 s wall)."""
    return pd.DataFrame(
        [
            {
                **{k: v for k, v in c.to_dict().items() if k != "params"},
                "config_hash": c.key(),
                "wall_seconds": 15.0,
                "network_seconds": 10.0,
                "method_seconds": 5.0,
                **extra,
            }
            for c in configs
        ]
    )


def test_markdown_table_prints_integers_as_integers() -> None:
    frame = pd.DataFrame({"a": [12.0, np.nan], "b": ["x|y", None], "c": [3, 4]})
    text = status.markdown_table(frame)
    assert text.splitlines() == [
        "| a | b | c |",
        "|---|---|---|",
        "| 12 | x\\|y | 3 |",
        "| — | — | 4 |",
    ]


def test_contents_table_counts_runs_draws_and_evaluation_set() -> None:
    configs = expand_grid(_spec(["BL", "DOS"], [0, 1, 2]))
    rows = _rows(configs)
    rows.loc[rows["method"] == "DOS", "evaluated_on"] = "validation"
    table = status.contents_table(rows)
    assert table[["family", "method", "evaluated on", "runs", "draws", "ratios"]].to_dict(
        "records"
    ) == [
        {
            "family": "feature_space",
            "method": "BL",
            "evaluated on": "test",
            "runs": 6,
            "draws": 3,
            "ratios": "10, 100",
        },
        {
            "family": "dos",
            "method": "DOS",
            "evaluated on": "validation",
            "runs": 6,
            "draws": 3,
            "ratios": "10, 100",
        },
    ]
    assert status.contents_table(rows.iloc[:0]).empty


def test_missing_table_counts_times_and_commands() -> None:
    configs = expand_grid(_spec(["BL", "FS-SMOTE", "DOS"], [0, 1]))
    stored = [c for c in configs if c.method != "DOS" and not (c.method == "BL" and c.seed == 1)]
    table = status.missing_table(configs, _rows(stored), lambda c: f"fill {c.method[:2]}")
    lines = table.set_index(["family", "command"]).to_dict("index")
    bl = lines[("feature_space", "`fill BL`")]
    assert (bl["expected"], bl["stored"], bl["missing"]) == (4, 2, 2)
    assert bl["methods missing runs"] == "BL 2"
    # BL's two missing runs (seed 1) need the seed-1 extractor, which FS-SMOTE's stored run
    # built: only their own steps are charged, 2 x 5 s
    assert bl["hours to run"] == f"{10 / 3600:.2f}"
    fs = lines[("feature_space", "—")]
    assert (fs["expected"], fs["stored"], fs["missing"], fs["hours to run"]) == (4, 4, 0, "—")
    dos = lines[("dos", "`fill DO`")]
    assert dos["missing"] == 4 and dos["hours to run"] == "unknown (no stored run to time)"
    assert "| feature_space | 4 | 2 | 2 | BL 2 |" in status.markdown_table(table)
    # a method the table has no run of is paced by another table's seconds per run
    paced = status.missing_table(
        configs, _rows(stored), lambda c: "fill", pace={("minority", "DOS"): 90.0}
    )
    assert paced.set_index("family").loc["dos", "hours to run"] == "≈ 0.10 (paced by paper.parquet)"


def _entry(**fields) -> dict:
    return {
        "command": "imbnb sweep g.yaml",
        "grid": "book/grids/g.yaml",
        "started_utc": "2026-12-01T08:00:00+00:00",
        "finished_utc": "2026-12-01T09:30:00+00:00",
        "runs_added": 4,
        "git_commit": "abcdef0123456789+dirty",
        "machine": MACHINE,
        **fields,
    }


def test_sweeps_table_flattens_merges_and_counts_unfinished_rows() -> None:
    sides = [_entry(runs_added=3, sweep_id="s1" * 8), _entry(runs_added=2, sweep_id="s2" * 8)]
    # a merge as imbnb wrote them before 2026-12-05: the side's last entry, nesting them all
    merge = {**sides[-1], "runs_added": 1, "side_entries": sides}
    entries = [
        _entry(runs_executed_at_commit="1234567890", machine={**MACHINE, "cpu": None}),
        _entry(sweep_id="r" * 32, status="running", finished_utc=None, runs_added=0),
        _entry(status="interrupted", merged_from="side.parquet"),
        {**merge, "merged_from": "two.parquet", "merge_note": "1 new"},
        _entry(command="correction: a column renamed (no runs)", grid=None, runs_added=0),
    ]
    rows = pd.DataFrame({"sweep_id": ["r" * 32] * 5 + ["other"]})
    table = status.sweeps_table(entries, rows)
    assert len(table) == 6  # one line per sweep: the merge's two side entries take its place
    assert table["status"].tolist() == [
        "finished",
        "not finished (killed?)",
        "interrupted; merged from side.parquet",
        "finished; merged from two.parquet (1 new)",
        "finished; merged from two.parquet (1 new)",
        "correction",
    ]
    assert table["runs added"].tolist() == [4, 5, 4, 3, 2, 0]
    assert table["commit"].tolist()[:2] == ["1234567", "abcdef0+dirty"]
    assert table["wall h"].tolist()[:2] == ["1.50", "—"]
    assert table["sweep"].tolist()[1] == "rrrrrrrr"
    assert table["machine"].tolist()[:2] == [
        "cpu, CPU not recorded, 2 CPUs",
        "cpu, Test CPU with AVX2, 2 CPUs",
    ]
    assert table["grid"].tolist()[-2:] == ["g.yaml", "—"]


def _record(utc: str, value: float, cpu: str = "Test CPU with AVX2") -> dict:
    return {
        "benchmark": "bench_x",
        "utc": utc,
        "git_commit": "0123456789",
        "machine": {**MACHINE, "cpu": cpu},
        "arguments": {"quick": True},
        "figures": {"ADOS": {"value": value, "unit": "s"}, "rows": {"value": 23760, "unit": ""}},
    }


def test_benchmarks_show_the_newest_record_per_machine_type(tmp_path: Path) -> None:
    lines = [
        _record("2026-12-01T10:00:00+00:00", 3.5),
        _record("2026-12-02T10:00:00+00:00", 3.15),
        _record("2026-11-30T10:00:00+00:00", 0.52, cpu="Other CPU with AVX512"),
    ]
    (tmp_path / "bench_x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    records = status.read_records(tmp_path)
    assert len(status.newest_records(records)) == 2
    text = status.benchmarks_markdown(records, known=("bench_x", "bench_y"))
    assert "| ADOS | s | 0.52 | 3.15 |" in text
    assert "| rows |  | 23,760 | 23,760 |" in text
    assert "3.50" not in text
    assert "### `benchmarks/bench_y.py`\n\nNo recorded run yet" in text
    assert status.read_records(tmp_path / "absent") == []
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        status.read_records(tmp_path)


def test_record_benchmark_appends_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "records" / "b.jsonl"
    for value in (1.0, 2.0):
        status.record_benchmark(path, "b", {"quick": True}, {"t": (value, "s"), "n": (3, "")})
    records = status.read_records(path.parent)
    assert [r["figures"]["t"] for r in records] == [
        {"value": 1.0, "unit": "s"},
        {"value": 2.0, "unit": "s"},
    ]
    assert records[0]["arguments"] == {"quick": True}
    assert {"cpu", "cpus", "device", "versions"} <= set(records[0]["machine"])
    assert "numpy" in records[0]["machine"]["versions"] and "load_average" in records[0]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_oversample_records_what_it_prints(tmp_path: Path, monkeypatch) -> None:
    bench = _script("bench_oversample")  # the timed parts replaced: only the record path runs
    monkeypatch.setattr(bench, "bench_ados", lambda X, y: {"ADOS": (3.0, "s")})
    monkeypatch.setattr(bench, "bench_knn", lambda X, n_queries, k: {"kNN": (2.0, "s")})
    monkeypatch.setattr(bench, "bench_calibration", lambda d, c, s: {"WC": (1.5, "x")})
    path = tmp_path / "bench_oversample.jsonl"
    bench.main(["--quick", "--threads", "1", "--record", str(path)])
    bench.main(["--quick"])  # no --record: nothing written
    (record,) = status.read_records(tmp_path)
    assert record["benchmark"] == "bench_oversample"
    assert record["arguments"] == {"quick": True, "real": None, "threads": 1, "seed": 0}
    assert list(record["figures"]) == ["ADOS", "kNN", "WC", "process max RSS"]
    assert record["figures"]["process max RSS"]["unit"] == "MiB"


class _Split:
    """A stand-in for a dataset split: images, labels and a length."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)


def test_bench_autoencoder_records_what_it_prints(tmp_path: Path, monkeypatch) -> None:
    bench = _script("bench_autoencoder")
    data = _Split(np.zeros((600, 1, 28, 28)), np.zeros(600))
    monkeypatch.setattr(bench, "load_dataset", lambda *a: data)
    monkeypatch.setattr(bench, "headline", lambda *a: {"new / old": (0.86, "x")})
    monkeypatch.setattr(bench, "loop_figures", lambda *a: {"checkpoint write": (0.2, "s")})
    monkeypatch.setattr(bench, "shares_figures", lambda w: {"GEMMs": (40.0, "% of a step")})
    path = tmp_path / "bench_autoencoder.jsonl"
    bench.main(["--repeats", "3", "--record", str(path)])
    (record,) = status.read_records(tmp_path)
    assert record["arguments"] == {"repeats": 3, "threads": 2, "batches": 5, "width": 64}
    assert list(record["figures"]) == ["new / old", "checkpoint write", "GEMMs"]


def test_grid_hours_returns_its_printed_figures(capsys) -> None:
    bench = _script("bench_autoencoder")
    labels = np.repeat(np.arange(10), 6000)
    epoch, figures = bench.grid_hours({"deepsmote": 0.5, "vae": 0.5}, labels)
    printed = capsys.readouterr().out
    assert f"{figures['paper grid, 75 autoencoders'][0]:.0f} core-hours" in printed
    assert epoch == pytest.approx(0.5 * 363)  # 36,240 images, batch 100: 363 batches
    assert figures["autoencoder, thesis protocol rho=100, one core"] == (
        pytest.approx(0.5 * 363 * 50 / 3600),
        "h",
    )


def test_write_status_on_a_synthetic_root(tmp_path: Path) -> None:
    grids = tmp_path / "book" / "grids"
    grids.mkdir(parents=True)
    spec = _spec(["BL", "DOS"], [0, 1])
    (grids / "paper.yaml").write_text(yaml.safe_dump(spec))
    configs = expand_grid(spec)
    store = tmp_path / "book" / "data" / "results" / "paper.parquet"
    store.parent.mkdir(parents=True)
    ResultsStore(store).append(_rows([c for c in configs if c.method == "BL"]).to_dict("records"))
    ResultsStore(store).compact()
    store.with_name("paper.provenance.json").write_text(json.dumps([_entry()]))
    bl = next(c for c in configs if c.method == "BL")
    meta = {"kind": "dos", "commit": "abcdef0123", "cpu": "Test CPU", "reproduces_row": True}
    save_figure(store, bl.key(), FigureData({"xy": np.zeros((2, 2))}, meta))
    out = status.write_status(tmp_path)
    assert out == tmp_path / status.GENERATED
    text = out.read_text()
    assert (
        "### Runs in `paper.parquet`" in text and "4 runs; swept from `book/grids/g.yaml`" in text
    )
    assert "| dos | 4 | 0 | 4 | DOS 4 | unknown (no stored run to time) |" in text
    assert "--only dos`" in text
    assert "No `book/grids/verdicts.yaml` here" in text
    assert "| — | g.yaml | abcdef0+dirty |" in text
    assert "## Benchmarks" in text
    assert "Figure data beside it (`paper.figures/`" in text  # the one file, with its run
    assert f"| BL | {bl.dataset} | minority | {bl.ratio:g} | {bl.seed} |" in text
    assert "| dos | abcdef0 | Test CPU | yes |" in text


def test_the_page_from_the_committed_tables(tmp_path: Path) -> None:
    committed = subprocess.run(
        ["git", "ls-files", "book/data/results/*.parquet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert committed
    out = status.main(["--root", str(ROOT), "--write", str(tmp_path / "status.md")])
    assert out == 0
    text = (tmp_path / "status.md").read_text()
    for name in committed:
        table = Path(name).name
        assert f"### Runs in `{table}`" in text and f"### Sweeps into `{table}`" in text
    for name in ("paper", "chapters", "tuning", "verdicts"):
        assert f"### Missing from `{name}.parquet`" in text
    assert "Against `book/grids/chapters.yaml` (the chapters' own runs)" in text
    assert "`imbnb sweep book/grids/paper.yaml --store book/data/results/paper.parquet" in text
    assert ".0 |" not in text  # integers print as integers
    include = (ROOT / "book" / "status.md").read_text()
    assert "```{include} _generated/status_tables.md" in include
    assert status.GENERATED == "book/_generated/status_tables.md"
