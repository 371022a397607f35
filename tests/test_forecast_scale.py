"""Forecasts of many long series: the feature rows' memory, the search's sample of rows, the
kept candidates' fits sized to the time left, the statistical methods skipped when the budget
cannot reach them (benchmarks/forecast_scale.py measures the speed)."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl.timeseries import (
    Layout,
    feature_names,
    fit_plan,
    plan_for,
    to_series,
    training_rows,
)


def daily(n_series: int, days: int, seed: int = 0, gaps: bool = False) -> pd.DataFrame:
    """Daily series with a level, a weekly season and noise (and, with ``gaps``, missing
    stretches, a run without change and a series that starts late)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-01", periods=days, freq="D")
    t = np.arange(days)
    level = rng.uniform(20, 500, n_series)[:, None]
    y = level * (1 + 0.2 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.1, (n_series, days)))
    if gaps:
        y[0, 30:45] = np.nan  # longer than the level's 7 days: the whole window's average
        y[1, rng.choice(days, days // 5, replace=False)] = np.nan
        y[2, 100:200] = 42.0  # no change: the scale falls back to the values' size
        y[3, : days // 2] = np.nan  # starts late
    df = pd.DataFrame(
        {
            "item": np.repeat([f"item{i:03d}" for i in range(n_series)], days),
            "date": np.tile(dates, n_series),
            "sales": y.ravel(),
        }
    )
    return df.dropna().reset_index(drop=True)


def layout_of(df: pd.DataFrame) -> tuple[object, Layout]:
    sd = to_series(df, "sales", "date", ["item"], None)
    plan = fit_plan(plan_for(sd.clock), 1000, 14)  # (every lag of a daily layout)
    names = feature_names("sales", plan, sd.clock.words)
    return sd, Layout("sales", "date", ["item"], [], plan, sd.clock, names)


def test_feature_rows_are_each_windows_features() -> None:
    """The rows built along each series equal the features of every row's own look-back
    window (the matrix of windows the forecast uses), gaps, flat stretches and all."""
    sd, layout = layout_of(daily(5, 700, gaps=True))
    X, dev, y, per, pos = training_rows(sd, layout)
    L = layout.plan.lookback
    assert L == 364
    windows = np.full((len(y), L), np.nan)
    for r, (j, p) in enumerate(zip(pos, per, strict=True)):
        vals, start = sd.values[j], int(sd.start[j])
        for k in range(L):
            i = p - L + k - start
            if 0 <= i < len(vals):
                windows[r, k] = vals[i]
    want, level, scale = layout.frame(windows, per, sd.ids.iloc[pos], sd.static.iloc[pos])
    assert list(X.columns) == list(want.columns)
    for c in X.columns:
        if c != "item":
            np.testing.assert_allclose(X[c], want[c], rtol=1e-9, atol=1e-12, err_msg=c)
    np.testing.assert_allclose(dev, (y - level) / scale, rtol=1e-9, atol=1e-12)
    assert (X["item"] == sd.ids["item"].to_numpy()[pos]).all()


def test_feature_rows_never_hold_every_rows_look_back_window() -> None:
    """A daily layout looks back 364 days: the rows' windows were a matrix of rows x 364
    numbers (and several copies of it: 13 GB for a million rows). Building the rows now takes
    a few times the size of the rows themselves."""
    sd, layout = layout_of(daily(40, 1000))
    tracemalloc.start()
    try:
        X, dev, y, per, pos = training_rows(sd, layout)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rows_bytes = X.memory_usage(index=False, deep=False).sum() + 4 * len(y) * 8
    window_matrix = len(y) * layout.plan.lookback * 8
    assert peak < 3 * rows_bytes < window_matrix / 4


def test_distinct_counts_of_chosen_number_columns_are_those_of_their_text() -> None:
    """A column typed by the caller (every feature of a forecast) counts its distinct values
    as numbers, the count its text gives (missing values not counted)."""
    from automl.coltypes import infer_types

    df = pd.DataFrame({"a": [1.5, 1.5, np.nan, 2.0, np.nan], "b": ["x", "y", "x", None, "y"]})
    info = infer_types(df, {"a": "numeric", "b": "categorical"})
    assert info["a"].distinct == df["a"].astype(str).nunique() == 2
    assert info["b"].distinct == df["b"].astype(str).nunique() == 2


def prepared(df: pd.DataFrame, **settings: object) -> object:
    from automl.presets import get_preset
    from automl.training.forecast import prepare
    from automl.training.run import FitOptions, FitRun

    run = FitRun(
        FitOptions(time_column="date", series_columns=["item"], horizon=14),
        {**get_preset("quick"), **settings},
    )
    return prepare(run, df, "sales")


def test_the_search_samples_rows_of_every_series_and_period() -> None:
    """Above the preset's max_search_rows the search learns from a sample of rows of every
    series (it took the last rows of the frame: the last series only), scored on the backtest
    windows' rows."""
    f = prepared(daily(30, 300), max_search_rows=3000)
    assert len(f.search_idx) == 3000 < f.train_mask.sum()
    assert set(f.pos_all[f.search_idx]) == set(range(30))  # every series
    per = f.per_all[f.search_idx]
    assert per.min() < f.origins[0] - 200  # early periods too
    assert (per <= f.cutoff).all()  # never the hold-out
    late = (per > f.origins[0]).sum()
    assert 0 < late <= 3000 // 4
    for (train, val), origin in zip(f.sdata.folds, f.origins, strict=True):
        assert (per[train] <= origin).all()
        assert ((per[val] > origin) & (per[val] <= origin + 14)).all() and len(val)
    assert len(f.pre.params_["item"]["categories"]) == 30  # every series' own category
    small = prepared(daily(3, 300))  # under the threshold: every row before the hold-out
    assert len(small.search_idx) == small.train_mask.sum()


def test_kept_fits_learn_from_the_rows_the_time_left_allows() -> None:
    """A kept candidate's fits (each backtest window, the hold-out, the refit) learn from every
    row when they fit in the time left, else from the most rows that do (never fewer than its
    trial had): five fits of a million rows each took 10 s to 16 s, over the budget."""
    from automl.progress import TrialRecord
    from automl.training.forecast import fit_cost, rows_within

    rec = TrialRecord(
        id=2, candidate="lightgbm", params={}, score=0.7, fit_seconds=3.0, status="ok",
        source="default", rows=40_000,
    )  # fmt: skip
    assert fit_cost(rec, 3, 40_000) == 1.0  # a fold of its trial
    assert rows_within(rec, 3, 1_000_000, 1e6, 5) == 1_000_000  # time for every row
    rows = rows_within(rec, 3, 1_000_000, 25.0, 5)  # 5 s a fit
    assert 40_000 < rows < 1_000_000
    assert 5 * fit_cost(rec, 3, rows) <= 25.0 + 1e-6
    assert 5 * fit_cost(rec, 3, rows + 1000) > 25.0
    assert rows_within(rec, 3, 1_000_000, 0.1, 5) == 40_000  # never fewer than its trial's
    assert rows_within(rec, 3, 20_000, 0.1, 5) == 20_000  # nor more than there are


def monthly(n_series: int, months: int = 72, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2015-01-01", periods=months, freq="MS")
    t = np.arange(months)
    y = rng.uniform(50, 150, (n_series, 1)) * (
        1 + 0.2 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.05, (n_series, months))
    )
    return pd.DataFrame(
        {
            "item": np.repeat([f"item{i:03d}" for i in range(n_series)], months),
            "date": np.tile(dates, n_series),
            "sales": y.ravel(),
        }
    )


def test_statistical_methods_are_skipped_when_the_budget_cannot_reach_them() -> None:
    """At their best pace the statistical methods' share of a 30 s budget reaches 12 series
    (0.5 s each): with 60 of them none is tried (they reached a few, for a fifth of the
    budget), and the model says so."""
    import automl

    m = automl.AutoML(
        time_column="date", series_columns=["item"], horizon=6, time_budget=30, max_trials=2
    ).fit(monthly(60), "sales")
    ts = m.model_.timeseries
    assert set(ts.series.methods) == {"model"}
    note = [w for w in m.model_.warnings if "statistical methods" in w]
    assert len(note) == 1 and "were not tried" in note[0] and "60 series" in note[0]


def test_the_first_model_is_trained_when_preparing_took_most_of_the_budget() -> None:
    """A forecast whose preparation left the search less than its reserve still trains its
    first trial (the search's deadline once a model exists does not apply before it): it
    ended in "No model could be trained within the time budget"."""

    import automl
    from automl.training.run import FitRun

    est = automl.AutoML(
        time_column="date", series_columns=["item"], horizon=6, time_budget=60, max_trials=2
    )
    # as if reading and preparing the rows had taken 54 of the 60 s
    run = FitRun(est._options(), est._settings(), start=time.monotonic() - 54)
    model = est._fit(run, monthly(3), "sales", None).model_
    assert model.leaderboard["validation_rmse"].notna().any()
    assert model.metrics["mase"] > 0


def test_a_forecasts_prediction_cost_is_forecasting_not_its_backtests_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The leaderboard's milliseconds per 1,000 values forecast are the cost of forecasting
    (as a table's are of scoring rows): they counted the three backtest windows' fits and
    forecasts too. Each backtest window's forecast is made a second slower here: the hold-out
    forecast's cost must not include those seconds (a margin far beyond any machine's speed)."""
    import automl
    import automl.training.forecast as fc

    real = fc.forecast_window

    def slow_backtests(f: Any, cand: Any, w: Any) -> Any:
        if w.origin != f.cutoff:  # a backtest window, not the hold-out
            time.sleep(1.0)
        return real(f, cand, w)

    monkeypatch.setattr(fc, "forecast_window", slow_backtests)
    m = automl.AutoML(
        time_column="date", series_columns=["item"], horizon=7, time_budget=600, max_trials=1,
        candidates=["lightgbm"],
    ).fit(daily(8, 1000), "sales")  # fmt: skip
    entry = m.model_.meta.kept[m.model_.meta.default_candidate]
    assert entry.predict_ms_per_1000_rows
    forecast_seconds = entry.predict_ms_per_1000_rows * 8 * 7 / 1e6
    assert forecast_seconds < 1.0


def test_building_the_rows_stops_at_the_fits_end() -> None:
    """Building the rows checks the fit's end between series: past it, a BudgetError in words
    (the fit would otherwise run on, over its budget, to fail later)."""

    import pytest

    from automl.errors import BudgetError

    sd, layout = layout_of(daily(3, 400))
    with pytest.raises(BudgetError, match="had done 0 of the 3 series"):
        training_rows(sd, layout, deadline=time.monotonic() - 1)
    X, *_ = training_rows(sd, layout, deadline=time.monotonic() + 600)
    assert len(X)


def test_kept_lightgbm_does_more_rounds_on_more_rows() -> None:
    """A kept LightGBM learning from more rows than its trial does more boosting rounds (the
    square root of the rows ratio, at most 4 times): at the search's rounds, more rows gave
    nothing (1,000 daily series: 0.5554 at 480,000 rows, 0.5567 at every row; 0.5444 at twice
    the rounds). The time it is given buys rows and rounds together."""
    from automl.progress import TrialRecord
    from automl.training.forecast import fit_cost, kept_params, rows_within

    def trial(family: str) -> TrialRecord:
        return TrialRecord(
            id=2, candidate=family, params={"learning_rate": 0.1}, score=0.7, fit_seconds=3.0,
            status="ok", source="default", iterations=56, rows=40_000,
        )  # fmt: skip

    lgb = trial("lightgbm")
    assert kept_params(lgb, 40_000)["n_estimators"] == 56
    assert kept_params(lgb, 160_000)["n_estimators"] == 112
    assert kept_params(lgb, 10_000_000)["n_estimators"] == 224  # at most 4 times
    assert kept_params(trial("xgboost"), 160_000)["n_estimators"] == 56  # (measured on LightGBM)
    # a search on every row (160,000 of them) leaves the rounds be
    assert kept_params(lgb, 160_000, searched=160_000)["n_estimators"] == 56
    # a fold of its trial less the 50 rounds past its best, 4 times the rows, twice the rounds
    assert abs(fit_cost(lgb, 3, 160_000) - 56 / 106 * 4**0.7 * 2) < 1e-9
    rows = rows_within(lgb, 3, 1_000_000, 25.0, 5)
    assert 40_000 < rows < 1_000_000 and 5 * fit_cost(lgb, 3, rows) <= 25.0 + 1e-6
