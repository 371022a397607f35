"""The XGBoost family: native categories with missing and unseen values, early stopping, and a
search through AutoML. The deadline, JSON artifacts and contributions that add up are checked for
every family in tests/contract/."""

from __future__ import annotations

import time

import numpy as np

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
    ctx = FitContext("binary", 2, time.monotonic() + 600)
    cand.fit(X[:450], y[:450], ctx, X[450:], y[450:], categorical=[3])
    assert cand.n_iterations_ is not None and 1 <= cand.n_iterations_ < 3000  # stopped early
    p = cand.predict_scores(X[450:])
    assert p.shape == (150,) and np.all((p > 0) & (p < 1))
    accuracy = np.mean((p > 0.5) == y[450:])
    assert accuracy > 0.8  # the category carries most of the signal
    unseen = X[450:460].copy()
    unseen[:, 3] = 7  # a code never seen in training (Easel codes unseen values past the last)
    assert np.all(np.isfinite(cand.predict_scores(unseen)))


def test_automl_tunes_xgboost_and_reloads_it(tmp_path) -> None:
    df = make_table(300, 2, "binary")
    fitted = automl.AutoML(time_budget=600, seed=0, candidates=["xgboost"], max_trials=4)
    model = fitted.fit(df, "churn").model_
    board = model.leaderboard
    assert set(board["candidate"].str.split().str[0]) <= {"xgboost", "ensemble"}
    assert "search" in set(board["source"])  # beyond the two default configurations
    rows = make_table(50, 5, "binary").drop(columns=["churn"])
    again = automl.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(again.predict_proba(rows), model.predict_proba(rows))


def test_numbers_beyond_float32_range_predict_like_the_largest_ones() -> None:
    """1e300 becomes infinity in float32, which XGBoost refuses: it scores as the largest float32
    (found by a review: the prediction service answered 500 for such a row)."""
    df = make_table(400)
    model = automl.AutoML(candidates=["xgboost"], max_trials=1, ensemble=False, seed=0)
    m = model.fit(df, target="churn").model_
    rows = df.drop(columns=["churn"]).head(3).copy()
    huge, largest = rows.copy(), rows.copy()
    huge.loc[0, "income"], huge.loc[1, "age"] = 1e300, -1e300
    big = float(np.finfo(np.float32).max)
    largest.loc[0, "income"], largest.loc[1, "age"] = big, -big
    np.testing.assert_array_equal(m.predict_proba(huge), m.predict_proba(largest))
