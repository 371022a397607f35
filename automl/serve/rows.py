"""What a prediction request sends and gets back, as the model's own columns.

:func:`columns` describes the raw columns a model takes (type in plain words, a typical value,
the categories it learned); :func:`request_schema` turns them into the JSON Schema of a
``/predict`` body, with an example, for the OpenAPI document. :func:`read_rows` checks a parsed
body and makes the DataFrame the model scores: a row without one of the columns, or a value the
model cannot read as its column's type, is a :class:`RowsError` that names the row and the
column. :func:`answer` scores the rows with :meth:`Model.score_frame` (the same answers as
``Model.predict`` and ``predict_proba``) and gives each row's answer as JSON values.
"""

from __future__ import annotations

import contextlib
import math
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from automl import fewrows
from automl.coltypes import to_boolean, to_datetime, to_number
from automl.errors import SchemaError
from automl.model import Model
from automl.words import plural, show_value

MAX_PROBLEMS = 20  # a request with many bad values lists the first ones
MAX_REASONS = 20
TYPE_WORDS = {
    "numeric": "number",
    "boolean": "yes/no",
    "categorical": "category",
    "datetime": "date",
    "text": "text",
}
FORM_WORDS = {"number": "number", "date": "date", "choice": "category", "text": "text"}
_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


class RowsError(SchemaError):
    """Rows sent to the service do not fit the model: ``problems`` name each row and column
    (rows counted from 0, as in the request's list); ``status`` is the HTTP status to answer."""

    def __init__(
        self, message: str, problems: list[dict[str, Any]] | None = None, status: int = 422
    ) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.status = status


@dataclass(frozen=True)
class Column:
    """One raw column the model takes."""

    name: str
    type: str  # number, date, category, yes/no or text
    typical: Any  # the median or the most frequent value, as JSON
    categories: list[str] = field(default_factory=list)
    date_format: str | None = None  # how training dates were written (None: any)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "typical": self.typical}
        if self.categories:
            out["categories"] = self.categories
        return out


def columns(model: Model) -> list[Column]:
    """The raw columns rows must have, in the model's order."""
    kinds: dict[str, str] = {}
    formats: dict[str, str | None] = {}
    if not model.meta.recipe:  # the model's own column types (a recipe's raw ones are simpler)
        for col in model.preprocessor.columns:
            kinds[col.name] = TYPE_WORDS.get(col.type, "text")
            if col.type == "datetime":
                formats[col.name] = model.preprocessor.params_[col.name].get("format")
    out = []
    for f in model.input_form():
        kind = kinds.get(f.name) or FORM_WORDS.get(f.kind, "text")
        typical: Any = f.value
        if kind == "number":
            typical = float(f.value) if math.isfinite(float(f.value)) else None
            if typical is not None and typical.is_integer() and abs(typical) < 2**53:
                typical = int(typical)
        elif kind == "yes/no":
            typical = f.value == "yes"
        categories = list(f.options) if kind == "category" else []
        out.append(Column(f.name, kind, typical, categories, formats.get(f.name)))
    return out


_VALUE_SCHEMA: dict[str, dict[str, Any]] = {
    "number": {"type": ["number", "null"]},
    "date": {"type": ["string", "null"], "description": "a date, e.g. 2024-01-31"},
    "category": {"type": ["string", "number", "null"]},
    "yes/no": {"type": ["boolean", "null"]},
    "text": {"type": ["string", "null"]},
}


def example_row(cols: list[Column]) -> dict[str, Any]:
    return {c.name: c.typical for c in cols}


def request_schema(cols: list[Column], max_rows: int) -> dict[str, Any]:
    """The JSON Schema of a ``/predict`` body for these columns (every column required; null
    for a missing value; other keys are ignored)."""
    props = {}
    for c in cols:
        spec = dict(_VALUE_SCHEMA[c.type])
        words = f"{spec.pop('description', c.type)}; typical value: {show_value(c.typical)}"
        if c.categories:
            shown = ", ".join(c.categories[:10]) + (", ..." if len(c.categories) > 10 else "")
            words += f"; learned categories: {shown} (others count as 'other')"
        spec["description"] = words
        spec["examples"] = [c.typical]
        props[c.name] = spec
    row = {
        "type": "object",
        "properties": props,
        "required": [c.name for c in cols],
        "additionalProperties": True,
    }
    return {
        "type": "object",
        "required": ["rows"],
        "properties": {
            "rows": {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows}
        },
    }


# ---------------------------------------------------------------------- reading a request
def _problem(row: int, column: str, problem: str) -> dict[str, Any]:
    return {"row": row, "column": column, "problem": problem}


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a group of named values (an object)"
    if isinstance(value, list):
        return "a list of values"
    return f"a value of type {type(value).__name__}"


def _rows_error(problems: list[dict[str, Any]], total: int) -> RowsError:
    first = problems[0]
    more = total - 1
    also = f" ({plural(more, 'more problem')} listed in 'problems')" if more else ""
    return RowsError(
        f"Row {first['row']}, column '{first['column']}': {first['problem']}{also}. Rows are "
        "counted from 0 in the order they were sent.",
        problems[:MAX_PROBLEMS],
    )


def read_rows(
    body: Any, cols: list[Column], max_rows: int, reread: Callable[[], Any] | None = None
) -> pd.DataFrame:
    """The rows of a parsed ``{"rows": [...]}`` body as a DataFrame of the model's columns.

    ``reread`` gives the body as Python's own JSON reader reads it; it is asked for when the
    rows hold a number of at least 2**63, which a faster reader (orjson) may have made of a
    whole number too long for 64 bits (Python keeps every digit, as text would)."""
    if not isinstance(body, dict) or "rows" not in body:
        raise RowsError(
            'The request must be a JSON object with a list of rows: {"rows": [{"column": '
            "value, ...}, ...]}. See GET /schema for the columns."
        )
    rows = body["rows"]
    if not isinstance(rows, list) or not rows:
        raise RowsError(
            "'rows' must be a list of at least one row, each a JSON object of column: value."
        )
    if len(rows) > max_rows:
        raise RowsError(
            f"The request has {len(rows):,} rows; this service scores at most {max_rows:,} at a "
            "time. Send them in smaller batches (or POST a CSV file to /predict/csv).",
            status=413,
        )
    names = [c.name for c in cols]
    try:  # the common case at C speed: every row an object with every column
        if set(map(type, rows)) != {dict}:
            raise TypeError
        data = {name: list(map(operator.itemgetter(name), rows)) for name in names}
    except (KeyError, TypeError):
        _missing_columns(rows, names)
    problems: list[dict[str, Any]] = []
    count = 0
    for name in names:
        if not set(map(type, data[name])) <= _SCALARS:
            for i, value in enumerate(data[name]):
                if type(value) not in _SCALARS:
                    count += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(_problem(i, name, f"{_kind_of(value)}, not a single value"))
    if problems:
        raise _rows_error(problems, count)
    try:
        frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    except UnicodeEncodeError:  # text stored as UTF-8 cannot hold a lone surrogate (\ud800)
        raise _broken_text(data) from None
    if reread is not None and _huge_numbers(frame):
        return read_rows(reread(), cols, max_rows)
    for col in cols:
        bad = _unreadable(frame[col.name], col)
        for i in np.flatnonzero(bad).tolist():
            count += 1
            if len(problems) < MAX_PROBLEMS:
                raw = data[col.name][i]
                plain_number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
                value = str(raw)[:40] if plain_number else show_value(raw)
                if plain_number and (abs(raw) > _FLOAT_MAX or not math.isfinite(raw)):
                    value = "a number this large"
                problems.append(_problem(i, col.name, f"{value} cannot be read as a {col.type}"))
    if problems:
        raise _rows_error(problems, count)
    return frame


_HUGE = 2.0**63
_FLOAT_MAX = sys.float_info.max


def _huge_numbers(frame: pd.DataFrame) -> bool:
    """Whether a value is a float of at least 2**63 (in size)."""
    for name in frame.columns:
        s = frame[name]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
            if bool((np.abs(s.to_numpy()) >= _HUGE).any()):
                return True
        elif s.dtype == object and any(type(v) is float and abs(v) >= _HUGE for v in s.tolist()):
            return True
    return False


_PLAIN: dict[str, set[type]] = {"number": {int, float, type(None)}, "yes/no": {bool, type(None)}}


def _plain(values: list[Any], kind: str) -> bool:
    """Whether every value is already of the column's JSON type (nothing to read as text)."""
    allowed = _PLAIN.get(kind)
    return allowed is not None and set(map(type, values)) <= allowed


def _broken_text(data: dict[str, list[Any]]) -> RowsError:
    problems: list[dict[str, Any]] = []
    count = 0
    for name, values in data.items():
        for i, value in enumerate(values):
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    count += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(
                            _problem(
                                i,
                                name,
                                "the text has characters that are not valid "
                                "(broken Unicode); fix or remove them",
                            )  # fmt: skip
                        )
    if not problems:  # pragma: no cover - only such text makes the frame fail to build
        return RowsError("The rows hold text that cannot be stored: send valid UTF-8 text.")
    return _rows_error(problems, count)


def _missing_columns(rows: list[Any], names: list[str]) -> NoReturn:
    """Raise the :class:`RowsError` that names each row that is not an object or misses a
    column (the slow path, for a request that has such rows)."""
    needed = set(names)
    problems: list[dict[str, Any]] = []
    count = 0
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowsError(
                f"Row {i} is {_kind_of(row)}, not a JSON object of column: value.",
                [_problem(i, "", "not a JSON object of column: value")],
            )
        gone = needed.difference(row)
        for name in names if gone else ():
            if name in gone:
                count += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append(
                        _problem(i, name, "the column is missing (send null for an empty value)")
                    )
    if not problems:  # pragma: no cover - every row is an object with every column
        raise RowsError("The rows could not be read: send JSON objects of column: value.")
    raise _rows_error(problems, count)


def _unreadable(s: pd.Series, col: Column) -> np.ndarray:
    """Rows whose value is there but the model would read as missing (the engine's own
    conversions, as :class:`automl.preprocess.Preprocessor` applies them)."""
    if col.type not in ("number", "yes/no", "date"):
        return np.zeros(len(s), dtype=bool)
    if col.type != "date" and isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":
        # numbers sent as numbers: only an infinite one (1e999) is no number a model can score
        return np.isinf(s.to_numpy("float64")) if col.type == "number" else np.zeros(len(s), bool)
    values = s.tolist() if s.dtype == object else None
    if values is not None and _plain(values, col.type):
        # a whole number beyond float64's range (10**400) is no number a model can score
        return np.array([type(v) is int and abs(v) > _FLOAT_MAX for v in values], dtype=bool)
    if len(s) <= fewrows.FEW_ROWS:  # value by value: the same answer, without pandas' cost
        if col.type == "yes/no" and (read := fewrows.booleans(s)) is not None:
            return read[1]
        if col.type == "date" and (dated := fewrows.date_parts(s, col.date_format, False)):
            return dated[1]
    present = s.notna().to_numpy(bool)
    if col.type == "number":
        # 1e999 parses as infinity: no number a model can score
        return present & ~np.isfinite(to_number(s).to_numpy("float64", na_value=np.nan))
    if col.type == "yes/no":
        return present & np.isnan(to_boolean(s).to_numpy("float64", na_value=np.nan))
    if col.type == "date":
        ts = to_datetime(s, col.date_format)
        if col.date_format and ts.isna().sum() > 0.5 * present.sum():
            ts = to_datetime(s)  # as the model does when most dates are written otherwise
        return present & ts.isna().to_numpy(bool)
    return np.zeros(len(s), dtype=bool)


# ---------------------------------------------------------------------- answers
def _json_value(value: Any) -> Any:
    """A cell value as JSON: numbers and text as they are, times as ISO text, NaN as null."""
    if hasattr(value, "item") and callable(value.item):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _json_values(values: np.ndarray) -> list[Any]:
    """:func:`_json_value` of each value; at once when they are text, whole numbers, yes/no or
    finite numbers already (the common case: labels and predicted numbers)."""
    out = values.tolist()
    kinds = set(map(type, out))
    if kinds <= {str, bool, int} or (kinds <= {float, int} and all(map(math.isfinite, out))):
        return out
    return [_json_value(v) for v in out]


def answer(model: Model, frame: pd.DataFrame, reasons: int = 0) -> list[dict[str, Any]]:
    """One answer per row: ``prediction``, and for categories ``confidence`` (the predicted
    class's probability) and ``probabilities`` (label -> probability); with ``reasons`` > 0,
    each row's top columns and how much each moved the prediction."""
    labels, proba, _ = model.score_frame(frame, warn=False)
    predictions = _json_values(labels)
    if proba is None:
        out: list[dict[str, Any]] = [{"prediction": p} for p in predictions]
    else:
        keys = [str(_json_value(c)) for c in proba.columns]
        matrix = proba.to_numpy(dtype="float64")
        confidence = matrix.max(axis=1).tolist()
        if len(keys) == 2:  # the common case, written out: twice as fast as zip
            no, yes = keys
            out = [
                {"prediction": p, "confidence": c, "probabilities": {no: a, yes: b}}
                for p, c, (a, b) in zip(predictions, confidence, matrix.tolist(), strict=True)
            ]
        else:
            out = [
                {
                    "prediction": p,
                    "confidence": c,
                    "probabilities": dict(zip(keys, row, strict=True)),
                }
                for p, c, row in zip(predictions, confidence, matrix.tolist(), strict=True)
            ]
    if reasons > 0:
        ex = model.explain(frame, top=reasons)
        per_row = int(ex["rank"].max()) if len(ex) else 0
        items = [
            {
                "column": str(c),
                "value": _json_value(v),
                "contribution": float(x),
                "direction": str(d),
            }
            for c, v, x, d in zip(
                ex["column"], ex["value"], ex["contribution"], ex["direction"], strict=True
            )
        ]
        for i, row_answer in enumerate(out):
            row_answer["reasons"] = items[i * per_row : (i + 1) * per_row]
    return out
