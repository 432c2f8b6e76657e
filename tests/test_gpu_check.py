"""The prepared device run: its dry run exercises every step on the CPU (issue 28)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from imbnb import paths

SCRIPT = paths.repo_root() / "benchmarks" / "gpu_check.py"


def test_gpu_check_dry_run_passes_every_step_on_the_cpu(tmp_path) -> None:
    out = tmp_path / "report.json"
    env = {**os.environ, "IMBNB_CACHE": str(tmp_path / "cache")}
    args = ["--dry-run", "--no-tests", "--workers-list", "1,2", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["ok"] and report["dry_run"] and report["environment"]["device"] == "cpu"
    families = {r["family"] for r in report["families"]}
    assert families == {"feature_space", "losses", "dos", "gamo", "generative"}
    assert all(r["device"] == "cpu" for r in report["families"])
    assert report["determinism"] == {"ae_weights_identical": True, "run_metrics_identical": True}
    assert [r["workers"] for r in report["throughput"]] == [1, 2]
    rec = report["recommendation"]
    assert rec["workers"] in (1, 2) and rec["gpus_per_run"] == round(1 / rec["workers"], 4)
    assert f"--workers {rec['workers']}" in rec["command"] and "recommendation:" in proc.stdout


def test_recommend_picks_the_highest_throughput() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from gpu_check import recommend
    finally:
        sys.path.pop(0)
    rows = [
        {"workers": 1, "epochs_per_hour": 60.0},
        {"workers": 8, "epochs_per_hour": 300.0},
        {"workers": 16, "epochs_per_hour": 280.0},
    ]
    rec = recommend(rows)
    assert rec["workers"] == 8 and rec["gpus_per_run"] == 0.125
    assert rec["paper_block_hours"] == round(54 * 50 / 300.0, 2)


def test_cache_keys_name_the_device_only_off_the_cpu(tmp_path, monkeypatch) -> None:
    import imbnb.cache as cache_mod
    from imbnb.cache import Cache, config_hash

    c = Cache(tmp_path)
    cpu_key = c.key("extractor", {"a": 1})
    assert cpu_key == config_hash({"a": 1})  # the CPU's keys (and caches) are unchanged
    monkeypatch.setattr(cache_mod, "_compute_device", lambda: "cuda")
    assert c.key("extractor", {"a": 1}) != cpu_key  # a CPU-trained network is not served
    c.save_json("extractor", {"a": 1}, {"trained": "cuda"})
    monkeypatch.undo()
    assert not c.has("extractor", {"a": 1})
