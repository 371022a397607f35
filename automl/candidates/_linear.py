"""Regularized linear models: logistic regression (classes) and ridge regression (numbers).

Saved as coefficients in JSON and applied with plain matrix algebra, so loading runs no code.
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
        return [{"C": 1.0, "class_weight": None}, {"C": LOW_REGULARIZATION_C, "class_weight": None}]

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
        self.fitted_ = {"coef": coef, "intercept": intercept, "task": ctx.task}
        return self

    def predict_scores(self, X: Any) -> np.ndarray:
        z = np.asarray(X @ self.fitted_["coef"].T) + self.fitted_["intercept"]
        task = self.fitted_["task"]
        if task == "regression":
            return np.asarray(z[:, 0])
        if task == "binary":
            return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500, 500))))
        return _softmax(z)

    def contributions(self, X: Any) -> np.ndarray:
        """coefficient x encoded value per feature (features are centred and scaled, so a
        typical value contributes about nothing); the intercept is the base value."""
        import scipy.sparse as sp

        coef = self.fitted_["coef"]  # (outputs, features)
        Xc = sp.csr_matrix(X)
        outs = []
        for k in range(coef.shape[0]):
            part = Xc.multiply(coef[k][None, :]).toarray()
            base = np.full((part.shape[0], 1), float(self.fitted_["intercept"][k]))
            outs.append(np.hstack([part, base]))
        return np.stack(outs, axis=2)

    def importances(self, n_features: int) -> np.ndarray:
        return np.asarray(np.abs(self.fitted_["coef"]).sum(axis=0), dtype=float)

    def save(self, directory: Path) -> None:
        data = {
            "task": self.fitted_["task"],
            "coef": self.fitted_["coef"].tolist(),
            "intercept": self.fitted_["intercept"].tolist(),
        }
        (directory / "linear.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> LinearCandidate:
        path = directory / "linear.json"
        data = read_json(path)
        if not isinstance(data, dict) or sorted(data) != ["coef", "intercept", "task"]:
            raise damaged(path, "it should hold exactly a task, coefficients and intercepts")
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
        obj = cls(params)
        obj.fitted_ = {"task": task, "coef": coef, "intercept": intercept}
        obj.file_shape_ = (task, coef.shape[0], coef.shape[1])
        return obj
