"""The figure data a sweep stores beside a run's row (``imbnb sweep --figures``), per method.

Each maker takes a stored run's config, gets the run's network again (from the cache where
this machine swept it, else trained anew from the same config) and returns what a chapter's
figures draw of it (:class:`~imbnb.experiments.figures.FigureData`): chapter 2's extractor
pictures (``CNN-h``), chapter 3's adaptive k and near-duplication (``ADOS``), chapter 4's DOS
rounds and embeddings (``DOS``), chapter 5's boundary analysis and GAMO2pix tiles (``GAMO``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from imbnb.experiments.config import RunConfig
from imbnb.experiments.figures import FigureData
from imbnb.experiments.registry import (
    dos_config,
    extractor_settings,
    settings_of,
    split_images,
)
from imbnb.methods.ados_figure import ADOSFigure
from imbnb.methods.dos import run_dos
from imbnb.methods.dos_figure import N_PLOT, DOSFigure
from imbnb.methods.extractor import train_extractor
from imbnb.methods.extractor_figure import N_PLOT as EXTRACTOR_N_PLOT
from imbnb.methods.extractor_figure import ExtractorFigure
from imbnb.methods.gamo import method_config, train_gamo
from imbnb.methods.gamo_figure import GAMOFigure, GAMOFigureSettings
from imbnb.train import torch_threads

__all__ = ["FIGURES", "GAMO_FIGURE", "figure_data"]


def _dos_figure(cfg: RunConfig) -> FigureData:
    """Chapter 4's figure data of a DOS run, from the network its run just trained (cached)."""
    arrays, meta = DOSFigure.from_run(run_dos(dos_config(cfg)), N_PLOT, cfg.seed).to_arrays()
    return FigureData(arrays, meta)


def _extractor_figure(cfg: RunConfig) -> FigureData:
    """Chapter 2's figure data of an extractor (its CNN-h run), both pictures of its
    embeddings, from the network the run just trained (cached)."""
    ex = train_extractor(cfg.dataset, extractor_settings(cfg))
    arrays, meta = ExtractorFigure.from_extractor(ex, EXTRACTOR_N_PLOT, cfg.seed).to_arrays()
    return FigureData(arrays, meta)


def _ados_figure(cfg: RunConfig) -> FigureData:
    """Chapter 3's figure data of an ADOS run's extractor (adaptive k, near-duplication, fit),
    from the network its run just trained (cached)."""
    ex = train_extractor(cfg.dataset, extractor_settings(cfg))
    figure = ADOSFigure.from_extractor(ex, settings_of(cfg)["rho_d"], cfg.seed)
    arrays, meta = figure.to_arrays()
    return FigureData(arrays, meta)


#: How a sweep's GAMO figure data is made: chapter 5's paper profile, the run's batch and seed.
GAMO_FIGURE = GAMOFigureSettings()


def _gamo_figure(cfg: RunConfig) -> FigureData:
    """Chapter 5's figure data of a GAMO run (the boundary analysis, GAMO2pix tiles), from the
    network its run just trained (cached), with the paper profile's figure settings."""
    d = split_images(cfg)
    model_cfg = method_config(cfg.method, seed=cfg.seed, **settings_of(cfg))
    model = train_gamo(d.X, d.y, model_cfg)
    how = replace(GAMO_FIGURE, batch_size=model_cfg.batch_size, seed=cfg.seed)
    arrays, meta = GAMOFigure.from_model(model, d.X, d.y, how).to_arrays()
    return FigureData(arrays, meta)


#: The methods whose runs store figure data when a sweep asks (``imbnb sweep --figures``).
FIGURES: dict[str, Callable[[RunConfig], FigureData]] = {
    "DOS": _dos_figure,
    "CNN-h": _extractor_figure,
    "GAMO": _gamo_figure,
    "ADOS": _ados_figure,
}


def figure_data(cfg: RunConfig) -> FigureData:
    """The figure data of stored run ``cfg`` (a method of :data:`FIGURES`, a final run), made
    single-threaded as the run itself was."""
    if cfg.method not in FIGURES or cfg.validation:
        raise ValueError(
            f"method {cfg.method!r} of a {'validation' if cfg.validation else 'final'} run makes "
            f"no figure data; figure data comes from final runs of {sorted(FIGURES)}"
        )
    with torch_threads(1):
        return FIGURES[cfg.method](cfg)
