"""Regularized linear models: logistic regression (classes) and ridge regression (numbers).

Saved as coefficients in JSON and applied with plain matrix algebra, so loading runs no code.
A configuration with ``pairs`` also learns a weight for the product of every pair of inputs (each
input's square included) when there are at most MAX_PAIR_INPUTS of them: on choice tables, where
how much a price matters depends on another column, those products are what a line misses.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from automl.candidates._base import Candidate, FitContext
from automl.candidates._files import damaged, read_json

LOW_REGULARIZATION_C = 100.0
# Products of pairs of inputs only for at most this many encoded inputs (20 inputs: 210 products;
# wider tables fit the plain model). Measured on a generated 5-option choice table (13,700 rows,
# 6 columns, benchmarks/small_tables.py): test log loss 0.813 without the products, 0.795 with.
MAX_PAIR_INPUTS = 20
# ... and only from this many search rows: on 126 rows of statsmodels' travel mode choice (14
# inputs, 119 products) they overfit (test log loss 0.21 without, 0.29 with)
MIN_PAIR_ROWS = 1_000


def _pair_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The (i, j) inputs of each product, i <= j, in scikit-learn's ``PolynomialFeatures(2)``
    order: (0, 0), (0, 1), ..., (0, n-1), (1, 1), ..."""
    i, j = np.triu_indices(n)
    return i, j


def with_pairs(X: Any) -> np.ndarray:
    """The inputs followed by the product of every pair of them (squares included)."""
    import scipy.sparse as sp

    dense = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=float)
    i, j = _pair_index(dense.shape[1])
    return np.hstack([dense, dense[:, i] * dense[:, j]])


def pair_inputs(width: int) -> int | None:
    """How many inputs give ``width`` columns with their pairs (n + n(n+1)/2), or None."""
    n = int(round((-3 + np.sqrt(9 + 8 * width)) / 2))
    return n if n >= 1 and n + n * (n + 1) // 2 == width else None


def fold_pairs(n: int) -> np.ndarray:
    """(n + products, n): each column's share of a term; a product's half to each input."""
    i, j = _pair_index(n)
    fold = np.zeros((n + len(i), n))
    fold[np.arange(n), np.arange(n)] = 1.0
    rows = n + np.arange(len(i))
    np.add.at(fold, (rows, i), 0.5)
    np.add.at(fold, (rows, j), 0.5)
    return fold


def prior_shift(y: np.ndarray, classes: np.ndarray, outputs: int) -> np.ndarray:
    """What to add to the intercepts of a model fitted with balanced class weights so that its
    probabilities match how often each class occurs again. Weighting every class as if it were
    as common as the others leaves the ranking of rows as it was but moves each probability
    towards equal shares: on the development table `default` (3.3% positives) the weighted
    model's mean predicted probability was 0.199 and its test log loss 0.293; shifted, 0.034
    and 0.073 (unweighted: 0.073), with the same ROC AUC. With weights n / (k n_c), the odds the
    model learned are each class's true odds divided by its count (up to a constant), so the
    shift is the log of the count: the log of n1 / n0 on the one output of two classes."""
    counts = np.array([np.sum(y == c) for c in classes], dtype=float)
    counts = np.maximum(counts, 1.0)
    if outputs == 1:  # two classes: one logit, of the second class against the first
        return np.array([np.log(counts[1] / counts[0])])
    return np.log(counts / counts.sum())


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


class LinearCandidate(Candidate):
    name = "linear"
    label = "Regularized linear model"
    encoding = "linear"
    explained_by = "each column's weight times its value"
    cheap = True

    @classmethod
    def default_configs(cls, task: str, n_rows: int) -> list[dict[str, Any]]:
        if task == "regression":
            return [{"alpha": 1.0}, {"alpha": 30.0}]
        # the second default is nearly unregularized: on classes that a line almost separates
        # (iris, wine, generated 3-5 class tables) C = 100 cut the test log loss 5 to 50 times
        # against C = 1, and the C = 0.1 it replaces was never the better one there (see
        # docs/benchmarks.md, "Near-separable classes"); tuning still searches 1e-4 to 1e3
        configs: list[dict[str, Any]] = [
            {"C": 1.0, "class_weight": None},
            {"C": LOW_REGULARIZATION_C, "class_weight": None},
        ]
        if n_rows >= MIN_PAIR_ROWS:  # the products of pairs of inputs (narrow tables only)
            configs.append({"C": 1.0, "class_weight": None, "pairs": True})
        return configs

    @classmethod
    def suggest(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        if task == "regression":
            return {"alpha": trial.suggest_float("alpha", 1e-3, 1e4, log=True)}
        return {
            "C": trial.suggest_float("C", 1e-4, 1e3, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        }

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        ctx: FitContext,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        categorical: list[int] | None = None,
    ) -> LinearCandidate:
        pairs = bool(self.params.get("pairs")) and X.shape[1] <= MAX_PAIR_INPUTS
        if pairs:
            X = with_pairs(X)
        if ctx.task == "regression":
            self._y_mean = float(np.mean(y))
            self._y_std = float(np.std(y)) or 1.0
            model: Any = Ridge(alpha=self.params["alpha"])
            model.fit(X, (y - self._y_mean) / self._y_std)
            coef = np.atleast_2d(model.coef_) * self._y_std
            intercept = np.atleast_1d(model.intercept_) * self._y_std + self._y_mean
        else:
            model = LogisticRegression(
                C=self.params["C"], class_weight=self.params.get("class_weight"), max_iter=300
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, y)
            coef = np.atleast_2d(model.coef_)
            intercept = np.atleast_1d(model.intercept_)
            if self.params.get("class_weight") == "balanced":
                intercept = intercept + prior_shift(y, model.classes_, len(intercept))
        self.fitted_ = {"coef": coef, "intercept": intercept, "task": ctx.task, "pairs": pairs}
        return self

    def _inputs(self, X: Any) -> Any:
        return with_pairs(X) if self.fitted_.get("pairs") else X

    def predict_scores(self, X: Any) -> np.ndarray:
        X = self._inputs(X)
        z = np.asarray(X @ self.fitted_["coef"].T) + self.fitted_["intercept"]
        task = self.fitted_["task"]
        if task == "regression":
            return np.asarray(z[:, 0])
        if task == "binary":
            return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500, 500))))
        return _softmax(z)

    def contributions(self, X: Any) -> np.ndarray:
        """coefficient x encoded value per feature (features are centred and scaled, so a
        typical value contributes about nothing); the intercept is the base value. A product of
        two inputs gives half its term to each."""
        import scipy.sparse as sp

        coef = self.fitted_["coef"]  # (outputs, features)
        fold = fold_pairs(X.shape[1]) if self.fitted_.get("pairs") else None
        Xc = sp.csr_matrix(self._inputs(X))
        outs = []
        for k in range(coef.shape[0]):
            part = Xc.multiply(coef[k][None, :]).toarray()
            if fold is not None:
                part = part @ fold
            base = np.full((part.shape[0], 1), float(self.fitted_["intercept"][k]))
            outs.append(np.hstack([part, base]))
        return np.stack(outs, axis=2)

    def importances(self, n_features: int) -> np.ndarray:
        weight = np.abs(self.fitted_["coef"]).sum(axis=0)
        if self.fitted_.get("pairs"):
            weight = weight @ fold_pairs(n_features)
        return np.asarray(weight, dtype=float)

    def save(self, directory: Path) -> None:
        data: dict[str, Any] = {
            "task": self.fitted_["task"],
            "coef": self.fitted_["coef"].tolist(),
            "intercept": self.fitted_["intercept"].tolist(),
        }
        if self.fitted_.get("pairs"):  # (a file without products is written as before)
            data["pairs"] = True
        (directory / "linear.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> LinearCandidate:
        path = directory / "linear.json"
        data = read_json(path)
        keys = ["coef", "intercept", "task"]
        if not isinstance(data, dict) or sorted(data) not in (keys, sorted([*keys, "pairs"])):
            raise damaged(path, "it should hold exactly a task, coefficients and intercepts")
        pairs = "pairs" in data
        if pairs and data["pairs"] is not True:
            raise damaged(path, "it does not say plainly whether it uses products of inputs")
        task = data["task"]
        if task not in ("binary", "multiclass", "regression"):
            raise damaged(path, "it does not say what it predicts")
        rows = data["coef"] if isinstance(data["coef"], list) else [None]
        values = [v for r in rows for v in (r if isinstance(r, list) else [None])]
        values += data["intercept"] if isinstance(data["intercept"], list) else [None]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise damaged(path, "its coefficients are not a table of numbers")
        try:
            coef = np.asarray(data["coef"], dtype=float)
            intercept = np.asarray(data["intercept"], dtype=float)
        except ValueError:  # rows of different lengths
            raise damaged(path, "its coefficients are not a table of numbers") from None
        if coef.ndim != 2 or intercept.shape != (coef.shape[0],) or coef.shape[0] < 1:
            raise damaged(path, "its coefficients and intercepts do not have matching sizes")
        inputs: int | None = coef.shape[1]
        if pairs:
            inputs = pair_inputs(coef.shape[1])
            if inputs is None:
                raise damaged(path, "its coefficients do not match inputs and their products")
        obj = cls(params)
        obj.fitted_ = {"task": task, "coef": coef, "intercept": intercept, "pairs": pairs}
        obj.file_shape_ = (task, coef.shape[0], int(inputs or 0))
        return obj
