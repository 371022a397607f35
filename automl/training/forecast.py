"""The forecast pipeline: numbers over time, one or many series (see :mod:`automl.timeseries`
for the clock, the series layout and the features).

Lay the rows on a regular calendar, hold out the last ``horizon`` periods, search the model
families on one-step-ahead windows before them (the backtest windows), then for each kept candidate
run the backtests: trained on the periods before each window, it forecasts the window recursively
(as in real use). The backtests' errors give each series' correction (what its forecast is off by)
and the quantiles (the errors' spread at each step ahead); the kept candidate with the best mean
over the backtests is the default. The held-out periods are forecast the same way and scored,
next to the naive forecasts; the default is refit on every period when there is time, and column
impact is measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl import metrics as M
from automl.candidates import Candidate, FitContext, families_for, get_candidate
from automl.coltypes import ColumnInfo, check_not_target, infer_types
from automl.covariates import (
    check_fill,
    check_holidays,
    daily_holidays,
    holiday_names,
    holiday_words,
    take,
)
from automl.errors import DataError, ParameterError
from automl.model import Model
from automl.preprocess import Preprocessor
from automl.progress import TrialRecord
from automl.timeseries import (
    BACKTESTS,
    METRICS,
    Layout,
    SeriesData,
    _actuals,
    _naive,
    _naive_scale,
    _predictor,
    _tails,
    check_quantiles,
    feature_names,
    fit_plan,
    forecast_metrics,
    methods_text,
    naive_where,
    offset_levels,
    plan_for,
    quantile_forecasts,
    recursive_forecast,
    series_methods,
    step_covariates,
    to_series,
    training_rows,
    window_scale,
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
from automl.training.forecast_methods import STATS_SHARE, choose_methods, stats_worth
from automl.training.impact import column_impact
from automl.training.run import FitRun
from automl.training.search import ROWS_COST_EXPONENT, Search, SearchData
from automl.words import plural, show_value

# Of the search's sample of rows (a forecast with more rows before the hold-out than the
# preset's max_search_rows), the most the backtest windows' rows may take: the folds are scored
# on them (4,000 one-step errors a window at 50,000 rows), the rest learn.
SEARCH_WINDOW_SHARE = 0.25
# The kept candidates' fits (each backtest window's, the hold-out's and the default's refit) learn
# from every row when the time allows, else from a sample of rows sized to the time left: the
# search leaves them at most KEPT_SHARE of the budget, and the best kept candidate's fits may use
# FIRST_KEPT_SHARE of the time left after the search (the others share the rest). On 1,000 daily
# series of 3 years, a fit on every row took 10 s (LightGBM) to 16 s (XGBoost) each, five of them
# per kept candidate: 76 s of a 100 s fit.
KEPT_SHARE = 0.4
FIRST_KEPT_SHARE = 0.6
# A kept candidate of a family that grows (LightGBM) learning from more rows than the search had
# (a sample) does more boosting rounds: the search's (its trial's mean best round) times the rows
# ratio to ROUNDS_EXPONENT, at most MAX_ROUNDS_FACTOR times. Measured on 1,000 daily series
# (hold-out MASE of the default LightGBM configuration, 56 rounds in the search on 41,648
# rows): 480,000 rows gave 0.5554 at 56 rounds, 0.5444 at 112, 0.5419 at 168; every row at 56
# rounds 0.5567 (7.9 s a fit, against 5.8 s for 480,000 rows at 112).
ROUNDS_EXPONENT = 0.5
MAX_ROUNDS_FACTOR = 4.0


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
    origins: list[int]  # each backtest window is (origin, origin + horizon], earliest first
    quantiles: list[float]
    methods: list[str]  # how each series is forecast (series_methods, then choose_methods)
    # per series: the stored forecast of its statistical method (None: the model alone)
    stat_paths: list[list[float] | None] = field(default_factory=list)

    @property
    def train_mask(self) -> np.ndarray:
        return self.per_all <= self.cutoff


@dataclass
class Window:
    """A stretch of ``horizon`` periods forecast from the history up to ``origin``: each
    series' look-back window there, its scale, the actual values and the naive scales."""

    origin: int
    W: np.ndarray
    nxt: np.ndarray
    has_history: np.ndarray
    actual: np.ndarray
    scale: np.ndarray  # per series: window_scale of its look-back window (1 where unscaled)
    naive_scale: float  # all series: the mean absolute one-step change before the origin
    series_scale: np.ndarray  # per series: the same, each series alone
    rows: np.ndarray  # positions (in the rows before the hold-out) of the training rows
    # the future and past columns' values of the window's periods (series x steps, by feature)
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    # the series with too little history at the origin: their last value repeated
    naive: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass
class Calibrated:
    """A candidate's forecasts of a window with their quantiles."""

    point: np.ndarray  # the forecast (the P50), series x steps
    levels: list[float]
    quantiles: np.ndarray  # series x steps x levels (sorted along the levels)

    def at(self, q: float) -> np.ndarray:
        return self.quantiles[:, :, self.levels.index(q)]


@dataclass
class HoldoutForecast:
    """The held-out periods: each series' history before them, the actual values and the
    kept candidates' forecasts of them, the default's quantiles and backtests."""

    W_cut: np.ndarray
    has_history: np.ndarray
    actual: np.ndarray
    scale: float
    forecasts: dict[int, np.ndarray]
    calibrated: Calibrated
    offsets: np.ndarray
    backtests: list[dict[str, Any]]
    sample: float = 1.0  # the share of the rows before the hold-out the default learned from


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
    refit_ok, refit_note = refit_default(run, f, kept, hold.sample)
    hold_rows = (f.per_all > f.cutoff) & np.isin(f.pos_all, np.flatnonzero(hold.has_history))
    rows = (len(df), int(df[target].notna().sum()) if target in df.columns else len(f.y_all))
    about = describe(run, f, rows, hold, baselines, hold_rows)
    meta = model_meta(run, about, recipe_meta, records, kept, refit_ok, refit_note)
    idx = np.flatnonzero(hold_rows)
    return finish_model(
        run,
        meta,
        f.pre,
        kept,
        holdout_frame(f, hold_rows, hold, naive),
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
    quantiles = check_quantiles(opts.quantiles)
    ids = list(opts.series_columns or [])
    fill = check_fill(opts.fill)
    hol = check_holidays(opts.holidays)
    run.emit("prepare", "Placing the rows on a regular calendar", 0.0)
    sd = to_series(
        df, target, str(opts.time_column), ids, opts.aggregate, fill=fill,
        column_types=opts.column_types,
    )  # fmt: skip
    excluded = set(opts.exclude_columns or [])
    static_cols = [c for c in sd.static.columns if c not in excluded]
    base_plan = plan_for(sd.clock)
    horizon = opts.horizon or base_plan.horizon
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        raise ParameterError(f"'horizon' must be a positive whole number. Got {horizon!r}.")
    lengths = check_lengths(sd, horizon)
    last = int(max(s + len(v) - 1 for s, v in zip(sd.start, sd.values, strict=True)))
    cutoff = last - horizon
    plan = fit_plan(base_plan, int(np.median(lengths)) - horizon, horizon)
    candidates = [c for c in sd.kinds if c not in excluded]
    future = choose_future(opts.future_columns, candidates, sd, excluded)
    past = [c for c in candidates if c not in future]
    names = feature_names(target, plan, sd.clock.words)
    names.update(covariate_feature_names(past, horizon, sd.clock, hol))
    layout = Layout(
        target, str(opts.time_column), ids, static_cols, plan, sd.clock, names, True, future,
        past, {c: sd.kinds[c] for c in candidates}, horizon if candidates else 0,
        None if hol is None else {"country": hol[0], "region": hol[1]}, fill,
    )  # fmt: skip
    check_feature_names(layout)
    methods = series_methods(sd, plan)
    sd.notes.extend(methods_text(sd.keys, methods))
    X_all, dev_all, y_all, per_all, pos_all = training_rows(sd, layout, deadline=run.end)
    train_mask = per_all <= cutoff
    if train_mask.sum() < 10:
        raise DataError(
            f"Only {int(train_mask.sum())} periods with a value come before the last "
            f"{sd.clock.plural(horizon)}; at least 10 are needed to learn from. Add history or "
            "shorten the horizon."
        )
    overrides = {c: "numeric" for c in X_all.columns if c not in ids + static_cols}
    overrides.update({c: "categorical" for c in ids})
    named = layout.covariate_names()
    overrides.update({n: "categorical" for c, n in named.items() if sd.kinds[c] == "categorical"})
    # the types Easel gives the features it makes say so (the user's own say "chosen by the user")
    reasons = {c: "made by Easel from the dates and the history" for c in overrides}
    reasons.update({c: "identifies a series" for c in ids})
    reasons.update({n: f"the values of '{c}' over time" for c, n in named.items()})
    check_not_target(opts.column_types, target)
    for c, t in (opts.column_types or {}).items():
        if c in static_cols:
            overrides[c] = t
            reasons.pop(c, None)
    columns = list(infer_types(X_all, overrides, reasons=reasons).values())
    train_idx = np.flatnonzero(train_mask)
    origins = backtest_origins(per_all[train_idx], cutoff, horizon, opts.backtests, sd)
    search_idx = search_rows(
        per_all, train_idx, origins[0], run.settings["max_search_rows"], run.seed
    )
    pre = Preprocessor(columns, [c.name for c in columns]).fit(X_all.iloc[search_idx])
    families, notes = families_for(run.settings["families"], len(search_idx), run.families_named)
    sd.notes.extend(notes)
    X = encode(pre, X_all.iloc[search_idx], {get_candidate(f).encoding for f in families})
    folds = [window_rows(per_all[search_idx], o, horizon) for o in origins]
    _, _, cats = pre.tree_features()
    sdata = SearchData(X=X, y=dev_all[search_idx], categorical=cats, folds=folds)
    return SeriesFit(
        sd, layout, horizon, cutoff, last, X_all, dev_all, y_all, per_all, pos_all, columns, pre,
        families, search_idx, sdata, metric, origins, quantiles, methods, [None] * len(sd.keys),
    )  # fmt: skip


def search_rows(
    per: np.ndarray, train_idx: np.ndarray, first_origin: int, most: int, seed: int
) -> np.ndarray:
    """The rows the search learns from: every row before the hold-out, or, when they are more
    than ``most``, a sample of rows of every series and period: the backtest windows' rows
    (after ``first_origin``: what the search's folds are scored on) up to a share
    ``SEARCH_WINDOW_SHARE`` of ``most``, the earlier rows for the rest. (The most recent rows
    in the frame's order were the last series only: 46 of 1,000 series, and their categories
    alone in the model's encoding.)"""
    if len(train_idx) <= most:
        return train_idx
    rng = np.random.default_rng(seed)
    late = train_idx[per[train_idx] > first_origin]
    early = train_idx[per[train_idx] <= first_origin]
    n_late = min(len(late), int(SEARCH_WINDOW_SHARE * most))
    n_early = min(len(early), most - n_late)
    picked = [rng.choice(late, n_late, replace=False), rng.choice(early, n_early, replace=False)]
    return np.sort(np.concatenate(picked))


def choose_future(
    asked: list[str] | None, candidates: list[str], sd: SeriesData, excluded: set[str]
) -> list[str]:
    """The future-value columns: those asked for (each must be a candidate: a column that
    changes over time and holds numbers, yes/no values or categories), or every candidate."""
    if asked is None:
        return list(candidates)
    if isinstance(asked, str) or not all(isinstance(c, str) for c in asked):
        raise ParameterError(
            "The 'future_columns' parameter of AutoML must be a list of column names (empty for "
            f"none). Got {show_value(asked)} instead."
        )
    for c in asked:
        if c in candidates:
            continue
        if c in excluded:
            why = "it is excluded"
        elif c in sd.static.columns:
            why = "it does not change over time within a series (it describes each series)"
        elif c in sd.ignored:
            why = sd.ignored[c]
        elif c in sd.ids.columns:
            why = "it is a series ID column"
        else:
            why = "it is not a column of the data (or it is the target or the time column)"
        raise ParameterError(
            f"'{c}' cannot be a future-value column: {why}. "
            + (
                f"The candidates are: {', '.join(candidates)}."
                if candidates
                else "No column of the data is a candidate (none changes over time)."
            )
        )
    return [c for c in candidates if c in asked]


def covariate_feature_names(
    past: list[str], lag: int, clock: Any, hol: tuple[str, str | None] | None
) -> dict[str, str]:
    """Readable names of the past-value and holiday features."""
    names = {f"past:{c}": f"{c}: {clock.plural(lag)} before" for c in past}
    if hol is not None:
        where = hol[0] if hol[1] is None else f"{hol[0]}-{hol[1]}"
        for key in holiday_names(daily_holidays(clock)):
            names[key] = holiday_words(key, where)
    return names


def check_feature_names(layout: Layout) -> None:
    """A column of the data may not have the name of a feature Easel makes."""
    made = [
        *layout.plan.calendar,
        *(v for k, v in layout.names.items() if not k.startswith("past:")),
        *(n for c, n in layout.covariate_names().items() if c in layout.past_columns),
    ]
    own = [*layout.id_columns, *layout.static_columns, *layout.future_columns]
    clash = [c for c in own if c in made]
    if clash:
        raise DataError(
            f"The column '{clash[0]}' has the name of a feature Easel makes for the forecast. "
            "Rename it (or exclude it) and build again."
        )


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


def check_lengths(sd: SeriesData, horizon: int) -> np.ndarray:
    """The lengths of the series long enough to shape the features (at least the horizon and
    4 periods; shorter ones are forecast too, see ``series_methods``); an error when even the
    longest is too short for the horizon."""
    lengths = np.asarray([len(v) for v in sd.values])
    need = 2 * horizon + 8
    if lengths.max() < need:
        longest = int(lengths.max())
        shorter = (longest - 8) // 2  # the longest horizon this history can forecast and check
        fix = (
            f"Choose a shorter horizon (at most {sd.clock.plural(shorter)}) or add history."
            if 1 <= shorter < horizon
            else f"Add history: forecasting even {sd.clock.plural(1)} ahead needs at least "
            f"{sd.clock.plural(10)}."
        )
        raise DataError(
            f"The series are too short to forecast {sd.clock.plural(horizon)} ahead and check "
            f"it: the longest has {sd.clock.plural(longest)}, at least {need} are needed. {fix}"
        )
    return lengths[lengths >= horizon + 4]


def window_rows(per: np.ndarray, origin: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows a backtest window learns from (periods up to ``origin``) and the rows it
    forecasts (the next ``horizon`` periods)."""
    return (
        np.flatnonzero(per <= origin),
        np.flatnonzero((per > origin) & (per <= origin + horizon)),
    )


def backtest_origins(
    per: np.ndarray, cutoff: int, horizon: int, asked: int | None, sd: SeriesData
) -> list[int]:
    """The backtest windows' origins, earliest first: ``asked`` (default up to 3) windows of
    ``horizon`` periods each, one after the other, ending where the held-out periods begin.
    Each window learns from at least 10 rows and half of the rows before the hold-out."""
    if asked is not None and (
        not isinstance(asked, int | np.integer) or isinstance(asked, bool) or asked < 1
    ):
        raise ParameterError(
            "The 'backtests' parameter of AutoML must be a positive whole number of windows. "
            f"Got {show_value(asked)} instead."
        )
    least = max(10, 0.5 * int((per <= cutoff).sum()))

    def fits(k: int) -> bool:
        tr, va = window_rows(per, cutoff - k * horizon, horizon)
        return len(va) > 0 and len(tr) >= least

    allowed = 0
    while allowed < max(asked or BACKTESTS, BACKTESTS) and fits(allowed + 1):
        allowed += 1
    unit = sd.clock.plural(horizon)
    if allowed == 0:
        raise DataError(
            f"The series are too short to check a {unit} forecast on a stretch of history "
            "before the held-out periods. Shorten the horizon or add history."
        )
    if asked is not None and asked > allowed:
        raise DataError(
            f"{plural(int(asked), 'backtest')} of {unit} each need more history than the data "
            f"has: it allows at most {allowed} (each window's model must learn from at least "
            "half of the periods before the held-out ones). Ask for at most "
            f"{allowed}, shorten the horizon or add history."
        )
    n = int(asked) if asked is not None else min(BACKTESTS, allowed)
    if asked is None and n < BACKTESTS:
        sd.notes.append(
            f"The history allows {plural(n, 'backtest window')} of {unit} (not {BACKTESTS}); "
            "a longer history would check the forecast on more windows."
        )
    return [cutoff - k * horizon for k in range(n, 0, -1)]


def make_search(run: FitRun, f: SeriesFit) -> Search:
    """The search, with a deadline that reserves time to retrain and forecast the kept ones."""

    stats = stats_worth(f, run.budget)
    n_train = int(f.train_mask.sum())

    def deadline() -> float:
        ranked = search.ranked()
        if not ranked:  # the first model may use all the time there is (a model cut short by
            # the deadline beats none: the kept candidates' fits are sized to the time left)
            return run.end - 0.5
        reserve = 0.06 * run.budget + 0.5
        if stats:  # time for the statistical methods of each series, when it can reach them
            reserve += STATS_SHARE * run.budget
        # each kept one is trained for every backtest window, the hold-out and (the default)
        # on every period: a trial's seconds per fit (its folds cover the recursive forecasts)
        fits = len(f.origins) + 2
        searched = len(f.search_idx)
        need = sum(fit_cost(r, 1, n_train, searched) for r in choose_kept(ranked, 3)) * 1.2 * fits
        reserve += min(need, KEPT_SHARE * run.budget)
        return max(run.end - reserve, run.start + 0.5)

    search = Search(
        "regression", 1, f.metric, f.families, run.seed, run.start, deadline, run.progress,
        run.settings["tuning_share"], run.options.max_trials, run.runner,
    )  # fmt: skip
    return search


def keep_best(run: FitRun, f: SeriesFit, ranked: list[TrialRecord]) -> tuple[Kept, HoldoutForecast]:
    """Each kept candidate: trained on the periods before each backtest window, it forecasts
    the window step by step; the spread of its errors there gives the quantiles. Then, trained
    on every period before the hold-out, it forecasts the held-out periods (with quantiles
    alike). The default is the one with the best mean metric over the backtests."""
    train_idx = np.flatnonzero(f.train_mask)
    # each encoding of the rows a kept candidate learns from (those placed before its size),
    # made once one needs it: (size, positions in train_idx, the encoded rows)
    X_train: dict[str, tuple[int, np.ndarray, Any]] = {}

    def encoded(encoding: str, size: int) -> tuple[np.ndarray, Any]:
        if encoding not in X_train or X_train[encoding][0] < size:
            X_train.pop(encoding, None)  # (a smaller sample's rows are let go first)
            at = np.flatnonzero(place < size)
            rows = f.X_all.iloc[train_idx[at]]
            X_train[encoding] = (size, at, encode(f.pre, rows, {encoding})[encoding])
        return X_train[encoding][1], X_train[encoding][2]

    y_train = f.dev_all[train_idx]
    windows = [make_window(f, o, f.per_all[train_idx]) for o in f.origins]
    hold_w = make_window(f, f.cutoff, f.per_all[train_idx])
    cats = f.sdata.categorical
    levels = offset_levels(f.quantiles)
    found: dict[int, tuple[float, np.ndarray, list[np.ndarray], Calibrated]] = {}
    # a row's place in one random order: a sample of n rows is the rows placed before n
    place = np.empty(len(train_idx), dtype=np.int64)
    place[np.random.default_rng(run.seed).permutation(len(train_idx))] = np.arange(len(train_idx))
    stats = STATS_SHARE * run.budget if stats_worth(f, run.budget) else 0.0
    after = 0.03 * run.budget + 0.5 + stats  # what the statistical methods and the end need
    folds = max(len(f.sdata.folds), 1)
    sizes: dict[int, int] = {}  # each kept candidate's rows (of those before the hold-out)

    def fit_rows(rec: TrialRecord, rows: np.ndarray, deadline: float) -> Candidate:
        cls = get_candidate(rec.candidate)
        ctx = FitContext("regression", 1, deadline, run.seed)
        rows = rows[place[rows] < sizes[rec.id]]  # (every row when it is all of them)
        at, X = encoded(cls.encoding, sizes[rec.id])
        if len(rows) < len(at):
            X = X[np.searchsorted(at, rows)]
        params = kept_params(rec, sizes[rec.id], len(f.search_idx))
        return cls(params).fit(X, y_train[rows], ctx, categorical=cats)

    def train(rec: TrialRecord, deadline: float) -> tuple[Candidate, float, str]:
        left = run.end - time.monotonic() - after
        if not sizes:  # the best: every backtest window, the hold-out and the refit
            seconds, fits = FIRST_KEPT_SHARE * left, len(windows) + 2
        else:  # the others: what the default's refit leaves
            seconds, fits = left - refit_need(), len(windows) + 1
        sizes[rec.id] = rows_within(rec, folds, len(train_idx), seconds, fits, len(f.search_idx))
        t_fit = time.monotonic()
        cand = fit_rows(rec, hold_w.rows, deadline)
        kept_fit_seconds[rec.id] = seconds = time.monotonic() - t_fit
        return (
            cand,
            seconds,
            rows_words(
                sizes[rec.id], len(train_idx), "periods before the hold-out", "before the hold-out"
            ),
        )

    kept_fit_seconds: dict[int, float] = {}

    def refit_need() -> float:  # the default's refit, whichever kept one it is
        return 1.5 * max(kept_fit_seconds.values(), default=0.0)

    def fits_in_time(rec: TrialRecord) -> bool:
        """Another kept candidate: its fits on its trial's rows fit in the time left."""
        least = min(rec.rows or len(train_idx), len(train_idx))
        fit = fit_cost(rec, folds, least, len(f.search_idx))
        need = (len(windows) + 1) * fit + refit_need()
        return need <= run.end - time.monotonic() - after

    def evaluate(rec: TrialRecord, cand: Candidate) -> tuple[np.ndarray, dict[str, Any], int]:
        deadline = run.end if not found else run.end - 0.5
        raw = [
            forecast_window(f, fit_rows(rec, w.rows, deadline), w) for w in windows
        ]  # the backtests
        offsets = calibrate(windows, raw, levels)
        t_pred = time.monotonic()
        point = forecast_window(f, cand, hold_w)
        values = len(f.sd.keys) * f.horizon  # the cost of forecasting, not the backtests' fits
        predict_ms = round(1e6 * (time.monotonic() - t_pred) / max(values, 1), 3)
        cal = calibrated(point, hold_w, offsets, levels)
        fields = {
            "holdout_metrics": window_metrics(hold_w, cal, f.quantiles),
            "predict_ms_per_1000_rows": predict_ms,
        }
        score = float(
            np.mean(
                [
                    window_metrics(w, calibrated(r, w, offsets, levels), [])[f.metric.name]
                    for w, r in zip(windows, raw, strict=True)
                ]
            )
        )
        found[rec.id] = (score, offsets, raw, cal)
        return cal.point, fields, values

    chosen = choose_kept(ranked, run.settings["keep_top"])
    kept = keep_candidates(run, chosen, train, evaluate, fits_in_time)
    for cid, seconds in kept.fit_seconds.items():
        kept.meta[str(cid)]["fit_seconds_final"] = round(seconds, 3)
    sign = -1.0 if f.metric.greater_is_better else 1.0
    did = kept.default_id = min(found, key=lambda cid: (sign * found[cid][0], cid))
    _, offsets, raw, cal = found[did]
    # each series' method: the model, a statistical method or a blend, on the backtests
    reserve = 0.03 * run.budget + 1.5 * kept.fit_seconds[did] + 0.5
    choice = choose_methods(
        f, windows, raw, hold_w, cal.point, run.end - reserve, stats_worth(f, run.budget)
    )
    f.sd.notes.extend(choice.notes)
    if choice.methods != f.methods:
        f.methods, f.stat_paths, raw = choice.methods, choice.paths, choice.windows
        offsets = calibrate(windows, raw, levels)
        cal = calibrated(choice.hold, hold_w, offsets, levels)
        kept.scores[did] = cal.point
        kept.meta[str(did)]["holdout_metrics"] = window_metrics(hold_w, cal, f.quantiles)
    backtests = [
        backtest_record(f, w, calibrated(r, w, offsets, levels))
        for w, r in zip(windows, raw, strict=True)
    ]
    hold = HoldoutForecast(
        hold_w.W, hold_w.has_history, hold_w.actual, hold_w.naive_scale, dict(kept.scores), cal,
        offsets, backtests, sizes[did] / max(len(train_idx), 1),
    )  # fmt: skip
    return kept, hold


def _scales_rounds(rec: TrialRecord) -> bool:
    return bool(rec.iterations) and get_candidate(rec.candidate).grows


def rounds_factor(rec: TrialRecord, rows: int, searched: int | None = None) -> float:
    """How many times its search's boosting rounds ``rec``'s configuration does on ``rows``
    rows: 1 but for a family that grows learning from more rows than the search had
    (``searched``, default its trial's rows; a search on every row leaves the rounds be)."""
    base = searched or rec.rows or rows
    if not _scales_rounds(rec) or rows <= base:
        return 1.0
    return float(min((rows / max(base, 1)) ** ROUNDS_EXPONENT, MAX_ROUNDS_FACTOR))


def kept_params(rec: TrialRecord, rows: int, searched: int | None = None) -> dict[str, Any]:
    """``rec``'s configuration for a fit on ``rows`` rows without validation rows: the
    search's rounds (see :func:`rounds_factor`)."""
    params = rec.fit_params()
    factor = rounds_factor(rec, rows, searched)
    if factor > 1.0 and "n_estimators" in params:
        params["n_estimators"] = max(1, round(params["n_estimators"] * factor))
    return params


def fit_cost(rec: TrialRecord, folds: int, rows: int, searched: int | None = None) -> float:
    """Predicted seconds of one fit of ``rec``'s configuration on ``rows`` rows: its trial's
    seconds over ``folds`` (:func:`_per_fit`), times the rows ratio to the search's
    ROWS_COST_EXPONENT (and the rounds' factor)."""
    ratio = (rows / max(rec.rows or rows, 1)) ** ROWS_COST_EXPONENT
    return _per_fit(rec, folds) * ratio * rounds_factor(rec, rows, searched)


def _per_fit(rec: TrialRecord, folds: int) -> float:
    """Seconds of a fit of ``rec``'s configuration on its trial's rows: a fold of the trial,
    less the rounds its early stopping did past the best (a fold of a LightGBM trial that
    stopped at 56 rounds did 106; its kept fits, predicted from whole folds, took a third of
    the time predicted)."""
    per_fold = rec.fit_seconds / max(folds, 1)
    patience = get_candidate(rec.candidate).patience
    if rec.iterations and patience:
        per_fold *= rec.iterations / (rec.iterations + patience)
    return per_fold


def rows_within(
    rec: TrialRecord,
    folds: int,
    most: int,
    seconds: float,
    fits: int,
    searched: int | None = None,
) -> int:
    """How many rows (at most ``most``; never fewer than its trial learned from) ``fits`` fits
    of ``rec``'s configuration may learn from in ``seconds`` (see :func:`fit_cost`)."""
    if fits * fit_cost(rec, folds, most, searched) <= seconds:
        return most
    per_fit = _per_fit(rec, folds)
    trial_rows = rec.rows or most
    if per_fit <= 0 or seconds <= 0:
        return min(most, trial_rows)
    exponent = ROWS_COST_EXPONENT + (ROUNDS_EXPONENT if _scales_rounds(rec) else 0.0)
    grown = trial_rows * (seconds / (fits * per_fit)) ** (1 / exponent)
    while grown > trial_rows and fits * fit_cost(rec, folds, int(grown), searched) > seconds:
        grown *= 0.95  # (the rounds' factor stops growing at MAX_ROUNDS_FACTOR: never above)
    return int(min(most, max(trial_rows, grown)))


def rows_words(n: int, total: int, every: str, which: str) -> str:
    """What a kept candidate learned from: ``every`` (all ``total`` rows), or a sample."""
    if n >= total:
        return every
    return f"a sample of {n:,} of the {total:,} rows {which} (as the time allowed)"


def make_window(f: SeriesFit, origin: int, per_train: np.ndarray) -> Window:
    """The window forecast from the history up to ``origin`` (the hold-out: ``f.cutoff``)."""
    sd = f.sd
    W, nxt = _tails(sd, f.layout.plan.lookback, origin)
    has_history = ~np.all(np.isnan(W), axis=1)
    actual = _actuals(sd, np.full(len(sd.keys), origin + 1), f.horizon)
    actual[~has_history] = np.nan
    scale = window_scale(W) if f.layout.scaled else np.ones(len(W))
    series_scale = np.asarray(
        [_naive_scale(_one(sd, j), origin) for j in range(len(sd.keys))], dtype=float
    )
    rows = np.flatnonzero(per_train <= origin)
    naive = np.asarray([m == "naive" for m in series_methods(sd, f.layout.plan, origin)])
    return Window(
        origin, W, nxt, has_history, actual, scale, _naive_scale(sd, origin), series_scale, rows,
        step_covariates(sd, f.layout, nxt, f.horizon), naive,
    )  # fmt: skip


def _one(sd: SeriesData, j: int) -> SeriesData:
    return SeriesData(
        [sd.keys[j]], sd.ids, sd.static, sd.start[j : j + 1], [sd.values[j]], sd.clock
    )


def forecast_window(f: SeriesFit, cand: Candidate, w: Window) -> np.ndarray:
    """``cand``'s recursive forecast of the window (series x steps; a series with too little
    history at the origin repeats its last value)."""
    raw = recursive_forecast(
        _predictor(f.pre, cand), f.layout, w.W, w.nxt, f.sd.ids, f.sd.static, f.horizon,
        w.covariates,
    )  # fmt: skip
    return naive_where(raw, w.W, w.naive)


def calibrate(windows: list[Window], raw: list[np.ndarray], levels: list[float]) -> np.ndarray:
    """The quantile table from the backtests: per step ahead, the quantiles at ``levels`` of
    the errors (in units of each series' scale) around their median, so that the P50 is the
    forecast itself and every range contains it. (The errors' median itself is not added to
    the forecasts: on the generated trend-and-season pair and the sample store data, what a
    model was off by in earlier windows did not carry over to the next ones, and moving the
    forecasts by it made them worse.)"""
    errors = np.stack(
        [(w.actual - r) / w.scale[:, None] for w, r in zip(windows, raw, strict=True)]
    )  # windows x series x steps
    per_step = errors.transpose(2, 0, 1).reshape(errors.shape[2], -1)  # steps x errors
    table = error_quantiles(per_step, levels)
    return np.round(table - table[:, [levels.index(0.5)]], 6)


def calibrated(raw: np.ndarray, w: Window, offsets: np.ndarray, levels: list[float]) -> Calibrated:
    """A forecast with its quantiles (its P50 is the forecast itself)."""
    return Calibrated(raw, levels, quantile_forecasts(raw, w.scale, offsets))


def window_metrics(w: Window, cal: Calibrated, quantiles: list[float]) -> dict[str, float]:
    """The window's metrics (with the weighted quantile loss of ``quantiles``)."""
    return forecast_metrics(
        w.actual, cal.point, w.naive_scale, {q: cal.at(q) for q in quantiles} or None
    )


def backtest_record(f: SeriesFit, w: Window, cal: Calibrated) -> dict[str, Any]:
    """One backtest window as the model file keeps it (see ``artifact.Backtest``)."""
    clock = f.sd.clock
    per_series = {}
    for j, key in enumerate(f.sd.keys):
        one = Window(
            w.origin, w.W[j : j + 1], w.nxt[j : j + 1], w.has_history[j : j + 1],
            w.actual[j : j + 1], w.scale[j : j + 1], float(w.series_scale[j]),
            w.series_scale[j : j + 1], w.rows,
        )  # fmt: skip
        sub = Calibrated(cal.point[j : j + 1], cal.levels, cal.quantiles[j : j + 1])
        m = window_metrics(one, sub, f.quantiles)
        if m:
            per_series[key] = m
    lo, hi = f.quantiles[0], f.quantiles[-1]
    return {
        "trained_through": clock.label(clock.times(np.asarray([w.origin])))[0],
        "periods": clock.label(clock.times(np.arange(w.origin + 1, w.origin + f.horizon + 1))),
        "metrics": window_metrics(w, cal, f.quantiles),
        "series_metrics": per_series,
        "actual": _cells(w.actual),
        "forecast": _cells(np.where(np.isnan(w.actual), np.nan, cal.point)),
        "low": _cells(np.where(np.isnan(w.actual), np.nan, cal.at(lo))),
        "high": _cells(np.where(np.isnan(w.actual), np.nan, cal.at(hi))),
    }


def _json_cells(a: np.ndarray) -> list[list[Any]]:
    """Numbers (None when missing) or text (None when missing), row by row."""
    if a.dtype == object:
        return [[None if v is None or pd.isna(v) else str(v) for v in row] for row in a]
    return [[None if np.isnan(v) else float(v) for v in row] for row in a]


def _cells(a: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in a]


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


def refit_default(run: FitRun, f: SeriesFit, kept: Kept, share: float = 1.0) -> tuple[bool, str]:
    """Refit the default on every period (the forecast starts where the data ends): on every
    row, or on the same ``share`` of them as it learned from before the hold-out."""
    did = kept.default_id
    rows = np.arange(len(f.dev_all))
    if share < 1.0:
        n = max(1, round(share * len(rows)))
        rows = np.sort(np.random.default_rng(run.seed).permutation(len(rows))[:n])
    model, _ = refit(
        run, kept.models[did], lambda enc: encode(f.pre, f.X_all.iloc[rows], {enc})[enc],
        f.dev_all[rows], f.sdata.categorical, "regression", 1,
        1.5 * kept.meta[str(did)]["fit_seconds_final"],
    )  # fmt: skip
    if model is None:
        return False, (
            "not refit on all periods: there was no time left in the budget, so the model "
            "trained before the hold-out is used"
        )
    kept.models[did] = model
    kept.meta[str(did)]["trained_on"] = rows_words(
        len(rows), len(f.dev_all), "all periods", "of all periods"
    )
    if share < 1.0:
        return True, (
            f"refit on a sample of {len(rows):,} of the {len(f.dev_all):,} rows of all periods "
            "(including the held-out ones; the share it learned from before them, as the time "
            "allowed) so the forecast starts from the latest data; the hold-out metrics come "
            "from the same configuration trained before them"
        )
    return True, (
        "refit on all periods (including the held-out ones) so the forecast starts from the "
        "latest data; the hold-out metrics come from the same configuration trained before them"
    )


def describe(
    run: FitRun,
    f: SeriesFit,
    rows: tuple[int, int],
    hold: HoldoutForecast,
    baselines: dict[str, Any],
    hold_rows: np.ndarray,
) -> Description:
    """What the model file says about the series, the hold-out and the forecast's range."""
    sd, horizon, opts = f.sd, f.horizon, run.options
    ids = f.layout.id_columns
    n_hold = int(hold_rows.sum())
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
            "total": rows[0],  # the dataset's rows, and those with a target value
            "with_target": rows[1],
            "search": int(len(f.search_idx)),
            "train": int(f.train_mask.sum()),
            "holdout": n_hold,
            "series": len(sd.keys),
        },
        validation=(
            f"one-step-ahead on {plural(len(f.origins), 'backtest window')} of {horizon} "
            f"{sd.clock.words}s before the hold-out; the default is the kept candidate whose "
            "forecasts of those windows (step by step) have the best mean "
            f"{f.metric.name.upper()}"
        ),
        holdout_description=(
            f"the last {horizon} {sd.clock.words}s of every series ({n_hold} values), forecast "
            "step by step from the history before them and never seen by the search"
        ),
        warnings=list(sd.notes),
        extra={
            "problem_type": "timeseries",
            "timeseries": series_meta(f, hold, baselines),
        },
    )


def series_meta(f: SeriesFit, hold: HoldoutForecast, baselines: dict[str, Any]) -> dict[str, Any]:
    """What forecasting needs later: the layout, each series' last window and correction, the
    quantile table; and the backtests."""
    sd = f.sd
    static_cols = f.layout.static_columns
    W_end, nxt_end = _tails(sd, f.layout.plan.lookback)
    static = sd.static[static_cols]
    lag, kinds = f.layout.past_lag, f.layout.kinds
    tails = {
        c: take(sd.covariates[c], sd.start, nxt_end - lag, lag, kinds[c])
        for c in [*f.layout.future_columns, *f.layout.past_columns]
    }
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
            "methods": f.methods,
            "stat_forecasts": f.stat_paths,
            "covariate_tails": {c: _json_cells(v) for c, v in tails.items()},
        },
        "holdout_periods": sd.clock.label(sd.clock.times(np.arange(f.cutoff + 1, f.last + 1))),
        "quantiles": f.quantiles,
        "quantile_offsets": hold.offsets.tolist(),
        "backtests": hold.backtests,
        "baselines": baselines,
        "mase_scale": hold.scale,
        "ignored_columns": sd.ignored,
    }


def error_quantiles(errors: np.ndarray, levels: list[float]) -> np.ndarray:
    """Per forecast step (rows of ``errors``: actual - forecast, scaled), the errors' quantiles
    at ``levels``. Steps with fewer than 20 errors use all steps' errors, widened like a random
    walk (square root of the step)."""
    steps = errors.shape[0]
    pooled = [e[~np.isnan(e)] / np.sqrt(h + 1) for h, e in enumerate(errors)]
    base = np.concatenate(pooled) if pooled else np.empty(0)
    out = np.zeros((steps, len(levels)))
    for h, e in enumerate(errors):
        e = e[~np.isnan(e)]
        if len(e) >= 20:
            out[h] = np.quantile(e, levels)
        elif len(base):
            out[h] = np.quantile(base, levels) * np.sqrt(h + 1)
    return np.round(out, 6)


def holdout_frame(
    f: SeriesFit, hold_rows: np.ndarray, hold: HoldoutForecast, naive: np.ndarray
) -> pd.DataFrame:
    """Held-out periods: the feature rows (for explanations), the actual value, each kept
    candidate's forecast, the default's lowest and highest quantiles and the naive forecast,
    with series, time and step."""
    forecasts, calibration, quantiles = hold.forecasts, hold.calibrated, f.quantiles
    rows = f.X_all.loc[hold_rows].reset_index(drop=True)
    pos = f.pos_all[hold_rows]
    step = f.per_all[hold_rows] - f.cutoff - 1
    rows["__target__"] = f.y_all[hold_rows]
    for cid, fc in forecasts.items():
        rows[f"__score_{cid}"] = fc[pos, step]
    rows["__naive__"] = naive[pos, step]
    lo, hi = calibration.at(quantiles[0]), calibration.at(quantiles[-1])
    rows["__low__"] = lo[pos, step]  # the default's lowest and highest quantiles
    rows["__high__"] = hi[pos, step]
    rows["__series__"] = [f.sd.keys[j] for j in pos]
    rows["__time__"] = f.sd.clock.times(f.per_all[hold_rows])
    rows["__step__"] = step + 1
    return rows
