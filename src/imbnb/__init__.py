"""imbnb: oversampling in deep feature space for imbalanced image classification.

The package behind the imbnb book; each module's docstring names the chapter that explains it.
"""

import os
import warnings

# On 2 cores shared with anything else, OpenMP threads that spin-wait between torch/BLAS calls
# slow training by an order of magnitude (measured in the loss chapter's runs); sleep instead.
# Takes effect when imbnb is imported before torch; the Makefile and runner set it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# In a Jupyter kernel without ipywidgets, tqdm.auto falls back to text bars and warns when it is
# imported; every chapter page would show that warning under its imports.
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"
