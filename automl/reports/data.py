"""The data exploration report, for any table, with or without a target.

Exact counts (rows, missing cells, duplicates, distinct values) use every row; charts, anomalies
and relationships use a random sample of SAMPLE_ROWS rows above that size, the per-column
predictive power one of POWER_ROWS rows, and the report says so.

Rules, stated in the report where they apply:

* outliers: values beyond 1.5 x IQR from the quartiles (Tukey's fences);
* predictive power of one column: how much better that column alone predicts the target than a
  model-free guess, on rows the estimate did not see (5-fold cross-validation), as a skill score
  on squared error (class probabilities, or numbers): 0 = no better, 1 = perfect; reported with
  its noise (two standard errors over the folds), never clipped to 0, and said to measure the
  column alone (the model's column impact measures it with the others);
* likely leakage: a single column with predictive power of at least 0.95;
* anomalous rows: an isolation forest on the number columns and the frequency of each category.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeRegressor

from automl.coltypes import infer_types, to_datetime, to_number
from automl.errors import EaselError, ParameterError
from automl.prep.clean import duplicate_rows, placeholders
from automl.reports._base import Report, Section, fmt

SAMPLE_ROWS = 50_000
# one column's predictive power (5 cross-validated fits per column) on at most this many rows:
# its noise band says how precise it is
POWER_ROWS = 20_000
ANOMALY_ROWS = 20_000
LEAKAGE_POWER = 0.95
POWER_COLUMNS = ["column", "type", "predictive power", "noise (±)", "on its own"]
HIGH_CARDINALITY = 50
MANY_MISSING = 0.3
SKEWED = 2.0


def data_report(df: pd.DataFrame, target: str | None = None, seed: int = 0) -> Report:
    """Build the data exploration report for ``df`` (and its relation to ``target``)."""
    if not isinstance(df, pd.DataFrame):
        raise ParameterError(f"data_report expects a DataFrame. Got {type(df).__name__}.")
    if len(df) == 0 or df.shape[1] == 0:
        raise ParameterError("The data has no rows or no columns; there is nothing to report.")
    df = df.rename(columns=str)
    if target is not None and target not in df.columns:
        raise ParameterError(f"The target '{target}' is not a column of the data.")
    n = len(df)
    sample = df.sample(SAMPLE_ROWS, random_state=seed) if n > SAMPLE_ROWS else df
    notes: list[str] = []
    if len(sample) < n:
        notes.append(
            f"Charts, anomalies and relationships use a random sample of {len(sample):,} of "
            f"the {n:,} rows; counts use every row."
        )
    if target is not None and n > POWER_ROWS:
        notes.append(
            f"Predictive power uses a random sample of {POWER_ROWS:,} of the {n:,} rows (its "
            "noise band says how precise that is)."
        )
    types = infer_types(df.drop(columns=[target]) if target else df)
    dup = duplicate_rows(df)
    missing_cells = int(df.isna().sum().sum())
    warn_rows: list[dict[str, str]] = []

    def warn(column: str, kind: str, reason: str) -> None:
        warn_rows.append({"column": column, "warning": kind, "reason": reason})

    if dup:
        warn("(all)", "duplicate rows", f"{dup:,} rows ({dup / n:.1%}) repeat an earlier row.")
    columns_section, disguised = _columns(df, sample, types, target, warn)
    sections: list[Section] = [_overview(df, types, dup, missing_cells, target)]
    target_sections: list[Section] = []
    guard: list[dict[str, str]] = []
    if target is not None:
        target_sections, guard = _target(df, sample, types, target, warn, seed)
    sections += target_sections
    sections.append(columns_section)
    rel = _relationships(sample)
    if rel is not None:
        sections.append(rel)
    anomalies = _anomalies(sample, [c for c in sample.columns if c != target], seed)
    if anomalies is not None:
        sections.append(anomalies)
    if len(disguised):
        sections.append(
            Section(
                "Values that may mean 'missing'",
                text=[
                    "These values often stand for a missing value (a placeholder such as -1, "
                    "999 or 'N/A'). If they do here, replace them with missing: auto-clean on the "
                    "Prepare page offers exactly this fix, so they are not read as real values."
                ],
                tables=[("Possible placeholders", disguised)],
                data={"disguised_missing": disguised.to_dict("records")},
                level="warning",
            )
        )
    warn_df = pd.DataFrame(warn_rows, columns=["column", "warning", "reason"])
    sections.insert(
        1,
        Section(
            "Warnings",
            text=["Nothing to warn about."]
            if warn_df.empty
            else [f"{len(warn_df)} warning(s). Each names the column and the reason."],
            tables=[("Warnings", warn_df)] if len(warn_df) else [],
            data={"warnings": warn_df.to_dict("records")},
            level="warning" if len(warn_df) else "info",
        ),
    )
    if guard:
        sections.insert(
            1,
            Section(
                "Checks before a build",
                text=[
                    "Each check is passed, fixed (Easel handles it automatically) or an alert "
                    "(needs your decision), with what to do."
                ],
                tables=[("Checks", pd.DataFrame(guard))],
                data={"guardrails": guard},
                level="warning"
                if any(g["status"] in ("alert", "blocked") for g in guard)
                else "info",
            ),
        )
    summary = [
        f"**{n:,} rows** and **{df.shape[1]} columns**; {missing_cells:,} missing cells "
        f"({missing_cells / max(1, n * df.shape[1]):.1%}); {dup:,} duplicate rows.",
        f"{len(warn_df)} warning(s)"
        + (f": {', '.join(sorted(set(warn_df['warning'])))}." if len(warn_df) else "."),
    ]
    if target is not None and guard:
        alerts = [g for g in guard if g["status"] in ("alert", "blocked")]
        summary.append(
            f"Target **{target}**: "
            + (
                "all checks passed or handled."
                if not alerts
                else f"{len(alerts)} check(s) need attention: "
                + "; ".join(g["check"] for g in alerts)
                + "."
            )
        )
    title = f"Data report{f': {target}' if target else ''}"
    return Report("data", title, summary, sections, notes=notes)


# --------------------------------------------------------------------------- overview
def _overview(
    df: pd.DataFrame, types: dict[str, Any], dup: int, missing: int, target: str | None
) -> Section:
    n = len(df)
    mem = int(df.memory_usage(deep=True).sum())
    counts = pd.Series([c.type for c in types.values()]).value_counts()
    table = pd.DataFrame({"type": counts.index, "columns": counts.to_numpy()})
    return Section(
        "Overview",
        text=[
            f"{n:,} rows x {df.shape[1]} columns, {mem / 1e6:,.1f} MB in memory. {dup:,} "
            f"duplicate rows. {missing:,} missing cells."
            + (f" Target: {target}." if target else ""),
        ],
        tables=[("Column types", table)],
        data={
            "rows": n,
            "columns": int(df.shape[1]),
            "memory_bytes": mem,
            "duplicate_rows": dup,
            "missing_cells": missing,
        },
    )


# ---------------------------------------------------------------------------- columns
def _columns(
    df: pd.DataFrame, sample: pd.DataFrame, types: dict[str, Any], target: str | None, warn: Any
) -> tuple[Section, pd.DataFrame]:
    n = len(df)
    rows = []
    figures: list[tuple[str, go.Figure]] = []
    # each column's chart is small (given at construction: update_layout cost 3 ms a chart)
    small = {"height": 220, "margin": dict(l=30, r=10, t=30, b=30), "showlegend": False}
    for col in df.columns:
        s = df[col]
        info = types.get(col)
        kind = info.type if info is not None else "target"
        miss = int(s.isna().sum())
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        present = s.dropna()
        # a number column's values sorted once give its distinct count, quartiles, extremes and
        # outliers (hashing 800,000 numbers for the count and partitioning them for the
        # quartiles cost 4 times the sort)
        ordered = _sorted_numbers(present) if numeric and len(present) else None
        distinct = int(s.nunique(dropna=True)) if ordered is None else _distinct(ordered)
        row: dict[str, Any] = {
            "column": col,
            "type": kind,
            "missing %": 100 * miss / n,
            "distinct": distinct,
        }
        if ordered is not None:
            x = present.astype(float)
            q1, med, q3 = _percentiles(ordered, (25, 50, 75))
            iqr = q3 - q1
            out = int(((ordered < q1 - 1.5 * iqr) | (ordered > q3 + 1.5 * iqr)).sum())
            skew = float(x.skew()) if len(x) > 2 else 0.0
            mean, std = _mean_std(x.to_numpy())
            row.update(
                mean=mean,
                std=std,
                min=float(ordered[0]),
                q1=q1,
                median=med,
                q3=q3,
                max=float(ordered[-1]),
                outliers=out,
            )
            if abs(skew) > SKEWED and col != target:
                warn(
                    col,
                    "skewed",
                    f"skewness {skew:.1f}: a few very large (or small) values; "
                    "a log transform can help linear models.",
                )
            fig = _histogram(sample[col], layout=small)
        else:
            top = present.astype(str).value_counts().head(12)
            row["top values"] = ", ".join(f"{k} ({v:,})" for k, v in top.head(5).items())
            fig = go.Figure(
                go.Bar(x=[str(k)[:30] for k in top.index], y=top.to_numpy()), layout=small
            )
            if s.dtype == object:
                kinds = {type(v).__name__ for v in present.head(2000).tolist()}
                if len(kinds - {"str"}) and "str" in kinds:
                    warn(
                        col, "mixed types", f"values of several kinds ({', '.join(sorted(kinds))})."
                    )
        row["sample values"] = ", ".join(str(v)[:20] for v in present.head(3).tolist())
        figures.append((f"{col} ({kind})", fig))
        rows.append(row)
        if col == target:
            continue
        if info is not None and info.type == "constant":
            warn(col, "constant", "only one value: it cannot help a prediction (left out).")
        elif info is not None and info.type == "identifier":
            warn(col, "ID-like", f"{info.reason}: an identifier predicts nothing new (left out).")
        elif info is not None and info.type == "categorical" and distinct > HIGH_CARDINALITY:
            warn(
                col,
                "high cardinality",
                f"{distinct:,} different values; rare ones are grouped as 'other' by the model.",
            )
        if miss / n > MANY_MISSING:
            warn(col, "many missing", f"{miss / n:.0%} of the values are missing.")
    table = pd.DataFrame(rows)
    disguised = placeholders(df.drop(columns=[target]) if target else df)
    return (
        Section(
            "Columns",
            text=[
                "Statistics use every row; outliers are values beyond 1.5 x IQR from the "
                "quartiles. Charts show the distribution of each column."
            ],
            tables=[("Per-column summary", table)],
            figures=figures,
            data={"columns": table.to_dict("records")},
        ),
        pd.DataFrame(disguised, columns=["column", "value", "rows", "why"]),
    )


def _sorted_numbers(present: pd.Series) -> np.ndarray:
    """The values (none missing) as float64, ascending: float32 values are sorted as they are
    (twice as fast, and their order is that of their float64 values)."""
    values = present.to_numpy()
    if values.dtype != np.float32:
        values = present.to_numpy(dtype=np.float64)
    return np.sort(values).astype(np.float64, copy=False)


def _distinct(ordered: np.ndarray) -> int:
    """How many different values a sorted array holds (0.0 and -0.0 are one, as for pandas)."""
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


def _percentiles(ordered: np.ndarray, qs: tuple[float, ...]) -> list[np.float64]:
    """``np.percentile(x, qs)`` from ``x`` sorted, without partitioning it again: the same
    order statistics and the same interpolation (NumPy's "linear" method, ``_lerp``)."""
    n = len(ordered)
    out = []
    for q in qs:
        virtual = (n - 1) * (np.float64(q) / 100)
        below = int(np.floor(virtual))
        above = min(below + 1, n - 1)
        gamma = virtual - below
        a, b = ordered[below], ordered[above]
        diff = b - a
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return out


def _histogram(s: pd.Series, bins: int = 40, layout: dict[str, Any] | None = None) -> go.Figure:
    """A histogram with the counts computed here, so the HTML carries bins, not every value."""
    x = s.dropna().astype(float).to_numpy()
    if len(x) == 0:
        return go.Figure(layout=layout)
    counts, edges = np.histogram(x, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    bars = go.Bar(x=centers, y=counts, width=np.diff(edges), marker_line_width=0)
    return go.Figure(bars, layout=layout)


def _mean_std(x: np.ndarray) -> tuple[float, float]:
    """``Series.mean()`` and ``Series.std()`` of float64 values none of which is missing, as
    pandas computes them (its ``nanmean`` and ``nanvar``), without its checks for missing
    values on every call."""
    n = len(x)
    mean = x.sum(dtype=np.float64) / n
    if n < 2:
        return float(mean), float("nan")
    var = ((mean - x) ** 2).sum(dtype=np.float64) / (n - 1)
    return float(mean), float(np.sqrt(var))


# ----------------------------------------------------------------------------- target
POWER_FOLDS = 5
POWER_SMOOTHING = 10.0  # rows' worth of the overall average mixed into each category's average
# The one-number estimate: a depth-3 tree whose leaves hold at least 10% of the rows (and 20). On
# 3,000 rows with a 2-category target, a pure-noise column then measures -0.004 +- 0.006 (a depth-4
# tree with 2% leaves fits the noise: -0.02 +- 0.008) and a column that moves the rarer class from
# 5% to 45% measures 0.05 +- 0.02; on statsmodels' affairs data (6,366 rows) yrs_married measures
# 0.05 +- 0.01, where the former depth-4 tree scored on macro F1 said 0.
POWER_DEPTH = 3
POWER_LEAF_SHARE = 0.10


def predictive_power(
    x: pd.Series, y: pd.Series, task: str, seed: int = 0, kind: str | None = None
) -> tuple[float, float]:
    """How much better ``x`` alone predicts ``y`` than a model-free guess, and the noise of that
    measurement: (gain, noise).

    The gain is a skill score on rows the estimate did not see (5-fold cross-validation): 1 minus
    the squared error of the one-column estimate over that of the model-free guess (the training
    folds' class shares, or their average). 0 = no better than the guess, 1 = perfect; it is
    slightly below 0 when the column adds nothing. The noise is two standard errors of the gain
    over the rows. The estimate of one column: a shallow decision tree with large leaves on a
    number (or a date), the smoothed average of the target per value for a category.
    """
    return _power(x, kind, _Folds(y, task, seed))


class _Folds:
    """The target as the estimates fit it (one column per class, or the number) and the
    cross-validation folds of its rows: the same for every column measured on these rows, so
    made once for all of them."""

    def __init__(self, y: pd.Series, task: str, seed: int) -> None:
        if task == "regression":
            self.target = y.to_numpy(dtype=float)[:, None]
            strata = None
        else:
            codes = pd.factorize(y.astype(str))[0]
            self.target = np.eye(int(codes.max()) + 1)[codes]
            strata = codes
        n = len(self.target)
        if strata is not None:
            folds = int(np.clip(np.bincount(strata).min(), 2, POWER_FOLDS))
            splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(
                self.target, strata
            )
        else:
            splits = KFold(min(POWER_FOLDS, max(2, n // 2)), shuffle=True, random_state=seed).split(
                self.target
            )
        self.seed = seed
        self.splits = list(splits)


def _power(x: pd.Series, kind: str | None, folds: _Folds) -> tuple[float, float]:
    """:func:`predictive_power` of ``x`` on the target and folds of ``folds``."""
    target, seed = folds.target, folds.seed
    numeric = kind in ("numeric", "datetime") or (
        kind is None and pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
    )
    if numeric:
        v = _as_number(x, kind)
        X = np.column_stack([v.fillna(v.median() if v.notna().any() else 0), v.isna()])
    else:
        cats = pd.factorize(x.astype(str).where(x.notna(), "__missing__"))[0]
    n = len(target)
    pred = np.zeros_like(target, dtype=float)
    guess = np.zeros_like(target, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, test in folds.splits:
            guess[test] = target[train].mean(axis=0)
            if numeric:
                leaf = max(20, int(POWER_LEAF_SHARE * len(train)))
                tree = DecisionTreeRegressor(
                    max_depth=POWER_DEPTH, min_samples_leaf=leaf, random_state=seed
                )
                fitted = tree.fit(X[train], target[train])
                pred[test] = fitted.predict(X[test]).reshape(len(test), -1)
            else:
                pred[test] = _category_means(cats[train], target[train], cats[test], guess[test[0]])
    base = ((target - guess) ** 2).sum(axis=1)  # each row's squared error without the column
    better = base - ((target - pred) ** 2).sum(axis=1)  # ... and how much the column removes
    if base.sum() <= 1e-12:
        return 0.0, 0.0
    gain = float(better.sum() / base.sum())
    noise = float(2 * better.std(ddof=1) / np.sqrt(n) / base.mean()) if n > 1 else 0.0
    return round(gain, 4), round(noise, 4)


def _as_number(x: pd.Series, kind: str | None) -> pd.Series:
    if kind == "datetime":
        return (to_datetime(x) - pd.Timestamp(0)).dt.total_seconds()
    return to_number(x)


def _category_means(
    cats: np.ndarray, target: np.ndarray, new: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    """Each category's average target on the training rows, pulled toward the overall average
    (a category seen a few times says little); a category never seen gets the overall average."""
    k = int(max(cats.max(initial=0), new.max(initial=0))) + 1
    counts = np.bincount(cats, minlength=k).astype(float)
    sums = np.stack(
        [np.bincount(cats, weights=target[:, j], minlength=k) for j in range(len(prior))], 1
    )
    means = (sums + POWER_SMOOTHING * prior) / (counts[:, None] + POWER_SMOOTHING)
    return np.asarray(means[new])


def _power_word(gain: float, noise: float) -> str:
    if gain >= LEAKAGE_POWER:
        return "predicts it almost alone"
    if gain > max(noise, 0.005):
        return "helps on its own"
    return "no clear gain on its own"


def _target(
    df: pd.DataFrame,
    sample: pd.DataFrame,
    types: dict[str, Any],
    target: str,
    warn: Any,
    seed: int,
) -> tuple[list[Section], list[dict[str, str]]]:
    from automl.task import MIN_ROWS_PER_CLASS, detect_task

    guard: list[dict[str, str]] = []
    try:
        _, tinfo = detect_task(df, target)
        task = tinfo.task
    except EaselError as exc:
        guard.append({"check": "target can be learned", "status": "blocked", "detail": str(exc)})
        return [], guard
    y_all = df[target].dropna()
    sections: list[Section] = []
    text = []
    if task == "regression":
        fig = _histogram(sample[target], 50)
        text.append(
            f"Numeric target: mean {fmt(float(y_all.mean()))}, median "
            f"{fmt(float(y_all.median()))}, from {fmt(float(y_all.min()))} to "
            f"{fmt(float(y_all.max()))}."
        )
        balance = pd.DataFrame()
    else:
        counts = y_all.astype(str).value_counts()
        balance = pd.DataFrame(
            {
                "class": counts.index,
                "rows": counts.to_numpy(),
                "share": counts.to_numpy() / counts.sum(),
            }
        )
        fig = go.Figure(go.Bar(x=balance["class"], y=balance["rows"]))
        minority = float(balance["share"].min())
        status = "passed" if minority >= 0.1 else "fixed" if minority >= 0.02 else "alert"
        guard.append(
            {
                "check": "class balance",
                "status": status,
                "detail": f"smallest class '{balance['class'].iloc[-1]}' is {minority:.1%} of rows"
                + (
                    ""
                    if status == "passed"
                    else "; the search scores with metrics that stay honest "
                    "under imbalance (ROC AUC / log loss)"
                    if status == "fixed"
                    else "; collect more rows of that class, or choose a metric such as "
                    "balanced accuracy"
                ),
            }
        )
        if minority < 0.02:
            warn(target, "severe class imbalance", f"the smallest class is {minority:.1%} of rows.")
        if int(balance["rows"].min()) < 4 * MIN_ROWS_PER_CLASS:
            warn(
                target,
                "few rows per class",
                f"class '{balance['class'].iloc[-1]}' has only "
                f"{int(balance['rows'].min())} rows; its scores will be unreliable.",
            )
        text.append(
            f"{len(balance)} classes; the most frequent is {balance['share'].iloc[0]:.0%} of rows."
        )
    miss_target = int(df[target].isna().sum())
    guard.append(
        {
            "check": "missing target values",
            "status": "passed" if not miss_target else "fixed",
            "detail": "none"
            if not miss_target
            else f"{miss_target:,} rows without a target are left out of training",
        }
    )
    feature_missing = int(df.drop(columns=[target]).isna().sum().sum())
    guard.append(
        {
            "check": "missing values",
            "status": "passed" if not feature_missing else "fixed",
            "detail": "none"
            if not feature_missing
            else f"{feature_missing:,} missing cells: filled inside the model (median or a "
            "'missing' category), the same way for new rows",
        }
    )
    high = [
        c for c, i in types.items() if i.type == "categorical" and i.distinct > HIGH_CARDINALITY
    ]
    guard.append(
        {
            "check": "high cardinality",
            "status": "fixed" if high else "passed",
            "detail": "none"
            if not high
            else f"{', '.join(high[:5])}: rare values are grouped as 'other'",
        }
    )
    ids = [c for c, i in types.items() if i.type in ("identifier", "constant")]
    guard.append(
        {
            "check": "ID and constant columns",
            "status": "fixed" if ids else "passed",
            "detail": "none" if not ids else f"left out: {', '.join(ids[:8])}",
        }
    )
    guard.append(
        {
            "check": "validation scheme",
            "status": "passed",
            "detail": "20% of rows held out before the search (stratified for classes); the "
            "search uses cross-validation or one validation split on the rest",
        }
    )
    # predictive power per column, alone (on a random POWER_ROWS of the sample's rows at most)
    rows = sample if len(sample) <= POWER_ROWS else sample.sample(POWER_ROWS, random_state=seed)
    ys = rows[target]
    mask = ys.notna()
    powers = []
    try:
        folds: _Folds | None = _Folds(ys[mask], task, seed)
    except ValueError:  # too few rows to cross-validate: no column is measured
        folds = None
    for col, info in types.items():
        if info.type in ("constant",) or col == target or folds is None:
            continue
        try:
            gain, noise = _power(rows.loc[mask, col], info.type, folds)
        except ValueError:
            continue
        powers.append(
            {
                "column": col,
                "type": info.type,
                "predictive power": gain,
                "noise (±)": noise,
                "on its own": _power_word(gain, noise),
            }
        )
    power = pd.DataFrame(powers, columns=POWER_COLUMNS).sort_values(
        "predictive power", ascending=False
    )
    leaks = power[(power["predictive power"] >= LEAKAGE_POWER) & (power["type"] != "identifier")]
    for _, r in leaks.iterrows():
        warn(
            r["column"],
            "likely target leakage",
            f"this column alone predicts {target} almost perfectly (power "
            f"{r['predictive power']:.2f}); if it is "
            "only known after the outcome, exclude it.",
        )
    guard.append(
        {
            "check": "leakage",
            "status": "alert" if len(leaks) else "passed",
            "detail": "no single column predicts the target almost perfectly"
            if not len(leaks)
            else f"{', '.join(leaks['column'])} alone predict(s) the target almost "
            "perfectly: exclude if known only after the outcome",
        }
    )
    shown = power.head(20).iloc[::-1]
    bar = go.Figure(
        go.Bar(
            x=shown["predictive power"],
            y=shown["column"],
            orientation="h",
            error_x=dict(type="data", array=shown["noise (±)"], visible=True),
        )
    )
    ends = shown["predictive power"] + shown["noise (±)"]
    low = min(0.0, float((shown["predictive power"] - shown["noise (±)"]).min()))
    top = float(ends.max()) if len(ends) else 0.0
    x_high = 1.0 if top >= 1.0 / 1.1 else 1.1 * (top if top > 0.2 else 0.2)  # small gains visible
    bar.update_layout(
        xaxis_title="predictive power alone (0 = no better than a guess, 1 = perfect)",
        xaxis_range=[low - 0.01, x_high],
    )
    rel_figs: list[tuple[str, go.Figure]] = []
    for col in power["column"].head(6):
        rel_figs.append(
            (f"{target} by {col}", _relation(sample, col, target, task, types[col].type))
        )
    sections.append(
        Section(
            f"Target: {target}",
            text=text,
            tables=[("Class balance", balance)] if len(balance) else [],
            figures=[(f"Distribution of {target}", fig)],
            data={"task": task, "class_balance": balance.to_dict("records")},
        )
    )
    sections.append(
        Section(
            "Columns and the target",
            text=[
                "Predictive power: how much better each column, **on its own**, predicts the "
                "target than a model-free guess, measured on rows its small one-column model "
                "did not see (5-fold cross-validation): 0 = no better than the guess, 1 = "
                "perfect. The ± is the measurement's noise: a value within it means no clear "
                "gain on its own, and a small value below 0 just means none.",
                "A column's importance to a model is another measure: the column impact in the "
                "performance report (Analyze) shuffles one column **with all the others "
                "present**. A column can score near 0 alone and still matter to the model, "
                "because it helps in combination with other columns; and a strong column here "
                "can matter little to the model when another column carries the same "
                "information.",
                "Charts for the strongest columns.",
            ],
            tables=[("Predictive power of each column alone", power)],
            figures=[("Predictive power", bar), *rel_figs],
            data={"predictive_power": power.to_dict("records")},
        )
    )
    return sections, guard


def _relation(df: pd.DataFrame, col: str, target: str, task: str, kind: str) -> go.Figure:
    d = df[[col, target]].dropna()
    numeric = kind == "numeric"
    if task == "regression":
        if numeric:
            pts = d.sample(min(len(d), 3000), random_state=0)
            return go.Figure(go.Scattergl(x=pts[col], y=pts[target], mode="markers", opacity=0.5))
        top = d[col].astype(str).value_counts().index[:15]
        g = d[d[col].astype(str).isin(top)].groupby(d[col].astype(str))[target].mean()
        return go.Figure(go.Bar(x=list(g.index), y=g.to_numpy()))
    if numeric:
        fig = go.Figure()
        for cls in d[target].astype(str).value_counts().index[:10]:
            fig.add_trace(go.Box(y=d.loc[d[target].astype(str) == cls, col], name=cls))
        return fig
    top = d[col].astype(str).value_counts().index[:15]
    sub = d[d[col].astype(str).isin(top)]
    shares = pd.crosstab(sub[col].astype(str), sub[target].astype(str), normalize="index")
    fig = go.Figure(
        [go.Bar(x=list(shares.index), y=shares[c], name=str(c)) for c in shares.columns]
    )
    fig.update_layout(barmode="stack", yaxis_title=f"share of {target}")
    return fig


# ---------------------------------------------------------------------- relationships
def _relationships(sample: pd.DataFrame) -> Section | None:
    from automl.prep.explore import correlation, mutual_information

    figures: list[tuple[str, go.Figure]] = []
    data: dict[str, Any] = {}
    for title, key, compute, low, scale in (
        ("Correlation between number columns (Pearson)", "pearson",
         lambda: correlation(sample, "pearson"), -1, "RdBu"),
        ("Association between columns (normalized mutual information)", "mutual_information",
         lambda: mutual_information(sample.head(20_000)), 0, "Blues"),
    ):  # fmt: skip
        try:
            m = compute()
        except ParameterError:  # too few columns of the kind: no matrix
            continue
        z = m.round(2).to_numpy()
        heat = go.Heatmap(
            z=z, x=list(m.columns), y=list(m.index), zmin=low, zmax=1, colorscale=scale,
            text=z, texttemplate="%{text}",
        )  # fmt: skip
        figures.append((title, go.Figure(heat)))
        data[key] = m.round(4).to_dict()
    if not figures:
        return None
    return Section(
        "Relationships between columns",
        text=[
            "Correlation: -1 to 1 for straight-line relationships between numbers. Mutual "
            "information: 0 (unrelated) to 1 (one column decides the other), for any columns "
            "(numbers in deciles)."
        ],
        figures=figures,
        data=data,
    )


# -------------------------------------------------------------------------- anomalies
def _anomalies(sample: pd.DataFrame, columns: list[str], seed: int) -> Section | None:
    d = sample[columns].head(ANOMALY_ROWS)
    feats = []
    for c in columns:
        s = d[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.astype(float)
            feats.append(v.fillna(v.median() if v.notna().any() else 0).to_numpy())
        elif s.nunique(dropna=True) <= 200:
            t = s.astype(str)
            feats.append(t.map(t.value_counts(normalize=True)).to_numpy(dtype=float))
    if not feats or len(d) < 50:
        return None
    X = np.column_stack(feats)
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(X)
    score = -forest.score_samples(X)
    flagged = int((-score - forest.offset_ < 0).sum())  # forest.predict(X) == -1, not scored again
    order = np.argsort(-score)[:10]
    top = d.iloc[order].copy()
    top.insert(0, "anomaly score", np.round(score[order], 3))
    return Section(
        "Unusual rows",
        text=[
            f"An isolation forest (number columns and how common each category value is) "
            f"marks {flagged:,} of {len(d):,} rows as unusual. The 10 most unusual are below: "
            "check them for data-entry errors."
        ],
        tables=[("Most unusual rows", top.reset_index(names="row"))],
        data={
            "flagged": flagged,
            "rows_checked": int(len(d)),
            "top_rows": [int(i) for i in d.index[order]],
        },
    )
