"""The trained model: predict from raw rows, explain which columns matter, save and load.

The folder it is saved to, and its typed metadata (:class:`automl.artifact.ModelMeta`), are
described in :mod:`automl.artifact`. Nothing in it is pickled: loading runs no code from the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.artifact import (
    HOLDOUT_FILE,
    META_FILE,
    KeptCandidate,
    ModelMeta,
    RowCounts,
    TimeSeriesMeta,
    _json_default,
    parquet_safe,
    read_meta_file,
    write_meta_file,
)
from automl.candidates import Candidate, _compiled, get_candidate
from automl.coltypes import check_text
from automl.errors import (
    ArtifactError,
    EaselWarning,
    ParameterError,
    SchemaError,
    invalid_parameter,
)
from automl.metrics import pool_scores
from automl.prep.recipe import Recipe
from automl.preprocess import InputReport, Preprocessor
from automl.words import plural

MIN_ROWS_COMPILED = 20_000  # fewer rows score in well under a second without compiled trees
MIN_ROWS_BIG_TABLE = 100_000  # a model that learned from this many rows: compiled when it is saved
# Rows wait for the compile of their trees at most COMPILE_WAIT times its estimate, and at most
# half the time LightGBM would take to score them (the compile then goes on in the background)
COMPILE_WAIT = 3.0
TREE_ROW_SECONDS = 3.3e-8  # one tree, one row, LightGBM on one thread (7 leaves, measured)

# A temporary folder of an earlier save that died (killed, power cut) is removed by the next save
# next to it once its writer is gone or, when that cannot be told, once it is this old; a live
# save never takes this long to write its folder.
STALE_TEMP_SECONDS = 60.0
LIVE_TEMP_SECONDS = 3600.0  # even a writer that seems alive (its pid reused) is gone by then
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_TEMP = re.compile(r"\.(tmp|old)-(?:(?P<host>[0-9a-f]{6})-(?P<pid>\d{1,10})-)?[0-9a-f]{8}")


def _str_columns(df: pd.DataFrame) -> pd.DataFrame:
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        twice = [n for n, k in Counter(names).items() if k > 1]
        raise SchemaError(
            f"The rows have several columns named {', '.join(repr(n) for n in twice[:10])}. "
            "Give each column its own name (rename or remove the copies) and try again."
        )
    if all(isinstance(c, str) for c in df.columns):
        return df
    return df.rename(columns=str)


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _short(value: Any) -> str:
    text = "missing" if value is None else str(value)
    return text if len(text) <= 30 else text[:27] + "..."


@dataclass
class InputField:
    """One raw input of a prediction form: its column, the widget kind, a typical value.

    ``kind`` is "number" (``value`` a float), "date" (``value`` an ISO date), "choice" (one of
    ``options``; ``value`` is the most frequent) or "text" (``value`` a string)."""

    name: str
    kind: str
    value: Any
    options: list[str] = field(default_factory=list)


class Model:
    """A trained Easel model. Build one with :class:`automl.AutoML`, or :func:`automl.load`.

    ``meta`` is its typed metadata (:class:`automl.artifact.ModelMeta`; a plain dict of the
    file's format is converted)."""

    def __init__(
        self,
        meta: ModelMeta | dict[str, Any],
        preprocessor: Preprocessor,
        candidates: dict[int, Candidate],
    ) -> None:
        self.meta = meta if isinstance(meta, ModelMeta) else ModelMeta.from_dict(meta)
        self.preprocessor = preprocessor
        self.candidates = candidates
        self._recipe: Recipe | None = None
        # hold-out rows with their target and every kept candidate's scores (for reports)
        self.holdout: pd.DataFrame | None = None

    @property
    def recipe(self) -> Recipe | None:
        """The preparation recipe replayed on raw rows before prediction (None if there is none)."""
        if self._recipe is None and self.meta.recipe:
            self._recipe = Recipe.from_dict(self.meta.recipe)
        return self._recipe

    @property
    def input_columns(self) -> list[str]:
        """The raw columns rows to predict must have (for a forecast: the history's columns)."""
        ts = self.meta.timeseries
        if ts is not None:
            past = list(ts.layout["past_columns"])
            return [ts.time_column, *ts.id_columns, ts.target, *ts.static_columns, *past]
        if self.meta.recipe:
            return list(self.meta.recipe.get("raw_columns", []))
        return [c.name for c in self.preprocessor.columns]

    def input_form(self) -> list[InputField]:
        """The raw inputs a one-row prediction form asks for, each with a typical value (the
        median or the most frequent) and, for a few known values, the options to pick from."""
        if self.meta.recipe:  # the recipe prepares rows: ask for the raw columns
            typical = self.meta.recipe.get("raw_typical", {})
            out = []
            for name in self.input_columns:
                info = typical.get(name, {"kind": "text", "value": "", "options": []})
                options = [str(o) for o in info.get("options") or []]
                if info["kind"] == "number":
                    out.append(InputField(name, "number", float(info["value"])))
                elif info["kind"] == "date" and info["value"]:
                    out.append(InputField(name, "date", str(info["value"])[:10]))
                elif options:
                    value = str(info["value"]) if str(info["value"]) in options else options[0]
                    out.append(InputField(name, "choice", value, options))
                else:
                    out.append(InputField(name, "text", str(info["value"] or "")))
            return out
        fields = []
        for col in self.preprocessor.columns:
            p = self.preprocessor.params_[col.name]
            if col.type == "numeric":
                fields.append(InputField(col.name, "number", float(p["median"])))
            elif col.type == "boolean":
                value = "yes" if p["median"] >= 0.5 else "no"
                fields.append(InputField(col.name, "choice", value, ["yes", "no"]))
            elif col.type == "categorical":
                options = [str(c) for c in p["categories"]] or [""]
                fields.append(InputField(col.name, "choice", options[0], options))
            elif col.type == "datetime":
                days = int(p["parts"]["days"]["median"])
                day = pd.Timestamp("1970-01-01") + pd.Timedelta(days=days)
                fields.append(InputField(col.name, "date", day.date().isoformat()))
            else:
                fields.append(InputField(col.name, "text", ""))
        return fields

    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """Raw rows -> the columns the model was trained on (replays the recipe's column steps)."""
        df = _str_columns(df)
        check_text(df)
        recipe = self.recipe
        if recipe is None:
            return df
        missing = [c for c in self.input_columns if c not in df.columns]
        if missing:
            raise SchemaError(
                f"The data is missing {plural(len(missing), 'column')} the model needs: "
                f"{', '.join(missing)}. Add them (empty values are allowed) and try again."
            )
        return recipe.apply(df, training=False)

    # ------------------------------------------------------------------ properties
    @property
    def task(self) -> str:
        """What the candidates learn: binary, multiclass or regression (a forecast learns
        numbers: see :attr:`problem_type`)."""
        return self.meta.task

    @property
    def problem_type(self) -> str:
        """binary, multiclass, regression or timeseries."""
        return self.meta.problem_type

    @property
    def is_forecast(self) -> bool:
        return self.meta.is_forecast

    @property
    def timeseries(self) -> TimeSeriesMeta:
        """A forecast model's series, frequency, horizon and baselines (see :attr:`is_forecast`;
        a model that predicts rows has none and raises ParameterError)."""
        if self.meta.timeseries is None:
            raise ParameterError(
                f"This is not a time series model: it predicts {self.problem_type} targets "
                "from rows, so it has no series, frequency or horizon."
            )
        return self.meta.timeseries

    def forecast(
        self,
        history: pd.DataFrame | None = None,
        horizon: int | None = None,
        series: list[str] | None = None,
        future: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Time series models: the next ``horizon`` periods of every series (or of ``series``),
        from the end of the training data or from ``history`` (rows like the training data).
        A model with future-value columns (:attr:`future_columns`) needs ``future``: their
        values for every series and forecast period, with the series ID and time columns
        (:meth:`future_template` makes one to fill in).

        One row per series and period: the series ID columns, the time, ``step``,
        ``prediction`` (the P50) and one column per quantile of the model (``p10``, ``p50``,
        ``p90`` by default), from the spread of the backtests' errors. An added column whose name
        is an ID or time column's gets a suffix (``step_2`` ...), see
        :func:`automl.timeseries.output_names`."""
        if not self.is_forecast:
            raise ParameterError(
                f"forecast is only available for time series models; this model predicts "
                f"{self.problem_type} targets from rows. Use predict instead."
            )
        from automl.timeseries import forecast

        if history is not None and self.meta.recipe:
            history = self.prepare(history)
        return forecast(self, history, horizon, series, future)

    @property
    def future_columns(self) -> list[str]:
        """A forecast model's columns whose future values it needs (empty for none)."""
        return list(self.timeseries.layout["future_columns"])

    def future_template(
        self,
        horizon: int | None = None,
        series: list[str] | None = None,
        history: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """The table of future values a forecast needs, to fill in: one row per series and
        forecast period (after the training data, or after ``history``), with every
        future-value column at its last known value."""
        from automl.timeseries import future_template

        if history is not None and self.meta.recipe:
            history = self.prepare(history)
        return future_template(self, horizon, series, history)

    @property
    def target(self) -> str:
        return self.meta.target.name

    @property
    def classes(self) -> list[Any]:
        return list(self.meta.target.classes or [])

    @property
    def default_id(self) -> int:
        return self.meta.default_candidate

    @property
    def threshold(self) -> float:
        """2-category models: a row is the positive class when its probability is at least this
        (tuned on validation predictions for accuracy, balanced accuracy and F1; else 0.5)."""
        t = self.meta.default.threshold
        return 0.5 if t is None else float(t)

    @property
    def metric(self) -> str:
        """The name of the metric the search optimized (see :attr:`metrics` for the values)."""
        return self.meta.metric

    @property
    def metrics(self) -> dict[str, float]:
        """Hold-out metrics of the default candidate."""
        return dict(self.meta.default.holdout_metrics)

    @property
    def kept(self) -> dict[int, KeptCandidate]:
        """The candidates kept with a trained model (or an ensemble of them), by id."""
        return self.meta.kept

    def _kept_id(self, candidate_id: Any, owner: str) -> int:
        """``candidate_id`` as the id of a kept candidate (None: the default), or a clear error."""
        if candidate_id is None:
            return self.default_id
        cid = _as_id(candidate_id, owner)
        if cid not in self.meta.kept:
            kept = ", ".join(str(k) for k in sorted(self.meta.kept))
            raise ParameterError(
                f"Candidate {cid} is not a kept candidate of this model. Kept candidates: {kept}."
            )
        return cid

    def candidate_name(self, candidate_id: int | None = None) -> str:
        """The family of a kept candidate (the default if None): lightgbm, linear, ensemble..."""
        return self.meta.kept[self._kept_id(candidate_id, "candidate_name")].candidate

    @property
    def rows(self) -> RowCounts:
        """How many rows the data had and how they were split (search, train, hold-out)."""
        return self.meta.rows

    @property
    def warnings(self) -> list[str]:
        """What the build noticed about the data and wants the analyst to know."""
        return list(self.meta.warnings)

    @property
    def leaderboard(self) -> pd.DataFrame:
        """Every candidate tried: validation score, fit time, status, and whether it was kept."""
        rows = []
        metric = self.meta.metric
        for r in self.meta.leaderboard:
            kept = self.meta.kept.get(int(r.id))
            name = r.candidate
            if name == "ensemble":
                parts = r.params.get("members", {})
                name = "ensemble of " + ", ".join(f"{k} ({w:.0%})" for k, w in parts.items())
            rows.append(
                {
                    "id": r.id,
                    "candidate": name,
                    f"validation_{metric}": r.score,
                    f"holdout_{metric}": kept.holdout_metrics.get(metric) if kept else None,
                    "fit_seconds": r.fit_seconds,
                    "predict_ms_per_1000_rows": kept.predict_ms_per_1000_rows if kept else None,
                    "status": r.status,
                    "source": r.source,
                    "rows": r.rows,
                    "worker": r.worker,
                    "message": r.message,
                    "kept": kept is not None,
                    "default": r.id == self.default_id,
                    "params": json.dumps(r.params, default=_json_default),
                }
            )
        return pd.DataFrame(rows)

    @property
    def column_impact(self) -> pd.DataFrame:
        """How much each column matters (hold-out permutation impact), largest first."""
        return pd.DataFrame(
            [list(r) for r in self.meta.column_impact], columns=["column", "impact"]
        )

    # ------------------------------------------------------------------ prediction
    def check_input(self, df: pd.DataFrame) -> InputReport:
        """Check rows before prediction: missing columns raise; extra ones are listed."""
        if not isinstance(df, pd.DataFrame):
            raise ParameterError(
                f"Rows to predict must be a pandas DataFrame. Got {type(df).__name__} instead."
            )
        return self.preprocessor.check_columns(self.prepare(df))

    def members(self, candidate_id: int | None = None) -> dict[int, float]:
        """The trained candidates behind a kept candidate (the default if None), with weights:
        an ensemble's members, or the candidate itself with weight 1."""
        cid = self._kept_id(candidate_id, "members")
        info = self.meta.kept[cid]
        if info.is_ensemble and info.members is not None:
            return {int(k): float(w) for k, w in info.members.items()}
        return {cid: 1.0}

    def compile_trees(self, rows: int) -> list[Any]:
        """Native code for the default's tree members when ``rows`` rows are to be scored (at
        least MIN_ROWS_COMPILED): trees already compiled on this computer, else a compile
        started here (a child process, at a lower priority). When it takes less than half the
        time the members' own scoring of the rows would, the rows wait for it (a bounded
        time); else they are scored as they are and the compile is for the next batches (not
        started while MAX_BACKGROUND such compiles run in this process). The
        members switch to compiled trees once they are ready and checked; the caller lets the
        compiles it gets back finish on their own when the rows are scored (``detach()``)."""
        jobs = []
        for cid in self.members():
            cand = self.candidates[cid]
            trees = cand.compiled_trees() if rows >= MIN_ROWS_COMPILED else None
            if trees is None:
                continue
            kept = self.meta.kept.get(cid)
            ms = kept.predict_ms_per_1000_rows if kept else None
            seconds = rows * (ms / 1e6 if ms else TREE_ROW_SECONDS * trees.n_trees)
            if not trees.cached():
                if seconds >= 2 * trees.seconds_to_compile:  # it pays: these rows wait for it
                    trees.start()
                    trees.wait(min(COMPILE_WAIT * trees.seconds_to_compile, seconds / 2))
                elif not _compiled.start_for_later(trees):
                    continue  # (a later batch starts it: a server's batches would pile them up)
            cand.score_compiled(trees)
            jobs.append(trees)
        return jobs

    def compile_now(self, seconds: float) -> int:
        """For a model that learned from a big table (scored in big batches too): compile the
        default's trees into this computer's cache now, when that takes less than ``seconds``,
        so that batch scoring finds them compiled. Returns how many were compiled."""
        rows = {int(r.id): int(r.rows or 0) for r in self.meta.leaderboard}
        done = 0
        for cid in self.members():
            if rows.get(cid, 0) < MIN_ROWS_BIG_TABLE:
                continue
            trees = self.candidates[cid].compiled_trees()
            if trees is None or trees.cached() or 1.5 * trees.seconds_to_compile > seconds:
                continue
            deadline = time.monotonic() + seconds
            trees.start()
            while trees.running() and time.monotonic() < deadline:
                time.sleep(0.05)
            trees.stop()  # (nothing left to stop when it finished)
            done += trees.poll()
            seconds = deadline - time.monotonic()
        return done

    def _encoded(
        self, df: pd.DataFrame, report: InputReport, cache: dict[str, Any], encoding: str
    ) -> Any:
        if encoding not in cache:
            cache[encoding] = (
                self.preprocessor.transform_tree(df, report)
                if encoding == "tree"
                else self.preprocessor.transform_linear(df, report)
            )
        return cache[encoding]

    def scores(self, df: pd.DataFrame) -> np.ndarray:
        """The default candidate's raw scores for raw rows: the positive class's probability
        (2 categories), one column per class (3+), or the predicted number (regression)."""
        if not isinstance(df, pd.DataFrame):
            raise ParameterError(
                f"Rows to score must be a pandas DataFrame. Got {type(df).__name__} instead."
            )
        prepared = self.prepare(df)
        return self._scores(prepared, self.preprocessor.check_columns(prepared))

    def _scores(self, df: pd.DataFrame, report: InputReport) -> np.ndarray:
        """The default candidate's scores (an ensemble: the weighted average of its members', as
        its ``pooling`` says)."""
        cache: dict[str, Any] = {}
        parts = []
        for cid, w in self.members().items():
            cand = self.candidates[cid]
            part = np.asarray(cand.predict_scores(self._encoded(df, report, cache, cand.encoding)))
            parts.append((w, part))
        if len(parts) == 1 and parts[0][0] == 1.0:
            return parts[0][1]
        return pool_scores(parts, self.meta.default.pooling or "mean")

    def score_frame(
        self,
        df: pd.DataFrame,
        warn: bool = True,
        observe: Callable[[pd.DataFrame], None] | None = None,
    ) -> tuple[np.ndarray, pd.DataFrame | None, InputReport]:
        """Labels/values, class probabilities (or None) and the input report, in one pass.
        ``observe`` is given the rows as the model reads them (after its recipe), once their
        columns are checked (batch scoring counts them for drift)."""
        if not isinstance(df, pd.DataFrame):
            raise ParameterError(
                f"Rows to predict must be a pandas DataFrame. Got {type(df).__name__} instead."
            )
        if self.is_forecast:
            raise ParameterError(
                "This model forecasts a time series: use forecast(history, horizon) (in the app: "
                "Predict > Forecast) instead of predicting rows one by one."
            )
        prepared = self.prepare(df)
        report = self.preprocessor.check_columns(prepared)
        if observe is not None:
            observe(prepared)
        scores = self._scores(prepared, report)
        if warn:
            for msg in report.messages():
                warnings.warn(msg, EaselWarning, stacklevel=3)
        if self.task == "regression":
            return np.asarray(scores, dtype=float), None, report
        proba = np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores
        picked = (scores >= self.threshold).astype(int) if scores.ndim == 1 else proba.argmax(1)
        labels = np.asarray(self.classes, dtype=object)[picked]
        if all(isinstance(c, (bool, np.bool_)) for c in self.classes):
            labels = labels.astype(bool)
        elif all(isinstance(c, (int, np.integer)) for c in self.classes):
            labels = labels.astype(np.int64)
        frame = pd.DataFrame(proba, columns=pd.Index(self.classes, dtype=object), index=df.index)
        return labels, frame, report

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """One prediction per row: a class label, or a number for regression."""
        return self.score_frame(df)[0]

    def predict_proba(self, df: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities: one column per class label (classification only)."""
        if self.task == "regression":
            raise ParameterError(
                "predict_proba is only available for 2-category and 3+ category problems; this "
                "model predicts numbers. Use predict instead."
            )
        proba = self.score_frame(df)[1]
        assert proba is not None
        return proba

    def contributions(
        self, df: pd.DataFrame, prepared_rows: bool = False
    ) -> tuple[list[str], np.ndarray, pd.DataFrame]:
        """(columns, per-row contribution of each column, prepared rows). ``prepared_rows``:
        ``df`` already went through the recipe (the stored hold-out rows)."""
        if not isinstance(df, pd.DataFrame):
            raise ParameterError(
                f"Rows to explain must be a pandas DataFrame. Got {type(df).__name__} instead."
            )
        prepared = _str_columns(df) if prepared_rows else self.prepare(df)
        report = self.preprocessor.check_columns(prepared)
        cache: dict[str, Any] = {}
        chosen = None
        if self.task == "multiclass":  # explain the predicted class
            chosen = np.asarray(self._scores(prepared, report)).argmax(axis=1)
        totals: dict[str, np.ndarray] = {}
        for cid, w in self.members().items():  # an ensemble: weighted sum of its members'
            cand = self.candidates[cid]
            X = self._encoded(prepared, report, cache, cand.encoding)
            sources = (
                self.preprocessor.tree_features()[1]
                if cand.encoding == "tree"
                else self.preprocessor.linear_sources()
            )
            contrib = cand.contributions(X)  # (rows, features + 1, outputs)
            if contrib.shape[1] - 1 != len(sources):  # pragma: no cover - an encoding bug
                raise AssertionError("feature sources do not match the encoded features")
            if contrib.shape[2] > 1:
                assert chosen is not None
                contrib = contrib[np.arange(len(chosen)), :, chosen]
            else:
                contrib = contrib[:, :, 0]
            columns = list(dict.fromkeys(sources))
            pos = np.asarray([columns.index(src) for src in sources], dtype=np.int64)
            agg = np.zeros((contrib.shape[0], len(columns)))
            np.add.at(agg.T, pos, contrib[:, :-1].T)
            for j, c in enumerate(columns):
                totals[c] = totals.get(c, 0.0) + w * agg[:, j]
        names = list(totals)
        return names, np.column_stack([totals[c] for c in names]), prepared

    def explain(self, df: pd.DataFrame, top: int = 5) -> pd.DataFrame:
        """Why each row got its prediction: the ``top`` columns that moved it most.

        Long format, one line per (row, column): ``row`` (the input's index), ``rank``,
        ``column``, ``value`` (the row's value), ``contribution`` (signed; log-odds of the
        predicted class for classification, the target's units for regression) and ``direction``
        ("raises"/"lowers"). Tree models use exact TreeSHAP values; linear models coefficient x
        value; both are summed over the features made from one column (date parts, one-hot
        levels, text terms), so they speak in the analyst's columns.
        """
        if top < 1:
            raise ParameterError(f"top must be at least 1. Got {top}.")
        columns, agg, prepared = self.contributions(df)
        k = min(top, len(columns))
        order = np.argsort(-np.abs(agg), axis=1)[:, :k]
        n = len(df)
        picked = np.take_along_axis(agg, order, axis=1)
        names = np.asarray(columns, dtype=object)[order]
        values = np.empty((n, k), dtype=object)
        for j, c in enumerate(columns):  # each column's values, where it was picked
            mask = order == j
            if mask.any():
                col = prepared[c].astype(object).to_numpy()
                rows_, ranks = np.nonzero(mask)
                values[rows_, ranks] = col[rows_]
        out = pd.DataFrame(
            {
                "row": np.repeat(np.asarray(df.index, dtype=object), k),
                "rank": np.tile(np.arange(1, k + 1), n),
                "column": names.ravel(),
                "value": [None if _missing(v) else v for v in values.ravel()],
                "contribution": picked.ravel(),
            }
        )
        out["direction"] = np.where(
            out["contribution"] > 0, "raises", np.where(out["contribution"] < 0, "lowers", "none")
        )
        return out

    def reasons(self, df: pd.DataFrame, top: int = 3) -> list[str]:
        """One short text per row for batch output: ``"support_calls=9 (+1.2); ..."``."""
        ex = self.explain(df, top)
        k = int(ex["rank"].max()) if len(ex) else 0
        parts = [
            f"{c}={_short(v)} ({x:+.3g})"
            for c, v, x in zip(ex["column"], ex["value"], ex["contribution"], strict=True)
        ]
        return ["; ".join(parts[i : i + k]) for i in range(0, len(parts), k)] if k else []

    def output_names(self, columns: Iterable[Any], reasons: bool = False) -> dict[str, str]:
        """The columns prediction adds to rows that have ``columns``: each of ``prediction``,
        ``confidence``, ``probability_<label>`` (classes) and ``reasons`` -> the name used.

        The rows' own columns are never overwritten: when any of these names is taken, every
        added column gets the same suffix (``_2``, or the first free number), so the answers
        stay together and the rows' columns stay as they were."""
        ours = ["prediction"]
        if self.task != "regression":
            ours += ["confidence", *(f"probability_{c}" for c in self.classes)]
        if reasons:
            ours.append("reasons")
        taken = {str(c) for c in columns}
        k = 1
        while any((n if k == 1 else f"{n}_{k}") in taken for n in ours):
            k += 1
        return {n: n if k == 1 else f"{n}_{k}" for n in ours}

    def answers(
        self,
        df: pd.DataFrame,
        warn: bool = False,
        reasons: int = 0,
        observe: Callable[[pd.DataFrame], None] | None = None,
    ) -> tuple[dict[str, Any], InputReport]:
        """The columns prediction adds to ``df``, in order: name -> one value per row. They are
        ``prediction`` (and ``confidence``, ``probability_<label>``; with ``reasons`` > 0,
        ``reasons``: each row's top columns), renamed with a suffix where ``df`` already has a
        column of that name (see :meth:`output_names`; the report says so). ``df`` itself is
        not copied: batch scoring adds these to the rows as it read them. ``observe``: see
        :meth:`score_frame`."""
        labels, proba, report = self.score_frame(df, warn=warn, observe=observe)
        names = self.output_names(df.columns, reasons > 0)
        out: dict[str, Any] = {names["prediction"]: labels}
        if proba is not None:
            out[names["confidence"]] = proba.max(axis=1).to_numpy()
            for j, c in enumerate(proba.columns):
                out[names[f"probability_{c}"]] = proba.iloc[:, j].to_numpy()
        if reasons > 0:
            out[names["reasons"]] = self.reasons(df, reasons)
        if any(k != v for k, v in names.items()):
            report.renamed_outputs = names
            report.own_columns = [str(c) for c in df.columns]
        return out, report

    def predict_table(
        self, df: pd.DataFrame, warn: bool = False, reasons: int = 0
    ) -> tuple[pd.DataFrame, InputReport]:
        """The input columns plus the columns of :meth:`answers` (``prediction``, ...). The
        input's columns are kept as they are: added columns whose names it already has get a
        suffix (see :meth:`output_names`), and the report says so."""
        answers, report = self.answers(df, warn=warn, reasons=reasons)
        out = df.copy()
        for name, values in answers.items():
            out[name] = values
        return out, report

    # ------------------------------------------------------------------ choice
    def set_default(self, candidate_id: int | str) -> Model:
        """Make a kept leaderboard candidate the one that predicts."""
        cid = _as_id(candidate_id, "set_default")
        ids = [int(r.id) for r in self.meta.leaderboard] or sorted(self.meta.kept)
        if cid not in ids:
            raise ParameterError(
                f"There is no candidate {cid} on the leaderboard (ids run from "
                f"{min(ids)} to {max(ids)}). Pick an id from the leaderboard's 'id' column."
            )
        if cid not in self.candidates and cid not in self.meta.kept:
            kept = ", ".join(str(k) for k in sorted(self.candidates))
            raise ParameterError(
                f"Candidate {candidate_id} cannot be made the default: only kept candidates have a "
                f"trained model. Kept candidates: {kept}."
            )
        self.meta.default_candidate = cid
        return self

    # ------------------------------------------------------------------ persistence
    def save(
        self,
        path: str | os.PathLike[str],
        extras: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write the artifact atomically: a temporary directory renamed into place.

        ``extras(folder)`` may add files to the new folder before it replaces the old one (the
        reports: :func:`automl.reports.save_model` saves a model with its reports, and
        refreshes them when it had some). Files of an earlier save are not kept.
        """
        target = Path(path)
        if target.exists() and not (target / META_FILE).exists() and any(target.iterdir()):
            raise ArtifactError(
                f"'{target}' exists and is not an Easel model; refusing to overwrite it. "
                "Choose another output directory."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_folder(target, "tmp")
        try:
            (tmp / "candidates").mkdir(parents=True)
            for cid, cand in self.candidates.items():
                d = tmp / "candidates" / str(cid)
                d.mkdir()
                cand.save(d)
            if self.holdout is not None:
                parquet_safe(self.holdout).to_parquet(tmp / HOLDOUT_FILE, index=False)
            if extras is not None:
                extras(tmp)
            write_meta_file(tmp, self.meta, self.preprocessor.to_dict())
            old = None
            if target.exists():
                old = _temp_folder(target, "old")
                target.rename(old)
            tmp.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        remove_stale_temps(target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read an artifact written by :meth:`save`; clear errors for anything else."""
        p = Path(path)
        if not p.is_dir():
            raise ArtifactError(
                f"No model directory at '{p}'. Give the folder that 'automl train --out' created."
            )
        meta_file = p / META_FILE
        if not meta_file.is_file():
            raise ArtifactError(
                f"'{p}' is not an Easel model: it has no {META_FILE}. Give the folder that "
                "'automl train --out' created."
            )
        meta, pre_dict = read_meta_file(p)  # checked and upgraded to this schema version
        _check_holidays(meta, p)
        try:
            pre = Preprocessor.from_dict(pre_dict)
            widths = {"tree": len(pre.tree_features()[0]), "linear": len(pre.linear_sources())}
        except Exception:  # any damage to the preparation -> one message
            raise ArtifactError(
                f"The model in '{p}' is damaged: its data preparation (the 'preprocessing' part "
                f"of {META_FILE}) is incomplete or was edited. Retrain the model."
            ) from None
        candidates: dict[int, Candidate] = {}
        for cid, info in meta.kept.items():
            if not info.is_ensemble:  # an ensemble has no files: a weighted average of others
                candidates[cid] = _load_candidate(p, cid, info, meta, widths)
        model = cls(meta, pre, candidates)
        if (p / HOLDOUT_FILE).exists():
            try:
                model.holdout = pd.read_parquet(p / HOLDOUT_FILE)
            except Exception:  # reports need it; predictions do not: load without it
                model.holdout = None
        return model


def _check_holidays(meta: ModelMeta, path: Path) -> None:
    """A forecast's holidays (checked in form by the metadata) are a country and region the
    holiday calendar knows: an ``ArtifactError`` now, not a failure when forecasting."""
    hol = meta.timeseries.layout.get("holidays") if meta.timeseries is not None else None
    if hol is None:
        return
    from automl.covariates import check_holidays

    try:
        check_holidays(f"{hol['country']}:{hol.get('region') or ''}")
    except ParameterError:
        raise ArtifactError(
            f"The model in '{path}' is damaged: its holidays ('timeseries.layout.holidays' in "
            f"{META_FILE}) are not a country and region the holiday calendar knows. Retrain the "
            "model."
        ) from None


def _as_id(candidate_id: Any, owner: str) -> int:
    """A candidate id given as a whole number (or its text, as a command line gives it)."""
    if isinstance(candidate_id, str) and candidate_id.strip().isdigit():
        return int(candidate_id.strip())
    if isinstance(candidate_id, (int, np.integer)) and not isinstance(candidate_id, bool):
        return int(candidate_id)
    raise invalid_parameter(
        "candidate_id", owner, "a candidate id from the leaderboard's 'id' column", candidate_id
    )


def _temp_folder(target: Path, kind: str) -> Path:
    """A folder next to ``target`` that a save writes (``tmp``) or moves the old model to
    (``old``): ``.NAME.tmp-HOST-PID-RANDOM``, so a later save can tell whose it was."""
    return target.parent / f".{target.name}.{kind}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _writer_gone(host: str | None, pid: str | None) -> bool | None:
    """Whether the process that named a temporary folder has ended (None: cannot tell)."""
    if host != _HOST or pid is None or os.name != "posix":
        return None
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, OSError):
        return False
    return False


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary folders that earlier saves of ``target`` left behind when they were
    killed: only folders named like :func:`_temp_folder` names them for this very target, and
    only once their writer is gone (or, when that cannot be told, after
    :data:`STALE_TEMP_SECONDS`; after :data:`LIVE_TEMP_SECONDS` in any case). Returns them."""
    prefix = f".{target.name}."
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        name = entry.name
        match = _TEMP.fullmatch(name[len(prefix) - 1 :]) if name.startswith(prefix) else None
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            age = now - entry.stat().st_mtime
        except OSError:
            continue
        gone = _writer_gone(match["host"], match["pid"])
        limit = STALE_TEMP_SECONDS if gone is None else LIVE_TEMP_SECONDS
        if gone or age > limit:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _first_line(exc: Exception) -> str:
    """An exception's first line, short (a native library may append its stack trace)."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:200]


def _load_candidate(
    folder: Path, cid: int, info: KeptCandidate, meta: ModelMeta, widths: dict[str, int]
) -> Candidate:
    """Kept candidate ``cid`` from its files, checked against the model's metadata: its family
    exists, its files are sound (the family checks them) and it predicts what the model does
    from the inputs the preparation makes."""
    try:
        klass = get_candidate(info.candidate)
    except ParameterError:
        raise ArtifactError(
            f"The model in '{folder}' uses a model family this Easel does not have "
            f"('{info.candidate}', candidate {cid}). Use the Easel that trained it, or retrain."
        ) from None
    directory = folder / "candidates" / str(cid)
    if not directory.is_dir():
        raise ArtifactError(
            f"The model in '{folder}' is incomplete: the files of candidate {cid} "
            f"(candidates/{cid}) are missing. Retrain the model, or restore the folder."
        )
    try:
        cand = klass.load(directory, info.params)
    except ArtifactError:
        raise
    except Exception as exc:  # a family that does not check everything itself
        raise ArtifactError(
            f"The model in '{folder}' is damaged: the files of candidate {cid} "
            f"(candidates/{cid}) cannot be read ({_first_line(exc)}). Retrain the model."
        ) from None
    n_classes = len(meta.target.classes or [])
    problem = cand.mismatch(meta.task, n_classes, widths[klass.encoding])
    if problem is not None:
        raise ArtifactError(
            f"The model in '{folder}' is damaged: the files of candidate {cid} "
            f"(candidates/{cid}) do not belong to it ({problem}). Retrain the model."
        )
    return cand


__all__ = ["InputField", "Model"]
