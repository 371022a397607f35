"""Time series: the clock, the series layout, the features, and forecasting with a trained model.

Numbers over time, one or many series, forecast a few periods ahead. Training lives in
:mod:`automl.training.forecast`; this module is what both training and a saved model use.
How it works (the same candidates and search as the other problem types):

1. **Clock.** The time column is read as dates; the period (minute ... year, or business days) is
   found from the most common gap between rows. Each series is laid on a regular grid of periods;
   missing periods are gaps (never training targets, skipped by the features). Several rows in one
   period of a series are an error unless the user chose to add them up or average them.
2. **Features.** For every period, what was known just before it: the recent level (average of the
   last few periods), earlier values and rolling averages *relative to that level*, the recent
   spread, calendar parts (day of week, month ...), the series ID and columns that are constant
   within a series. The model predicts the change from the level, so trends and series of very
   different size share one model.
3. **Honest check.** The last ``horizon`` periods are held out. Candidates are tuned on
   one-step-ahead validation windows before them; the kept candidates then *forecast* the held-out
   periods recursively (each forecast feeds the next step, as in real use) and that is the
   reported score, next to the naive forecasts (repeat the last value; repeat last season).
4. **Backtests.** The kept candidates also forecast several earlier windows of ``horizon``
   periods (rolling origins), each learning only from the periods before its window; the
   default is the one with the best mean over them, and the spread of their errors (per step
   ahead, in units of each series' scale) gives the quantiles.
5. **Forecast.** The chosen candidate is refit on all periods and forecasts from the end of each
   series (or from new history): ``prediction`` (the P50) and one column per quantile.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl.artifact import MAX_HORIZON_FACTOR, method_ok
from automl.candidates import Candidate
from automl.candidates._stats_ts import forecast_one
from automl.covariates import (
    check_fill,
    classify,
    convert,
    empty,
    grids,
    holiday_features,
    take,
)
from automl.errors import BudgetError, DataError, ParameterError, TargetError
from automl.preprocess import InputReport, Preprocessor
from automl.task import check_finite_target
from automl.words import plural, rows_text, show_value

if TYPE_CHECKING:
    from automl.artifact import ModelMeta
    from automl.model import Model

DAY = 86_400
AGGREGATIONS = ("sum", "mean")
QUANTILES = (0.1, 0.5, 0.9)  # the forecast's quantiles unless the user picks others
MAX_QUANTILES = 20
# Series may span at most this many periods per row (95% of them empty), once they span more
# than MIN_SPAN_CHECKED periods in all: each series is laid on a grid of the periods it spans.
MAX_EMPTY_SHARE = 20
MIN_SPAN_CHECKED = 1_000_000
BACKTESTS = 3  # rolling windows before the hold-out, unless the user picks another number
METRICS = ("rmse", "mae")  # what the search can optimize for a forecast


# ---------------------------------------------------------------------------------- the clock
@dataclass
class Clock:
    """Maps timestamps to whole period numbers and back.

    ``kind``: "fixed" (a fixed number of seconds per period), "business" (Monday to Friday) or
    "months" (1 = monthly, 3 = quarterly, 12 = yearly; ``anchor`` "start" or "end" of the month).
    """

    kind: str
    step: int
    origin: str
    anchor: str = "start"

    @property
    def words(self) -> str:
        if self.kind == "business":
            return "business day"
        if self.kind == "months":
            return {1: "month", 3: "quarter", 12: "year"}.get(self.step, f"{self.step} months")
        for unit, secs in (("week", 7 * DAY), ("day", DAY), ("hour", 3600), ("minute", 60)):
            if self.step % secs == 0:
                n = self.step // secs
                return unit if n == 1 else f"{n} {unit}s"
        return f"{self.step} seconds"

    @property
    def daily_or_coarser(self) -> bool:
        return self.kind != "fixed" or self.step % DAY == 0

    def plural(self, n: int) -> str:
        """``n`` periods in words: "1 day", "14 days", "3 15-minute periods"."""
        w = self.words
        if w[0].isdigit():
            return f"{n} x {w}"
        return f"{n} {w}" + ("s" if n != 1 else "")

    def label(self, times: pd.DatetimeIndex) -> list[str]:
        """Times as text: dates for daily or coarser periods, date and time otherwise."""
        fmt = "%Y-%m-%d" if self.daily_or_coarser else "%Y-%m-%d %H:%M"
        return [str(x) for x in times.strftime(fmt)]

    def index(self, times: pd.Series) -> np.ndarray:
        """Whole period numbers (a time between two periods belongs to the earlier one)."""
        t = pd.to_datetime(times)
        if self.kind == "months":
            o = pd.Timestamp(self.origin)
            m = (t.dt.year * 12 + t.dt.month - 1) - (o.year * 12 + o.month - 1)
            return np.floor_divide(m.to_numpy(np.int64), self.step)
        if self.kind == "business":
            days = t.dt.floor("D").to_numpy("datetime64[D]")
            return np.busday_count(np.datetime64(self.origin[:10], "D"), days).astype(np.int64)
        secs = (t - pd.Timestamp(self.origin)).dt.total_seconds().to_numpy()
        return np.floor(secs / self.step + 1e-9).astype(np.int64)

    def times(self, idx: np.ndarray) -> pd.DatetimeIndex:
        idx = np.asarray(idx, dtype=np.int64)
        if self.kind == "months":
            o = pd.Timestamp(self.origin)
            m = o.year * 12 + o.month - 1 + idx * self.step
            start = pd.to_datetime(pd.DataFrame({"year": m // 12, "month": m % 12 + 1, "day": 1}))
            if self.anchor == "end":
                start = start + pd.offsets.MonthEnd(0)
            return pd.DatetimeIndex(start)
        if self.kind == "business":
            d = np.busday_offset(np.datetime64(self.origin[:10], "D"), idx, roll="forward")
            return pd.DatetimeIndex(d.astype("datetime64[ns]"))
        return pd.Timestamp(self.origin) + pd.to_timedelta(idx * self.step, unit="s")


def infer_clock(times: pd.Series, keys: pd.Series) -> Clock:
    """The period of the data: the most common gap between consecutive times of a series."""
    frame = pd.DataFrame({"t": times.to_numpy(), "k": keys.to_numpy()}).drop_duplicates()
    frame = frame.sort_values(["k", "t"])
    gaps = frame.groupby("k", sort=False)["t"].diff().dropna().dt.total_seconds()
    gaps = gaps[gaps > 0]
    if gaps.empty:
        raise DataError(
            "Every series has a single time, so there is no history to learn from. A time "
            "series needs several rows per series at different times."
        )
    values, counts = np.unique(np.round(gaps.to_numpy()), return_counts=True)
    gap = int(values[np.argmax(counts)])
    t = frame["t"]
    if 27 * DAY <= gap <= 31 * DAY or 89 * DAY <= gap <= 92 * DAY or 364 * DAY <= gap <= 366 * DAY:
        step = 1 if gap <= 31 * DAY else (3 if gap <= 92 * DAY else 12)
        first = t.min()
        anchor = "end" if bool(t.dt.is_month_end.all()) else "start"
        origin = pd.Timestamp(year=first.year, month=first.month, day=1)
        return Clock("months", step, origin.isoformat(), anchor)
    prev = frame.groupby("k", sort=False)["t"].shift()
    fri_to_mon = (prev.dt.day_of_week == 4) & ((frame["t"] - prev) == pd.Timedelta(days=3))
    if gap == DAY and not bool((t.dt.day_of_week >= 5).any()) and bool(fri_to_mon.any()):
        first = t.min().floor("D")
        return Clock("business", 1, first.isoformat())
    unit = "D" if gap % DAY == 0 else ("h" if gap % 3600 == 0 else "min")
    first = t.min().floor(unit) if gap >= 60 else t.min()
    return Clock("fixed", gap, first.isoformat())


@dataclass
class Plan:
    """What the features look back at, in periods, and the default horizon."""

    season: int
    lags: list[int]
    windows: list[int]
    level: int
    horizon: int
    calendar: list[str]

    @property
    def lookback(self) -> int:
        return max([*self.lags, *self.windows, self.level])


def plan_for(clock: Clock) -> Plan:
    if clock.kind == "months":
        if clock.step == 1:
            return Plan(12, [1, 2, 3, 4, 6, 12, 24], [3, 12], 12, 6, ["month"])
        if clock.step == 3:
            return Plan(4, [1, 2, 3, 4, 8], [4], 4, 4, ["quarter"])
        return Plan(1, [1, 2, 3], [3], 1, 3, [])
    if clock.kind == "business":
        return Plan(5, [1, 2, 3, 4, 5, 10, 20], [5, 20], 5, 10, ["day of week", "month"])
    s = clock.step
    if s == DAY:
        lags = [1, 2, 3, 4, 5, 6, 7, 14, 21, 28, 364]
        cal = ["day of week", "day of month", "month"]
        return Plan(7, lags, [7, 28], 7, 14, cal)
    if s == 7 * DAY:
        return Plan(52, [1, 2, 3, 4, 8, 13, 26, 52], [4, 13, 52], 4, 8, ["week of year", "month"])
    if s == 3600:
        lags = [1, 2, 3, 4, 5, 6, 12, 24, 48, 168]
        return Plan(24, lags, [6, 24, 168], 24, 24, ["hour", "day of week"])
    if s < DAY and DAY % s == 0:
        per_day = DAY // s
        season = per_day if per_day <= 288 else max(1, 3600 // s)
        lags = sorted({1, 2, 3, 4, 6, 12, season})
        return Plan(
            season,
            lags,
            sorted({min(12, season), season}),
            min(4, season),
            min(season, 48),
            ["hour", "day of week"],
        )
    return Plan(1, [1, 2, 3, 4, 6, 8], [4], 3, 6, ["month"])


def fit_plan(plan: Plan, typical_length: int, horizon: int | None) -> Plan:
    """Keep what the series are long enough to use."""
    cap = max(1, typical_length // 2)
    lags = [k for k in plan.lags if k <= cap] or [1]
    windows = [w for w in plan.windows if 2 <= w <= cap]
    h = plan.horizon if horizon is None else horizon
    return Plan(plan.season, lags, windows, min(plan.level, cap), h, plan.calendar)


# ---------------------------------------------------------------------------------- features
def _calendar(times: pd.DatetimeIndex, parts: list[str]) -> dict[str, np.ndarray]:
    get = {
        "day of week": lambda t: t.day_of_week,
        "day of month": lambda t: t.day,
        "month": lambda t: t.month,
        "quarter": lambda t: t.quarter,
        "week of year": lambda t: t.isocalendar().week.to_numpy(),
        "hour": lambda t: t.hour,
    }
    return {p: np.asarray(get[p](times), dtype=np.float64) for p in parts}


def feature_names(target: str, plan: Plan, unit: str) -> dict[str, str]:
    """Readable names of the generated columns (they appear in column impact and reasons)."""
    unit1 = unit if " " not in unit else unit.split(" ", 1)[1].rstrip("s")

    def n(k: int) -> str:
        return f"{k} {unit1}" + ("s" if k > 1 else "")

    names = {"level": f"{target}: average of last {n(plan.level)}"}
    names["spread"] = f"{target}: spread of last {n(plan.level)}"
    for k in plan.lags:
        names[f"lag{k}"] = f"{target}: {n(k)} before, vs average"
    for w in plan.windows:
        names[f"roll{w}"] = f"{target}: average of last {n(w)}, vs average"
    return names


def window_features(
    windows: np.ndarray,
    plan: Plan,
    names: dict[str, str],
    scaled: bool = True,
    scale: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Features from each row's look-back window (oldest ... newest value before the period).

    Returns the features, the level they are relative to (NaN where nothing is known) and the
    window's scale (see :func:`window_scale`; ``scale`` when the caller has it already, as
    :func:`training_rows` does): earlier values and averages are measured from the level in
    units of that scale, so series of any size, and a series whose size grows, share one
    model. ``scaled=False`` (models of schema 3 and older): the scale is 1. Only the few
    newest values and the rows without them are read whole, so ``windows`` may be a view."""
    L = windows.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-gap windows give NaN, on purpose
        level = np.asarray(np.nanmean(windows[:, L - plan.level :], axis=1), dtype=float)
        gaps = np.flatnonzero(np.isnan(level))
        if len(gaps):  # nothing known recently: the whole window's average
            level[gaps] = np.nanmean(windows[gaps], axis=1)
        if not scaled:
            scale = np.ones(len(windows))
        elif scale is None:
            scale = window_scale(windows)
        out: dict[str, np.ndarray] = {names["level"]: level}
        spread = (
            np.nanstd(windows[:, L - plan.level :], axis=1)
            if plan.level > 1
            else np.abs(windows[:, -1] - windows[:, -2])
            if L > 1
            else np.zeros(len(windows))
        )
        out[names["spread"]] = spread / scale
        for k in plan.lags:
            out[names[f"lag{k}"]] = (windows[:, L - k] - level) / scale
        for w in plan.windows:
            out[names[f"roll{w}"]] = (np.nanmean(windows[:, L - w :], axis=1) - level) / scale
    return out, level, scale


def window_scale(windows: np.ndarray) -> np.ndarray:
    """Each window's typical change from one period to the next (the mean absolute difference,
    gaps skipped); where the window has no such change, a hundredth of its mean absolute value,
    and 1 for a window of zeros. Never zero, never missing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        step = (
            np.nanmean(np.abs(np.diff(windows, axis=1)), axis=1)
            if windows.shape[1] > 1
            else (np.full(len(windows), np.nan))
        )
        size = 0.01 * np.nanmean(np.abs(windows), axis=1)
    scale = np.where(np.isfinite(step) & (step > 0), step, size)
    return np.asarray(np.where(np.isfinite(scale) & (scale > 0), scale, 1.0), dtype=float)


def rolling_scale(pad: np.ndarray, L: int, n: int) -> np.ndarray:
    """:func:`window_scale` of the look-back windows ``pad[i : i + L]``, ``i < n``, of one
    series (``pad``: the series after ``L`` missing values), summed along the series: the
    window matrix (periods x ``L``, a daily layout's 364-period look-back) is never made."""
    if L < 2:
        return window_scale(np.lib.stride_tricks.sliding_window_view(pad, L)[:n])
    d = np.abs(np.diff(pad))
    known = ~np.isnan(d)
    total = np.lib.stride_tricks.sliding_window_view(np.where(known, d, 0.0), L - 1)[:n]
    counts = np.concatenate([[0], np.cumsum(known)])
    with np.errstate(invalid="ignore", divide="ignore"):
        step = total.sum(axis=1) / (counts[L - 1 : L - 1 + n] - counts[:n])
    bad = np.flatnonzero(~(np.isfinite(step) & (step > 0)))
    if len(bad):  # no change in the window: window_scale's other rules, on those rows only
        step[bad] = window_scale(np.lib.stride_tricks.sliding_window_view(pad, L)[bad])
    return np.asarray(step, dtype=float)


# ---------------------------------------------------------------------------------- the spec
@dataclass
class SeriesData:
    """The data on its grid: one row per (series, period); ``y`` is NaN in gaps."""

    keys: list[str]
    ids: pd.DataFrame  # one row per series: the ID columns' values
    static: pd.DataFrame  # one row per series: columns constant within each series
    start: np.ndarray  # first period of each series
    values: list[np.ndarray]  # per series, from its first to its last period
    clock: Clock
    notes: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    # columns that change over time (candidates for future values): their kind and, per
    # series, their values on the same grid as ``values``
    kinds: dict[str, str] = field(default_factory=dict)
    covariates: dict[str, list[np.ndarray]] = field(default_factory=dict)
    filled: int = 0  # target periods filled (see ``fill``)

    def subset(self, rows: np.ndarray) -> SeriesData:
        """The series at positions ``rows`` (in that order)."""
        return SeriesData(
            [self.keys[j] for j in rows],
            self.ids.iloc[rows].reset_index(drop=True),
            self.static.iloc[rows].reset_index(drop=True),
            self.start[rows],
            [self.values[j] for j in rows],
            self.clock,
            self.notes,
            self.ignored,
            self.kinds,
            {c: [g[j] for j in rows] for c, g in self.covariates.items()},
            self.filled,
        )


def series_key(ids: pd.DataFrame) -> pd.Series:
    if ids.shape[1] == 0:
        return pd.Series(["all"] * len(ids), index=ids.index, dtype=object)
    text = ids.astype("string").fillna("(missing)")
    key = text.iloc[:, 0].astype(str)
    for c in text.columns[1:]:
        key = key + " / " + text[c].astype(str)
    return key.astype(object)


def parse_times(s: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        t = s
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = pd.to_datetime(s, errors="coerce", format="mixed")
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(None)
    bad = t.isna() & s.notna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"The time column '{column}' has {plural(int(bad.sum()), 'value')} that cannot be "
            f"read as a date or time, e.g. {show_value(s.iloc[first])} in row {first + 1}. Fix "
            "them, or choose another time column."
        )
    far = t.notna() & ((t < pd.Timestamp.min) | (t > pd.Timestamp.max))
    if far.any():  # (a time is held in nanoseconds: from 1677 to 2262)
        first = int(np.flatnonzero(far.to_numpy())[0])
        raise DataError(
            f"The time column '{column}' has {plural(int(far.sum()), 'date')} outside the years "
            f"1678 to 2261 that forecasts work with, e.g. {show_value(s.iloc[first])} in row "
            f"{first + 1}. Fix them (a date such as 9999-12-31 often stands for 'none'), or "
            "leave those rows out."
        )
    return t.astype("datetime64[ns]")


def written_ways(s: pd.Series, most: int = 3) -> list[str]:
    """One example of each way the text of time column ``s`` writes its dates (2023-01-02,
    02/01/2023 and Jan 02 2023 are three ways), at most ``most``; [] for a column of dates.
    A time of day after the date does not make another way (2023-01-02 10:30 is a first way)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return []
    text = pd.Series(s.dropna().astype(str).unique()[:100_000])
    shapes = (
        text.str.replace(r"[0-9]+", "9", regex=True)
        .str.replace(r"[^\W\d_]+", "a", regex=True)
        .str.replace(r"[ T]9:9.*$", "", regex=True)
    )
    first = ~shapes.duplicated()
    return list(text[first])[:most] if int(first.sum()) > 1 else []


def to_series(
    df: pd.DataFrame,
    target: str,
    time_column: str,
    id_columns: list[str],
    aggregate: str | None = None,
    clock: Clock | None = None,
    numeric_target: bool = True,
    fill: str = "skip",
    covariates: dict[str, str] | None = None,
    column_types: dict[str, str] | None = None,
) -> SeriesData:
    """Check the columns and lay every series on a regular grid of periods.

    ``fill``: what a period without a target value becomes (skip: a gap; zero; interpolate).
    Columns that change over time within a series are classified (``column_types``: the
    user's types), and the candidates for future values laid on the grid too; ``covariates``
    (name -> kind) names them instead (a forecast's history)."""
    for col, role in [(target, "target"), (time_column, "time")] + [
        (c, "series ID") for c in id_columns
    ]:
        if col not in df.columns:
            raise DataError(
                f"The {role} column '{col}' is not in the data. The columns are: "
                f"{', '.join(map(str, df.columns))}."
            )
    if time_column == target or time_column in id_columns or target in id_columns:
        raise ParameterError(
            "The target, the time column and the series ID columns must be different columns."
        )
    if aggregate is not None and aggregate not in AGGREGATIONS:
        raise ParameterError(
            f"'aggregate' must be one of {', '.join(AGGREGATIONS)} or None. Got {aggregate!r}."
        )
    notes: list[str] = []
    times = parse_times(df[time_column], time_column)
    y = df[target]
    if numeric_target:
        if pd.api.types.is_bool_dtype(y.dtype) or pd.api.types.is_datetime64_any_dtype(y.dtype):
            y = pd.Series(np.nan, index=df.index)
        num = pd.to_numeric(y, errors="coerce")
        bad = num.isna() & y.notna()
        if bad.all() or (bad.any() and bad.mean() > 0.05):
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise TargetError(
                f"A time series forecast predicts numbers, but the target '{target}' has "
                f"{plural(int(bad.sum()), 'value')} that cannot be read as a number, e.g. "
                f"{show_value(df[target].iloc[first])} in row {first + 1}. Choose a numeric "
                "target, or fix those values."
            )
        if bad.any():
            notes.append(
                f"{plural(int(bad.sum()), 'value')} of '{target}' that are not numbers were "
                "treated as missing."
            )
        y = num.astype("float64")
        check_finite_target(y, target)
    keep = times.notna().to_numpy()
    if not keep.all():
        notes.append(
            f"{rows_text(int((~keep).sum()))} without a time in '{time_column}' left out (a row "
            "needs a time to be placed in its series)."
        )
    frame = df.loc[keep, id_columns].copy()
    frame["__t"] = times[keep]
    frame["__y"] = y[keep]
    frame["__k"] = series_key(frame[id_columns])
    if frame.empty:
        raise DataError(f"No row has a time in '{time_column}'; choose another time column.")
    if clock is None:
        clock = infer_clock(frame["__t"], frame["__k"])
    frame["__i"] = clock.index(frame["__t"])
    dup = frame.duplicated(["__k", "__i"], keep=False)
    if dup.any():
        ways = written_ways(df[time_column])
        if ways:  # (adding up or averaging them would mix up periods)
            raise DataError(
                f"The time column '{time_column}' writes its dates in several ways (e.g. "
                f"{', '.join(ways)}), so some are read wrongly: a date like 02/01/2023 can mean 1 "
                "February or 2 January, and here rows of the same series fall on the same "
                f"{clock.words}. Write every date the same way (year-month-day, like 2023-01-02, "
                "is the safest) and use the corrected file."
            )
        if aggregate is None:
            ex = frame.loc[dup].iloc[0]
            where = "" if not id_columns else f" of series {show_value(ex['__k'])}"
            when = clock.label(pd.DatetimeIndex([ex["__t"]]))[0]
            raise DataError(
                f"{int(dup.sum()):,} rows share a {clock.words} with another row of the same "
                f"series, e.g. {when}{where}. A forecast needs one value per {clock.words}: choose "
                "to add them up or average them, or pick the column that tells those rows apart "
                "as a series ID."
            )
        notes.append(
            f"{int(dup.sum()):,} rows that share a {clock.words} within a series were combined "
            f"({'added up' if aggregate == 'sum' else 'averaged'})."
        )
    _check_span(frame, clock)
    grouped = frame.groupby(["__k", "__i"], sort=True)["__y"]
    agg = grouped.sum(min_count=1) if aggregate == "sum" else grouped.mean()
    keys: list[str] = []
    values: list[np.ndarray] = []
    starts: list[int] = []
    gaps = 0
    for key, s in agg.groupby(level=0, sort=False):
        idx = s.index.get_level_values(1).to_numpy(np.int64)
        grid = np.full(int(idx.max() - idx.min() + 1), np.nan)
        grid[idx - idx.min()] = s.to_numpy(dtype=float)
        gaps += int(np.isnan(grid).sum())
        keys.append(str(key))
        values.append(fill_gaps(grid, fill))
        starts.append(int(idx.min()))
    if gaps:
        notes.append(
            f"{gaps} period(s) ({clock.words}s) have no value (gaps or missing '{target}'); "
            + {
                "skip": "they are not used as targets and the features skip them.",
                "zero": "they were taken as 0 (fill: zero).",
                "interpolate": "they were filled in a straight line between the values around "
                "them (fill: interpolate).",
            }[fill]
        )
    first = frame.drop_duplicates("__k").set_index("__k")
    ids = first.loc[keys, id_columns].reset_index(drop=True)
    given = dict(covariates or {})
    others = [
        c for c in df.columns if c not in (target, time_column, *id_columns) and c not in given
    ]
    static_cols: list[str] = []
    kinds: dict[str, str] = {}
    ignored: dict[str, str] = {}
    if others:
        sub = df.loc[keep, others].copy()
        sub["__k"] = frame["__k"].to_numpy()
        varying = sub.groupby("__k", sort=False)[others].nunique(dropna=True).max()
        static_cols = [c for c in others if int(varying[c]) <= 1]
        changing = [c for c in others if int(varying[c]) > 1]
        if covariates is None:
            kinds, ignored = classify(df.loc[keep, changing], changing, column_types)
        else:
            ignored = {c: "changes over time within a series" for c in changing}
        static = (
            sub.groupby("__k", sort=False)[static_cols].first().loc[keys].reset_index(drop=True)
        )
    else:
        static = pd.DataFrame(index=range(len(keys)))
    kinds.update(given)
    start_arr = np.asarray(starts, np.int64)
    lengths = np.asarray([len(v) for v in values], np.int64)
    grid_of = {
        c: grids(
            frame["__k"],
            frame["__i"].to_numpy(),
            convert(df.loc[keep, c], kind),
            kind,
            keys,
            start_arr,
            lengths,
        )  # fmt: skip
        for c, kind in kinds.items()
    }
    return SeriesData(
        keys, ids, static, start_arr, values, clock, notes, ignored, kinds, grid_of,
        gaps if fill != "skip" else 0,
    )  # fmt: skip


def _check_span(frame: pd.DataFrame, clock: Clock) -> None:
    """Refuse series whose periods, first to last, are mostly empty and many (a time far from
    the others, often a typo): each series is laid on a grid of every period it spans, so
    memory would grow with the span, not with the rows."""
    per = frame.groupby("__k", sort=False)["__i"].agg(["min", "max"])
    span = int((per["max"] - per["min"] + 1).sum())
    if span <= max(MAX_EMPTY_SHARE * len(frame), MIN_SPAN_CHECKED):
        return
    first, last = frame["__t"].min(), frame["__t"].max()
    raise DataError(
        f"The series span {clock.plural(span).replace(str(span), f'{span:,}', 1)} but hold "
        f"only {rows_text(len(frame))}: "
        f"nearly every period would be empty. The times go from {show_value(first)} to "
        f"{show_value(last)}; a time far from the others is often a typo (fix or remove it), "
        "or the rows are much sparser than their period: add them up by a longer period "
        "first."
    )


def fill_gaps(grid: np.ndarray, fill: str) -> np.ndarray:
    """A series' values with its periods without a value filled as ``fill`` says."""
    if fill == "skip" or not np.isnan(grid).any():
        return grid
    if fill == "zero":
        return np.where(np.isnan(grid), 0.0, grid)
    return pd.Series(grid).interpolate(limit_direction="both").to_numpy(dtype=float)


# ---------------------------------------------------------------------------------- fitting
@dataclass
class Layout:
    """How one model's features are made (stored in the artifact)."""

    target: str
    time_column: str
    id_columns: list[str]
    static_columns: list[str]
    plan: Plan
    clock: Clock
    names: dict[str, str]
    scaled: bool = True  # features and target in units of each window's scale
    # columns that change over time (see automl.covariates): used at their own period (future
    # values, given when forecasting) or ``past_lag`` periods before (past values)
    future_columns: list[str] = field(default_factory=list)
    past_columns: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # numeric, boolean or categorical
    past_lag: int = 0
    holidays: dict[str, Any] | None = None  # {"country": "US", "region": "CA" or None}
    fill: str = "skip"  # what target periods without a value became (automl.covariates.FILLS)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layout:
        return cls(
            d["target"],
            d["time_column"],
            list(d["id_columns"]),
            list(d["static_columns"]),
            Plan(**d["plan"]),
            Clock(**d["clock"]),
            dict(d["names"]),
            bool(d["scaled"]),
            list(d["future_columns"]),
            list(d["past_columns"]),
            dict(d["kinds"]),
            int(d["past_lag"]),
            None if d["holidays"] is None else dict(d["holidays"]),
            str(d["fill"]),
        )

    def covariate_names(self) -> dict[str, str]:
        """Each future and past column -> its feature's name (a future column keeps its own)."""
        out = {c: c for c in self.future_columns}
        out.update({c: self.names[f"past:{c}"] for c in self.past_columns})
        return out

    def frame(
        self,
        windows: np.ndarray,
        periods: np.ndarray,
        ids: pd.DataFrame,
        static: pd.DataFrame,
        covariates: dict[str, np.ndarray] | None = None,
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Feature rows (one per window), their levels and scales. ``covariates``: the future
        and past columns' values of each row, by feature name."""
        feats, level, scale = window_features(windows, self.plan, self.names, self.scaled)
        return self.feature_frame(feats, periods, ids, static, covariates), level, scale

    def feature_frame(
        self,
        feats: dict[str, np.ndarray],
        periods: np.ndarray,
        ids: pd.DataFrame,
        static: pd.DataFrame,
        covariates: dict[str, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """Feature rows from the window features ``feats`` (see :func:`window_features`)."""
        out = {c: ids[c].to_numpy() for c in self.id_columns}
        out.update({c: static[c].to_numpy() for c in self.static_columns})
        out.update(_calendar(self.clock.times(periods), self.plan.calendar))
        if self.holidays is not None:
            out.update(holiday_features(self.holidays, self.clock, periods, self.names))
        for name in self.covariate_names().values():
            out[name] = (covariates or {})[name]
        out.update(feats)
        return pd.DataFrame(out)


# rows of one series whose window features are computed at once (a block of at most this many
# look-back windows is read, never a matrix of every row's window)
FEATURE_BLOCK = 4096


def training_rows(
    sd: SeriesData, layout: Layout, upto: int | None = None, deadline: float | None = None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Supervised rows of every series: features, the target as a change from the level in
    units of the window's scale (what the candidates learn), actual value, period and series
    position. Rows need a value and a known level.

    Each series is read through views of its look-back windows, a block of rows at a time,
    and each window's scale is summed along the series (:func:`rolling_scale`): memory grows
    with the feature rows, not with rows times the look-back (a daily layout looks back 364
    periods: a million rows' windows were 2.9 GB, and the copies made of them 13 GB).
    Past ``deadline`` (``time.monotonic()``), a BudgetError: the fit has no time left."""
    L = layout.plan.lookback
    names = layout.covariate_names()
    parts: dict[str, list[np.ndarray]] = {}
    p_all, s_all, y_all, d_all = [], [], [], []
    c_all: dict[str, list[np.ndarray]] = {n: [] for n in names.values()}
    for j, vals in enumerate(sd.values):
        if deadline is not None and time.monotonic() > deadline:
            raise BudgetError(
                f"Building the rows to learn from took the whole time budget: it had done "
                f"{j:,} of the {plural(len(sd.values), 'series', 'series')}. Give a larger time "
                "budget, or forecast fewer or shorter series (or a coarser period: weeks "
                "instead of days)."
            )
        n = len(vals)
        if upto is not None:
            n = min(n, int(upto - sd.start[j] + 1))
        if n <= 1:
            continue
        pad = np.concatenate([np.full(L, np.nan), np.asarray(vals[:n], dtype=float)])
        win = np.lib.stride_tricks.sliding_window_view(pad, L)[:n]
        scale = rolling_scale(pad, L, n) if layout.scaled else None
        ok = ~np.isnan(pad[L:])
        ok[0] = False  # nothing is known before the first period
        for a in range(0, n, FEATURE_BLOCK):
            b = min(a + FEATURE_BLOCK, n)
            feats, level, sc = window_features(
                win[a:b], layout.plan, layout.names, layout.scaled,
                None if scale is None else scale[a:b],
            )  # fmt: skip
            keep = ok[a:b] & ~np.isnan(level)
            if not keep.any():
                continue
            at = a + np.flatnonzero(keep)
            for name, v in feats.items():
                parts.setdefault(name, []).append(v[keep])
            y = pad[L + at]
            y_all.append(y)
            d_all.append((y - level[keep]) / sc[keep])
            p_all.append(sd.start[j] + at)
            s_all.append(np.full(len(at), j))
            for c in layout.future_columns:  # the value at the row's own period
                c_all[c].append(sd.covariates[c][j][at])
            for c in layout.past_columns:  # the value ``past_lag`` periods before, never its own
                before = empty(layout.kinds[c], len(at))
                src = at - layout.past_lag
                before[src >= 0] = sd.covariates[c][j][src[src >= 0]]
                c_all[names[c]].append(before)
    if not y_all:
        e = np.empty(0)
        return pd.DataFrame(), e, e, e, e
    periods = np.concatenate(p_all)
    pos = np.concatenate(s_all).astype(np.int64)
    X = layout.feature_frame(
        {name: np.concatenate(v) for name, v in parts.items()},
        periods,
        sd.ids.iloc[pos].reset_index(drop=True),
        sd.static.iloc[pos].reset_index(drop=True),
        {n: np.concatenate(v) for n, v in c_all.items()},
    )
    return X, np.concatenate(d_all), np.concatenate(y_all), periods, pos


def recursive_forecast(
    predict: Any,
    layout: Layout,
    tails: np.ndarray,
    next_period: np.ndarray,
    ids: pd.DataFrame,
    static: pd.DataFrame,
    steps: int,
    covariates: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Forecast ``steps`` periods for every series from its look-back window ``tails``
    (rows: series; columns: oldest ... newest). Each forecast feeds the next step.
    ``covariates``: each future and past column's values (series x steps, by feature name)."""
    W = tails.astype(float).copy()
    out = np.empty((len(W), steps))
    covs = covariates or {}
    for h in range(steps):
        X, level, scale = layout.frame(
            W, next_period + h, ids, static, {n: v[:, h] for n, v in covs.items()}
        )
        change = np.asarray(predict(X), dtype=float)
        base = np.where(np.isnan(level), 0.0, level)
        out[:, h] = base + change * scale
        W = np.concatenate([W[:, 1:], out[:, h : h + 1]], axis=1)
    return out


def step_covariates(
    sd: SeriesData, layout: Layout, nxt: np.ndarray, steps: int
) -> dict[str, np.ndarray]:
    """The future and past columns' values for ``steps`` periods from ``nxt`` (series x steps,
    by feature name), read from the data: future values at their own period, past values
    ``past_lag`` periods before and only when that is before ``nxt`` (known at the start)."""
    names = layout.covariate_names()
    out = {}
    for c in layout.future_columns:
        out[c] = take(sd.covariates[c], sd.start, nxt, steps, layout.kinds[c])
    for c in layout.past_columns:
        vals = take(sd.covariates[c], sd.start, nxt - layout.past_lag, steps, layout.kinds[c])
        vals[:, layout.past_lag :] = empty(layout.kinds[c], 1)[0]  # not known at the start
        out[names[c]] = vals
    return out


def _tails(sd: SeriesData, L: int, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Look-back windows ending at ``upto`` (or at each series' end) and the next periods."""
    W = np.full((len(sd.values), L), np.nan)
    nxt = np.empty(len(sd.values), dtype=np.int64)
    for j, vals in enumerate(sd.values):
        end = len(vals) if upto is None else int(min(len(vals), upto - sd.start[j] + 1))
        piece = vals[max(0, end - L) : max(end, 0)]
        if len(piece):
            W[j, L - len(piece) :] = piece
        nxt[j] = sd.start[j] + end
    return W, nxt


def _actuals(sd: SeriesData, first: np.ndarray, steps: int) -> np.ndarray:
    out = np.full((len(sd.values), steps), np.nan)
    for j, vals in enumerate(sd.values):
        for h in range(steps):
            i = int(first[j] + h - sd.start[j])
            if 0 <= i < len(vals):
                out[j, h] = vals[i]
    return out


def _naive(W: np.ndarray, steps: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat the last known value; repeat the last season (gaps skipped)."""
    last = pd.DataFrame(W.T).ffill().to_numpy().T[:, -1]
    naive = np.repeat(last[:, None], steps, axis=1)
    if season <= 1 or W.shape[1] < season:
        return naive, naive
    season_vals = W[:, -season:]
    seasonal = np.stack([season_vals[:, h % season] for h in range(steps)], axis=1)
    seasonal = np.where(np.isnan(seasonal), naive, seasonal)
    return naive, seasonal


def forecast_metrics(
    actual: np.ndarray,
    pred: np.ndarray,
    scale: float,
    quantiles: dict[float, np.ndarray] | None = None,
) -> dict[str, float]:
    """RMSE, MAE, WAPE (total error / total actual), MASE (MAE / in-sample naive MAE) and, with
    ``quantiles`` (level -> forecasts), the weighted quantile loss (``wql``)."""
    a, p = actual.ravel(), pred.ravel()
    ok = ~np.isnan(a) & ~np.isnan(p)
    a, p = a[ok], p[ok]
    if len(a) == 0:
        return {}
    err = np.abs(a - p)
    out = {
        "rmse": round(float(np.sqrt(np.mean((a - p) ** 2))), 6),
        "mae": round(float(np.mean(err)), 6),
    }
    total = float(np.sum(np.abs(a)))
    if total > 0:
        out["wape"] = round(float(np.sum(err) / total), 6)
    if scale > 0:
        out["mase"] = round(float(np.mean(err) / scale), 6)
    if quantiles and total > 0:
        qs = {q: np.asarray(v, dtype=float).ravel()[ok] for q, v in quantiles.items()}
        out["wql"] = round(weighted_quantile_loss(a, qs), 6)
    return out


def weighted_quantile_loss(actual: np.ndarray, quantiles: dict[float, np.ndarray]) -> float:
    """The mean over the levels q of 2 * sum(pinball loss at q) / sum(|actual|): 0 is perfect;
    for the level 0.5 alone it equals WAPE."""
    total = float(np.sum(np.abs(actual)))
    losses = []
    for q, pred in quantiles.items():
        diff = actual - pred
        losses.append(2.0 * float(np.sum(np.maximum(q * diff, (q - 1.0) * diff))) / total)
    return float(np.mean(losses))


def quantile_name(q: float) -> str:
    """The output column of quantile ``q``: 0.1 -> p10, 0.05 -> p5, 0.975 -> p97.5."""
    return f"p{round(100 * float(q), 6):g}"


def check_quantiles(values: Any, name: str = "The 'quantiles' parameter of AutoML") -> list[float]:
    """The forecast quantiles asked for, sorted (the default when None); a clear error for
    anything but a list of different numbers between 0 and 1."""
    if values is None:
        return list(QUANTILES)
    rule = (
        f"{name} must be a list of different numbers between 0 and 1 (not 0 or 1 themselves), "
        "e.g. 0.1, 0.5, 0.9"
    )
    if isinstance(values, str | bytes | dict) or not hasattr(values, "__iter__"):
        raise ParameterError(f"{rule}. Got {show_value(values)} instead.")
    out: list[float] = []
    for v in values:
        number = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        if not number or not 0.0 < float(v) < 1.0:
            raise ParameterError(f"{rule}. Got {show_value(v)} instead.")
        out.append(float(v))
    if not out:
        raise ParameterError(f"{rule}. Got an empty list.")
    if len(out) > MAX_QUANTILES:
        raise ParameterError(f"{rule}, at most {MAX_QUANTILES} of them. Got {len(out)}.")
    names = [quantile_name(q) for q in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ParameterError(
            f"{rule}. {', '.join(n[1:] + '%' for n in twice)} is asked for more than once; "
            "give each quantile once."
        )
    return sorted(out)


def parse_quantiles(text: str, name: str = "--quantiles") -> list[float]:
    """Quantiles written as text, separated by commas: "0.1,0.5,0.9"."""
    values: list[float] = []
    for part in str(text).split(","):
        try:
            values.append(float(part.strip()))
        except ValueError:
            raise ParameterError(
                f"{name} must be numbers between 0 and 1 separated by commas, e.g. 0.1,0.5,0.9. "
                f"{show_value(part.strip()) if part.strip() else 'An empty item'} is not a number."
            ) from None
    return check_quantiles(values, name)


def offset_levels(quantiles: list[float]) -> list[float]:
    """The levels whose error quantiles a model stores: the user's, and 0.5 (the forecast)."""
    return sorted({*quantiles, 0.5})


def quantile_forecasts(point: np.ndarray, scale: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Forecasts at each level: ``point`` (series x steps) plus each series' ``scale`` times
    the error quantile of the step (``offsets``: steps x levels). Sorted along the levels, so
    quantiles never cross. Returns series x steps x levels."""
    out = point[:, :, None] + scale[:, None, None] * offsets[None, : point.shape[1], :]
    return np.sort(out, axis=2)


def extend_offsets(offsets: np.ndarray, steps: int) -> np.ndarray:
    """The error quantiles for ``steps`` steps: past the checked horizon, the last step's
    widened like a random walk (by the square root of how far ahead)."""
    n = len(offsets)
    if n == 0:
        return np.zeros((steps, 1))
    if steps <= n:
        return offsets[:steps]
    extra = [offsets[-1] * np.sqrt((k + 1) / n) for k in range(n, steps)]
    return np.vstack([offsets, extra])


def _naive_scale(sd: SeriesData, upto: int) -> float:
    diffs = []
    for j, vals in enumerate(sd.values):
        v = vals[: max(0, int(upto - sd.start[j] + 1))]
        d = np.abs(np.diff(v))
        diffs.append(d[~np.isnan(d)])
    allv = np.concatenate(diffs) if diffs else np.empty(0)
    return float(np.mean(allv)) if len(allv) else 0.0


def _predictor(pre: Preprocessor, cand: Candidate) -> Any:
    def predict(X: pd.DataFrame) -> np.ndarray:
        report = InputReport()
        enc = (
            pre.transform_tree(X, report)
            if cand.encoding == "tree"
            else pre.transform_linear(X, report)
        )
        return np.asarray(cand.predict_scores(enc), dtype=float)

    return predict


# ---------------------------------------------------------------------------------- forecasting
def forecast(
    model: Model,
    history: pd.DataFrame | None = None,
    horizon: int | None = None,
    series: list[str] | None = None,
    future: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Forecast the next ``horizon`` periods of every series (or of ``series``).

    ``history``: rows like the training data (time, series IDs, target, constant columns, past
    value columns) to forecast from instead of the stored end of the training data.
    ``future``: the future-value columns' values for every forecast period of every series
    (with the series ID and time columns); required when the model has such columns."""
    ts = model.timeseries
    layout = Layout.from_dict(ts.layout)
    h = _horizon(ts, horizon)
    start = _picked(_start(model, layout, history), series)
    keys, ids, W, nxt = start.keys, start.ids, start.W, start.nxt
    covs = future_values(layout, future, start.known, keys, nxt, h)
    names = layout.covariate_names()
    lag = layout.past_lag
    for c in layout.past_columns:  # known up to the start: ``lag`` periods of them
        vals = empty(layout.kinds[c], (len(keys), h))
        vals[:, : min(lag, h)] = start.past[c][:, : min(lag, h)]
        covs[names[c]] = vals
    cand = model.candidates[model.default_id]
    raw = recursive_forecast(
        _predictor(model.preprocessor, cand), layout, W, nxt, ids, start.static, h, covs
    )
    raw = naive_where(raw, W, np.asarray([m == "naive" for m in start.methods], dtype=bool))
    raw = stats_forecasts(raw, start, layout.plan.season)
    scale = window_scale(W) if layout.scaled else np.ones(len(W))
    levels = offset_levels(ts.quantiles)
    stored = np.asarray(ts.quantile_offsets, dtype=float).reshape(-1, len(levels))
    qf = quantile_forecasts(raw, scale, extend_offsets(stored, h))
    out_names = output_names(layout, ts.quantiles)
    out = _frame_of_periods(layout, ids, nxt, h)
    out[out_names["step"]] = np.tile(np.arange(1, h + 1), len(keys))
    out[out_names["prediction"]] = qf[:, :, levels.index(0.5)].ravel()
    for q in ts.quantiles:
        out[out_names[quantile_name(q)]] = qf[:, :, levels.index(q)].ravel()
    return out


def _horizon(ts: Any, horizon: Any) -> int:
    """``horizon`` (None: the trained one) checked: a whole number from 1 to
    ``MAX_HORIZON_FACTOR`` times the trained horizon."""
    trained_h = ts.horizon
    h = trained_h if horizon is None else horizon
    if not isinstance(h, int | np.integer) or isinstance(h, bool) or h < 1:
        raise ParameterError(f"The horizon must be a positive whole number. Got {show_value(h)}.")
    if h > MAX_HORIZON_FACTOR * trained_h:
        raise ParameterError(
            f"This model was checked on {trained_h} {ts.frequency}(s) ahead; forecasts go at "
            f"most {MAX_HORIZON_FACTOR * trained_h} ahead. Ask for fewer, or build a model with a "
            "longer horizon."
        )
    return int(h)


def _picked(start: Start, series: list[str] | None) -> Start:
    """``start`` for only ``series`` (None: every series); unknown series are refused."""
    if series is None:
        return start
    at = {k: j for j, k in enumerate(start.keys)}  # a dict: linear in the number of series
    unknown = [k for k in series if k not in at]
    if unknown:
        raise ParameterError(
            f"Unknown series: {', '.join(map(str, unknown[:5]))}. Known series: "
            f"{', '.join(start.keys[:10])}{' ...' if len(start.keys) > 10 else ''}."
        )
    return start.pick([at[k] for k in series])


def _frame_of_periods(layout: Layout, ids: pd.DataFrame, nxt: np.ndarray, h: int) -> pd.DataFrame:
    """The series ID columns and the time of each series' next ``h`` periods (dates, not
    midnight timestamps, for daily or coarser periods)."""
    out = pd.DataFrame({c: np.repeat(ids[c].to_numpy(dtype=object), h) for c in layout.id_columns})
    times = layout.clock.times((nxt[:, None] + np.arange(h)[None, :]).ravel())
    out[layout.time_column] = times.date if layout.clock.daily_or_coarser else times
    return out


@dataclass
class Start:
    """Where a forecast starts: each series' key, IDs, constant columns, look-back window,
    next period, method, and the past-value columns' last ``past_lag`` values."""

    keys: list[str]
    known: list[str]  # every series of the model (or of the history)
    ids: pd.DataFrame
    static: pd.DataFrame
    W: np.ndarray
    nxt: np.ndarray
    methods: list[str]
    past: dict[str, np.ndarray]
    # per series: the stored forecast of its statistical method (None: the model alone), or,
    # from newer history, its values (the method is fitted on them)
    paths: list[list[float] | None]
    values: list[np.ndarray] | None = None

    def pick(self, rows: list[int]) -> Start:
        return Start(
            [self.keys[j] for j in rows], self.known, self.ids.iloc[rows].reset_index(drop=True),
            self.static.iloc[rows].reset_index(drop=True), self.W[rows], self.nxt[rows],
            [self.methods[j] for j in rows], {c: v[rows] for c, v in self.past.items()},
            [self.paths[j] for j in rows],
            None if self.values is None else [self.values[j] for j in rows],
        )  # fmt: skip


def stats_forecasts(raw: np.ndarray, start: Start, season: int) -> np.ndarray:
    """``raw`` (the model's forecast) with each series that uses a statistical method forecast
    by it: its stored forecast, or the method fitted on the newer history (the model where
    that history is too short for it); a blend is the mean of its two methods."""
    out = raw
    steps = raw.shape[1]
    for j, method in enumerate(start.methods):
        if not uses_stats(method):
            continue
        parts = method.split("+")
        stats = [p for p in parts if p != "model"]
        if start.values is None:
            path = start.paths[j]
            fc: np.ndarray | None = None if path is None else np.asarray(path[:steps], dtype=float)
        else:
            got = [forecast_one(p, start.values[j], season, steps) for p in stats]
            fc = None if any(g is None for g in got) else np.mean(np.asarray(got), axis=0)
        if fc is None:
            continue
        if out is raw:
            out = raw.copy()
        out[j] = (raw[j] + fc) / 2 if "model" in parts else fc
    return out


def _start(model: Model, layout: Layout, history: pd.DataFrame | None) -> Start:
    """The stored end of the training data, or the end of ``history``."""
    L = layout.plan.lookback
    lag = layout.past_lag
    if history is None:
        s = model.timeseries.series
        keys = list(s.keys)
        past = {
            c: np.asarray(
                [list(r) for r in s.covariate_tails[c]],
                dtype=object if layout.kinds[c] == "categorical" else float,
            ).reshape(len(keys), lag)
            for c in layout.past_columns
        }
        return Start(
            keys, keys, pd.DataFrame(s.ids, columns=layout.id_columns),
            pd.DataFrame(s.static, columns=layout.static_columns, index=range(len(keys))),
            np.asarray(s.tails, dtype=float).reshape(len(keys), L),
            np.asarray(s.next_period, dtype=np.int64), list(s.methods), past,
            list(s.stat_forecasts),
        )  # fmt: skip
    if not isinstance(history, pd.DataFrame):
        raise ParameterError(
            f"The history must be a pandas DataFrame. Got {type(history).__name__} instead."
        )
    history = history.rename(columns=str)
    need = [
        layout.time_column, layout.target, *layout.id_columns, *layout.static_columns,
        *layout.past_columns,
    ]  # fmt: skip
    missing = [c for c in need if c not in history.columns]
    if missing:
        raise DataError(
            f"The history is missing {plural(len(missing), 'column')} the model needs: "
            f"{', '.join(missing)}. It needs the time, the target, the series IDs, the columns "
            "that describe each series and the columns whose past values the model reads."
        )
    sd = to_series(
        history[need],
        layout.target,
        layout.time_column,
        layout.id_columns,
        aggregate="mean",
        clock=layout.clock,
        fill=layout.fill,
        covariates={c: layout.kinds[c] for c in layout.past_columns},
    )
    W, nxt = _tails(sd, L)
    past = {
        c: take(sd.covariates[c], sd.start, nxt - lag, lag, layout.kinds[c])
        for c in layout.past_columns
    }
    stored = dict(zip(model.timeseries.series.keys, model.timeseries.series.methods, strict=True))
    methods = [
        stored.get(k, m) if m != "naive" and uses_stats(stored.get(k, m)) else m
        for k, m in zip(sd.keys, series_methods(sd, layout.plan), strict=True)
    ]
    return Start(
        sd.keys, sd.keys, sd.ids, sd.static.reindex(columns=layout.static_columns), W, nxt,
        methods, past, [None] * len(sd.keys), sd.values,
    )  # fmt: skip


def future_values(
    layout: Layout,
    future: pd.DataFrame | None,
    known: list[str],
    keys: list[str],
    nxt: np.ndarray,
    steps: int,
) -> dict[str, np.ndarray]:
    """The future-value columns' values for each series (``keys``) and each of the ``steps``
    periods from ``nxt``: series x steps, by column. ``future`` must hold the series ID
    columns, the time column and every future-value column, one row per series and period;
    rows of later periods or of series not forecast are left aside. Clear errors name what is
    missing, repeated or unreadable."""
    cols = layout.future_columns
    if not cols:
        return {}
    clock = layout.clock
    need = [*layout.id_columns, layout.time_column, *cols]
    span = _span_words(clock, nxt, steps)
    if future is None:
        raise DataError(
            f"This model forecasts with the future values of {_listed(cols)}, so it needs them "
            f"for every series and each of the next {clock.plural(steps)} ({span}): a table "
            f"with the columns {', '.join(need)} (automl forecast --future FILE, or the future "
            "values upload on the Predict page)."
        )
    if not isinstance(future, pd.DataFrame):
        raise ParameterError(
            f"The future values must be a pandas DataFrame. Got {type(future).__name__} instead."
        )
    future = future.rename(columns=str).reset_index(drop=True)
    _check_columns(layout, future)
    times = parse_times(future[layout.time_column], layout.time_column)
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0]) + 1
        raise DataError(
            f"The future values have rows without a time in '{layout.time_column}', e.g. row "
            f"{row}. Every row needs its {clock.words}."
        )
    key = series_key(future[layout.id_columns]).to_numpy()
    unknown = sorted({str(k) for k in key} - set(known))
    if unknown:
        raise DataError(
            f"The future values have {plural(len(unknown), 'series', 'series')} the model does "
            f"not know: {_listed(unknown)}. Its series are {_listed(known)}; check the series "
            "ID columns' values."
        )
    where = {k: j for j, k in enumerate(keys)}
    j = np.asarray([where.get(str(k), -1) for k in key], dtype=np.int64)
    step = clock.index(times) - np.where(j >= 0, nxt[np.maximum(j, 0)], 0)
    inside = (j >= 0) & (step >= 0) & (step < steps)
    rows = np.flatnonzero(inside)
    cell = j[rows] * steps + step[rows]
    _, first, counts = np.unique(cell, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(cell[first[np.flatnonzero(counts > 1)[0]]])
        twice = rows[cell == dup]
        when = clock.label(clock.times(np.asarray([nxt[dup // steps] + dup % steps])))[0]
        raise DataError(
            f"The future values have {len(twice)} rows for series {keys[dup // steps]} in the "
            f"{clock.words} of {when} (rows {', '.join(str(r + 1) for r in twice[:5])}). The "
            f"model forecasts one value per {clock.words}: give one row per series and "
            f"{clock.words}."
        )
    have = np.zeros(len(keys) * steps, dtype=bool)
    have[cell] = True
    if not have.all():
        raise DataError(
            "The future values miss "
            + plural(int((~have).sum()), "period")
            + ": "
            + _missing_words(clock, keys, nxt, steps, have.reshape(len(keys), steps))
            + f". Give a row for every series and each of the next {clock.plural(steps)} "
            f"({span})."
        )
    out: dict[str, np.ndarray] = {}
    for c in cols:
        kind = layout.kinds[c]
        raw = future[c].iloc[rows].reset_index(drop=True)
        vals = convert(raw, kind)
        bad = pd.isna(vals) & raw.notna().to_numpy()
        if kind == "numeric":  # (1e400 reads as infinity: no plan means that)
            bad |= np.isinf(vals.astype(float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = "finite numbers" if kind == "numeric" else "yes/no values"
            raise DataError(
                f"The future values of '{c}' must be {what}, like the training data's: "
                f"{show_value(raw.iloc[i])} (row {rows[i] + 1}) is not. Fix "
                f"{'it' if int(bad.sum()) == 1 else f'the {int(bad.sum())} such values'}."
            )
        empty_cells = pd.isna(vals)
        if empty_cells.any():
            i = int(np.flatnonzero(empty_cells)[0])
            when = clock.label(clock.times(np.asarray([nxt[j[rows[i]]] + step[rows[i]]])))[0]
            raise DataError(
                f"'{c}' has no future value for series {keys[j[rows[i]]]} in the {clock.words} "
                f"of {when} (row {rows[i] + 1}"
                + (f", and {int(empty_cells.sum()) - 1} more" if empty_cells.sum() > 1 else "")
                + "). Give every future value: the forecast uses them."
            )
        grid = empty(kind, len(keys) * steps)
        grid[cell] = vals
        out[c] = grid.reshape(len(keys), steps)
    return out


def _check_columns(layout: Layout, future: pd.DataFrame) -> None:
    """A ``DataError`` naming the columns the future values lack, if any."""
    need = [*layout.id_columns, layout.time_column, *layout.future_columns]
    missing = [c for c in need if c not in future.columns]
    if missing:
        raise DataError(
            f"The future values are missing {plural(len(missing), 'column')}: "
            f"{', '.join(missing)}. They need the columns {', '.join(need)}, one row per series "
            f"and {layout.clock.words}."
        )


def _listed(names: list[str], most: int = 5) -> str:
    shown = ", ".join(map(str, names[:most]))
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _span_words(clock: Clock, nxt: np.ndarray, steps: int) -> str:
    first = clock.label(clock.times(np.asarray([int(nxt.min())])))[0]
    last = clock.label(clock.times(np.asarray([int(nxt.max()) + steps - 1])))[0]
    return f"from {first} to {last}" if first != last else first


def _missing_words(
    clock: Clock, keys: list[str], nxt: np.ndarray, steps: int, have: np.ndarray
) -> str:
    parts = []
    for j in np.flatnonzero(~have.all(axis=1))[:3]:
        lacking = np.flatnonzero(~have[j])
        if len(lacking) == steps:
            parts.append(f"series {keys[j]} has none")
            continue
        labels = clock.label(clock.times(nxt[j] + lacking))
        parts.append(f"series {keys[j]}: {_listed(labels, 4)}")
    more = int((~have.all(axis=1)).sum()) - 3
    if more > 0:
        parts.append(f"and {plural(more, 'more series', 'more series')}")
    return "; ".join(parts)


def future_template(
    model: Model,
    horizon: int | None = None,
    series: list[str] | None = None,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A table of future values to fill in: each series and forecast period (after the
    training data, or after ``history``), with the series ID and time columns and every
    future-value column at its last known value."""
    ts = model.timeseries
    layout = Layout.from_dict(ts.layout)
    h = _horizon(ts, horizon)
    start = _picked(_start(model, layout, history), series)
    out = _frame_of_periods(layout, start.ids, start.nxt, h)
    where = {k: j for j, k in enumerate(ts.series.keys)}
    for c in layout.future_columns:
        newest = _last_values(layout, history, c)
        last = []
        for k in start.keys:
            stored = ts.series.covariate_tails[c][where[k]] if k in where else []
            tail = [v for v in stored if v is not None]
            last.append(newest.get(k, tail[-1] if tail else None))
        if layout.kinds[c] == "boolean":  # as people write them
            last = [None if v is None else "yes" if v >= 0.5 else "no" for v in last]
        out[c] = np.repeat(np.asarray(last, dtype=object), h)
        if layout.kinds[c] == "numeric":
            out[c] = out[c].astype(float)
    return out


def change_plan(
    model: Model,
    plan: pd.DataFrame,
    series: str,
    column: str,
    steps: tuple[int, int],
    percent: float | None = None,
    value: Any = None,
) -> pd.DataFrame:
    """What-if: ``plan`` (future values) with ``column`` of one series changed in the forecast
    steps ``steps`` (first, last; 1 is the first period ahead): by ``percent`` (numbers only)
    or set to ``value``. The plan's rows of those steps are found by their time."""
    ts = model.timeseries
    layout = Layout.from_dict(ts.layout)
    if column not in layout.future_columns:
        raise ParameterError(
            f"'{column}' is not one of the model's future-value columns "
            f"({', '.join(layout.future_columns) or 'it has none'})."
        )
    if (percent is None) == (value is None):
        raise ParameterError("Give either a percent change or a value to set, not both.")
    if percent is not None and layout.kinds[column] != "numeric":
        raise ParameterError(f"'{column}' holds no numbers: set it to a value instead.")
    start = _start(model, layout, None)
    if series not in start.keys:
        raise ParameterError(f"Unknown series: {series}.")
    j = start.keys.index(series)
    first, last = int(steps[0]), int(steps[1])
    if not 1 <= first <= last:
        raise ParameterError(f"The steps must go from 1 up, first to last. Got {first} to {last}.")
    out = plan.rename(columns=str)
    _check_columns(layout, out)
    key = series_key(out[layout.id_columns]).to_numpy()
    per = layout.clock.index(parse_times(out[layout.time_column], layout.time_column))
    step = per - int(start.nxt[j]) + 1
    rows = (key == series) & (step >= first) & (step <= last)
    if percent is not None:
        numbers = convert(out.loc[rows, column], "numeric") * (1 + float(percent) / 100)
        if not pd.api.types.is_float_dtype(out[column].dtype):
            out[column] = out[column].astype(object)
        out.loc[rows, column] = numbers
    else:
        out[column] = out[column].astype(object)
        out.loc[rows, column] = value
    return out


def _last_values(layout: Layout, history: pd.DataFrame | None, column: str) -> dict[str, Any]:
    """Each series' last known value of ``column`` in ``history`` (as the model reads it)."""
    if history is None or column not in history.columns:
        return {}
    rows = history.rename(columns=str)
    frame = pd.DataFrame(
        {
            "k": series_key(rows[layout.id_columns]).to_numpy(),
            "t": parse_times(rows[layout.time_column], layout.time_column).to_numpy(),
            "v": convert(rows[column], layout.kinds[column]),
        }
    )
    frame = frame[pd.notna(frame["v"]) & pd.notna(frame["t"])].sort_values("t", kind="stable")
    return dict(frame.groupby("k", sort=False)["v"].last())


MIN_MODEL_VALUES = 3  # a series with fewer known values is forecast by repeating its last one
METHOD_WORDS = {
    "model": "the model",
    "short": "the model, from a short history (fewer than two seasons, or than its look-back)",
    "naive": "its last value repeated (too little history for the model)",
    "ets": "exponential smoothing",
    "theta": "the Theta method",
    "arima": "ARIMA",
}
STATS_IGNORE = (
    "the statistical methods read only each series' own values: not the future- or past-value "
    "columns, nor holidays"
)


def method_words(method: str) -> str:
    """How a series is forecast, in words."""
    if "+" in method:
        a, b = method.split("+")
        return f"an equal blend of {METHOD_WORDS[a]} and {METHOD_WORDS[b]}"
    return METHOD_WORDS[method]


def uses_stats(method: str) -> bool:
    """The method forecasts with a statistical method (alone or in a blend)."""
    return method_ok(method) and any(
        p not in ("model", "short", "naive") for p in method.split("+")
    )


def series_methods(sd: SeriesData, plan: Plan, upto: int | None = None) -> list[str]:
    """How each series is forecast: by the model ("model"); by the model although the series
    is shorter than two seasons or than the features' look-back ("short"); or, with fewer
    than ``MIN_MODEL_VALUES`` known values, by repeating its last value ("naive"). ``upto``:
    judged on the periods up to it."""
    short = max(2 * plan.season if plan.season > 1 else 0, plan.lookback)
    out = []
    for j, vals in enumerate(sd.values):
        v = vals if upto is None else vals[: max(0, int(upto - sd.start[j] + 1))]
        known = int(np.sum(~np.isnan(v)))
        out.append("naive" if known < MIN_MODEL_VALUES else "short" if len(v) < short else "model")
    return out


def naive_where(raw: np.ndarray, W: np.ndarray, naive: np.ndarray) -> np.ndarray:
    """``raw`` with the rows of ``naive`` series replaced by their last known value."""
    if not naive.any():
        return raw
    out = raw.copy()
    out[naive] = _naive(W[naive], raw.shape[1], 1)[0]
    return out


def methods_text(keys: list[str], methods: list[str], stats_only: bool = False) -> list[str]:
    """Which series are not forecast by the model from a full history, in words (with
    ``stats_only``, those forecast by a statistical method)."""
    lines = []
    order = [m for m in dict.fromkeys(("short", "naive", *methods)) if m != "model"]
    for m in order:
        if stats_only and not uses_stats(m):
            continue
        named = [k for k, x in zip(keys, methods, strict=True) if x == m]
        if named:
            lines.append(
                f"{plural(len(named), 'series', 'series')} forecast by {method_words(m)}: "
                f"{_listed(named, 10)}"
            )
    return lines


def output_names(layout: Layout, quantiles: list[float]) -> dict[str, str]:
    """The columns a forecast adds after the series ID and time columns: ``step``,
    ``prediction`` and one per quantile (``p10`` ...) -> the name used. The data's own column
    names are never taken: when any of these names is one of them, every added column gets the
    same suffix (``_2``, or the first free number), as batch scoring does."""
    ours = ["step", "prediction", *(quantile_name(q) for q in quantiles)]
    taken = {layout.time_column, *layout.id_columns}
    k = 1
    while any((c if k == 1 else f"{c}_{k}") in taken for c in ours):
        k += 1
    return {c: c if k == 1 else f"{c}_{k}" for c in ours}


def history_frame(model: Model) -> pd.DataFrame:
    """The stored end of each series (its last look-back window) as rows: series, time, value."""
    ts = model.timeseries
    layout = Layout.from_dict(ts.layout)
    L = layout.plan.lookback
    rows = []
    for key, tail, nxt in zip(ts.series.keys, ts.series.tails, ts.series.next_period, strict=True):
        times = layout.clock.times(np.arange(nxt - L, nxt))
        for t, v in zip(times, tail, strict=True):
            if v is not None:
                rows.append({"series": key, layout.time_column: t, layout.target: v})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- detection
@dataclass
class Suggestion:
    time_column: str
    id_columns: list[str]
    reason: str


def suggest(df: pd.DataFrame, target: str, max_ids: int = 1) -> Suggestion | None:
    """A time series set-up when the data looks like one: a numeric target, a date column, and
    (nearly) one row per date or per date and a small-cardinality ID column."""
    if target not in df.columns or not pd.api.types.is_numeric_dtype(df[target].dtype):
        return None
    if pd.api.types.is_bool_dtype(df[target].dtype) or df[target].nunique() <= 10:
        return None
    sample = df.head(50_000)
    for col in sample.columns:
        if col == target:
            continue
        s = sample[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            t = s
        elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = pd.to_datetime(s, errors="coerce", format="mixed")
            if t.notna().mean() < 0.95:
                continue
        else:
            continue
        n_times = t.nunique()
        if n_times < 12:
            continue
        if t.duplicated().mean() < 0.05:
            return Suggestion(str(col), [], f"one '{target}' value per '{col}'")
        candidates = [
            c
            for c in sample.columns
            if c not in (col, target)
            and not pd.api.types.is_float_dtype(sample[c].dtype)
            and 2 <= sample[c].nunique() <= max(2, len(sample) // 12)
        ]
        for c in candidates[:20]:
            if not pd.DataFrame({"t": t, "k": sample[c]}).duplicated().any():
                return Suggestion(
                    str(col), [str(c)], f"one '{target}' value per '{col}' for each '{c}'"
                )
        ways = written_ways(s)
        if ways:  # dates that collide because they are written in several ways: say so
            return Suggestion(
                str(col),
                [str(candidates[0])] if candidates else [],
                f"'{col}' holds dates, but written in several ways (e.g. {', '.join(ways)}): "
                "write them all the same way to forecast",
            )
    return None


def describe(
    df: pd.DataFrame,
    target: str,
    time_column: str,
    id_columns: list[str],
    aggregate: str | None = None,
    fill: str = "skip",
) -> dict[str, Any]:
    """What a forecast set-up looks like before building: the period, the series, their
    lengths, the default and largest horizon, the columns that describe each series, the
    candidates for future values (name -> numeric, boolean or categorical), the columns left
    out, and notes."""
    sd = to_series(df, target, time_column, id_columns, aggregate, fill=check_fill(fill))
    lengths = np.asarray([len(v) for v in sd.values])
    plan = plan_for(sd.clock)
    longest = int(lengths.max())
    last = max(s + len(v) - 1 for s, v in zip(sd.start, sd.values, strict=True))
    max_h = max(1, (longest - 8) // 2)
    return {
        "frequency": sd.clock.words,
        "series": len(sd.keys),
        "shortest": int(lengths.min()),
        "longest": longest,
        "first": sd.clock.label(sd.clock.times(np.asarray([sd.start.min()])))[0],
        "last": sd.clock.label(sd.clock.times(np.asarray([last])))[0],
        "default_horizon": min(plan.horizon, max_h),
        "max_horizon": max_h,
        "static_columns": list(sd.static.columns),
        "future_candidates": dict(sd.kinds),
        "ignored_columns": sd.ignored,
        "notes": sd.notes,
    }


def inputs_lines(ts: Any) -> list[str]:
    """A forecast model's inputs beyond its history, in words: future- and past-value
    columns, holidays, how missing periods were filled, and the series not forecast by the
    model from a full history."""
    layout = Layout.from_dict(ts.layout)
    lines = [
        "future values (needed to forecast): " + (", ".join(layout.future_columns) or "none"),
    ]
    if layout.past_columns:
        lines.append(
            f"past values only ({ts.layout['past_lag']} {ts.frequency}s before): "
            + ", ".join(layout.past_columns)
        )
    if layout.holidays:
        region = layout.holidays.get("region")
        lines.append(f"holidays: {layout.holidays['country']}" + (f":{region}" if region else ""))
    lines.append(
        "missing target periods: "
        + {"skip": "skipped", "zero": "taken as 0", "interpolate": "interpolated"}[layout.fill]
    )
    methods = methods_text(list(ts.series.keys), list(ts.series.methods))
    lines.append(
        "series forecast by: "
        + ("the model, every one" if not methods else "the model, except " + "; ".join(methods))
    )
    if any(uses_stats(m) for m in ts.series.methods) and (
        layout.future_columns or layout.past_columns or layout.holidays
    ):
        lines.append(STATS_IGNORE)
    return lines


def meta_summary(meta: ModelMeta) -> dict[str, Any]:
    """A forecast model's time column, series ID columns, frequency, horizon and series count
    (empty values for a tabular model)."""
    ts = meta.timeseries
    return {
        "time_column": ts.time_column if ts else None,
        "id_columns": ts.id_columns if ts else [],
        "frequency": ts.frequency if ts else None,
        "horizon": ts.horizon if ts else None,
        "series": len(ts.series.keys) if ts else 0,
    }


__all__ = [
    "Clock",
    "Layout",
    "Plan",
    "Suggestion",
    "forecast",
    "history_frame",
    "output_names",
    "quantile_name",
    "infer_clock",
    "suggest",
    "to_series",
]
