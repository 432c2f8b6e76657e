"""Write the bundle a bare GPU machine needs to sweep (README "Running on a bare GPU machine").

The GPU machine has Python, torch, numpy, scipy, scikit-learn, pandas, pyarrow, pyyaml, tqdm
and the plotting stack, but not the pure-Python packages the experiment layer imports
(imbalanced-learn and its helper sklearn-compat, platformdirs), no Fashion-MNIST files and no
network. This script writes a folder (default ``gpu-bundle/``, git-ignored) with:

- ``site/``: the installed files of :data:`DISTRIBUTIONS`, copied from this environment (no
  ``__pycache__``); a distribution with compiled extensions is refused, since this machine's
  binaries need not fit the GPU machine's Python;
- ``data/fashion-mnist/``: the four IDX ``.gz`` files, from where :mod:`imbnb.data` finds them
  (``$IMBNB_DATA`` and its ``fashion-mnist/`` folder, Debian's ``/usr/share/datasets/
  fashion-mnist``, torchvision's raw folder in the data dir); uncompressed files are gzipped;
- ``README.md``: what it holds, what those packages need, how to use it, its size.

It prints the size in MiB and fails above :data:`MAX_MIB` (the device tool carries 64 MiB).

Run: ``python benchmarks/gpu_bundle.py [--out gpu-bundle] [--no-data]`` or ``make gpu-bundle``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.metadata as md
import shutil
import sys
from pathlib import Path

from imbnb import data

#: pure-Python distributions the core imports that the GPU image lacks
DISTRIBUTIONS = ("imbalanced-learn", "sklearn-compat", "platformdirs")
#: what the bundle may weigh (the device tool carries 64 MiB with the working tree)
MAX_MIB = 48.0
#: file endings of compiled extensions: a distribution holding one is not pure Python
COMPILED = (".so", ".pyd", ".dylib", ".dll")
#: marks a folder this script wrote, so that a rebuild may replace it
MARKER = ".imbnb-gpu-bundle"
#: the four IDX files of Fashion-MNIST (without ``.gz``), by split
IDX_STEMS: dict[str, tuple[str, str]] = data._IDX_FILES

REPO = Path(__file__).resolve().parent.parent


def _mib(nbytes: int) -> float:
    return nbytes / 2**20


def folder_bytes(path: Path) -> int:
    """Total size of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def distribution_files(name: str) -> tuple[md.Distribution, list[tuple[Path, Path]]]:
    """(distribution, [(installed file, path relative to site-packages)]) without caches.

    Raises ``ValueError`` when ``name`` is not installed, lists no files, installs outside
    its site-packages folder, or holds a compiled extension.
    """
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        raise ValueError(f"{name} is not installed here (pip install {name})") from None
    if dist.files is None:
        raise ValueError(f"{name} {dist.version} lists no files (no RECORD): cannot copy it")
    root = Path(dist.locate_file("")).resolve()
    files: list[tuple[Path, Path]] = []
    for entry in dist.files:
        rel = Path(str(entry))
        if "__pycache__" in rel.parts or rel.suffix == ".pyc":
            continue
        if rel.parts and rel.parts[0] == "..":
            continue  # a console script in bin/: the bundle is imported, not installed
        if rel.name.endswith(COMPILED) or ".so." in rel.name:
            raise ValueError(
                f"{name} {dist.version} is not pure Python ({rel} is a compiled extension): "
                "its binary need not fit the GPU machine's Python; install it there instead"
            )
        source = root / rel
        if source.is_file():
            files.append((source, rel))
    if not files:
        raise ValueError(f"{name} {dist.version}: none of its listed files exists in {root}")
    return dist, files


def copy_distribution(name: str, site: Path) -> md.Distribution:
    """Copy the installed files of ``name`` into ``site`` (checked first, then copied)."""
    dist, files = distribution_files(name)
    for source, rel in files:
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dist


def fashion_mnist_files() -> dict[str, Path] | None:
    """``{file name: path}`` of the four IDX files where :mod:`imbnb.data` finds them."""
    dirs: list[Path] = []
    env = data._env_data()
    if env is not None:
        dirs += [env, env / "fashion-mnist", env / "FashionMNIST" / "raw"]
    dirs += [data.DEBIAN_FASHION_MNIST, data.data_dir() / "FashionMNIST" / "raw"]
    found: dict[str, Path] = {}
    for split, stems in IDX_STEMS.items():
        pair = data._find_idx_pair(dirs, split)
        if pair is None:
            return None
        for stem, path in zip(stems, pair, strict=True):
            found[stem + ".gz"] = path
    return found


def copy_fashion_mnist(files: dict[str, Path], target: Path) -> None:
    """Copy the IDX files into ``target`` as ``.gz`` (gzipping any uncompressed one)."""
    target.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        if source.suffix == ".gz":
            shutil.copy2(source, target / name)
        else:
            with open(source, "rb") as src, gzip.open(target / name, "wb", mtime=0) as dst:
                shutil.copyfileobj(src, dst)


def _requirements(dist: md.Distribution) -> list[str]:
    """The distribution's install requirements (none of its extras')."""
    return [r for r in dist.requires or [] if "extra" not in r.partition(";")[2]]


def _commit() -> str:
    """The checkout's commit (``+dirty`` when it has changes), or ``unknown``."""
    from imbnb.experiments.provenance import git_commit

    return git_commit() or "unknown"


def _shown(path: Path) -> str:
    """``path`` as the README's commands should name it: relative to the repo when inside."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path.resolve())


def readme(out: Path, dists: list[md.Distribution], data_files: dict[str, Path] | None) -> str:
    """The bundle's README.md (its size line is filled in by :func:`build`)."""
    shown = _shown(out)
    lines = [
        "# imbnb GPU bundle",
        "",
        f"Written by `benchmarks/gpu_bundle.py` (`make gpu-bundle`) on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from commit {_commit()}, "
        f"Python {sys.version.split()[0]}. Size: {{SIZE}}.",
        "",
        "What a bare GPU machine (Python, torch, numpy, scipy, scikit-learn, pandas, pyarrow,",
        "pyyaml, tqdm, matplotlib, seaborn; no network) lacks for `imbnb sweep`:",
        "",
        "## `site/`: pure-Python packages (put it on `PYTHONPATH`)",
        "",
        "Each copied from this machine's installed files; none holds a compiled extension",
        "(checked), so they import on any CPython 3 the packages support.",
        "",
    ]
    for dist in dists:
        name = dist.metadata["Name"]
        wheel = (dist.read_text("WHEEL") or "").strip().splitlines()
        tag = next((w.split(":", 1)[1].strip() for w in wheel if w.startswith("Tag:")), "?")
        needs = ", ".join(f"`{r}`" for r in _requirements(dist)) or "nothing"
        python = dist.metadata.get("Requires-Python") or "any"
        lines.append(
            f"- **{name} {dist.version}** (wheel tag `{tag}`, Python {python}); needs: {needs}"
        )
    lines += [
        "",
        "imbalanced-learn and sklearn-compat need the GPU machine's scikit-learn in the ranges",
        "above; imbnb itself needs scikit-learn >= 1.6 (`sklearn.utils.validation.validate_data`).",
        'Check there first: `python3 -c "import sklearn; print(sklearn.__version__)"`.',
        "joblib and threadpoolctl come with scikit-learn.",
        "",
    ]
    if data_files is None:
        lines += ["## `data/`: not included (built with `--no-data`)", ""]
    else:
        lines += [
            "## `data/fashion-mnist/`: the four Fashion-MNIST IDX files",
            "",
            *(f"- `{name}` (from `{path}`)" for name, path in data_files.items()),
            "",
        ]
    lines += [
        "## Use on the GPU machine",
        "",
        f'Carry the folder with the working tree (device tool: `carry: ["{shown}"]`), then',
        "from the repository root (absolute paths, so that pool and Ray workers find them too):",
        "",
        "```bash",
        f"export PYTHONPATH=$PWD/src:$PWD/{shown}/site "
        f"IMBNB_DATA=$PWD/{shown}/data/fashion-mnist IMBNB_CACHE=/tmp/imbnb-cache",
        f"export IMBNB_COMMIT={_commit()}  # the copy has no .git: the rows' commit",
        'python3 -c "import imbnb.experiments, imblearn, sklearn, torch; '
        'print(sklearn.__version__, torch.__version__, torch.cuda.is_available())"',
        "python3 -m imbnb.cli sweep book/grids/paper.yaml --store gpu.parquet "
        "--only generative --skip-stored book/data/results/paper.parquet "
        "--workers 8 --gpus-per-run 0.125",
        "```",
        "",
        "The `book` subcommands need papermill, nbformat and Jupyter Book and do not run",
        "there; `sweep`, `merge`, `splits`, `store` and `cache` do. Bring `gpu.parquet` back",
        "and add it to the results table with",
        "`imbnb merge gpu.parquet --into <results.parquet> --grid book/grids/paper.yaml`.",
        "",
    ]
    return "\n".join(lines).replace("$PWD//", "/")


def build(out: Path, *, with_data: bool = True) -> int:
    """Write the bundle into ``out``; return its size in bytes.

    ``out`` may be missing, empty, or a bundle written before (replaced); anything else is
    refused. Raises ``ValueError`` for a missing or compiled distribution, missing
    Fashion-MNIST files (unless ``with_data=False``) or a bundle over :data:`MAX_MIB`.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"{out} exists and is not a folder")
        if (out / MARKER).is_file():
            shutil.rmtree(out)
        elif any(out.iterdir()):
            raise ValueError(f"{out} exists, is not empty and is not a bundle: not replacing it")
    data_files = None
    if with_data:
        data_files = fashion_mnist_files()
        if data_files is None:
            raise ValueError(
                "Fashion-MNIST IDX files not found ($IMBNB_DATA, "
                f"{data.DEBIAN_FASHION_MNIST}, {data.data_dir() / 'FashionMNIST' / 'raw'}); "
                "point IMBNB_DATA at them or build with --no-data"
            )
    for name in DISTRIBUTIONS:
        distribution_files(name)  # every check before anything is written
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by benchmarks/gpu_bundle.py; replaced on rebuild\n")
    dists = [copy_distribution(name, out / "site") for name in DISTRIBUTIONS]
    if data_files is not None:
        copy_fashion_mnist(data_files, out / "data" / "fashion-mnist")
    text = readme(out, dists, data_files)
    size = folder_bytes(out) + len(text.encode())
    size_line = f"{_mib(size):.1f} MiB"  # the size line itself changes it by a few bytes
    (out / "README.md").write_text(text.replace("{SIZE}", size_line))
    size = folder_bytes(out)
    if _mib(size) > MAX_MIB:
        raise ValueError(f"the bundle in {out} is {_mib(size):.1f} MiB, over {MAX_MIB:g} MiB")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu-bundle", help="folder to write (default gpu-bundle)")
    parser.add_argument(
        "--no-data", action="store_true", help="leave out Fashion-MNIST (packages only)"
    )
    args = parser.parse_args(argv)
    try:
        size = build(Path(args.out), with_data=not args.no_data)
    except (ValueError, OSError) as err:
        print(f"gpu_bundle: error: {err}", file=sys.stderr)
        return 1
    print(f"{args.out}: {_mib(size):.1f} MiB (limit {MAX_MIB:g} MiB)")
    print(f"how to use it on the GPU machine: {args.out}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
