"""Greedy ensemble selection over the search's validation predictions.

Start from the best single candidate; at each round add (with replacement) the candidate whose
inclusion most improves the validation score of the averaged predictions; keep the best round.
Weights are how often each candidate was picked. The ensemble is kept only when it beats the best
single candidate on the same validation rows; it is then scored on the hold-out like any
candidate, and the model predicts with the weighted average of its members.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.metrics import LABEL_METRICS, METRICS, Metric

POOL = 8  # best trials considered, plus the best trial of each other model family
ROUNDS = 15  # greedy rounds (picks, with replacement)
MAX_MEMBERS = 4  # distinct members at most (each one costs prediction time and a refit)
MIN_GAIN = 1e-4  # relative improvement over the best single candidate needed to keep it


def selection_metric(metric: Metric, task: str) -> Metric:
    """Label metrics (accuracy, F1 ...) move in steps; average probabilities by log loss."""
    if metric.name in LABEL_METRICS and task != "regression":
        return METRICS["log_loss"]
    return metric


def candidate_pool(ranked: list[Any]) -> list[int]:
    """Trial ids the ensemble may use: the POOL best, then the best of every family not among
    them (a different family often helps an average more than a near-copy of the winner)."""
    ids = [r.id for r in ranked[:POOL]]
    families = {r.candidate for r in ranked[:POOL]}
    for r in ranked[POOL:]:
        if r.candidate not in families:
            families.add(r.candidate)
            ids.append(r.id)
    return ids


def greedy_weights(
    oof: dict[int, np.ndarray], y: np.ndarray, ranked_ids: list[int], metric: Metric
) -> tuple[dict[int, float], float, float] | None:
    """``{trial id: weight}``, the ensemble's validation loss and the best single loss; None when
    averaging does not beat the best single candidate."""
    pool = [i for i in ranked_ids if i in oof]
    if len(pool) < 2:
        return None
    preds = {i: np.asarray(oof[i], dtype=float) for i in pool}
    losses = {i: metric.loss(y, p) for i, p in preds.items()}
    first = min(pool, key=lambda i: losses[i])
    single = losses[first]
    picks = [first]
    total = preds[first].copy()
    best_loss, best_n = single, 1
    for _ in range(ROUNDS):
        n = len(picks)
        allowed = [i for i in pool if i in picks] if len(set(picks)) >= MAX_MEMBERS else pool
        trial = {i: metric.loss(y, (total + preds[i]) / (n + 1)) for i in allowed}
        pick = min(allowed, key=lambda i: (trial[i], pool.index(i)))
        picks.append(pick)
        total += preds[pick]
        if trial[pick] < best_loss - 1e-12:
            best_loss, best_n = trial[pick], len(picks)
    chosen = picks[:best_n]
    if len(set(chosen)) < 2 or best_loss > single - MIN_GAIN * max(abs(single), 1e-12):
        return None
    counts: dict[int, int] = {}
    for i in chosen:
        counts[i] = counts.get(i, 0) + 1
    weights = {
        i: round(c / len(chosen), 6) for i, c in sorted(counts.items(), key=lambda kv: -kv[1])
    }
    return weights, best_loss, single


def average(scores: dict[int, np.ndarray], weights: dict[int, float]) -> np.ndarray:
    out: Any = None
    for i, w in weights.items():
        part = w * np.asarray(scores[i], dtype=float)
        out = part if out is None else out + part
    return np.asarray(out)
