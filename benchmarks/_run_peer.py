"""Run one peer framework on one dataset in this process and print one JSON line of results.

Started by peers.py with the python of the framework's own venv (benchmarks/setup_peers.sh), so it
imports nothing from automl: only the dataset loaders and the shared split/score helpers. Same
split, same scorer and same output fields as _run_one.py.

    python -m benchmarks._run_peer --dataset wine --framework flaml --budget 10 --seed 0
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import label, run_main

# (predictions, class probabilities or None, fit seconds, predict seconds, extra fields)
Result = tuple[np.ndarray, pd.DataFrame | None, float, float, dict[str, Any]]

FLAML_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
AUTOGLUON_METRIC = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "root_mean_squared_error",
}


def run_constant(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float, seed: int
) -> Result:
    """Training mean, or the training class frequencies for every row."""
    t0 = time.monotonic()
    y = train[target]
    if task == "regression":
        mean = float(y.mean())
        fit_s = time.monotonic() - t0
        return np.full(len(test), mean), None, fit_s, 0.0, {}
    priors = y.map(label).value_counts(normalize=True).sort_index()
    fit_s = time.monotonic() - t0
    proba = pd.DataFrame(np.tile(priors.to_numpy(), (len(test), 1)), columns=priors.index)
    pred = np.full(len(test), priors.idxmax(), dtype=object)
    return pred, proba, fit_s, 0.0, {}


def run_flaml(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float, seed: int
) -> Result:
    from flaml import AutoML

    x, y = train.drop(columns=[target]), train[target]
    if task != "regression":
        y = y.map(label)
    automl = AutoML()
    t0 = time.monotonic()
    automl.fit(
        x,
        y,
        task="regression" if task == "regression" else "classification",
        metric=FLAML_METRIC[task],
        time_budget=budget,
        n_jobs=2,
        seed=seed,
        verbose=0,
    )
    fit_s = time.monotonic() - t0
    xt = test.drop(columns=[target])
    t0 = time.monotonic()
    pred = np.asarray(automl.predict(xt))
    proba = None
    if task != "regression":
        proba = pd.DataFrame(automl.predict_proba(xt), columns=automl.classes_)
    predict_s = time.monotonic() - t0
    extra = {"best": automl.best_estimator, "trials": len(automl.config_history)}
    return pred, proba, fit_s, predict_s, extra


def _autogluon(presets: str) -> Callable[..., Result]:
    def run(
        train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float, seed: int
    ) -> Result:
        from autogluon.tabular import TabularPredictor

        if task != "regression":
            train = train.assign(**{target: train[target].map(label)})
        with tempfile.TemporaryDirectory(prefix="ag-") as path:
            t0 = time.monotonic()
            predictor = TabularPredictor(
                label=target, problem_type=task, eval_metric=AUTOGLUON_METRIC[task], path=path
            ).fit(train, time_limit=budget, presets=presets, verbosity=0)
            fit_s = time.monotonic() - t0
            xt = test.drop(columns=[target])
            t0 = time.monotonic()
            pred = np.asarray(predictor.predict(xt))
            proba = None if task == "regression" else predictor.predict_proba(xt)
            predict_s = time.monotonic() - t0
            extra = {"best": predictor.model_best, "models": len(predictor.model_names())}
        return pred, proba, fit_s, predict_s, extra

    return run


RUNNERS: dict[str, Callable[..., Result]] = {
    "constant": run_constant,
    "flaml": run_flaml,
    "ag_medium": _autogluon("medium_quality"),
    "ag_best": _autogluon("best_quality"),
}


def main() -> None:
    run_main(RUNNERS)


if __name__ == "__main__":
    main()
