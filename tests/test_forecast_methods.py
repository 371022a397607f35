"""Statistical methods beside the global model: each series' method chosen on the backtests
(the model, exponential smoothing, Theta, ARIMA or a blend of two), stored as plain numbers,
reloaded, refused when damaged, and skipped (said so) for series too short for them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import automl
from automl.artifact import MAX_HORIZON_FACTOR
from automl.candidates._stats_ts import MIN_VALUES, forecast_one
from automl.errors import ArtifactError
from automl.training.forecast import Window
from automl.training.forecast_methods import choose_methods

H = 4


def damped_trend(n: int, phi: float = 0.9, step: float = 8.0) -> np.ndarray:
    out, level = [], 100.0
    for _ in range(n):
        step *= phi
        level += step
        out.append(level)
    return np.asarray(out)


def windows_of(series: list[np.ndarray], origins: list[int]) -> list[Window]:
    """Backtest windows of series that all start at period 0."""
    n = len(series)
    out = []
    for o in origins:
        actual = np.asarray([s[o + 1 : o + 1 + H] for s in series])
        scale = np.asarray([np.mean(np.abs(np.diff(s[: o + 1]))) for s in series])
        out.append(
            Window(
                o,
                np.zeros((n, 1)),
                np.full(n, o + 1),
                np.ones(n, bool),
                actual,
                np.ones(n),
                1.0,
                scale,
                np.arange(0),
            )  # fmt: skip
        )
    return out


def fit_of(
    series: list[np.ndarray],
    season: int = 1,
    future_columns: tuple[str, ...] = (),
    holidays: dict[str, str] | None = None,
) -> SimpleNamespace:
    """What choose_methods reads of the pipeline's SeriesFit."""
    sd = SimpleNamespace(
        keys=[f"s{j}" for j in range(len(series))], values=series, start=np.zeros(len(series))
    )
    layout = SimpleNamespace(
        plan=SimpleNamespace(season=season), future_columns=list(future_columns), holidays=holidays
    )
    return SimpleNamespace(sd=sd, horizon=H, layout=layout, methods=["model"] * len(series))


def test_a_damped_trend_chooses_exponential_smoothing_and_a_series_the_model_gets_right_keeps_it(
) -> None:  # fmt: skip
    rng = np.random.default_rng(0)
    trend = damped_trend(48)
    other = 50 + rng.normal(0, 5, 48)
    series = [trend, other]
    origins = [32, 36, 40]
    windows = windows_of(series, origins)
    # the model: last value repeated for the trend (wrong), the actual values for the other
    raw = [np.stack([np.full(H, trend[w.origin]), w.actual[1]]) for w in windows]
    hold_w = windows_of(series, [44 - 1])[0]
    hold_point = np.stack([np.full(H, trend[43]), hold_w.actual[1]])
    choice = choose_methods(fit_of(series), windows, raw, hold_w, hold_point, time.monotonic() + 60)  # type: ignore[arg-type]
    assert choice.methods == ["ets", "model"]
    assert choice.paths[1] is None and len(choice.paths[0] or []) == MAX_HORIZON_FACTOR * H
    # the trend's forecasts are exponential smoothing's: close to the truth everywhere
    assert np.max(np.abs(choice.hold[0] - hold_w.actual[0])) < 0.05
    assert np.max(np.abs(choice.windows[2][0] - windows[2].actual[0])) < 0.05
    assert np.array_equal(choice.hold[1], hold_point[1])  # the other series untouched
    assert any("1 series forecast by exponential smoothing: s0" in n for n in choice.notes)


@pytest.mark.parametrize(
    ("future", "holidays", "follows"),
    [(("promotion",), None, "promotion"), ((), {"country": "US"}, "the holidays")],
)
def test_a_model_that_follows_a_plan_forecasts_every_series_itself(
    future: tuple[str, ...], holidays: dict[str, str] | None, follows: str
) -> None:
    """With future-value columns or holidays, no series goes to a statistical method (which
    reads only the series' own values): a plan, and a what-if on it, must move every forecast."""
    trend = damped_trend(48)
    series = [trend, 50 + np.random.default_rng(0).normal(0, 5, 48)]
    windows = windows_of(series, [32, 36, 40])
    raw = [np.stack([np.full(H, trend[w.origin]), w.actual[1]]) for w in windows]
    hold_w = windows_of(series, [43])[0]
    hold_point = np.stack([np.full(H, trend[43]), hold_w.actual[1]])
    fit = fit_of(series, future_columns=future, holidays=holidays)
    choice = choose_methods(fit, windows, raw, hold_w, hold_point, time.monotonic() + 60)  # type: ignore[arg-type]
    assert choice.methods == ["model", "model"]  # (the damped trend alone would go to ets)
    assert any(f"follows the planned values of {follows}" in n for n in choice.notes)


def test_a_series_too_short_for_the_statistical_methods_keeps_the_model_and_says_so() -> None:
    long, short = damped_trend(48), damped_trend(48)
    short[: 33 - (MIN_VALUES - 1)] = np.nan  # 9 known values up to the first origin (32)
    series = [long, short]
    windows = windows_of(series, [32, 36, 40])
    raw = [np.stack([np.full(H, s[w.origin]) for s in series]) for w in windows]
    hold_w = windows_of(series, [43])[0]
    hold_point = np.stack([np.full(H, s[43]) for s in series])
    choice = choose_methods(fit_of(series), windows, raw, hold_w, hold_point, time.monotonic() + 60)  # type: ignore[arg-type]
    assert choice.methods == ["ets", "model"]
    assert any(
        "1 series too short for the statistical methods (fewer than 10 values before the first "
        "backtest window), forecast by the model: s1" in n
        for n in choice.notes
    )
    assert forecast_one("ets", short[:33], 1, H) is None  # and the method itself refuses it


def test_the_time_left_bounds_the_statistical_methods_and_the_notes_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    series = [damped_trend(48) for _ in range(3)]
    windows = windows_of(series, [32, 36, 40])
    raw = [np.stack([np.full(H, s[w.origin]) for s in series]) for w in windows]
    hold_w = windows_of(series, [43])[0]
    hold_point = np.stack([np.full(H, s[43]) for s in series])
    late = choose_methods(fit_of(series), windows, raw, hold_w, hold_point, time.monotonic() - 1)  # type: ignore[arg-type]
    assert late.methods == ["model"] * 3 and late.paths == [None] * 3  # past the deadline: none
    assert any("tried on 0 of 3 series: the time budget ran short" in n for n in late.notes)
    # a clock that moves 10 s each time it is read: after the first series, its pace does not
    # leave room for another one before the deadline
    import automl.training.forecast_methods as fm

    ticks = iter(range(0, 10_000, 10))
    monkeypatch.setattr(fm, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
    choice = choose_methods(fit_of(series), windows, raw, hold_w, hold_point, 25.0)  # type: ignore[arg-type]
    assert choice.methods == ["ets", "model", "model"]
    assert any("tried on 1 of 3 series: the time budget ran short" in n for n in choice.notes)


# ------------------------------------------------------------------------ end to end
def sales() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    months = pd.date_range("2015-01-01", periods=n, freq="MS")
    series = {
        "D": damped_trend(n) + rng.normal(0, 0.1, n),
        "S": 50 + 10 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 4, n),
        "W": 100 + np.cumsum(rng.normal(0, 1, n)),
    }
    return pd.DataFrame(
        [(k, months[i], v[i]) for k, v in series.items() for i in range(n)],
        columns=["item", "month", "sales"],
    )


@pytest.fixture(scope="module")
def stats_model() -> automl.Model:
    return (
        automl.AutoML(
            max_trials=2,
            time_budget=600,
            seed=0,
            time_column="month",
            series_columns=["item"],
            horizon=6,
        )  # fmt: skip
        .fit(sales(), target="sales")
        .model_
    )


def test_series_use_statistical_methods_the_model_file_keeps_them_and_forecasts_the_same(
    stats_model: automl.Model, tmp_path: Path
) -> None:
    s = stats_model.timeseries.series
    stats = [j for j, m in enumerate(s.methods) if m != "model"]
    assert stats, s.methods  # the seasonal and random-walk series are not the model's best
    fc = stats_model.forecast()
    for j in stats:
        if "model" not in s.methods[j]:  # its forecast is the stored one
            got = fc[fc["item"] == s.keys[j]]["prediction"].to_numpy()
            assert np.allclose(got, np.asarray(s.stat_forecasts[j])[:6])
    p = fc[["p10", "p50", "p90"]].to_numpy()
    assert np.all(p[:, 0] <= p[:, 1]) and np.all(p[:, 1] <= p[:, 2])
    again = automl.load(stats_model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(again.forecast(), fc)
    # from the same history given again, each method is fitted anew: the same forecast
    from_history = again.forecast(history=sales())
    assert np.allclose(from_history["prediction"], fc["prediction"], rtol=1e-4)
    from automl.cli import main
    from automl.timeseries import inputs_lines, method_words

    line = next(x for x in inputs_lines(again.timeseries) if x.startswith("series forecast by"))
    assert f"forecast by {method_words(s.methods[stats[0]])}: {s.keys[stats[0]]}" in line
    assert main(["info", str(tmp_path / "m")]) == 0


@pytest.mark.parametrize(
    ("methods", "paths"),
    [
        (["ets", "model", "model"], [None, None, None]),  # a method without its forecast
        (["model", "model", "model"], [[1.0] * 30, None, None]),  # a forecast for nothing
        (["ets", "model", "model"], [[1.0, float("nan")] * 15, None, None]),
        (["ets", "model", "model"], [[1.0], None, None]),  # shorter than the horizon
        (["ets", "model", "model"], [[1.0] * 6, None, None]),  # not 5 horizons ahead
        (["ets", "model", "model"], [["1"] * 30, None, None]),
        (["theta+ets", "model", "model"], [[1.0] * 30, None, None]),  # not in order
        (["ets+ets", "model", "model"], [[1.0] * 30, None, None]),
        (["prophet", "model", "model"], [[1.0] * 30, None, None]),
        (["ets", "model", "model"], [[1.0] * 30, None]),
        (["ets", "model", "model"], "1,2,3"),
    ],
)
def test_damaged_statistical_methods_in_the_model_file_are_refused(
    stats_model: automl.Model, tmp_path: Path, methods: object, paths: object
) -> None:
    path = stats_model.save(tmp_path / "m")
    meta_file = path / "easel_model.json"
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    data["timeseries"]["series"].update(methods=methods, stat_forecasts=paths)
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ArtifactError, match="damaged.*Retrain the model"):
        automl.load(path)


def test_a_schema_6_forecast_model_reads_as_every_series_by_the_model(
    stats_model: automl.Model, tmp_path: Path
) -> None:
    path = stats_model.save(tmp_path / "m")
    meta_file = path / "easel_model.json"
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    series = data["timeseries"]["series"]
    del series["stat_forecasts"]
    series["methods"] = ["model"] * 3
    data["schema_version"] = 6
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    old = automl.load(path)
    assert old.timeseries.series.stat_forecasts == [None] * 3
    assert len(old.forecast()) == 18
