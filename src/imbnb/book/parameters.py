"""Chapter parameters: parse command-line values and check them against the parameters cell.

A chapter's ``parameters`` cell is the one source of its knobs and their types: a value that
overrides a default must have the default's type (an integer where the cell holds ``3``, a
list where it holds ``[0]``), and may be ``None`` only where the default is ``None`` or the
parameter's comment says what ``None`` means. Checked by ``imbnb book run`` before any chapter
starts, for profiles and ``-p`` values alike.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["ParameterTypeError", "check_parameters", "check_value", "expected_type", "parse_value"]


_NONE_MEANS = re.compile(r"\(None\b|\bor None\b")


class ParameterTypeError(ValueError):
    """A parameter's value has another type than its chapter's parameters cell declares."""


def parse_value(name: str, text: str) -> Any:
    """A ``-p NAME VALUE`` value read as YAML: ``20`` -> 20, ``[1, 10]`` -> list, ``null``.

    Text that is not valid YAML (``[10,``) is refused, naming the parameter; quote a string
    that YAML would misread.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(
            f"-p {name}: {text!r} is not a valid value ({problem}); write lists as "
            "'[1, 10]', None as null, and quote text that contains ':' or brackets"
        ) from err


def _allows_none(default: Any, help_text: str) -> bool:
    """``None`` is a value of its own where the comment says what it means: ``(None: all)``."""
    return default is None or bool(_NONE_MEANS.search(help_text))


def expected_type(default: Any, help_text: str = "") -> str:
    """What a parameter with this default accepts, in words (for error messages)."""
    if default is None:
        return "any value"
    if isinstance(default, bool):
        kind = "true or false"
    elif isinstance(default, int):
        kind = "an integer"
    elif isinstance(default, float):
        kind = "a number"
    elif isinstance(default, str):
        kind = "text"
    elif isinstance(default, list | tuple):
        kind = "a list, e.g. [1, 2]"
    elif isinstance(default, dict):
        kind = "a mapping, e.g. {a: 1}"
    else:
        kind = type(default).__name__
    return kind + (" or null" if _allows_none(default, help_text) else "")


def _fits(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, list | tuple):
        return isinstance(value, list | tuple)
    return isinstance(value, type(default))


def check_value(name: str, value: Any, default: Any, help_text: str = "", where: str = "") -> None:
    """Refuse ``value`` for parameter ``name`` unless it has the type of ``default``."""
    if default is None or (value is None and _allows_none(default, help_text)):
        return
    if value is not None and _fits(value, default):
        return
    raise ParameterTypeError(
        f"{where}parameter {name!r} must be {expected_type(default, help_text)} (its default is "
        f"{default!r}); got {value!r} ({type(value).__name__})"
    )


def check_parameters(
    values: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]], chapter: str = ""
) -> None:
    """Check every value against papermill's view of the parameters cell (``declared``).

    Names the cell does not declare are not checked here (the runner refuses them).
    """
    where = f"chapter {chapter}: " if chapter else ""
    for name, value in values.items():
        if name not in declared:
            continue
        info = declared[name]
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):  # an expression, not a literal: nothing to check
            continue
        check_value(name, value, default, info.get("help") or "", where)


class InjectedParameterError(ValueError):
    """A value passed to a chapter (plain papermill's ``-p``/``-y``) it cannot take."""


def _injected_names(history: list[str]) -> list[str]:
    """Names papermill injected: assignments of its last ``# Parameters`` cell in ``In``."""
    for source in reversed(history):
        if source.lstrip().startswith("# Parameters\n"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            return [
                t.id
                for node in tree.body
                if isinstance(node, ast.Assign)
                for t in node.targets
                if isinstance(t, ast.Name)
            ]
    return []


def chapter_parameters(
    chapter: str, namespace: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chapter's parameter values and defaults, checked; for its banner cell.

    Run by the cell after the parameters cell, so plain ``papermill`` gets the checks
    ``imbnb book run`` makes before it starts: a name papermill injected that the chapter does
    not declare (papermill itself only warns), or a value of another type than its default
    (``-p seeds 3`` where a list is meant), stops the chapter here with one line naming it.
    """
    from imbnb.book.runner import chapter_defaults, chapter_notebook, notebook_parameters

    declared = notebook_parameters(chapter_notebook(chapter))
    unknown = [n for n in _injected_names(list(namespace.get("In", []))) if n not in declared]
    if unknown:
        raise InjectedParameterError(
            f"chapter {chapter} has no parameter {', '.join(map(repr, unknown))}; its parameters "
            f"are: {', '.join(declared)}"
        )
    values = {name: namespace[name] for name in declared if name in namespace}
    try:
        check_parameters(values, declared, chapter)
    except ParameterTypeError as err:
        raise InjectedParameterError(
            f"{err}. With papermill, pass lists and null as YAML: -y 'NAME: [1, 2]'"
        ) from None
    return values, chapter_defaults(chapter)
