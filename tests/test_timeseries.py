"""Time series forecasting: clock, grid, honest hold-out, forecasts, artifact, CLI, report."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import automl
from automl.errors import DataError, ParameterError, TargetError
from automl.reports import performance_report, save_model
from automl.reports.performance import headline, holdout_predictions
from automl.timeseries import infer_clock, suggest, to_series


def daily_sales(days: int = 400, stores: int = 3, seed: int = 0) -> pd.DataFrame:
    """Stores with their own level and trend, a weekly pattern and noise."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=days, freq="D")
    t = np.arange(days)
    week = np.array([0.0, -8, -6, -2, 5, 15, 9])[dates.day_of_week]
    rows = []
    for s in range(stores):
        y = 100 + 40 * s + (0.05 + 0.1 * s) * t + week * (1 + 0.5 * s) + rng.normal(0, 2, days)
        rows.append(
            pd.DataFrame(
                {
                    "date": dates.strftime("%Y-%m-%d"),
                    "store": f"store {s}",
                    "region": "north" if s % 2 else "south",
                    "price": rng.uniform(1, 2, days),
                    "sales": y,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def fitted() -> automl.AutoML:
    return automl.AutoML(
        task="timeseries",
        time_column="date",
        series_columns=["store"],
        horizon=14,
        time_budget=600,
        max_trials=6,
        future_columns=[],  # its price is noise, not a plan: past values only
    ).fit(daily_sales(), "sales")


# ------------------------------------------------------------------------------ clock and grid
@pytest.mark.parametrize(
    ("times", "words"),
    [
        (pd.date_range("2024-01-01", periods=30, freq="D"), "day"),
        (pd.date_range("2024-01-01", periods=30, freq="W-MON"), "week"),
        (pd.date_range("2024-01-01", periods=30, freq="MS"), "month"),
        (pd.date_range("2024-01-31", periods=30, freq="ME"), "month"),
        (pd.date_range("2024-01-01", periods=30, freq="QS"), "quarter"),
        (pd.date_range("2000-01-01", periods=30, freq="YS"), "year"),
        (pd.date_range("2024-01-01", periods=60, freq="h"), "hour"),
        (pd.date_range("2024-01-01", periods=60, freq="15min"), "15 minutes"),
        (pd.bdate_range("2024-01-01", periods=60), "business day"),
    ],
)
def test_clock_finds_the_period_and_maps_back(times: pd.DatetimeIndex, words: str) -> None:
    s = pd.Series(times)
    clock = infer_clock(s, pd.Series(["a"] * len(s)))
    assert clock.words == words
    idx = clock.index(s)
    assert np.array_equal(idx, np.arange(len(s)))  # consecutive periods, no gaps
    assert list(clock.times(idx)) == list(times)


def test_grid_counts_gaps_and_refuses_duplicates_unless_told() -> None:
    df = pd.DataFrame(
        {
            "day": ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-05"],
            "y": [1.0, 2.0, 3.0, 4.0],
        }
    )
    with pytest.raises(DataError, match=r"2 rows share a day.*add them up or average") as e:
        to_series(df, "y", "day", [])
    assert "e.g. 2024-01-02." in str(e.value)  # the day as a date (it showed 00:00:00 too)
    sd = to_series(df, "y", "day", [], aggregate="sum")
    assert np.allclose(sd.values[0], [1.0, 5.0, np.nan, np.nan, 4.0], equal_nan=True)
    assert any("2 period(s) (days) have no value" in n for n in sd.notes)
    assert any("combined (added up)" in n for n in sd.notes)


def test_dates_written_in_several_ways_are_named_rather_than_called_duplicates() -> None:
    """02/01/2024 (day first) is read as 1 February and meets the real 1 February: the
    message says the column mixes ways of writing dates, not that rows repeat a day."""
    written = list(pd.date_range("2024-01-01", periods=60, freq="D").strftime("%Y-%m-%d"))
    written[1] = "02/01/2024"
    df = pd.DataFrame({"day": written, "y": np.arange(60.0)})
    with pytest.raises(
        DataError,
        match=r"writes its dates in several ways \(e.g. 2024-01-01, 02/01/2024\).*Write every",
    ):
        to_series(df, "y", "day", [])
    with pytest.raises(DataError, match="several ways"):  # averaging would mix up days
        to_series(df, "y", "day", [], aggregate="mean")
    # a time of day after some dates is no other way: those rows are added up as asked
    df["day"] = [written[0], "2024-01-02", *written[2:-1], "2024-02-28 10:30"]  # 28th twice
    sd = to_series(df, "y", "day", [], aggregate="sum")
    assert sd.values[0][-1] == 58.0 + 59.0


def test_bad_times_and_targets_are_named() -> None:
    df = pd.DataFrame({"day": ["2024-01-01", "soon", "2024-01-03"], "y": [1, 2, 3]})
    with pytest.raises(DataError, match=r"'soon' in row 2"):
        to_series(df, "y", "day", [])
    df = pd.DataFrame({"day": ["2024-01-01", "2024-01-02"], "y": ["a", "b"]})
    with pytest.raises(TargetError, match="predicts numbers"):
        to_series(df, "y", "day", [])


def test_columns_constant_within_a_series_describe_it_others_change_over_time() -> None:
    sd = to_series(daily_sales(40), "sales", "date", ["store"])
    assert list(sd.static.columns) == ["region"]
    # a column that changes over time is a candidate for future values (tests/test_forecast_future)
    assert sd.kinds == {"price": "numeric"} and not sd.ignored


def test_suggest_recognises_series_and_ignores_plain_tables() -> None:
    hint = suggest(daily_sales(60), "sales")
    assert hint is not None and hint.time_column == "date" and hint.id_columns == ["store"]
    rng = np.random.default_rng(0)
    plain = pd.DataFrame({"when": ["2024-01-01"] * 50 + ["2024-01-02"] * 50, "y": rng.random(100)})
    assert suggest(plain, "y") is None


# ------------------------------------------------------------------------------ fit and forecast
def test_forecast_beats_the_naive_forecasts_on_the_held_out_periods(fitted: automl.AutoML) -> None:
    m = fitted.model_
    assert m.is_forecast and m.problem_type == "timeseries"
    base = m.timeseries.baselines
    assert m.metrics["mae"] < base["naive"].holdout_metrics["mae"]
    assert m.metrics["mae"] < base["seasonal_naive"].holdout_metrics["mae"]
    # the noise has sd 2: a good forecast is close to that
    assert m.metrics["rmse"] < 6
    # the hold-out is the last 14 days of every series
    assert m.timeseries.holdout_periods[-1].startswith("2024-02-04")
    assert len(m.timeseries.holdout_periods) == 14
    assert m.rows.holdout == 3 * 14


def test_reported_metrics_are_the_stored_forecasts_errors(fitted: automl.AutoML) -> None:
    m = fitted.model_
    pred = holdout_predictions(m)
    assert len(pred) == 42 and set(pred["step"]) == set(range(1, 15))
    mae = float(np.mean(np.abs(pred["actual"] - pred["forecast"])))
    assert mae == pytest.approx(m.metrics["mae"], rel=1e-5)
    naive_mae = float(np.mean(np.abs(pred["actual"] - pred["naive forecast"])))
    base = m.timeseries.baselines["naive"].holdout_metrics["mae"]
    assert naive_mae == pytest.approx(base, rel=1e-5)


def test_held_out_values_never_reach_the_checked_forecast() -> None:
    df = daily_sales(200, stores=2)
    late = pd.to_datetime(df["date"]) > pd.Timestamp("2023-07-05")  # the last 14 days
    changed = df.copy()
    changed.loc[late, "sales"] = changed.loc[late, "sales"] * 10
    kw = dict(task="timeseries", time_column="date", series_columns=["store"], horizon=14)
    a = automl.AutoML(**kw, time_budget=600, max_trials=3).fit(df, "sales").model_
    b = automl.AutoML(**kw, time_budget=600, max_trials=3).fit(changed, "sales").model_
    fa = a.holdout[f"__score_{a.default_id}"].to_numpy()
    fb = b.holdout[f"__score_{b.default_id}"].to_numpy()
    assert np.allclose(fa, fb)  # same forecasts: they only saw the periods before
    assert b.metrics["mae"] > 5 * a.metrics["mae"]  # but they are scored on the changed actuals


def test_forecast_continues_each_series_and_survives_save_and_load(
    fitted: automl.AutoML, tmp_path
) -> None:
    m = fitted.model_
    fc = m.forecast()
    assert len(fc) == 3 * 14
    assert list(fc.columns) == ["store", "date", "step", "prediction", "p10", "p50", "p90"]
    first = fc.groupby("store")["date"].min().astype(str)
    assert (first == "2024-02-05").all()  # the day after the data ends
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()
    assert (fc["prediction"] == fc["p50"]).all()  # the prediction is the P50
    # store 2 sells most, store 0 least
    means = fc.groupby("store")["prediction"].mean()
    assert means["store 0"] < means["store 1"] < means["store 2"]
    save_model(m, tmp_path / "m", reports=True)
    loaded = automl.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.forecast(), fc)
    assert (tmp_path / "m" / "reports" / "performance.html").exists()
    assert len(loaded.forecast(horizon=3, series=["store 1"])) == 3


def test_forecast_from_newer_history(fitted: automl.AutoML) -> None:
    m = fitted.model_
    hist = daily_sales(300)  # ends 2023-10-27
    fc = m.forecast(hist, horizon=7)
    assert len(fc) == 21
    assert (fc.groupby("store")["date"].min().astype(str) == "2023-10-28").all()
    with pytest.raises(DataError, match="missing 1 column"):
        m.forecast(hist.drop(columns=["region"]))


def test_forecast_misuse_gets_clear_errors(fitted: automl.AutoML) -> None:
    m = fitted.model_
    with pytest.raises(ParameterError, match="at most 70 ahead"):
        m.forecast(horizon=100)
    with pytest.raises(ParameterError, match="Unknown series: store 9"):
        m.forecast(series=["store 9"])
    with pytest.raises(ParameterError, match="use forecast"):
        m.predict(daily_sales(20))


def test_too_short_series_say_how_short() -> None:
    df = daily_sales(25, stores=1)
    with pytest.raises(DataError, match=r"longest has 25 days, at least 36.*at most 8"):
        automl.AutoML(task="timeseries", time_column="date", horizon=14, time_budget=5).fit(
            df, "sales"
        )


def test_performance_report_of_a_forecast(fitted: automl.AutoML) -> None:
    rep = performance_report(fitted.model_, bootstrap=20)
    titles = [s.title for s in rep.sections]
    assert "Forecast against actual" in titles and "Error by forecast step" in titles
    assert "time series forecast" in rep.title
    by_step = next(s for s in rep.sections if s.title == "Error by forecast step").data["by_step"]
    assert len(by_step) == 14
    # the headline compares with the simple forecast to beat, as the Analyze page shows it
    main = fitted.model_.timeseries.baseline
    assert f"when forecasting simply by {main.description}" in rep.summary[0]
    assert rep.summary[0] == headline(fitted.model_)[0]


def test_cli_trains_and_forecasts(tmp_path) -> None:
    data = tmp_path / "sales.csv"
    daily_sales(200, stores=2).to_csv(data, index=False)
    run = [sys.executable, "-m", "automl"]
    train = subprocess.run(
        run
        + ["train", str(data), "--target", "sales", "--task", "timeseries", "--time-column"]
        + ["date", "--series", "store", "--horizon", "7", "--max-trials", "3"]
        + ["--time-budget", "600", "--future-columns", "none", "--out"]
        + [str(tmp_path / "m"), "--quiet", "--no-reports"],
        capture_output=True,
        text=True,
    )
    assert train.returncode == 0, train.stderr
    assert "task: timeseries" in train.stdout
    out = tmp_path / "fc.csv"
    fc = subprocess.run(
        run + ["forecast", str(tmp_path / "m"), "--out", str(out)], capture_output=True, text=True
    )
    assert fc.returncode == 0, fc.stderr
    assert len(pd.read_csv(out)) == 14
    pred = subprocess.run(
        run + ["predict", str(tmp_path / "m"), str(data), "--out", str(tmp_path / "p.csv")],
        capture_output=True,
        text=True,
    )
    assert pred.returncode == 2 and "automl forecast" in pred.stderr


def test_dates_written_in_several_ways_are_suggested_with_a_warning() -> None:
    """A date column whose ways of writing make rows collide (02/01/2023 read as 1 February
    beside a real 2023-02-01) was not suggested at all: the Build page then chose numbers,
    without a word. It is suggested, and the reason says what to fix."""
    from automl.timeseries import suggest

    days = pd.date_range("2023-01-01", periods=120)
    rows = [
        {
            "date": d.strftime("%d/%m/%Y") if i % 2 else d.strftime("%Y-%m-%d"),
            "store": store,
            "sales": float((i * 7) % 23 + 3 * (store == "b")),
        }
        for store in ("a", "b")
        for i, d in enumerate(days)
    ]
    hint = suggest(pd.DataFrame(rows), "sales")
    assert hint is not None and hint.time_column == "date" and hint.id_columns == ["store"]
    assert "written in several ways" in hint.reason and "2023-01-01" in hint.reason
