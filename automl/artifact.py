"""The model file format: typed metadata with a schema version, read, upgraded and written here.

A model is a folder::

    easel_model.json          the metadata below (``ModelMeta.to_dict()``) plus the fitted
                              preparation under "preprocessing" (owned by ``Preprocessor``)
    candidates/<id>/...       one folder per kept candidate, in its library's own format
    holdout.parquet           the hold-out rows with every kept candidate's scores (reports)
    reports/                  optional performance and data reports (HTML and JSON)

Schema versions:

1. The first format (never declared as it grew hold-out rows, time series and ensembles).
2. Every file says ``problem_type`` (binary, multiclass, regression or timeseries).
3. Each leaderboard row may say ``rows``, the training rows that trial learned from (big tables
   search on growing samples).
4. A forecast model's features are in units of each window's scale (``layout.scaled``), it
   stores quantiles (``quantiles``, ``quantile_offsets``) instead of the 80% range
   (``interval``), and its backtests.
5. Each leaderboard row says ``worker``, the Dask worker that ran the trial ("" when the build
   ran on one computer).
6. A forecast model's layout names its future-value and past-value columns
   (``future_columns``, ``past_columns``, their ``kinds``, ``past_lag``), its ``holidays`` and
   how missing target periods were filled (``fill``); its series say how each is forecast
   (``methods``) and keep the last values of those columns (``covariate_tails``).
7. A series may be forecast by a statistical method (``stat_forecasts``).
8. An ensemble says how it combines its members (``pooling``).
9. Today's format: a table built on a cluster above its row threshold says how its final
   LightGBM model trained there (``cluster_fit``: workers, rows, the search's sample, the kept
   candidates trained on the cluster, the note); absent for every other build.

Older files are upgraded on load by :func:`upgrade`, the one place that knows older formats.

Raise :data:`SCHEMA_VERSION` whenever a field is added, removed, renamed or changes meaning, and
teach :func:`upgrade` to turn the previous version into the new one. A file of a newer version
is refused with a clear message. Reading is strict: a field this Easel does not know is an error
(the version would have been raised had a newer Easel added it), so a damaged or hand-edited
file never half-loads.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.coltypes import ColumnInfo
from automl.errors import ArtifactError
from automl.progress import TrialRecord
from automl.task import TargetInfo

SCHEMA_VERSION = 9
# how an ensemble combines its members (automl.metrics.POOLINGS)
ENSEMBLE_POOLINGS = ("mean", "log")
META_FILE = "easel_model.json"
HOLDOUT_FILE = "holdout.parquet"
PREPROCESSING_KEY = "preprocessing"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Columns that mix numbers and text (common in spreadsheets) are stored as text."""
    out = df
    for col in df.columns:
        if pd.api.types.is_object_dtype(df[col].dtype):
            kind = pd.api.types.infer_dtype(df[col], skipna=True)
            if kind.startswith("mixed") or kind in ("integer-na", "decimal", "bytes"):
                if out is df:
                    out = df.copy()
                text = df[col].astype("string")
                out[col] = text.where(df[col].notna())
    return out


# ---------------------------------------------------------------------------- reading helpers
def _fields(cls: type, data: Any, where: str) -> dict[str, Any]:
    """``data`` checked against the dataclass ``cls``: a dict, no unknown and no missing keys."""
    if not isinstance(data, dict):
        raise ArtifactError(
            f"The model metadata is damaged: '{where}' should be an object, not "
            f"{type(data).__name__}. Retrain the model."
        )
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ArtifactError(
            f"The model metadata has field(s) this Easel does not know in '{where}': "
            f"{', '.join(map(str, unknown))}. The file was edited or written by another Easel "
            f"without a new schema version; retrain the model."
        )
    missing = [
        name
        for name, f in known.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ArtifactError(
            f"The model metadata is incomplete: '{where}' lacks {', '.join(missing)}. "
            "Retrain the model."
        )
    return dict(data)


def _dict(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ArtifactError(
            f"The model metadata is damaged: '{where}' should be an object, not "
            f"{type(data).__name__}. Retrain the model."
        )
    return data


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise ArtifactError(
            f"The model metadata is damaged: '{where}' should be a list, not "
            f"{type(data).__name__}. Retrain the model."
        )
    return data


def _drop_none(d: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not (k in optional and v is None)}


# ---------------------------------------------------------------------------- typed records
@dataclass
class RowCounts:
    """How many rows the data had and where they went."""

    total: int
    with_target: int
    search: int
    train: int
    holdout: int
    series: int | None = None  # time series: how many series

    @classmethod
    def from_dict(cls, data: Any) -> RowCounts:
        return cls(**_fields(cls, data, "rows"))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self), ("series",))


@dataclass
class ClusterFit:
    """How the final LightGBM model of a table above the cluster's row threshold trained with
    LightGBM's Dask interface: on how many workers and rows, after a search on how many rows,
    which kept candidates trained there (none when it fell back to the search's model), and the
    note that says what ran where."""

    workers: int
    rows: int
    search_rows: int
    candidates: list[int]
    note: str

    @classmethod
    def from_dict(cls, data: Any) -> ClusterFit:
        d = _fields(cls, data, "cluster_fit")
        for key in ("workers", "rows", "search_rows"):
            value = d[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                _broken(f"'cluster_fit.{key}' is not a count")
        d["candidates"] = [
            _whole(c, "cluster_fit.candidates") for c in _list(d["candidates"], "candidates")
        ]
        if not isinstance(d["note"], str):
            _broken("'cluster_fit.note' is not text")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class KeptCandidate:
    """A leaderboard candidate that was kept with a trained model (or an ensemble of them)."""

    candidate: str
    params: dict[str, Any]
    holdout_metrics: dict[str, float]
    trained_on: str
    members: dict[str, float] | None = None  # an ensemble: member id -> weight
    # an ensemble: "mean" (its members' scores averaged) or "log" (classes: their
    # log-probabilities averaged); None for a single model
    pooling: str | None = None
    threshold: float | None = None  # 2-category: the decision threshold (tabular models)
    predict_ms_per_1000_rows: float | None = None
    fit_seconds_final: float | None = None  # time series: the kept model's own fit time

    _ORDER = (
        "candidate",
        "members",
        "pooling",
        "params",
        "threshold",
        "holdout_metrics",
        "predict_ms_per_1000_rows",
        "trained_on",
        "fit_seconds_final",
    )

    @property
    def is_ensemble(self) -> bool:
        return self.candidate == "ensemble"

    @classmethod
    def from_dict(cls, data: Any, where: str = "kept") -> KeptCandidate:
        d = _fields(cls, data, where)
        d["params"] = _dict(d["params"], f"{where}.params")
        d["holdout_metrics"] = _dict(d["holdout_metrics"], f"{where}.holdout_metrics")
        if d.get("members") is not None:
            d["members"] = {str(k): float(w) for k, w in _dict(d["members"], where).items()}
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self._ORDER}
        return _drop_none(
            d, ("members", "pooling", "threshold", "predict_ms_per_1000_rows", "fit_seconds_final")
        )


@dataclass
class Baseline:
    """A model-free forecast the time series model is compared with."""

    description: str
    holdout_metrics: dict[str, float]

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Baseline:
        return cls(**_fields(cls, data, where))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# how a series may be forecast: the global model ("short": from a short history), its last value
# repeated ("naive"), a statistical method (automl.candidates._stats_ts), or an equal blend of
# two of METHOD_ORDER, written in that order ("model+ets")
SERIES_METHODS = ("model", "short", "naive", "ets", "theta", "arima")
MAX_HORIZON_FACTOR = 5  # forecasts may go this many times past the trained horizon
METHOD_ORDER = ("model", "ets", "theta", "arima")


def method_ok(method: Any) -> bool:
    """``method`` is a method a model file may name for a series."""
    if not isinstance(method, str):
        return False
    if method in SERIES_METHODS:
        return True
    parts = method.split("+")
    return (
        len(parts) == 2
        and all(p in METHOD_ORDER for p in parts)
        and METHOD_ORDER.index(parts[0]) < METHOD_ORDER.index(parts[1])
    )


def _stats_ok(methods: list[Any], paths: Any, horizon: int | None) -> bool:
    """Each series that uses a statistical method has its stored forecast (finite numbers, as
    far ahead as a forecast may go: MAX_HORIZON_FACTOR horizons), and only those."""
    if not isinstance(paths, list) or len(paths) != len(methods):
        return False
    for m, p in zip(methods, paths, strict=True):
        stats = any(x not in ("model", "short", "naive") for x in m.split("+"))
        if not stats:
            if p is not None:
                return False
        elif not _numbers(p) or horizon is None or len(p) != MAX_HORIZON_FACTOR * horizon:
            return False
    return True


@dataclass
class SeriesState:
    """Every series of a forecast model: its key, IDs, constant columns and stored end."""

    keys: list[str]
    ids: dict[str, list[Any]]
    static: dict[str, list[Any]]
    next_period: list[int]
    tails: list[list[float | None]]
    first_time: list[str]
    last_time: list[str]
    # how each series is forecast (SERIES_METHODS, or a blend of two: see method_ok);
    # automl.timeseries.series_methods and automl.training.forecast_methods choose them
    methods: list[str]
    # each future- and past-value column -> per series, its last layout.past_lag values
    covariate_tails: dict[str, list[list[Any]]]
    # per series using a statistical method: its forecast of the periods after its last one
    # (the method fitted on every value; a blend of two statistical methods: their mean), up to
    # MAX_HORIZON_FACTOR horizons; None for the others
    stat_forecasts: list[list[float] | None]

    @classmethod
    def from_dict(cls, data: Any, horizon: int | None = None) -> SeriesState:
        d = _fields(cls, data, "timeseries.series")
        n = len(d["keys"]) if isinstance(d["keys"], list) else -1
        methods, tails = d["methods"], d["covariate_tails"]
        ok = (
            isinstance(methods, list)
            and len(methods) == n
            and all(method_ok(m) for m in methods)
            and isinstance(tails, dict)
            and all(isinstance(t, list) and len(t) == n for t in tails.values())
        )
        if not ok:
            raise ArtifactError(
                "The model metadata is damaged: 'timeseries.series.methods' should say for each "
                "series how it is forecast, and 'timeseries.series.covariate_tails' hold each "
                "series' last values. Retrain the model."
            )
        if not _stats_ok(methods, d["stat_forecasts"], horizon):
            raise ArtifactError(
                "The model metadata is damaged: 'timeseries.series.stat_forecasts' should hold, "
                "for each series forecast by a statistical method, its forecast (a finite number "
                f"for each of {MAX_HORIZON_FACTOR} horizons' periods) and nothing for the other "
                "series. Retrain the model."
            )
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_PLAIN_WORDS = re.compile(r"[0-9A-Za-z ]{1,40}")  # a period in words: "day", "14 days"


def _tail_value(value: Any, kind: str) -> bool:
    """A stored last value of a future- or past-value column: missing, text for categories,
    else a finite number."""
    if value is None:
        return True
    if kind == "categorical":
        return isinstance(value, str)
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _numbers(values: Any, n: int | None = None) -> bool:
    """``values`` is a list of finite numbers (of length ``n``)."""
    return (
        isinstance(values, list)
        and (n is None or len(values) == n)
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
            for v in values
        )
    )


@dataclass
class Backtest:
    """One rolling-origin window: the model trained on the periods up to ``trained_through``
    forecast the next ones (``periods``), as if that were today."""

    trained_through: str
    periods: list[str]
    metrics: dict[str, float]
    series_metrics: dict[str, dict[str, float]]  # series key -> its metrics in this window
    # per series (rows, in the order of timeseries.series.keys) and period: for the charts
    actual: list[list[float | None]]
    forecast: list[list[float | None]]
    low: list[list[float | None]]  # the lowest quantile
    high: list[list[float | None]]  # the highest quantile

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Backtest:
        return cls(**_fields(cls, data, where))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TimeSeriesMeta:
    """What a forecast model knows about its series (absent for tabular models)."""

    layout: dict[str, Any]  # automl.timeseries.Layout.to_dict(): columns, clock, lags
    frequency: str
    horizon_text: str
    horizon: int
    series: SeriesState
    holdout_periods: list[str]
    quantiles: list[float]  # the forecast's quantiles (0.1, 0.5, 0.9 -> p10, p50, p90)
    # per step ahead, the backtest errors' quantile at each level of the quantiles and 0.5
    # (automl.timeseries.offset_levels), in units of each series' scale
    quantile_offsets: list[list[float]]
    backtests: list[Backtest]
    baselines: dict[str, Baseline]
    mase_scale: float
    ignored_columns: dict[str, str]

    @property
    def time_column(self) -> str:
        return str(self.layout["time_column"])

    @property
    def id_columns(self) -> list[str]:
        return list(self.layout["id_columns"])

    @property
    def static_columns(self) -> list[str]:
        return list(self.layout["static_columns"])

    @property
    def target(self) -> str:
        return str(self.layout["target"])

    @property
    def baseline(self) -> Baseline:
        """The baseline to beat: the seasonal one when there is a season, else the naive one."""
        return self.baselines.get("seasonal_naive") or self.baselines["naive"]

    @classmethod
    def from_dict(cls, data: Any) -> TimeSeriesMeta:
        d = _fields(cls, data, "timeseries")
        d["layout"] = _dict(d["layout"], "timeseries.layout")
        d["horizon"] = int(d["horizon"])
        d["series"] = SeriesState.from_dict(d["series"], d["horizon"])
        _check_inputs(d["layout"], d["series"], d["horizon"])
        for key in ("frequency", "horizon_text"):  # shown in pages and reports as they are
            if not isinstance(d[key], str) or not _PLAIN_WORDS.fullmatch(d[key]):
                raise ArtifactError(
                    f"The model metadata is damaged: 'timeseries.{key}' should be a period in "
                    "words, such as day or 14 days. Retrain the model."
                )
        levels = d["quantiles"]
        ok = _numbers(levels) and len(levels) > 0 and all(0 < q < 1 for q in levels)
        offsets = d["quantile_offsets"]
        width = len({*levels, 0.5}) if ok else 0
        if not ok or not isinstance(offsets, list) or not all(_numbers(r, width) for r in offsets):
            raise ArtifactError(
                "The model metadata is damaged: 'timeseries.quantiles' should be numbers between "
                "0 and 1 and 'timeseries.quantile_offsets' one number per quantile and step. "
                "Retrain the model."
            )
        d["backtests"] = [
            Backtest.from_dict(b, f"timeseries.backtests[{i}]")
            for i, b in enumerate(d["backtests"] if isinstance(d["backtests"], list) else [None])
        ]
        d["baselines"] = {
            str(k): Baseline.from_dict(v, f"timeseries.baselines.{k}")
            for k, v in _dict(d["baselines"], "timeseries.baselines").items()
        }
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["series"] = self.series.to_dict()
        d["backtests"] = [b.to_dict() for b in self.backtests]
        d["baselines"] = {k: b.to_dict() for k, b in self.baselines.items()}
        return d


def _check_inputs(layout: dict[str, Any], series: SeriesState, horizon: int) -> None:
    """A forecast layout's future- and past-value columns (each a column of its own kind, not
    the target, time, a series ID or a constant column), their last values in ``series`` (per
    series, ``past_lag`` values of that kind), holidays and fill make sense (``Model.load``
    checks that the holiday calendar knows the country and region)."""
    future, past = layout.get("future_columns"), layout.get("past_columns")
    kinds, hol, lag = layout.get("kinds"), layout.get("holidays"), layout.get("past_lag")
    taken = [layout.get("target"), layout.get("time_column")]
    for key in ("id_columns", "static_columns"):
        value = layout.get(key)
        taken += value if isinstance(value, list) else []
    ok = (
        isinstance(future, list)
        and isinstance(past, list)
        and isinstance(kinds, dict)
        and all(isinstance(c, str) and c in kinds for c in [*future, *past])
        and len({*future, *past}) == len(future) + len(past)
        and not {*future, *past} & {c for c in taken if isinstance(c, str)}
        and all(k in ("numeric", "boolean", "categorical") for k in kinds.values())
        and isinstance(lag, int)
        and not isinstance(lag, bool)
        and 0 <= lag <= horizon
        and layout.get("fill") in ("skip", "zero", "interpolate")
        and (
            hol is None
            or (
                isinstance(hol, dict)
                and isinstance(hol.get("country"), str)
                and isinstance(hol.get("region"), str | None)
            )
        )
    )
    if ok and isinstance(future, list) and isinstance(past, list) and isinstance(kinds, dict):
        tails = series.covariate_tails
        ok = set(tails) == {*future, *past} and all(
            isinstance(t, list) and len(t) == lag and all(_tail_value(v, kinds[c]) for v in t)
            for c in tails
            for t in tails[c]
        )
    if not ok:
        raise ArtifactError(
            "The model metadata is damaged: 'timeseries.layout' should name its future- and "
            "past-value columns with their kinds (and 'timeseries.series' their last values), "
            "its holidays and how missing periods were filled. Retrain the model."
        )


def _target_from_dict(data: Any) -> TargetInfo:
    return TargetInfo(**_fields(TargetInfo, data, "target"))


def _column_from_dict(data: Any, i: int) -> ColumnInfo:
    return ColumnInfo(**_fields(ColumnInfo, data, f"columns[{i}]"))


def _trial_from_dict(data: Any, i: int) -> TrialRecord:
    fields = _fields(TrialRecord, data, f"leaderboard[{i}]")
    rows = fields.get("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        raise ArtifactError(
            f"The model metadata is damaged: 'leaderboard[{i}].rows' should be a row count, not "
            f"{str(rows)[:40]!r}. Retrain the model."
        )
    worker = fields.get("worker", "")
    if not isinstance(worker, str) or len(worker) > 300:
        raise ArtifactError(
            f"The model metadata is damaged: 'leaderboard[{i}].worker' should be a worker's "
            f"address, not {str(worker)[:40]!r}. Retrain the model."
        )
    return TrialRecord(**fields)


@dataclass
class ModelMeta:
    """Everything a model says about itself (``easel_model.json`` without the preparation).

    Field names are the file's keys. The fields the training code fills last (after the model
    exists) have defaults: ``holdout_rows_kept``, ``train_target_summary``, ``column_impact``,
    ``timings`` and ``fit_seconds``.
    """

    created_at: str
    versions: dict[str, str]
    task: str  # what the candidates learn: binary, multiclass or regression
    target: TargetInfo
    metric: str
    metric_greater_is_better: bool
    columns: list[ColumnInfo]
    rows: RowCounts
    validation: str
    holdout_description: str
    refit_on_all_rows: bool
    refit_note: str
    leaderboard: list[TrialRecord]
    kept: dict[int, KeptCandidate]
    default_candidate: int
    preset: str
    time_budget: float
    seed: int | None
    problem_type: str = ""  # binary, multiclass, regression or timeseries ("" -> the task)
    recipe: dict[str, Any] | None = None  # Recipe.to_dict() plus raw_columns and raw_typical
    timeseries: TimeSeriesMeta | None = None
    cluster_fit: ClusterFit | None = None  # a table's final fit on a cluster (schema 9)
    warnings: list[str] = field(default_factory=list)
    holdout_rows_kept: int = 0
    train_target_summary: dict[str, Any] = field(default_factory=dict)
    column_impact: list[list[Any]] = field(default_factory=list)  # [column, impact] pairs
    timings: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    schema_version: int = SCHEMA_VERSION

    # the file's key order (as the training code writes it)
    _ORDER = (
        "schema_version",
        "created_at",
        "versions",
        "task",
        "problem_type",
        "target",
        "metric",
        "metric_greater_is_better",
        "columns",
        "recipe",
        "timeseries",
        "rows",
        "validation",
        "holdout_description",
        "refit_on_all_rows",
        "refit_note",
        "cluster_fit",
        "leaderboard",
        "kept",
        "default_candidate",
        "preset",
        "time_budget",
        "seed",
        "warnings",
        "holdout_rows_kept",
        "train_target_summary",
        "column_impact",
        "timings",
        "fit_seconds",
    )

    def __post_init__(self) -> None:
        if not self.problem_type:
            self.problem_type = self.task

    @property
    def is_forecast(self) -> bool:
        return self.problem_type == "timeseries"

    @property
    def default(self) -> KeptCandidate:
        """The kept candidate that predicts."""
        return self.kept[self.default_candidate]

    @classmethod
    def from_dict(cls, data: Any) -> ModelMeta:
        """Typed metadata from a file's dict of any known schema version (upgraded first).

        The file's ``preprocessing`` block is not part of it (the ``Preprocessor`` reads it)."""
        data = _dict(data, "the metadata")
        if check_version(data.get("schema_version")) < SCHEMA_VERSION:
            data = upgrade(data)
        data = {k: v for k, v in data.items() if k != PREPROCESSING_KEY}
        d = _fields(cls, data, "the metadata")
        d["schema_version"] = SCHEMA_VERSION
        d["target"] = _target_from_dict(d["target"])
        d["columns"] = [
            _column_from_dict(c, i) for i, c in enumerate(_list(d["columns"], "columns"))
        ]
        d["rows"] = RowCounts.from_dict(d["rows"])
        d["leaderboard"] = [
            _trial_from_dict(r, i) for i, r in enumerate(_list(d["leaderboard"], "leaderboard"))
        ]
        d["kept"] = {
            _whole(k, "kept"): KeptCandidate.from_dict(v, f"kept.{k}")
            for k, v in _dict(d["kept"], "kept").items()
        }
        d["default_candidate"] = _whole(d["default_candidate"], "default_candidate")
        d["time_budget"] = float(d["time_budget"])
        if d.get("recipe") is not None:
            d["recipe"] = _dict(d["recipe"], "recipe")
        if d.get("timeseries") is not None:
            d["timeseries"] = TimeSeriesMeta.from_dict(d["timeseries"])
        if d.get("cluster_fit") is not None:
            d["cluster_fit"] = ClusterFit.from_dict(d["cluster_fit"])
        for key in ("warnings", "column_impact"):
            if key in d:
                d[key] = list(_list(d[key], key))
        for key in ("versions", "train_target_summary", "timings"):
            if key in d:
                d[key] = dict(_dict(d[key], key))
        meta = cls(**d)
        meta.check()
        return meta

    def check(self) -> None:
        """The fields agree with each other (ArtifactError naming the first that does not):
        the task, the target's classes, the time series part, the default candidate and every
        ensemble's members among the kept candidates, thresholds between 0 and 1."""
        if self.task not in TASKS:
            _broken(f"its task is '{_short(self.task)}', not one of {', '.join(TASKS)}")
        if self.problem_type not in (*TASKS, "timeseries"):
            _broken(f"its problem type is '{_short(self.problem_type)}'")
        if (self.problem_type == "timeseries") != (self.timeseries is not None):
            _broken("its problem type and its time series part disagree")
        if self.timeseries is not None and self.task != "regression":
            _broken("a time series model must predict numbers")
        target = self.target
        if not isinstance(target.name, str) or not target.name:
            _broken("its target has no column name")
        classes = _list(target.classes, "target.classes")
        if self.task == "regression" and classes:
            _broken("it predicts numbers but lists target categories")
        if self.task == "binary" and len(classes) != 2:
            _broken(f"it predicts 2 categories but lists {len(classes)}")
        if self.task == "multiclass" and len(classes) < 2:
            _broken(f"it predicts 3+ categories but lists {len(classes)}")
        if len({str(c) for c in classes}) != len(classes):
            _broken("its target lists a category twice")
        if not self.kept:
            _broken("it keeps no trained candidate")
        if self.default_candidate not in self.kept:
            _broken(f"its default candidate {self.default_candidate} is not among the kept ones")
        for cid, info in self.kept.items():
            if not isinstance(info.candidate, str) or not info.candidate:
                _broken(f"kept candidate {cid} has no model family")
            t = info.threshold
            if t is not None and (
                isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1
            ):
                _broken(f"kept candidate {cid} has a threshold that is not between 0 and 1")
            if info.is_ensemble:
                _check_members(cid, info.members, self.kept)
                if info.pooling not in ENSEMBLE_POOLINGS:
                    _broken(f"ensemble {cid} does not say how it combines its members")
            elif info.members is not None or info.pooling is not None:
                _broken(f"kept candidate {cid} lists members but is not an ensemble")
        if self.cluster_fit is not None:
            for cid in self.cluster_fit.candidates:
                if cid not in self.kept or self.kept[cid].is_ensemble:
                    _broken(f"its fit on a cluster names candidate {cid}, which is not kept")

    def to_dict(self) -> dict[str, Any]:
        """The file's metadata as plain JSON-ready data, in the file's key order."""
        out: dict[str, Any] = {}
        for key in self._ORDER:
            value = getattr(self, key)
            if key in ("timeseries", "cluster_fit"):
                if value is None:
                    continue
                value = value.to_dict()
            elif key in ("target", "rows"):
                value = dataclasses.asdict(value) if key == "target" else value.to_dict()
            elif key in ("columns", "leaderboard"):
                value = [v.to_dict() for v in value]
            elif key == "kept":
                value = {str(k): v.to_dict() for k, v in value.items()}
            out[key] = value
        return out


TASKS = ("binary", "multiclass", "regression")


def _broken(detail: str) -> None:
    raise ArtifactError(f"The model metadata is damaged: {detail}. Retrain the model.")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole(value: Any, where: str) -> int:
    """A candidate id: a whole number (or the text of one, as JSON object keys are)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArtifactError(
            f"The model metadata is damaged: '{where}' should hold candidate numbers, not "
            f"'{_short(value)}'. Retrain the model."
        )
    return value


def _check_members(cid: int, members: dict[str, float] | None, kept: dict[int, Any]) -> None:
    if not members:
        _broken(f"ensemble {cid} has no members")
        return
    total = 0.0
    for key, weight in members.items():
        mid = _whole(key, f"kept.{cid}.members")
        if mid not in kept or kept[mid].is_ensemble:
            _broken(f"ensemble {cid} uses candidate {mid}, which is not a kept trained candidate")
        if not 0 <= weight < float("inf"):
            _broken(f"ensemble {cid} gives candidate {mid} a weight that is not a positive number")
        total += weight
    if not total > 0:
        _broken(f"ensemble {cid}'s weights add up to nothing")


# ---------------------------------------------------------------------------- versions
def check_version(version: Any) -> int:
    """The schema version of a file this Easel can read; a clear error for any other."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ArtifactError(
            f"The model metadata has no valid schema version (found {version!r}); it is "
            "damaged or not an Easel model file. Retrain the model."
        )
    if version > SCHEMA_VERSION:
        raise ArtifactError(
            f"This model was made by a newer Easel (schema {version}); this Easel reads schema "
            f"{SCHEMA_VERSION} and older. Upgrade Easel to use it."
        )
    if version < 1:
        raise ArtifactError(
            f"The model metadata has schema version {version}, which no Easel writes; it is "
            "damaged. Retrain the model."
        )
    return version


def upgrade(meta: dict[str, Any]) -> dict[str, Any]:
    """A metadata dict of any older schema version, as this Easel writes it (a new dict).

    Version 1 -> 2: ``problem_type`` is always written (it was only written for time series);
    fields that early version-1 files lack get the values a model without them means.
    Version 2 -> 3: nothing to change (a leaderboard row without ``rows`` reads as None).
    Version 3 -> 4: a forecast model's features were not scaled (``layout.scaled`` False), its
    80% range (``interval``, in the target's units) becomes the quantiles 0.1, 0.5, 0.9 with the
    range's ends as their errors (each on its side of the forecast), no backtests.
    Version 4 -> 5: every leaderboard row ran on the build's own computer (``worker`` "").
    Version 5 -> 6: a forecast model has no future- or past-value columns, no holidays, missing
    target periods were skipped, and every series is forecast by the model (series shorter
    than the horizon and 4 periods were left out of older models).
    Version 6 -> 7: no series is forecast by a statistical method (``stat_forecasts`` None).
    Version 7 -> 8: every ensemble averaged its members' scores (``pooling`` "mean").
    Version 8 -> 9: no final fit ran on a cluster (``cluster_fit`` absent).
    """
    version = check_version(meta.get("schema_version"))
    out = dict(meta)
    if version < 2:
        out.setdefault("problem_type", out.get("task"))
        out.setdefault("recipe", None)
        out.setdefault("warnings", [])
        out.setdefault("refit_on_all_rows", False)
        out.setdefault("refit_note", "")
        out.setdefault("holdout_description", "")
        out.setdefault("holdout_rows_kept", 0)
        out.setdefault("train_target_summary", {})
        out.setdefault("column_impact", [])
        out.setdefault("timings", {})
        out.setdefault("fit_seconds", 0.0)
        out["schema_version"] = 2
    if check_version(out["schema_version"]) < 3:
        out["schema_version"] = 3  # leaderboard rows without ``rows``: unknown, as None means
    if check_version(out["schema_version"]) < 4:
        ts = out.get("timeseries")
        if isinstance(ts, dict) and "interval" in ts:
            ts = dict(ts)
            interval = ts.pop("interval")
            rows = interval if isinstance(interval, list) else []
            ts["quantiles"] = [0.1, 0.5, 0.9]
            ts["quantile_offsets"] = [
                [min(float(r[0]), 0.0), 0.0, max(float(r[1]), 0.0)]
                if isinstance(r, list) and _numbers(r, 2)
                else r
                for r in rows
            ]
            ts["backtests"] = []
            if isinstance(ts.get("layout"), dict):
                ts["layout"] = {**ts["layout"], "scaled": False}
            out["timeseries"] = ts
        out["schema_version"] = 4
    if check_version(out["schema_version"]) < 5:
        board = out.get("leaderboard")
        if isinstance(board, list):
            out["leaderboard"] = [
                {**r, "worker": ""} if isinstance(r, dict) and "worker" not in r else r
                for r in board
            ]
        out["schema_version"] = 5
    if check_version(out["schema_version"]) < 6:
        ts = out.get("timeseries")
        if isinstance(ts, dict):
            ts = dict(ts)
            if isinstance(ts.get("layout"), dict):
                ts["layout"] = {
                    **ts["layout"], "future_columns": [], "past_columns": [], "kinds": {},
                    "past_lag": 0, "holidays": None, "fill": "skip",
                }  # fmt: skip
            series = ts.get("series")
            if isinstance(series, dict) and isinstance(series.get("keys"), list):
                series = {**series, "covariate_tails": {}}
                series["methods"] = ["model"] * len(series["keys"])
                ts["series"] = series
            out["timeseries"] = ts
        out["schema_version"] = 6
    if check_version(out["schema_version"]) < 7:
        ts = out.get("timeseries")
        if isinstance(ts, dict) and isinstance(ts.get("series"), dict):
            series = ts["series"]
            if isinstance(series.get("keys"), list):
                series = {**series, "stat_forecasts": [None] * len(series["keys"])}
                out["timeseries"] = {**ts, "series": series}
        out["schema_version"] = 7
    if check_version(out["schema_version"]) < 8:
        kept = out.get("kept")
        if isinstance(kept, dict):
            out["kept"] = {
                k: {**v, "pooling": "mean"}
                if isinstance(v, dict) and v.get("candidate") == "ensemble" and "pooling" not in v
                else v
                for k, v in kept.items()
            }
        out["schema_version"] = 8
    if check_version(out["schema_version"]) < 9:
        out["schema_version"] = 9  # nothing to change: no cluster_fit, no fit on a cluster
    return out


# ---------------------------------------------------------------------------- files
def read_meta_file(folder: str | Path) -> tuple[ModelMeta, dict[str, Any]]:
    """A model folder's typed metadata and its preparation dict (read, checked, upgraded)."""
    p = Path(folder)
    meta_file = p / META_FILE
    try:
        data = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"The model file '{meta_file}' is damaged ({exc}). Retrain the model."
        ) from None
    data = _dict(data, "the metadata")
    check_version(data.get("schema_version"))
    try:
        meta = ModelMeta.from_dict(data)
        pre = _dict(data[PREPROCESSING_KEY], PREPROCESSING_KEY)
    except ArtifactError:
        raise
    except KeyError as exc:
        raise ArtifactError(
            f"The model metadata in '{meta_file}' is incomplete: it lacks {exc}. Retrain the model."
        ) from None
    except Exception as exc:
        raise ArtifactError(
            f"The model metadata in '{meta_file}' is damaged ({_short(exc)}). Retrain the model."
        ) from None
    return meta, pre


def read_meta(folder: str | Path) -> ModelMeta:
    """A model folder's typed metadata, without loading its candidates."""
    return read_meta_file(folder)[0]


def write_meta_file(folder: str | Path, meta: ModelMeta, preprocessing: dict[str, Any]) -> None:
    data = {**meta.to_dict(), PREPROCESSING_KEY: preprocessing}
    text = json.dumps(data, indent=1, default=_json_default, allow_nan=True)
    (Path(folder) / META_FILE).write_text(text, encoding="utf-8")
