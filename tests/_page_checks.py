"""What a reader would see wrong on a book page, measured in the browser and judged here.

:data:`PAGE_JS` runs in a loaded page (after MathJax has typeset it) and reports the text
column, every table, display equation and image with its box and whether a horizontal scroll
box inside the column holds it, the page's text outside code and formulas, and MathJax's
errors. :func:`page_problems` turns that report into readable problems: a raw ``$...$`` (or
``\\(...\\)``) TeX string in the text, a table or equation wider than the column with no
scroll box, a page wider than the window, an equation MathJax did not typeset or failed on.
The judging functions are plain Python so that tests can feed them crafted reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["PAGE_JS", "overflow_problems", "page_problems", "raw_tex", "raw_tex_problems"]

# TeX a reader should never see as source: $...$ / $$...$$ (not "$5 and $6"), \(...\), \[...\]
_RAW_TEX = re.compile(
    r"\$\$.+?\$\$"
    r"|(?<![\\$])\$(?=[^\s$])[^$\n]*?(?<=[^\s$\\])\$(?!\d)"
    r"|\\\(.+?\\\)"
    r"|\\\[.+?\\\]"
    r"|\\begin\{[a-z*]+\}"
)

# one pixel of rounding either side of the column
_SLACK_PX = 1.0

PAGE_JS = r"""
() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main')
      || document.body;
  const r = article.getBoundingClientRect(), cs = getComputedStyle(article);
  const column = [r.left + parseFloat(cs.paddingLeft), r.right - parseFloat(cs.paddingRight)];
  const cells = Array.from(article.querySelectorAll('div.cell'));
  const label = (el) => {  // the code cell's number on the page and the section's title
    const at = cells.indexOf(el.closest('div.cell'));
    const head = (el.closest('section') || article).querySelector('h1, h2, h3');
    const title = head ? head.textContent.replace(/[#\u00b6]\s*$/, '').trim() : '';
    return (at >= 0 ? `code cell ${at + 1}, ` : '') + title;
  };
  const scrollBox = (el) => {  // the nearest ancestor below the article that scrolls sideways
    for (let e = el.parentElement; e && e !== article; e = e.parentElement) {
      const ox = getComputedStyle(e).overflowX;
      if (ox === 'auto' || ox === 'scroll') {
        const b = e.getBoundingClientRect();
        return [b.left, b.right];
      }
    }
    return null;
  };
  const boxes = [];
  const add = (kind, el) => {
    const b = el.getBoundingClientRect();
    if (b.width === 0 && b.height === 0) return;  // not displayed (a collapsed toggle)
    boxes.push({kind, where: label(el), left: b.left, right: b.right, scroll: scrollBox(el),
                text: (el.textContent || el.getAttribute('src') || '').trim().slice(0, 60)});
  };
  article.querySelectorAll('table').forEach(el => add('table', el));
  article.querySelectorAll('mjx-container[display="true"] > mjx-math')
      .forEach(el => add('equation', el));
  article.querySelectorAll('img').forEach(el => add('image', el));
  const skip = 'pre, code, script, style, textarea, mjx-container, .cell_input, .highlight';
  const texts = [];
  article.querySelectorAll('p, li, td, th, dt, dd, h1, h2, h3, h4, h5, h6, caption, figcaption')
      .forEach(el => {
        if (el.closest(skip)) return;
        const copy = el.cloneNode(true);
        copy.querySelectorAll(skip).forEach(x => x.remove());
        const t = copy.textContent.replace(/\s+/g, ' ').trim();
        if (t) texts.push(t);
      });
  const untypeset = Array.from(article.querySelectorAll('.math'))
      .filter(el => !el.querySelector('mjx-container'))
      .map(el => el.textContent.trim().slice(0, 80));
  // a TeX error (mjx-merror), or an undefined macro, which MathJax shows as red source text
  const errors = Array.from(document.querySelectorAll('mjx-merror'))
      .map(el => (el.getAttribute('data-mjx-error') || el.textContent).trim().slice(0, 80))
      .concat(Array.from(document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]'))
          .map(el => 'undefined ' + el.textContent.trim().slice(0, 70)));
  return {column, viewport: window.innerWidth, pageWidth: document.documentElement.scrollWidth,
          boxes, texts, untypeset, errors};
}
"""


def raw_tex(text: str) -> list[str]:
    """Every raw TeX string (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) in ``text``."""
    return [m.group(0) for m in _RAW_TEX.finditer(text)]


def raw_tex_problems(texts: Iterable[str], page: str = "") -> list[str]:
    """One problem per distinct raw TeX string found in the page's text (outside code)."""
    found = dict.fromkeys(hit for text in texts for hit in raw_tex(text))
    return [f"{page}: raw TeX in the text: {hit[:80]!r}" for hit in found]


def overflow_problems(report: Mapping[str, Any], page: str = "") -> list[str]:
    """Tables, equations and images reaching past the text column outside a scroll box.

    A box wider than the column is fine inside an ancestor that scrolls sideways and itself
    stays within the column; a page wider than the window is always a problem.
    """
    left, right = report["column"]
    problems = []
    if report["pageWidth"] > report["viewport"] + _SLACK_PX:
        problems.append(
            f"{page}: the page is {report['pageWidth']:.0f} px wide in a "
            f"{report['viewport']:.0f} px window"
        )
    for box in report["boxes"]:
        if box["left"] >= left - _SLACK_PX and box["right"] <= right + _SLACK_PX:
            continue
        scroll = box.get("scroll")
        if scroll and scroll[0] >= left - _SLACK_PX and scroll[1] <= right + _SLACK_PX:
            continue
        problems.append(
            f"{page}: {box['kind']} {box['where']!r} is {box['right'] - box['left']:.0f} px wide "
            f"in a {right - left:.0f} px column without a scroll box ({box['text']!r})"
        )
    return problems


def page_problems(report: Mapping[str, Any], page: str = "") -> list[str]:
    """Everything wrong in one page's :data:`PAGE_JS` report."""
    problems = raw_tex_problems(report["texts"], page) + overflow_problems(report, page)
    problems += [f"{page}: formula not typeset: {t!r}" for t in report["untypeset"]]
    problems += [f"{page}: MathJax error: {e!r}" for e in report["errors"]]
    return problems
