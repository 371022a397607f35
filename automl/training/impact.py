"""Column impact: how much the hold-out score worsens when one column's values are shuffled.

Permutation importance on raw columns works for every candidate and speaks in the analyst's
columns (not in encoded features). It runs on a sample of the hold-out rows and stops before a
column whose scoring would end after the deadline (each column costs about one scoring of the
sample, timed on the unshuffled one); columns it had no time for get no value.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl.metrics import Metric, get_metric
from automl.preprocess import InputReport

if TYPE_CHECKING:
    from automl.model import Model

MAX_ROWS = 2000


def _loss(model: Model, rows: pd.DataFrame, y: np.ndarray, metric: Metric) -> float:
    return metric.loss(y, model._scores(rows, InputReport()))


def impact_metric(task: str) -> Metric:
    """Log loss for classes (it reacts to every probability, unlike AUC), RMSE for numbers."""
    return get_metric("rmse" if task == "regression" else "log_loss", task)


def column_impact(
    model: Model,
    rows: pd.DataFrame,
    target: pd.Series,
    deadline: float,
    seed: int = 0,
) -> list[list[Any]]:
    """``[[column, share of total impact], ...]`` sorted by impact, shares summing to 1."""
    if len(rows) > MAX_ROWS:
        rows = rows.sample(MAX_ROWS, random_state=seed)
        target = target.loc[rows.index]
    rows = rows.reset_index(drop=True)
    if model.task == "regression":
        y = target.to_numpy(dtype="float64")
    else:
        index = {c: i for i, c in enumerate(model.classes)}
        y = np.asarray([index[v] for v in target.tolist()], dtype=np.int64)
    metric = impact_metric(model.task)
    rng = np.random.default_rng(seed)
    start = time.monotonic()
    if start >= deadline:
        return []
    base = _loss(model, rows, y, metric)
    per_column = time.monotonic() - start  # one scoring of the sample: what each column costs
    raw: dict[str, float] = {}
    for col in model.preprocessor.columns:
        if time.monotonic() + per_column > deadline:
            break
        shuffled = rows.copy()
        shuffled[col.name] = rows[col.name].to_numpy()[rng.permutation(len(rows))]
        raw[col.name] = max(_loss(model, shuffled, y, metric) - base, 0.0)
    total = sum(raw.values())
    shares = {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}
    return [[k, round(v, 6)] for k, v in sorted(shares.items(), key=lambda kv: -kv[1])]
