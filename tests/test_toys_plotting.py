"""Toy data for chapter 7, the shared plotting helpers, and the latent diagnostics."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from imbnb.book.style import (  # noqa: E402
    COLUMN_INCHES,
    MIN_TEXT_PX,
    book_style,
    column_figsize,
    smallest_text_px,
)
from imbnb.methods.deepsmote import LatentOversampling, neighbour_agreement  # noqa: E402
from imbnb.oversample import WeightedCalibration  # noqa: E402
from imbnb.plotting import (  # noqa: E402
    image_grid,
    plot_calibration_steps,
    plot_knob_sweep,
    tile,
)
from imbnb.toys import calibration_toy  # noqa: E402


def test_calibration_toy_has_the_three_partitions() -> None:
    X, y = calibration_toy(0)
    assert X.shape == (562, 2) and np.bincount(y).tolist() == [400, 150, 12]
    wc = WeightedCalibration(k=3, max_components=3, random_state=0)
    X_res, y_res = wc.fit_resample(X, y)
    assert wc.partition_ == {0: "majority", 1: "median", 2: "minority"}
    fig, axes = plt.subplots(1, 3)
    plot_calibration_steps(X, y, X_res, wc, int(np.flatnonzero(y == 2)[0]), axes)
    assert len(axes[0].patches) == len(wc.means_)  # one ellipse per saved component
    plt.close(fig)


def test_plot_calibration_steps_gives_a_colour_one_meaning_and_fits_the_column() -> None:
    X, y = calibration_toy(0)
    wc = WeightedCalibration(k=3, max_components=3, random_state=0)
    X_res, y_res = wc.fit_resample(X, y)
    with book_style():
        fig = plt.figure(figsize=column_figsize(2, aspect=0.72))
        mosaic = fig.subplot_mosaic([["a", "a", "b", "b"], [".", "c", "c", "."]])
        axes = [mosaic[k] for k in "abc"]
        point = int(np.flatnonzero(y == 2)[0])
        plot_calibration_steps(X, y, X_res, wc, point, axes, y_res=y_res)
        fig.tight_layout()
        assert smallest_text_px(fig) >= MIN_TEXT_PX
    assert all(ax.get_legend() is not None for ax in axes)  # (b) explains its marks too
    legend_b = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert "calibrated mean" in legend_b and "to a nearest saved component" in legend_b
    smote = [c for c in axes[2].collections if c.get_label() == "SMOTE rows (class 1)"]
    median_colour = axes[0].collections[1].get_facecolor()[0][:3]  # class 1's points in (a)
    assert len(smote) == 1 and smote[0].get_facecolor()[0][:3] == pytest.approx(median_colour)
    plt.close(fig)
    with pytest.raises(ValueError, match="at least 2"):
        calibration_toy(0, n_minority=1)


def test_plot_knob_sweep_one_panel_per_knob_ticked_at_the_values() -> None:
    rng = np.random.default_rng(0)
    sweep = pd.DataFrame(
        [
            {"knob": knob, "value": v, "seed": s, "f1_macro": rng.random(), "gmean": rng.random()}
            for knob, values in [("k", [1, 3, 10]), ("cap", [3, 10])]
            for v in values
            for s in (0, 1)
        ]
    )
    fig = plot_knob_sweep(sweep)
    k_ax, cap_ax = fig.axes
    assert (k_ax.get_xlabel(), cap_ax.get_xlabel()) == ("k", "cap")
    assert k_ax.get_xscale() == "log" and k_ax.get_ylim() == (0, 1)
    assert [t.get_text() for t in k_ax.get_xticklabels()] == ["1", "3", "10"]
    means = sweep[sweep.knob == "cap"].groupby("value")["gmean"].mean()
    assert cap_ax.get_lines()[1].get_ydata().tolist() == pytest.approx(means.tolist())
    plt.close(fig)
    with pytest.raises(ValueError, match="lacks the columns"):
        plot_knob_sweep(sweep.drop(columns="gmean"))


def test_tile_and_grid() -> None:
    imgs = np.random.default_rng(0).random((5, 1, 4, 3))
    assert tile(imgs).shape == (4, 15)
    assert tile(np.random.default_rng(0).random((2, 3, 4, 4)), 1).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="empty"):
        tile(imgs[:0])
    with pytest.raises(ValueError, match="shape"):
        tile(imgs[0])
    fig = image_grid({"a": imgs, "b": imgs[:2]}, n=3)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_neighbour_agreement_and_synthetic_by_class() -> None:
    latents = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11], [0.2, 0.5], [9.8, 10.4], [0, 0.8]])
    labels = np.array([0, 0, 1, 1, 0, 1, 1])
    synth = np.array([False] * 4 + [True] * 3)
    images = np.arange(7, dtype=np.float32).reshape(7, 1, 1, 1)
    res = LatentOversampling(images, labels, synth, latents)
    agree = neighbour_agreement(res)
    assert agree.to_dict() == {0: 1.0, 1: 0.5}  # the last class-1 code sits among class 0
    by_class = res.synthetic_by_class(5)
    assert by_class[0].ravel().tolist() == [4.0] and by_class[1].ravel().tolist() == [5.0, 6.0]


def _curves() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {
            "family": family,
            "method": method,
            "ratio": ratio,
            "seed": seed,
            "acsa": rng.random(),
            "gmean": rng.random(),
        }
        for family, methods in (("feature_space", ["BL", "FS-SMOTE"]), ("dos", ["DOS", "DOS-LR"]))
        for method in methods
        for ratio in (10, 100)
        for seed in (0, 1)
    ]
    return pd.DataFrame(rows)


def test_plot_vs_ratio_gives_each_family_a_row_read_against_the_reference() -> None:
    from imbnb.plotting import plot_vs_ratio

    rows = _curves()
    fig = plot_vs_ratio(rows, ["acsa", "gmean"], labels={"acsa": "ACSA"})
    axes = np.array(fig.axes).reshape(2, 2)
    assert [ax.get_title() for ax in axes[0]] == ["ACSA", "gmean"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["feature space", "dos"]
    legend = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in axes[:, 1]]
    assert legend == [["BL", "FS-SMOTE"], ["DOS", "DOS-LR", "BL (reference)"]]
    assert axes[0, 0].get_legend() is None and axes[0, 0].get_xscale() == "log"
    dashed = [line for line in axes[1, 0].get_lines() if line.get_linestyle() == "--"]
    bl = rows[rows.method == "BL"].groupby("ratio")["acsa"].mean()
    assert len(dashed) == 1 and dashed[0].get_ydata().tolist() == pytest.approx(bl.tolist())
    assert fig.get_size_inches()[0] == pytest.approx(COLUMN_INCHES)  # the book's column
    plt.close(fig)
    fig = plot_vs_ratio(rows.replace({"ratio": {100: 20}}), ["acsa", "gmean"])  # one decade
    fig.canvas.draw()
    top = [t for ax in fig.axes[:2] for t in ax.xaxis.get_ticklabels(which="both")]
    assert not [t.get_text() for t in top if t.get_visible() and t.get_text()]  # none: only
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == ["10", "20"]  # the last
    plt.close(fig)
    with book_style():
        fig = plot_vs_ratio(rows, ["acsa", "gmean"])
        assert smallest_text_px(fig) >= MIN_TEXT_PX
    plt.close(fig)
    fig = plot_vs_ratio(rows, ["acsa"], max_methods=1)  # a family of two wraps onto two rows
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["feature space 1/2", "feature space 2/2", "dos 1/2", "dos 2/2"]
    legend = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    assert legend[1] == ["FS-SMOTE", "BL (reference)"]  # BL is in the first row, not this one
    plt.close(fig)
    fig = plot_vs_ratio(rows, ["acsa"], reference=None)
    assert all(line.get_linestyle() != "--" for ax in fig.axes for line in ax.get_lines())
    plt.close(fig)
    wide = rows.copy()
    wide["acsa"] = np.where(wide["seed"] % 2 == 0, 0.02, 0.9)  # mean - sd is below 0
    fig = plot_vs_ratio(wide, ["acsa"])
    assert fig.axes[0].get_ylim()[0] == pytest.approx(-0.02)  # cut at the metric's range
    plt.close(fig)
    fig = plot_vs_ratio(wide, ["acsa"], bounds=None)
    assert fig.axes[0].get_ylim()[0] < -0.1
    plt.close(fig)


def test_plot_vs_ratio_names_what_is_wrong() -> None:
    from imbnb.plotting import plot_vs_ratio

    rows = _curves()
    with pytest.raises(ValueError, match=r"lack the columns \['f1'\]"):
        plot_vs_ratio(rows, ["f1"])
    with pytest.raises(ValueError, match="reference 'ADOS' is not a method"):
        plot_vs_ratio(rows, ["acsa"], reference="ADOS")
    with pytest.raises(ValueError, match="rows is empty"):
        plot_vs_ratio(rows.iloc[:0], ["acsa"])
    with pytest.raises(ValueError, match="at least one"):
        plot_vs_ratio(rows, [])
    with pytest.raises(ValueError, match="max_methods must be at least 1"):
        plot_vs_ratio(rows, ["acsa"], max_methods=0)


def test_plot_ranks_puts_the_best_on_top_within_the_possible_ranks() -> None:
    from imbnb.experiments import draw_ranks
    from imbnb.plotting import plot_ranks

    rows = pd.DataFrame(
        [
            {
                "method": m,
                "protocol": "minority",
                "ratio": 10.0,
                "seed": s,
                "acsa": score + 0.01 * s,
            }
            for s in range(4)
            for m, score in [("A", 0.7), ("B", 0.9), ("C", 0.8)]
        ]
    )
    ranks = draw_ranks(rows)
    ax = plot_ranks(ranks)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["B", "C", "A"]
    assert ax.get_xlim() == (0.5, 3.5) and ax.get_ylim() == (2.5, -0.5)  # B, first, on top
    points = ax.lines[0].get_xdata().tolist()
    assert points == ranks["average rank"].tolist() == [1.0, 2.0, 3.0]
    plt.close(ax.figure)
    for bad in (pd.DataFrame(ranks.to_dict()), ranks.drop(columns="average rank")):
        with pytest.raises(ValueError, match="draw_ranks"):  # no CD, no rank column
            plot_ranks(bad)
    with pytest.raises(ValueError, match="ranks is empty"):
        plot_ranks(ranks.iloc[:0])


def test_log_ticks_labels_plain_numbers_as_dense_as_fit() -> None:
    from imbnb.plotting import log_ticks

    def labels(lo, hi):
        fig, ax = plt.subplots()
        ax.set(xscale="log", xlim=(lo, hi))
        log_ticks(ax)
        fig.canvas.draw()
        out = [
            t.get_text()
            for t in ax.get_xticklabels()
            if lo <= t.get_position()[0] <= hi and t.get_text()
        ]  # the ticks in view
        plt.close(fig)
        return out

    assert labels(4, 30) == ["5", "10", "20"]  # one decade: 1-2-5, not a lone "10^1"
    assert labels(4, 12_000) == ["10", "30", "100", "300", "1,000", "3,000", "10,000"]
    assert labels(0.5, 2e6) == ["1", "10", "100", "1,000", "10,000", "100,000", "1,000,000"]
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="axis must be 'x' or 'y'"):
        log_ticks(ax, axis="z")
    ax.set_xlim(-1, 1)
    with pytest.raises(ValueError, match="positive limits"):
        log_ticks(ax)
    plt.close(fig)


def test_a_wide_family_wraps_onto_evenly_filled_rows() -> None:
    from imbnb.plotting.results import _row_groups

    def sizes(n: int) -> list[int]:
        rows = pd.DataFrame({"family": ["fs"] * n, "method": [f"m{i}" for i in range(n)]})
        return [len(part) for _, part in _row_groups(rows, "family", 4)]

    assert sizes(9) == [3, 3, 3] and sizes(5) == [3, 2] and sizes(8) == [4, 4] and sizes(4) == [4]
