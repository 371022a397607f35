"""The forest family: flattened trees predict exactly like scikit-learn, handle missing values,
give a class missing from the training rows no probability, and are tuned by AutoML. The deadline,
pickle-free saving and contributions are checked for every family in tests/contract/."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestRegressor

import automl
from automl.candidates import FitContext, get_candidate
from automl.candidates._forest import Forest
from tests.conftest import make_table


def _data(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 5)).astype("float32")
    X[rng.random(X.shape) < 0.15] = np.nan
    y = (np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) > 0).astype(int)
    y[rng.random(n) < 0.1] = 2  # a third class
    return X, y


def test_flattened_trees_match_scikit_learn_with_missing_values() -> None:
    X, y = _data()
    clf = ExtraTreesClassifier(n_estimators=20, random_state=0).fit(X, y)
    forest = Forest.from_sklearn(clf, 3, np.asarray(clf.classes_))
    np.testing.assert_allclose(forest.predict(X), clf.predict_proba(X), atol=1e-6)
    reg = RandomForestRegressor(n_estimators=15, min_samples_leaf=3, random_state=0)
    reg.fit(X, np.nan_to_num(X[:, 2]) * 2)
    forest = Forest.from_sklearn(reg, 1, None)
    np.testing.assert_allclose(forest.predict(X)[:, 0], reg.predict(X), rtol=1e-5, atol=1e-5)


def test_a_class_missing_from_the_training_rows_gets_zero_probability() -> None:
    X, y = _data()
    keep = y != 1
    cand = get_candidate("forest")({"kind": "random", "n_estimators": 10})
    cand.fit(X[keep], y[keep], FitContext("multiclass", 3, time.monotonic() + 600))
    p = cand.predict_scores(X)
    assert p.shape == (len(X), 3)
    assert np.all(p[:, 1] < 1e-5) and np.allclose(p.sum(axis=1), 1)


@pytest.fixture(scope="module")
def forest_model() -> automl.Model:
    df = make_table(150, 2, "binary")  # 200 trees per fold: the rows drive the cost
    fitted = automl.AutoML(time_budget=600, seed=0, candidates=["forest"], max_trials=3)
    return fitted.fit(df, "churn").model_


def test_automl_tunes_a_forest_and_reloads_it(forest_model: automl.Model, tmp_path) -> None:
    model = forest_model
    board = model.leaderboard
    assert set(board["candidate"].str.split().str[0]) <= {"forest", "ensemble"}
    assert "search" in set(board["source"])  # a forest-only search tunes beyond the defaults
    rows = make_table(50, 5, "binary").drop(columns=["churn"])
    again = automl.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(again.predict_proba(rows), model.predict_proba(rows))


def test_the_performance_report_names_the_forest_explanation_method(
    forest_model: automl.Model,
) -> None:
    from automl.reports import performance_report

    text = json.dumps(performance_report(forest_model, bootstrap=20).to_dict(), default=str)
    assert "read along each tree's decisions" in text and "TreeSHAP" not in text
