"""The browser test's page checks (_page_checks.py) fail on crafted bad pages and pass good ones.

The judging functions are tested on hand-made reports; the in-page measurement (PAGE_JS) and
the book's CSS (book/_static/imbnb.css) on crafted HTML pages in headless Chromium, when it is
installed (skipped otherwise, like test_browser.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _page_checks import PAGE_JS, overflow_problems, page_problems, raw_tex, raw_tex_problems

from imbnb import paths

CHROMIUM = Path("/usr/bin/chromium")
CSS = paths.repo_root() / "book" / "_static" / "imbnb.css"


def _report(**changes: object) -> dict:
    """A clean page report (a 688 px column at 288 px in a 1280 px window), with changes."""
    report = {
        "column": [288.0, 976.0],
        "viewport": 1280,
        "pageWidth": 1280,
        "boxes": [],
        "texts": ["The ratio \u03c1 is 10.", "Costs $5 and $6 each."],
        "untypeset": [],
        "errors": [],
    }
    report.update(changes)
    return report


def _box(right: float, scroll: list[float] | None, text: str = "") -> dict:
    """A table's box reaching from the column's left edge to ``right``."""
    where = "code cell 1, Results"
    return {
        "kind": "table",
        "where": where,
        "left": 288.0,
        "right": right,
        "scroll": scroll,
        "text": text,
    }


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("the loss $\\ell_f$ of eq. 8", ["$\\ell_f$"]),
        ("$x$ and $$y = 1$$", ["$x$", "$$y = 1$$"]),
        ("weights \\(w_c\\) and \\[a+b\\]", ["\\(w_c\\)", "\\[a+b\\]"]),
        ("\\begin{align} x", ["\\begin{align}"]),
        ("it costs $5 and $6, or $ 7 $", []),  # money, not TeX
        ("plain text, 12.0 and 100", []),
    ],
)
def test_raw_tex_finds_tex_and_spares_money(text: str, found: list[str]) -> None:
    assert raw_tex(text) == found


def test_raw_tex_problems_name_the_page_once_per_string() -> None:
    problems = raw_tex_problems(["a $x$ b", "again $x$", "fine"], "book/chapters/04_dos.html")
    assert problems == ["book/chapters/04_dos.html: raw TeX in the text: '$x$'"]


def test_overflow_needs_a_scroll_box_inside_the_column() -> None:
    assert overflow_problems(_report(boxes=[_box(900.0, None)])) == []
    assert overflow_problems(_report(boxes=[_box(2300.0, [288.0, 976.0])])) == []
    [problem] = overflow_problems(_report(boxes=[_box(2300.0, None, "ADOS")]), "p")
    assert "table 'code cell 1, Results' is 2012 px wide in a 688 px column" in problem
    # a scroll box that is itself wider than the column does not help
    assert overflow_problems(_report(boxes=[_box(2300.0, [288.0, 2300.0])]))
    assert overflow_problems(_report(pageWidth=2400)) == [
        ": the page is 2400 px wide in a 1280 px window"
    ]


def test_page_problems_report_untypeset_formulas_and_mathjax_errors() -> None:
    assert page_problems(_report()) == []
    problems = page_problems(
        _report(untypeset=["\\(x\\)"], errors=["Undefined control sequence \\foo"]), "p"
    )
    assert problems == [
        "p: formula not typeset: '\\\\(x\\\\)'",
        "p: MathJax error: 'Undefined control sequence \\\\foo'",
    ]


# --- the in-page measurement, on crafted pages --------------------------------------------

_WIDE_TABLE = (
    "<table class='dataframe'><thead><tr><th></th>"
    + "".join(f"<th>method {i}</th>" for i in range(40))
    + "</tr></thead><tbody><tr><th>ADOS</th>"
    + "".join("<td>0.123456</td>" for _ in range(40))
    + "</tr></tbody></table>"
)


def _page(body: str, css: str = "") -> str:
    """A page with the theme's article box (688 px of text) holding ``body``."""
    return (
        "<html><head><style>body{margin:0} article.bd-article{width:688px;padding:0 32px;"
        f"margin-left:256px}}</style><style>{css}</style></head><body>"
        f"<article class='bd-article'><section><h1>Results</h1>{body}</section></article>"
        "</body></html>"
    )


def _cell(output: str) -> str:
    """A notebook cell's output as myst-nb writes it."""
    return (
        "<div class='cell docutils container' id='cell-7'><div class='cell_output docutils "
        f"container'><div class='output text_html'>{output}</div></div></div>"
    )


@pytest.fixture(scope="module")
def browser_page():
    """One headless Chromium page for the crafted pages."""
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def _problems(page, html: str) -> list[str]:
    page.set_content(html)
    return page_problems(page.evaluate(PAGE_JS), "crafted")


@pytest.mark.browser
def test_crafted_bad_page_fails_every_check(browser_page) -> None:
    bad = _page(
        "<p>The loss $\\ell_f$ is raw.</p>"
        f"<div>{_WIDE_TABLE}</div>"
        "<div class='math'>\\(x\\)</div>"
        "<mjx-container display='true'><mjx-math style='display:inline-block;width:1500px'>"
        "x</mjx-math></mjx-container>"
        "<mjx-merror data-mjx-error='Missing close brace'></mjx-merror>"
        "<mjx-container><mjx-assistive-mml><math><mtext mathcolor='red'>\\foo</mtext></math>"
        "</mjx-assistive-mml></mjx-container>"
    )
    problems = "\n".join(_problems(browser_page, bad))
    assert "raw TeX in the text: '$\\\\ell_f$'" in problems
    assert "table 'Results' is" in problems
    assert "equation 'Results'" in problems
    assert "formula not typeset" in problems
    assert "MathJax error: 'Missing close brace'" in problems
    assert "MathJax error: 'undefined \\\\foo'" in problems  # shown in red by MathJax
    assert "the page is" in problems  # nothing holds the wide table: the page widens


@pytest.mark.browser
def test_crafted_good_page_passes(browser_page) -> None:
    good = _page(
        "<p>The loss <code>$x$</code> in code, costs $5 and $6.</p>"
        "<div class='highlight'><pre>glue('x', 1)  # $\\rho$</pre></div>"
        f"<div style='overflow-x:auto'>{_WIDE_TABLE}</div>"
        "<mjx-container display='true' style='display:block;overflow-x:auto'>"
        "<mjx-math style='display:inline-block;width:1500px'>x</mjx-math></mjx-container>"
    )
    assert _problems(browser_page, good) == []


@pytest.mark.browser
def test_book_css_puts_a_wide_dataframe_in_a_scroll_box(browser_page) -> None:
    """Without the book's CSS the crafted output widens the page; with it, it scrolls."""
    body = _cell(_WIDE_TABLE)
    assert any("table 'code cell 1, Results'" in p for p in _problems(browser_page, _page(body)))
    assert _problems(browser_page, _page(body, CSS.read_text("utf-8"))) == []
    # and its row label stays in view when the box scrolls
    browser_page.evaluate("() => { document.querySelector('.output').scrollLeft = 3000; }")
    left = browser_page.evaluate(
        "() => document.querySelector('tbody th').getBoundingClientRect().left"
    )
    assert 288 <= left <= 290
