"""Greedy ensemble selection over the search's validation predictions.

Start from the best single candidate; at each round add (with replacement) the candidate whose
inclusion most improves the validation score of the averaged predictions; keep the best round.
Weights are how often each candidate was picked. The ensemble is kept only when it beats the best
single candidate on the same validation rows; it is then scored on the hold-out like any
candidate, and the model predicts with the weighted average of its members: of their scores, or
for 3+ classes of their log-probabilities (``pooling`` "log", see ``automl.metrics.POOLINGS``),
among the members whose own validation log loss is at most NEAR_LOSS_RATIO times the best one's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.metrics import LABEL_METRICS, METRICS, Metric, from_pool_space, to_pool_space

POOL = 8  # best trials considered, plus the best trial of each other model family
ROUNDS = 15  # greedy rounds (picks, with replacement)
MAX_MEMBERS = 4  # distinct members at most (each one costs prediction time and a refit)
MIN_GAIN = 1e-4  # relative improvement over the best single candidate needed to keep it
# 3+ classes: averaging probabilities caps the ensemble's confidence at its least sure member's (on
# wine, 11% of a weaker linear model doubled the test log loss of the LightGBM it joined), and
# averaging log-probabilities keeps it; but members that disagree on the wrong classes sharpen a
# log average beyond what any of them says, so only members whose own validation log loss is at
# most this many times the best one's join it. Measured on 21 (table, seed) pairs of iris, wine,
# penguins, anes96 and generated 3-5 class tables (benchmarks/confidence.py, docs/benchmarks.md
# "Ensembles that keep confidence"): test log loss 0.70 times the average of probabilities'
# (geometric mean), better on 12, worse on 2 by at most 4%; without the limit 0.68 but up to 17
# times worse on a 5-class table.
NEAR_LOSS_RATIO = 2.0


def pooling_for(task: str, metric: Metric) -> str:
    """How an ensemble of ``task`` chosen for ``metric`` combines its members: "log" for 3+
    classes chosen by log loss; otherwise "mean". (On 2 categories, chosen by ROC AUC, averaging
    log-odds made breast_cancer's test log loss worse: 0.102 -> 0.131 and 0.104 -> 0.118.)"""
    if task == "multiclass" and selection_metric(metric, task).name == "log_loss":
        return "log"
    return "mean"


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


def near_members(oof: dict[int, np.ndarray], y: np.ndarray, pool: list[int]) -> list[int]:
    """The trials of ``pool`` whose validation log loss is at most NEAR_LOSS_RATIO times the
    best one's (for an average of log-probabilities)."""
    log_loss = METRICS["log_loss"]
    losses = {i: log_loss(y, np.asarray(oof[i], dtype=float)) for i in pool}
    best = min(losses.values())
    return [i for i in pool if losses[i] <= NEAR_LOSS_RATIO * best]


def greedy_weights(
    oof: dict[int, np.ndarray],
    y: np.ndarray,
    ranked_ids: list[int],
    metric: Metric,
    pooling: str = "mean",
) -> tuple[dict[int, float], float, float] | None:
    """``{trial id: weight}``, the ensemble's validation loss and the best single loss; None when
    averaging (as ``pooling`` says) does not beat the best single candidate."""
    pool = [i for i in ranked_ids if i in oof]
    if len(pool) < 2:
        return None
    preds = {i: np.asarray(oof[i], dtype=float) for i in pool}
    losses = {i: metric.loss(y, p) for i, p in preds.items()}
    first = min(pool, key=lambda i: losses[i])
    single = losses[first]
    if pooling == "log":
        pool = [i for i in near_members(oof, y, pool) if i != first]
        pool = [first, *pool]  # (the best by the metric stays, whatever its log loss)
        if len(pool) < 2:
            return None
    space = {i: to_pool_space(p, pooling) for i, p in preds.items() if i in pool}
    picks = [first]
    total = space[first].copy()
    best_loss, best_n = single, 1
    for _ in range(ROUNDS):
        n = len(picks)
        allowed = [i for i in pool if i in picks] if len(set(picks)) >= MAX_MEMBERS else pool
        trial = {
            i: metric.loss(y, from_pool_space((total + space[i]) / (n + 1), pooling))
            for i in allowed
        }
        pick = min(allowed, key=lambda i: (trial[i], pool.index(i)))
        picks.append(pick)
        total += space[pick]
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


def average(
    scores: dict[int, np.ndarray], weights: dict[int, float], pooling: str = "mean"
) -> np.ndarray:
    """The ensemble's scores: its members' weighted average, as ``pooling`` says."""
    out: Any = None
    for i, w in weights.items():
        part = w * to_pool_space(scores[i], pooling)
        out = part if out is None else out + part
    return from_pool_space(np.asarray(out), pooling)
