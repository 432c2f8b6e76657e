"""Every chapter executes under the smoke profile and the book builds strictly (-W)."""

from __future__ import annotations

import re

import nbformat
import pytest
from _smoke_book import smoke_book

from imbnb import versions
from imbnb.book import discover_chapters

pytestmark = pytest.mark.slow

CHAPTERS = [c.stem for c in discover_chapters()]


def test_every_chapter_executes_under_smoke() -> None:
    book = smoke_book()
    failures = [r.error for r in book.results if not r.ok]
    assert not failures, "\n".join(failures)
    assert sorted(r.chapter.stem for r in book.results) == sorted(CHAPTERS)
    for res in book.results:
        assert res.output.exists()
        assert res.parameters["profile"] == "smoke"


def test_book_builds_strictly_with_every_chapter() -> None:
    book = smoke_book()
    assert book.build_error is None, book.build_error
    assert book.index is not None and book.index.exists()
    for stem in [*CHAPTERS, "provenance"]:
        assert (book.html / "book" / "chapters" / f"{stem}.html").exists(), stem


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_page_has_banner_figures_glue_and_exercises(stem: str) -> None:
    book = smoke_book()
    assert book.build_error is None, book.build_error
    html = (book.html / "book" / "chapters" / f"{stem}.html").read_text("utf-8")
    assert "Profile</strong>" in html and "smoke" in html  # the banner
    assert len(re.findall(r"<img [^>]*src=\"[^\"]*_images/", html)) >= 1  # figures rendered
    assert "{glue" not in html  # every glued number resolved
    assert re.search(r"<h2>Exercises", html) or "Exercises<a" in html
    assert "IProgress not found" not in html  # no tqdm widget warning on the page


@pytest.mark.parametrize("stem", CHAPTERS)
def test_injected_parameters_cell_is_hidden(stem: str) -> None:
    book = smoke_book()
    nb = nbformat.read(book.root / "book" / "chapters" / f"{stem}.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "remove-cell" in injected[0].metadata["tags"]
    assert nb.metadata["imbnb"]["profile"] == "smoke"
    html = (book.html / "book" / "chapters" / f"{stem}.html").read_text("utf-8")
    # the injected cell sets profile = "smoke"; only the parameters cell (quick) is shown
    assert "Injected parameters" not in html
    assert "&quot;smoke&quot;" not in html and '"smoke"' not in html


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_tables_are_shown_whole(stem: str) -> None:
    """No displayed table is elided ("..." rows or columns): a static page cannot expand it."""
    book = smoke_book()
    nb = nbformat.read(book.root / "book" / "chapters" / f"{stem}.ipynb", as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html, text = data.get("text/html", ""), data.get("text/plain", "")
            assert "<td>...</td>" not in html and "<th>...</th>" not in html, f"cell {i}"
            assert not re.search(r"\[\d+ rows x \d+ columns\]", text), f"cell {i}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_page_shows_no_progress_bars(stem: str) -> None:
    """tqdm's bars go to stderr while a chapter runs; on the page they would be noise, so the
    cells that draw them are tagged remove-stderr."""
    book = smoke_book()
    assert book.build_error is None, book.build_error
    html = (book.html / "book" / "chapters" / f"{stem}.html").read_text("utf-8")
    bar = re.search(r"\d+/\d+ \[\d\d:\d\d", html)  # tqdm's "3/9 [00:01<..."
    assert bar is None, html[max(bar.start() - 200, 0) : bar.end()] if bar else ""


def test_provenance_page_lists_chapters_and_times() -> None:
    book = smoke_book()
    text = (book.root / "book" / "chapters" / "provenance.md").read_text("utf-8")
    for stem in CHAPTERS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {stem} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "smoke"
        assert float(cells[3]) > 0  # papermill's duration
    assert "| torch |" in text and "| imbnb |" in text
    cpu = versions.cpu_description()  # the CPU type the numbers depend on
    assert f"CPUs ({cpu})" in text and f"cpu ({cpu}, " in text


@pytest.mark.parametrize("stem", CHAPTERS)
def test_banner_shows_the_papermill_command_that_reruns_the_chapter(stem: str) -> None:
    import shlex

    import yaml

    from imbnb.book import chapter_defaults

    book = smoke_book()
    nb = nbformat.read(book.root / "book" / "chapters" / f"{stem}.ipynb", as_version=4)
    texts = [
        o.get("data", {}).get("text/markdown", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ]
    command = re.search(r"Re-run it: `([^`]+)`", next(t for t in texts if "Re-run it" in t))
    argv = shlex.split(command.group(1))
    assert argv[:3] == ["papermill", f"notebooks/{stem}.ipynb", f"{stem}.ipynb"]
    passed = yaml.safe_load(argv[4]) if len(argv) > 3 else {}
    ran, defaults = nb.metadata["papermill"]["parameters"], chapter_defaults(stem)
    assert argv[3:4] in ([], ["-y"])
    assert passed == {k: v for k, v in ran.items() if k not in defaults or defaults[k] != v}


def test_every_page_loads_each_script_once_and_has_no_empty_index() -> None:
    book = smoke_book()
    assert book.build_error is None, book.build_error
    for page in book.html.rglob("*.html"):
        html = page.read_text("utf-8")
        assert html.count("const THEBE_JS_URL") <= 1, page  # it threw when declared twice
        assert 'href="genindex.html"' not in html and "/genindex.html" not in html, page
    assert not (book.html / "genindex.html").exists()


def test_references_link_each_published_paper() -> None:
    book = smoke_book()
    assert book.build_error is None, book.build_error
    html = (book.html / "book" / "references.html").read_text("utf-8")
    links = set(re.findall(r'href="(https://(?:arxiv\.org/abs|doi\.org)/[^"]+)"', html))
    assert len(links) >= 12, sorted(links)  # every entry but the two M.Tech. dissertations
