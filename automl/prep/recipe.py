"""Preparation recipes: an ordered list of small, validated, JSON-serializable transforms.

Two kinds of step:

* **column steps** (rename, change type, fill missing, formula, date parts, ...) change values
  or add/remove columns without changing the rows; a model trained on prepared data keeps them in
  its artifact and replays them on raw rows at prediction time. Steps that learn something from
  the data (a median, quantiles, bin edges, frequent categories) learn it once, when the recipe is
  fitted on the training data, and store it, so new rows get the same treatment.
* **row steps** (filter, deduplicate, drop rows with missing values, sort, sample, remove outliers)
  choose which training rows to keep; they never run at prediction time (a prediction is wanted for
  every row given).

>>> r = Recipe().add(FillMissing("income", "median")).add(Formula("ratio", "income / age"))
>>> prepared = r.fit_apply(df)        # doctest: +SKIP
>>> r.apply(new_rows, training=False)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from automl.errors import ParameterError, SchemaError
from automl.prep.text import (
    check_lengths,
    compile_pattern,
    extract,
    replace_text,
    replacement,
    substitute,
)

RECIPE_VERSION = 1
_DATE_PARTS = ("year", "quarter", "month", "day", "weekday", "dayofyear", "hour", "minute")
_TYPES = ("number", "text", "date", "boolean", "category")
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def fmt_number(v: float) -> str:
    """A number as an analyst reads it: 24,880 / 4,355 / 0.0712 / -853."""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _cols(value: str | list[str] | tuple[str, ...]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _require(df_columns: list[str], needed: list[str], step: Step) -> None:
    missing = [c for c in needed if c not in df_columns]
    if missing:
        near = {m: difflib.get_close_matches(m, df_columns, n=1) for m in missing}
        hints = "; ".join(
            f"'{m}' (did you mean '{n[0]}'?)" if n else f"'{m}'" for m, n in near.items()
        )
        raise SchemaError(
            f"Step '{step.describe()}' needs column(s) {hints}, which the data does not have at "
            "this point of the recipe. Add the column, or change or remove the step."
        )


def _new_name(name: str, df_columns: list[str], step: Step, allow_existing: bool = False) -> None:
    if not str(name).strip():
        raise ParameterError(f"Step '{step.label}' needs a name for the new column.")
    if not allow_existing and name in df_columns:
        raise ParameterError(
            f"Step '{step.describe()}' would create column '{name}', which already exists. "
            "Choose another name."
        )


def _numeric(df: pd.DataFrame, col: str, step: Step) -> pd.Series:
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    raise ParameterError(
        f"Step '{step.describe()}' works on numbers, but column '{col}' holds "
        f"{_kind(s)}. Change its type to number first."
    )


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(s):
        return "dates"
    if pd.api.types.is_numeric_dtype(s):
        return "numbers"
    return "text"


def _text(s: pd.Series) -> pd.Series:
    """Text values with missing kept missing (numbers shown without a trailing .0)."""
    if pd.api.types.is_float_dtype(s):
        whole = s.dropna()
        if len(whole) and bool(np.isfinite(whole).all() and (whole == np.round(whole)).all()):
            return s.map(lambda v: str(int(v)), na_action="ignore").astype(object)
    return s.astype("string").astype(object).where(s.notna(), None)


def _dates(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, errors="coerce", format="mixed")


# ---------------------------------------------------------------------------------------- steps
@dataclass
class Step:
    """One transform. Subclasses are dataclasses whose fields are the parameters; fields whose
    names start with ``fitted_`` hold what :meth:`fit` learned from the training data."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    group: ClassVar[str] = ""
    row_step: ClassVar[bool] = False  # True: training-only (chooses rows)
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}  # allowed values of text parameters

    def inputs(self) -> list[str]:
        """Columns this step reads."""
        return []

    def validate(self, columns: list[str]) -> None:
        """Raise a clear error if the step cannot run on a table with these columns."""
        _require(columns, self.inputs(), self)

    def fit(self, df: pd.DataFrame) -> None:
        """Learn what the step needs from training data (default: nothing)."""

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def describe(self) -> str:
        return self.label

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @property
    def fitted(self) -> bool:
        state = [f for f in dataclasses.fields(self) if f.name.startswith("fitted_")]
        return all(getattr(self, f.name) is not None for f in state)


@dataclass
class ColumnStep(Step):
    """A step on one column (``column``), which is what it reads."""

    column: str

    def inputs(self) -> list[str]:
        return [self.column]


@dataclass
class DerivedColumnStep(ColumnStep):
    """A step that adds one column made from ``column``, named ``new_name`` or
    ``<column>_<suffix>``."""

    new_name: str = ""
    suffix: ClassVar[str] = "new"

    def _name(self) -> str:
        return self.new_name or f"{self.column}_{self.suffix}"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        _new_name(self._name(), columns, self)


@dataclass
class DropColumns(Step):
    columns: list[str]
    kind: ClassVar[str] = "drop_columns"
    label: ClassVar[str] = "Drop columns"
    group: ClassVar[str] = "Columns"

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        # rows to predict need not carry columns the recipe drops anyway
        return df.drop(columns=_cols(self.columns), errors="ignore")

    def describe(self) -> str:
        return f"Drop {', '.join(_cols(self.columns))}"


@dataclass
class RenameColumn(ColumnStep):
    new_name: str
    kind: ClassVar[str] = "rename"
    label: ClassVar[str] = "Rename column"
    group: ClassVar[str] = "Columns"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        _new_name(self.new_name, columns, self)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        return df.rename(columns={self.column: self.new_name})

    def describe(self) -> str:
        return f"Rename {self.column} to {self.new_name}"


@dataclass
class ChangeType(ColumnStep):
    to: str
    kind: ClassVar[str] = "change_type"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"to": _TYPES}
    label: ClassVar[str] = "Change type"
    group: ClassVar[str] = "Columns"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if self.to not in _TYPES:
            raise ParameterError(
                f"Change type: '{self.to}' is not a type. Choose one of {', '.join(_TYPES)}."
            )

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        s = df[self.column]
        out = df.copy()
        if self.to == "number":
            out[self.column] = _parse_numbers(s)
        elif self.to == "text":
            out[self.column] = _text(s)
        elif self.to == "date":
            out[self.column] = _dates(s)
        elif self.to == "boolean":
            low = _text(s).str.strip().str.lower()
            out[self.column] = low.map(
                lambda v: True if v in _TRUE else False if v in _FALSE else None,
                na_action="ignore",
            ).astype("boolean")
        else:
            out[self.column] = _text(s).astype("category")
        return out

    def describe(self) -> str:
        return f"Change {self.column} to {self.to}"


def _parse_numbers(s: pd.Series) -> pd.Series:
    """Numbers from text such as '$1,200.50', '15%', ' 3 ' (unreadable values become missing)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    t = _text(s).str.strip()
    pct = t.str.endswith("%", na=False)
    neg = t.str.match(r"^\(.*\)$", na=False)  # accounting negatives: (12.50)
    clean = t.str.replace(r"[\s$€£¥%()]", "", regex=True).str.replace(",", "", regex=False)
    num = pd.to_numeric(clean, errors="coerce")
    num = num.where(~pct, num / 100.0)
    return num.where(~neg, -num).astype(float)


@dataclass
class ParseNumbers(ColumnStep):
    kind: ClassVar[str] = "parse_numbers"
    label: ClassVar[str] = "Read numbers from text"
    group: ClassVar[str] = "Clean"

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self.column] = _parse_numbers(df[self.column])
        return out

    def describe(self) -> str:
        return f"Read numbers in {self.column} (currency, thousands separators, %)"


@dataclass
class FillMissing(ColumnStep):
    strategy: str = "median"  # median, mean, mode, constant
    value: Any = None
    fitted_value: Any = None
    kind: ClassVar[str] = "fill_missing"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {
        "strategy": ("median", "mean", "mode", "constant")
    }
    label: ClassVar[str] = "Fill missing values"
    group: ClassVar[str] = "Clean"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if self.strategy not in ("median", "mean", "mode", "constant"):
            raise ParameterError(
                f"Fill missing: '{self.strategy}' is not a strategy. Use median, mean, mode or "
                "constant."
            )
        if self.strategy == "constant" and self.value is None:
            raise ParameterError("Fill missing with a constant needs the value to fill in.")

    def fit(self, df: pd.DataFrame) -> None:
        s = df[self.column]
        if self.strategy == "constant":
            self.fitted_value = self.value
        elif self.strategy in ("median", "mean"):
            num = _numeric(df, self.column, self)
            v = num.median() if self.strategy == "median" else num.mean()
            self.fitted_value = None if pd.isna(v) else float(v)
        else:
            mode = s.dropna().mode()
            self.fitted_value = _plain(mode.iloc[0]) if len(mode) else None
        if self.fitted_value is None:
            raise ParameterError(
                f"Fill missing: column '{self.column}' has no values at all, so there is nothing "
                "to fill with. Drop the column or fill with a constant."
            )

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        s = df[self.column]
        value = self.fitted_value
        if pd.api.types.is_datetime64_any_dtype(s):
            value = pd.Timestamp(value)
        elif pd.api.types.is_numeric_dtype(s) and isinstance(value, str):
            out[self.column] = s.astype(object)
        out[self.column] = out[self.column].fillna(value)
        if pd.api.types.is_object_dtype(out[self.column]) and not isinstance(value, str):
            out[self.column] = out[self.column].infer_objects()
        return out

    def describe(self) -> str:
        how = f"'{self.value}'" if self.strategy == "constant" else f"the {self.strategy}"
        shown = (
            f"{self.fitted_value:.6g}"
            if isinstance(self.fitted_value, float)
            else repr(self.fitted_value)
        )
        learned = (
            f" ({shown})" if self.fitted_value is not None and self.strategy != "constant" else ""
        )
        return f"Fill missing {self.column} with {how}{learned}"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


@dataclass
class MissingIndicator(DerivedColumnStep):
    kind: ClassVar[str] = "missing_indicator"
    label: ClassVar[str] = "Flag missing values"
    group: ClassVar[str] = "Clean"
    suffix: ClassVar[str] = "missing"

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self._name()] = df[self.column].isna()
        return out

    def describe(self) -> str:
        return f"Flag rows where {self.column} is missing (as {self._name()})"


@dataclass
class ReplaceValues(ColumnStep):
    mapping: dict[str, Any]
    kind: ClassVar[str] = "replace_values"
    label: ClassVar[str] = "Replace values"
    group: ClassVar[str] = "Clean"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if not self.mapping:
            raise ParameterError("Replace values needs at least one 'old -> new' pair.")

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        s = df[self.column]
        keys = _text(s)
        hit = keys.isin(list(self.mapping))
        if hit.any():
            new = keys.map(self.mapping)
            out[self.column] = s.astype(object).where(~hit, new).infer_objects()
        return out

    def describe(self) -> str:
        pairs = ", ".join(f"{k} -> {v}" for k, v in list(self.mapping.items())[:4])
        more = " ..." if len(self.mapping) > 4 else ""
        return f"Replace in {self.column}: {pairs}{more}"


@dataclass
class FindReplace(ColumnStep):
    find: str
    replace: str = ""
    regex: bool = False
    case_sensitive: bool = True
    kind: ClassVar[str] = "find_replace"
    label: ClassVar[str] = "Find and replace text"
    group: ClassVar[str] = "Text"

    def _compiled(self) -> tuple[Any, Callable[[Any], str]]:
        what = "Find and replace"
        regex = compile_pattern(
            self.find, what, literal=not self.regex, case=bool(self.case_sensitive)
        )
        if not self.regex:
            return regex, lambda match, new=self.replace: new
        return regex, replacement(self.replace, regex, what)

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if self.find == "":
            raise ParameterError("Find and replace needs the text to find.")
        self._compiled()

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        values, what = _text(df[self.column]), f"Step '{self.describe()}'"
        if not self.regex and self.case_sensitive:  # plain text: pandas, vectorized
            out[self.column] = replace_text(values, self.find, self.replace, what)
        else:
            regex, repl = self._compiled()
            out[self.column] = substitute(values, regex, repl, what)
        return out

    def describe(self) -> str:
        return f"Replace '{self.find}' with '{self.replace}' in {self.column}"


@dataclass
class TrimText(Step):
    columns: list[str]
    kind: ClassVar[str] = "trim"
    label: ClassVar[str] = "Trim spaces"
    group: ClassVar[str] = "Text"

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        for c in _cols(self.columns):
            t = _text(df[c]).str.strip().str.replace(r"\s+", " ", regex=True)
            out[c] = t.where(t != "", None)
        return out

    def describe(self) -> str:
        return f"Trim spaces in {', '.join(_cols(self.columns))} (blank becomes missing)"


@dataclass
class ChangeCase(Step):
    columns: list[str]
    case: str = "lower"
    kind: ClassVar[str] = "change_case"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"case": ("lower", "upper", "title")}
    label: ClassVar[str] = "Change text case"
    group: ClassVar[str] = "Text"

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if self.case not in ("lower", "upper", "title"):
            raise ParameterError("Change case: choose lower, upper or title.")

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        for c in _cols(self.columns):
            out[c] = getattr(_text(df[c]).str, self.case)()
        return out

    def describe(self) -> str:
        return f"Make {', '.join(_cols(self.columns))} {self.case} case"


@dataclass
class SplitColumn(ColumnStep):
    separator: str
    new_names: list[str]
    kind: ClassVar[str] = "split"
    label: ClassVar[str] = "Split column"
    group: ClassVar[str] = "Text"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if not self.separator:
            raise ParameterError("Split column needs a separator (e.g. ',' or ' ').")
        if len(self.new_names) < 2:
            raise ParameterError("Split column needs at least two new column names.")
        for n in self.new_names:
            _new_name(n, columns, self)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        parts = _text(df[self.column]).str.split(
            self.separator, n=len(self.new_names) - 1, regex=False
        )
        for i, name in enumerate(self.new_names):
            out[name] = parts.str[i].str.strip()
        return out

    def describe(self) -> str:
        return f"Split {self.column} at '{self.separator}' into {', '.join(self.new_names)}"


@dataclass
class CombineColumns(Step):
    columns: list[str]
    new_name: str
    separator: str = " "
    kind: ClassVar[str] = "combine"
    label: ClassVar[str] = "Combine columns"
    group: ClassVar[str] = "Text"

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if len(_cols(self.columns)) < 2:
            raise ParameterError("Combine columns needs at least two columns.")
        _new_name(self.new_name, columns, self)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        texts = [_text(df[c]).fillna("") for c in _cols(self.columns)]
        lengths = sum(t.astype(str).str.len() + len(self.separator) for t in texts)
        check_lengths(lengths, f"Step '{self.describe()}'")
        combined = texts[0].astype(str)
        for t in texts[1:]:
            combined = combined + self.separator + t.astype(str)
        out[self.new_name] = combined.str.strip()
        return out

    def describe(self) -> str:
        return f"Combine {', '.join(_cols(self.columns))} into {self.new_name}"


@dataclass
class ExtractText(ColumnStep):
    pattern: str
    new_name: str
    kind: ClassVar[str] = "extract_text"
    label: ClassVar[str] = "Extract text with a pattern"
    group: ClassVar[str] = "Text"

    def _compiled(self) -> Any:
        compiled = compile_pattern(self.pattern, "Extract text")
        if compiled.groups > 1:
            raise ParameterError("Extract text: use at most one (group) in the pattern.")
        return compiled

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        _new_name(self.new_name, columns, self)
        self._compiled()

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self.new_name] = extract(_text(df[self.column]), self._compiled())
        return out

    def describe(self) -> str:
        return f"Extract '{self.pattern}' from {self.column} as {self.new_name}"


@dataclass
class TextLength(DerivedColumnStep):
    kind: ClassVar[str] = "text_length"
    label: ClassVar[str] = "Text length"
    group: ClassVar[str] = "Text"
    suffix: ClassVar[str] = "length"

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self._name()] = _text(df[self.column]).str.len().astype(float)
        return out

    def describe(self) -> str:
        return f"Length of {self.column} as {self._name()}"


@dataclass
class DateParts(ColumnStep):
    parts: list[str] = field(default_factory=lambda: ["year", "month", "weekday"])
    kind: ClassVar[str] = "date_parts"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"parts": _DATE_PARTS}
    label: ClassVar[str] = "Extract date parts"
    group: ClassVar[str] = "Dates"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        bad = [p for p in self.parts if p not in _DATE_PARTS]
        if bad or not self.parts:
            raise ParameterError(
                f"Date parts: choose from {', '.join(_DATE_PARTS)} "
                f"(got {', '.join(bad) or 'none'})."
            )
        for p in self.parts:
            _new_name(f"{self.column}_{p}", columns, self)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        d = _dates(df[self.column])
        for p in self.parts:
            v = d.dt.day_of_week if p == "weekday" else getattr(d.dt, p)
            out[f"{self.column}_{p}"] = v.astype(float)
        return out

    def describe(self) -> str:
        return f"Extract {', '.join(self.parts)} from {self.column}"


@dataclass
class DateDifference(Step):
    start: str
    end: str
    new_name: str
    unit: str = "days"
    kind: ClassVar[str] = "date_difference"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"unit": ("days", "hours", "weeks")}
    label: ClassVar[str] = "Time between two dates"
    group: ClassVar[str] = "Dates"
    _UNITS: ClassVar[dict[str, float]] = {"days": 86400.0, "hours": 3600.0, "weeks": 604800.0}

    def inputs(self) -> list[str]:
        return [self.start, self.end]

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        _new_name(self.new_name, columns, self)
        if self.unit not in self._UNITS:
            raise ParameterError("Time between dates: the unit must be days, hours or weeks.")

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        delta = _dates(df[self.end]) - _dates(df[self.start])
        out[self.new_name] = delta.dt.total_seconds() / self._UNITS[self.unit]
        return out

    def describe(self) -> str:
        return f"{self.unit.capitalize()} from {self.start} to {self.end} as {self.new_name}"


@dataclass
class Formula(Step):
    new_name: str
    expression: str
    kind: ClassVar[str] = "formula"
    label: ClassVar[str] = "Formula column"
    group: ClassVar[str] = "Calculate"

    def _expr(self, columns: list[str] | None = None) -> Any:
        from automl.prep.expr import Expression

        return Expression.parse(self.expression, columns)

    def inputs(self) -> list[str]:
        return sorted(self._expr().columns)

    def validate(self, columns: list[str]) -> None:
        self._expr(columns)
        _new_name(self.new_name, columns, self, allow_existing=True)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self.new_name] = self._expr().evaluate(df)
        return out

    def describe(self) -> str:
        return f"{self.new_name} = {self.expression}"


@dataclass
class LogTransform(ColumnStep):
    new_name: str = ""
    kind: ClassVar[str] = "log"
    label: ClassVar[str] = "Log transform"
    group: ClassVar[str] = "Calculate"

    def _name(self) -> str:
        return self.new_name or self.column

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        x = _numeric(df, self.column, self)
        out[self._name()] = np.log1p(x.where(x > -1))
        return out

    def describe(self) -> str:
        return f"log(1 + {self.column})" + (f" as {self.new_name}" if self.new_name else "")


@dataclass
class Scale(ColumnStep):
    method: str = "standard"  # standard (z-score) or minmax
    fitted_a: float | None = None
    fitted_b: float | None = None
    kind: ClassVar[str] = "scale"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"method": ("standard", "minmax")}
    label: ClassVar[str] = "Scale numbers"
    group: ClassVar[str] = "Calculate"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if self.method not in ("standard", "minmax"):
            raise ParameterError("Scale: the method must be standard or minmax.")

    def fit(self, df: pd.DataFrame) -> None:
        x = _numeric(df, self.column, self)
        if self.method == "standard":
            a, b = x.mean(), x.std()
        else:
            a, b = x.min(), x.max() - x.min()
        self.fitted_a = float(a) if pd.notna(a) else 0.0
        self.fitted_b = float(b) if pd.notna(b) and b > 0 else 1.0

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self.column] = (_numeric(df, self.column, self) - self.fitted_a) / self.fitted_b
        return out

    def describe(self) -> str:
        return f"Scale {self.column} ({'z-score' if self.method == 'standard' else '0 to 1'})"


@dataclass
class Clip(ColumnStep):
    lower: float | None = None
    upper: float | None = None
    lower_quantile: float | None = None
    upper_quantile: float | None = None
    fitted_lower: float | None = None
    fitted_upper: float | None = None
    kind: ClassVar[str] = "clip"
    label: ClassVar[str] = "Clip extreme values"
    group: ClassVar[str] = "Clean"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        for q in (self.lower_quantile, self.upper_quantile):
            if q is not None and not 0 <= q <= 1:
                raise ParameterError("Clip: quantiles must be between 0 and 1 (e.g. 0.01, 0.99).")
        if all(
            v is None for v in (self.lower, self.upper, self.lower_quantile, self.upper_quantile)
        ):
            raise ParameterError("Clip needs a lower or upper bound (a value or a quantile).")

    def fit(self, df: pd.DataFrame) -> None:
        x = _numeric(df, self.column, self)
        lo = x.quantile(self.lower_quantile) if self.lower_quantile is not None else self.lower
        hi = x.quantile(self.upper_quantile) if self.upper_quantile is not None else self.upper
        self.fitted_lower = -np.inf if lo is None or pd.isna(lo) else float(lo)
        self.fitted_upper = np.inf if hi is None or pd.isna(hi) else float(hi)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self.column] = _numeric(df, self.column, self).clip(
            self.fitted_lower, self.fitted_upper
        )
        return out

    def describe(self) -> str:
        lower = self.fitted_lower if self.fitted_lower is not None else self.lower
        upper = self.fitted_upper if self.fitted_upper is not None else self.upper
        lo = "" if lower is None or lower == -np.inf else f" at least {fmt_number(lower)}"
        hi = "" if upper is None or upper == np.inf else f" at most {fmt_number(upper)}"
        if not lo and not hi:  # quantile bounds not learned yet
            qs = [
                f"{name} {q:.0%} quantile"
                for name, q in (("the", self.lower_quantile), ("the", self.upper_quantile))
                if q is not None
            ]
            return f"Clip {self.column} to {' and '.join(qs)}"
        return f"Clip {self.column} to{lo}{' and' if lo and hi else ''}{hi}"


@dataclass
class Bin(ColumnStep):
    bins: int = 5
    method: str = "quantile"  # quantile (equal counts) or width (equal width)
    new_name: str = ""
    fitted_edges: list[float] | None = None
    kind: ClassVar[str] = "bin"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"method": ("quantile", "width")}
    label: ClassVar[str] = "Bin numbers into ranges"
    group: ClassVar[str] = "Calculate"

    def _name(self) -> str:
        return self.new_name or f"{self.column}_bin"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if not 2 <= int(self.bins) <= 100:
            raise ParameterError("Bin: the number of bins must be between 2 and 100.")
        if self.method not in ("quantile", "width"):
            raise ParameterError("Bin: the method must be quantile or width.")
        _new_name(self._name(), columns, self, allow_existing=True)

    def fit(self, df: pd.DataFrame) -> None:
        x = _numeric(df, self.column, self).dropna()
        if x.empty:
            raise ParameterError(f"Bin: column '{self.column}' has no numbers to bin.")
        if self.method == "quantile":
            edges = np.unique(np.quantile(x, np.linspace(0, 1, int(self.bins) + 1)))
        else:
            edges = np.linspace(x.min(), x.max(), int(self.bins) + 1)
        self.fitted_edges = [float(e) for e in edges]

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        edges = list(self.fitted_edges or [])
        inner = edges[1:-1]
        x = _numeric(df, self.column, self)
        labels = _bin_labels(edges)
        idx = np.searchsorted(np.asarray(inner), x.to_numpy(), side="right")
        out[self._name()] = pd.Series(
            np.asarray(labels, dtype=object)[np.clip(idx, 0, len(labels) - 1)], index=df.index
        ).where(x.notna(), None)
        return out

    def describe(self) -> str:
        kind = "equal-count" if self.method == "quantile" else "equal-width"
        return f"Bin {self.column} into {self.bins} {kind} ranges as {self._name()}"


def _bin_labels(edges: list[float]) -> list[str]:
    if len(edges) < 2:
        return ["all"]
    inner = edges[1:-1]
    if not inner:
        return ["all"]
    labels = [f"< {inner[0]:.4g}"]
    labels += [f"{a:.4g} to < {b:.4g}" for a, b in zip(inner[:-1], inner[1:], strict=True)]
    labels.append(f">= {inner[-1]:.4g}")
    return labels


@dataclass
class RoundNumbers(ColumnStep):
    digits: int = 0
    kind: ClassVar[str] = "round"
    label: ClassVar[str] = "Round numbers"
    group: ClassVar[str] = "Calculate"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if not -15 <= self.digits <= 15:
            raise ParameterError("Round numbers: the number of decimals must be from -15 to 15.")

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self.column] = _numeric(df, self.column, self).round(int(self.digits))
        return out

    def describe(self) -> str:
        return f"Round {self.column} to {self.digits} decimals"


@dataclass
class GroupRare(ColumnStep):
    min_share: float = 0.01
    other: str = "other"
    fitted_keep: list[str] | None = None
    kind: ClassVar[str] = "group_rare"
    label: ClassVar[str] = "Group rare categories"
    group: ClassVar[str] = "Clean"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        if not 0 < self.min_share < 1:
            raise ParameterError("Group rare categories: the share must be between 0 and 1.")

    def fit(self, df: pd.DataFrame) -> None:
        share = _text(df[self.column]).value_counts(normalize=True)
        self.fitted_keep = sorted(str(k) for k in share[share >= self.min_share].index)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        t = _text(df[self.column])
        out[self.column] = t.where(t.isin(self.fitted_keep or []) | t.isna(), self.other)
        return out

    def describe(self) -> str:
        return f"Group {self.column} values under {self.min_share:.0%} of rows as '{self.other}'"


# ---------------------------------------------------------------- row steps (training only)
@dataclass
class FilterRows(Step):
    condition: str
    kind: ClassVar[str] = "filter"
    label: ClassVar[str] = "Keep rows where..."
    group: ClassVar[str] = "Rows"
    row_step: ClassVar[bool] = True

    def inputs(self) -> list[str]:
        from automl.prep.expr import Expression

        return sorted(Expression.parse(self.condition).columns)

    def validate(self, columns: list[str]) -> None:
        from automl.prep.expr import Expression

        Expression.parse(self.condition, columns)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        from automl.prep.expr import Expression

        keep = Expression.parse(self.condition).evaluate(df)
        if not pd.api.types.is_bool_dtype(keep):
            raise ParameterError(
                f"Keep rows where '{self.condition}': the condition must be true or false for "
                'each row (e.g. amount > 0 and region = "north").'
            )
        return df[keep.fillna(False).astype(bool)]

    def describe(self) -> str:
        return f"Keep rows where {self.condition}"


@dataclass
class DropDuplicates(Step):
    columns: list[str] = field(default_factory=list)  # empty: whole rows
    kind: ClassVar[str] = "drop_duplicates"
    label: ClassVar[str] = "Remove duplicate rows"
    group: ClassVar[str] = "Rows"
    row_step: ClassVar[bool] = True

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        return df.drop_duplicates(subset=_cols(self.columns) or None)

    def describe(self) -> str:
        on = f" (same {', '.join(_cols(self.columns))})" if self.columns else ""
        return f"Remove duplicate rows{on}"


@dataclass
class DropMissingRows(Step):
    columns: list[str] = field(default_factory=list)  # empty: any column
    kind: ClassVar[str] = "drop_missing_rows"
    label: ClassVar[str] = "Remove rows with missing values"
    group: ClassVar[str] = "Rows"
    row_step: ClassVar[bool] = True

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        return df.dropna(subset=_cols(self.columns) or None)

    def describe(self) -> str:
        cols = ", ".join(_cols(self.columns)) if self.columns else "any column"
        return f"Remove rows with a missing value in {cols}"


@dataclass
class RemoveOutliers(ColumnStep):
    k: float = 1.5
    kind: ClassVar[str] = "remove_outliers"
    label: ClassVar[str] = "Remove outlier rows"
    group: ClassVar[str] = "Rows"
    row_step: ClassVar[bool] = True

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        x = _numeric(df, self.column, self)
        lo, hi = iqr_fences(x, self.k)
        return df[~((x < lo) | (x > hi))]

    def describe(self) -> str:
        return f"Remove rows where {self.column} is beyond {self.k:g} x IQR from the quartiles"


def iqr_fences(x: pd.Series, k: float) -> tuple[float, float]:
    q1, q3 = x.quantile(0.25), x.quantile(0.75)
    iqr = q3 - q1
    return float(q1 - k * iqr), float(q3 + k * iqr)


@dataclass
class SortRows(Step):
    columns: list[str]
    ascending: bool = True
    kind: ClassVar[str] = "sort"
    label: ClassVar[str] = "Sort rows"
    group: ClassVar[str] = "Rows"
    row_step: ClassVar[bool] = True

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        return df.sort_values(_cols(self.columns), ascending=self.ascending, kind="stable")

    def describe(self) -> str:
        order = "ascending" if self.ascending else "descending"
        return f"Sort by {', '.join(_cols(self.columns))} ({order})"


@dataclass
class SampleRows(Step):
    rows: int | None = None
    fraction: float | None = None
    seed: int = 0
    kind: ClassVar[str] = "sample"
    label: ClassVar[str] = "Random sample of rows"
    group: ClassVar[str] = "Rows"
    row_step: ClassVar[bool] = True

    def validate(self, columns: list[str]) -> None:
        if (self.rows is None) == (self.fraction is None):
            raise ParameterError("Sample: give either a number of rows or a fraction.")
        if not 0 <= self.seed < 2**32:
            raise ParameterError("Sample: the seed must be a whole number from 0 to 4294967295.")
        if self.rows is not None and self.rows < 1:
            raise ParameterError("Sample: the number of rows must be at least 1.")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ParameterError("Sample: the fraction must be above 0 and at most 1.")

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.rows is not None:
            return df.sample(n=min(self.rows, len(df)), random_state=self.seed).sort_index()
        return df.sample(frac=self.fraction, random_state=self.seed).sort_index()

    def describe(self) -> str:
        what = f"{self.rows:,} rows" if self.rows is not None else f"{self.fraction:.0%} of rows"
        return f"Random sample of {what} (seed {self.seed})"


@dataclass
class KeepColumns(Step):
    columns: list[str]
    kind: ClassVar[str] = "keep_columns"
    label: ClassVar[str] = "Keep only some columns"
    group: ClassVar[str] = "Columns"

    def inputs(self) -> list[str]:
        return _cols(self.columns)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        return df[_cols(self.columns)]

    def describe(self) -> str:
        return f"Keep only {', '.join(_cols(self.columns))}"


@dataclass
class DuplicateColumn(ColumnStep):
    new_name: str
    kind: ClassVar[str] = "duplicate_column"
    label: ClassVar[str] = "Copy a column"
    group: ClassVar[str] = "Columns"

    def validate(self, columns: list[str]) -> None:
        super().validate(columns)
        _new_name(self.new_name, columns, self)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out[self.new_name] = df[self.column]
        return out

    def describe(self) -> str:
        return f"Copy {self.column} as {self.new_name}"


STEPS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (
        DropColumns,
        KeepColumns,
        RenameColumn,
        DuplicateColumn,
        ChangeType,
        ParseNumbers,
        FillMissing,
        MissingIndicator,
        ReplaceValues,
        GroupRare,
        Clip,
        FindReplace,
        TrimText,
        ChangeCase,
        SplitColumn,
        CombineColumns,
        ExtractText,
        TextLength,
        DateParts,
        DateDifference,
        Formula,
        LogTransform,
        Scale,
        Bin,
        RoundNumbers,
        FilterRows,
        DropDuplicates,
        DropMissingRows,
        RemoveOutliers,
        SortRows,
        SampleRows,
    )
}


def step_from_dict(data: Any, number: int | None = None) -> Step:
    """Rebuild a step from :meth:`Step.to_dict`, checking the kind and every parameter's type;
    ``number`` (1 = first) names the step in errors."""
    where = f"Step {number} of the recipe" if number else "The recipe step"
    if not isinstance(data, dict):
        raise ParameterError(
            f"{where} must be an object with a 'kind' and its parameters, such as "
            f'{{"kind": "drop_columns", "columns": ["id"]}}, but it is {_json_shown(data)}.'
        )
    data = dict(data)
    kind = data.pop("kind", None)
    if not isinstance(kind, str) or kind not in STEPS:
        near = difflib.get_close_matches(str(kind), list(STEPS), n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        shown = f"'{kind}'" if isinstance(kind, str) else _json_shown(kind)
        at = f" (step {number} of the recipe)" if number else ""
        raise ParameterError(
            f"Unknown recipe step {shown}{at}.{hint} Known steps: {', '.join(STEPS)}."
        )
    cls = STEPS[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParameterError(
            f"{where} ('{kind}') has no parameter(s) {', '.join(map(str, unknown))}. "
            f"Its parameters: {', '.join(n for n in fields if not n.startswith('fitted_'))}."
        )
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ParameterError(f"{where} ('{kind}') needs the parameter '{name}'.")
            continue
        expected = _expected(str(f.type), data[name])
        if expected:
            raise ParameterError(
                f"{where} ('{kind}'): the parameter '{name}' must be {expected}, but it is "
                f"{_json_shown(data[name])}."
            )
        if str(f.type).removesuffix(" | None") == "int" and data[name] is not None:
            data[name] = int(data[name])
    return cls(**data)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool | np.bool_)


def _is_number(v: Any) -> bool:
    """A number (numpy's too) a float can hold, not true/false and not NaN (JSON allows NaN)."""
    if _is_bool(v) or not isinstance(v, int | float | np.number):
        return False
    try:
        x = float(v)
    except OverflowError:  # an integer of hundreds of digits
        return False
    return x == x


def _is_whole(v: Any) -> bool:
    """A whole number; 5.0 counts (a form or another JSON writer may write whole numbers so)."""
    return _is_number(v) and float(v).is_integer()


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str) or _is_bool(v) or _is_number(v)


_PLAIN_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "str": ("a text", lambda v: isinstance(v, str)),
    "bool": ("true or false", _is_bool),
    "int": ("a whole number", _is_whole),
    "float": ("a number", _is_number),
    "Any": ("a text, a number, true or false", _is_scalar),
}


def _expected(annotation: str, value: Any) -> str:
    """What a parameter of type ``annotation`` must be, in words; "" when ``value`` is one."""
    optional = annotation.endswith(" | None")
    base = annotation.removesuffix(" | None")
    if value is None and (optional or base == "Any"):
        return ""
    suffix = " (or null)" if optional else ""
    if base in _PLAIN_TYPES:
        words, ok = _PLAIN_TYPES[base]
        return "" if ok(value) else words + suffix
    if base.startswith("list[") and base.endswith("]"):
        words, ok = _PLAIN_TYPES[base[5:-1]]
        if base == "list[str]" and isinstance(value, str):
            return ""  # one column name stands for a list of one
        plural = {"a text": "texts", "a number": "numbers", "a whole number": "whole numbers"}
        if isinstance(value, list) and all(ok(v) for v in value):
            return ""
        return f"a list of {plural.get(words, words)}{suffix}"
    if base == "dict[str, Any]":
        if isinstance(value, dict) and all(_is_scalar(v) for v in value.values()):
            return ""
        return 'an object of old and new values, such as {"NY": "New York"}' + suffix
    raise AssertionError(f"no check for parameters of type {annotation}")


def _json_shown(v: Any) -> str:
    """A JSON value described for an analyst (no Python reprs)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'the text "{v[:40]}"' + ("..." if len(v) > 40 else "")
    if isinstance(v, int | float):
        return f"the number {v:g}" if isinstance(v, float) else f"the number {v}"
    if isinstance(v, list):
        return f"a list of {len(v)} value(s)"
    if isinstance(v, dict):
        return "an object"
    return "a value of another kind"


# ---------------------------------------------------------------------------------- recipe
@dataclass
class StepReport:
    step: str
    rows_before: int
    rows_after: int
    columns_added: list[str]
    columns_removed: list[str]
    cells_changed: int


@dataclass
class Recipe:
    """An ordered list of steps, with undo/redo; serialized to JSON."""

    steps: list[Step] = field(default_factory=list)
    target: str | None = None
    _undone: list[Step] = field(default_factory=list, repr=False)
    # columns derived from the target: steps that read them are skipped at prediction time
    _target_steps: list[int] = field(default_factory=list, repr=False)

    def add(self, step: Step) -> Recipe:
        self.steps.append(step)
        self._undone.clear()
        return self

    def undo(self) -> Step:
        if not self.steps:
            raise ParameterError("There is no step to undo: the recipe is empty.")
        step = self.steps.pop()
        self._undone.append(step)
        return step

    def redo(self) -> Step:
        if not self._undone:
            raise ParameterError("There is nothing to redo.")
        step = self._undone.pop()
        self.steps.append(step)
        return step

    def remove(self, index: int) -> Step:
        if not 0 <= index < len(self.steps):
            raise ParameterError(f"The recipe has no step {index + 1}.")
        return self.steps.pop(index)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def column_steps(self) -> list[Step]:
        return [s for s in self.steps if not s.row_step]

    # ------------------------------------------------------------------ running
    def fit_apply(self, df: pd.DataFrame, report: list[StepReport] | None = None) -> pd.DataFrame:
        """Run every step on training data, learning what each step needs as it goes."""
        target_cols = {self.target} if self.target else set()
        self._target_steps = []
        for i, step in enumerate(self.steps):
            step.validate([str(c) for c in df.columns])
            if set(step.inputs()) & target_cols and not step.row_step:
                self._target_steps.append(i)
            step.fit(df)
            before = df
            df = self._run(step, i, df)
            if set(step.inputs()) & target_cols:
                target_cols |= set(map(str, df.columns)) - set(map(str, before.columns))
            if isinstance(step, RenameColumn) and step.column in target_cols:
                target_cols.add(step.new_name)
            if report is not None:
                report.append(_report(step, before, df))
        return df

    def apply(self, df: pd.DataFrame, training: bool = True) -> pd.DataFrame:
        """Replay the fitted recipe. ``training=False`` (prediction) runs only column steps and
        skips those that read the target (new rows have no target)."""
        for i, step in enumerate(self.steps):
            if not training and (step.row_step or i in self._target_steps):
                continue
            if not step.fitted:
                raise ParameterError(
                    f"Step {i + 1} ('{step.describe()}') has not learned from training data yet: "
                    "run fit_apply on the training rows first."
                )
            if not isinstance(step, DropColumns):  # dropping an absent column is harmless
                step.validate([str(c) for c in df.columns])
            df = self._run(step, i, df)
        return df

    @staticmethod
    def _run(step: Step, i: int, df: pd.DataFrame) -> pd.DataFrame:
        out = step.apply(df)
        if not step.row_step and len(out) != len(df):  # pragma: no cover - a bug, not user error
            raise AssertionError(f"column step {step.kind} changed the number of rows")
        return out

    def input_columns(self, columns: list[str]) -> list[str]:
        """Which of the raw ``columns`` the recipe reads before creating them itself."""
        made: set[str] = set()
        needed: list[str] = []
        for step in self.steps:
            if isinstance(step, DropColumns):
                continue  # a dropped column is not needed to predict
            for c in step.inputs():
                if c not in made and c not in needed and c in columns:
                    needed.append(c)
            made |= _outputs(step)
        return needed

    def describe(self) -> list[str]:
        return [
            f"{i + 1}. {s.describe()}" + (" [training only]" if s.row_step else "")
            for i, s in enumerate(self.steps)
        ]

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RECIPE_VERSION,
            "target": self.target,
            "steps": [s.to_dict() for s in self.steps],
            "target_steps": list(self._target_steps),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=_plain)

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        """A recipe from :meth:`to_dict`'s form, every part checked (a hostile file gets an error
        naming the step, the parameter and what it must be)."""
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ParameterError("This is not an Easel recipe: it has no list of steps.")
        version = data.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ParameterError(
                f"The recipe's version must be a whole number such as {RECIPE_VERSION}, but it "
                f"is {_json_shown(version)}."
            )
        if version > RECIPE_VERSION:
            raise ParameterError(
                f"This recipe was written by a newer Easel (recipe version {version}); "
                "upgrade Easel to use it."
            )
        target = data.get("target")
        if target is not None and not isinstance(target, str):
            raise ParameterError(
                f"The recipe's target must be a column name (text) or null, but it is "
                f"{_json_shown(target)}."
            )
        steps = [step_from_dict(s, i + 1) for i, s in enumerate(data["steps"])]
        marked = data.get("target_steps", [])
        n = len(steps)
        if not isinstance(marked, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in marked
        ):
            raise ParameterError(
                "The recipe's target_steps must be a list of step positions (0 to "
                f"{max(n - 1, 0)}), but it is {_json_shown(marked)}."
            )
        recipe = cls(steps, target)
        recipe._target_steps = list(marked)
        return recipe

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ParameterError(f"The recipe is not valid JSON: {e}.") from None
        return cls.from_dict(data)


def _outputs(step: Step) -> set[str]:
    names: set[str] = set()
    for attr in ("new_name", "new_names"):
        v = getattr(step, attr, None)
        if v:
            names |= set(_cols(v))
    if isinstance(step, DateParts):
        names |= {f"{step.column}_{p}" for p in step.parts}
    if isinstance(step, MissingIndicator | TextLength | Bin):
        names.add(step._name())
    return names


def _report(step: Step, before: pd.DataFrame, after: pd.DataFrame) -> StepReport:
    bcols, acols = list(map(str, before.columns)), list(map(str, after.columns))
    changed = 0
    if not step.row_step:
        for c in acols:
            if c in bcols:
                a, b = after[c], before[c]
                same = (a.astype(object) == b.astype(object)) | (a.isna() & b.isna())
                changed += int((~same).sum())
    return StepReport(
        step.describe(),
        len(before),
        len(after),
        [c for c in acols if c not in bcols],
        [c for c in bcols if c not in acols],
        changed,
    )


def parameters(cls: type[Step]) -> list[dataclasses.Field[Any]]:
    """The user-set parameters of a step class (what a form asks for), in order."""
    return [f for f in dataclasses.fields(cls) if not f.name.startswith("fitted_")]


def sample_for_preview(df: pd.DataFrame, rows: int = 5000) -> pd.DataFrame:
    """The first ``rows`` rows: enough to show a recipe's effect at once on large data."""
    return df if len(df) <= rows else df.head(rows)
