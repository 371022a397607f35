"""Forecast output columns, quantiles, weighted quantile loss and backtests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl.errors import DataError, ParameterError
from automl.timeseries import (
    check_quantiles,
    parse_quantiles,
    quantile_name,
    weighted_quantile_loss,
)
from automl.training.forecast import window_rows


def trend_and_season(months: int = 72, seed: int = 0) -> pd.DataFrame:
    """Two monthly series trained together: passengers with a strong trend that grows its
    seasonal swing, and a temperature-like series of the same season around a fixed level."""
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    when = pd.date_range("1949-01-01", periods=months, freq="MS").strftime("%Y-%m-%d")
    season = np.sin(2 * np.pi * (t % 12 - 3) / 12)
    air = (110 + 2.6 * t) * (1 + 0.18 * season + 0.02 * rng.normal(size=months))
    temp = 12 + 9 * season + rng.normal(0, 1.2, months)
    return pd.concat(
        [
            pd.DataFrame({"month": when, "series": "passengers", "value": air}),
            pd.DataFrame({"month": when, "series": "temperature", "value": temp}),
        ],
        ignore_index=True,
    )


KW = dict(task="timeseries", time_column="month", horizon=6, time_budget=600, max_trials=3)


@pytest.fixture(scope="module")
def pair() -> automl.Model:
    return automl.AutoML(**KW, series_columns=["series"]).fit(trend_and_season(), "value").model_


# ------------------------------------------------------------------------------ the two bugs
def test_a_series_column_named_series_survives_the_cli_forecast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.cli import main

    data = tmp_path / "pair.csv"
    trend_and_season().to_csv(data, index=False)
    code = main(
        ["train", str(data), "--target", "value", "--time-column", "month", "--series"]
        + ["series", "--horizon", "6", "--max-trials", "2", "--time-budget", "600"]
        + ["--out", str(tmp_path / "m"), "--quiet", "--no-reports"]
    )
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "fc.csv"
    assert main(["forecast", str(tmp_path / "m"), "--out", str(out)]) == 0
    got = pd.read_csv(out)
    assert list(got.columns) == ["series", "month", "step", "prediction", "p10", "p50", "p90"]
    assert got.groupby("series").size().to_dict() == {"passengers": 6, "temperature": 6}
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m")]) == 0
    info = capsys.readouterr().out
    assert "quantiles: p10, p50, p90" in info
    assert "backtests (3 windows of 6 months)" in info
    assert "passengers" in info and "wql" in info


def test_id_columns_named_like_the_added_columns_keep_their_names() -> None:
    df = trend_and_season().rename(columns={"series": "step"})
    m = automl.AutoML(**KW, series_columns=["step"], quantiles=[0.05, 0.975]).fit(df, "value")
    fc = m.model_.forecast()
    # the data's columns keep their names; every added column gets the same suffix
    assert list(fc.columns) == ["step", "month", "step_2", "prediction_2", "p5_2", "p97.5_2"]
    assert set(fc["step"]) == {"passengers", "temperature"}


def test_the_range_contains_the_forecast_and_fits_each_series_size(pair: automl.Model) -> None:
    fc = pair.forecast()
    assert (fc["p10"] <= fc["prediction"]).all() and (fc["prediction"] <= fc["p90"]).all()
    width = (fc["p90"] - fc["p10"]).groupby(fc["series"]).mean()
    # the temperature swings by 9 around its level: its range is not the passengers' (hundreds)
    assert width["temperature"] < 8 < width["passengers"]


# ------------------------------------------------------------------------------ quantiles
def test_quantile_names_and_checks() -> None:
    assert [quantile_name(q) for q in (0.1, 0.5, 0.9, 0.05, 0.975)] == [
        "p10",
        "p50",
        "p90",
        "p5",
        "p97.5",
    ]
    assert check_quantiles(None) == [0.1, 0.5, 0.9]
    assert check_quantiles([0.9, 0.1]) == [0.1, 0.9]
    assert parse_quantiles(" 0.25, 0.75") == [0.25, 0.75]
    for bad in ([0.0, 0.5], [0.5, 1.0], [1.5], [-0.1], ["a"], [float("nan")], [True], [], 0.5):
        with pytest.raises(ParameterError, match="between 0 and 1"):
            check_quantiles(bad)
    with pytest.raises(ParameterError, match="10% is asked for more than once"):
        check_quantiles([0.1, 0.5, 0.1])
    with pytest.raises(ParameterError, match="'abc' is not a number"):
        parse_quantiles("0.1,abc")
    with pytest.raises(ParameterError, match="An empty item is not a number"):
        parse_quantiles("0.1,,0.9")


def test_weighted_quantile_loss_by_hand() -> None:
    actual = np.array([10.0, 20.0])
    q10 = np.array([8.0, 25.0])  # errors +2 (under) and -5 (over)
    q90 = np.array([12.0, 18.0])  # errors -2 (over) and +2 (under)
    # pinball at 0.1: 0.1*2 + 0.9*5 = 4.7; at 0.9: 0.1*2 + 0.9*2 = 2.0; sum |actual| = 30
    want = np.mean([2 * 4.7 / 30, 2 * 2.0 / 30])
    got = weighted_quantile_loss(actual, {0.1: q10, 0.9: q90})
    assert got == pytest.approx(want)
    # at the level 0.5 alone it is the WAPE
    p50 = np.array([12.0, 15.0])
    assert weighted_quantile_loss(actual, {0.5: p50}) == pytest.approx(7 / 30)


def test_holdout_and_backtests_report_quantile_loss(pair: automl.Model) -> None:
    assert {"mase", "wape", "rmse", "wql"} <= set(pair.metrics)
    for b in pair.timeseries.backtests:
        assert {"mase", "wape", "rmse", "wql"} <= set(b.metrics)
        assert set(b.series_metrics) == {"passengers", "temperature"}
        for m in b.series_metrics.values():
            assert {"mase", "wape", "rmse", "wql"} <= set(m)


def test_cli_refuses_bad_quantiles_and_backtests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.cli import main

    data = tmp_path / "pair.csv"
    trend_and_season().to_csv(data, index=False)
    base = ["train", str(data), "--target", "value"]
    base += ["--time-column", "month", "--series", "series", "--max-trials", "2", "--quiet"]
    base += ["--time-budget", "600", "--no-reports", "--out", str(tmp_path / "m")]
    for extra, words in (
        (["--quantiles", "0,0.5"], "between 0 and 1"),
        (["--quantiles", "0.1,x"], "'x' is not a number"),
        (["--quantiles", "0.5,0.5"], "more than once"),
        (["--backtests", "0"], "positive whole number"),
        (["--horizon", "0"], "positive whole number"),  # (0 used to build the default)
        (["--horizon", "6", "--backtests", "9"], "allows at most"),
    ):
        code = main(base + extra)
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert words in " ".join(err.split()) and "Traceback" not in err
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------ backtests
def test_backtest_windows_follow_each_other_and_never_see_their_future(
    pair: automl.Model,
) -> None:
    ts = pair.timeseries
    assert len(ts.backtests) == 3
    months = pd.date_range("1949-01-01", periods=72, freq="MS").strftime("%Y-%m-%d").tolist()
    hold_start = months.index(ts.holdout_periods[0])
    for k, b in enumerate(ts.backtests):
        first = hold_start - (3 - k) * 6
        assert b.periods == months[first : first + 6]
        assert b.trained_through == months[first - 1]  # learned up to the month before
        assert len(b.actual) == len(b.forecast) == 2 and len(b.forecast[0]) == 6
        # the stored actual values are the data's
        df = trend_and_season()
        want = df[(df["series"] == "temperature") & df["month"].isin(b.periods)]["value"]
        assert np.allclose(b.actual[1], want.to_numpy(), atol=1e-5)


def test_window_rows_learn_only_from_periods_before_the_window() -> None:
    per = np.repeat(np.arange(40), 2)  # two series, periods 0 ... 39
    for origin in (9, 21, 33):
        train, forecast = window_rows(per, origin, 6)
        assert per[train].max() == origin < per[forecast].min()
        assert set(per[forecast]) == set(range(origin + 1, min(origin + 7, 40)))


def test_backtests_asked_for_are_checked() -> None:
    df = trend_and_season()
    with pytest.raises(ParameterError, match="positive whole number"):
        automl.AutoML(**KW, series_columns=["series"], backtests=0).fit(df, "value")
    with pytest.raises(ParameterError, match="'horizon'.*positive whole number.*Got 0 instead"):
        automl.AutoML(**{**KW, "horizon": 0}, series_columns=["series"]).fit(df, "value")
    with pytest.raises(DataError, match=r"9 backtests of 6 months.*at most \d"):
        automl.AutoML(**KW, series_columns=["series"], backtests=9).fit(df, "value")


def test_a_short_history_gets_fewer_backtests_and_says_so() -> None:
    df = trend_and_season(months=40)
    m = automl.AutoML(**KW, series_columns=["series"]).fit(df, "value").model_
    assert 1 <= len(m.timeseries.backtests) < 3
    assert any("backtest window" in w for w in m.warnings)


def test_a_schema_3_forecast_model_is_upgraded_and_forecasts_its_range(
    pair: automl.Model, tmp_path: Path
) -> None:
    import json

    path = pair.save(tmp_path / "m")
    meta_file = path / "easel_model.json"
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    ts = data["timeseries"]
    for key in ("quantiles", "quantile_offsets", "backtests"):
        del ts[key]
    del ts["layout"]["scaled"]
    ts["interval"] = [[1.0, 3.0]] * 6  # a range above the forecast, as the old bug gave
    data["schema_version"] = 3
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    old = automl.load(path)
    assert old.timeseries.quantiles == [0.1, 0.5, 0.9] and old.timeseries.backtests == []
    fc = old.forecast()
    assert list(fc.columns) == ["series", "month", "step", "prediction", "p10", "p50", "p90"]
    assert (fc["p10"] == fc["prediction"]).all()  # the range's end below was above it
    assert np.allclose(fc["p90"] - fc["prediction"], 3.0)


def test_the_performance_report_shows_the_backtests(pair: automl.Model) -> None:
    from automl.reports import performance_report

    rep = performance_report(pair, bootstrap=20)
    sec = next(s for s in rep.sections if s.title == "Backtests")
    assert len(sec.data["windows"]) == 3 and len(sec.data["series"]) == 6
    assert {"mase", "wape", "rmse", "wql"} <= set(sec.data["windows"][0])
    assert [t for t, _ in sec.figures] == ["Backtests of passengers", "Backtests of temperature"]
    assert "<html" in rep.to_html().lower()
