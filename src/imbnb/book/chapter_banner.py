"""The banner and the provenance page: the versions, device and run times behind each chapter.

Two outputs share the same facts: :func:`banner`, the one-line Markdown banner every chapter
shows under its title, and :func:`write_provenance_page`, the book page generated from the
papermill metadata of the executed chapters.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat
import yaml

from imbnb import __version__, versions

__all__ = [
    "LIBRARIES",
    "banner",
    "banner_text",
    "describe_device",
    "environment",
    "library_versions",
    "write_provenance_page",
]

# Distributions whose versions the provenance page lists (pip names).
LIBRARIES = (
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "scikit-learn",
    "imbalanced-learn",
    "faiss-cpu",
    "seaborn",
    "matplotlib",
    "papermill",
    "jupyter-book",
    "myst-nb",
)

PROVENANCE_STEM = "provenance"


def library_versions(names: Sequence[str] = LIBRARIES) -> dict[str, str]:
    """Installed versions of ``names`` ("not installed" when absent), plus Python and imbnb."""
    return versions.library_versions(names)


def describe_device() -> str:
    """The device chapters train on: ``cpu (AMD EPYC with AVX2, 2 threads)``, ``cuda (H100)``.

    A CPU's model and instruction set are named because kernels, and so the numbers, follow them.
    """
    import torch

    try:  # the package's own choice of device when imbnb.train is there
        from imbnb.train import get_device

        device = get_device()
    except ImportError:  # pragma: no cover - only while imbnb.train is absent
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({versions.cpu_description()}, {torch.get_num_threads()} threads)"


def environment() -> dict[str, Any]:
    """Everything the provenance page reports about the machine and its libraries."""
    return {
        "versions": library_versions(),
        "device": describe_device(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": versions.cpu_description(),
        "python_executable": sys.executable,
    }


def _format_value(value: Any) -> str:
    """A parameter value as it would be typed in Python (short, for the banner)."""
    return repr(value)


def _results_part(params: Mapping[str, Any]) -> str:
    """Where the chapter's results come from: the committed tables its ``*results_source``
    parameters name, or this execution."""
    tables = sorted(
        {str(v) for k, v in params.items() if k.endswith("results_source") and v != "compute"}
    )
    if not tables:
        return "results computed by this execution"
    return "results read from " + ", ".join(f"`{t}`" for t in tables)


def banner_text(
    profile: str,
    seeds: int | Sequence[int],
    params: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    device: str | None = None,
    chapter: str | None = None,
) -> str:
    """The banner as a Markdown string: profile, seeds, device, version, changed parameters,
    and where the results come from (computed, or read from committed tables).

    With ``chapter`` (its notebook's stem) a second line shows the plain papermill command that
    re-runs it with these parameters, and names its source notebook.
    """
    seed_list = [seeds] if isinstance(seeds, int) else list(seeds)
    seed_word = "seed" if len(seed_list) == 1 else "seeds"
    changed = [
        f"`{name}={_format_value(value)}`"
        for name, value in params.items()
        if name != "profile" and (name not in defaults or defaults[name] != value)
    ]
    parts = [
        f"**Profile** `{profile}`",
        f"{seed_word} {', '.join(str(s) for s in seed_list)}",
        f"device {device or describe_device()}",
        f"imbnb {__version__}",
        "parameters: " + (", ".join(changed) if changed else "the chapter's defaults"),
    ]
    parts.append(_results_part(params))
    text = "🛈 " + " · ".join(parts)
    if chapter is not None:
        text += f"  \nRe-run it: `{rerun_command(chapter, params, defaults)}`"
    return text


def rerun_command(chapter: str, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The plain papermill command that re-runs ``notebooks/<chapter>.ipynb`` with ``params``.

    Only values that differ from the parameters cell's defaults are passed, all as one YAML
    mapping (``-y``), which papermill reads with their types (lists, ``null``) intact.
    """

    changed = {k: v for k, v in params.items() if k not in defaults or defaults[k] != v}
    command = f"papermill notebooks/{chapter}.ipynb {chapter}.ipynb"
    if changed:
        flow = yaml.safe_dump(changed, default_flow_style=True, width=10**6).strip()
        command += f" -y {shlex.quote(flow)}"
    return command


def banner(
    profile: str,
    seeds: int | Sequence[int],
    params: Mapping[str, Any],
    defaults: Mapping[str, Any],
    chapter: str | None = None,
):
    """Display-ready Markdown banner (an ``IPython.display.Markdown``); see :func:`banner_text`."""
    from IPython.display import Markdown

    return Markdown(banner_text(profile, seeds, params, defaults, chapter=chapter))


def _chapter_rows(chapters: Sequence[Path]) -> list[dict[str, Any]]:
    """One row per executed chapter from its papermill and imbnb notebook metadata."""
    rows = []
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        pm = nb.metadata.get("papermill", {})
        info = nb.metadata.get("imbnb", {})
        params = pm.get("parameters", {}) or {}
        seeds = params.get("seeds", params.get("seed", ""))
        duration = pm.get("duration")
        rows.append(
            {
                "chapter": path.stem,
                "profile": info.get("profile", params.get("profile", "?")),
                "seeds": ", ".join(map(str, seeds)) if isinstance(seeds, list) else str(seeds),
                "seconds": f"{duration:.1f}" if isinstance(duration, int | float) else "?",
                "finished": str(pm.get("end_time") or "?")[:19].replace("T", " "),
                "device": info.get("device", "?"),
                "imbnb": info.get("versions", {}).get("imbnb", "?"),
                "parameters": params,
            }
        )
    return rows


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A small Markdown pipe table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_provenance_page(chapters_dir: str | Path) -> Path:
    """Write ``provenance.md`` next to the executed chapters from their papermill metadata."""
    chapters_dir = Path(chapters_dir)
    chapters_dir.mkdir(parents=True, exist_ok=True)
    chapters = sorted(p for p in chapters_dir.glob("[0-9][0-9]_*.ipynb"))
    rows = _chapter_rows(chapters)
    env = environment()
    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    out = [
        "# Provenance",
        "",
        "This page is generated by `imbnb book run` / `imbnb book build` from the metadata",
        "that papermill and the runner store in each executed chapter. It says which profile,",
        "seeds, device and library versions produced the numbers in the book.",
        "",
        "## Chapters",
        "",
    ]
    if rows:
        out.append(
            _md_table(
                ["Chapter", "Profile", "Seeds", "Seconds", "Finished", "Device", "imbnb"],
                [
                    [
                        r["chapter"],
                        r["profile"],
                        r["seeds"],
                        r["seconds"],
                        r["finished"],
                        r["device"],
                        r["imbnb"],
                    ]
                    for r in rows
                ],
            )
        )
        total = sum(float(r["seconds"]) for r in rows if r["seconds"] != "?")
        out += ["", f"Total execution time: {total:.1f} s.", ""]
        out += ["## Parameters passed to each chapter", ""]
        for r in rows:
            out += [f"**{r['chapter']}**", "", "```json", json.dumps(r["parameters"], indent=1)]
            out += ["```", ""]
    else:
        out += ["No executed chapters were found.", ""]
    out += [
        "## Environment at build time",
        "",
        f"Generated {now} on `{env['platform']}` with {env['cpus']} CPUs ({env['cpu']}); "
        f"device {env['device']}.",
        "",
        _md_table(["Library", "Version"], sorted(env["versions"].items())),
        "",
    ]
    path = chapters_dir / f"{PROVENANCE_STEM}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(out), encoding="utf-8")
    os.replace(tmp, path)
    return path
