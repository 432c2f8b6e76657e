"""Chapters 4 (DOS) and 5 (GAMO): the words the prose glues about a figure are measured on it."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")  # figures drawn off screen

import matplotlib.pyplot as plt  # noqa: E402

from imbnb.book import dos_chapter as ch4  # noqa: E402
from imbnb.book import gamo_chapter as ch5  # noqa: E402
from imbnb.methods import catalog  # noqa: E402


def test_toy_round_numbers_describe_the_drawn_toy() -> None:
    toy = ch4.toy_overloading(np.random.default_rng(0), k=5, r=8)
    words = ch4.toy_round_numbers(toy)
    assert words["toy_inside_text"] == "all 8"  # convex combinations stay inside the hull
    assert 0 < words["toy_closer"] <= words["toy_n_minor"] == len(toy.minor)
    assert (words["toy_k"], words["toy_r"], words["toy_var_drop"]) == (5, 8, toy.var_drop)
    fig = ch4.plot_toy_overloading(toy)
    assert len(fig.axes) == 2 and len(fig.axes[0].child_axes) == 1  # the inset: a zoom
    plt.close(fig)


def test_protocol_numbers_compare_a_round_with_an_epoch() -> None:
    first = SimpleNamespace(
        dos_seconds=8.0, cnn_seconds=6.0, n_train=2000, rounds=2, init_epochs=3,
        history=[{"n_quadruplets": 4000}], quadruplets=4000,
    )  # fmt: skip
    out = ch4.protocol_numbers(first, {"a": first}, 20.0)
    assert out["round_items_ratio"] == pytest.approx(2.0)
    assert out["round_seconds_ratio"] == pytest.approx(4.0 / 2.0)
    assert out["n_runs"] == 1 and out["dos_seconds"] == 8.0


def test_toy_pull_text_follows_the_bleeding_of_d_against_c() -> None:
    def table(c_bleed: float, d_bleed: float) -> pd.DataFrame:
        rows = {name: {"majority recall": 1.0, "minority recall": 1.0, "bleeding": 0.5}
                for name in ch5.FIGURE1_PANELS}  # fmt: skip
        frame = pd.DataFrame(rows).T
        frame.loc[list(ch5.FIGURE1_PANELS)[2], "bleeding"] = c_bleed
        frame.loc[list(ch5.FIGURE1_PANELS)[3], "bleeding"] = d_bleed
        return frame

    assert "not yet" in ch5.toy_numbers(table(0.8, 0.85))["toy_pull_text"]
    assert "only begun" in ch5.toy_numbers(table(0.88, 0.82))["toy_pull_text"]
    assert "many" in ch5.toy_numbers(table(0.9, 0.3))["toy_pull_text"]


def test_table1_words_rank_smote_and_count_zero_gm() -> None:
    methods = list(catalog.names("gamo"))
    plan = ch5.Table1Plan(["fashion_mnist"], [0], ["ls"], methods, {}, steps=1, batch_size=2, lr=1)
    acsa = {m: 0.5 for m in methods} | {"GAMO-SMOTE+CN": 0.9}
    rows = [
        {"dataset": "fashion_mnist", "loss": "LS", "method": m, "seed": 0, "seconds": 1.0,
         "acsa": acsa[m], "gmean": 0.0 if m == "GAMO-CN" else 0.4,
         **{f"recall_c{c}": 0.5 for c in range(10)}}
        for m in methods
    ]  # fmt: skip
    results = pd.DataFrame(rows)
    summary = results.groupby(["dataset", "loss", "method"], sort=False)[["acsa", "gmean"]].mean()
    summary.columns = ["acsa_mean", "gmean_mean"]
    out = ch5.table1_numbers(plan, results, summary)
    assert out["smote_rank_text"] == f"the best of the {len(methods)} by ACSA"
    assert out["zero_gm_text"] == f"here 1 of the {len(methods)} runs has a GM of zero"
    assert out["smallest_verdict"].endswith("though not in this run")  # equal recalls


def test_boundary_words_measure_the_spread_of_the_distances() -> None:
    rng = np.random.default_rng(0)
    distances = pd.concat(
        [
            pd.DataFrame({"points": "real", "distance": rng.uniform(1, 5, 200)}),
            pd.DataFrame({"points": "GAMO", "distance": rng.uniform(2.9, 3.3, 200)}),
            pd.DataFrame({"points": "SMOTE", "distance": rng.uniform(1, 4, 200)}),
        ]
    )
    medians = distances.groupby("points")["distance"].median()
    out = ch5.boundary_numbers(ch5.Boundary(7, 200, distances, medians), "Sneaker")
    assert out["iqr_gamo"] < out["iqr_real"] / 2
    assert out["iqr_text"].startswith("a band less than half as wide")
    assert "farther" in out["fringe_text"]  # GAMO's median 3.1 beside SMOTE's 2.5


def _tiles(made_value: float, decoded_as: float) -> ch5.Gamo2pixTiles:
    """Two classes of fake tiles: real ones that differ, decoded ones all alike."""
    rng = np.random.default_rng(0)
    real = {c: rng.uniform(0, 1, (8, 28, 28)) for c in (7, 8)}
    made = {c: np.full((8, 28, 28), made_value) for c in (7, 8)}
    measures = pd.DataFrame(
        {
            "real intensity": [0.2, 0.3],
            "decoded intensity": [made_value] * 2,
            "real spread": [0.25, 0.2],
            "decoded spread": [0.05, 0.04],
            "decoded as the class": [0.0, decoded_as],
            "most common prediction": [9, 8],
        },
        index=pd.Index([7, 8], name="class"),
    )
    return ch5.Gamo2pixTiles([7, 8], real, made, measures)


def test_gamo2pix_words_say_what_the_tiles_show() -> None:
    names = [f"c{i}" for i in range(10)]
    out = ch5.gamo2pix_numbers(_tiles(0.02, 1.0), names)
    assert "for class 7 (c7) the decoded tiles have a mean intensity of 0.02" in out["pix_text"]
    assert "takes none of them for the class (most for c9)" in out["pix_text"]
    assert "takes all of them for the class;" not in out["pix_text"]  # class 8 is last
    assert out["pix_text"].endswith("takes all of them for the class")
    assert out["pix_spread_text"].startswith("Within a class the decoded tiles are near copies")
    assert "20% of the real tiles'" in out["pix_spread_text"]
    half = ch5.gamo2pix_numbers(_tiles(0.5, 0.5), names)
    assert "takes 50% of them" in half["pix_text"]
    mixed = _tiles(0.5, 1.0)
    mixed.measures.loc[7, "decoded spread"] = 0.25  # class 7 as varied as its real tiles
    text = ch5.gamo2pix_numbers(mixed, names)["pix_spread_text"]
    assert "those of class 7 vary about as much as the real ones (100%)" in text
    assert "those of class 8 are near copies of one another (20%)" in text  # named, not hidden


def test_gamo2pix_tiles_share_one_grey_scale_and_pixel_size() -> None:
    tiles = _tiles(0.5, 1.0)
    tiles.real[8] = tiles.real[8][:4]  # a class with fewer real images than tiles shown
    fig = ch5.plot_gamo2pix_tiles(tiles)
    images = [ax.images[0] for ax in fig.axes]
    assert {im.get_clim() for im in images} == {(0, 1)}
    assert {ax.get_xlim() for ax in fig.axes} == {(-0.5, 8 * 28 - 0.5)}
    plt.close(fig)
