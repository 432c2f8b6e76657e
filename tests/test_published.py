"""The one table of published numbers: well-formed rows, faithful transcriptions, the loader."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from imbnb import paths
from imbnb.book.gamo_chapter import paper_value
from imbnb.methods import catalog
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


def test_quoted_tables_keep_the_papers_labels() -> None:
    """A quoted table keeps its paper's labels; a chapter maps them to the book's one name.

    GAMO's Table 1 is matched through each registry entry's ``paper_name`` (chapter 5's
    :func:`~imbnb.book.gamo_chapter.paper_value`). Cao et al.'s plain cross-entropy row is their
    "ERM", which chapter 9 shows as CNN-CE through a one-entry mapping in its cell: the row is
    not called "BL", the name of chapter 3's different method (an MLP head on deep features).
    """
    gamo = load_published(paper="mullick2019gamo", table="Table 1")
    labels = {m.rsplit(" (", 1)[0] for m in gamo["method"]}
    for name in catalog.names("gamo"):
        assert catalog.get(name).paper_name in labels, name
    assert not {"GAMO-CN", "GAMO-SMOTE+CN", "GAMO-noD"} & labels  # the book's names, not quoted
    ldam = load_published(paper="cao2019ldam", table="Table 2")
    assert set(ldam["method"]) == {"ERM", "LDAM-DRW"}
    assert ldam.loc[ldam.method == "ERM", "note"].str.contains("CNN-CE").all()
    assert catalog.get("CNN-CE", "losses") and catalog.get("LDAM-DRW", "losses")
    with pytest.raises(ValueError):
        catalog.get("ERM")  # a paper's label, never a method's name


def test_gamo_rows_are_found_through_paper_names() -> None:
    pub = load_published(paper="mullick2019gamo", table="Table 1")
    assert paper_value(pub, "fashion_mnist", "CE", "GAMO-noD", "acsa") == "0.81 ± 0.01"
    assert paper_value(pub, "fashion_mnist", "LS", "GAMO", "gmean") == "0.81 ± 0.01"
    assert paper_value(pub, "mnist5k", "CE", "GAMO-SMOTE+CN", "acsa") == "0.88 ± 0.02"
    assert paper_value(pub, "fashion_mnist", "CE", "GAMO-SMOTE+CN", "acsa") == "–"  # Augment+CN
    assert paper_value(pub, "fashion_mnist", "CE", "GAMO-CN", "acsa") == "0.82 ± 0.01"
    with pytest.raises(ValueError, match="unknown method 'CN'"):
        paper_value(pub, "fashion_mnist", "CE", "CN", "acsa")
