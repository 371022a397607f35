"""Auto-clean: find missing values, outliers and duplicate rows, propose a fix for each (with
counts), let the caller accept, change or reject each fix, apply them as recipe steps, and report
what changed.

Rules, stated so an analyst can check them:

* **Duplicates**: rows identical in every column. Fix: keep the first.
* **Missing values**: per column. A column more than 60% empty is proposed for removal; otherwise
  numbers get the median, categories and text the most frequent value, dates drop the rows.
  The target is never filled in: rows without a target are removed (they cannot teach anything).
* **Outliers**: numbers beyond 3 x IQR from the quartiles ("far out" in Tukey's terms), in columns
  with at least 20 distinct values. Fix: clip to those fences (or remove the rows). The target's
  outliers are only reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from automl.errors import ParameterError
from automl.prep.recipe import (
    Clip,
    DropColumns,
    DropDuplicates,
    DropMissingRows,
    FillMissing,
    Recipe,
    RemoveOutliers,
    ReplaceValues,
    Step,
    StepReport,
    fmt_number,
    iqr_fences,
)
from automl.words import plural, rows_text, show_value

DROP_COLUMN_SHARE = 0.6
OUTLIER_K = 3.0
MIN_DISTINCT_FOR_OUTLIERS = 20

ACTIONS = {
    "duplicates": ("remove", "keep"),
    "placeholder": ("replace", "keep"),
    "missing": ("median", "mean", "mode", "constant", "drop_rows", "drop_column", "keep"),
    "missing_target": ("drop_rows", "keep"),
    "outliers": ("clip", "remove", "keep"),
}


@dataclass
class Finding:
    """One problem found, with the proposed fix and the alternatives."""

    id: str
    kind: str  # duplicates, missing, missing_target, outliers
    column: str | None
    count: int
    share: float
    action: str
    options: tuple[str, ...]
    detail: str  # the problem and the proposed fix
    params: dict[str, Any] = field(default_factory=dict)
    problem: str = ""  # the problem alone, to say another chosen fix after it

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# Each fix in words, as the analyst chooses it ("keep" rejects the proposed fix).
ACTION_WORDS = {
    "remove": "remove the rows",
    "replace": "replace with missing",
    "median": "fill with the median",
    "mean": "fill with the average",
    "mode": "fill with the most frequent value",
    "constant": "fill with a value I give",
    "drop_rows": "remove the rows",
    "drop_column": "remove the column",
    "clip": "clip to the limits",
    "keep": "keep as is",
}
_TITLES = {
    "duplicates": "Duplicate rows",
    "placeholder": "Stand-ins for missing values in {column}",
    "missing": "Missing values in {column}",
    "missing_target": "Rows without a target ({column})",
    "outliers": "Far outliers in {column}",
}


def finding_title(f: Finding) -> str:
    """A finding's heading: "Far outliers in income" rather than its id "outliers:income"."""
    return _TITLES.get(f.kind, f.id).format(column=f.column)


def finding_text(f: Finding, action: str) -> str:
    """What was found and what the chosen fix does: the proposal as written when it is chosen,
    "Rejected: ..." when the analyst keeps the values, the chosen alternative otherwise."""
    if action == f.action or not f.problem:
        return f.detail
    if action == "keep":
        return f"{f.problem}. Rejected: they stay as they are."
    if f.kind == "duplicates" and action == "remove":
        return f"{f.problem}. Chosen: keep the first of each."
    return f"{f.problem}. Chosen: {ACTION_WORDS.get(action, action)}."


@dataclass
class CleanResult:
    data: pd.DataFrame
    findings: list[Finding]
    applied: list[tuple[Finding, str]]
    report: list[StepReport]
    recipe: Recipe

    def summary(self) -> list[str]:
        """One line per applied fix: what it did and how many rows/cells changed."""
        lines = []
        for (_f, action), rep in zip(self.applied, self.report, strict=True):
            removed_rows = rep.rows_before - rep.rows_after
            parts = []
            if removed_rows:
                parts.append(f"{rows_text(removed_rows)} removed")
            if rep.cells_changed:
                parts.append(f"{plural(rep.cells_changed, 'cell')} changed")
            if rep.columns_removed:
                parts.append(f"column {', '.join(rep.columns_removed)} removed")
            lines.append(f"{rep.step} [{action}]: {'; '.join(parts) or 'nothing changed'}")
        return lines


PLACEHOLDER_TEXT = {"n/a", "na", "?", "-", "--", "null", "none", "unknown", "missing", "nan", ""}
PLACEHOLDER_NUMBERS = (-1, -9, -99, -999, -9999, 99, 999, 9999, 99999)


def placeholders(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Values that probably stand for "missing": extreme round numbers such as -999 or 9999
    (at least 0.5% of a column's values, and its minimum or maximum) and text such as "N/A",
    "?" or "unknown". One entry per (column, value) with the row count."""
    out: list[dict[str, Any]] = []
    for col in df.columns:
        s = df[col]
        present = s.dropna()
        if not len(present):
            continue
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            x = present.astype(float)
            lo, hi = x.min(), x.max()
            for v in PLACEHOLDER_NUMBERS:
                if v not in (lo, hi):  # (checked first: counting is a pass over the rows)
                    continue
                cnt = int((x == v).sum())
                if cnt and cnt >= 0.005 * len(x):
                    out.append(
                        {
                            "column": str(col),
                            "value": v,
                            "rows": cnt,
                            "why": "an extreme round value that often means missing",
                        }
                    )
        elif not pd.api.types.is_datetime64_any_dtype(s):
            # each distinct text checked once, not each row (its count is its rows')
            counts = present.astype(str).value_counts()
            hit = counts.index.str.strip().str.lower().isin(PLACEHOLDER_TEXT)
            for v, cnt in counts[hit].items():
                out.append(
                    {
                        "column": str(col),
                        "value": v,
                        "rows": int(cnt),
                        "why": "text that usually means 'no value'",
                    }
                )
    return out


def duplicate_rows(df: pd.DataFrame) -> int:
    """How many rows repeat an earlier row (as ``df.duplicated().sum()``), in little memory: a
    64-bit hash per row, column by column, then the exact check on the rows whose hash repeats
    (``duplicated`` itself builds integer codes for every column at once: 8 bytes per cell)."""
    if len(df) < 2 or df.shape[1] == 0:
        return 0
    try:
        hashes = pd.util.hash_pandas_object(df, index=False)
    except TypeError:  # a value that cannot be hashed: as pandas does it
        return int(df.duplicated().sum())
    maybe = hashes.duplicated(keep=False).to_numpy()
    return int(df.loc[maybe].duplicated().sum()) if maybe.any() else 0


def find_issues(df: pd.DataFrame, target: str | None = None) -> list[Finding]:
    """Everything auto-clean would fix, each with a proposed action."""
    if target is not None and target not in df.columns:
        raise ParameterError(f"The target column '{target}' is not in the data.")
    n = len(df)
    out: list[Finding] = []
    if n == 0:
        return out
    dup = duplicate_rows(df)
    if dup:
        copies = "is an exact copy" if dup == 1 else "are exact copies"
        problem = f"{rows_text(dup)} {copies} of an earlier row"
        out.append(
            Finding(
                "duplicates",
                "duplicates",
                None,
                dup,
                dup / n,
                "remove",
                ACTIONS["duplicates"],
                f"{problem}; keep the first of each.",
                problem=problem,
            )
        )
    by_col: dict[str, list[dict[str, Any]]] = {}
    for p in placeholders(df):
        by_col.setdefault(p["column"], []).append(p)
    for col, found in by_col.items():
        rows = sum(p["rows"] for p in found)
        shown = ", ".join(show_value(p["value"]) for p in found)
        problem = (
            f"{plural(rows, 'value')} of {col} {'looks' if rows == 1 else 'look'} like stand-ins "
            f"for a missing value ({shown})"
        )
        out.append(
            Finding(
                f"placeholder:{col}",
                "placeholder",
                col,
                rows,
                rows / n,
                "keep" if col == target else "replace",
                ACTIONS["placeholder"],
                f"{problem}; replace them with missing so they are not read as real values.",
                {"values": [p["value"] for p in found]},
                problem=problem,
            )
        )
    for col in df.columns:
        s = df[col]
        name = str(col)
        stand_ins = sum(p["rows"] for p in by_col.get(name, [])) if name != target else 0
        miss = int(s.isna().sum()) + stand_ins
        if miss:
            share = miss / n
            problem = (
                f"{rows_text(miss)} ({share:.1%}) {'has' if miss == 1 else 'have'} no value for "
                + (f"the target {name}" if name == target else name)
            )
            if name == target:
                out.append(
                    Finding(
                        f"missing:{name}",
                        "missing_target",
                        name,
                        miss,
                        share,
                        "drop_rows",
                        ACTIONS["missing_target"],
                        f"{problem}; they cannot be used for training and are removed (the target "
                        "is never filled in).",
                        problem=problem,
                    )
                )
            else:
                action, why = _missing_action(s, share)
                if stand_ins:
                    problem += f" (including {stand_ins:,} stand-ins replaced first)"
                out.append(
                    Finding(
                        f"missing:{name}",
                        "missing",
                        name,
                        miss,
                        share,
                        action,
                        ACTIONS["missing"],
                        f"{problem}; {why}",
                        problem=problem,
                    )
                )
        if (
            pd.api.types.is_numeric_dtype(s)
            and not pd.api.types.is_bool_dtype(s)
            and s.nunique(dropna=True) >= MIN_DISTINCT_FOR_OUTLIERS
        ):
            x = s.astype(float)
            lo, hi = iqr_fences(x, OUTLIER_K)
            far = int(((x < lo) | (x > hi)).sum())
            if far:
                is_target = name == target
                # state (and clip) only the side(s) where values lie beyond the fence
                lower = lo if bool((x < lo).any()) else None
                upper = hi if bool((x > hi).any()) else None
                where = " or ".join(
                    t
                    for t in (
                        f"below {fmt_number(lo)}" if lower is not None else "",
                        f"above {fmt_number(hi)}" if upper is not None else "",
                    )
                    if t
                )
                fix = " and ".join(
                    t
                    for t in (
                        f"up to {fmt_number(lo)}" if lower is not None else "",
                        f"down to {fmt_number(hi)}" if upper is not None else "",
                    )
                    if t
                )
                problem = (
                    f"{plural(far, 'value')} of {name} {'lies' if far == 1 else 'lie'} far "
                    f"outside the usual range of the column ({where})"
                )
                out.append(
                    Finding(
                        f"outliers:{name}",
                        "outliers",
                        name,
                        far,
                        far / n,
                        "keep" if is_target else "clip",
                        ACTIONS["outliers"],
                        problem
                        + (
                            "; this is the target, so they are only reported."
                            if is_target
                            else f"; clip them {fix}."
                        ),
                        {"lower": lower, "upper": upper},
                        problem=problem,
                    )
                )
    return out


def _missing_action(s: pd.Series, share: float) -> tuple[str, str]:
    if share > DROP_COLUMN_SHARE:
        return "drop_column", f"more than {DROP_COLUMN_SHARE:.0%} empty, so remove the column."
    if pd.api.types.is_datetime64_any_dtype(s):
        return "drop_rows", "dates cannot be guessed well, so remove those rows."
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return "median", f"fill with the median ({fmt_number(float(s.median()))})."
    present = s.dropna()
    if present.nunique() > max(50, 0.5 * len(present)):
        return "keep", "it looks like free text, where an empty value carries meaning; keep it."
    mode = present.mode()
    shown = str(mode.iloc[0]) if len(mode) else "?"
    return "mode", f"fill with the most frequent value ('{shown[:40]}')."


def _step(f: Finding, action: str, value: Any) -> Step | None:
    if action == "keep":
        return None
    if f.kind == "duplicates":
        return DropDuplicates()
    if f.kind == "placeholder":
        from automl.prep.recipe import _text

        keys = _text(pd.Series(f.params["values"])).tolist()
        return ReplaceValues(str(f.column), {str(k): None for k in keys})
    col = str(f.column)
    if f.kind in ("missing", "missing_target"):
        if action == "drop_rows":
            return DropMissingRows([col])
        if action == "drop_column":
            return DropColumns([col])
        if action == "constant" and value is None:
            raise ParameterError(f"Filling {col} with a constant needs the value to use.")
        return FillMissing(col, action, value)
    if action == "clip":
        return Clip(col, lower=f.params["lower"], upper=f.params["upper"])
    return RemoveOutliers(col, OUTLIER_K)


_ORDER = {"duplicates": 0, "placeholder": 1, "missing_target": 2, "missing": 3, "outliers": 4}


def fix_steps(
    findings: list[Finding],
    decisions: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> list[tuple[Finding, str, Step]]:
    """The recipe steps for the chosen fixes, in a safe order (duplicates, rows without a
    target, missing values, outliers). ``decisions`` maps a finding id to another action ("keep"
    rejects it); ``values`` gives the constant for a "constant" fill."""
    decisions = decisions or {}
    values = values or {}
    known = {f.id for f in findings}
    unknown = sorted(set(decisions) - known)
    if unknown:
        raise ParameterError(
            f"No finding with id {', '.join(unknown)}. "
            f"Findings: {', '.join(sorted(known)) or 'none'}."
        )
    steps: list[tuple[Finding, str, Step]] = []
    for f in sorted(findings, key=lambda f: (_ORDER[f.kind], f.id)):
        action = decisions.get(f.id, f.action)
        if action not in f.options:
            raise ParameterError(
                f"'{action}' is not a fix for {f.id}. Choose one of {', '.join(f.options)}."
            )
        step = _step(f, action, values.get(f.id))
        if step is not None:
            steps.append((f, action, step))
    dropped = {str(s.columns[0]) for _, _, s in steps if isinstance(s, DropColumns)}
    # a column that is removed needs no other fix
    return [
        (f, a, s)
        for f, a, s in steps
        if isinstance(s, DropColumns) or f.column is None or f.column not in dropped
    ]


def auto_clean(
    df: pd.DataFrame,
    target: str | None = None,
    decisions: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    findings: list[Finding] | None = None,
) -> CleanResult:
    """Find (unless ``findings`` are given) and apply the fixes; see :func:`fix_steps`."""
    findings = find_issues(df, target) if findings is None else findings
    steps = fix_steps(findings, decisions, values)
    recipe = Recipe([s for _, _, s in steps], target=target)
    report: list[StepReport] = []
    data = recipe.fit_apply(df, report)
    return CleanResult(data, findings, [(f, a) for f, a, _ in steps], report, recipe)
