"""The k-NN family: predicts like scikit-learn's neighbours on range-scaled columns, never gives a
class probability 0, gives a constant column no contribution, and is left out of searches on
tables too large for it. Pickle-free saving and additive contributions are checked for every
family in tests/contract/."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import MinMaxScaler

import automl
from automl.candidates import FitContext, families_for, get_candidate
from automl.candidates._knn import FLOOR_SHARES, PRIOR_SHARE
from automl.errors import ArtifactError, ParameterError
from automl.metrics import METRICS
from tests.conftest import make_table


def _data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * np.asarray([1.0, 10.0, 0.1, 3.0])
    y_num = X[:, 0] + 0.1 * X[:, 1] + rng.normal(0, 0.3, n)
    y_cls = np.digitize(y_num, np.quantile(y_num, [0.33, 0.66]))
    return X, y_num, y_cls


def _ctx(task: str, n_classes: int = 1) -> FitContext:
    return FitContext(task, n_classes, time.monotonic() + 600)


@pytest.mark.parametrize("weights", ["distance", "uniform"])
def test_predictions_match_scikit_learn_on_range_scaled_columns(weights: str) -> None:
    X, y_num, y_cls = _data()
    Xt = _data(80, seed=1)[0]
    scaler = MinMaxScaler().fit(X)
    params = {"n_neighbors": 7, "weights": weights, "scaling": "range"}

    reg = get_candidate("knn")(params).fit(X, y_num, _ctx("regression"))
    ref = KNeighborsRegressor(7, weights=weights).fit(scaler.transform(X), y_num)
    np.testing.assert_allclose(reg.predict_scores(Xt), ref.predict(scaler.transform(Xt)), rtol=1e-4)

    clf = get_candidate("knn")(params).fit(X, y_cls, _ctx("multiclass", 3))
    share = clf.fixed_iterations()["prior_share"]
    assert share in FLOOR_SHARES
    ref_c = KNeighborsClassifier(7, weights=weights).fit(scaler.transform(X), y_cls)
    prior = (np.bincount(y_cls, minlength=3) + 1) / (len(y_cls) + 3)
    expected = (1 - share) * ref_c.predict_proba(scaler.transform(Xt)) + share * prior
    np.testing.assert_allclose(clf.predict_scores(Xt), expected, atol=1e-5)


def test_a_regression_whose_mean_is_below_zero_saves_and_loads(tmp_path) -> None:
    # a forecast's candidates learn changes from the level, often below zero on average
    X, y_num, _ = _data()
    reg = get_candidate("knn")({"n_neighbors": 5}).fit(X, y_num - 10.0, _ctx("regression"))
    reg.save(tmp_path)
    back = get_candidate("knn").load(tmp_path, {"n_neighbors": 5})
    np.testing.assert_allclose(back.predict_scores(X[:20]), reg.predict_scores(X[:20]))


def test_no_class_gets_probability_zero() -> None:
    X, _, y_cls = _data()
    keep = y_cls != 1  # a class missing from these training rows (as in a cross-validation fold)
    clf = get_candidate("knn")({"n_neighbors": 3}).fit(X[keep], y_cls[keep], _ctx("multiclass", 3))
    far = np.full((5, 4), 1e3)  # every neighbour is of one class
    p = clf.predict_scores(np.vstack([X[:20], far]))
    assert p.min() > 0 and np.allclose(p.sum(axis=1), 1)


def _clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes in tight clusters far apart: neighbours never disagree."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(0, 0.3, size=(n, 4)) + 10.0 * np.eye(3, 4)[y]
    return X, y


def test_cleanly_separated_classes_get_confident_probabilities() -> None:
    # the share of each probability taken from the class shares is chosen on the training rows
    # (each predicted without itself): a fixed thousandth kept every row at least 0.07% away
    # from certain, a log loss of at least 0.00067 however clean the classes
    X, y = _clusters(300, 0)
    X_test, y_test = _clusters(150, 1)
    clf = get_candidate("knn")({"n_neighbors": 10}).fit(X, y, _ctx("multiclass", 3))
    assert clf.fixed_iterations()["prior_share"] < PRIOR_SHARE
    assert METRICS["log_loss"](y_test, clf.predict_scores(X_test)) < 1e-4


def test_mixed_classes_keep_a_larger_share_from_the_class_shares() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = rng.integers(0, 3, 400)  # neighbours say nothing: the class shares are the answer
    clf = get_candidate("knn")({"n_neighbors": 10}).fit(X, y, _ctx("multiclass", 3))
    assert clf.fixed_iterations()["prior_share"] >= 1e-2


def test_a_saved_share_is_read_back_and_checked(tmp_path) -> None:
    X, y = _clusters(90, 0)
    cls = get_candidate("knn")
    clf = cls({"n_neighbors": 5}).fit(X, y, _ctx("multiclass", 3))
    clf.save(tmp_path)
    params = clf.fixed_iterations()
    again = cls.load(tmp_path, params)
    np.testing.assert_allclose(again.predict_scores(X), clf.predict_scores(X))
    # a model saved before the share was chosen has no share among its parameters: the
    # thousandth it was made with
    old = cls.load(tmp_path, {"n_neighbors": 5})
    assert old.fitted_["share"] == PRIOR_SHARE
    for bad in (-0.1, 1.0, "0.1", True):
        with pytest.raises(ArtifactError, match="share"):
            cls.load(tmp_path, {**params, "prior_share": bad})


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_constant_column_contributes_nothing(task: str) -> None:
    X, y_num, y_cls = _data()
    X = np.column_stack([X, np.ones(len(X))])  # a constant column cannot move anything
    y = y_num if task == "regression" else (y_cls > 0).astype(int) if task == "binary" else y_cls
    k = {"binary": 2, "multiclass": 3, "regression": 1}[task]
    cand = get_candidate("knn")({"n_neighbors": 5}).fit(X, y, _ctx(task, k))
    contrib = cand.contributions(X[:40])
    assert np.all(contrib[:, -2, :] == 0)
    assert np.abs(contrib[:, :-2, :]).sum() > 0


@pytest.fixture(scope="module")
def knn_model() -> automl.Model:
    df = make_table(300, 2, "binary")
    return (
        automl.AutoML(time_budget=600, seed=0, candidates=["knn"], max_trials=4)
        .fit(df, "churn")
        .model_
    )


def test_automl_searches_knn_and_reloads_it(knn_model: automl.Model, tmp_path) -> None:
    m = knn_model
    assert set(m.leaderboard["candidate"].str.split().str[0]) <= {"knn", "ensemble"}
    rows = make_table(50, 5, "binary").drop(columns=["churn"])
    again = automl.load(m.save(tmp_path / "m"))
    np.testing.assert_allclose(again.predict_proba(rows), m.predict_proba(rows))


def test_the_performance_report_names_the_knn_explanation_method(knn_model: automl.Model) -> None:
    from automl.reports import performance_report

    text = json.dumps(performance_report(knn_model, bootstrap=20).to_dict(), default=str)
    assert "set to its average" in text


def test_large_tables_leave_knn_out_and_say_so_when_it_was_chosen() -> None:
    families = ["lightgbm", "knn"]
    assert families_for(families, 10_000, chosen=True) == (families, [])
    assert families_for(families, 10_001, chosen=False) == (["lightgbm"], [])
    usable, notes = families_for(families, 10_001, chosen=True)
    assert usable == ["lightgbm"]
    assert notes and "'knn'" in notes[0] and "10,000 rows" in notes[0] and "10,001" in notes[0]
    with pytest.raises(ParameterError, match="Add another family"):
        families_for(["knn"], 20_000, chosen=True)


def test_a_knn_only_search_on_a_large_table_is_a_clear_error() -> None:
    df = make_table(13_000, 0, "binary")
    with pytest.raises(ParameterError, match="at most 10,000 rows"):
        automl.AutoML(time_budget=10, seed=0, candidates=["knn"]).fit(df, "churn")
