"""Small plotting helpers shared by chapters, one module per theme.

* :mod:`~imbnb.plotting.images`: image strips and grids of generated samples (chapters 6, 7);
* :mod:`~imbnb.plotting.toys`: 2-D Gaussian contours and chapter 5's classifier regions;
* :mod:`~imbnb.plotting.calibration`: chapter 7's weighted-calibration steps and knob sweep;
* :mod:`~imbnb.plotting.ados`: chapter 3's ADOS/SMOTE toy steps and adaptive ``k``;
* :mod:`~imbnb.plotting.ados_results`: chapter 3's metric-against-ratio and pseudo-feature
  panels;
* :mod:`~imbnb.plotting.results`: chapter 8's metric-against-ratio curves (one row of panels
  per method family) and average ranks with the critical difference;
* :mod:`~imbnb.plotting.losses`: chapter 9's per-class loss corrections and recall heat map;
* :mod:`~imbnb.plotting.ticks`: plain-number ticks on log axes.
"""

from imbnb.plotting.ados import (
    AdaptiveKCurve,
    AdosSmoteMarks,
    plot_adaptive_k,
    plot_ados_smote_steps,
)
from imbnb.plotting.ados_results import plot_methods_vs_ratio, plot_pseudo_feature_protocol
from imbnb.plotting.calibration import plot_calibration_steps, plot_knob_sweep
from imbnb.plotting.images import image_grid, tile
from imbnb.plotting.losses import (
    plot_class_corrections,
    plot_methods_by_setting,
    plot_recall_heatmap,
)
from imbnb.plotting.results import plot_ranks, plot_vs_ratio
from imbnb.plotting.ticks import log_ticks
from imbnb.plotting.toys import covariance_ellipse, plot_decision_panels

__all__ = [
    "AdaptiveKCurve",
    "AdosSmoteMarks",
    "covariance_ellipse",
    "image_grid",
    "log_ticks",
    "plot_adaptive_k",
    "plot_ados_smote_steps",
    "plot_calibration_steps",
    "plot_class_corrections",
    "plot_methods_by_setting",
    "plot_decision_panels",
    "plot_knob_sweep",
    "plot_methods_vs_ratio",
    "plot_pseudo_feature_protocol",
    "plot_ranks",
    "plot_recall_heatmap",
    "plot_vs_ratio",
    "tile",
]
