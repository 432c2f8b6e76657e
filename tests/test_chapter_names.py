"""One name per method in the chapters: every method a chapter or profile names is registered,
the old second names are gone from the chapters' code, and chapter 5 quotes the new names."""

from __future__ import annotations

import ast

import nbformat
import numpy as np
import pandas as pd
import pytest

from imbnb.book import discover_chapters, resolve_parameters
from imbnb.book.gamo_chapter import Table1Plan, table1_numbers
from imbnb.book.runner import notebook_parameters
from imbnb.methods import catalog

#: The names issue 24 retired (chapters 5, 6-7, 9); chapter 3's BL and BL+CW keep theirs.
RETIRED = {
    "05_gamo": {"CN", "SMOTE+CN", "GAMO\\D"},
    "06_deepsmote": {"Baseline"},
    "07_weighted_calibration": {"Baseline"},
    "09_loss_baselines": {"BL", "BL+CW"},
}
METHOD_PARAMETERS = ("methods", "count_methods", "baselines")
CHAPTERS = {c.stem: c for c in discover_chapters()}


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_method_a_profile_names_is_registered(profile: str) -> None:
    for chapter in CHAPTERS.values():
        defaults = notebook_parameters(chapter.source)
        values = {k: ast.literal_eval(v["default"]) for k, v in defaults.items()}
        values.update(resolve_parameters(chapter, profile))  # what the chapter runs with
        for key in METHOD_PARAMETERS:
            for name in values.get(key) or ():
                assert catalog.get(name).name == name, (chapter.stem, key)


@pytest.mark.parametrize("stem", sorted(RETIRED))
def test_chapter_code_uses_no_retired_name(stem: str) -> None:
    nb = nbformat.read(CHAPTERS[stem].source, as_version=4)
    strings = {
        node.value
        for cell in nb.cells
        if cell.cell_type == "code"
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not strings & RETIRED[stem]


def test_table1_numbers_reads_the_registry_names() -> None:
    methods = list(catalog.names("gamo"))
    plan = Table1Plan(["fashion_mnist"], [0], ["ls"], methods, {}, steps=1, batch_size=2, lr=1.0)
    rows = [
        {"dataset": "fashion_mnist", "loss": "LS", "method": m, "seed": 0, "seconds": i + 1.0,
         "acsa": i / 10, "gmean": i / 20, **{f"recall_c{c}": i / 4 for c in range(10)}}
        for i, m in enumerate(methods)
    ]  # fmt: skip
    results = pd.DataFrame(rows)
    summary = results.groupby(["dataset", "loss", "method"], sort=False)[["acsa", "gmean"]].mean()
    summary.columns = ["acsa_mean", "gmean_mean"]
    out = table1_numbers(plan, results, summary)
    at = {m: i for i, m in enumerate(methods)}
    for method, tag in [("GAMO-CN", "cn"), ("GAMO-SMOTE+CN", "smote"), ("GAMO-noD", "gamod")]:
        assert out[f"{tag}_acsa"] == pytest.approx(at[method] / 10)
    assert out["cn_seconds"] == at["GAMO-CN"] + 1.0
    assert out["smallest_recall_cn"] == at["GAMO-CN"] / 4
    assert np.isfinite(out["gamo_seconds"])
