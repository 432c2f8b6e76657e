"""One prepared device run: is the CUDA path correct, deterministic and how many trainings
should share the GPU? (README "Running on a GPU").

In one run, well under 10 minutes on a GPU:

1. the machine: torch, CUDA, GPU model, the determinism settings in force;
2. every family's CUDA path: one small run each (feature space, losses, DOS, GAMO,
   generative) through ``imbnb.experiments.run_config``; each must report the device and, on
   a GPU, have allocated GPU memory;
3. determinism: the same autoencoder trained twice with the same seed must give bit-identical
   weights, and one small run twice the same metrics;
4. the device-sensitive tests (training, GAMO, extractor, DOS, autoencoders) with pytest;
5. throughput: one epoch of the thesis-protocol autoencoder (width 64, batch 100) trained
   alone and by N workers at once, for N in ``--workers-list``; it prints the ``--workers``
   and ``--gpus-per-run`` to use for the paper sweep, and that sweep's projected hours.

``--dry-run`` runs the same code on the CPU at toy sizes, in seconds (the test suite does).
Prints a report and writes it as JSON to ``--out`` (default ``gpu_check.json``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imbnb.experiments import RunConfig, run_config
from imbnb.methods.deepsmote import AEConfig, train_autoencoder
from imbnb.train import cuda_determinism, get_device, gpu_name

#: one small run per family: (method, protocol, params)
FAMILY_RUNS: list[tuple[str, str, dict[str, Any]]] = [
    ("FS-SMOTE", "minority", {"epochs": 1, "head": {"epochs": 2}}),
    ("CNN-CE", "minority", {"epochs": 1}),
    ("DOS", "minority", {"init_epochs": 1, "rounds": 1, "k": 3}),
    ("GAMO", "counts", {"steps": 20}),
    (
        "DeepSMOTE",
        "counts",
        {"ae": {"width": 8, "latent_dim": 16, "epochs": 1}, "classifier": {"epochs": 1}},
    ),
]
DEVICE_TESTS = [
    "tests/test_train.py",
    "tests/test_gamo.py",
    "tests/test_extractor.py",
    "tests/test_dos.py",
    "tests/test_deepsmote.py",
]
PAPER_AUTOENCODERS, PAPER_EPOCHS = 54, 50  # the paper table's missing generative block


def environment() -> dict[str, Any]:
    """What ran where, and the settings that decide the numbers."""
    dev = get_device()
    return {
        "torch": torch.__version__,
        "device": str(dev),
        "gpu": gpu_name(),
        "cuda": torch.version.cuda,
        "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cpus": os.cpu_count(),
    }


def _base(protocol: str, dry: bool) -> dict[str, Any]:
    if protocol == "counts":
        return {"protocol": "counts", "count_scale": 0.02 if dry else 0.1, "n_test": 10}
    return {"protocol": "minority", "ratio": 10, "n_train": 500 if dry else 3000, "n_test": 10}


def family_paths(dry: bool) -> list[dict[str, Any]]:
    """One run of each family on the chosen device; GPU memory must have been used."""
    dev, out = get_device(), []
    for method, protocol, params in FAMILY_RUNS:
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        cfg = RunConfig(method, **_base(protocol, dry), params=params, profile="gpu-check")
        start = time.perf_counter()
        row = run_config(cfg)
        peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else 0
        ok = row["device"] == str(dev) and (dev.type != "cuda" or peak > 0)
        out.append(
            {
                "method": method,
                "family": row["family"],
                "device": row["device"],
                "gpu_peak_mib": round(peak / 2**20, 1),
                "seconds": round(time.perf_counter() - start, 2),
                "acsa": round(float(row["acsa"]), 4),
                "ok": bool(ok),
            }
        )
    return out


def _ae_data(dry: bool) -> tuple[np.ndarray, np.ndarray]:
    """Thesis-protocol sized images (about 36,000) or a toy set; real Fashion-MNIST."""
    from imbnb.data import load_dataset

    train = load_dataset("fashion_mnist", "train")
    n = 200 if dry else 36_000
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(train.labels), size=n, replace=False))
    return train.images[idx], train.labels[idx]


def _ae_config(dry: bool, seed: int = 0) -> AEConfig:
    return AEConfig(width=4 if dry else 64, epochs=1, batch_size=100, seed=seed)


def determinism(dry: bool) -> dict[str, Any]:
    """The same seed twice: bit-identical autoencoder weights and identical run metrics."""
    x, y = _ae_data(dry)
    a, b = (train_autoencoder(x, y, _ae_config(dry), use_cache=False, progress=False) for _ in "ab")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    weights_equal = all(torch.equal(sa[k], sb[k]) for k in sa)
    method, protocol, params = FAMILY_RUNS[0]
    rows, before = [], os.environ.get("IMBNB_CACHE")
    try:
        for _ in range(2):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["IMBNB_CACHE"] = cache  # a fresh cache: both runs train
                cfg = RunConfig(method, **_base(protocol, dry), params=params, profile="gpu-check")
                rows.append(run_config(cfg))
    finally:
        if before is None:
            os.environ.pop("IMBNB_CACHE", None)
        else:
            os.environ["IMBNB_CACHE"] = before
    metrics = [k for k in rows[0] if k.startswith(("acsa", "gmean", "recall_", "f1_"))]
    rows_equal = all(rows[0][k] == rows[1][k] for k in metrics)
    return {"ae_weights_identical": weights_equal, "run_metrics_identical": rows_equal}


def _epoch(args: tuple[bool, int, Any]) -> float:
    """Worker: train one autoencoder epoch; return its seconds (after the start barrier)."""
    dry, seed, barrier = args
    x, y = _ae_data(dry)
    cuda_determinism()
    barrier.wait()
    start = time.perf_counter()
    train_autoencoder(x, y, _ae_config(dry, seed), use_cache=False, progress=False)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def throughput(dry: bool, workers_list: list[int]) -> list[dict[str, Any]]:
    """Autoencoder epochs per hour with N trainings side by side on the device."""
    ctx = multiprocessing.get_context("spawn")
    out = []
    for n in workers_list:
        with ctx.Manager() as manager:
            barrier = manager.Barrier(n)
            start = time.perf_counter()
            with ctx.Pool(n) as pool:
                seconds = pool.map(_epoch, [(dry, s, barrier) for s in range(n)])
            wall = time.perf_counter() - start
        out.append(
            {
                "workers": n,
                "epoch_seconds_each": round(float(np.mean(seconds)), 2),
                "epochs_per_hour": round(3600 * n / max(seconds), 1),
                "wall_seconds": round(wall, 1),
            }
        )
    return out


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker count with the highest throughput, its GPU share, and the sweep's hours."""
    best = max(rows, key=lambda r: r["epochs_per_hour"])
    hours = PAPER_AUTOENCODERS * PAPER_EPOCHS / best["epochs_per_hour"]
    n = best["workers"]
    return {
        "workers": n,
        "gpus_per_run": round(1 / n, 4),
        "paper_block_hours": round(hours, 2),
        "command": (
            "python3 -m imbnb.cli sweep book/grids/paper.yaml --store gpu.parquet "
            "--skip-stored book/data/results/paper.parquet "
            f"--only generative --workers {n} --gpus-per-run {round(1 / n, 4)}"
        ),
    }


def device_tests(dry: bool) -> dict[str, Any]:
    """The device-sensitive tests (one quick one in a dry run: the suite runs the rest)."""
    targets = ["tests/test_train.py::test_devices_and_seeds"] if dry else DEVICE_TESTS
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *targets],
        capture_output=True,
        text=True,
    )
    tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    return {
        "passed": proc.returncode == 0,
        "summary": tail[0] if tail else proc.stderr[-500:],
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes, seconds")
    parser.add_argument("--workers-list", default=None, help="e.g. 1,4,8,16 (default)")
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest step")
    parser.add_argument("--out", default="gpu_check.json", help="JSON report")
    args = parser.parse_args(argv)
    if args.dry_run:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the same code, on the CPU
        torch.set_num_threads(1)
    elif not torch.cuda.is_available():
        print("no CUDA device: run with --dry-run on a CPU machine", file=sys.stderr)
        return 2
    default = "1,2" if args.dry_run else "1,4,8,16"
    workers = [int(w) for w in (args.workers_list or default).split(",")]
    os.environ.setdefault("IMBNB_CACHE", tempfile.mkdtemp(prefix="imbnb-gpu-check-"))
    report: dict[str, Any] = {"environment": environment(), "dry_run": args.dry_run}
    steps = [
        ("families", lambda: family_paths(args.dry_run)),
        ("determinism", lambda: determinism(args.dry_run)),
        ("tests", lambda: None if args.no_tests else device_tests(args.dry_run)),
        ("throughput", lambda: throughput(args.dry_run, workers)),
    ]
    for name, step in steps:
        start = time.perf_counter()
        report[name] = step()
        print(f"[{time.perf_counter() - start:7.1f} s] {name}: {json.dumps(report[name])}")
    report["recommendation"] = recommend(report["throughput"])
    ok = (
        all(r["ok"] for r in report["families"])
        and all(report["determinism"].values())
        and (report["tests"] is None or report["tests"]["passed"])
    )
    report["ok"] = ok
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"recommendation: {json.dumps(report['recommendation'])}")
    print(f"{'OK' if ok else 'FAILED'}; report in {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
