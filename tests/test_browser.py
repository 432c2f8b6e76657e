"""Load every page of the smoke-built book (or the build ``$IMBNB_BROWSER_HTML`` names, e.g. the
paper build of `make book`) in headless Chromium: images load, no local failures,
no raw TeX in the text, no table or equation wider than the column outside a scroll box, no
formula left untypeset or failed (see _page_checks.py, whose checks test_page_checks.py proves
on crafted pages).

Uses Debian's /usr/bin/chromium through Playwright's Python package (nothing downloads a
browser). Screenshots of every chapter go to test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _page_checks import PAGE_JS, page_problems
from _smoke_book import ARTIFACTS, smoke_book

from imbnb.book import discover_chapters

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "headless Chromium not installed at /usr/bin/chromium "
        "(apt-get install chromium; `make test` installs it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Console messages that are the theme's own noise, not a defect of the book:
IGNORED_CONSOLE = [
    # pydata-sphinx-theme logs this when no light/dark mode is stored in localStorage yet
    re.compile(r"Got invalid theme mode"),
    # pydata-sphinx-theme's version switcher is not configured; it logs that it is disabled
    re.compile(r"version switcher", re.IGNORECASE),
    # (sphinx-thebe's doubled config script, which threw, is dropped by imbnb.book.sphinx_ext:
    # that error is no longer ignored)
]

SCREENSHOTS = ARTIFACTS / "screenshots"
_REDIRECT = re.compile(r'http-equiv="refresh"', re.IGNORECASE)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Stay silent."""


#: A built book to check instead of the smoke build, e.g. ``_build/html`` after `make book`
#: (the paper build): ``IMBNB_BROWSER_HTML=_build/html pytest tests/test_browser.py``.
HTML_ENV = "IMBNB_BROWSER_HTML"


def _html() -> Path:
    """The folder of the book to open: ``$IMBNB_BROWSER_HTML``, else the smoke build."""
    if os.environ.get(HTML_ENV):
        html = Path(os.environ[HTML_ENV]).resolve()
        if not (html / "index.html").is_file():
            pytest.fail(f"{HTML_ENV}={html} holds no index.html: build the book first")
        return html
    book = smoke_book()
    if book.index is None:
        pytest.fail(f"the smoke book did not build:\n{book.build_error}")
    return book.html


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, Path]]:
    """Serve the book's _build/html (:func:`_html`) on 127.0.0.1 (a free port) in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(_html()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Path(handler.keywords["directory"])
    finally:
        server.shutdown()
        server.server_close()


def _pages(html: Path) -> list[str]:
    """Every page of the book (not the theme's template fragments under _static)."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not p.relative_to(html).as_posix().startswith(("_static/", "_sources/"))
    )


_IMAGES_JS = """
async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  return imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth}));
}
"""


# MathJax (served from the book's own _static/) typesets every formula: the count of rendered
# formulas once its startup promise resolves (-1: MathJax never loaded)
_MATH_JS = """
async () => {
  if (!window.MathJax || !window.MathJax.startup || !window.MathJax.startup.promise) return -1;
  await window.MathJax.startup.promise;
  return document.querySelectorAll('mjx-container').length;
}
"""


def _watch(page, base: str, problems: list[str], current: dict[str, str]) -> None:
    """Refuse other origins and record the book's own failed requests and console errors."""
    origin = urlsplit(base).netloc

    def is_local(url: str) -> bool:
        return urlsplit(url).netloc == origin or url.startswith(("data:", "blob:"))

    # other origins (e.g. MathJax's CDN) cannot be reached offline: refuse them up front so
    # the test does not wait on them; the book's own files are checked below
    page.route(
        "**/*", lambda route: route.continue_() if is_local(route.request.url) else route.abort()
    )
    page.on(
        "requestfailed",
        lambda req: (
            is_local(req.url)
            and problems.append(f"{current['page']}: request failed {req.url} ({req.failure})")
        ),
    )
    page.on(
        "response",
        lambda res: (
            is_local(res.url)
            and res.status >= 400
            and problems.append(f"{current['page']}: HTTP {res.status} {res.url}")
        ),
    )

    def on_console(msg) -> None:
        if msg.type != "error" or any(p.search(msg.text) for p in IGNORED_CONSOLE):
            return
        # an aborted request to another origin (see route above) is not the book's
        if not is_local(msg.location.get("url", "") or base):
            return
        if "Failed to load resource" in msg.text and "ERR_FAILED" in msg.text:
            return  # our own abort() of an external request, reported as its error
        problems.append(f"{current['page']}: console error {msg.text}")

    def on_page_error(err) -> None:
        if not any(p.search(str(err.message)) for p in IGNORED_CONSOLE):
            problems.append(f"{current['page']}: uncaught {err}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)


def _open(page, base: str, html: Path, rel: str) -> None:
    """Load one page (following index.html's redirect) and wait until nothing loads."""
    if _REDIRECT.search((html / rel).read_text("utf-8")):
        # index.html is Jupyter Book's redirect to the root page: follow it
        with page.expect_navigation(url=re.compile(r".*/book/intro\.html$")):
            page.goto(f"{base}/{rel}", wait_until="commit")
        page.wait_for_load_state("load")
    else:
        response = page.goto(f"{base}/{rel}", wait_until="load")
        assert response is not None and response.ok, rel
    # let lazily loaded files (MathJax's fonts) finish before the next goto, which would
    # abort them and report the book's own file as failed
    page.wait_for_load_state("networkidle")


def _check_page(page, html: Path, rel: str) -> list[str]:
    """A loaded page's problems: images, formulas, raw TeX, over-wide boxes; screenshot it."""
    problems = []
    images = page.evaluate(_IMAGES_JS)
    if re.match(r"book/chapters/\d\d_", rel) and not images:
        problems.append(f"{rel}: a chapter page without figures")
    problems += [f"{rel}: image did not load: {i['src']}" for i in images if i["width"] <= 0]
    typeset = page.evaluate(_MATH_JS)  # also waits for MathJax to finish
    if 'class="math' in (html / rel).read_text("utf-8") and typeset <= 0:
        problems.append(f"{rel}: formulas not typeset offline ({typeset})")
    # raw $...$, over-wide tables/equations without a scroll box, MathJax errors
    problems += page_problems(page.evaluate(PAGE_JS), rel)
    if rel.startswith("book/chapters/") or rel == "index.html":
        page.screenshot(path=str(SCREENSHOTS / f"{Path(rel).stem}.png"), full_page=True)
    return problems


def test_every_page_loads_with_its_images(site: tuple[str, Path]) -> None:
    base, html = site
    pages = _pages(html)
    assert "index.html" in pages and any(p.startswith("book/chapters/") for p in pages)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            current: dict[str, str] = {"page": ""}
            _watch(page, base, problems, current)
            for rel in pages:
                current["page"] = rel
                _open(page, base, html, rel)
                problems += _check_page(page, html, rel)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    math_pages = [p for p in pages if 'class="math' in (html / p).read_text("utf-8")]
    assert any(p.startswith("book/chapters/07_") for p in math_pages), math_pages
    for stem in [chapter.stem for chapter in discover_chapters()]:
        assert (SCREENSHOTS / f"{stem}.png").stat().st_size > 10_000
