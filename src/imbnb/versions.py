"""Installed versions and the CPU behind a result (book: "Provenance"; chapter 8's table).

Both provenance records use it: the book's page (:mod:`imbnb.book.chapter_banner`) and a sweep's
entry beside its results table (:mod:`imbnb.experiments.provenance`). The CPU is part of a
result's identity: torch, MKL and oneDNN pick their kernels by instruction set, so the same
seed gives the same numbers on one CPU type and, after training amplifies the last bits,
other numbers on another.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from imbnb import __version__

__all__ = ["cpu_description", "library_versions"]


def library_versions(names: Sequence[str]) -> dict[str, str]:
    """Python's and imbnb's versions, then each of ``names`` ("not installed" when absent)."""
    versions = {"python": platform.python_version(), "imbnb": __version__}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path(cpuinfo).read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_description() -> str:
    """CPU model and the instruction set torch's kernels use, e.g. ``AMD EPYC with AVX2``."""
    import torch

    return f"{cpu_model()} with {torch.backends.cpu.get_cpu_capability()}"
