"""The GPU bundle (benchmarks/gpu_bundle.py) and a sweep on a machine without the book toolchain.

A bare GPU machine has torch, numpy, scipy, scikit-learn, pandas, pyarrow, pyyaml and tqdm but
no imbalanced-learn, platformdirs, papermill, nbformat, Jupyter Book, faiss, Ray or mlxtend,
and no Fashion-MNIST files: ``PYTHONPATH=src:gpu-bundle/site`` must be enough to sweep there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
#: what the bare GPU machine lacks and the bundle does not carry: must never be imported
BLOCKED = (
    "papermill",
    "nbformat",
    "jupyter_book",
    "myst_nb",
    "faiss",
    "ray",
    "mlxtend",
    "torchvision",
    "IPython",
    "ipykernel",
)
#: what the bundle carries: importable only from its site folder
BUNDLED = ("imblearn", "sklearn_compat", "platformdirs")
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: one tiny real run (the shape of tests/test_experiments.py)
GRID = {
    "blocks": [
        {
            "base": {
                "dataset": "fashion_mnist",
                "protocol": "minority",
                "n_train": 1000,
                "n_test": 10,
                "profile": "test",
            },
            "params": {"family:feature_space": {"epochs": 1, "head": {"epochs": 2}}},
            "grid": {"ratio": [10], "seed": [0], "method": ["BL"]},
        }
    ]
}


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "gpu_bundle", REPO / "benchmarks" / "gpu_bundle.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_bundle = _load_script()
HAVE_DATA = gpu_bundle.fashion_mnist_files() is not None


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "gpu-bundle"
    gpu_bundle.build(out, with_data=HAVE_DATA)
    return out


# ------------------------------------------------------------------------------- the bundle


def test_bundle_holds_the_packages_and_the_data_under_48_mib(bundle) -> None:
    size = gpu_bundle.folder_bytes(bundle)
    assert size < 48 * 2**20
    site = bundle / "site"
    for top in BUNDLED:
        assert (site / top / "__init__.py").is_file(), top
    assert not list(site.rglob("__pycache__")) and not list(site.rglob("*.pyc"))
    assert not [p for p in site.rglob("*") if p.suffix in (".so", ".pyd")]
    readme = (bundle / "README.md").read_text()
    assert "imbalanced-learn" in readme and "scikit-learn" in readme and "MiB" in readme
    assert "--gpus-per-run 0.125" in readme and "IMBNB_CACHE=/tmp/imbnb-cache" in readme
    if not HAVE_DATA:
        pytest.skip("Fashion-MNIST IDX files are not on this machine")
    data = bundle / "data" / "fashion-mnist"
    assert sorted(p.name for p in data.iterdir()) == sorted(IDX_FILES)
    assert all((data / n).read_bytes()[:2] == b"\x1f\x8b" for n in IDX_FILES)  # gzip


def test_bundle_refuses_compiled_packages_and_foreign_folders(tmp_path) -> None:
    with pytest.raises(ValueError, match="not pure Python"):
        gpu_bundle.distribution_files("numpy")
    with pytest.raises(ValueError, match="not installed"):
        gpu_bundle.distribution_files("no-such-distribution-imbnb")
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a bundle"):
        gpu_bundle.build(tmp_path, with_data=False)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    out = tmp_path / "b"
    gpu_bundle.build(out, with_data=False)
    gpu_bundle.build(out, with_data=False)  # a bundle is replaced
    assert (out / "site" / "imblearn" / "__init__.py").is_file()


# ------------------------------------------------------------------ a sweep on a bare machine

#: run first in the child: the bare machine's imports (nothing of the book toolchain; the
#: bundled packages only from the bundle's site folder)
_FINDER = textwrap.dedent(
    """
    import importlib.machinery, os, sys
    BLOCKED = set(os.environ["BLOCKED"].split(","))
    BUNDLED = set(os.environ["BUNDLED"].split(","))
    SITE = os.environ["BUNDLE_SITE"]

    class BareMachine:
        @staticmethod
        def find_spec(name, path=None, target=None):
            top = name.partition(".")[0]
            if top in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (bare machine)", name=name)
            if top not in BUNDLED:
                return None
            where = [SITE] if name == top else list(path or [])
            if not all(os.path.abspath(p).startswith(SITE) for p in where):
                raise ModuleNotFoundError(f"{name} outside the bundle: {where}", name=name)
            spec = importlib.machinery.PathFinder.find_spec(name, where)
            if spec is None:
                raise ModuleNotFoundError(f"No module named {name!r} in the bundle", name=name)
            return spec

    sys.meta_path.insert(0, BareMachine)
    """
)


def _bare_env(bundle: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("IMBNB_CACHE", None)
    env.update(
        PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{bundle / 'site'}",
        IMBNB_DATA=str(bundle / "data" / "fashion-mnist"),
        BLOCKED=",".join(BLOCKED),
        BUNDLED=",".join(BUNDLED),
        BUNDLE_SITE=str((bundle / "site").resolve()),
        **extra,
    )
    return env


def _run_bare(code: str, bundle: Path, tmp_path: Path, timeout: int):
    """Run ``code`` in a child set up like the bare GPU machine (see ``_bare_env``)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=_bare_env(bundle, IMBNB_CACHE=str(tmp_path / "cache")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_sweep_runs_without_the_book_toolchain_from_the_bundle(bundle, tmp_path) -> None:
    if not HAVE_DATA:
        pytest.skip("Fashion-MNIST IDX files are not on this machine")
    grid, store = tmp_path / "grid.yaml", tmp_path / "gpu.parquet"
    grid.write_text(yaml.safe_dump(GRID))
    code = _FINDER + textwrap.dedent(
        f"""
        import json
        from imbnb.cli import main
        status = main(["sweep", {str(grid)!r}, "--store", {str(store)!r}, "--no-progress"])
        from imbnb.experiments import ResultsStore
        import imblearn, platformdirs, sklearn_compat
        print("RESULT", json.dumps({{
            "status": status,
            "rows": len(ResultsStore({str(store)!r}).load()),
            "blocked": sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED),
            "origins": [m.__file__ for m in (imblearn, platformdirs, sklearn_compat)],
        }}))
        """
    )
    proc = _run_bare(code, bundle, tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["status"] == 0, proc.stderr[-4000:]
    assert result["rows"] == 1
    assert result["blocked"] == []
    site = str((bundle / "site").resolve())
    assert all(Path(o).resolve().is_relative_to(site) for o in result["origins"])
    assert "1 of 1 runs stored" in proc.stdout


def test_experiment_commands_import_no_book_toolchain(bundle, tmp_path) -> None:
    """``imbnb store``/``cache``/``sweep --help`` parse and run with the toolchain blocked."""
    code = _FINDER + textwrap.dedent(
        """
        import contextlib, io
        from imbnb.cli import main
        assert main(["cache", "clear"]) == 0
        assert main(["store", "verify", "missing.parquet"]) == 2
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
            main(["sweep", "--help"])
        assert "--gpus-per-run" in out.getvalue(), out.getvalue()
        import imbnb.metrics, imbnb.oversample, imbnb.experiments
        bad = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
        assert not bad, bad
        """
    )
    proc = _run_bare(code, bundle, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "removed 0 cached entries" in proc.stdout
    assert "missing.parquet does not exist" in proc.stderr


# --------------------------------------------------------------------------- the CLI option


def test_gpus_per_run_reaches_sweep_only_when_given(tmp_path, monkeypatch) -> None:
    from imbnb.cli import main

    calls = []

    def fake_sweep(configs, store, **kw):
        calls.append(kw)
        return list(configs)

    monkeypatch.setattr("imbnb.experiments.sweep", fake_sweep)
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "cache"))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    store = str(tmp_path / "r.parquet")
    assert main(["sweep", str(grid), "--store", store, "--gpus-per-run", "0.125"]) == 0
    assert main(["sweep", str(grid), "--store", store]) == 0
    assert calls[0]["gpus_per_run"] == 0.125
    assert calls[1].get("gpus_per_run") is None


# ------------------------------------------------------------------ no platformdirs needed


def test_default_dirs_without_platformdirs_follow_xdg(tmp_path, monkeypatch) -> None:
    from imbnb.cache import cache_dir
    from imbnb.data import data_dir

    if sys.platform.startswith("linux"):  # the fallback is what platformdirs gives on Linux
        monkeypatch.delenv("IMBNB_CACHE", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "with"))
        with_pd = (cache_dir(), data_dir())
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # import platformdirs now fails
    monkeypatch.delenv("IMBNB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "with"))
    assert cache_dir() == tmp_path / "with" / "imbnb"
    assert data_dir() == tmp_path / "with" / "imbnb" / "datasets"
    if sys.platform.startswith("linux"):
        assert (cache_dir(), data_dir()) == with_pd
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "imbnb"
    assert data_dir() == tmp_path / "home" / ".cache" / "imbnb" / "datasets"
    monkeypatch.setenv("IMBNB_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"  # the variable still wins
