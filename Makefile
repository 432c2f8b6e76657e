# Two commands on a fresh machine:  `make book` (execute every chapter under `paper`, build the book)
# and `make test` (the test suite CI runs). Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The book people read: every chapter under `paper`, from the committed tables (PROFILE=quick
# recomputes everything at small scale; PROFILE=smoke is the tests').
PROFILE ?= paper
FMNIST_DIR := /usr/share/datasets/fashion-mnist
# Idle OpenMP threads sleep instead of spinning: on 2 shared cores spinning slows torch a lot.
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY

.PHONY: book test setup data browser lint clean-cache gpu-bundle

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,dev,ray]'
	touch $@

setup: $(BIN)/.installed

# apt as root, or through sudo without a password (as on CI runners); else the recipe skips apt.
AS_ROOT = if [ "$$(id -u)" = 0 ]; then root=; elif sudo -n true 2>/dev/null; then root="sudo -n"; else exit 0; fi
APT_INSTALL = $$root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

# Fashion-MNIST from Debian's package when the files are missing and apt may install; otherwise
# the loader's other places (imbnb.data), and for `make book` a download (`imbnb data get`).
data:
	@if [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then \
	  $(AS_ROOT); echo "Installing Debian's dataset-fashion-mnist"; \
	  { $$root apt-get update -qq && $(APT_INSTALL) dataset-fashion-mnist; } \
	    || echo "apt could not install dataset-fashion-mnist: the loader looks elsewhere"; \
	fi

# Headless Chromium for the browser test (Debian's package; nothing downloads a browser).
browser:
	@if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then \
	  $(AS_ROOT); echo "Installing Debian's chromium"; \
	  { $$root apt-get update -qq && $(APT_INSTALL) chromium chromium-driver; } \
	    || echo "apt could not install chromium: the browser test skips"; \
	fi

book: setup data
	$(BIN)/imbnb data get --download
	$(BIN)/imbnb book run --profile $(PROFILE)
	$(BIN)/imbnb book build

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: setup data browser lint
	$(BIN)/python -m pytest

clean-cache: setup
	$(BIN)/imbnb cache clear

# What a bare GPU machine lacks, to carry with the working tree: pure-Python packages the core
# needs (imbalanced-learn, sklearn-compat, platformdirs) and the Fashion-MNIST files (README
# "Running on a bare GPU machine"). Writes gpu-bundle/ (git-ignored), under 48 MiB.
gpu-bundle: setup data
	$(BIN)/python benchmarks/gpu_bundle.py --out gpu-bundle
