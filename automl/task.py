"""Task detection and target checks.

Rules for the detected task (override with ``task=``):

- **binary**: the target has exactly two distinct values (any type).
- **multiclass**: the target is text/categorical/boolean with 3 to ``MAX_CLASSES`` values, or whole
  numbers with at most ``MAX_INTEGER_CLASSES`` distinct values (e.g. ratings 1-5).
- **regression**: numbers otherwise (fractions, or many distinct whole numbers).

Rows whose target is missing are dropped and counted. A target the rules cannot learn from gets a
:class:`~automl.errors.TargetError` saying why and what to do; so does a numeric target with
infinite values (``inf``, ``-inf``, or a number too large to hold such as ``1e400``), found before
any model is trained (:func:`check_finite_target`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.coltypes import as_text
from automl.errors import ParameterError, TargetError
from automl.words import rows_text, show_value

TASKS = ("binary", "multiclass", "regression")
MAX_CLASSES = 100
MAX_INTEGER_CLASSES = 10
MIN_ROWS_PER_CLASS = 5
MIN_ROWS = 20
POSITIVE_WORDS = ("1", "true", "yes", "y", "t", "positive", "pos")


@dataclass
class TargetInfo:
    """What the target is, what Easel will predict, and what was dropped."""

    name: str
    task: str
    classes: list[Any] = field(default_factory=list)
    positive_label: Any = None
    rows_dropped_missing_target: int = 0
    detected_task: str = ""
    reason: str = ""


def _json_scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def check_finite_target(values: pd.Series, target: str, rows: np.ndarray | None = None) -> None:
    """A clear :class:`TargetError` when numeric target ``values`` hold infinite values: how many
    rows, which values, and the first row (``rows``: each value's row number, 1 = first; default
    its position)."""
    num = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = np.isinf(num)
    if not bad.any():
        return
    n_plus = int((num[bad] > 0).sum())
    n_minus = int(bad.sum()) - n_plus
    kinds = [
        f"{n} row(s) {word}"
        for n, word in (
            (n_plus, "infinitely large (inf, or a number too large to hold, such as 1e400)"),
            (n_minus, "infinitely small (-inf)"),
        )
        if n
    ]
    at = int(np.flatnonzero(bad)[0])
    first = int(rows[at]) if rows is not None else at + 1
    raise TargetError(
        f"The target column '{target}' has {int(bad.sum())} value(s) that are not usable "
        f"numbers: {' and '.join(kinds)}; the first is in row {first}. Fix or remove those rows "
        "(or mark them as missing), then try again."
    )


def _numeric_target(y: pd.Series) -> pd.Series | None:
    if pd.api.types.is_bool_dtype(y.dtype):
        return None
    if pd.api.types.is_numeric_dtype(y.dtype):
        return y.astype("float64")
    # each distinct value parsed once (a target of 800,000 rows has a few labels)
    codes, labels = pd.factorize(as_text(y))
    if (codes < 0).any():  # a missing value is not a number
        return None
    parsed = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce")
    if parsed.notna().all():
        values = parsed.to_numpy(dtype="float64")[codes]
        return pd.Series(values, index=y.index, name=y.name, dtype="float64")
    return None


def clean_labels(y: pd.Series) -> pd.Series:
    """Class labels as plain Python-friendly values: ints, floats, bools or stripped strings."""
    if pd.api.types.is_bool_dtype(y.dtype):
        return y.astype(bool)
    if pd.api.types.is_numeric_dtype(y.dtype):
        num = y.astype("float64")
        if np.all(np.mod(num.to_numpy(), 1) == 0):
            return num.astype("int64")
        return num
    return as_text(y).astype(object)


def _choose_positive(classes: list[Any]) -> Any:
    for word in POSITIVE_WORDS:
        for c in classes:
            if str(c).strip().lower() == word:
                return c
    return classes[-1]


def detect_task(
    df: pd.DataFrame,
    target: str,
    task: str | None = None,
    positive_label: Any = None,
) -> tuple[pd.DataFrame, TargetInfo]:
    """Check ``target``, drop rows where it is missing, and decide the task.

    Returns the kept rows and a :class:`TargetInfo`.
    """
    if target not in df.columns:
        close = [c for c in map(str, df.columns) if c.lower() == str(target).lower()]
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise TargetError(
            f"The target column '{target}' is not in the data.{hint} "
            f"The columns are: {', '.join(map(str, df.columns))}."
        )
    if task is not None and task not in TASKS:
        raise ParameterError(
            f"The 'task' parameter of AutoML must be one of {', '.join(TASKS)} or None. "
            f"Got {task!r} instead."
        )
    raw = df[target]
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        raise TargetError(
            f"The target column '{target}' holds dates. Easel predicts categories or numbers; "
            "choose another target, or derive one from the dates (e.g. days until an event)."
        )
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        check_finite_target(raw, target)
    missing = raw.isna()
    if not pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        missing = missing | as_text(raw).isna()
    n_missing = int(missing.sum())
    if n_missing == len(df):
        raise TargetError(
            f"Every value of the target column '{target}' is missing, so there is nothing to "
            "learn. Choose a column that has values, or fill this one in."
        )
    rows = np.flatnonzero(~missing.to_numpy(bool)) + 1  # each kept row's number in the data
    # every row kept: the same frame (pandas copies on write, so no copy of a big table)
    kept = df.loc[~missing.to_numpy(bool)] if missing.any() else df
    kept = kept.reset_index(drop=True)
    y = kept[target]
    n_distinct = int(y.nunique())
    if n_distinct < 2:
        raise TargetError(
            f"The target column '{target}' has a single value ({show_value(y.iloc[0])}) in every "
            "row, so there is nothing to predict. Choose another target, or add rows with other "
            "values."
        )
    if len(kept) < MIN_ROWS:
        raise TargetError(
            f"Only {rows_text(len(kept))} {'has' if len(kept) == 1 else 'have'} a value in the "
            f"target column '{target}'; at least "
            f"{MIN_ROWS} are needed to train and check a model. Add more rows."
        )

    numeric = _numeric_target(y)
    if n_distinct == 2:
        detected, reason = "binary", "the target has exactly two values"
    elif numeric is None:
        detected, reason = "multiclass", f"the target has {n_distinct} categories"
    elif (
        np.isfinite(numeric.to_numpy()).all()
        and np.all(np.mod(numeric.to_numpy(), 1) == 0)
        and n_distinct <= MAX_INTEGER_CLASSES
    ):
        detected, reason = (
            "multiclass",
            f"the target has only {n_distinct} distinct whole numbers, treated as categories",
        )
    else:
        detected, reason = "regression", "the target is numbers with many distinct values"
    chosen = task or detected
    if task and task != detected:
        reason = f"chosen by the user (detected: {detected})"

    info = TargetInfo(
        name=target,
        task=chosen,
        rows_dropped_missing_target=n_missing,
        detected_task=detected,
        reason=reason,
    )
    if chosen == "regression":
        if numeric is None:
            bad = as_text(y)[pd.to_numeric(as_text(y), errors="coerce").isna()]
            raise TargetError(
                f"The target column '{target}' cannot be predicted as a number: the value "
                f"{show_value(bad.iloc[0])} (row {int(bad.index[0]) + 1}) is not a number. Choose "
                "a 2-category or 3+ category problem instead, or fix those values."
            )
        check_finite_target(numeric, target, rows)  # text such as "inf" or "1e400"
        kept[target] = numeric
        return kept, info

    labels = clean_labels(y)
    kept[target] = labels
    counts = labels.value_counts()
    if chosen == "binary" and len(counts) != 2:
        raise TargetError(
            f"A 2-category problem needs exactly two values in '{target}', but it has "
            f"{len(counts)}. Choose the 3+ category problem type, or merge the values into two."
        )
    if len(counts) > MAX_CLASSES:
        raise TargetError(
            f"The target column '{target}' has {len(counts)} distinct values; at most "
            f"{MAX_CLASSES} categories are supported. If it holds numbers, choose the numeric "
            "problem type; otherwise group rare values into fewer categories."
        )
    rare = counts[counts < MIN_ROWS_PER_CLASS]
    if len(rare):
        listed = ", ".join(f"{show_value(k)} ({rows_text(v)})" for k, v in rare.items())
        raise TargetError(
            f"Some values of the target column '{target}' have too few rows to train and check a "
            f"model: {listed}. Each value needs at least {MIN_ROWS_PER_CLASS} rows. Add rows, "
            "merge these values into others, or remove their rows."
        )
    classes = sorted((_json_scalar(c) for c in counts.index), key=lambda v: (str(type(v)), v))
    info.classes = classes
    if chosen == "binary":
        if positive_label is not None:
            matches = [c for c in classes if str(c) == str(positive_label)]
            if not matches:
                raise ParameterError(
                    f"The 'positive_label' parameter of AutoML must be one of the target's values "
                    f"({', '.join(map(repr, classes))}). Got {positive_label!r} instead."
                )
            info.positive_label = matches[0]
        else:
            info.positive_label = _choose_positive(classes)
        info.classes = [c for c in classes if c != info.positive_label] + [info.positive_label]
    return kept, info
