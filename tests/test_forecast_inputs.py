"""A forecast's other inputs and awkward histories: holidays by country and region, missing
target periods (skip, zero, interpolate), and short series (the model or a naive fallback,
stated per series)."""

from __future__ import annotations

import json
from pathlib import Path

import holidays as calendar
import numpy as np
import pandas as pd
import pytest

import automl
from automl.covariates import check_holidays, holiday_features
from automl.errors import DataError, ParameterError
from automl.timeseries import Clock, to_series

FIT = dict(max_trials=3, time_budget=600)


# ------------------------------------------------------------------------------ holidays
def test_holiday_codes_are_checked_and_wrong_ones_say_where_to_look() -> None:
    assert check_holidays("US") == ("US", None)
    assert check_holidays("us:ca") == ("US", "CA")
    assert check_holidays(None) is None and check_holidays("none") is None
    with pytest.raises(ParameterError, match=r"'XX' is not a country code.*'automl holidays'"):
        check_holidays("XX")
    regions = r"'ZZ' is not a region of US.*CA, CO.*automl holidays US"
    with pytest.raises(ParameterError, match=regions):
        check_holidays("US:ZZ")
    with pytest.raises(ParameterError, match=r"must be a country code"):
        check_holidays(3)
    # a long code is cut, not echoed whole; a region without a country says so
    with pytest.raises(ParameterError) as e:
        check_holidays("A" * 5000 + ":" + "B" * 5000)
    assert len(str(e.value)) < 400
    with pytest.raises(ParameterError, match=r"^The holidays need a country code"):
        check_holidays(":CA")


def test_holiday_features_by_day_and_by_period() -> None:
    daily = Clock("fixed", 86_400, "2024-01-01T00:00:00")
    names = {k: k for k in ("holiday", "holiday_next", "holiday_last", "holidays_in_period")}
    july = daily.index(pd.Series(pd.to_datetime(["2024-07-01", "2024-07-04"])))
    f = holiday_features({"country": "US", "region": None}, daily, july, names)
    assert f["holiday"].tolist() == [0.0, 1.0]
    assert f["holiday_next"].tolist() == [3.0, 0.0]
    assert f["holiday_last"].tolist() == [12.0, 0.0]  # Juneteenth, 19 June
    monthly = Clock("months", 1, "2024-01-01T00:00:00")
    f = holiday_features({"country": "US", "region": None}, monthly, np.arange(12), names)
    assert f["holidays_in_period"].tolist() == [2, 1, 0, 0, 1, 1, 1, 0, 1, 1, 2, 1]
    ends = Clock("months", 1, "2024-01-01T00:00:00", "end")  # month-end dates: the same months
    f2 = holiday_features({"country": "US", "region": None}, ends, np.arange(12), names)
    assert f2["holidays_in_period"].tolist() == f["holidays_in_period"].tolist()


def holiday_sales() -> pd.DataFrame:
    """Three years of two stores' daily sales that drop to 40% on US public holidays."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2021-07-01", "2024-06-27", freq="D")
    off = calendar.country_holidays("US", years=range(2021, 2025))
    is_holiday = np.asarray([d.date() in off for d in days])
    parts = []
    for store, level in (("A", 100.0), ("B", 70.0)):
        y = level + 10 * np.sin(2 * np.pi * np.arange(len(days)) / 7) + rng.normal(0, 3, len(days))
        y = np.where(is_holiday, 0.4 * y, y)
        parts.append(pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "store": store, "sales": y}))
    return pd.concat(parts, ignore_index=True)


def test_holidays_are_stored_and_move_the_forecast_of_a_future_holiday(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kw = dict(task="timeseries", time_column="day", series_columns=["store"], horizon=14, **FIT)
    m = automl.AutoML(**kw, holidays="US").fit(holiday_sales(), "sales").model_
    assert m.timeseries.layout["holidays"] == {"country": "US", "region": None}
    fc = m.forecast()  # 28 June to 11 July 2024: the 4th of July is ahead
    a = fc[fc["store"] == "A"].set_index(fc[fc["store"] == "A"]["day"].astype(str))["prediction"]
    assert a["2024-07-04"] < 0.7 * a.drop("2024-07-04").mean()
    path = m.save(tmp_path / "m")
    from automl.cli import main

    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert "holidays: US" in capsys.readouterr().out


def test_the_cli_refuses_an_unknown_holiday_code_and_lists_the_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.cli import main

    data = tmp_path / "s.csv"
    holiday_sales().head(400).to_csv(data, index=False)
    code = main(
        ["train", str(data), "--target", "sales", "--time-column", "day", "--series", "store"]
        + ["--holidays", "US:XX", "--max-trials", "2", "--out", str(tmp_path / "m"), "--quiet"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "'XX' is not a region of US" in err and "automl holidays US" in err
    assert not (tmp_path / "m").exists()
    assert main(["holidays"]) == 0
    assert "US  United States" in capsys.readouterr().out
    assert main(["holidays", "US"]) == 0
    assert "  CA" in capsys.readouterr().out


# ------------------------------------------------------------------------------ missing periods
def closed_on_sundays(days: int = 210) -> pd.DataFrame:
    """A shop that sells nothing on Sundays, whose Sunday rows were never recorded, and one
    empty value."""
    rng = np.random.default_rng(2)
    when = pd.date_range("2024-01-01", periods=days, freq="D")
    y = 80 + 15 * (when.day_of_week == 5) + rng.normal(0, 2, days)
    df = pd.DataFrame({"day": when.strftime("%Y-%m-%d"), "sales": y})
    df.loc[10, "sales"] = np.nan
    return df[when.day_of_week != 6].reset_index(drop=True)


def test_missing_periods_are_skipped_taken_as_zero_or_interpolated() -> None:
    df = closed_on_sundays(21)
    skip = to_series(df, "sales", "day", [])
    zero = to_series(df, "sales", "day", [], fill="zero")
    line = to_series(df, "sales", "day", [], fill="interpolate")
    gaps = np.isnan(skip.values[0])
    assert gaps.sum() == 3  # the two Sundays inside the span, and the empty value
    assert (zero.values[0][gaps] == 0).all() and not np.isnan(zero.values[0]).any()
    v = line.values[0]
    assert np.isclose(v[10], (v[9] + v[11]) / 2) and not np.isnan(v).any()
    assert any("taken as 0 (fill: zero)" in n for n in zero.notes)
    with pytest.raises(ParameterError, match=r"'fill' parameter .* skip, zero, interpolate"):
        automl.AutoML(task="timeseries", time_column="day", fill="blank", **FIT).fit(df, "sales")


def test_a_time_far_from_the_others_is_refused_before_the_grid_is_made() -> None:
    """One hourly row 150 years after the others: every series is laid on a grid of the
    periods it spans (1.3 million hours here, 38 rows), which grew with the span, not the rows;
    it is refused in words naming the times."""
    when = pd.date_range("2024-01-01", periods=37, freq="h")
    df = pd.DataFrame({"t": when.astype(str), "y": np.arange(37.0)})
    df = pd.concat([df, pd.DataFrame({"t": ["2174-01-01 00:00:00"], "y": [1.0]})])
    with pytest.raises(DataError, match=r"span 1,31\d,\d\d\d hours but hold only 38 rows.*2174"):
        automl.AutoML(task="timeseries", time_column="t", horizon=2, **FIT).fit(df, "y")


def test_sales_not_recorded_as_zero_teach_the_model_the_closed_days() -> None:
    kw = dict(task="timeseries", time_column="day", horizon=14, **FIT)
    zero = automl.AutoML(**kw, fill="zero").fit(closed_on_sundays(), "sales").model_
    skip = automl.AutoML(**kw).fit(closed_on_sundays(), "sales").model_
    assert zero.timeseries.layout["fill"] == "zero" and skip.timeseries.layout["fill"] == "skip"

    def sundays(m: automl.Model) -> float:
        fc = m.forecast()
        return float(fc.loc[pd.to_datetime(fc["day"]).dt.day_of_week == 6, "prediction"].mean())

    assert sundays(zero) < 20 < 60 < sundays(skip)


# ------------------------------------------------------------------------------ short series
def with_short_series() -> pd.DataFrame:
    """Two long daily series, one of 10 days (under two weeks) and one of 2 days."""
    rng = np.random.default_rng(3)
    when = pd.date_range("2024-01-01", periods=120, freq="D")
    parts = []
    shapes = (("A", 100.0, 120), ("B", 60.0, 120), ("C", 80.0, 10), ("D", 30.0, 2))
    for store, level, days in shapes:
        w = when[-days:]
        y = level + 8 * np.sin(2 * np.pi * np.arange(days) / 7) + rng.normal(0, 2, days)
        parts.append(pd.DataFrame({"day": w.strftime("%Y-%m-%d"), "store": store, "sales": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def short_model() -> automl.Model:
    kw = dict(task="timeseries", time_column="day", series_columns=["store"], horizon=7, **FIT)
    return automl.AutoML(**kw).fit(with_short_series(), "sales").model_


def test_short_series_are_forecast_and_say_how(
    short_model: automl.Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ts = short_model.timeseries
    methods = dict(zip(ts.series.keys, ts.series.methods, strict=True))
    assert (methods["C"], methods["D"]) == ("short", "naive")
    # the long ones: the model, a statistical method or a blend, chosen on the backtests
    assert methods["A"] not in ("short", "naive") and methods["B"] not in ("short", "naive")
    fc = short_model.forecast()
    assert fc.groupby("store").size().to_dict() == {"A": 7, "B": 7, "C": 7, "D": 7}
    last_d = with_short_series().query("store == 'D'")["sales"].iloc[-1]
    assert np.allclose(fc.loc[fc["store"] == "D", "prediction"], last_d)  # its last value
    c = fc.loc[fc["store"] == "C", "prediction"]
    assert 60 < c.mean() < 100  # the model, near the short series' own level
    said = "1 series forecast by the model, from a short history"
    assert any(said in w for w in short_model.warnings)
    path = short_model.save(tmp_path / "m")
    from automl.cli import main

    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "its last value repeated (too little history for the model): D" in out
    from automl.reports import performance_report

    rep = performance_report(short_model, bootstrap=10)
    sec = next(s for s in rep.sections if s.title == "How each series is forecast")
    assert sec.data["methods"] == methods


def test_a_schema_4_forecast_model_reads_as_skip_no_columns_and_every_series_by_the_model(
    short_model: automl.Model, tmp_path: Path
) -> None:
    path = short_model.save(tmp_path / "m")
    meta_file = path / "easel_model.json"
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    ts = data["timeseries"]
    for key in ("future_columns", "past_columns", "kinds", "past_lag", "holidays", "fill"):
        del ts["layout"][key]
    del ts["series"]["methods"], ts["series"]["covariate_tails"]
    data["schema_version"] = 5  # before future values (and after the Dask worker column)
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    old = automl.load(path)
    assert old.timeseries.series.methods == ["model"] * 4 and old.future_columns == []
    assert old.timeseries.layout["fill"] == "skip" and old.timeseries.layout["holidays"] is None
    assert len(old.forecast()) == 28


@pytest.mark.parametrize(
    "damage",
    [
        lambda ts: ts["layout"].update(fill="sometimes"),
        lambda ts: ts["layout"].update(future_columns=["nowhere"]),
        lambda ts: ts["layout"].update(holidays="US"),
        lambda ts: ts["series"].update(methods=["model"]),
        lambda ts: ts["series"].update(covariate_tails={"x": [[1.0]]}),
    ],
)
def test_damaged_forecast_inputs_in_the_model_file_are_refused(
    short_model: automl.Model, tmp_path: Path, damage: object
) -> None:
    from automl.errors import ArtifactError

    path = short_model.save(tmp_path / "m")
    meta_file = path / "easel_model.json"
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    damage(data["timeseries"])  # type: ignore[operator]
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ArtifactError, match="damaged.*Retrain the model"):
        automl.load(path)


def test_too_short_a_history_asks_for_history_not_a_shorter_horizon() -> None:
    """3 days with a horizon of 1 said "Choose a shorter horizon (at most 1)": 1 is already
    the shortest. Where a shorter horizon helps, the message still offers it."""

    def days(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"day": pd.date_range("2024-01-01", periods=n, freq="D"), "sales": np.arange(n) % 7}
        )

    with pytest.raises(DataError) as e:
        automl.AutoML(time_column="day", horizon=1, max_trials=1).fit(days(3), "sales")
    text = str(e.value)
    assert "Add history" in text and "shorter horizon" not in text
    with pytest.raises(DataError) as e:
        automl.AutoML(time_column="day", horizon=10, max_trials=1).fit(days(20), "sales")
    assert "shorter horizon (at most 6 days)" in str(e.value)


def test_a_forecasts_own_features_are_not_said_to_be_the_users_choice() -> None:
    """Every feature of a forecast (day of week, lags, holidays, the series' ID) said "chosen
    by the user" in the model's columns and `automl info`: only the user's own choices do."""
    n = 120
    df = pd.DataFrame(
        {
            "day": list(pd.date_range("2024-01-01", periods=n)) * 2,
            "store": ["a"] * n + ["b"] * n,
            "region": ["x"] * n + ["y"] * n,
            "sales": np.arange(2 * n) % 7,
        }
    )
    model = automl.AutoML(
        time_column="day", series_columns=["store"], horizon=7, max_trials=1,
        column_types={"region": "categorical"},
    ).fit(df, "sales").model_  # fmt: skip
    reasons = {c.name: c.reason for c in model.meta.columns}
    assert reasons["region"] == "chosen by the user"
    assert reasons["store"] == "identifies a series"
    assert reasons["day of week"] == "made by Easel from the dates and the history"
    assert [n for n, r in reasons.items() if r == "chosen by the user"] == ["region"]
