"""XGBoost gradient-boosted trees: depth-wise growth, native categories, early stopping, a deadline.

XGBoost grows each tree level by level (LightGBM grows the best leaf first), so on the same data
the two make different mistakes: averaging them often beats either (measured with one
configuration of each on the peer benchmark's tables: diamonds, randhie, ames, anes96). The
artifact is XGBoost's own JSON model, cut to the trees in use; loading it runs no code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import xgboost as xgb

from automl.candidates._base import Candidate, FitContext, RoundClock
from automl.candidates._xgboost_json import checked_model_json

MAX_ROUNDS = 3000
EARLY_STOP_ROUNDS = 50
MAX_CAT_TO_ONEHOT = 8  # categories with fewer values are split one value at a time
_OBJECTIVE = {
    "binary": "binary:logistic",
    "multiclass": "multi:softprob",
    "regression": "reg:squarederror",
}


class _Deadline(xgb.callback.TrainingCallback):
    """Stop boosting when the next round would likely finish after ``deadline``."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.clock = RoundClock(deadline)
        self.rounds = 0

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.rounds += 1
        return self.clock.next_round_late(self.rounds)


def _matrix(X: Any, categorical: list[int] | None, label: np.ndarray | None = None) -> xgb.DMatrix:
    n_features = X.shape[1]
    cats = set(categorical or [])
    types = ["c" if i in cats else "q" for i in range(n_features)]
    values = np.asarray(X, dtype="float32")
    if np.isinf(values).any():
        # XGBoost refuses infinity (a number beyond float32's range, 1e300, becomes one): the
        # largest float32 sorts the same way against every split threshold
        big = np.finfo(np.float32).max
        values = np.clip(values, -big, big)
    return xgb.DMatrix(
        values,
        label=label,
        feature_types=types,
        enable_categorical=bool(cats),
        nthread=2,
    )


class XGBoostCandidate(Candidate):
    name = "xgboost"
    label = "XGBoost (gradient-boosted trees, grown level by level)"
    encoding = "tree"
    explained_by = "contributions read exactly from the trees (SHAP values)"
    patience = EARLY_STOP_ROUNDS

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.categorical_: list[int] = []

    @classmethod
    def default_configs(cls, task: str, n_rows: int) -> list[dict[str, Any]]:
        small = n_rows < 2000
        return [
            {
                "learning_rate": 0.1,
                "max_depth": 6,
                "min_child_weight": 1.0,
                "subsample": 0.8,
                "colsample_bytree": 0.8,
                "reg_lambda": 1.0,
                "reg_alpha": 1e-8,
            },
            {
                "learning_rate": 0.05,
                "max_depth": 4 if small else 8,
                "min_child_weight": 2.0 if small else 5.0,
                "subsample": 0.9,
                "colsample_bytree": 0.6,
                "reg_lambda": 3.0,
                "reg_alpha": 0.01,
            },
        ]

    @classmethod
    def suggest(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        max_depth = int(np.clip(np.log2(max(n_rows, 2)) - 1, 4, 12))
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, max_depth),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.01, 20.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-8, 1.0, log=True),
        }

    def _xgb_params(self, ctx: FitContext) -> dict[str, Any]:
        out: dict[str, Any] = {
            "objective": _OBJECTIVE[ctx.task],
            "tree_method": "hist",
            "nthread": ctx.threads,
            "seed": ctx.seed,
            "verbosity": 0,
            "max_cat_to_onehot": MAX_CAT_TO_ONEHOT,
        }
        if ctx.task == "multiclass":
            out["num_class"] = ctx.n_classes
        out.update({k: v for k, v in self.params.items() if k != "n_estimators"})
        return out

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        ctx: FitContext,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        categorical: list[int] | None = None,
    ) -> XGBoostCandidate:
        self.categorical_ = list(categorical or [])
        train = _matrix(X, self.categorical_, y)
        rounds = int(self.params.get("n_estimators", MAX_ROUNDS))
        deadline = _Deadline(ctx.deadline)
        callbacks: list[xgb.callback.TrainingCallback] = [deadline]
        evals = []
        if X_val is not None and y_val is not None:
            evals = [(_matrix(X_val, self.categorical_, y_val), "validation")]
            callbacks.append(xgb.callback.EarlyStopping(rounds=EARLY_STOP_ROUNDS, save_best=False))
        booster = xgb.train(
            self._xgb_params(ctx),
            train,
            num_boost_round=rounds,
            evals=evals,
            verbose_eval=False,
            callbacks=callbacks,
        )
        done = booster.num_boosted_rounds()
        best = done
        if evals:
            try:
                best = int(booster.best_iteration) + 1
            except AttributeError:  # stopped before any round was scored
                best = done
        self.fitted_ = booster
        self.n_iterations_ = max(min(best, done), 1)
        return self

    def _dmatrix(self, X: Any) -> xgb.DMatrix:
        return _matrix(X, self.categorical_)

    def predict_scores(self, X: Any) -> np.ndarray:
        out = self.fitted_.predict(self._dmatrix(X), iteration_range=(0, self.n_iterations_))
        return np.asarray(out, dtype="float64")

    def contributions(self, X: Any) -> np.ndarray:
        """SHAP values from XGBoost's TreeSHAP (``pred_contribs``), on the raw score."""
        raw = np.asarray(
            self.fitted_.predict(
                self._dmatrix(X), pred_contribs=True, iteration_range=(0, self.n_iterations_)
            ),
            dtype="float64",
        )
        if raw.ndim == 2:  # one output: (rows, features + 1)
            return raw[:, :, None]
        return raw.transpose(0, 2, 1)  # (rows, classes, features + 1) -> (rows, features + 1, K)

    def importances(self, n_features: int) -> np.ndarray:
        gain = self.fitted_.get_score(importance_type="total_gain")
        out = np.zeros(n_features)
        for key, value in gain.items():
            i = int(key[1:]) if key.startswith("f") and key[1:].isdigit() else -1
            if 0 <= i < n_features:
                out[i] = value
        return out

    def fixed_iterations(self) -> dict[str, Any]:
        return {**self.params, "n_estimators": int(self.n_iterations_ or MAX_ROUNDS)}

    def save(self, directory: Path) -> None:
        used = self.fitted_[: self.n_iterations_]
        used.save_model(str(directory / "model.json"))

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> XGBoostCandidate:
        """XGBoost reads only JSON re-written from checked data (see ``_xgboost_json``)."""
        checked = checked_model_json(directory / "model.json")
        obj = cls(params)
        booster = xgb.Booster(model_file=checked.data)
        obj.fitted_ = booster
        obj.n_iterations_ = booster.num_boosted_rounds()
        types = booster.feature_types or []
        obj.categorical_ = [i for i, t in enumerate(types) if t == "c"]
        obj.file_shape_ = (checked.task, checked.n_outputs, checked.n_features)
        return obj
