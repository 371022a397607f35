"""Each series' method, chosen on the backtests: the global model, a statistical method run
on the series alone (exponential smoothing, Theta, ARIMA: :mod:`automl.candidates._stats_ts`)
or an equal blend of the two best.

For each series, every statistical method forecasts every backtest window from the series'
values before it; the method with the lowest mean MASE over the windows wins (the blend of
the two best when it is lower still). The winner then forecasts the held-out periods from the
values before them (the hold-out metrics are the chosen methods'), and, fitted on every value,
the periods after the data: that forecast, ``MAX_HORIZON_FACTOR`` horizons long, is what the
model file keeps (plain numbers). Series run one after the other while the time left allows
another one at the pace so far (none once the deadline has passed); the others keep the model,
and the notes say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.artifact import MAX_HORIZON_FACTOR, METHOD_ORDER
from automl.candidates._stats_ts import MIN_VALUES, STAT_METHODS, forecast_one
from automl.timeseries import methods_text
from automl.words import plural

if TYPE_CHECKING:  # the pipeline's types, for the signatures only
    from automl.training.forecast import SeriesFit, Window

# of the budget, the share the search leaves for the statistical methods
STATS_SHARE = 0.2
# The methods' pace at best: a series' backtest windows, hold-out and final fit took 0.5 to 2 s
# on a busy 2-core machine. Their share is left (and they run) only when at that pace it could
# reach at least STATS_MIN_REACH of the series: 1,000 daily series at a 120 s budget reached 1,
# for a fifth of the budget the search and the kept candidates then lacked.
STATS_SERIES_SECONDS = 0.5
STATS_MIN_REACH = 0.25


@dataclass
class MethodChoice:
    """The chosen methods with the forecasts they give: each backtest window's and the
    hold-out's (series x steps), and per series the stored forecast of a statistical method
    (``None`` for the model alone)."""

    methods: list[str]
    windows: list[np.ndarray]
    hold: np.ndarray
    paths: list[list[float] | None]
    notes: list[str] = field(default_factory=list)


def stats_series(f: SeriesFit) -> int:
    """How many series the statistical methods would try (none when the forecast follows a
    plan: future-value columns or holidays)."""
    if f.layout.future_columns or f.layout.holidays:
        return 0
    return sum(m in ("model", "short") for m in f.methods)


def stats_worth(f: SeriesFit, budget: float) -> bool:
    """Whether the statistical methods' share of ``budget`` could reach STATS_MIN_REACH of
    the series they would try, at their best pace."""
    n = stats_series(f)
    return n > 0 and STATS_SHARE * budget >= STATS_MIN_REACH * n * STATS_SERIES_SECONDS


def series_mase(windows: list[Window], j: int, forecasts: list[np.ndarray]) -> float:
    """Series ``j``'s mean MASE over the windows (its own scale in each; infinite when no
    window has an actual value)."""
    out = []
    for w, fc in zip(windows, forecasts, strict=True):
        a = w.actual[j]
        ok = np.isfinite(a) & np.isfinite(fc)
        if ok.any():
            scale = float(w.series_scale[j])
            out.append(float(np.mean(np.abs(a[ok] - fc[ok]))) / (scale if scale > 0 else 1.0))
    return float(np.mean(out)) if out else float("inf")


def choose_methods(
    f: SeriesFit,
    windows: list[Window],
    raw: list[np.ndarray],
    hold_w: Window,
    hold_point: np.ndarray,
    deadline: float,
    worth: bool = True,
) -> MethodChoice:
    """Per series, the method with the lowest mean MASE over the backtest windows (the model's
    forecasts of them are ``raw``, of the hold-out ``hold_point``); none tried when the budget
    could not reach enough of the series (``worth``: :func:`stats_worth`)."""
    sd, h, season = f.sd, f.horizon, f.layout.plan.season
    n = len(sd.keys)
    methods = list(f.methods)
    choice = MethodChoice(methods, [r.copy() for r in raw], hold_point.copy(), [None] * n)
    follows = [*f.layout.future_columns, *(["the holidays"] if f.layout.holidays else [])]
    if follows:  # a plan must move the forecast of every series (and the what-if with it)
        choice.notes.append(
            "Every series is forecast by the model: it follows the planned values of "
            f"{', '.join(follows)}, which the statistical methods (exponential smoothing, Theta, "
            "ARIMA) cannot."
        )
        return choice
    if not worth:
        n = stats_series(f)
        need = n * STATS_SERIES_SECONDS / STATS_SHARE
        choice.notes.append(
            "The statistical methods (exponential smoothing, Theta, ARIMA) were not tried: at "
            f"about {STATS_SERIES_SECONDS:g} s a series at best, the time budget would reach "
            f"few of the {plural(n, 'series', 'series')}; every series is forecast by the model. "
            f"A time budget of about {need:,.0f} s tries them all."
        )
        return choice
    first = min(w.origin for w in windows)
    eligible = [j for j in range(n) if methods[j] in ("model", "short")]
    too_short: list[str] = []
    t0 = time.monotonic()
    done = 0
    for count, j in enumerate(eligible):
        now = time.monotonic()
        if now >= deadline or (count and (now - t0) / count > deadline - now):
            choice.notes.append(
                "The statistical methods (exponential smoothing, Theta, ARIMA) were tried on "
                f"{done} of {plural(len(eligible), 'series', 'series')}: the time budget ran "
                "short; the others are forecast by the model. A longer budget tries them all."
            )
            break
        vals, start = sd.values[j], int(sd.start[j])
        if np.sum(np.isfinite(vals[: max(0, first - start + 1)])) < MIN_VALUES:
            too_short.append(sd.keys[j])
            continue
        done += 1
        best, options = _best(windows, j, raw, vals, start, season, h)
        if best != "model":
            _apply(choice, f, j, best, options, hold_w)
    if too_short:
        choice.notes.append(
            f"{plural(len(too_short), 'series', 'series')} too short for the statistical methods "
            f"(fewer than {MIN_VALUES} values before the first backtest window), forecast by the "
            f"model: {', '.join(too_short[:10])}{' ...' if len(too_short) > 10 else ''}"
        )
    stats = [m for m in methods if m not in ("model", "short", "naive")]
    if stats:
        choice.notes.extend(methods_text(sd.keys, methods, stats_only=True))
    return choice


def _best(
    windows: list[Window],
    j: int,
    raw: list[np.ndarray],
    vals: np.ndarray,
    start: int,
    season: int,
    h: int,
) -> tuple[str, dict[str, list[np.ndarray]]]:
    """The method (or blend "a+b") with the lowest mean MASE over the windows, and each
    method's forecasts of them."""
    options: dict[str, list[np.ndarray]] = {"model": [r[j] for r in raw]}
    for m in STAT_METHODS:
        fc = [forecast_one(m, vals[: w.origin - start + 1], season, h) for w in windows]
        if all(x is not None for x in fc):
            options[m] = [np.asarray(x) for x in fc]
    scores = {k: series_mase(windows, j, v) for k, v in options.items()}
    ranked = sorted(scores, key=lambda k: (scores[k], METHOD_ORDER.index(k)))
    best = ranked[0]
    if len(ranked) > 1 and np.isfinite(scores[ranked[1]]):
        a, b = sorted(ranked[:2], key=METHOD_ORDER.index)
        blend = [(x + y) / 2 for x, y in zip(options[a], options[b], strict=True)]
        if series_mase(windows, j, blend) < scores[best] - 1e-9:
            return f"{a}+{b}", options
    return best, options


def _apply(
    choice: MethodChoice,
    f: SeriesFit,
    j: int,
    best: str,
    options: dict[str, list[np.ndarray]],
    hold_w: Window,
) -> None:
    """Series ``j`` forecast by ``best``: its backtest and hold-out forecasts, and its stored
    forecast from every value (the series keeps the model if a fit fails there)."""
    sd, h, season = f.sd, f.horizon, f.layout.plan.season
    vals, start = sd.values[j], int(sd.start[j])
    parts = best.split("+")
    stats = [p for p in parts if p != "model"]

    def mean_with_model(model_fc: np.ndarray, stat_fcs: list[Any]) -> np.ndarray:
        both = [model_fc] if "model" in parts else []
        return np.asarray(np.mean([*both, *stat_fcs], axis=0), dtype=float)

    hold = [forecast_one(p, vals[: hold_w.origin - start + 1], season, h) for p in stats]
    path = [forecast_one(p, vals, season, MAX_HORIZON_FACTOR * h) for p in stats]
    if any(x is None for x in [*hold, *path]):
        return
    hold_fc = [x for x in hold if x is not None]
    path_fc = [x for x in path if x is not None]
    for k in range(len(choice.windows)):
        fcs = [options[p][k] for p in stats]
        choice.windows[k][j] = mean_with_model(choice.windows[k][j], fcs)
    choice.hold[j] = mean_with_model(choice.hold[j], hold_fc)
    choice.paths[j] = [round(float(v), 6) for v in np.mean(path_fc, axis=0)]
    choice.methods[j] = best
