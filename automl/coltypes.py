"""Column typing: decide what each column is, so the right preparation applies.

Rules (applied in this order; the user can override any column with ``column_types=``):

1. ``constant``   -- at most one distinct non-missing value (an all-missing column is constant).
2. ``boolean``    -- a bool dtype, or exactly two distinct values that spell yes/no, true/false,
                     y/n, t/f or 0/1 (case-insensitive).
3. ``datetime``   -- a datetime dtype, or text of which at least 90% parses as dates.
4. ``numeric``    -- a numeric dtype, or text of which at least 95% parses as numbers.
   An integer column whose values are all distinct and that is named like a key
   (``id``, ``*_id``, ``key``, ``uuid``, ``*_no`` ...) or counts up with few gaps is ``identifier``.
5. ``text``       -- free text: on average at least 4 words per value and mostly distinct values.
6. ``identifier`` -- text where at least 95% of the values are distinct (keys, names, codes).
7. ``categorical``-- everything else.

Duplicated rows do not hide a key: in :func:`infer_types`, a column named like a key whose values
are distinct once the rows that repeat an earlier row are set aside is ``identifier`` too (when
at most 10% of the rows are such repeats). The name is required: in a narrow table, setting
repeated rows aside can leave any column's values distinct.

``identifier`` and ``constant`` columns are not used for training; the reason is recorded.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.errors import DataError, ParameterError
from automl.words import show_value

COLUMN_TYPES = (
    "numeric",
    "categorical",
    "boolean",
    "datetime",
    "text",
    "identifier",
    "constant",
    "excluded",
)
USABLE_TYPES = ("numeric", "categorical", "boolean", "datetime", "text")

TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "0", "0.0"})
_ID_NAME = re.compile(r"(^|[_\s-])(id|key|uuid|guid|no|number|nr|code)$|^id[_\s-]|Id$", re.I)

TYPING_SAMPLE_ROWS = 20_000
DATE_PARSE_SHARE = 0.90
NUMBER_PARSE_SHARE = 0.95
IDENTIFIER_DISTINCT_SHARE = 0.95
# at most this share of rows may repeat an earlier row for a key-named column to be judged on the
# other rows (a file with a few duplicated records, not a table where every key repeats)
REPEATED_ROWS_SHARE = 0.10
TEXT_MIN_WORDS = 4.0


@dataclass
class ColumnInfo:
    """What Easel decided about one column, and why."""

    name: str
    type: str
    reason: str
    missing: int
    distinct: int
    overridden: bool = False

    @property
    def used(self) -> bool:
        return self.type in USABLE_TYPES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_text_dtype(s: pd.Series) -> bool:
    return bool(
        pd.api.types.is_object_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
        or isinstance(s.dtype, pd.CategoricalDtype)
    )


def check_text(df: pd.DataFrame) -> None:
    """A clear :class:`DataError` for text that is not valid Unicode (a lone surrogate, as a
    wrong decoding or a JSON escape such as \\ud800 leaves): text columns are stored as UTF-8, so
    such a value would fail deep inside typing or prediction. Only text columns are looked at."""
    for col in df.columns:
        s = df[col]
        if not isinstance(s, pd.Series) or not pd.api.types.is_object_dtype(s.dtype):
            continue
        if len(s) <= _FEW_TEXT_ROWS:  # a few rows: each value, without pandas' fixed cost
            values = s.tolist()
            if set(map(type, values)) <= _PLAIN_TYPES and all(
                _encodes(v) for v in values if type(v) is str
            ):
                continue
        try:
            s.astype("string")
        except UnicodeEncodeError:
            for i, v in enumerate(s.tolist()):
                if isinstance(v, str) and not _encodes(v):
                    raise DataError(
                        f"Column '{col}', row {i + 1}, holds text with characters that are not "
                        "valid (broken Unicode, often from reading a file with the wrong "
                        "encoding). Fix or remove that value, or save the file as UTF-8 and read "
                        "it again."
                    ) from None
            raise


_FEW_TEXT_ROWS = 64
_PLAIN_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_text(s: pd.Series) -> pd.Series:
    """Values as stripped strings; missing stays missing. Arrow holds the text, so stripping
    and the comparisons after it run over the whole column at once (not one value at a time)."""
    out = s.astype(_ARROW_TEXT).str.strip()
    return out.mask(out == "")


_ARROW_TEXT = pd.StringDtype("pyarrow")


def to_number(s: pd.Series) -> pd.Series:
    """Numbers from any column; values that cannot be read become NaN."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    text = as_text(s)
    return pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").astype("float64")


def to_boolean(s: pd.Series) -> pd.Series:
    """1.0 / 0.0 / NaN from any boolean-looking column.

    A numeric column keeps its numbers: one typed boolean because it held only 0 and 1 may later
    bring a 2 (a rare count), which is still a readable number, not a missing value.
    """
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    low = as_text(s).str.lower()
    out = np.full(len(s), np.nan)
    out[low.isin(TRUE_WORDS).fillna(False).to_numpy(bool)] = 1.0
    out[low.isin(FALSE_WORDS).fillna(False).to_numpy(bool)] = 0.0
    return pd.Series(out, index=s.index, dtype="float64")


def to_datetime(s: pd.Series, fmt: str | None = None) -> pd.Series:
    """Timestamps (timezone-naive) from any date-like column; unreadable values become NaT."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = s
    else:
        text = as_text(s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt:
                out = pd.to_datetime(text, format=fmt, errors="coerce")
            else:
                out = pd.to_datetime(text, errors="coerce", format="mixed")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def guess_date_format(sample: pd.Series) -> str | None:
    """A strftime format that reads the sample, if one common format does (fast path)."""
    text = as_text(sample).dropna().head(200)
    if text.empty:
        return None
    for fmt in (
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y/%m/%d",
        "%m/%d/%Y",
        "%d/%m/%Y",
        "%d.%m.%Y",
        "%m/%d/%Y %H:%M",
        "%Y-%m-%d %H:%M",
    ):
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().mean() >= 0.99:
            return fmt
    return None


def _looks_like_dates(text: pd.Series) -> bool:
    sample = text.dropna().head(500)
    if sample.empty:
        return False
    # Plain numbers are not dates, even if a parser would accept some of them.
    if pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5:
        return False
    if not sample.str.contains(r"\d", regex=True).all():
        return False
    return bool(to_datetime(sample).notna().mean() >= DATE_PARSE_SHARE)


def named_like_key(name: str) -> bool:
    """Whether a column name reads like a key: ``id``, ``*_id``, ``CustID``, ``key``, ``uuid``,
    ``*_no``, ``*_code`` ..."""
    return bool(_ID_NAME.search(name))


def _integer_identifier(name: str, num: pd.Series, n_rows: int) -> bool:
    values = num.dropna()
    if len(values) < 20 or not np.all(np.mod(values.to_numpy(), 1) == 0):
        return False
    if values.nunique() < len(values) or len(values) < 0.95 * n_rows:
        return False
    span = float(values.max() - values.min() + 1)
    return bool(_ID_NAME.search(name)) or span <= 1.2 * len(values)


def _key_despite_repeats(name: str, s: pd.Series, repeated: np.ndarray | None) -> bool:
    """A column named like a key whose values are all distinct on the rows that do not repeat an
    earlier row (a file with a few duplicated records): still an identifier."""
    if repeated is None or not repeated.any() or not named_like_key(name):
        return False
    if repeated.mean() > REPEATED_ROWS_SHARE:
        return False
    first = s[~repeated]
    values = first.dropna()
    if len(values) < 20 or len(values) < 0.95 * len(first):
        return False
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        num = values.astype("float64")
    else:
        text = as_text(values).dropna()
        num = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
        if num.notna().mean() < NUMBER_PARSE_SHARE:
            return bool(text.nunique() == len(text) and len(text) == len(values))
    if num.isna().any() or not np.all(np.mod(num.to_numpy(), 1) == 0):
        return False
    return bool(num.nunique() == len(num))


@functools.lru_cache(maxsize=4)
def typing_sample(rows: int) -> np.ndarray:
    """The positions of the TYPING_SAMPLE_ROWS rows (of ``rows``) that typing looks at: the
    same for every column of a table (what ``Series.sample(TYPING_SAMPLE_ROWS,
    random_state=0)`` takes), drawn once per table size rather than once per column (a draw
    walks every row: 18 ms per column of 800,000 rows)."""
    positions = np.random.RandomState(0).choice(rows, size=TYPING_SAMPLE_ROWS, replace=False)
    positions.flags.writeable = False
    return positions


def infer_column(name: str, s: pd.Series, repeated: np.ndarray | None = None) -> ColumnInfo:
    """Decide the type of one column (see the module docstring for the rules).

    ``repeated`` marks the rows that repeat an earlier row of the whole table (same length as
    ``s``): :func:`infer_types` passes it so that duplicated records do not hide a key.
    """
    if len(s) > TYPING_SAMPLE_ROWS:
        positions = typing_sample(len(s))
        if repeated is not None:
            repeated = np.asarray(repeated, dtype=bool)[positions]
        s = s.take(positions)
    n = len(s)
    missing = int(s.isna().sum())
    non_null = s.dropna()
    distinct = int(non_null.astype(str).nunique()) if _is_text_dtype(s) else int(non_null.nunique())

    def info(kind: str, reason: str) -> ColumnInfo:
        return ColumnInfo(name, kind, reason, missing, distinct)

    if distinct <= 1:
        if distinct == 0:
            return info("constant", "every value is missing")
        return info("constant", f"every value is {show_value(non_null.iloc[0])}")
    if pd.api.types.is_bool_dtype(s.dtype):
        return info("boolean", "true/false values")
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return info("datetime", "date/time values")
    if pd.api.types.is_numeric_dtype(s.dtype):
        if distinct == 2 and set(non_null.unique().tolist()) <= {0, 1}:
            return info("boolean", "only the values 0 and 1")
        num = s.astype("float64")
        if _integer_identifier(name, num, n):
            return info("identifier", "every value is a distinct whole number, like a row key")
        if _key_despite_repeats(name, s, repeated):
            return info("identifier", _REPEATED_KEY)
        return info("numeric", "numbers")

    text = as_text(s)
    low = text.dropna().str.lower()
    low_values = set(low.unique().tolist())
    if len(low_values) == 2 and low_values <= (TRUE_WORDS | FALSE_WORDS):
        values = sorted(low_values)
        return info("boolean", f"two values that read as yes/no ({', '.join(values)})")
    if _looks_like_dates(text):
        return info("datetime", "text that reads as dates")
    parsed = pd.to_numeric(text.dropna().str.replace(",", "", regex=False), errors="coerce")
    if len(parsed) and parsed.notna().mean() >= NUMBER_PARSE_SHARE:
        if _integer_identifier(name, parsed, n):
            return info("identifier", "every value is a distinct whole number, like a row key")
        if _key_despite_repeats(name, s, repeated):
            return info("identifier", _REPEATED_KEY)
        return info("numeric", "text that reads as numbers")
    non_null_text = text.dropna()
    words = non_null_text.str.count(r"\S+").mean() if len(non_null_text) else 0.0
    share_distinct = distinct / max(len(non_null_text), 1)
    if words >= TEXT_MIN_WORDS and share_distinct >= 0.3:
        return info("text", f"free text ({words:.1f} words per value on average)")
    if share_distinct >= IDENTIFIER_DISTINCT_SHARE and len(non_null_text) >= 20:
        return info("identifier", f"{share_distinct:.0%} of the values are distinct, like a key")
    if _key_despite_repeats(name, s, repeated):
        return info("identifier", _REPEATED_KEY)
    return info("categorical", f"{distinct} distinct values")


_REPEATED_KEY = (
    "named like a key, and its values are distinct apart from rows that repeat an earlier row"
)


def _repeated_rows(df: pd.DataFrame) -> np.ndarray | None:
    """Which rows repeat an earlier row, judged on the rows :func:`infer_column` samples (the
    others are False); None when the values cannot be compared (e.g. lists in a cell)."""
    n = len(df)  # (the rows infer_column samples)
    positions = np.arange(n) if n <= TYPING_SAMPLE_ROWS else typing_sample(n)
    try:
        repeated = df.iloc[positions].duplicated().to_numpy(bool)
    except TypeError:
        return None
    out = np.zeros(len(df), dtype=bool)
    out[positions] = repeated
    return out


def check_not_target(overrides: dict[str, str] | None, target: str) -> None:
    """``column_types`` sets how input columns are read; naming the target is a clear error."""
    if target in (overrides or {}):
        raise ParameterError(
            f"column_types names '{target}', which is the target column. column_types sets how "
            "the input columns are read; the target's values decide the problem type. Remove "
            f"'{target}' from column_types, and choose the problem type with task (2-category, "
            "3+ category or numbers) if the detected one is wrong."
        )


def _distinct_as_text(s: pd.Series) -> int:
    """How many distinct values ``s`` holds as text (missing values not counted). Numbers are
    counted as numbers: writing a million of them as text took 2 s a column (a forecast's
    feature rows), and distinct numbers are distinct texts (but for 0 and -0)."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return int(s.nunique())
    return int(s.astype(str).nunique())


def infer_types(
    df: pd.DataFrame,
    overrides: dict[str, str] | None = None,
    target: str | None = None,
    reasons: dict[str, str] | None = None,
) -> dict[str, ColumnInfo]:
    """Type every column of ``df``; ``overrides`` maps column name to a type the user chose.
    ``target`` (not in ``df``) may not be in ``overrides``. ``reasons``: why an overridden
    column has its type, where Easel (not the user) chose it (a forecast's own features)."""
    overrides = dict(overrides or {})
    if target is not None:
        check_not_target(overrides, target)
    unknown = sorted(set(overrides) - set(map(str, df.columns)))
    if unknown:
        raise ParameterError(
            f"column_types names columns that are not in the data: {', '.join(unknown)}. "
            f"Check the spelling; the columns are: {', '.join(map(str, df.columns))}."
        )
    out: dict[str, ColumnInfo] = {}
    repeated = _repeated_rows(df) if len(df.columns) > 1 else None
    for col in df.columns:
        name = str(col)
        if name in overrides:
            kind = overrides[name]
            if kind not in COLUMN_TYPES:
                raise ParameterError(
                    f"The type {kind!r} given for column '{name}' is not known. "
                    f"Use one of: {', '.join(COLUMN_TYPES)}."
                )
            s = df[col]
            out[name] = ColumnInfo(
                name,
                kind,
                (reasons or {}).get(name, "chosen by the user"),
                int(s.isna().sum()),
                _distinct_as_text(s),
                overridden=True,
            )
        else:
            out[name] = infer_column(name, df[col], repeated)
    return out
