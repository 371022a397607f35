"""A forecast's other inputs: columns that change over time, and public holidays.

**Columns that change over time** (within a series; the target, the time and the series IDs
aside) are *candidates for future values* when they hold numbers, yes/no values or categories
(:func:`classify`): a price, a promotion, opening hours, a weather forecast are known ahead as
a plan. Text, dates and key-like columns that change over time are left out. A confirmed
*future-value column* is a feature at its own period: training reads it from the data, a
forecast from the future values given for the horizon. A candidate that is not confirmed is a
*past-value column*: a feature at ``lag`` periods before (the trained horizon), so every
forecast step reads a value known at the forecast's start and never its own period's value.

**Holidays** (:func:`check_holidays`, :func:`holiday_features`) come from the ``holidays``
package (offline): for daily or finer periods, whether the day is a public holiday and the days
to the next and since the last one; for weekly or coarser periods, the number of public holiday
days in the period. They are computed from the periods, so future periods get them too.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl.coltypes import as_text, infer_types, to_boolean, to_number
from automl.errors import ParameterError
from automl.words import show_value

if TYPE_CHECKING:
    from automl.timeseries import Clock

KINDS = ("numeric", "boolean", "categorical")  # the column types a future value may have
HOLIDAY_REACH = 30  # days to the next / since the last holiday are counted up to this
FILLS = ("skip", "zero", "interpolate")  # what missing target periods become


# ---------------------------------------------------------------------------- changing columns
def classify(
    df: pd.DataFrame, columns: list[str], overrides: dict[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Columns that change over time: the candidates for future values (name -> numeric,
    boolean or categorical) and the others with why they are left out."""
    if not columns:
        return {}, {}
    chosen = {c: t for c, t in (overrides or {}).items() if c in columns}
    types = infer_types(df[columns], chosen)
    kinds: dict[str, str] = {}
    ignored: dict[str, str] = {}
    for c in columns:
        t = types[c].type
        if t in KINDS:
            kinds[c] = t
        else:
            ignored[c] = (
                f"changes over time within a series and holds {_type_words(t)}, which a forecast "
                "cannot use as an input"
            )
    return kinds, ignored


def _type_words(t: str) -> str:
    return {
        "text": "free text",
        "datetime": "dates",
        "identifier": "a different value in (nearly) every row, like a key",
    }.get(t, f"{t} values")


def convert(values: pd.Series, kind: str) -> np.ndarray:
    """Values as the model reads them: floats (numbers; yes/no as 1 and 0; NaN when
    unreadable or missing) or text (categories; None when missing)."""
    if kind == "numeric":
        return to_number(values).to_numpy(dtype=float)
    if kind == "boolean":
        return to_boolean(values).to_numpy(dtype=float)
    text = as_text(values)
    return np.asarray(text.astype(object).where(text.notna(), None), dtype=object)


def empty(kind: str, shape: int | tuple[int, ...]) -> np.ndarray:
    """An array of missing values of the kind's dtype."""
    if kind == "categorical":
        return np.full(shape, None, dtype=object)
    return np.full(shape, np.nan)


def grids(
    keys: pd.Series,
    periods: np.ndarray,
    values: np.ndarray,
    kind: str,
    order: list[str],
    starts: np.ndarray,
    lengths: np.ndarray,
) -> list[np.ndarray]:
    """Each series' values on its grid of periods (``order``: the series keys; series j covers
    ``starts[j]`` for ``lengths[j]`` periods). Several rows in one period: their mean (numbers)
    or the first (categories); periods without a value are missing."""
    frame = pd.DataFrame({"k": keys.to_numpy(), "i": periods, "v": values})
    frame = frame[pd.notna(frame["v"])]
    g = frame.groupby(["k", "i"], sort=False)["v"]
    agg = g.first() if kind == "categorical" else g.mean()
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = empty(kind, int(offsets[-1]))
    where = {k: j for j, k in enumerate(order)}
    j = agg.index.get_level_values(0).map(where)
    ok = ~pd.isna(j)
    if ok.any():
        jj = np.asarray(j[ok], dtype=np.int64)
        pos = offsets[jj] + agg.index.get_level_values(1).to_numpy(np.int64)[ok] - starts[jj]
        flat[pos] = agg.to_numpy()[ok]
    return [flat[offsets[j] : offsets[j + 1]] for j in range(len(order))]


def take(
    grid: list[np.ndarray], starts: np.ndarray, first: np.ndarray, steps: int, kind: str
) -> np.ndarray:
    """Series x steps: each series' values from period ``first[j]`` on (missing outside its
    grid)."""
    out = empty(kind, (len(grid), steps))
    for j, vals in enumerate(grid):
        idx = int(first[j] - starts[j]) + np.arange(steps)
        ok = (idx >= 0) & (idx < len(vals))
        out[j, ok] = vals[idx[ok]]
    return out


# ---------------------------------------------------------------------------- holidays
def check_holidays(text: Any) -> tuple[str, str | None] | None:
    """``"US"`` or ``"US:CA"`` (country, and optionally its region) as (country, region),
    checked against the ``holidays`` package; None for no holidays. A clear error names what
    is unknown and how to find the valid codes."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "none")):
        return None
    if not isinstance(text, str):
        raise ParameterError(
            "The 'holidays' parameter of AutoML must be a country code, optionally with a "
            f"region, such as US or US:CA. Got {show_value(text)} instead."
        )
    country, _, region = (p.strip() for p in text.partition(":"))
    supported = supported_countries()
    code = country.upper()
    if code not in supported:
        raise ParameterError(
            (
                f"{show_value(country)} is not a country code the holidays calendar knows."
                if country
                else "The holidays need a country code before the region."
            )
            + " Use a two-letter code such as US, GB, DE, FR or IN (a region after a colon: "
            "US:CA): 'automl holidays' lists every country, and the Build page offers them in "
            "its Holidays list."
        )
    if not region:
        return code, None
    regions = supported[code]
    match = {r.upper(): r for r in regions}.get(region.upper())
    if match is None:
        listed = ", ".join(regions[:60]) + (" ..." if len(regions) > 60 else "")
        raise ParameterError(
            f"{show_value(region)} is not a region of {code} that the holidays calendar knows. "
            + (
                f"Its regions are: {listed} ('automl holidays {code}' lists them)."
                if regions
                else f"{code} has no regions in the calendar: use {code} alone."
            )
        )
    return code, match


@functools.cache
def supported_countries() -> dict[str, list[str]]:
    """Two-letter country code -> its region codes, from the ``holidays`` package."""
    import holidays

    return {c: list(r) for c, r in holidays.list_supported_countries().items() if len(c) == 2}


@functools.cache
def country_names() -> dict[str, str]:
    """Two-letter country code -> its name ("US" -> "United States")."""
    import re

    import holidays

    out = {}
    for entry in holidays.registry.COUNTRIES.values():
        name, codes = entry[0], entry[1:]
        for code in codes:
            if len(code) == 2:
                out[code] = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return out


def holidays_text(spec: tuple[str, str | None] | None) -> str:
    """``"US:CA"``, ``"US"`` or ``""``."""
    if spec is None:
        return ""
    return spec[0] if spec[1] is None else f"{spec[0]}:{spec[1]}"


@functools.lru_cache(maxsize=32)
def _holiday_days(country: str, region: str | None, first: int, last: int) -> np.ndarray:
    """The sorted holiday days (days since 1970) of the years ``first`` to ``last``."""
    import holidays

    cal = holidays.country_holidays(country, subdiv=region, years=range(first, last + 1))
    days = np.asarray(sorted(cal.keys()), dtype="datetime64[D]").astype(np.int64)
    return days


def holiday_names(daily: bool) -> list[str]:
    """The features' keys (see :func:`holiday_features`)."""
    return ["holiday", "holiday_next", "holiday_last"] if daily else ["holidays_in_period"]


def holiday_words(key: str, country: str) -> str:
    return {
        "holiday": f"public holiday ({country})",
        "holiday_next": f"days to the next public holiday ({country})",
        "holiday_last": f"days since the last public holiday ({country})",
        "holidays_in_period": f"public holidays in the period ({country})",
    }[key]


def holiday_features(
    spec: dict[str, Any], clock: Clock, periods: np.ndarray, names: dict[str, str]
) -> dict[str, np.ndarray]:
    """The holiday features of each period (``spec``: country and region)."""
    periods = np.asarray(periods, dtype=np.int64)
    uniq, inverse = np.unique(periods, return_inverse=True)
    starts = clock.times(uniq)
    ends = clock.times(uniq + 1)
    day0 = starts.floor("D").to_numpy("datetime64[D]").astype(np.int64)
    day1 = np.maximum(ends.floor("D").to_numpy("datetime64[D]").astype(np.int64), day0 + 1)
    if clock.kind == "months":  # month-end anchors: the period is the month of its date
        first = starts.to_period("M").to_timestamp()
        day0 = first.to_numpy("datetime64[D]").astype(np.int64)
        after = (starts.to_period("M") + clock.step).to_timestamp()
        day1 = after.to_numpy("datetime64[D]").astype(np.int64)
    years = pd.DatetimeIndex(starts).year
    lo, hi = int(years.min()) - 1, int(years.max()) + 1
    days = _holiday_days(str(spec["country"]), spec.get("region"), lo, hi)
    out: dict[str, np.ndarray] = {}
    if not daily_holidays(clock):
        count = np.searchsorted(days, day1, "left") - np.searchsorted(days, day0, "left")
        out[names["holidays_in_period"]] = count[inverse].astype(float)
        return out
    nxt = np.searchsorted(days, day0, "left")  # the first holiday on or after the day
    is_h = (nxt < len(days)) & (days[np.minimum(nxt, len(days) - 1)] == day0)
    to_next = np.where(nxt < len(days), days[np.minimum(nxt, len(days) - 1)] - day0, HOLIDAY_REACH)
    prev = np.searchsorted(days, day0, "right") - 1  # the last holiday on or before the day
    since = np.where(prev >= 0, day0 - days[np.maximum(prev, 0)], HOLIDAY_REACH)
    out[names["holiday"]] = is_h[inverse].astype(float)
    out[names["holiday_next"]] = np.minimum(to_next, HOLIDAY_REACH)[inverse].astype(float)
    out[names["holiday_last"]] = np.minimum(since, HOLIDAY_REACH)[inverse].astype(float)
    return out


def daily_holidays(clock: Clock) -> bool:
    """Holidays as days (daily or finer periods, business days) or counts per period."""
    if clock.kind == "business":
        return True
    return clock.kind == "fixed" and clock.step <= 86_400


def check_fill(fill: Any) -> str:
    """What missing target periods become: skip (default), zero or interpolate."""
    if fill is None:
        return "skip"
    if fill not in FILLS:
        raise ParameterError(
            f"The 'fill' parameter of AutoML must be one of {', '.join(FILLS)}. "
            f"Got {fill!r} instead."
        )
    return str(fill)


__all__ = [
    "FILLS",
    "check_fill",
    "check_holidays",
    "classify",
    "convert",
    "country_names",
    "grids",
    "holiday_features",
    "supported_countries",
    "take",
]
