"""The engine's conversions of raw values, value by value, for a few rows at a time.

Scoring one row (a prediction service's request, the Predict page) spends most of its time in
pandas' fixed cost per call, not in the values: a one-row Series goes through ``astype``,
``str.strip``, ``to_datetime`` and friends in about 0.1 ms each. For at most :data:`FEW_ROWS`
rows, :class:`automl.preprocess.Preprocessor` asks these functions first. Each gives exactly what
:mod:`automl.coltypes`' conversion gives for the column (the same floats, bit for bit, and the
same rows counted as unreadable), or ``None`` when a value is not one it is sure of (text with
spaces or unusual characters at its ends, a number written as text, a date written otherwise than
``2024-01-31``, a column type of pandas' extensions...): then the caller converts the whole
column with pandas as for any number of rows. ``tests/test_fewrows.py`` holds both ways equal.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from automl.coltypes import FALSE_WORDS, TRUE_WORDS

# Up to this many rows go value by value; more rows go through pandas, whose per-value cost is
# lower (measured on the churn sample's 11 columns: 1 row 0.3 ms this way against 5 ms with pandas;
# the two cost the same near 200 rows)
FEW_ROWS = 64

_ISO_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_WORDS = re.compile(r"\S+")
_EPOCH = date(1970, 1, 1).toordinal()
# dates of these years are read the same whatever the time unit pandas picks
_FIRST_YEAR, _LAST_YEAR = 1700, 2200
_DAY_FORMATS = (None, "%Y-%m-%d")
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "days")


def _numeric(s: pd.Series) -> bool:
    """A NumPy column of booleans or numbers (not one of pandas' nullable extension types)."""
    return isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf"


def _values(s: pd.Series) -> list[Any] | None:
    """The Python values of a column of objects or text (None for any other column)."""
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        return s.tolist()
    return None


def _missing(v: Any) -> bool:
    """What pandas counts as missing among the values this module reads."""
    return v is None or v is pd.NA or (type(v) is float and v != v)


def _plain_ends(text: str) -> bool:
    """Whether ``text`` starts and ends with a letter, digit or visible ASCII sign, so that
    stripping spaces (pandas' and Python's ideas of a space differ) leaves it as it is."""
    a, b = text[0], text[-1]
    return (a.isalnum() or "!" <= a <= "~") and (b.isalnum() or "!" <= b <= "~")


def texts(s: pd.Series) -> list[str | None] | None:
    """``coltypes.as_text(s)`` as a list: stripped text, None where missing (or empty)."""
    if _numeric(s) and s.dtype.kind in "iu":
        return [str(v) for v in s.tolist()]
    values = _values(s)
    if values is None:
        return None
    out: list[str | None] = []
    for v in values:
        if type(v) is str:
            if not v:
                out.append(None)
            elif _plain_ends(v):
                out.append(v)
            else:
                return None
        elif _missing(v):
            out.append(None)
        else:
            return None
    return out


def numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``coltypes.to_number(s)`` as float64, and the rows whose value is there but unreadable."""
    if not _numeric(s):
        return None
    out = s.to_numpy(dtype="float64", copy=True)
    return out, np.zeros(len(out), dtype=bool)


def booleans(s: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``coltypes.to_boolean(s)`` as float64 (1, 0, NaN), and the rows whose value is there
    but unreadable."""
    if _numeric(s):
        return numbers(s)
    values = _values(s)
    if values is None:
        return None
    out = np.full(len(values), np.nan)
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if type(v) is bool:
            out[i] = 1.0 if v else 0.0
        elif type(v) is str:
            if v and not (_plain_ends(v) and v.isascii()):
                return None
            low = v.lower()
            if low in TRUE_WORDS:
                out[i] = 1.0
            elif low in FALSE_WORDS:
                out[i] = 0.0
            else:
                bad[i] = True
        elif not _missing(v):
            return None
    return out, bad


def category_codes(s: pd.Series, lookup: dict[str, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Each value's position among the learned categories (``lookup``: category -> position),
    -1 where it is not one of them, and the rows whose value is missing."""
    text = texts(s)
    if text is None:
        return None
    codes = np.asarray([-1 if t is None else lookup.get(t, -1) for t in text], dtype="float64")
    return codes, np.asarray([t is None for t in text], dtype=bool)


def date_parts(
    s: pd.Series, fmt: str | None, has_time: bool
) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """The parts :class:`automl.preprocess.Preprocessor` makes of a date column (year, month,
    day, day of week, day of year, days since 1970, and hour when it learned times), each as
    float64, NaN where missing; and the rows whose value is there but unreadable. Only days
    written ``2024-01-31`` (and missing values) are read here."""
    if fmt not in _DAY_FORMATS:
        return None
    values = _values(s)
    if values is None:
        return None
    n = len(values)
    names = DATE_PARTS + (("hour",) if has_time else ())
    parts = {name: np.full(n, np.nan) for name in names}
    for i, v in enumerate(values):
        if _missing(v):
            continue
        m = _ISO_DAY.fullmatch(v) if type(v) is str else None
        if m is None:
            return None
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if not _FIRST_YEAR <= year <= _LAST_YEAR:
            return None
        try:
            d = date(year, month, day)
        except ValueError:
            return None
        parts["year"][i] = year
        parts["month"][i] = month
        parts["day"][i] = day
        parts["dayofweek"][i] = d.weekday()
        parts["dayofyear"][i] = d.timetuple().tm_yday
        parts["days"][i] = d.toordinal() - _EPOCH
        if has_time:
            parts["hour"][i] = 0.0
    return parts, np.zeros(n, dtype=bool)


def word_counts(text: list[str]) -> np.ndarray:
    """How many words (runs of non-spaces) each text has, as ``str.count(r"\\S+")`` counts."""
    return np.asarray([len(_WORDS.findall(t)) for t in text], dtype="float64")


def text_lengths(text: list[str]) -> np.ndarray:
    return np.asarray([len(t) for t in text], dtype="float64")


__all__ = [
    "FEW_ROWS",
    "booleans",
    "category_codes",
    "date_parts",
    "numbers",
    "text_lengths",
    "texts",
    "word_counts",
]
