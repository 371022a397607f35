"""k nearest neighbours: a prediction is the distance-weighted average of the closest training rows.

Strong where rows that look alike share a target (pixel grids, measurements in one unit) and
unlike trees and linear models, which makes it a useful ensemble member. It reads the linear
encoding (standardized numbers, missing indicators, one-hot categories, text terms). With
``scaling="range"`` each feature is then divided by its range in the training rows, which keeps
the features' relative spread (a pixel that is almost always blank stays almost irrelevant,
where a z-score would blow it up); ``"standard"`` uses the z-scores as they are.

For classes, a small share of each probability comes from the training class shares, so no class
gets probability 0: a neighbourhood that has never seen the right class must not cost an
unbounded log loss. The share is chosen when fitting, from ``FLOOR_SHARES``, as the one with the
least log loss when each of (at most ``FLOOR_ROWS``) training rows is predicted by its neighbours
without itself. A fixed share costs one way or the other: on digits, counting the shares as one
more neighbour (9%) cost more log loss on the confident rows than it saved on the wrong ones, and
the thousandth used before kept every prediction of classes that neighbourhoods separate cleanly
at least 0.1% away from certain (near-separable tables: see docs/benchmarks.md). A model file
written before the choice (no ``prior_share`` among its parameters) keeps that thousandth.

A k-NN model is its training rows: the artifact stores them, encoded and scaled (``knn.npz``),
and predicting compares every new row with every stored one. So the family is searched only on
tables of at most :attr:`KNNCandidate.max_rows` search rows.

Explanations: a feature's effect is how much the prediction changes when that feature alone is
set to its training average (only one term of each distance changes, so this is cheap), scaled so
that the effects add up to the prediction's distance from the class shares (or the mean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from automl.candidates._base import Candidate, FitContext
from automl.candidates._files import damaged, load_npz, outputs_for

CHUNK = 1024  # rows compared with the whole training set at once
POOL = 64  # nearest rows re-ranked when one feature is set to its average (explanations)
PROBA_EPS = 1e-6
PRIOR_SHARE = (
    1e-3  # of each class probability, from the class shares: models from before the choice
)
FLOOR_SHARES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05)  # the shares the choice is made from
FLOOR_ROWS = 2000  # training rows predicted without themselves to choose the share
_THREADPOOLS: list[ThreadpoolController] = []
_TASKS = ("binary", "multiclass", "regression")
_ARRAYS = {  # what knn.npz holds: name -> (dtype kinds, dimensions)
    "task": ("U", 1),
    "rows": ("f", 2),
    "scale": ("f", 1),
    "target": ("iuf", 1),
    "prior": ("f", 1),
}


def _one_blas_thread() -> Any:
    """A context in which BLAS uses one thread. The distance products here are small: on 2 cores,
    BLAS threads cost more to start than they save, and their spinning afterwards slows the
    boosting trials that follow (measured: a k-NN trial on breast_cancer took 0.05 s with
    threads, 0.005 to 0.01 s without)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def _dense(X: Any) -> np.ndarray:
    arr = X.toarray() if sp.issparse(X) else np.asarray(X)
    return np.asarray(arr, dtype=np.float32)


class KNNCandidate(Candidate):
    name = "knn"
    label = "k nearest neighbours"
    encoding = "linear"
    explained_by = "the change when one column is set to its average, scaled to add up"
    max_rows = 10_000
    cheap = True

    @classmethod
    def default_configs(cls, task: str, n_rows: int) -> list[dict[str, Any]]:
        return [
            {"n_neighbors": 10, "weights": "distance", "scaling": "range"},
            {"n_neighbors": 10, "weights": "distance", "scaling": "standard"},
        ]

    @classmethod
    def suggest(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        return {
            "n_neighbors": trial.suggest_int("n_neighbors", 1, 50, log=True),
            "weights": trial.suggest_categorical("weights", ["distance", "uniform"]),
            "scaling": trial.suggest_categorical("scaling", ["range", "standard"]),
        }

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        ctx: FitContext,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        categorical: list[int] | None = None,
    ) -> KNNCandidate:
        rows = _dense(X)
        if self.params.get("scaling", "range") == "range" and len(rows):
            spread = rows.max(axis=0) - rows.min(axis=0)
            scale = np.where(spread > 1e-12, 1.0 / np.maximum(spread, 1e-12), 0.0)
        else:
            scale = np.ones(rows.shape[1])
        scale = scale.astype(np.float32)
        stored = rows * scale
        if ctx.task == "regression":
            target = np.asarray(y, dtype=np.float64)
            prior = np.asarray([float(np.mean(target))])
        else:
            target = np.asarray(y, dtype=np.int64)
            # class shares, with one pseudo-row per class: a class missing from these rows
            # still gets a (tiny) probability
            counts = np.bincount(target, minlength=ctx.n_classes).astype(np.float64) + 1.0
            prior = counts / counts.sum()
        self.fitted_ = {
            "task": ctx.task,
            "rows": stored,
            "norms": (stored.astype(np.float64) ** 2).sum(axis=1),
            "scale": scale,
            "target": target,
            "prior": prior,
            "mean": stored.mean(axis=0) if len(stored) else np.zeros(stored.shape[1], np.float32),
            "share": 0.0,
        }
        if ctx.task != "regression":
            given = self.params.get("prior_share")
            share = float(given) if given is not None else self._choose_share(ctx.seed)
            self.fitted_["share"] = share
            self.params["prior_share"] = share  # kept with the model's parameters; a refit keeps it
        return self

    def _choose_share(self, seed: int) -> float:
        """The share of each probability taken from the class shares (``FLOOR_SHARES``) with the
        least log loss when up to ``FLOOR_ROWS`` training rows are each predicted by their
        neighbours without themselves."""
        f = self.fitted_
        n, k = len(f["rows"]), self._k()
        if n <= k + 1:
            return PRIOR_SHARE
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(n, size=min(n, FLOOR_ROWS), replace=False))
        right = np.empty(len(pick))
        for lo in range(0, len(pick), CHUNK):
            rows = pick[lo : lo + CHUNK]
            idx, d2 = self._nearest(f["rows"][rows], k + 1)
            own = idx == rows[:, None]
            # leave out the row itself (or the farthest, when copies of it took every place)
            drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
            keep = np.ones(idx.shape, dtype=bool)
            keep[np.arange(len(rows)), drop] = False
            idx, d2 = idx[keep].reshape(len(rows), k), d2[keep].reshape(len(rows), k)
            votes = self._votes(d2, idx)
            right[lo : lo + len(rows)] = votes[np.arange(len(rows)), f["target"][rows]]
        base = f["prior"][f["target"][pick]]
        losses = [float(np.mean(-np.log((1 - s) * right + s * base))) for s in FLOOR_SHARES]
        return float(FLOOR_SHARES[int(np.argmin(losses))])

    # ---------------------------------------------------------------- neighbours
    def _k(self) -> int:
        return int(max(1, min(int(self.params.get("n_neighbors", 10)), len(self.fitted_["rows"]))))

    def _sq_distances(self, Q: np.ndarray) -> np.ndarray:
        """Squared distances from the (scaled) rows ``Q`` to every stored row."""
        rows = self.fitted_["rows"]
        q = Q.astype(np.float64)
        with _one_blas_thread():
            cross = Q @ rows.T
        d2 = (q**2).sum(axis=1)[:, None] + self.fitted_["norms"][None, :] - 2.0 * cross
        return np.maximum(d2, 0.0)

    def _votes(self, d2: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The neighbours' weighted answers, from the squared distances ``d2`` to the stored rows
        ``idx`` (one row of neighbours per prediction): (rows, outputs), each class's share of
        the votes, or the values' weighted mean."""
        f = self.fitted_
        if self.params.get("weights", "distance") == "distance":
            w = 1.0 / np.maximum(np.sqrt(d2), 1e-6)
        else:
            w = np.ones_like(d2)
        w = w / w.sum(axis=1, keepdims=True)
        labels = f["target"][idx]
        if f["task"] == "regression":
            return np.asarray((w * labels).sum(axis=1))[:, None]
        k = idx.shape[1]
        votes = np.zeros((len(idx), len(f["prior"])))
        np.add.at(votes, (np.repeat(np.arange(len(idx)), k), labels.ravel()), w.ravel())
        return votes

    def _combine(self, d2: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Predictions (probabilities or values) from the squared distances ``d2`` to the stored
        rows ``idx``: the votes, with the chosen share of each probability from the class
        shares."""
        f = self.fitted_
        votes = self._votes(d2, idx)
        if f["task"] == "regression":
            return votes
        share = float(f["share"])
        return np.asarray((1 - share) * votes + share * f["prior"][None, :])

    def _nearest(self, Q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and squared distances of the ``n`` nearest stored rows, nearest first."""
        d2 = self._sq_distances(Q)
        if n < d2.shape[1]:
            idx = np.argpartition(d2, n - 1, axis=1)[:, :n]
        else:
            idx = np.broadcast_to(np.arange(d2.shape[1]), d2.shape).copy()
        near = np.take_along_axis(d2, idx, axis=1)
        order = np.argsort(near, axis=1, kind="stable")
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(near, order, axis=1)

    def _outputs(self, X: Any) -> np.ndarray:
        Q = _dense(X) * self.fitted_["scale"]
        k = self._k()
        n_out = 1 if self.fitted_["task"] == "regression" else len(self.fitted_["prior"])
        out = np.empty((len(Q), n_out))
        for lo in range(0, len(Q), CHUNK):
            idx, d2 = self._nearest(Q[lo : lo + CHUNK], k)
            out[lo : lo + CHUNK] = self._combine(d2, idx)
        return out

    def predict_scores(self, X: Any) -> np.ndarray:
        out = self._outputs(X)
        task = self.fitted_["task"]
        if task == "regression":
            return np.asarray(out[:, 0])
        if task == "binary":
            return np.asarray(out[:, 1])
        return out

    # ---------------------------------------------------------------- explanations
    def _raw(self, out: np.ndarray) -> np.ndarray:
        """Outputs in the explanation scale: the target's units, log-odds (2 categories) or
        log-probability per class (3+)."""
        task = self.fitted_["task"]
        if task == "regression":
            return out
        p = np.clip(out, PROBA_EPS, 1 - PROBA_EPS)
        if task == "binary":
            return np.log(p[:, 1:2] / (1 - p[:, 1:2]))
        return np.log(p)

    def contributions(self, X: Any) -> np.ndarray:
        f = self.fitted_
        Q = _dense(X) * f["scale"]
        n, n_feat = Q.shape
        k = self._k()
        base = self._raw(f["prior"][None, :])[0]  # (outputs,)
        out = np.zeros((n, n_feat + 1, len(base)))
        rows, mean = f["rows"], f["mean"]
        for lo in range(0, n, CHUNK):
            q = Q[lo : lo + CHUNK]
            idx, d2 = self._nearest(q, min(max(POOL, 4 * k), len(rows)))
            raw = self._raw(self._combine(d2[:, :k], idx[:, :k]))
            effect = np.zeros((len(q), n_feat, len(base)))
            for j in range(n_feat):
                t = rows[idx, j].astype(np.float64)
                moved = d2 - (q[:, j : j + 1] - t) ** 2 + (mean[j] - t) ** 2
                pick = np.argsort(moved, axis=1, kind="stable")[:, :k]
                raw_j = self._raw(
                    self._combine(
                        np.take_along_axis(moved, pick, axis=1),
                        np.take_along_axis(idx, pick, axis=1),
                    )
                )
                effect[:, j, :] = raw - raw_j
            total = raw - base[None, :]  # what the effects must add up to
            rest = total - effect.sum(axis=1)
            share = _shares(np.abs(effect), f["scale"] > 0)
            out[lo : lo + CHUNK, :n_feat, :] = effect + share * rest[:, None, :]
            out[lo : lo + CHUNK, n_feat, :] = base[None, :]
        return out

    # ---------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        f = self.fitted_
        np.savez_compressed(
            directory / "knn.npz",
            task=np.asarray([f["task"]]),
            rows=f["rows"],
            scale=f["scale"],
            target=f["target"],
            prior=f["prior"],
        )

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> KNNCandidate:
        path = directory / "knn.npz"
        data = load_npz(path, _ARRAYS)
        task = str(data["task"][0]) if data["task"].shape == (1,) else ""
        if task not in _TASKS:
            raise damaged(path, "it does not say what it predicts")
        rows, target, prior = data["rows"], data["target"], data["prior"]
        n_rows, n_features = rows.shape
        if n_rows == 0 or data["scale"].shape != (n_features,) or target.shape != (n_rows,):
            raise damaged(path, "its rows, scales and answers do not have matching sizes")
        n_out = 1 if task == "regression" else 2 if task == "binary" else max(len(prior), 3)
        negative = task != "regression" and np.any(prior < 0)  # a mean number may be below 0
        if len(prior) != n_out or negative or not np.all(np.isfinite(prior)):
            raise damaged(
                path,
                f"its average answer should have {n_out} "
                + ("number" if task == "regression" else "non-negative value(s)"),
            )
        if task != "regression" and (
            target.dtype.kind == "f" or target.min() < 0 or target.max() >= n_out
        ):
            raise damaged(path, f"its stored answers should be class numbers below {n_out}")
        share = params.get("prior_share", PRIOR_SHARE if task != "regression" else 0.0)
        if (
            not isinstance(share, (int, float))
            or isinstance(share, bool)
            or not 0.0 <= float(share) < 1.0
        ):
            raise damaged(path, "its share of the class shares should be a number from 0 to 1")
        obj = cls(params)
        obj.fitted_ = {
            "task": task,
            "rows": rows,
            "norms": (rows.astype(np.float64) ** 2).sum(axis=1),
            "scale": data["scale"],
            "target": target,
            "prior": prior,
            "mean": rows.mean(axis=0),
            "share": float(share),
        }
        obj.file_shape_ = (task, outputs_for(task, n_out), n_features)
        return obj


def _shares(size: np.ndarray, varies: np.ndarray) -> np.ndarray:
    """How the part of a prediction that no single feature explains is spread over the features
    (``size``: |effect|, (rows, features, outputs)): in proportion to each feature's effect on
    that output; where no feature moves that output (a class no neighbour voted for), to its
    effect on any output; where nothing moves at all, evenly over the features that vary."""
    even = varies / max(int(varies.sum()), 1) if varies.any() else np.full(len(varies), 1.0)
    out = np.empty_like(size)
    any_out = size.sum(axis=2)  # (rows, features)
    for r in range(size.shape[0]):
        for c in range(size.shape[2]):
            col = size[r, :, c]
            if col.sum() > 1e-12:
                out[r, :, c] = col / col.sum()
            elif any_out[r].sum() > 1e-12:
                out[r, :, c] = any_out[r] / any_out[r].sum()
            else:
                out[r, :, c] = even / even.sum()
    return out
