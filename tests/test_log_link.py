"""Numbers that are never negative and skewed to the right: the search also tries LightGBM's
Tweedie objective (its trees add up to the log of the prediction); its models predict, save,
load, compile and explain in the target's units like any other."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl.candidates import _compiled
from automl.candidates._base import FitContext
from automl.candidates._lightgbm import LOG_LINK, LightGBMCandidate, log_link_contributions
from automl.candidates._lightgbm_text import checked_model_text
from automl.errors import ArtifactError
from automl.model import Model
from automl.reports.performance import performance_report
from automl.training.search import Search


def _skewed(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.exp(1.0 + 0.8 * X[:, 0] - 0.5 * X[:, 1] + rng.normal(0, 0.3, n))  # prices
    return X.astype(np.float32), y


def test_the_choice_is_offered_only_for_numbers_never_negative_and_skewed() -> None:
    _, prices = _skewed()
    space = LightGBMCandidate.target_space("regression", prices)
    assert space == {"objective": ["regression", LOG_LINK]}
    rng = np.random.default_rng(1)
    symmetric = rng.normal(50, 5, 500)
    assert LightGBMCandidate.target_space("regression", symmetric) == {}
    assert LightGBMCandidate.target_space("regression", prices - prices.mean()) == {}  # negatives
    assert LightGBMCandidate.target_space("regression", np.zeros(50)) == {}
    assert LightGBMCandidate.target_space("regression", np.r_[prices, np.nan]) == {}
    assert LightGBMCandidate.target_space("binary", (prices > 3).astype(float)) == {}
    counts = np.r_[np.zeros(400), rng.integers(1, 30, 100)]  # zeros are fine for Tweedie
    assert LightGBMCandidate.target_space("regression", counts) == {
        "objective": ["regression", LOG_LINK]
    }


def _fit_log_link(X: np.ndarray, y: np.ndarray) -> LightGBMCandidate:
    cand = LightGBMCandidate({"learning_rate": 0.1, "num_leaves": 7, "objective": LOG_LINK})
    ctx = FitContext("regression", 1, time.monotonic() + 600, threads=1)
    return cand.fit(X[:400], y[:400], ctx, X[400:], y[400:])


def test_a_log_link_model_explains_in_the_target_units(tmp_path: Path) -> None:
    X, y = _skewed()
    cand = _fit_log_link(X, y)
    assert cand.log_link_ and cand.explanation_note()
    scores = cand.predict_scores(X)
    assert np.all(scores > 0)
    contrib = cand.contributions(X)
    assert contrib.shape == (len(X), X.shape[1] + 1, 1)
    np.testing.assert_allclose(contrib.sum(axis=1)[:, 0], scores, rtol=1e-6)
    # the base value is the prediction with no column's effect: exp of the log-scale base
    raw = cand.fitted_.predict(X, num_iteration=cand.n_iterations_, pred_contrib=True)
    np.testing.assert_allclose(contrib[:, -1, 0], np.exp(raw[:, -1]), rtol=1e-9)
    # a column that raises the log raises the value: the signs are kept
    assert np.array_equal(np.sign(contrib[:, :-1, 0]), np.sign(raw[:, :-1]))

    directory = tmp_path / "c"
    directory.mkdir()
    cand.save(directory)
    loaded = LightGBMCandidate.load(directory, {})  # the file, not the params, says so
    assert loaded.log_link_
    np.testing.assert_allclose(loaded.predict_scores(X), scores, rtol=1e-9)
    np.testing.assert_allclose(loaded.contributions(X), contrib, rtol=1e-9)


def test_contributions_where_the_log_scale_does_not_move() -> None:
    log_scale = np.array([[[0.0], [0.0], [1.5]], [[0.2], [-0.2], [1.5]], [[0.3], [0.1], [0.0]]])
    out = log_link_contributions(log_scale)
    np.testing.assert_allclose(out.sum(axis=1)[:, 0], np.exp(log_scale.sum(axis=1)[:, 0]))
    np.testing.assert_allclose(out[:2, -1, 0], np.exp(1.5))
    np.testing.assert_allclose(out[0, :-1, 0], 0.0)


def test_a_damaged_objective_is_refused(tmp_path: Path) -> None:
    X, y = _skewed()
    text = _fit_log_link(X, y).fitted_.model_to_string()
    assert checked_model_text(Path("m.txt"), text).objective == LOG_LINK
    for bad in ("tweedie tweedie_variance_power:1.5", "poisson"):
        with pytest.raises(ArtifactError) as err:
            checked_model_text(Path("m.txt"), text.replace("objective=tweedie", f"objective={bad}"))
        assert "objective" in str(err.value)


@pytest.mark.skipif(not _compiled.available(), reason="lleaves is not installed")
def test_compiled_log_link_trees_give_lightgbm_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EASEL_CACHE_DIR", str(tmp_path / "cache"))
    X, y = _skewed(1200)
    cand = LightGBMCandidate(
        {"learning_rate": 0.1, "num_leaves": 7, "objective": LOG_LINK, "n_estimators": 60}
    )
    cand.fit(X, y, FitContext("regression", 1, time.monotonic() + 600, threads=1))
    trees = cand.compiled_trees()
    assert trees is not None
    trees.start()
    assert trees.proc is not None
    trees.proc.wait(timeout=300)
    assert trees.poll(), trees.failed
    want = cand.fitted_.predict(X, num_iteration=cand.n_iterations_)
    cand.score_compiled(trees)
    got = cand.predict_scores(X)
    assert cand.compiled_ is not None
    np.testing.assert_allclose(got, want, rtol=1e-9)


def _prices(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.uniform(20, 200, n)
    rooms = rng.integers(1, 6, n)
    area = rng.choice(["north", "south", "centre"], n)
    price = np.exp(9 + 0.01 * size + 0.1 * rooms + (area == "centre") * 0.5 + rng.normal(0, 0.4, n))
    return pd.DataFrame({"size": size, "rooms": rooms, "area": area, "price": price})


def test_the_search_tries_the_log_link_second_and_tunes_it(tmp_path: Path) -> None:
    df = _prices()
    m = automl.AutoML(time_budget=3600, seed=0, max_trials=10).fit(df, target="price")
    lgb = [r for r in m.model_.meta.leaderboard if r.candidate == "lightgbm"]
    objectives = [r.params.get("objective") for r in lgb]
    assert objectives[:2] == ["regression", LOG_LINK]  # the first default, then with Tweedie
    assert all(o in ("regression", LOG_LINK) for o in objectives)
    path = tmp_path / "m"
    m.save(path)
    loaded = Model.load(path)
    np.testing.assert_allclose(loaded.predict(df.head(50)), m.predict(df.head(50)), rtol=1e-9)
    explained = loaded.explain(df.head(5), top=3)
    assert set(explained["column"]) <= {"size", "rooms", "area"}
    # the report says how a log-link model's contributions are in the target's units
    log_link = [c for c, cand in loaded.candidates.items() if getattr(cand, "log_link_", False)]
    assert log_link
    loaded.set_default(log_link[0])
    text = performance_report(loaded, bootstrap=20).section("What drives the predictions").text
    assert any("logarithm of the expected value" in t for t in text)


def test_other_targets_search_as_before() -> None:
    df = _prices()
    df["price"] = np.log(df["price"])  # symmetric: no choice of objective
    m = automl.AutoML(time_budget=3600, seed=0, max_trials=6).fit(df, target="price")
    assert all("objective" not in r.params for r in m.model_.meta.leaderboard)


def test_forecast_searches_leave_the_space_alone() -> None:
    search = Search("regression", 1, None, ["lightgbm"], 0, 0.0, lambda: 0.0)  # type: ignore[arg-type]
    assert not search.shape_target and search.spaces == {}
