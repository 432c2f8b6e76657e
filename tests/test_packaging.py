"""Packaging by role: the library needs no notebook or book toolchain; the book is an extra."""

from __future__ import annotations

import tomllib
from pathlib import Path

from imbnb import paths

BOOK_ONLY = {"jupyter-book", "papermill", "ipykernel", "nbformat", "django-static-mathjax"}


def _name(requirement: str) -> str:
    for sep in "<>=!~[; ":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower()


def test_the_core_dependencies_hold_no_book_toolchain() -> None:
    project = tomllib.loads((paths.repo_root() / "pyproject.toml").read_text("utf-8"))["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not core & BOOK_ONLY, core & BOOK_ONLY
    assert BOOK_ONLY <= {_name(r) for r in extras["book"]}
    assert {"statsmodels", "baycomp", "autorank"} <= core  # the verdicts' statistics
    makefile = (paths.repo_root() / "Makefile").read_text("utf-8")
    assert "-e '.[book,dev,ray]'" in makefile  # make installs what its targets need


def test_pages_workflow_runs_only_the_readmes_book_command() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    flow = yaml.safe_load((root / ".github" / "workflows" / "pages.yml").read_text())
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    assert [s["run"] for s in steps if "run" in s] == ["make book"]
    assert "make book" in (root / "README.md").read_text()
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"
    # a runner is not root and has no Debian data package: `make book` gets the data itself
    makefile = (root / "Makefile").read_text("utf-8")
    recipe = makefile.split("\nbook:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert [line.split()[1:3] for line in recipe] == [
        ["data", "get"],
        ["book", "run"],
        ["book", "build"],
    ]
    assert recipe[0].endswith("--download")
    assert "sudo -n true" in makefile.split("\nAS_ROOT", 1)[1].splitlines()[0]


_BLOCKED_RUN = r"""
import importlib.abc, sys

BLOCKED = ("jupyter_book", "papermill", "django", "mathjax", "myst_nb", "nbformat", "ipykernel")


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None


sys.meta_path.insert(0, Block())

import numpy as np
from sklearn.dummy import DummyClassifier

import imbnb.oversample
from imbnb.experiments import RunConfig, register_estimator, run_config


class Majority:
    def __init__(self, seed):
        self.clf = DummyClassifier(strategy="most_frequent")

    def fit(self, images, labels):
        self.clf.fit(images.reshape(len(images), -1), labels)
        return self

    def predict(self, images):
        return self.clf.predict(images.reshape(len(images), -1))


X_res, y_res = imbnb.oversample.ADOS(random_state=0).fit_resample(
    np.random.default_rng(0).normal(size=(60, 3)), np.repeat([0, 1], [50, 10])
)
register_estimator("Majority-test", Majority, "the majority class")
row = run_config(RunConfig("Majority-test", ratio=10, seed=0, n_train=200, n_test=5))
assert row["family"] == "estimator" and 0 <= row["acsa"] <= 1, row
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("ok", len(y_res), round(row["acsa"], 3))
"""


def test_the_library_runs_a_registered_method_without_the_book_toolchain(tmp_path) -> None:
    """As after `pip install .`: jupyter-book, papermill, Django and the kernel cannot be imported,
    yet the samplers and the experiment layer work, a registered method included."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "IMBNB_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", _BLOCKED_RUN], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok "), out.stdout
