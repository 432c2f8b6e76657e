"""The one table of published numbers: well-formed rows, faithful transcriptions, the loader."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from imbnb import paths
from imbnb.methods.deepsmote import METHODS as GENERATIVE
from imbnb.methods.feature_space import METHODS as FEATURE_SPACE
from imbnb.published import COLUMNS, load_published, published_path

KEY = ["paper", "table", "dataset", "protocol", "ratio", "method", "metric"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_published()


def test_rows_are_well_formed(table) -> None:
    assert tuple(pd.read_csv(published_path(), nrows=0).columns) == COLUMNS
    for col in ["paper", "table", "method", "metric"]:
        assert (table[col].astype(str).str.len() > 0).all(), col
    assert np.isfinite(table["value"]).all()
    assert not table.duplicated(KEY).any()
    bib = (paths.book_dir() / "references.bib").read_text("utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    assert set(table["paper"]) <= keys
    assert table["table"].str.match(r"^Table \d+(\.\d+)?$").all()
    spread = table[table.metric.str.endswith("_std")]
    assert (spread["value"] >= 0).all()


def test_known_table_sizes(table) -> None:
    sizes = table.groupby(["paper", "table"]).size()
    assert sizes["karmakar2019ados", "Table 7.2"] == 4 * 5 * 3 * 3  # ratios x methods x 9
    assert sizes["mandal2024deepsmote", "Table 5.1"] == 5 * 3
    assert sizes["mandal2024deepsmote", "Table 5.5"] == 5 * 3
    assert sizes["cao2019ldam", "Table 2"] == 4


def test_ados_table_is_internally_consistent() -> None:
    t = load_published(paper="karmakar2019ados", table="Table 7.2")
    assert set(t["method"]) <= set(FEATURE_SPACE)
    v = t.set_index(["ratio", "method", "metric"])["value"]
    # F1 averages are 6 majority + 4 minority classes: checks the transcription's alignment
    for ratio in (10, 20, 40, 100):
        for method in set(t["method"]):
            avg = v[ratio, method, "f1_avg"]
            mix = 0.6 * v[ratio, method, "f1_maj"] + 0.4 * v[ratio, method, "f1_min"]
            assert avg == pytest.approx(mix, abs=2e-3), (ratio, method)


def test_deepsmote_tables_match_the_thesis_text() -> None:
    t = load_published(paper="mandal2024deepsmote")
    assert set(t["method"]) <= set(GENERATIVE)
    v = t.set_index(["table", "method", "metric"])["value"]
    assert v["Table 5.1", "DeepDenoisingSMOTE", "f1_macro"] == 0.8612
    assert v["Table 5.2", "DeepDenoising+WC", "recall_macro"] == 0.9230
    assert v["Table 5.5", "DeepADASYN", "precision_macro"] == 0.4225
    # the rows repeated across Tables 5.3-5.5 agree
    for m in ["DeepSMOTE", "beta-VAE-1", "beta-VAE-2"]:
        for metric in ["recall_macro", "precision_macro", "f1_macro"]:
            assert (
                v["Table 5.3", m, metric] == v["Table 5.4", m, metric] == v["Table 5.5", m, metric]
            )
    assert (
        "0.0.8713"
        in t.loc[
            (t.method == "beta-VAE-1") & (t.dataset == "mnist") & (t.metric == "precision_macro"),
            "note",
        ].iloc[0]
    )


def test_loader_filters_and_errors() -> None:
    rows = load_published(paper="mullick2019gamo", dataset="fashion_mnist", metric="acsa")
    assert len(rows) > 0 and set(rows["metric"]) == {"acsa"}
    assert len(load_published(paper="karmakar2019ados", ratio=100)) == 45
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['year'\]"):
        load_published(year=2019)
    with pytest.raises(ValueError, match="no published row with paper='nobody'"):
        load_published(paper="nobody")
