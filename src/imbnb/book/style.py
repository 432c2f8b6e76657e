"""How every chapter looks: seaborn's theme for figures, and tables shown whole.

pandas elides a table past 60 rows or 20 columns (a "..." row or column), and a cell's text
past 50 characters; on a static book page nothing can expand them, so a results table would
lose most of its methods and a table of method descriptions the end of each sentence.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["MAX_TABLE_ROWS", "set_book_style"]

#: Tables up to this many rows are shown whole; a longer one does not belong on a page.
MAX_TABLE_ROWS = 500


def set_book_style() -> None:
    """Seaborn's whitegrid theme, and pandas showing every row (up to ``MAX_TABLE_ROWS``),
    every column and every cell's whole text of a displayed table."""
    import seaborn as sns  # here, not at import: the `imbnb` command needs no plotting

    sns.set_theme(style="whitegrid", context="notebook")
    pd.set_option("display.max_rows", MAX_TABLE_ROWS)
    pd.set_option("display.min_rows", MAX_TABLE_ROWS)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", None)
