"""The XGBoost family: native categories with missing and unseen values, early stopping, the
deadline, explanations that add up, JSON artifacts that reload to the same predictions."""

from __future__ import annotations

import time

import numpy as np
import pytest

import automl
from automl.candidates import FitContext, get_candidate
from tests.conftest import make_table


def _data(n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(n, 4)).astype("float32")
    X[:, 3] = rng.integers(0, 5, size=n)  # a category code
    X[rng.random(n) < 0.1, 3] = np.nan  # missing category
    X[rng.random(n) < 0.1, 0] = np.nan
    effect = np.array([0.0, 2.0, -2.0, 1.0, 0.0])
    signal = np.nan_to_num(X[:, 0]) + effect[np.nan_to_num(X[:, 3]).astype(int)]
    y = (signal + rng.normal(size=n) * 0.3 > 0).astype(int)
    return X, y


def test_categories_missing_and_unseen_values_predict() -> None:
    X, y = _data()
    cand = get_candidate("xgboost")({"learning_rate": 0.1, "max_depth": 3})
    ctx = FitContext("binary", 2, time.monotonic() + 30)
    cand.fit(X[:450], y[:450], ctx, X[450:], y[450:], categorical=[3])
    assert cand.n_iterations_ is not None and 1 <= cand.n_iterations_ < 3000  # stopped early
    p = cand.predict_scores(X[450:])
    assert p.shape == (150,) and np.all((p > 0) & (p < 1))
    accuracy = np.mean((p > 0.5) == y[450:])
    assert accuracy > 0.8  # the category carries most of the signal
    unseen = X[450:460].copy()
    unseen[:, 3] = 7  # a code never seen in training (Easel codes unseen values past the last)
    assert np.all(np.isfinite(cand.predict_scores(unseen)))


def test_boosting_stops_at_the_deadline() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 20)).astype("float32")
    y = X[:, 0] + rng.normal(size=20_000)
    cand = get_candidate("xgboost")({"learning_rate": 0.01, "max_depth": 10})
    t0 = time.monotonic()
    cand.fit(X, y, FitContext("regression", 1, t0 + 1.0))
    assert time.monotonic() - t0 < 3.0  # uncapped: 3,000 deep rounds
    assert cand.n_iterations_ is not None and cand.n_iterations_ < 3000
    assert cand.fixed_iterations()["n_estimators"] == cand.n_iterations_


def test_multiclass_contributions_add_up_to_the_raw_score() -> None:
    X, y = _data()
    y = y + (np.nan_to_num(X[:, 1]) > 1)  # three classes
    cand = get_candidate("xgboost")({"learning_rate": 0.2, "max_depth": 3, "n_estimators": 30})
    cand.fit(X, y, FitContext("multiclass", 3, time.monotonic() + 30), categorical=[3])
    contrib = cand.contributions(X[:40])
    assert contrib.shape == (40, X.shape[1] + 1, 3)
    p = cand.predict_scores(X[:40])
    logits = contrib.sum(axis=1)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, p, rtol=1e-4, atol=1e-5)
    assert cand.importances(X.shape[1]).sum() > 0


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_automl_trains_saves_and_reloads_xgboost(task: str, tmp_path) -> None:
    df = make_table(300, 2, task)
    target = {"binary": "churn", "multiclass": "segment", "regression": "spend"}[task]
    fitted = automl.AutoML(time_budget=20, seed=0, candidates=["xgboost"], max_trials=4)
    model = fitted.fit(df, target).model_
    board = model.leaderboard
    assert set(board["candidate"].str.split().str[0]) <= {"xgboost", "ensemble"}
    assert "search" in set(board["source"])  # beyond the two default configurations
    rows = make_table(50, 5, task).drop(columns=[target])
    path = model.save(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").rglob("*")}
    assert "model.json" in files and not any(f.endswith((".pkl", ".joblib")) for f in files)
    again = automl.load(path)
    if task == "regression":
        np.testing.assert_allclose(again.predict(rows), model.predict(rows))
    else:
        np.testing.assert_allclose(again.predict_proba(rows), model.predict_proba(rows))
    assert len(again.explain(rows.head(3), top=2)) == 6
