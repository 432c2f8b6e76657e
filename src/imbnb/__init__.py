"""imbnb: oversampling in deep feature space for imbalanced image classification.

The package behind the imbnb book; each module's docstring names the chapter that explains it.
"""

__version__ = "0.1.0"
