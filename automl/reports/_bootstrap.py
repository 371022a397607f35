"""Bootstrap intervals of the hold-out metrics, every resample at once.

A resample of the n hold-out rows, drawn with replacement, is the same rows with weights: how
many times each row was drawn. Every metric the report gives is a weighted count or sum over the
rows (ROC AUC too, over the rows sorted by score once), so the metrics of a batch of resamples
come from products of its (resamples x rows) weight matrix, where scoring each resampled copy
with scikit-learn spent most of its time checking the inputs (50 resamples of 50,000 rows: 1.1
CPU-seconds, most of the performance report of a big table). ``tests/test_reports_speed.py``
holds every metric equal to :func:`automl.metrics.report` on the resampled rows.
"""

from __future__ import annotations

import numpy as np

from automl import metrics as M

# weights of at most this many (resample, row) cells at once: 8 MB of float64 (a few such
# arrays at a time)
CHUNK_CELLS = 1_000_000


def bootstrap_values(
    task: str, y: np.ndarray, s: np.ndarray, reps: int, seed: int, threshold: float = 0.5
) -> dict[str, list[float]]:
    """Each reported metric on ``reps`` resamples of the rows (``y``, scores ``s``), rounded
    as :func:`automl.metrics.report` rounds them; the resamples are those of drawing
    ``rng.integers(0, n, n)`` ``reps`` times from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    n = len(y)
    out: dict[str, list[float]] = {}
    per_chunk = max(1, CHUNK_CELLS // max(n, 1))
    done = 0
    while done < reps:
        k = min(per_chunk, reps - done)
        weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(k)])
        for name, v in resampled_metrics(task, y, s, weights.astype(float), threshold).items():
            out.setdefault(name, []).extend(round(float(x), 6) for x in v)
        done += k
    return out


def resampled_metrics(
    task: str, y: np.ndarray, s: np.ndarray, weights: np.ndarray, threshold: float = 0.5
) -> dict[str, np.ndarray]:
    """The metrics of :func:`automl.metrics.report` (not rounded) for each row of ``weights``:
    the rows taken as many times as their weight says (weights are counts summing to n)."""
    n = float(len(y))
    if task == "regression":
        return _regression(y.astype(float), s.astype(float), weights, n)
    labels = _labels(task, s, threshold)
    if task == "binary":
        return _binary(y.astype(np.int64), s.astype(float), labels, weights, n)
    return _multiclass(y.astype(np.int64), s.astype(float), labels, weights, n)


def _labels(task: str, s: np.ndarray, threshold: float) -> np.ndarray:
    cut = M.at_threshold(s, threshold) if task == "binary" and threshold != 0.5 else s
    return np.asarray(M._labels(np.asarray(cut, dtype=float)))


def _share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _log_losses(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Each row's log loss as ``metrics._log_loss`` gives it through scikit-learn."""
    p = M._proba2(s)
    eps = np.finfo(float).eps
    return np.asarray(-np.log(np.clip(p[np.arange(len(y)), y], eps, 1 - eps)))


def _binary(
    y: np.ndarray, s: np.ndarray, lab: np.ndarray, w: np.ndarray, n: float
) -> dict[str, np.ndarray]:
    pos, hit = y == 1, lab == 1
    cells = np.column_stack([pos & hit, ~pos & hit, pos & ~hit, ~pos & ~hit]).astype(float)
    tp, fp, fn, tn = (w @ cells).T
    real_pos, real_neg = tp + fn, tn + fp
    recalls = np.column_stack([_share(tp, real_pos), _share(tn, real_neg)])
    present = np.column_stack([real_pos > 0, real_neg > 0])
    return {
        "accuracy": (tp + tn) / n,
        # balanced accuracy: the mean recall of the classes the rows have
        "balanced_accuracy": (recalls * present).sum(axis=1) / present.sum(axis=1),
        "precision": _share(tp, tp + fp),
        "recall": _share(tp, real_pos),
        "f1": _share(2 * tp, 2 * tp + fp + fn),
        "roc_auc": _auc(pos, s, w, real_pos, real_neg),
        "log_loss": w @ _log_losses(y, s) / n,
    }


def _auc(
    pos: np.ndarray, s: np.ndarray, w: np.ndarray, real_pos: np.ndarray, real_neg: np.ndarray
) -> np.ndarray:
    """The chance that a positive row scores above a negative one (ties count half), for each
    weighting; 0.5 where the rows have one class only (as ``metrics._auc``)."""
    order = np.argsort(s, kind="stable")
    ranked = s[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # groups of equal scores
    wp = np.add.reduceat(w[:, order] * pos[order], starts, axis=1)
    wn = np.add.reduceat(w[:, order] * ~pos[order], starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    pairs = real_pos * real_neg
    wins = (wp * (below + 0.5 * wn)).sum(axis=1)
    return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1.0), 0.5)


def _multiclass(
    y: np.ndarray, s: np.ndarray, lab: np.ndarray, w: np.ndarray, n: float
) -> dict[str, np.ndarray]:
    k = s.shape[1]
    truth = y[:, None] == np.arange(k)
    said = lab[:, None] == np.arange(k)
    counts = w @ np.column_stack([truth & said, truth, said]).astype(float)
    tp, real, called = counts[:, :k], counts[:, k : 2 * k], counts[:, 2 * k :]
    f1 = _share(2 * tp, real + called)
    present = (real + called) > 0  # macro F1 averages the classes in the rows or the answers
    return {
        "accuracy": tp.sum(axis=1) / n,
        "f1_macro": (f1 * present).sum(axis=1) / present.sum(axis=1),
        "log_loss": w @ _log_losses(y, s) / n,
    }


def _regression(y: np.ndarray, s: np.ndarray, w: np.ndarray, n: float) -> dict[str, np.ndarray]:
    err = y - s
    sq = w @ (err**2)
    mean = w @ y / n
    total = (w * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    r2 = np.where(total > 0, 1 - sq / np.where(total > 0, total, 1.0), (sq == 0).astype(float))
    out = {"rmse": np.sqrt(sq / n), "mae": w @ np.abs(err) / n, "r2": r2}
    if np.all(y > 0):
        out["mape"] = w @ (np.abs(err) / np.maximum(np.abs(y), M.EPS)) / n
    return out
