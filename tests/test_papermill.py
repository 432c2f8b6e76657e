"""Plain papermill does what the pages say: each command shown runs, its overrides take effect,
an unknown name or a mistyped value stops the chapter at its first cell with one line."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from imbnb import paths
from imbnb.book import discover_chapters, resolve_parameters

pytestmark = pytest.mark.slow

PAGES = [paths.repo_root() / "README.md", paths.book_dir() / "rerun.md"]
PAPERMILL = Path(sys.executable).with_name("papermill")


def page_commands() -> list[tuple[str, list[str]]]:
    """Every ``.venv/bin/papermill ...`` line of the README and the re-run page."""
    found = []
    for page in PAGES:
        for line in page.read_text("utf-8").splitlines():
            if line.lstrip().startswith(".venv/bin/papermill "):
                found.append((page.name, shlex.split(line, comments=True)))
    return found


def overrides(args: list[str]) -> dict:
    """What papermill makes of ``-p`` (numbers and booleans; else text) and ``-y`` (YAML)."""
    values, i = {}, 0
    while i < len(args):
        if args[i] == "-p":
            text = args[i + 2]
            value = yaml.safe_load(text)
            values[args[i + 1]] = value if isinstance(value, int | float | bool) else text
            i += 3
        elif args[i] == "-y":
            values.update(yaml.safe_load(args[i + 1]))
            i += 2
        else:
            i += 1
    return values


def papermill(source: Path, out: Path, args: list[str], cache: Path):
    env = {**os.environ, "IMBNB_CACHE": str(cache), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [str(PAPERMILL), str(source), str(out), *args, "--cwd", str(source.parent)],
        capture_output=True,
        text=True,
        env=env,
        cwd=paths.repo_root(),
        timeout=900,
    )


def smoke(stem: str, skip: set[str]) -> list[str]:
    """The smoke profile's values for the chapter, as one ``-y``, minus the command's own."""
    chapter = next(c for c in discover_chapters() if c.stem == stem)
    values = {k: v for k, v in resolve_parameters(chapter, "smoke").items() if k not in skip}
    return ["-y", yaml.safe_dump(values, default_flow_style=True)]


def banner(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    texts = [
        o.get("data", {}).get("text/markdown", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ]
    return next(t for t in texts if "**Profile**" in t)


def test_the_pages_show_papermill_commands() -> None:
    assert {page for page, _ in page_commands()} == {"README.md", "rerun.md"}


@pytest.mark.parametrize("page, argv", page_commands(), ids=lambda v: str(v)[:40])
def test_each_papermill_command_shown_takes_effect(page, argv, tmp_path) -> None:
    source = paths.repo_root() / argv[1]
    wanted = overrides(argv[3:])
    assert wanted, f"{page}: {' '.join(argv)} overrides nothing"
    out = tmp_path / "out.ipynb"
    run = papermill(source, out, [*argv[3:], *smoke(source.stem, set(wanted))], tmp_path / "c")
    assert run.returncode == 0, run.stderr[-3000:]
    text = banner(out)
    for name, value in wanted.items():
        shown = f"`{name}={value}`".replace("'", "") if name != "seeds" else None
        if name == "seeds":
            assert f"seed{'s' if len(value) > 1 else ''} {', '.join(map(str, value))}" in text
        else:
            assert shown in text, (name, text)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["-p", "seed", "3"],
            "chapter 01_motivation has no parameter 'seed'; its parameters are: ",
        ),
        (["-p", "seeds", "[3]"], "parameter 'seeds' must be a list, e.g. [1, 2]"),
        (["-p", "epochs", "three"], "parameter 'epochs' must be an integer (its default is 3)"),
        (["-y", "ratios: 20"], "parameter 'ratios' must be a list"),
        (["-y", "minority_classes: null"], None),  # its comment says what None means
    ],
)
def test_unknown_or_mistyped_values_stop_at_the_first_cell(args, message, tmp_path) -> None:
    source = paths.notebooks_dir() / "01_motivation.ipynb"
    out = tmp_path / "out.ipynb"
    if message is None:
        args = [*args, *smoke("01_motivation", {"minority_classes"})]
    run = papermill(source, out, args, tmp_path / "c")
    if message is None:
        assert run.returncode == 0, run.stderr[-2000:]
        return
    assert run.returncode != 0
    assert "InjectedParameterError" in run.stderr and message in run.stderr, run.stderr[-2000:]
    nb = nbformat.read(out, as_version=4)
    failed = [
        c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    ]
    assert len(failed) == 1 and "chapter_parameters(" in failed[0].source
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert len(ran) <= 3  # parameters, injected, the check: nothing computed


def test_injected_names_come_from_papermills_cell_only() -> None:
    from imbnb.book.parameters import _injected_names

    history = ["", "# Parameters: ours\nseeds = [0]\n", '# Parameters\nseeds = [3]\nfoo = "x"\n']
    assert _injected_names(history) == ["seeds", "foo"]
    assert _injected_names(history[:2]) == []  # opened in Jupyter: nothing injected
    assert re.search("ours", history[1])
