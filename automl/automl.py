"""``AutoML``: the estimator users call. It validates its options and dispatches the fit to the
tabular or the forecast pipeline of :mod:`automl.training`; the fitted model is ``model_``."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from automl.candidates import REGISTRY
from automl.cluster import Cluster, parse_address, using
from automl.errors import NotFittedError, ParameterError, invalid_parameter
from automl.model import Model
from automl.prep.recipe import Recipe
from automl.presets import get_preset
from automl.progress import ProgressCallback
from automl.reports import save_model
from automl.training.common import apply_recipe, check_frame
from automl.training.forecast import fit_forecast
from automl.training.run import DASK_TRAINING_ROWS, MIN_TIME_BUDGET, FitOptions, FitRun
from automl.training.tabular import fit_tabular
from automl.words import show_value


class AutoML:
    """Find a good model for a target column within a time budget.

    Constructing only stores the options; :meth:`fit` does the work and returns ``self``
    (scikit-learn's convention). The fitted model is ``model_`` (an :class:`automl.Model`);
    ``predict``, ``predict_proba``, ``leaderboard``, ``metrics`` and ``save`` use it.

    Parameters
    ----------
    time_budget : float, optional
        Seconds for the whole fit, everything included (default: the preset's, 60 s for
        "quick"); at least 5 (``MIN_TIME_BUDGET``), the least time a fit can keep to. ``fit``
        plans to finish at 95% of it.
    preset : {"quick", "standard"}, default "quick"
        Settings as data (see :mod:`automl.presets`): folds, rows searched, model families,
        candidates kept. Aliases: "fast", "default" (quick), "best" (standard).
    seed : int, default 0
        Seeds the hold-out split, the folds, the search and the models: the same data, seed
        and ``max_trials`` give the same model.
    task : {"binary", "multiclass", "regression", "timeseries"}, optional
        The problem type; detected from the target when omitted.
    metric : str, optional
        What the search optimizes, e.g. "roc_auc", "log_loss", "accuracy", "f1", "rmse",
        "mae", "r2" (default: log loss for categories, RMSE for numbers and forecasts).
    column_types : dict of str to str, optional
        Override detected column types, e.g. ``{"zip": "categorical"}``.
    exclude_columns : list of str, optional
        Columns never used as inputs.
    positive_label : optional
        For 2-category targets, the class whose probability is reported.
    candidates : list of str, optional
        The model families to search (default: the preset's). Valid names are the keys of
        :data:`automl.candidates.REGISTRY`.
    max_trials : int, optional
        The most search trials to run. Bounds a fit independently of the machine's speed.
    progress : callable, optional
        Called with an :class:`automl.progress.ProgressEvent` at every step of the fit.
    ensemble : bool, default True
        Try a weighted ensemble of the best trials; kept only when it beats the best single one
        on the validation rows.
    time_column : str, optional
        Time series only: the column holding the dates or times (implies
        ``task="timeseries"``).
    series_columns : list of str, optional
        Time series only: the columns that identify each series.
    horizon : int, optional
        Time series only: periods to forecast (default: from the data's frequency).
    aggregate : {"sum", "mean"}, optional
        Time series only: how to combine several rows in one period of a series (default:
        such rows are an error).
    quantiles : list of float, optional
        Time series only: the forecast's quantiles, each between 0 and 1 (default 0.1, 0.5,
        0.9: P10, P50, P90).
    backtests : int, optional
        Time series only: how many rolling windows of ``horizon`` periods before the held-out
        ones the kept candidates forecast to be compared and calibrated (default 3, or fewer
        when the history is too short for 3).
    cluster : str or automl.cluster.Cluster, optional
        Run the search's trials on a Dask cluster: a scheduler's address
        (``"tcp://scheduler:8786"``), ``"local:N"`` to start N worker processes on this
        computer for the fit (stopped when it ends), or a running :class:`automl.cluster.Cluster`
        (left running). Needs the ``cluster`` extra (``pip install 'easel[cluster]'``); without
        it nothing imports Dask. Connecting counts in the time budget. See docs/scale-out.md.
    dask_training_rows : int, optional
        With ``cluster``: a table with more rows (with a target) than this searches on a sample
        of at most this many rows (and the preset's ``max_search_rows``), and its final
        LightGBM model trains on every row with LightGBM's own Dask interface on the cluster's
        workers (the model file's ``cluster_fit`` says on how many rows and workers). Default
        5,000,000 (``automl.training.run.DASK_TRAINING_ROWS``: below it one computer does the
        whole build well).
    future_columns : list of str, optional
        Time series only: the columns whose future values are known ahead (a plan: price,
        promotion, opening hours, a weather forecast), used at their own period; forecasting
        then needs their values for the horizon. Each must change over time within a series
        and hold numbers, yes/no values or categories (the candidates). Default: every
        candidate; ``[]`` for none. Candidates not chosen are used as past values only (their
        value ``horizon`` periods before).
    holidays : str, optional
        Time series only: public holidays as features, a country code and optionally a region,
        e.g. "US" or "US:CA" (the ``holidays`` package's codes).
    fill : {"skip", "zero", "interpolate"}, optional
        Time series only: what periods without a target value (gaps in a series' regular
        periods, empty targets) become: left out of the targets ("skip", the default), 0, or
        a straight line between the values around them.

    Attributes
    ----------
    model_ : Model
        The fitted model.
    target_ : str
        The target column's name.

    Examples
    --------
    >>> m = AutoML(time_budget=60, seed=0).fit(df, target="churn")  # doctest: +SKIP
    >>> m.predict(df.head()); m.leaderboard; m.save("models/churn")  # doctest: +SKIP
    """

    def __init__(
        self,
        time_budget: float | None = None,
        preset: str = "quick",
        seed: int = 0,
        task: str | None = None,
        metric: str | None = None,
        column_types: dict[str, str] | None = None,
        exclude_columns: list[str] | None = None,
        positive_label: Any = None,
        candidates: list[str] | None = None,
        max_trials: int | None = None,
        progress: ProgressCallback | None = None,
        ensemble: bool = True,
        time_column: str | None = None,
        series_columns: list[str] | None = None,
        horizon: int | None = None,
        aggregate: str | None = None,
        quantiles: list[float] | None = None,
        backtests: int | None = None,
        cluster: str | Cluster | None = None,
        dask_training_rows: int | None = None,
        future_columns: list[str] | None = None,
        holidays: str | None = None,
        fill: str | None = None,
    ) -> None:
        self.time_budget = time_budget
        self.preset = preset
        self.seed = seed
        self.task = task
        self.metric = metric
        self.column_types = column_types
        self.exclude_columns = exclude_columns
        self.positive_label = positive_label
        self.candidates = candidates
        self.max_trials = max_trials
        self.progress = progress
        self.ensemble = ensemble  # try a weighted ensemble of the best trials
        # time series forecasting (task="timeseries"): see automl.timeseries
        self.time_column = time_column
        self.series_columns = series_columns
        self.horizon = horizon
        self.aggregate = aggregate
        self.quantiles = quantiles
        self.backtests = backtests
        self.cluster = cluster  # Dask: where the search's trials run (None: here)
        self.dask_training_rows = dask_training_rows  # (None: DASK_TRAINING_ROWS)
        self.future_columns = future_columns
        self.holidays = holidays
        self.fill = fill

    # ------------------------------------------------------------------ validation
    def _settings(self) -> dict[str, Any]:
        settings = get_preset(self.preset)
        if self.time_budget is not None:
            ok = isinstance(self.time_budget, (int, float)) and not isinstance(
                self.time_budget, bool
            )
            if not ok or not math.isfinite(self.time_budget) or self.time_budget < MIN_TIME_BUDGET:
                raise invalid_parameter(
                    "time_budget",
                    "AutoML",
                    f"a positive number of seconds, at least {MIN_TIME_BUDGET:g}",
                    self.time_budget,
                )
            settings["time_budget"] = float(self.time_budget)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise invalid_parameter("seed", "AutoML", "an integer", self.seed)
        if self.max_trials is not None and (
            not isinstance(self.max_trials, int)
            or isinstance(self.max_trials, bool)
            or self.max_trials < 1
        ):
            raise invalid_parameter("max_trials", "AutoML", "a positive integer", self.max_trials)
        if self.candidates is not None:
            unknown = [c for c in self.candidates if c not in REGISTRY]
            if unknown or not self.candidates:
                raise invalid_parameter(
                    "candidates",
                    "AutoML",
                    f"a non-empty list of {sorted(REGISTRY)}",
                    self.candidates,
                )
            settings["families"] = list(self.candidates)
        if self.cluster is not None and not isinstance(self.cluster, Cluster):
            parse_address(self.cluster)  # a clear error before any work
        rows = self.dask_training_rows
        if rows is not None:
            if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
                raise invalid_parameter("dask_training_rows", "AutoML", "a positive integer", rows)
            if self.cluster is None:
                raise ParameterError(
                    "'dask_training_rows' says when the final model trains on a cluster, but no "
                    "cluster was given. Give 'cluster' too, or leave 'dask_training_rows' out."
                )
        return settings

    def _options(self) -> FitOptions:
        return FitOptions(
            preset=self.preset,
            seed=self.seed,
            task=self.task,
            metric=self.metric,
            column_types=self.column_types,
            exclude_columns=self.exclude_columns,
            positive_label=self.positive_label,
            candidates=self.candidates,
            max_trials=self.max_trials,
            ensemble=self.ensemble,
            time_column=self.time_column,
            series_columns=self.series_columns,
            horizon=self.horizon,
            aggregate=self.aggregate,
            quantiles=self.quantiles,
            backtests=self.backtests,
            future_columns=self.future_columns,
            holidays=self.holidays,
            fill=self.fill,
            dask_training_rows=(
                DASK_TRAINING_ROWS if self.dask_training_rows is None else self.dask_training_rows
            ),
        )

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame, target: str, recipe: Recipe | None = None) -> AutoML:
        """Train on ``df`` to predict column ``target``; returns ``self``.

        ``recipe`` (optional) prepares the raw rows first; its column steps are stored in the
        model and replayed on raw rows at prediction time (row steps only shape training data).
        """
        run = FitRun(self._options(), self._settings(), self.progress)
        with using(self.cluster) as cluster:
            if cluster is not None:
                from automl.cluster.training import DaskFinalFit
                from automl.cluster.trials import DaskTrials

                run.runner = DaskTrials(cluster)
                run.cluster_fitter = DaskFinalFit(cluster)
            return self._fit(run, df, target, recipe)

    def _fit(self, run: FitRun, df: pd.DataFrame, target: str, recipe: Recipe | None) -> AutoML:
        df = check_frame(df)
        target = str(target)
        df, recipe_meta = apply_recipe(run, df, target, recipe)
        if self.task == "timeseries" or self.time_column:
            if self.task not in (None, "timeseries"):
                raise ParameterError(
                    f"'time_column' is only used by time series forecasts; the task is "
                    f"{self.task!r}. Remove 'time_column', or set task='timeseries'."
                )
            if self.horizon is not None and (
                not isinstance(self.horizon, int | np.integer)
                or isinstance(self.horizon, bool)
                or self.horizon < 1
            ):  # (0 used to mean the default horizon)
                raise ParameterError(
                    "The 'horizon' parameter of AutoML must be a positive whole number of "
                    f"periods. Got {show_value(self.horizon)} instead."
                )
            model = fit_forecast(run, df, target, recipe_meta)
        else:
            words = {"series_columns": "series columns", "horizon": "a horizon",
                     "aggregate": "how to aggregate periods", "quantiles": "quantiles",
                     "backtests": "backtests", "future_columns": "future-value columns",
                     "holidays": "holidays", "fill": "how to fill missing periods"}  # fmt: skip
            given = [w for name, w in words.items() if getattr(self, name) is not None]
            if given:
                raise ParameterError(
                    f"Forecast settings were given ({', '.join(given)}), but this build is not a "
                    "time series forecast: it has no time column. Give the time column, or "
                    "leave those settings out."
                )
            model = fit_tabular(run, df, target, recipe_meta)
        self.model_ = model
        self.target_ = model.target
        run.emit("done", f"Done in {run.elapsed():.1f} s", 1.0)
        return self

    # ------------------------------------------------------------------ delegation
    def _check_fitted(self) -> Model:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "This AutoML instance is not fitted yet. Call 'fit' with appropriate arguments "
                "before using this estimator."
            )
        return self.model_

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return self._check_fitted().predict(df)

    def predict_proba(self, df: pd.DataFrame) -> pd.DataFrame:
        return self._check_fitted().predict_proba(df)

    @property
    def leaderboard(self) -> pd.DataFrame:
        return self._check_fitted().leaderboard

    @property
    def metrics(self) -> dict[str, float]:
        return self._check_fitted().metrics

    def save(
        self, path: str | os.PathLike[str], reports: bool = False, data: pd.DataFrame | None = None
    ) -> Any:
        """Save the fitted model; ``reports=True`` adds its reports (see
        :func:`automl.reports.save_model`)."""
        return save_model(self._check_fitted(), path, reports=reports, data=data)
