"""The book's Sphinx extension keeps one copy of each page script."""

from __future__ import annotations

from sphinx.builders.html._assets import _JavaScript

from imbnb.book.sphinx_ext import unique_scripts


def test_repeated_scripts_are_dropped_in_order() -> None:
    body = 'const THEBE_JS_URL = "x"'
    scripts = [
        _JavaScript("a.js"),
        _JavaScript("", body=body),
        _JavaScript("b.js", **{"async": "async"}),
        _JavaScript("", body=body),
        _JavaScript("b.js", **{"async": "async"}),
        _JavaScript("", body="other"),
    ]
    out = unique_scripts(scripts)
    assert [(s.filename, s.attributes.get("body")) for s in out] == [
        ("a.js", None),
        ("", body),
        ("b.js", None),
        ("", "other"),
    ]
