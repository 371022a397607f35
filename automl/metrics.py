"""Metrics: what the search optimizes and what the hold-out reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from automl.errors import ParameterError

# Probabilities are clipped before log loss so one confident mistake cannot give infinity.
EPS = 1e-7


@dataclass(frozen=True)
class Metric:
    """A metric on (true values, scores); ``greater_is_better`` tells the direction."""

    name: str
    label: str
    tasks: tuple[str, ...]
    greater_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]

    def __call__(self, y: np.ndarray, scores: np.ndarray) -> float:
        return float(self.fn(y, scores))

    def loss(self, y: np.ndarray, scores: np.ndarray) -> float:
        """The metric as a quantity to minimize (used by the search)."""
        v = self(y, scores)
        return -v if self.greater_is_better else v


# How an ensemble combines its members' scores: "mean", the weighted average (numbers, and the
# ensembles of classes of models made before schema 8); "log", for classes, the weighted average
# of the log-probabilities (the log-odds for 2 categories), normalized: a member sure of a class
# keeps the ensemble sure of it, where an average of probabilities would dilute it.
POOLINGS = ("mean", "log")


def to_pool_space(scores: np.ndarray, pooling: str) -> np.ndarray:
    """A member's scores where ``pooling`` averages them: as they are ("mean"), or their
    log-probabilities (log-odds for 2 categories: P(positive) per row) for "log"."""
    s = np.asarray(scores, dtype=float)
    if pooling == "mean":
        return s
    p = np.clip(s, EPS, 1 - EPS) if s.ndim == 1 else np.clip(s, EPS, 1.0)
    return np.log(p / (1 - p)) if s.ndim == 1 else np.log(p)


def from_pool_space(total: np.ndarray, pooling: str) -> np.ndarray:
    """Scores from a weighted average made by :func:`to_pool_space` (weights summing to 1)."""
    if pooling == "mean":
        return total
    if total.ndim == 1:
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(total, -500, 500))))
    z = total - total.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def pool_scores(parts: list[tuple[float, np.ndarray]], pooling: str) -> np.ndarray:
    """An ensemble's scores from its members' (weight, scores), weights summing to 1."""
    total = sum(w * to_pool_space(s, pooling) for w, s in parts)
    return from_pool_space(np.asarray(total), pooling)


def _labels(scores: np.ndarray) -> np.ndarray:
    """Class indices from probabilities (binary: P(positive) >= 0.5)."""
    if scores.ndim == 1:
        return (scores >= 0.5).astype(int)
    return np.asarray(scores.argmax(axis=1))


def _proba2(scores: np.ndarray) -> np.ndarray:
    p = np.clip(scores, EPS, 1 - EPS)
    if p.ndim == 1:
        return np.column_stack([1 - p, p])
    return p / p.sum(axis=1, keepdims=True)


def _log_loss(y: np.ndarray, s: np.ndarray) -> float:
    p = _proba2(s)
    return float(skm.log_loss(y, p, labels=list(range(p.shape[1]))))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return 0.5
    if s.ndim == 1:
        return float(skm.roc_auc_score(y, s))
    return float(
        skm.roc_auc_score(y, _proba2(s), multi_class="ovr", labels=list(range(s.shape[1])))
    )


def _mape(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.mean(np.abs((y - s) / np.maximum(np.abs(y), EPS))))


_CLS = ("binary", "multiclass")
METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("roc_auc", "ROC AUC", _CLS, True, _auc),
        Metric("log_loss", "Log loss", _CLS, False, _log_loss),
        Metric("accuracy", "Accuracy", _CLS, True, lambda y, s: skm.accuracy_score(y, _labels(s))),
        Metric(
            "balanced_accuracy",
            "Balanced accuracy",
            _CLS,
            True,
            lambda y, s: skm.balanced_accuracy_score(y, _labels(s)),
        ),
        Metric(
            "f1",
            "F1",
            ("binary",),
            True,
            lambda y, s: skm.f1_score(y, _labels(s), zero_division=0),
        ),
        Metric(
            "precision",
            "Precision",
            ("binary",),
            True,
            lambda y, s: skm.precision_score(y, _labels(s), zero_division=0),
        ),
        Metric(
            "recall",
            "Recall",
            ("binary",),
            True,
            lambda y, s: skm.recall_score(y, _labels(s), zero_division=0),
        ),
        Metric(
            "f1_macro",
            "Macro F1",
            ("multiclass",),
            True,
            lambda y, s: skm.f1_score(y, _labels(s), average="macro", zero_division=0),
        ),
        Metric(
            "rmse",
            "RMSE",
            ("regression",),
            False,
            lambda y, s: np.sqrt(skm.mean_squared_error(y, s)),
        ),
        Metric("mae", "MAE", ("regression",), False, skm.mean_absolute_error),
        Metric("r2", "R²", ("regression",), True, skm.r2_score),
        Metric("mape", "MAPE", ("regression",), False, _mape),
    ]
}

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
REPORTED = {
    "binary": ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"],
    "multiclass": ["accuracy", "f1_macro", "log_loss"],
    "regression": ["rmse", "mae", "r2", "mape"],
}


def get_metric(name: str | None, task: str) -> Metric:
    """The metric called ``name`` (or the task's default), checked against the task."""
    name = name or DEFAULT_METRIC[task]
    valid = [m for m, spec in METRICS.items() if task in spec.tasks]
    if name not in METRICS or task not in METRICS[name].tasks:
        raise ParameterError(
            f"The 'metric' parameter of AutoML must be one of {', '.join(valid)} for a {task} "
            f"problem. Got {name!r} instead."
        )
    return METRICS[name]


LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1", "precision", "recall")
# binary metrics whose decision threshold is tuned on validation predictions (precision and recall
# alone are maximized by a degenerate threshold, so they keep 0.5)
TUNED_THRESHOLD = ("accuracy", "balanced_accuracy", "f1")


def at_threshold(p: np.ndarray, threshold: float) -> np.ndarray:
    """Binary scores moved so that P >= ``threshold`` becomes >= 0.5 (order kept): the label
    metrics, which cut at 0.5, then cut at ``threshold``."""
    t = float(np.clip(threshold, 1e-6, 1 - 1e-6))
    p = np.asarray(p, dtype=float)
    return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))


def report(
    task: str, y: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Every reported metric for the task on the hold-out (MAPE only for a positive target);
    binary label metrics cut at ``threshold``."""
    out = {}
    cut = at_threshold(scores, threshold) if task == "binary" and threshold != 0.5 else scores
    for name in REPORTED[task]:
        if name == "mape" and not np.all(y > 0):
            continue
        out[name] = round(METRICS[name](y, cut if name in LABEL_METRICS else scores), 6)
    return out


def best_threshold(metric: Metric, y: np.ndarray, p: np.ndarray) -> float:
    """The decision threshold that maximizes ``metric`` on validation predictions (binary); 0.5
    when the metric does not depend on one. Ties go to the threshold closest to 0.5."""
    if metric.name not in TUNED_THRESHOLD or p.ndim != 1 or len(np.unique(y)) < 2:
        return 0.5
    grid = np.unique(np.concatenate([np.quantile(p, np.linspace(0.01, 0.99, 99)), [0.5]]))
    grid = grid[(grid > 0) & (grid < 1)]
    scores = np.asarray([metric(y, at_threshold(p, t)) for t in grid])
    best = scores.max()
    ties = grid[np.isclose(scores, best, rtol=0, atol=1e-12)]
    return round(float(ties[np.argmin(np.abs(ties - 0.5))]), 6)
