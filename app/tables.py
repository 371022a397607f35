"""Tables sized to their rows.

Streamlit shows at most ten rows of a table and scrolls the rest inside it, which hides rows
(the eleventh dataset on Home, the metrics at the bottom of a model comparison) from anyone who
does not think of scrolling inside a table. :func:`show_table` makes the table as tall as its
rows, up to :data:`MAX_ROWS`, and says so under the table when there are more.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

MAX_ROWS = 30  # rows shown at once; a longer table scrolls, with a note under it
ROW_PX = 35  # Streamlit's row height (the header row has the same)


def table_height(rows: int, max_rows: int = MAX_ROWS) -> int:
    """The height in pixels that shows ``rows`` rows (at most ``max_rows``) and the header."""
    return (min(max(rows, 1), max_rows) + 1) * ROW_PX + 3


def show_table(
    df: pd.DataFrame, *, what: str = "rows", max_rows: int = MAX_ROWS, **kwargs: Any
) -> None:
    """``st.dataframe`` as tall as its rows (up to ``max_rows``, then a note under it)."""
    st.dataframe(df, height=table_height(len(df), max_rows), **kwargs)
    if len(df) > max_rows:
        st.caption(
            f"The table shows {max_rows} of its {len(df):,} {what} at a time: scroll inside it "
            "to see the rest."
        )
