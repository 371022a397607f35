"""Forecasts of many series on a Dask cluster (``automl forecast --cluster``).

The series are cut into shares of consecutive series, in the order a forecast on one computer
gives them (the model's stored series, the newer history's series sorted by their key, or the
series asked for); each share's rows of the history and of the future values go to a worker
with it, and the worker forecasts its share with the same model (its files sent once to every
worker and loaded there with ``Model.load``'s checks). The shares come back in order, so the
table is the one a forecast on one computer gives, row for row.
"""

from __future__ import annotations

from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.cluster._connect import Cluster, _shown
from automl.cluster.scoring import _ModelFiles, _pack, _worker_model
from automl.errors import ClusterError, DataError, EaselError, ParameterError
from automl.model import Model

SHARES_PER_WORKER = 4  # shares of the series per worker: a slow share holds up less


def forecast_share(
    sent: _ModelFiles,
    history: pd.DataFrame | None,
    horizon: int | None,
    keys: list[str],
    future: pd.DataFrame | None,
) -> pd.DataFrame | EaselError:
    """Run on a worker: the forecast of the series ``keys`` (history already prepared); a check
    of the rows that fails comes back as its ``EaselError`` (raised on the client, not logged by
    the worker as a failed task)."""
    from automl.timeseries import forecast

    try:
        model, _ = _worker_model(sent, False)
        return forecast(model, history, horizon, keys, future)
    except EaselError as exc:
        return exc


def _keys_of(model: Model, frame: pd.DataFrame, what: str) -> pd.Series:
    """Each row's series key (as the model names its series)."""
    from automl.timeseries import series_key

    ids = model.timeseries.id_columns
    missing = [c for c in ids if c not in frame.columns]
    if missing:
        raise DataError(
            f"The {what} is missing the series ID column(s) {', '.join(missing)}: every row "
            "must say which series it belongs to."
        )
    return series_key(frame[ids])


def _order(model: Model, history: pd.DataFrame | None, series: list[str] | None) -> list[str]:
    """The series of the forecast, in the order one computer's forecast gives them."""
    from automl.timeseries import parse_times

    if history is None:
        known = list(model.timeseries.series.keys)
    else:
        time = model.timeseries.time_column
        if time not in history.columns:
            raise DataError(
                f"The history is missing the time column '{time}': every row needs its time."
            )
        timed = parse_times(history[time], time).notna().to_numpy()
        known = sorted(set(_keys_of(model, history, "history")[timed]))
    if series is None:
        return known
    at = set(known)
    unknown = [k for k in series if k not in at]
    if unknown:
        raise ParameterError(
            f"Unknown series: {', '.join(map(str, unknown[:5]))}. Known series: "
            f"{', '.join(known[:10])}{' ...' if len(known) > 10 else ''}."
        )
    return list(series)


def _rows_of(frame: pd.DataFrame | None, keys: pd.Series | None, share: set[str]) -> Any:
    if frame is None or keys is None:
        return None
    return frame.loc[keys.isin(share).to_numpy()].reset_index(drop=True)


def forecast_on_cluster(
    cluster: Cluster,
    model: Model,
    folder: Any,
    history: pd.DataFrame | None = None,
    horizon: int | None = None,
    series: list[str] | None = None,
    future: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``model.forecast(history, horizon, series, future)`` with the series shared out to the
    workers of ``cluster``; ``folder`` is the model's folder (its files go to the workers)."""
    if not model.is_forecast:
        raise ParameterError(
            f"forecast is only available for time series models; this model predicts "
            f"{model.problem_type} targets from rows. Use predict instead."
        )
    if history is not None:
        if not isinstance(history, pd.DataFrame):
            raise ParameterError(
                f"The history must be a pandas DataFrame. Got {type(history).__name__} instead."
            )
        if model.meta.recipe:
            history = model.prepare(history)
        history = history.rename(columns=str)
    order = _order(model, history, series)
    if not order:
        raise DataError("The history holds no series to forecast (no row has a time).")
    client = cluster.client
    count = min(len(order), max(1, cluster.slots * SHARES_PER_WORKER))
    bounds = np.linspace(0, len(order), count + 1).astype(int)
    shares = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    hist_keys = None if history is None else _keys_of(model, history, "history")
    fut_keys = None
    if future is not None and isinstance(future, pd.DataFrame):
        future = future.rename(columns=str)
        fut_keys = _keys_of(model, future, "table of future values")
    sent = client.scatter(_pack(Path(folder)), broadcast=True, hash=False)
    futures = []
    for share in shares:
        chosen = set(share)
        futures.append(
            client.submit(
                forecast_share,
                sent,
                _rows_of(history, hist_keys, chosen),
                horizon,
                share,
                _rows_of(future, fut_keys, chosen) if fut_keys is not None else future,
                pure=False,
                retries=0,
            )
        )
    try:
        parts = [f.result() for f in futures]  # in order: the series' order
    except Exception as exc:  # the cluster's: a lost worker, a lost connection
        for f in futures:
            f.cancel()
        raise ClusterError(
            f"The forecast on the Dask cluster at '{_shown(cluster.name)}' stopped: "
            f"{_lost(exc)}. Nothing was written; try again, or forecast without --cluster."
        ) from None
    for part in parts:
        if isinstance(part, EaselError):
            raise part  # the first share's in the series' order: one computer's error
    return pd.concat(parts, ignore_index=True)


def _lost(exc: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return "a worker stopped while forecasting (its process or machine was lost)"
    if isinstance(exc, (CancelledError, OSError, TimeoutError)):
        return "the connection to the cluster was lost"
    return f"a worker failed ({_shown(type(exc).__name__ + ': ' + str(exc))})"
