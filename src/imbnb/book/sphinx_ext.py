"""A small Sphinx extension for the book's build (``sphinx: extra_extensions`` in _config.yml).

sphinx-thebe adds its configuration script each time Sphinx reads the sources, and Jupyter
Book's build reads them twice when the bibliography is resolved, so every page declared
``const THEBE_JS_URL`` twice and the second declaration threw in the browser's console. This
drops repeated script entries from each page, keeping the first.
"""

from __future__ import annotations

from typing import Any

__all__ = ["setup"]


def _script_key(script: Any) -> tuple[str, str]:
    """What makes two script entries the same: the file and the inline body."""
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", script) or ""), str(attributes.get("body", ""))


def unique_scripts(scripts: list[Any]) -> list[Any]:
    """The script entries in order, each file or inline body once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            out.append(script)
    return out


def _dedupe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if "script_files" in context:
        context["script_files"] = unique_scripts(list(context["script_files"]))


def setup(app: Any) -> dict[str, Any]:
    """Register the page hook late, after every extension has added its scripts."""
    app.connect("html-page-context", _dedupe, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
