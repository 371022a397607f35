"""Extremely randomized trees and random forests (scikit-learn), grown in batches to a deadline.

Deep averaged trees are strong on small tables and differ from boosting, which makes them good
ensemble members. After fitting, the trees are flattened into plain arrays (children, feature,
threshold, missing-value direction, leaf values): the artifact stores those arrays, loading runs no
code, and prediction walks all trees at once with numpy.

Explanations use path contributions (each split's change in the node value, credited to the split's
feature), which add up exactly to the forest's output; for classes they are rescaled so that they
add up to the log-odds (2 categories) or the log-probability of each class (3+), like the other
families' raw scores.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from automl.candidates._base import Candidate, FitContext
from automl.candidates._files import MAX_TREE_DEPTH, damaged, load_npz

FIRST_BATCH = 10  # trees grown before the first deadline check (gives the time per tree)
BATCH = 25  # trees grown between two later deadline checks
MAX_TREES = 300
PROBA_EPS = 1e-6  # probabilities are clipped here before taking logs (explanations only)
CHUNK = 20_000  # rows walked at once when predicting
_INT, _FLOAT = "iu", "f"
_ARRAYS = {  # what forest.npz holds: name -> (dtype kinds, dimensions)
    "left": (_INT, 1),
    "right": (_INT, 1),
    "feature": (_INT, 1),
    "threshold": (_FLOAT, 1),
    "nan_left": ("b", 1),
    "value": (_FLOAT, 2),
    "roots": (_INT, 1),
    "depth": (_INT, 1),
    "importance": (_FLOAT, 1),
}

_ESTIMATORS = {
    ("extra", False): ExtraTreesClassifier,
    ("extra", True): ExtraTreesRegressor,
    ("random", False): RandomForestClassifier,
    ("random", True): RandomForestRegressor,
}


def _min_leaf(n_rows: int) -> int:
    """Leaves of at least this many rows keep big forests to a sensible size."""
    return int(np.clip(n_rows // 5000, 1, 20))


class Forest:
    """All trees of a forest as flat arrays; leaves point to themselves."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self._arrays = arrays
        self.left = arrays["left"]
        self.right = arrays["right"]
        self.feature = arrays["feature"]
        self.threshold = arrays["threshold"]
        self.nan_left = arrays["nan_left"]
        self.value = arrays["value"]  # (nodes, outputs)
        self.roots = arrays["roots"]
        self.depth = int(arrays["depth"][0])
        self.importance = arrays["importance"]

    @classmethod
    def from_sklearn(cls, est: Any, n_outputs: int, classes: np.ndarray | None) -> Forest:
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("left", "right", "feature", "threshold", "nan_left", "value")
        }
        roots = []
        offset = 0
        depth = 0
        for tree_est in est.estimators_:
            t = tree_est.tree_
            n = t.node_count
            idx = np.arange(n, dtype=np.int64) + offset
            leaf = t.children_left < 0
            parts["left"].append(np.where(leaf, idx, t.children_left + offset))
            parts["right"].append(np.where(leaf, idx, t.children_right + offset))
            parts["feature"].append(np.where(leaf, 0, t.feature).astype(np.int32))
            parts["threshold"].append(np.asarray(t.threshold, dtype=np.float64))
            mgl = getattr(t, "missing_go_to_left", None)
            nan_left = np.zeros(n, bool) if mgl is None else np.asarray(mgl, dtype=bool)
            parts["nan_left"].append(nan_left)
            v = np.asarray(t.value[:, 0, :], dtype=np.float64)
            if classes is not None:  # class shares, in the full class order (a fold may miss one)
                v = v / np.maximum(v.sum(axis=1, keepdims=True), 1e-300)
                full = np.zeros((n, n_outputs))
                full[:, classes] = v
                v = full
            parts["value"].append(v.astype(np.float32))
            roots.append(offset)
            offset += n
            depth = max(depth, int(t.max_depth))
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        arrays["left"] = arrays["left"].astype(np.int32 if offset < 2**31 else np.int64)
        arrays["right"] = arrays["right"].astype(arrays["left"].dtype)
        arrays["roots"] = np.asarray(roots, dtype=np.int64)
        arrays["depth"] = np.asarray([depth], dtype=np.int64)
        arrays["importance"] = np.asarray(est.feature_importances_, dtype=np.float64)
        return cls(arrays)

    def arrays(self) -> dict[str, np.ndarray]:
        """What the artifact stores (``forest.npz``)."""
        return dict(self._arrays)

    def _step(self, X: np.ndarray, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        x = X[rows, self.feature[nodes]].astype(np.float64)
        go_left = (x <= self.threshold[nodes]) | (np.isnan(x) & self.nan_left[nodes])
        return np.where(go_left, self.left[nodes], self.right[nodes])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Average leaf value over the trees: (rows, outputs)."""
        X = np.asarray(X)
        out = np.empty((X.shape[0], self.value.shape[1]))
        for lo in range(0, X.shape[0], CHUNK):
            chunk = X[lo : lo + CHUNK]
            rows = np.arange(len(chunk))[:, None]
            nodes = np.broadcast_to(self.roots, (len(chunk), len(self.roots))).copy()
            for _ in range(self.depth):
                nodes = self._step(chunk, rows, nodes)
            out[lo : lo + CHUNK] = self.value[nodes].mean(axis=1, dtype=np.float64)
        return out

    def path_contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, features + 1, outputs): each split's value change credited to its feature,
        averaged over trees; the last feature is the base (mean root value)."""
        X = np.asarray(X)
        n, n_feat = X.shape
        k = self.value.shape[1]
        out = np.zeros((n, n_feat + 1, k))
        rows = np.arange(n)[:, None]
        nodes = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        slot_rows = np.repeat(np.arange(n) * (n_feat + 1), len(self.roots))
        for _ in range(self.depth):
            nxt = self._step(X, rows, nodes)
            moved = nxt != nodes
            if not moved.any():
                break
            delta = self.value[nxt].astype(np.float64) - self.value[nodes]
            delta[~moved] = 0.0
            slots = slot_rows + self.feature[nodes].ravel()
            flat = delta.reshape(-1, k)
            for j in range(k):
                out[:, :, j] += np.bincount(
                    slots, weights=flat[:, j], minlength=n * (n_feat + 1)
                ).reshape(n, n_feat + 1)
            nodes = nxt
        out /= len(self.roots)
        out[:, n_feat, :] = self.value[self.roots].mean(axis=0, dtype=np.float64)
        return out


class ForestCandidate(Candidate):
    name = "forest"
    label = "Extra trees / random forest"
    encoding = "tree"
    explained_by = "contributions read along each tree's decisions"

    @classmethod
    def default_configs(cls, task: str, n_rows: int) -> list[dict[str, Any]]:
        leaf = _min_leaf(n_rows)
        trees = 200 if n_rows <= 20_000 else 100
        return [
            {"kind": "extra", "max_features": 0.7, "min_samples_leaf": leaf, "n_estimators": trees},
            {
                "kind": "random",
                "max_features": 0.5,
                "min_samples_leaf": leaf,
                "n_estimators": trees,
            },
        ]

    @classmethod
    def suggest(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        low = _min_leaf(n_rows)
        return {
            "kind": trial.suggest_categorical("kind", ["extra", "random"]),
            "max_features": trial.suggest_float("max_features", 0.1, 1.0),
            "min_samples_leaf": trial.suggest_int(
                "min_samples_leaf", low, max(low * 20, 20), log=True
            ),
            "n_estimators": 200 if n_rows <= 20_000 else 100,
        }

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        ctx: FitContext,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        categorical: list[int] | None = None,
    ) -> ForestCandidate:
        regression = ctx.task == "regression"
        est_cls = _ESTIMATORS[(self.params.get("kind", "extra"), regression)]
        target = int(min(self.params.get("n_estimators", MAX_TREES), MAX_TREES))
        est = est_cls(
            n_estimators=0,
            max_features=float(self.params.get("max_features", 0.7)),
            min_samples_leaf=int(self.params.get("min_samples_leaf", 1)),
            n_jobs=ctx.threads,
            random_state=ctx.seed,
            warm_start=True,
        )
        grown = 0
        per_tree = 0.0
        t0 = time.monotonic()
        while grown < target:
            step = min(BATCH if grown else FIRST_BATCH, target - grown)
            # Stop before a batch that would end after the deadline (the first batch always runs).
            if grown and time.monotonic() + per_tree * step > ctx.deadline:
                break
            est.set_params(n_estimators=grown + step)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                est.fit(X, y)
            grown += step
            per_tree = (time.monotonic() - t0) / grown
        k = 1 if regression else ctx.n_classes
        classes = None if regression else np.asarray(est.classes_, dtype=np.int64)
        self.fitted_ = Forest.from_sklearn(est, k, classes)
        self.n_iterations_ = grown
        return self

    def predict_scores(self, X: Any) -> np.ndarray:
        return _clip(self.fitted_.predict(X))

    def contributions(self, X: Any) -> np.ndarray:
        raw = self.fitted_.path_contributions(X)
        if raw.shape[2] == 1:  # numbers: already in the target's units
            return raw
        base = raw[:, -1, :]
        change = raw[:, :-1, :].sum(axis=1)  # probability change from the base, per class
        pred = _clip(base + change)
        if raw.shape[2] == 2:  # 2 categories: one output, the log-odds of the positive class
            p0 = np.clip(base[:, 1], PROBA_EPS, 1 - PROBA_EPS)
            g0, g = np.log(p0 / (1 - p0)), np.log(pred / (1 - pred))
            scale = _scale(g - g0, change[:, 1], 1 / (p0 * (1 - p0)))
            out = raw[:, :, 1:2] * scale[:, None, None]
            out[:, -1, 0] = g0
            return out
        p0 = np.clip(base, PROBA_EPS, 1)
        scale = _scale(np.log(pred) - np.log(p0), change, 1 / p0)
        out = raw * scale[:, None, :]
        out[:, -1, :] = np.log(p0)
        return out

    def importances(self, n_features: int) -> np.ndarray:
        return np.asarray(self.fitted_.importance, dtype=float)

    def fixed_iterations(self) -> dict[str, Any]:
        return {**self.params, "n_estimators": int(self.n_iterations_ or MAX_TREES)}

    def save(self, directory: Path) -> None:
        np.savez_compressed(directory / "forest.npz", **self.fitted_.arrays())

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> ForestCandidate:
        path = directory / "forest.npz"
        arrays = load_npz(path, _ARRAYS, infinite=("threshold",))
        check_forest(path, arrays)
        obj = cls(params)
        obj.fitted_ = Forest(arrays)
        obj.n_iterations_ = len(obj.fitted_.roots)
        k = arrays["value"].shape[1]
        task = "regression" if k == 1 else "binary" if k == 2 else "multiclass"
        obj.file_shape_ = (task, 1 if k <= 2 else k, len(arrays["importance"]))
        return obj


def check_forest(path: Path, a: dict[str, np.ndarray]) -> None:
    """The flat arrays are one forest: every tree's nodes point forward to nodes of the same
    tree (leaves to themselves), every node but a root has one parent, features exist, and the
    stored depth is the real one (prediction walks that many steps)."""
    n = len(a["left"])
    if n == 0 or any(len(a[k]) != n for k in ("right", "feature", "threshold", "nan_left")):
        raise damaged(path, "its node arrays do not have one entry per node")
    if a["value"].shape[0] != n or a["value"].shape[1] < 1:
        raise damaged(path, "its leaf values do not have one row per node")
    n_features = len(a["importance"])
    roots = a["roots"].astype(np.int64)
    if len(roots) == 0 or roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= n:
        raise damaged(path, "its list of trees does not point to the start of each tree")
    if a["depth"].shape != (1,):
        raise damaged(path, "its depth is not one number")
    feature = a["feature"].astype(np.int64)
    if n_features < 1 or feature.min() < 0 or feature.max() >= n_features:
        raise damaged(path, f"a split uses an input beyond the {n_features} the forest reads")
    left, right = a["left"].astype(np.int64), a["right"].astype(np.int64)
    idx = np.arange(n)
    leaf = left == idx
    if np.any(leaf & (right != idx)):
        raise damaged(path, "a leaf has a branch")
    ends = np.append(roots[1:], n)[np.searchsorted(roots, idx, side="right") - 1]
    inner = ~leaf
    for child in (left, right):
        if np.any(inner & ((child <= idx) | (child >= ends))):
            raise damaged(path, "a branch points outside its own tree, or backwards (a loop)")
    parents = np.bincount(np.concatenate([left[inner], right[inner]]), minlength=n)
    is_root = np.zeros(n, bool)
    is_root[roots] = True
    if np.any(parents[is_root] != 0) or np.any(parents[~is_root] != 1):
        raise damaged(path, "a node is reached from no branch or from several")
    depth, level = 0, roots
    while True:
        level = level[inner[level]]
        if len(level) == 0:
            break
        level = np.concatenate([left[level], right[level]])
        depth += 1
        if depth > MAX_TREE_DEPTH:
            raise damaged(path, f"a tree is deeper than {MAX_TREE_DEPTH} levels")
    if int(a["depth"][0]) != depth:
        raise damaged(path, f"its stored depth {int(a['depth'][0])} is not the trees' {depth}")


def _clip(out: np.ndarray) -> np.ndarray:
    """Numbers as they are; class probabilities kept off 0 and 1 (a forest's leaves are often
    pure, and a certain wrong answer would cost an unbounded log loss); 2 categories: P(positive).
    """
    if out.shape[1] == 1:
        return np.asarray(out[:, 0])
    if out.shape[1] == 2:
        return np.clip(out[:, 1], PROBA_EPS, 1 - PROBA_EPS)
    out = np.clip(out, PROBA_EPS, 1)
    return np.asarray(out / out.sum(axis=1, keepdims=True))


def _scale(target: np.ndarray, change: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Factor that turns a change in probability into the matching change in log space (the
    log-space slope where the change is too small to divide by)."""
    small = np.abs(change) < 1e-9
    return np.where(small, slope, target / np.where(small, 1.0, change))
