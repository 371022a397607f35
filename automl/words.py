"""Plain words for numbers and values in messages an analyst reads: "1 row", "2,000 rows",
"5" for ``np.float64(5.0)``. No dependencies beyond the standard library, so every layer (and
``automl.coltypes`` at the bottom) can use it."""

from __future__ import annotations

import contextlib
import math
from typing import Any


def plural(n: int | float, word: str, words: str | None = None) -> str:
    """``plural(1, "row")`` -> "1 row", ``plural(2000, "row")`` -> "2,000 rows";
    ``words`` for irregular plurals ("1 series", "3 series")."""
    count = int(n)
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def rows_text(n: int | float) -> str:
    return plural(n, "row")


def show_value(value: Any, limit: int = 40) -> str:
    """A cell value as a person writes it: 5 (not np.float64(5.0)), 0.25, 'yes', 2024-01-31,
    "missing"; long text is cut at ``limit`` characters."""
    if value is None:
        return "missing"
    if getattr(getattr(value, "dtype", None), "kind", None) in ("m", "M"):  # numpy times
        return str(value).replace("T", " ").split(".")[0].removesuffix(" 00:00:00")
    if hasattr(value, "item") and callable(value.item):  # numpy scalars -> Python values
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "missing"
        if value.is_integer() and abs(value) < 1e15:
            return show_value(int(value))
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if hasattr(value, "isoformat"):  # dates and times
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text.replace("T", " ")
    text = str(value)
    return f"'{text[:limit]}...'" if len(text) > limit else f"'{text}'"


# what a model predicts, in words (its problem type; a task name for tabular models)
PROBLEM_WORDS = {
    "binary": "2 categories",
    "multiclass": "3 or more categories",
    "regression": "a number",
    "timeseries": "a time series forecast",
}
