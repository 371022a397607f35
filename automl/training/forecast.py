"""The forecast pipeline: numbers over time, one or many series (see :mod:`automl.timeseries`
for the clock, the series layout and the features).

Lay the rows on a regular calendar, hold out the last ``horizon`` periods, search the model
families on one-step-ahead windows before them, keep the best candidates scored by forecasting the
held-out periods recursively (as in real use), compare with the naive forecasts, refit the default
on every period when there is time, and measure column impact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl import metrics as M
from automl.candidates import Candidate, FitContext, families_for, get_candidate
from automl.coltypes import ColumnInfo, check_not_target, infer_types
from automl.errors import DataError, ParameterError
from automl.model import Model
from automl.preprocess import Preprocessor
from automl.progress import TrialRecord
from automl.timeseries import (
    INTERVAL,
    METRICS,
    Layout,
    SeriesData,
    _actuals,
    _naive,
    _naive_scale,
    _predictor,
    _tails,
    feature_names,
    fit_plan,
    forecast_metrics,
    plan_for,
    recursive_forecast,
    to_series,
    training_rows,
)
from automl.training.common import (
    Description,
    Kept,
    choose_kept,
    encode,
    finish_model,
    keep_candidates,
    model_meta,
    refit,
    search_message,
)
from automl.training.impact import column_impact
from automl.training.run import FitRun
from automl.training.search import Search, SearchData
from automl.words import plural


@dataclass
class SeriesFit:
    """The series on their calendar, the supervised rows, and the encoded search rows."""

    sd: SeriesData
    layout: Layout
    horizon: int
    cutoff: int  # the held-out periods are (cutoff, last]
    last: int
    X_all: pd.DataFrame
    dev_all: np.ndarray  # change from the level: what the candidates learn
    y_all: np.ndarray
    per_all: np.ndarray
    pos_all: np.ndarray
    columns: list[ColumnInfo]
    pre: Preprocessor
    families: list[str]
    search_idx: np.ndarray
    sdata: SearchData
    metric: M.Metric

    @property
    def train_mask(self) -> np.ndarray:
        return self.per_all <= self.cutoff

    @property
    def encodings(self) -> set[str]:
        return {get_candidate(f).encoding for f in self.families}


@dataclass
class HoldoutForecast:
    """The held-out periods: each series' history before them, the actual values and the
    kept candidates' forecasts of them."""

    W_cut: np.ndarray
    has_history: np.ndarray
    actual: np.ndarray
    scale: float
    forecasts: dict[int, np.ndarray]


def fit_forecast(
    run: FitRun, df: pd.DataFrame, target: str, recipe_meta: dict[str, Any] | None
) -> Model:
    """Train a forecaster of ``target`` over the time column of ``run.options``."""
    f = prepare(run, df, target)
    search = make_search(run, f)
    run.lap("prepare")
    run.emit(
        "search",
        search_message(
            len(f.families),
            plural(len(f.sdata.folds), "stretch of past periods", "stretches of past periods")
            + " it did not learn from",
        ),
        0.05,
    )
    records = search.run(f.sdata, len(f.search_idx))
    run.lap("search")
    ranked = search.ranked_or_raise(run.budget)
    run.emit(
        "finalize", "Forecasting the periods kept aside for checking with the best models", 0.9
    )
    kept, hold = keep_best(run, f, ranked)
    naive, seasonal = _naive(hold.W_cut, f.horizon, f.layout.plan.season)
    baselines = naive_baselines(f, hold, naive, seasonal)
    run.lap("holdout_scoring")
    refit_ok, refit_note = refit_default(run, f, kept)
    hold_rows = (f.per_all > f.cutoff) & np.isin(f.pos_all, np.flatnonzero(hold.has_history))
    about = describe(run, f, len(df), hold, baselines, hold_rows)
    meta = model_meta(run, about, recipe_meta, records, kept, refit_ok, refit_note)
    idx = np.flatnonzero(hold_rows)
    return finish_model(
        run,
        meta,
        f.pre,
        kept,
        holdout_frame(f, hold_rows, hold.forecasts, naive),
        {
            "mean": float(np.mean(f.y_all[f.train_mask])),
            "median": float(np.median(f.y_all[f.train_mask])),
        },
        lambda model: (
            column_impact(
                model,
                f.X_all.iloc[idx],
                pd.Series(f.dev_all[idx], index=f.X_all.index[idx]),
                run.impact_deadline,
                run.seed,
            )
            if len(idx) >= 5
            else []
        ),
    )


def prepare(run: FitRun, df: pd.DataFrame, target: str) -> SeriesFit:
    """The series on a regular calendar, the horizon checked, the supervised rows and the
    validation windows just before the held-out periods."""
    opts = run.options
    metric = forecast_metric(opts.time_column, opts.metric)
    ids = list(opts.series_columns or [])
    run.emit("prepare", "Placing the rows on a regular calendar", 0.0)
    sd = to_series(df, target, str(opts.time_column), ids, opts.aggregate)
    static_cols = [c for c in sd.static.columns if c not in set(opts.exclude_columns or [])]
    base_plan = plan_for(sd.clock)
    horizon = opts.horizon or base_plan.horizon
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        raise ParameterError(f"'horizon' must be a positive whole number. Got {horizon!r}.")
    sd, lengths = drop_short_series(sd, horizon)
    last = int(max(s + len(v) - 1 for s, v in zip(sd.start, sd.values, strict=True)))
    cutoff = last - horizon
    plan = fit_plan(base_plan, int(np.median(lengths)) - horizon, horizon)
    names = feature_names(target, plan, sd.clock.words)
    layout = Layout(target, str(opts.time_column), ids, static_cols, plan, sd.clock, names)
    X_all, dev_all, y_all, per_all, pos_all = training_rows(sd, layout)
    train_mask = per_all <= cutoff
    if train_mask.sum() < 10:
        raise DataError(
            f"Only {int(train_mask.sum())} periods with a value come before the last "
            f"{sd.clock.plural(horizon)}; at least 10 are needed to learn from. Add history or "
            "shorten the horizon."
        )
    overrides = {c: "numeric" for c in X_all.columns if c not in ids + static_cols}
    overrides.update({c: "categorical" for c in ids})
    check_not_target(opts.column_types, target)
    for c, t in (opts.column_types or {}).items():
        if c in static_cols:
            overrides[c] = t
    columns = list(infer_types(X_all, overrides).values())
    search_idx = np.flatnonzero(train_mask)[-run.settings["max_search_rows"] :]  # most recent
    pre = Preprocessor(columns, [c.name for c in columns]).fit(X_all.iloc[search_idx])
    families, notes = families_for(run.settings["families"], len(search_idx), run.families_named)
    sd.notes.extend(notes)
    X = encode(pre, X_all.iloc[search_idx], {get_candidate(f).encoding for f in families})
    folds = validation_windows(per_all[search_idx], cutoff, horizon, sd.clock.words)
    _, _, cats = pre.tree_features()
    sdata = SearchData(X=X, y=dev_all[search_idx], categorical=cats, folds=folds)
    return SeriesFit(
        sd, layout, horizon, cutoff, last, X_all, dev_all, y_all, per_all, pos_all, columns, pre,
        families, search_idx, sdata, metric,
    )  # fmt: skip


def forecast_metric(time_column: str | None, name: str | None) -> M.Metric:
    """The metric a forecast optimizes (RMSE unless the user chose MAE)."""
    if not time_column:
        raise ParameterError(
            "A time series forecast needs the time column: set 'time_column' to the column that "
            "holds the dates or times."
        )
    metric_name = name or "rmse"
    if metric_name not in METRICS:
        raise ParameterError(
            f"The 'metric' parameter of AutoML must be one of {', '.join(METRICS)} for a time "
            f"series forecast. Got {metric_name!r} instead."
        )
    return M.get_metric(metric_name, "regression")


def drop_short_series(sd: SeriesData, horizon: int) -> tuple[SeriesData, np.ndarray]:
    """The series long enough to learn from and check (a note names those left out); an error
    when even the longest is too short for the horizon."""
    lengths = np.asarray([len(v) for v in sd.values])
    need = 2 * horizon + 8
    if lengths.max() < need:
        raise DataError(
            f"The series are too short to forecast {sd.clock.plural(horizon)} ahead and check "
            f"it: the longest has {sd.clock.plural(int(lengths.max()))}, at least {need} are "
            f"needed. Choose a shorter horizon (at most {max(1, (int(lengths.max()) - 8) // 2)}) "
            "or add history."
        )
    short = lengths < horizon + 4
    if not short.any():
        return sd, lengths
    dropped = [sd.keys[j] for j in np.flatnonzero(short)]
    sd.notes.append(
        f"{len(dropped)} series with fewer than {horizon + 4} {sd.clock.words}s were left "
        f"out: {', '.join(dropped[:5])}{' ...' if len(dropped) > 5 else ''}."
    )
    keepj = np.flatnonzero(~short)
    kept = SeriesData(
        [sd.keys[j] for j in keepj],
        sd.ids.iloc[keepj].reset_index(drop=True),
        sd.static.iloc[keepj].reset_index(drop=True),
        sd.start[keepj],
        [sd.values[j] for j in keepj],
        sd.clock,
        sd.notes,
        sd.ignored,
    )
    return kept, lengths[keepj]


def validation_windows(
    per: np.ndarray, cutoff: int, horizon: int, unit: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to two validation windows of ``horizon`` periods just before the hold-out."""
    folds = []
    for k in (1, 2):
        lo, hi = cutoff - k * horizon, cutoff - (k - 1) * horizon
        tr = np.flatnonzero(per <= lo)
        va = np.flatnonzero((per > lo) & (per <= hi))
        if len(va) and len(tr) >= max(10, 0.5 * len(per)):
            folds.append((tr, va))
    if not folds:
        raise DataError(
            f"The series are too short to validate a {horizon}-{unit} forecast before "
            "the held-out periods. Shorten the horizon or add history."
        )
    return folds


def make_search(run: FitRun, f: SeriesFit) -> Search:
    """The search, with a deadline that reserves time to retrain and forecast the kept ones."""

    def deadline() -> float:
        ranked = search.ranked()
        reserve = 0.06 * run.budget + 0.5
        if ranked:
            reserve += sum(r.fit_seconds for r in choose_kept(ranked, 3)) * 2.0
        return max(run.end - reserve, run.start + 0.5)

    search = Search(
        "regression", 1, f.metric, f.families, run.seed, run.start, deadline, run.progress,
        run.settings["tuning_share"], run.options.max_trials,
    )  # fmt: skip
    return search


def keep_best(run: FitRun, f: SeriesFit, ranked: list[TrialRecord]) -> tuple[Kept, HoldoutForecast]:
    """Kept candidates trained on every period before the hold-out, then scored by forecasting
    the held-out periods step by step."""
    sd, horizon = f.sd, f.horizon
    W_cut, _ = _tails(sd, f.layout.plan.lookback, f.cutoff)
    has_history = ~np.all(np.isnan(W_cut), axis=1)
    actual = _actuals(sd, np.full(len(sd.keys), f.cutoff + 1), horizon)
    actual[~has_history] = np.nan
    first_hold = np.full(len(sd.keys), f.cutoff + 1)
    train_idx = np.flatnonzero(f.train_mask)
    X_train = encode(f.pre, f.X_all.iloc[train_idx], f.encodings)
    scale = _naive_scale(sd, f.cutoff)
    cats = f.sdata.categorical

    def train(rec: TrialRecord, deadline: float) -> tuple[Candidate, float, str]:
        cls = get_candidate(rec.candidate)
        ctx = FitContext("regression", 1, deadline, run.seed)
        t_fit = time.monotonic()
        y = f.dev_all[train_idx]
        cand = cls(rec.fit_params()).fit(X_train[cls.encoding], y, ctx, categorical=cats)
        return cand, time.monotonic() - t_fit, "periods before the hold-out"

    def evaluate(rec: TrialRecord, cand: Candidate) -> tuple[np.ndarray, dict[str, Any], int]:
        fc = recursive_forecast(
            _predictor(f.pre, cand), f.layout, W_cut, first_hold, sd.ids, sd.static, horizon
        )
        fields = {"holdout_metrics": forecast_metrics(actual, fc, scale)}
        return fc, fields, len(sd.keys) * horizon

    kept = keep_candidates(run, choose_kept(ranked, run.settings["keep_top"]), train, evaluate)
    for cid, seconds in kept.fit_seconds.items():
        kept.meta[str(cid)]["fit_seconds_final"] = round(seconds, 3)
    return kept, HoldoutForecast(W_cut, has_history, actual, scale, dict(kept.scores))


def naive_baselines(
    f: SeriesFit, hold: HoldoutForecast, naive: np.ndarray, seasonal: np.ndarray
) -> dict[str, Any]:
    """The naive forecasts' hold-out metrics: repeat the last value; repeat the last season."""
    baselines = {
        "naive": {
            "description": "repeating the last known value",
            "holdout_metrics": forecast_metrics(hold.actual, naive, hold.scale),
        }
    }
    season = f.layout.plan.season
    if season > 1:
        baselines["seasonal_naive"] = {
            "description": f"repeating the last {season} {f.sd.clock.words}s",
            "holdout_metrics": forecast_metrics(hold.actual, seasonal, hold.scale),
        }
    return baselines


def refit_default(run: FitRun, f: SeriesFit, kept: Kept) -> tuple[bool, str]:
    """Refit the default on every period (the forecast starts where the data ends)."""
    did = kept.default_id
    model, _ = refit(
        run, kept.models[did], lambda enc: encode(f.pre, f.X_all, {enc})[enc], f.dev_all,
        f.sdata.categorical, "regression", 1, 1.5 * kept.meta[str(did)]["fit_seconds_final"],
    )  # fmt: skip
    if model is None:
        return False, (
            "not refit on all periods: there was no time left in the budget, so the model "
            "trained before the hold-out is used"
        )
    kept.models[did] = model
    kept.meta[str(did)]["trained_on"] = "all periods"
    return True, (
        "refit on all periods (including the held-out ones) so the forecast starts from the "
        "latest data; the hold-out metrics come from the same configuration trained before them"
    )


def describe(
    run: FitRun,
    f: SeriesFit,
    total_rows: int,
    hold: HoldoutForecast,
    baselines: dict[str, Any],
    hold_rows: np.ndarray,
) -> Description:
    """What the model file says about the series, the hold-out and the forecast's range."""
    sd, horizon, opts = f.sd, f.horizon, run.options
    ids = f.layout.id_columns
    n_hold = int(hold_rows.sum())
    errors = hold.actual - hold.forecasts[next(iter(hold.forecasts))]
    columns = [c.to_dict() for c in f.columns]
    columns += [
        {"name": c, "type": "excluded", "reason": why, "missing": 0, "distinct": 0,
         "overridden": False}
        for c, why in sd.ignored.items()
    ]  # fmt: skip
    return Description(
        task="regression",
        target={
            "name": f.layout.target,
            "task": "regression",
            "classes": [],
            "positive_label": None,
            "rows_dropped_missing_target": 0,
            "detected_task": "timeseries",
            "reason": (
                f"numbers over time in '{opts.time_column}' (one value per {sd.clock.words}"
                + (f" and {' / '.join(ids)})" if ids else ")")
            ),
        },
        metric=f.metric,
        columns=columns,
        rows={
            "total": int(total_rows),
            "with_target": int(len(f.y_all)),
            "search": int(len(f.search_idx)),
            "train": int(f.train_mask.sum()),
            "holdout": n_hold,
            "series": len(sd.keys),
        },
        validation=(
            f"one-step-ahead on the last {len(f.sdata.folds)} window(s) of {horizon} "
            f"{sd.clock.words}s before the hold-out"
        ),
        holdout_description=(
            f"the last {horizon} {sd.clock.words}s of every series ({n_hold} values), forecast "
            "step by step from the history before them and never seen by the search"
        ),
        warnings=list(sd.notes),
        extra={
            "problem_type": "timeseries",
            "timeseries": series_meta(f, hold, baselines, errors),
        },
    )


def series_meta(
    f: SeriesFit, hold: HoldoutForecast, baselines: dict[str, Any], errors: np.ndarray
) -> dict[str, Any]:
    """What forecasting needs later: the layout, each series' last window, the range table."""
    sd = f.sd
    static_cols = f.layout.static_columns
    W_end, nxt_end = _tails(sd, f.layout.plan.lookback)
    static = sd.static[static_cols]
    return {
        "layout": f.layout.to_dict(),
        "frequency": sd.clock.words,
        "horizon_text": sd.clock.plural(f.horizon),
        "horizon": f.horizon,
        "series": {
            "keys": sd.keys,
            "ids": sd.ids.astype(object).where(sd.ids.notna(), None).to_dict("list"),
            "static": static.astype(object).where(static.notna(), None).to_dict("list"),
            "next_period": nxt_end.tolist(),
            "tails": [[None if np.isnan(v) else float(v) for v in row] for row in W_end],
            "first_time": sd.clock.times(sd.start).astype(str).tolist(),
            "last_time": sd.clock.times(nxt_end - 1).astype(str).tolist(),
        },
        "holdout_periods": sd.clock.label(sd.clock.times(np.arange(f.cutoff + 1, f.last + 1))),
        "interval": interval_table(errors),
        "baselines": baselines,
        "mase_scale": hold.scale,
        "ignored_columns": sd.ignored,
    }


def interval_table(errors: np.ndarray) -> list[list[float]]:
    """Per forecast step, the 10% and 90% quantiles of the hold-out errors (actual - forecast).
    Steps with fewer than 20 errors use all steps' errors, widened like a random walk (sqrt h)."""
    steps = errors.shape[1]
    pooled = []
    for h in range(steps):
        e = errors[:, h]
        e = e[~np.isnan(e)]
        pooled.append(e / np.sqrt(h + 1))
    base = np.concatenate(pooled) if pooled else np.empty(0)
    out = []
    for h in range(steps):
        e = errors[:, h]
        e = e[~np.isnan(e)]
        if len(e) >= 20:
            q = np.quantile(e, INTERVAL)
        elif len(base):
            q = np.quantile(base, INTERVAL) * np.sqrt(h + 1)
        else:
            q = np.zeros(2)
        out.append([round(float(q[0]), 6), round(float(q[1]), 6)])
    return out


def holdout_frame(
    f: SeriesFit, hold_rows: np.ndarray, forecasts: dict[int, np.ndarray], naive: np.ndarray
) -> pd.DataFrame:
    """Held-out periods: the feature rows (for explanations), the actual value, each kept
    candidate's forecast and the naive forecast, with series, time and step."""
    rows = f.X_all.loc[hold_rows].reset_index(drop=True)
    pos = f.pos_all[hold_rows]
    step = f.per_all[hold_rows] - f.cutoff - 1
    rows["__target__"] = f.y_all[hold_rows]
    for cid, fc in forecasts.items():
        rows[f"__score_{cid}"] = fc[pos, step]
    rows["__naive__"] = naive[pos, step]
    rows["__series__"] = [f.sd.keys[j] for j in pos]
    rows["__time__"] = f.sd.clock.times(f.per_all[hold_rows])
    rows["__step__"] = step + 1
    return rows
