"""Estimators that hold only an algorithm (issue 24): DOS, GAMO, GAMO2pix and the DeepSMOTE
family of autoencoders, sklearn-style (``fit`` returns self, ``random_state``, learned
attributes end in ``_``), knowing nothing of datasets, caches, result rows or the book."""
