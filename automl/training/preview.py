"""A quick look before a build: estimated score and column impact in a few seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from automl import metrics as M
from automl.candidates import FitContext
from automl.candidates._lightgbm import LightGBMCandidate
from automl.coltypes import infer_types
from automl.errors import DataError
from automl.preprocess import Preprocessor
from automl.presets import get_preset
from automl.task import detect_task
from automl.training.common import check_frame
from automl.training.forecast import fit_forecast
from automl.training.run import FitOptions, FitRun
from automl.words import rows_text

PREVIEW_ROWS = 5000
PREVIEW_SECONDS = 8.0


@dataclass
class PreviewResult:
    """Estimated score of a fast model on a sample, and each column's share of its impact."""

    task: str
    metric: str
    metric_label: str
    estimated_score: float
    baseline_score: float
    rows_used: int
    seconds: float
    column_impact: pd.DataFrame
    column_types: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metric": self.metric,
            "metric_label": self.metric_label,
            "estimated_score": self.estimated_score,
            "baseline_score": self.baseline_score,
            "rows_used": self.rows_used,
            "seconds": self.seconds,
            "column_impact": self.column_impact.to_dict(orient="records"),
            "column_types": self.column_types,
            "notes": self.notes,
        }


def baseline_scores(task: str, y_train: np.ndarray, n_test: int, n_classes: int) -> np.ndarray:
    """What a model that ignores every column would predict (class shares or the mean)."""
    if task == "regression":
        return np.full(n_test, float(np.mean(y_train)))
    shares = np.bincount(y_train, minlength=n_classes) / len(y_train)
    if task == "binary":
        return np.full(n_test, shares[1])
    return np.tile(shares, (n_test, 1))


def preview(
    df: pd.DataFrame,
    target: str,
    task: str | None = None,
    metric: str | None = None,
    column_types: dict[str, str] | None = None,
    exclude_columns: list[str] | None = None,
    seed: int = 0,
) -> PreviewResult:
    """Estimate the score and column impact with one fast LightGBM model on a sample."""
    start = time.monotonic()
    df = df.rename(columns=str)
    data, tinfo = detect_task(df, target, task)
    chosen = M.get_metric(metric, tinfo.task)
    notes = []
    if len(data) > PREVIEW_ROWS:
        notes.append(f"estimated on a random sample of {PREVIEW_ROWS:,} of {rows_text(len(data))}")
        data = data.sample(PREVIEW_ROWS, random_state=seed).reset_index(drop=True)
    features = data.drop(columns=[tinfo.name])
    overrides = dict(column_types or {})
    for c in exclude_columns or []:
        overrides[c] = "excluded"
    types = infer_types(features, overrides, tinfo.name)
    columns = list(types.values())
    if not any(c.used for c in columns):
        raise DataError("No column can be used to predict the target (all are IDs or constant).")
    if tinfo.task == "regression":
        y = data[tinfo.name].to_numpy(dtype="float64")
    else:
        index = {c: i for i, c in enumerate(tinfo.classes)}
        y = np.asarray([index[v] for v in data[tinfo.name].tolist()], dtype=np.int64)
    strat = None if tinfo.task == "regression" else y
    tr, te = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed, stratify=strat)
    pre = Preprocessor(columns).fit(features.iloc[tr])
    X_tr = pre.transform_tree(features.iloc[tr])
    X_te = pre.transform_tree(features.iloc[te])
    names, sources, cats = pre.tree_features()
    n_classes = max(len(tinfo.classes), 1)
    ctx = FitContext(tinfo.task, n_classes, start + PREVIEW_SECONDS, seed)
    params = LightGBMCandidate.default_configs(tinfo.task, len(tr))[0]
    cand = LightGBMCandidate({**params, "learning_rate": 0.1})
    cand.fit(X_tr, y[tr], ctx, X_te, y[te], cats)
    score = chosen(y[te], cand.predict_scores(X_te))
    base = chosen(y[te], baseline_scores(tinfo.task, y[tr], len(te), n_classes))
    gain = cand.importances(len(names))
    per_col: dict[str, float] = {c.name: 0.0 for c in columns if c.used}
    for src, g in zip(sources, gain, strict=True):
        per_col[src] += float(g)
    total = sum(per_col.values()) or 1.0
    impact = pd.DataFrame(
        sorted(((k, v / total) for k, v in per_col.items()), key=lambda kv: -kv[1]),
        columns=["column", "impact"],
    )
    notes.append(
        "the estimate is slightly optimistic: the same rows that score the model also told it "
        "when to stop training"
    )
    return PreviewResult(
        task=tinfo.task,
        metric=chosen.name,
        metric_label=chosen.label,
        estimated_score=round(float(score), 6),
        baseline_score=round(float(base), 6),
        rows_used=len(data),
        seconds=round(time.monotonic() - start, 3),
        column_impact=impact,
        column_types={c.name: c.type for c in columns},
        notes=notes,
    )


def preview_forecast(
    df: pd.DataFrame,
    target: str,
    time_column: str,
    id_columns: list[str],
    horizon: int | None = None,
    aggregate: str | None = None,
    metric: str | None = None,
    seconds: float = 6.0,
    future_columns: list[str] | None = None,
    holidays: str | None = None,
    fill: str | None = None,
) -> PreviewResult:
    """A fast forecast check (a few seconds, few candidates) with the same honest hold-out."""
    t0 = time.monotonic()
    options = FitOptions(
        task="timeseries",
        time_column=time_column,
        series_columns=id_columns,
        horizon=horizon,
        aggregate=aggregate,
        metric=metric,
        max_trials=4,
        future_columns=future_columns,
        holidays=holidays,
        fill=fill,
    )
    settings = {**get_preset(options.preset), "time_budget": float(seconds)}
    m = fit_forecast(FitRun(options, settings), check_frame(df), str(target), None)
    name = m.metric
    ts = m.timeseries
    base = ts.baseline
    return PreviewResult(
        task="timeseries",
        metric=name,
        metric_label=M.METRICS[name].label,
        estimated_score=float(m.metrics.get(name, float("nan"))),
        baseline_score=float(base.holdout_metrics.get(name, float("nan"))),
        rows_used=m.rows.with_target,
        seconds=time.monotonic() - t0,
        column_impact=m.column_impact,
        notes=[
            f"forecast of the last {ts.horizon} {ts.frequency}(s) of "
            f"{len(ts.series.keys)} series; the baseline is {base.description}",
            *m.warnings,
        ],
    )
