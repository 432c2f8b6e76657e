"""The chapters' prose helpers (imbnb.book.prose), the computations of chapters 1, 3 and 7
(imbnb.book.motivation_chapter, ados_chapter, calibration_chapter) and the plotting functions
moved out of chapters 3 and 9."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from imbnb.book import ados_chapter as ch3  # noqa: E402
from imbnb.book import calibration_chapter as ch7  # noqa: E402
from imbnb.book import (  # noqa: E402
    direction_word,
    glue_all,
    lookup,
    phrase_list,
    ranked_text,
    threshold_phrase,
)
from imbnb.book import motivation_chapter as ch1  # noqa: E402
from imbnb.book.style import (  # noqa: E402
    COLUMN_INCHES,
    MIN_TEXT_PX,
    book_style,
    smallest_text_px,
)
from imbnb.metrics import evaluate  # noqa: E402
from imbnb.oversample import ADOS  # noqa: E402
from imbnb.plotting import (  # noqa: E402
    AdaptiveKCurve,
    AdosSmoteMarks,
    plot_adaptive_k,
    plot_ados_smote_steps,
    plot_class_corrections,
    plot_methods_vs_ratio,
    plot_pseudo_feature_protocol,
    plot_recall_heatmap,
)

# --- direction words ---------------------------------------------------------------------


def test_direction_word_all_wins_all_losses() -> None:
    assert direction_word(np.array([0.05, 0.02, 0.3])) == "beats"
    assert direction_word(np.array([-0.05, -0.02, -0.3])) == "trails"
    assert direction_word(pd.Series([0.2, 0.4], index=[10, 100])) == "beats"


def test_direction_word_mixed() -> None:
    assert direction_word([0.05, -0.05]) == "neither consistently beats nor trails"
    assert direction_word([0.05, 0.0]) == "matches or beats"  # one ratio inside the tolerance
    assert direction_word([-0.05, 0.004]) == "matches or trails"


def test_direction_word_within_tolerance() -> None:
    assert direction_word([0.009, -0.009, 0.0]) == "matches"
    assert direction_word([0.01, -0.01]) == "matches"  # the bound itself is no win
    assert direction_word([0.05, 0.03], tol=0.04) == "matches or beats"
    assert direction_word(0.03, "improves on", "falls behind", tol=0.0) == "improves on"
    assert direction_word(0.0, "also gains", "loses", tol=0.0) == "matches"


def test_direction_word_scalar_against_a_baseline() -> None:
    # chapter 1: the minority recall at the largest ratio against the smallest
    words = ("rises", "falls", "barely moves")
    assert direction_word(0.3, *words, tol=0.02, baseline=0.9) == "falls"
    assert direction_word(0.95, *words, tol=0.02, baseline=0.9) == "rises"
    assert direction_word(0.91, *words, tol=0.02, baseline=0.9) == "barely moves"


def test_direction_word_missing_and_bad_input() -> None:
    assert direction_word(float("nan")) == "cannot be compared with"
    assert direction_word([np.nan, np.nan], missing="n/a") == "n/a"
    assert direction_word([np.nan, 0.05]) == "matches or beats"  # NaN counts on neither side
    with pytest.raises(ValueError, match="1-D"):
        direction_word(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="tol"):
        direction_word(0.1, tol=-0.01)


# --- other phrases -----------------------------------------------------------------------


def test_threshold_phrase_picks_the_first_band() -> None:
    bands = [(0.3, "gave up"), (0.7, "far less often")]
    assert threshold_phrase(0.1, bands, "fairly well") == "gave up"
    assert threshold_phrase(0.5, bands, "fairly well") == "far less often"
    assert threshold_phrase(0.7, bands, "fairly well") == "fairly well"
    assert threshold_phrase(float("nan"), bands, "fairly well") == "fairly well"


def test_phrase_list_and_ranked_text() -> None:
    assert phrase_list(["a", "b"]) == "a, b"
    assert phrase_list([], empty="none of them") == "none of them"
    assert phrase_list(iter(["x"]), sep="; ") == "x"
    scores = pd.Series({"BL": 0.71, "CB": 0.80, "Focal": 0.75, "LDAM": 0.79})
    assert ranked_text(scores, k=3) == "CB (0.800), LDAM (0.790), Focal (0.750)"
    named = ranked_text({"BL": 0.5, "RUS": 0.6}, sep=" > ", names={"BL": "baseline"})
    assert named == "RUS (0.600) > baseline (0.500)"


def test_lookup_gives_nan_for_what_did_not_run() -> None:
    mean = pd.DataFrame(
        {"acsa": [0.7, 0.8]}, index=pd.MultiIndex.from_tuples([("th", "BL"), ("th", "CB")])
    )
    assert lookup(mean, ("th", "CB"), "acsa") == pytest.approx(0.8)
    assert np.isnan(lookup(mean, ("th", "Focal"), "acsa"))
    assert np.isnan(lookup(mean, ("th", "CB"), "gmean"))
    assert lookup(pd.Series({"BL": 0.5}), "BL") == 0.5
    assert np.isnan(lookup(pd.Series({"BL": 0.5}), "RUS"))


def test_glue_all_glues_in_order_without_display(monkeypatch) -> None:
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda *a, **kw: calls.append((a, kw)))
    glue_all({"b": 1, "a": "x"})
    assert calls == [(("b", 1), {"display": False}), (("a", "x"), {"display": False})]


# --- chapter 3 computations ----------------------------------------------------------------


def test_toy_steps_rebuild_one_ados_and_one_smote_step() -> None:
    toy = ch3.toy_steps(np.random.default_rng(0), 0)
    assert toy.X.shape == (340, 2) and np.bincount(toy.y).tolist() == [300, 40]
    assert np.isclose(toy.weights.sum(), 1.0) and len(toy.neighbors) == len(toy.weights)
    expected = toy.delta * toy.seed_point + (1 - toy.delta) * toy.centre  # eq. 4.7
    assert np.allclose(toy.new_point, expected)
    # SMOTE's new point lies on the segment from the seed to the neighbour picked
    assert np.allclose(toy.smote_new, toy.seed_point + toy.gap * (toy.smote_pick - toy.seed_point))
    assert len(toy.smote_neighbors) == 5
    assert {k: len(v) for k, v in toy.resampled.items()} == {"ADOS": 600, "SMOTE": 600}


def test_adaptive_k_profile_stays_between_k_min_and_k_max() -> None:
    rng = np.random.default_rng(1)
    z = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(3, 1, (12, 3))])
    y = np.repeat([0, 1], [60, 12])
    prof = ch3.adaptive_k_profile(z, y, 1)
    assert prof.k_max == {0: 20, 1: 10}  # nu_max for the largest class, nu_min the smallest
    assert len(prof.ks) == len(prof.d_x) == 12
    assert prof.ks.min() >= 2 and prof.ks.max() <= 10
    assert prof.grid_k[0] == 10 and prof.grid_k[-1] == 2  # k_max at d_min, k_min at d_max


def _per(values: dict[str, list[float]]) -> pd.DataFrame:
    ratios = [10, 100]
    frame = pd.DataFrame(
        [
            {"method": m, "ratio": r, "acsa": v, "gmean": v}
            for m, vs in values.items()
            for r, v in zip(ratios, vs, strict=True)
        ]
    )
    return frame.set_index(["method", "ratio"])


def test_ados_versus_words_and_wins() -> None:
    per = _per(
        {
            "ADOS": [0.80, 0.70],
            "FS-SMOTE": [0.70, 0.60],
            "BL": [0.90, 0.80],
            "ADOS-noRW": [0.795, 0.65],
        }
    )
    numbers, result = ch3.ados_versus(per, ["ADOS", "FS-SMOTE", "BL", "ADOS-noRW"])
    assert numbers["ados_vs_fs_smote_gmean_word"] == "beats"
    assert numbers["ados_vs_bl_acsa_word"] == "trails"
    assert numbers["ados_vs_ados_norw_gmean_word"] == "matches or beats"
    assert numbers["ados_vs_fs_smote_gmean_wins"] == 2 and numbers["ados_vs_bl_gmean_wins"] == 0
    assert numbers["ados_vs_fs_smote_acsa"] == pytest.approx(0.1)
    assert "ados_vs_bl_cw_acsa" not in numbers  # BL+CW did not run
    assert numbers["rw_or_place"].startswith("where its points")  # placement 0.0725 > rw 0.0275
    assert set(result) == {
        (o, m) for o in ["FS-SMOTE", "BL", "ADOS-noRW"] for m in ["acsa", "gmean"]
    }


def test_published_inconsistencies_and_gap_numbers() -> None:
    rows = []
    for method, (maj, mnr, avg) in {"ADOS": (0.9, 0.5, 0.74), "BL+CW": (0.9, 0.5, 0.70)}.items():
        for group, value in {"maj": maj, "min": mnr, "avg": avg}.items():
            rows.append(
                {"method": method, "ratio": 10, "metric": f"recall_{group}", "value": value}
            )
            rows.append({"method": method, "ratio": 10, "metric": f"gmean_{group}", "value": value})
    published = ch3.with_measure_group(pd.DataFrame(rows))
    assert set(published["group"]) == {"Maj", "Min", "Average"}
    assert ch3.published_inconsistencies(published) == (
        "BL+CW at ρ = 10 (printed 0.700, implied 0.740)"
    )
    ours = published.rename(columns={"value": "mean"}).assign(std=np.nan)
    ours.loc[ours["method"] == "ADOS", "mean"] += 0.05
    compare = ch3.thesis_comparison(ours, published, [("ADOS", "ADOS"), ("BL+CW", "BL+CW")])
    main = compare[(compare["group"] == "Average") & compare["measure"].isin(["Re", "GMean"])]
    numbers = ch3.thesis_gap_numbers(main, ours, published)
    assert numbers["n_big"] == 1 and numbers["n_cells"] == 2
    assert numbers["big_list"] == "ADOS at ρ = 10 (Re +0.050, GMean +0.050)"
    assert numbers["ados_mean_diff"] == pytest.approx(0.05)
    assert np.isnan(numbers["bl_head_gap"])  # no BL pair
    assert numbers["margin_gap"] == pytest.approx(0.05)


def test_near_duplication_on_toy_embeddings() -> None:
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 1, (80, 4)), rng.normal(4, 1, (8, 4))]).astype(np.float32)
    y = np.repeat([0, 1], [80, 8])
    dup = ch3.near_duplication(z, y, [1], ADOS(random_state=0))
    assert dup.n_synthetic == 72 and dup.per_seed == pytest.approx(9.0)
    assert 0.0 <= dup.near_frac <= 1.0 and dup.spread_ratio > 0
    assert dup.mass_ratio > 1  # the literal re-weighting favours the minority class
    assert list(dup.table().index)[0] == "synthetic rows"


# --- plotting functions moved out of the chapters -----------------------------------------


def test_plot_ados_smote_steps_draws_four_panels() -> None:
    toy = ch3.toy_steps(np.random.default_rng(0), 0)
    marks = toy.marks()
    assert isinstance(marks, AdosSmoteMarks) and marks.ados_centre is toy.centre
    fig = plot_ados_smote_steps(toy.X, toy.y, marks, resampled=toy.resampled)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["one ADOS step", "one SMOTE step"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"k = {len(toy.neighbors)} neighbours (size ∝ weight)" in labels
    plt.close(fig)
    with pytest.raises(ValueError, match="two sets"):
        plot_ados_smote_steps(toy.X, toy.y, marks, resampled={"ADOS": toy.X})
    with pytest.raises(TypeError, match="unexpected keyword argument 'gap'"):  # the object only
        plot_ados_smote_steps(toy.X, toy.y, marks, resampled=toy.resampled, gap=0.5)


def test_plot_adaptive_k_draws_points_and_k_max_bars() -> None:
    d_x = np.array([0.5, 1.0, 2.0])
    curve = AdaptiveKCurve(
        d_x, np.array([10, 6, 2]), np.linspace(0.5, 2.0, 5), [10, 8, 6, 4, 2], {0: 20, 1: 10}, 1
    )
    shown = dict(class_names=["a", "b"], minority=[1], ratio=10)
    fig = plot_adaptive_k(curve, **shown, rng=np.random.default_rng(0))
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 2
    left, right = fig.axes
    assert left.get_title() == "b, ρ = 10: k_max = 10"
    assert len(left.collections[0].get_offsets()) == 3
    assert [t.get_text() for t in right.get_yticklabels()] == ["0 a", "1 b*"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no k_max"):
        plot_adaptive_k(
            AdaptiveKCurve(d_x, np.array([10, 6, 2]), d_x, [1, 1, 1], {0: 20}, 1), **shown
        )


def test_plot_adaptive_k_takes_a_profile_or_a_curve() -> None:
    rng = np.random.default_rng(1)
    z = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(3, 1, (12, 3))])
    prof = ch3.adaptive_k_profile(z, np.repeat([0, 1], [60, 12]), 1)
    curve = AdaptiveKCurve(prof.d_x, prof.ks, prof.grid_d, prof.grid_k, prof.k_max, prof.cls)
    for shown in (prof, curve):
        fig = plot_adaptive_k(shown, class_names=["a", "b"], minority=[1], ratio=5)
        assert fig.axes[0].get_title() == "b, ρ = 5: k_max = 10"
        assert fig.axes[0].get_ylabel() == "k"  # no rng, no jitter
        plt.close(fig)
    with pytest.raises(TypeError, match="unexpected keyword argument 'cls'"):  # the object only
        plot_adaptive_k(curve, class_names=["a", "b"], minority=[1], ratio=5, cls=0)


class _Extractor:
    """Stands in for a trained extractor: predicts the true class except one minority image."""

    def __init__(self, ratio: float) -> None:
        self.y_test = np.repeat([0, 1, 2], 4)
        self.y_pred_test = self.y_test.copy()
        self.y_pred_test[-1] = 0 if ratio > 1 else 2
        self.proba_test = None
        self.minority_classes = [2]
        self.y_train = np.zeros(int(30 / ratio) + 20, dtype=int)


class _Data:
    n_classes = 3
    classes = ["zero", "one", "two"]


def test_motivation_runs_scores_every_dataset_seed_and_ratio(monkeypatch) -> None:
    calls = []

    def fake_train(name, settings, options):
        kw = {**dataclasses.asdict(settings), "train": options.train}  # the settings form
        calls.append((name, kw))
        return _Extractor(kw["ratio"])

    monkeypatch.setattr(ch1, "load_dataset", lambda name, part: _Data())
    monkeypatch.setattr(ch1, "train_extractor", fake_train)
    runs = ch1.motivation_runs(["a", "b"], [0, 1], [1, 10], {"protocol": "minority", "lr": 0.1})
    assert len(calls) == 8 and calls[0][1]["lr"] == 0.1 and calls[0][1]["train"] is not None
    assert runs.summary[["dataset", "seed", "rho"]].values.tolist()[:3] == [
        ["a", 0, 1], ["a", 0, 10], ["a", 1, 1]
    ]  # fmt: skip
    assert runs.summary["n_train"].tolist()[:2] == [50, 23]
    assert len(runs.per_class) == 8 * 3 and set(runs.per_class["name"]) == set(_Data.classes)
    assert runs.per_class.groupby("group")["class"].unique().map(list).to_dict() == {
        "majority": [0, 1], "minority": [2]
    }  # fmt: skip
    report = evaluate(_Extractor(10).y_test, _Extractor(10).y_pred_test, minority=[2])
    assert runs.reports["b", 1, 10].summary == pytest.approx(report.summary, nan_ok=True)
    summary, per_class, reports = runs  # the chapter unpacks it
    assert summary is runs.summary


def test_knob_sweep_varies_one_knob_at_a_time(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(ch7, "count_protocol", lambda *a, **kw: ("train", "test", None, "x"))

    def fake_run(method, train, test, **kw):
        seen.append((method, dict(kw["sampler_params"]), kw["seed"]))
        return {"f1_macro": kw["sampler_params"]["k"] / 10, "gmean": 0.5}

    monkeypatch.setattr(ch7, "run_generative", fake_run)
    knobs = {"k": ("k", [1, 3]), "cap": ("max_components", [5])}
    sweep = ch7.knob_sweep(
        "d", [0, 1], knobs, {"k": 2, "max_components": 10},
        count_scale=0.5, n_test=None, ae={}, classifier={},
    )  # fmt: skip
    assert sweep[["knob", "value", "seed"]].values.tolist() == [
        ["k", 1, 0], ["k", 1, 1], ["k", 3, 0], ["k", 3, 1], ["cap", 5, 0], ["cap", 5, 1]
    ]  # fmt: skip
    assert seen[0] == ("DeepDenoising+WC", {"k": 1, "max_components": 10}, 0)
    assert seen[-1][1] == {"k": 2, "max_components": 5}
    assert sweep["f1_macro"].tolist()[:3] == [0.1, 0.1, 0.3]


def _rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        [
            {"method": m, "ratio": r, "seed": s, "acsa": rng.random(), "gmean": rng.random()}
            for m in ["BL", "ADOS", "CNN-CE"]
            for r in [10, 100]
            for s in [0, 1]
        ]
    )


def test_plot_methods_vs_ratio_one_panel_per_metric() -> None:
    fig = plot_methods_vs_ratio(
        _rows(),
        {"acsa": "ACSA", "gmean": "G-mean"},
        ["BL", "ADOS", "CNN-CE"],
        [10, 100],
        title="toy",
    )
    assert isinstance(fig, plt.Figure)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["ACSA", "G-mean"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    plt.close(fig)
    with pytest.raises(ValueError, match="lack"):
        plot_methods_vs_ratio(_rows(), {"f1": "F1"}, ["BL"], [10], title="toy")


def test_plot_pseudo_feature_protocol_one_panel_per_measure() -> None:
    pf = _rows().rename(columns={"ratio": "n_minor"})
    pf["name"] = pf["method"]
    fig = plot_pseudo_feature_protocol(
        pf,
        {"acsa": "accuracy", "gmean": "G-mean"},
        hue_order=["BL", "ADOS", "CNN-CE"],
        n_minor=[10, 100],
        title="toy",
    )
    assert isinstance(fig, plt.Figure)
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_title()) == ["G-mean", "accuracy"]
    plt.close(fig)


def test_plot_class_corrections_uses_log_axes_for_counts() -> None:
    corr = pd.DataFrame(
        [
            {
                "protocol": p,
                "correction": c,
                "class": k,
                "value": (1000 if k < 2 else 10) if c.startswith("n_j") else 0.1 * (k + 1),
                "group": "majority" if k < 2 else "minority",
            }
            for p in ["thesis, ρ = 100", "long tail"]
            for c in ["n_j (training images)", "LDAM margin Δ_j"]
            for k in range(3)
        ]
    )
    fig = plot_class_corrections(corr)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 4
    axes = np.array(fig.axes).reshape(2, 2)  # a row per correction, a column per protocol
    assert [ax.get_title() for ax in axes[0]] == ["thesis, ρ = 100", "long tail"]
    assert [ax.get_title() for ax in axes[1]] == ["", ""]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["n_j\n(training images)", "LDAM margin Δ_j"]
    assert [ax.get_yscale() for ax in axes[:, 1]] == ["log", "linear"]
    assert fig.get_size_inches()[0] == pytest.approx(COLUMN_INCHES)
    plt.close(fig)
    with book_style():
        fig = plot_class_corrections(corr)
        assert smallest_text_px(fig) >= MIN_TEXT_PX
        plt.close(fig)


def test_plot_recall_heatmap_annotates_every_cell() -> None:
    recalls = pd.DataFrame([[0.9, 0.1], [0.8, 0.5]], index=["BL", "CB"], columns=["0", "1*"])
    ax = plot_recall_heatmap(recalls, title="toy")
    assert isinstance(ax, plt.Axes) and ax.get_title() == "toy"
    assert sorted(t.get_text() for t in ax.texts) == ["0.10", "0.50", "0.80", "0.90"]
    assert ax.figure.get_size_inches()[0] == pytest.approx(COLUMN_INCHES)
    plt.close(ax.figure)
    ten = pd.DataFrame(
        np.full((9, 10), 0.5),
        index=[f"method {i}" for i in range(9)],
        columns=[f"{c} class name*\nn={5000 // (c + 1)}" for c in range(10)],
    )
    with book_style():
        ax = plot_recall_heatmap(ten, title="ten classes, nine methods (chapter 9's size)")
        assert smallest_text_px(ax.figure) >= MIN_TEXT_PX
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="empty"):
        plot_recall_heatmap(recalls.iloc[:0], title="toy")
