"""The book's layout rules: bookkeeping cells collapse in the executed copy, figures fit the page.

``imbnb.book.runner.is_bookkeeping`` decides which executed cells get ``hide-input``;
``imbnb.book.style`` sizes figures to the text column and measures their smallest text.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from imbnb.book import runner  # noqa: E402
from imbnb.book.style import (  # noqa: E402
    COLUMN_INCHES,
    COLUMN_PX,
    MIN_TEXT_PX,
    book_style,
    column_figsize,
    smallest_text_px,
)

GLUED = nbformat.v4.new_output(
    "display_data",
    data={"application/papermill.record/text/plain": "0.5"},
    metadata={"scrapbook": {"name": "x", "mime_prefix": "application/papermill.record/"}},
)
TABLE = nbformat.v4.new_output("execute_result", data={"text/html": "<table></table>"})
FIGURE = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})
STREAM = nbformat.v4.new_output("stream", name="stdout", text="hello\n")


def _cell(source: str, outputs: list | None = None, tags: list[str] | None = None):
    cell = nbformat.v4.new_code_cell(source, outputs=outputs or [])
    if tags:
        cell.metadata["tags"] = tags
    return cell


@pytest.mark.parametrize(
    ("source", "outputs"),
    [
        ('glue("a", a, display=False)\nglue_all({"b": b})', [GLUED]),
        ("for k in keys:\n    glue(k, values[k], display=False)", [GLUED]),
        ("display(table)\nplt.show()", [TABLE, FIGURE]),
        ("for m in metrics:\n    display(tables[m].round(3))", [TABLE, TABLE]),
        ("table", [TABLE]),
        # the "numbers quoted in the text" cell: mostly glue, nothing shown but glued values
        (
            "# numbers for the prose\nfirst = summary.mean()\nfor key in ['a', 'b']:\n"
            "    glue(key, float(first[key]), display=False)\n"
            "    glue(key + '_x', 1.0, display=False)\nglue('n', 3, display=False)",
            [GLUED, GLUED],
        ),
    ],
)
def test_bookkeeping_cells_are_collapsed(source: str, outputs: list) -> None:
    assert runner.is_bookkeeping(_cell(source, outputs))


@pytest.mark.parametrize(
    ("source", "outputs", "tags"),
    [
        # the experiment itself, which also glues: code a reader would lift
        (
            "plan = Plan(a=1,\n            b=2)\nruns = run_table(plan)\nresults = runs.rows\n"
            "summary = summarise(results)\nglue('steps', 5, display=False)",
            [GLUED],
            None,
        ),
        ("rows = run_grid(spec)\nglue('n', len(rows), display=False)\nrows", [GLUED, TABLE], None),
        ("import numpy as np\nfrom myst_nb import glue", [], None),
        ('register_sampler("X", make)', [], None),
        ("glue('a', 1, display=False)\nprint('a')", [GLUED, STREAM], None),  # prints something
        ("plot(rows)\nplt.show()", [FIGURE], None),
        ("for m in metrics:\n    display(setting_table(rows, m))", [TABLE], None),  # computes
        ("glue('a', 1, display=False)", [GLUED], ["remove-input"]),  # already decided
        ("ratio = 10", [], ["parameters"]),
        ("%time glue('a', 1)", [GLUED], None),  # a magic: not plain Python
    ],
)
def test_code_a_reader_would_lift_stays_visible(source, outputs, tags) -> None:
    assert not runner.is_bookkeeping(_cell(source, outputs, tags))


def test_markdown_is_never_bookkeeping() -> None:
    assert not runner.is_bookkeeping(nbformat.v4.new_markdown_cell("glue('a', 1)"))


def test_finish_notebook_tags_only_the_executed_copy(tmp_path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("ratio = 10", tags=["parameters"]),
        _cell("ratio = 20", tags=["injected-parameters"]),
        _cell("rows = run(ratio)\nrows", [TABLE]),
        _cell("glue('r', ratio, display=False)", [GLUED]),
    ]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    env = {"device": "cpu", "versions": {}}
    runner._finish_notebook(path, "smoke", env)
    tags = [c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells]
    assert tags == [["parameters"], ["injected-parameters", "remove-cell"], [], ["hide-input"]]
    runner._finish_notebook(path, "smoke", env)  # a second pass adds nothing
    assert [c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells] == tags


def test_book_figures_fill_the_column_with_readable_text() -> None:
    with book_style():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        ax.set(title="recall", xlabel="ρ")
        assert tuple(fig.get_size_inches()) == pytest.approx(column_figsize())
        assert fig.get_size_inches()[0] * fig.dpi == pytest.approx(COLUMN_PX)
        assert smallest_text_px(fig) >= MIN_TEXT_PX
        # three columns wide: shrunk to a third, its text too
        fig.set_size_inches(3 * COLUMN_INCHES, 3)
        assert smallest_text_px(fig) < MIN_TEXT_PX
        plt.close("all")


def test_whole_number_labels_show_as_integers_without_changing_values() -> None:
    import numpy as np
    import pandas as pd

    from imbnb.book.style import integral_labels

    rows = pd.MultiIndex.from_tuples([("cifar10", 100.0), ("cifar10", 10.0)], names=["d", "ratio"])
    table = pd.DataFrame({"BL": [0.7036, 1.0]}, index=rows)
    shown = integral_labels(table)
    assert list(shown.index.get_level_values("ratio")) == [100, 10]
    assert shown["BL"].tolist() == [0.7036, 1.0]  # values untouched, 1.0 stays a float
    assert table.index.get_level_values("ratio").dtype == float  # the table itself unchanged
    kept = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index([20.5, np.nan], name="ratio"))
    assert integral_labels(kept).index.equals(kept.index)  # not whole numbers: as they are


def test_notebook_display_uses_whole_number_labels() -> None:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        with book_style():
            table = pd.DataFrame({"acsa": [0.5]}, index=pd.Index([20.0], name="ratio"))
            data, _ = shell.display_formatter.format(table)
        assert "<th>20</th>" in data["text/html"] and "20.0" not in data["text/html"]
        assert "20.0" not in data["text/plain"] and "0.5" in data["text/plain"]
    finally:
        InteractiveShell.clear_instance()
