"""Forecasts on a Dask cluster: a time series build's trials on the workers, and the series of
``automl forecast --cluster`` shared out to the workers, giving the table one computer gives.

One local cluster of 2 worker processes for the module (``local:2``); one small model of 6
daily series with a future-value column, bounded by ``max_trials``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import automl
from automl.cli import main
from automl.cluster import Cluster, connect
from automl.cluster.forecasting import forecast_on_cluster
from automl.errors import DataError, ParameterError
from tests.test_timeseries import daily_sales

STORES = 6


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with connect("local:2") as running:
        yield running


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return daily_sales(days=120, stores=STORES)


@pytest.fixture(scope="module")
def built(
    cluster: Cluster, history: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[automl.AutoML, Path]:
    fit = automl.AutoML(
        task="timeseries", time_column="date", series_columns=["store"], horizon=7,
        time_budget=600, max_trials=3, future_columns=["price"], cluster=cluster,
    ).fit(history, "sales")  # fmt: skip
    path: Path = fit.save(tmp_path_factory.mktemp("forecast") / "model")
    return fit, path


def _future(
    model: automl.Model, history: pd.DataFrame | None = None, horizon: int | None = None
) -> pd.DataFrame:
    plan = model.future_template(horizon, history=history)
    plan["price"] = 1.5 + 0.01 * plan.index.to_series().to_numpy()  # a plan per row
    return plan


def test_a_time_series_build_runs_its_trials_on_the_workers(
    built: tuple[automl.AutoML, Path], cluster: Cluster
) -> None:
    board = built[0].leaderboard
    trials = board[board["source"] != "ensemble"]
    assert len(trials) == 3 and set(trials["worker"]) <= set(cluster.workers())
    assert (trials["worker"] != "").all()


def test_a_forecast_on_the_cluster_is_the_forecast_of_one_computer(
    built: tuple[automl.AutoML, Path], cluster: Cluster, history: pd.DataFrame
) -> None:
    _, path = built
    model = automl.load(path)
    plan = _future(model)
    here = model.forecast(future=plan)
    assert here["store"].nunique() == STORES
    pd.testing.assert_frame_equal(forecast_on_cluster(cluster, model, path, future=plan), here)
    # from newer history (its series sorted as one computer reads them), some series in the
    # order asked for, and a longer horizon
    newer = history[history["date"] < "2023-04-25"].sample(frac=1.0, random_state=1)
    plan = _future(model, newer)
    pd.testing.assert_frame_equal(
        forecast_on_cluster(cluster, model, path, newer, future=plan),
        model.forecast(newer, future=plan),
    )
    picked = ["store 4", "store 0", "store 3"]
    pd.testing.assert_frame_equal(
        forecast_on_cluster(cluster, model, path, newer, 10, picked, _future(model, newer, 10)),
        model.forecast(newer, 10, picked, _future(model, newer, 10)),
    )


def test_bad_forecast_inputs_on_the_cluster_are_clear_errors(
    built: tuple[automl.AutoML, Path], cluster: Cluster, history: pd.DataFrame
) -> None:
    _, path = built
    model = automl.load(path)
    with pytest.raises(ParameterError, match="Unknown series: store 9"):
        forecast_on_cluster(cluster, model, path, series=["store 9"], future=_future(model))
    with pytest.raises(DataError, match="missing the series ID column"):
        forecast_on_cluster(cluster, model, path, history.drop(columns=["store"]))
    with pytest.raises(DataError, match="future"):  # a worker's own check, as one computer's
        forecast_on_cluster(cluster, model, path, future=_future(model).drop(columns=["price"]))


def test_cli_forecast_on_local_2_writes_the_local_table(
    built: tuple[automl.AutoML, Path], tmp_path: Path, capsys: Any
) -> None:
    _, path = built
    plan = tmp_path / "plan.csv"
    assert main(["forecast", str(path), "--future-template", "--out", str(plan)]) == 0
    here, there = tmp_path / "here.csv", tmp_path / "there.csv"
    assert main(["forecast", str(path), "--future", str(plan), "--out", str(here)]) == 0
    code = main(["forecast", str(path), "--future", str(plan), "--out", str(there),
                 "--cluster", "local:2"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 worker(s) ready" in captured.err
    assert here.read_text() == there.read_text()
    code = main(["forecast", str(path), "--future-template", "--out", str(plan), "--cluster",
                 "local:2"])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "Leave --cluster out" in err and "Traceback" not in err
