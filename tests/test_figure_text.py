"""No figure a chapter renders has text under MIN_TEXT_PX on the page (issue 26).

The smoke book's run records every rendered figure (imbnb.book.figure_audit); the slow test
reads that record. The fast tests show the audit itself records a figure whose text is too
small and one whose text is not, so the check can fail.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from IPython.core.pylabtools import print_figure  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from imbnb.book.figure_audit import (  # noqa: E402
    AUDIT_ENV,
    CHAPTER_ENV,
    install_figure_audit,
    read_audit,
    too_small,
)
from imbnb.book.style import (  # noqa: E402
    COLUMN_INCHES,
    MIN_TEXT_PX,
    book_style,
    column_figsize,
    smallest_text_px,
)
from imbnb.plotting import image_grid, plot_knob_sweep, plot_methods_by_setting  # noqa: E402


@pytest.fixture
def audit(tmp_path, monkeypatch):
    """An audit file the wrapped print_figure appends to; the method is restored after."""
    path = tmp_path / "audit.jsonl"
    monkeypatch.setattr(FigureCanvasBase, "print_figure", FigureCanvasBase.print_figure)
    monkeypatch.setenv(AUDIT_ENV, str(path))
    monkeypatch.setenv(CHAPTER_ENV, "99_test")
    with book_style():  # installs the audit, as a chapter's set_book_style() does
        yield path
    plt.close("all")


def test_no_audit_without_the_variable(monkeypatch) -> None:
    monkeypatch.delenv(AUDIT_ENV, raising=False)
    before = FigureCanvasBase.print_figure
    monkeypatch.setattr(FigureCanvasBase, "print_figure", before)
    with book_style():
        assert not install_figure_audit()
        assert FigureCanvasBase.print_figure is before


def test_audit_records_a_figure_too_wide_and_one_at_column_width(audit) -> None:
    wide, ax = plt.subplots(figsize=(24, 3))  # shrunk 3.5x on the page: 12 pt reads ~5 px
    ax.plot([1, 10], [0.1, 0.9])
    ax.set_title("too wide")
    fine, ax = plt.subplots(figsize=column_figsize())
    ax.plot([1, 10], [0.1, 0.9])
    ax.set(title="column wide", xlabel="ratio")
    print_figure(wide)  # IPython's inline display path (display(fig), plt.show())
    print_figure(fine)
    install_figure_audit()  # a second set_book_style() does not record twice
    records = read_audit(audit)
    assert [r["title"] for r in records] == ["too wide", "column wide"]
    assert records[0]["chapter"] == "99_test"
    assert records[0]["width_in"] == 24.0
    assert records[0]["smallest_text_px"] < MIN_TEXT_PX <= records[1]["smallest_text_px"]
    failing = too_small(records, MIN_TEXT_PX)
    assert len(failing) == 1
    assert "99_test" in failing[0] and "'too wide'" in failing[0]


def test_audit_names_the_smallest_label_and_measures_a_figure_made_without_pyplot(
    audit,
) -> None:
    fig = Figure(figsize=column_figsize())
    ax = fig.add_subplot()
    ax.set_title("tiny annotation")
    ax.text(0.5, 0.5, "6 pt note", fontsize=6)
    print_figure(fig)
    (record,) = read_audit(audit)
    assert record["label"] == "6 pt note"
    assert record["smallest_text_px"] == pytest.approx(6 * 100 / 72, rel=1e-3)
    assert "'6 pt note'" in too_small([record], MIN_TEXT_PX)[0]


@pytest.mark.slow
def test_every_chapter_figure_reads_at_least_min_text_px() -> None:
    from _smoke_book import smoke_book

    book = smoke_book()
    assert book.audit.exists(), "the smoke run recorded no figure"
    records = read_audit(book.audit)
    executed = {r.chapter.stem for r in book.results if r.ok}  # every chapter draws figures
    unrecorded = executed - {r["chapter"] for r in records}
    assert not unrecorded, f"no figure recorded for {sorted(unrecorded)}"
    failing = too_small(records, MIN_TEXT_PX)
    assert not failing, f"{len(failing)} figures with text under {MIN_TEXT_PX} px:\n" + "\n".join(
        failing
    )


def _sweep() -> pd.DataFrame:
    """A knob sweep as chapter 7 makes it: two knobs, two seeds, two metrics."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        [
            {"knob": knob, "value": v, "seed": s, "f1_macro": rng.random(), "gmean": rng.random()}
            for knob, values in [("k", [1, 3, 10, 30]), ("cap", [1, 3, 10])]
            for v in values
            for s in (0, 1)
        ]
    )


def _long_image_grid() -> Figure:
    """Ten images a row with long labels (chapter 6's interpolation strips)."""
    images = np.random.default_rng(0).random((10, 1, 28, 28))
    labels = ["DeepSMOTE: same class", "DeepSMOTE: across", "beta-VAE-1: across"]
    return image_grid({label: images for label in labels}, n=10, row_height=0.8)


def _loss_overview() -> Figure:
    """Chapter 9's overview: nine methods, five settings, four measures, three seeds."""
    rng = np.random.default_rng(0)
    methods = ["CNN-CE", "CNN-CW", "Focal", "CB", "LDAM-DRW", "LogitAdj", "LogitAdj-posthoc",
               "BalancedSoftmax", "BL+balanced-sampler"]  # fmt: skip
    settings = [f"4 minority classes, ρ = {r}" for r in (10, 20, 40, 100)] + ["long tail"]
    metrics = {"acsa": "ACSA", "gmean": "GMean", "recall_min": "min. recall", "f1_min": "min. F1"}
    rows = pd.DataFrame(
        [{"method": m, "setting": st, "seed": sd, **{k: rng.uniform(0.3, 0.9) for k in metrics}}
         for m in methods for st in settings for sd in range(3)]
    )  # fmt: skip
    return plot_methods_by_setting(rows, metrics, methods, settings, title="overview")


@pytest.mark.parametrize(
    "draw", [lambda: plot_knob_sweep(_sweep()), _long_image_grid, _loss_overview]
)
def test_chapter_7_6_and_9_figures_fit_the_column(draw) -> None:
    with book_style():
        fig = draw()
        assert fig.get_size_inches()[0] <= COLUMN_INCHES + 1e-9
        assert smallest_text_px(fig) >= MIN_TEXT_PX
    plt.close(fig)
