"""The papermill runner, profiles, CLI, paths and banner (toy notebooks; fast but real kernels)."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from imbnb import paths
from imbnb.book import (
    BookBuildError,
    ProfileError,
    UnknownChapterError,
    UnknownParameterError,
    banner_text,
    build_book,
    copy_book_sources,
    discover_chapters,
    load_profiles,
    notebook_parameters,
    resolve_parameters,
    run_chapters,
    select_chapters,
)
from imbnb.book.build import toc_files
from imbnb.book.cli import main
from imbnb.book.parameters import parse_value

REPO = paths.repo_root()


def _notebook(path: Path, params: str, *cells: str) -> Path:
    """Write a toy chapter: a parameters cell, then code cells."""
    first = new_code_cell(params)
    first.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_markdown_cell("# Toy"), first, *map(new_code_cell, cells)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A fake repository with two toy chapters: one fine, one failing in its third cell."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    params = 'profile = "quick"  # the profile\nalpha = 1  # a knob\nname = "x"  # a label'
    _notebook(nbs / "01_toy.ipynb", params, "result = alpha * 10\nprint('result', result)")
    _notebook(
        nbs / "02_fail.ipynb", "beta = 2  # another knob", "x = beta", "raise ValueError('boom')"
    )
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    return tmp_path


def _outputs(nb_path: Path) -> str:
    """All stream text of an executed notebook."""
    nb = nbformat.read(nb_path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_override_reaches_the_notebook_and_injected_cell_is_hidden(toy: Path) -> None:
    out = toy / "out"
    [res] = run_chapters(
        ["1"], notebooks=toy / "notebooks", out_dir=out, overrides={"alpha": 7}, progress=False
    )
    assert res.ok, res.error
    assert res.parameters == {"profile": "quick", "alpha": 7}
    assert "result 70" in _outputs(out / "01_toy.ipynb")
    nb = nbformat.read(out / "01_toy.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    assert nb.metadata["imbnb"]["profile"] == "quick"
    assert nb.metadata["papermill"]["duration"] > 0
    assert (out / "provenance.md").read_text().count("| 01_toy |") == 1


def test_unknown_parameter_is_an_error_listing_the_parameters(toy: Path) -> None:
    with pytest.raises(UnknownParameterError) as err:
        run_chapters(["1"], notebooks=toy / "notebooks", out_dir=toy / "o", overrides={"alhpa": 3})
    message = str(err.value)
    assert "alhpa" in message
    assert "alpha = 1  # a knob" in message and "name = " in message
    assert not (toy / "o" / "01_toy.ipynb").exists()  # nothing ran


def test_failure_names_chapter_and_cell_and_keeps_other_outputs(toy: Path) -> None:
    out = toy / "out"
    messages: list[str] = []
    results = run_chapters(
        notebooks=toy / "notebooks", out_dir=out, progress=False, log=messages.append
    )
    ok, failed = results
    assert ok.ok and not failed.ok
    assert (out / "01_toy.ipynb").exists()  # the other chapter's output is kept
    assert "02_fail" in failed.error and "cell" in failed.error
    assert "raise ValueError('boom')" in failed.error and "ValueError: boom" in failed.error
    assert failed.output == out / "failed" / "02_fail.ipynb" and failed.output.exists()
    assert not (out / "02_fail.ipynb").exists()  # no broken chapter for the book build
    assert messages == [failed.error]


def test_cli_exits_nonzero_on_failure(toy: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("IMBNB_ROOT", str(toy))
    status = main(["book", "run", "--chapter", "2", "--out", str(toy / "out"), "--no-progress"])
    assert status == 1
    assert "02_fail failed in cell" in capsys.readouterr().err
    assert main(["book", "run", "--chapter", "1", "--out", str(toy / "o2"), "--no-progress"]) == 0
    status = main(["book", "run", "--chapter", "1", "-p", "gamma", "3", "--no-progress"])
    assert status == 2
    assert "gamma" in capsys.readouterr().err


def test_chapter_selection(toy: Path) -> None:
    nbs = toy / "notebooks"
    assert [c.stem for c in select_chapters(["02"], nbs)] == ["02_fail"]
    assert [c.stem for c in select_chapters(["02_fail", 1], nbs)] == ["01_toy", "02_fail"]
    with pytest.raises(UnknownChapterError, match="01 \\(01_toy\\)|1 \\(01_toy\\)"):
        select_chapters(["7"], nbs)


def test_parse_value_reads_yaml() -> None:
    assert parse_value("n", "20") == 20
    assert parse_value("n", "0.5") == 0.5
    assert parse_value("n", "[1, 10]") == [1, 10]
    assert parse_value("n", "null") is None
    assert parse_value("n", "tsne") == "tsne"
    with pytest.raises(ValueError, match=r"-p epochs: '\[10,' is not a valid value"):
        parse_value("epochs", "[10,")


def test_repo_root_does_not_depend_on_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("IMBNB_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.repo_root() == REPO
    assert paths.notebooks_dir() == REPO / "notebooks"
    assert paths.chapters_dir() == REPO / "book" / "chapters"
    monkeypatch.setenv("IMBNB_ROOT", str(tmp_path))
    assert paths.repo_root() == tmp_path.resolve()
    monkeypatch.setenv("IMBNB_ROOT", str(tmp_path / "missing"))
    with pytest.raises(paths.RootNotFoundError):
        paths.repo_root()


def test_banner_states_profile_seeds_version_and_changes_only() -> None:
    text = banner_text(
        "smoke",
        [0, 1],
        {"profile": "smoke", "epochs": 1, "lr": 0.001},
        {"profile": "quick", "epochs": 5, "lr": 0.001},
        device="cpu (2 threads)",
    )
    assert "`smoke`" in text and "seeds 0, 1" in text and "cpu (2 threads)" in text
    assert "imbnb 0.1.0" in text or "imbnb " in text
    assert "`epochs=1`" in text and "lr" not in text and "profile=" not in text
    same = banner_text("quick", 0, {"epochs": 5}, {"epochs": 5}, device="cpu")
    assert "Re-run it" not in same  # only with the chapter named
    assert "seed 0" in same and "the chapter's defaults" in same
    assert "\n" not in text
    assert "results computed by this execution" in text
    read = banner_text(
        "paper", [0], {"results_source": "a.parquet", "lt_results_source": "b.parquet"}, {}
    )
    assert "results read from `a.parquet`, `b.parquet`" in read


def test_cpu_is_named_by_model_and_instruction_set(tmp_path: Path) -> None:
    import torch

    from imbnb import versions
    from imbnb.book.chapter_banner import describe_device

    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
        "model name\t:  AMD  EPYC 9654 96-Core Processor\n"
    )
    assert versions.cpu_model(info) == "AMD EPYC 9654 96-Core Processor"
    fallback = versions.cpu_model(tmp_path / "missing")  # no /proc: what platform knows
    assert fallback and fallback == versions.cpu_model(tmp_path / "missing")
    isa = torch.backends.cpu.get_cpu_capability()
    assert versions.cpu_description().endswith(f" with {isa}")
    if not torch.cuda.is_available():  # the banner says which kernels made the numbers
        assert describe_device().startswith(f"cpu ({versions.cpu_description()}, ")


# ---- the real chapters ---------------------------------------------------------------------


CHAPTERS = discover_chapters()


def test_there_are_chapters() -> None:
    assert [c.stem for c in CHAPTERS][:2] == ["01_motivation", "02_feature_learning"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_source_notebook_has_no_outputs(chapter) -> None:
    nb = nbformat.read(chapter.source, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{chapter.stem}: a cell has outputs"
            assert cell.execution_count is None, f"{chapter.stem}: a cell has an execution count"
    assert "papermill" not in nb.metadata


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_parameters_cell_is_commented_literals(chapter) -> None:
    nb = nbformat.read(chapter.source, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = notebook_parameters(chapter.source)
    assert "profile" in params and ("seeds" in params or "seed" in params)
    for name, info in params.items():
        assert info["help"], f"{chapter.stem}: parameter {name} has no comment"
        ast.literal_eval(info["default"])  # plain literals only


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_quick_profile_is_the_notebooks_own_defaults(chapter) -> None:
    """Written once: quick sets nothing, so the parameters cell is its only source."""
    assert resolve_parameters(chapter, "quick") == {"profile": "quick"}
    assert not load_profiles()["quick"]["chapters"]


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_profile_is_valid_for_every_chapter(profile: str) -> None:
    profiles = load_profiles()
    assert profiles[profile]["description"]
    for chapter in CHAPTERS:
        values = resolve_parameters(chapter, profile)
        assert values["profile"] == profile
        json.dumps(values)  # papermill needs JSON-able values
    with pytest.raises(ProfileError, match="unknown profile"):
        resolve_parameters(CHAPTERS[0], "fast")


def test_toc_lists_every_chapter_and_the_provenance_page() -> None:
    files = toc_files(REPO)
    for chapter in CHAPTERS:
        assert f"book/chapters/{chapter.stem}" in files
    assert "book/chapters/provenance" in files
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True


def test_build_refuses_missing_chapters(tmp_path: Path) -> None:
    copy_book_sources(tmp_path)
    assert not (tmp_path / "book" / "chapters" / "01_motivation.ipynb").exists()
    with pytest.raises(BookBuildError, match="01_motivation"):
        build_book(tmp_path)
    assert (tmp_path / "book" / "chapters" / "provenance.md").exists()


def test_mathjax_is_served_from_the_book_itself(tmp_path: Path) -> None:
    from imbnb.book.build import install_mathjax

    config = yaml.safe_load((REPO / "_config.yml").read_text())
    relative = config["sphinx"]["config"]["mathjax_path"]
    assert "://" not in relative  # no CDN: relative to the built book's _static/
    dest = install_mathjax(tmp_path / "_static")
    script = tmp_path / "_static" / relative
    assert script.is_file() and script.stat().st_size > 100_000
    assert (dest / "output" / "chtml" / "fonts" / "woff-v2").is_dir()  # the fonts it loads


def test_profiles_file_is_package_data() -> None:
    spec = Path(__import__("imbnb.book", fromlist=["x"]).__file__).parent / "profiles.yaml"
    assert spec.exists()
    assert os.path.getsize(spec) > 0


def test_book_style_shows_tables_whole() -> None:
    """pandas' defaults elide a 200 x 40 table ("..." cells); the book's style shows it all."""
    import matplotlib as mpl
    import pandas as pd

    from imbnb.book import MAX_TABLE_ROWS, set_book_style

    df = pd.DataFrame(np.arange(200 * 40).reshape(200, 40))
    text = pd.DataFrame({"description": ["random over- plus under-sampling " * 4 + "END"]})
    with (
        mpl.rc_context(),
        pd.option_context(
            "display.max_rows",
            60,
            "display.min_rows",
            10,
            "display.max_columns",
            20,
            "display.max_colwidth",
            50,
            "display.width",
            80,
        ),
    ):
        assert "<td>...</td>" in df._repr_html_()  # the defaults it replaces
        assert "END" not in text._repr_html_()
        set_book_style()
        html = df._repr_html_()
        assert "..." not in html and html.count("<tr") == 201 and "<td>7999</td>" in html
        assert "..." not in repr(df)
        assert "END</td>" in text._repr_html_()  # a long cell is shown whole
        assert "<td>...</td>" in pd.DataFrame(np.zeros((MAX_TABLE_ROWS + 1, 1)))._repr_html_()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_chapter_sets_the_book_style(chapter) -> None:
    nb = nbformat.read(chapter.source, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "set_book_style()" in code and "sns.set_theme" not in code
