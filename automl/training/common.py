"""What both pipelines share once the search is done: which trials to keep, the kept-candidate
loop, the refit rule, the model metadata and the last steps (hold-out rows, column impact).

A pipeline says *how* to train and score a kept candidate (rows for a table, a recursive forecast
for a time series); this module decides *which* candidates, *when* there is time, and *what* the
model file records about them, in one place for every problem type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from automl._versions import package_versions
from automl.artifact import SCHEMA_VERSION
from automl.candidates import Candidate, FitContext
from automl.coltypes import check_text
from automl.errors import DataError, ParameterError
from automl.metrics import Metric
from automl.model import Model
from automl.prep.recipe import Recipe
from automl.preprocess import Preprocessor
from automl.progress import TrialRecord
from automl.training.run import FitRun
from automl.words import plural

# A trained kept candidate: the model, its fit seconds and what it was trained on.
Trained = tuple[Candidate, float, str]


def encode(pre: Preprocessor, rows: pd.DataFrame, encodings: set[str]) -> dict[str, Any]:
    """Rows in each encoding the families need ("tree", "linear")."""
    out: dict[str, Any] = {}
    if "tree" in encodings:
        out["tree"] = pre.transform_tree(rows)
    if "linear" in encodings:
        out["linear"] = pre.transform_linear(rows)
    return out


def choose_kept(ranked: list[TrialRecord], keep_top: int) -> list[TrialRecord]:
    """The best trial, the best of each other family, then the next best up to ``keep_top``."""
    chosen = [ranked[0]]
    for rec in ranked[1:]:  # the best of each other family
        if rec.candidate not in {c.candidate for c in chosen}:
            chosen.append(rec)
    for rec in ranked[1:]:
        if len(chosen) >= keep_top:
            break
        if rec not in chosen:
            chosen.append(rec)
    return chosen


def search_message(families: int, checked_on: str) -> str:
    """The progress line when the search starts, in an analyst's words."""
    return f"Trying {plural(families, 'kind')} of model, each checked on {checked_on}"


def check_frame(df: Any) -> pd.DataFrame:
    """The rows to train on, checked: a DataFrame with rows, columns and unique names (as text)."""
    if not isinstance(df, pd.DataFrame):
        raise ParameterError(f"fit expects a pandas DataFrame. Got {type(df).__name__} instead.")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError("The data has no rows or no columns, so there is nothing to learn from.")
    df = df.rename(columns=str)
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise DataError(
            f"Column names must be unique; these appear more than once: {', '.join(dupes)}. "
            "Rename them and try again."
        )
    check_text(df)
    return df


def compact_floats(df: pd.DataFrame) -> list[str]:
    """Store ``df``'s float64 columns as float32, in place, where that is exact enough (the tree
    models read float32 anyway): whole numbers must stay exact, others within one part in a
    million. One column at a time, each old column freed as it goes (for a frame the caller
    owns: the CLI's). Returns the converted columns."""
    done: list[str] = []
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if s.dtype != np.float64:
            continue
        v = s.to_numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            small = v.astype(np.float32)
            back = small.astype(np.float64)
            whole = np.isfinite(v) & (v == np.round(v))
            ok = np.where(whole, back == v, np.abs(back - v) <= 1e-6 * np.abs(v)) | (
                np.isnan(v) & np.isnan(back)
            )
            ok |= np.isinf(v) & (back == v)
        del back, whole, v, s
        if not ok.all():
            continue
        df.isetitem(i, small)
        done.append(str(col))
    return done


def apply_recipe(
    run: FitRun, df: pd.DataFrame, target: str, recipe: Recipe | None
) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """Replay the preparation recipe on the raw rows; returns the prepared rows and what the
    model stores of the recipe (its steps, the raw columns and their typical values)."""
    if recipe is None or not len(recipe):
        return df, None
    run.emit("prepare", f"Applying the preparation recipe ({plural(len(recipe), 'step')})", 0.0)
    raw_columns = [c for c in df.columns if c != target]
    raw_typical = typical_values(df[raw_columns])
    recipe.target = target
    df = recipe.fit_apply(df).rename(columns=str)
    if target not in df.columns:
        raise DataError(
            f"The preparation recipe removes or renames the target '{target}'. Keep the "
            "target column as it is, or choose the renamed column as the target."
        )
    inputs = recipe.input_columns(raw_columns) + [c for c in raw_columns if c in df.columns]
    meta = {
        **recipe.to_dict(),
        "raw_typical": raw_typical,
        "raw_columns": list(dict.fromkeys(inputs)),
    }
    return df, meta


@dataclass
class Kept:
    """The kept candidates: trained models, their metadata entries and hold-out scores."""

    models: dict[int, Candidate] = field(default_factory=dict)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[int, np.ndarray] = field(default_factory=dict)
    fit_seconds: dict[int, float] = field(default_factory=dict)
    default_id: int = 0

    def members(self, candidate_id: int) -> list[int]:
        """The trained candidates behind a kept entry (an ensemble's members, or itself)."""
        info = self.meta[str(candidate_id)]
        if info["candidate"] == "ensemble":
            return [int(k) for k in info["members"]]
        return [candidate_id]


def keep_candidates(
    run: FitRun,
    records: list[TrialRecord],
    train: Callable[[TrialRecord, float], Trained],
    evaluate: Callable[[TrialRecord, Candidate], tuple[np.ndarray, dict[str, Any], int]],
    fits_in_time: Callable[[TrialRecord], bool] | None = None,
) -> Kept:
    """Train (``train(record, deadline)``) and score (``evaluate(record, model)`` -> scores,
    the entry's metric fields, rows scored) each kept record, best first. The first one always
    runs; the others only while there is time before the deadline (and, when given,
    ``fits_in_time(record)`` says they fit in it)."""
    kept = Kept()
    for i, rec in enumerate(records):
        if i > 0 and time.monotonic() > run.end - 0.5:
            break
        if i > 0 and fits_in_time is not None and not fits_in_time(rec):
            continue
        cand, fit_seconds, trained_on = train(rec, run.end if i == 0 else run.end - 0.5)
        t_pred = time.monotonic()
        scores, fields, n_scored = evaluate(rec, cand)
        predict_seconds = time.monotonic() - t_pred
        # (a pipeline whose scoring does more than predict measures predicting itself)
        ms = fields.pop("predict_ms_per_1000_rows", None)
        if ms is None:
            ms = round(1e6 * predict_seconds / max(1, n_scored), 3)
        kept.models[rec.id] = cand
        kept.scores[rec.id] = np.asarray(scores)
        kept.fit_seconds[rec.id] = fit_seconds
        kept.meta[str(rec.id)] = {
            "candidate": rec.candidate,
            "params": cand.fixed_iterations(),
            **fields,
            "predict_ms_per_1000_rows": ms,
            "trained_on": trained_on,
        }
    kept.default_id = records[0].id
    return kept


def refit(
    run: FitRun,
    cand: Candidate,
    X_for: Callable[[str], Any],
    y_all: np.ndarray,
    categorical: list[int],
    task: str,
    n_classes: int,
    needed: float,
) -> tuple[Candidate | None, str]:
    """The refit rule: train ``cand``'s configuration on every row (``X_for(encoding)``) when
    more than ``needed`` seconds (and at least half a second) are left, and keep it only if it
    finished all its planned iterations before the deadline. Returns the refit model (or None:
    the model trained without those rows stays) and why: "refit", "no time" or "unfinished"."""
    if run.end - time.monotonic() <= max(0.5, needed):
        return None, "no time"
    params = cand.fixed_iterations()
    ctx = FitContext(task, n_classes, run.end, run.seed)
    model = type(cand)(params).fit(X_for(cand.encoding), y_all, ctx, categorical=categorical)
    planned = params.get("n_estimators")
    if planned and model.n_iterations_ is not None and model.n_iterations_ < planned:
        return None, "unfinished"
    return model, "refit"


@dataclass
class Description:
    """What the pipeline knows about its data, for the model metadata."""

    task: str
    target: dict[str, Any]
    metric: Metric
    columns: list[dict[str, Any]]
    rows: dict[str, int]
    validation: str
    holdout_description: str
    warnings: list[str]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. problem_type and timeseries


def model_meta(
    run: FitRun,
    about: Description,
    recipe_meta: dict[str, Any] | None,
    records: list[TrialRecord],
    kept: Kept,
    refit_ok: bool,
    refit_note: str,
) -> dict[str, Any]:
    """The model metadata every problem type writes (the model file's easel_model.json)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "task": about.task,
        "problem_type": about.extra.get("problem_type", about.task),
        "target": about.target,
        "metric": about.metric.name,
        "metric_greater_is_better": about.metric.greater_is_better,
        "columns": about.columns,
        "recipe": recipe_meta,
        **{k: v for k, v in about.extra.items() if k != "problem_type"},
        "rows": about.rows,
        "validation": about.validation,
        "holdout_description": about.holdout_description,
        "refit_on_all_rows": refit_ok,
        "refit_note": refit_note,
        "leaderboard": [asdict(r) for r in records],
        "kept": kept.meta,
        "default_candidate": kept.default_id,
        "preset": run.options.preset,
        "time_budget": run.budget,
        "seed": run.seed,
        "warnings": about.warnings,
    }


def finish_model(
    run: FitRun,
    meta: dict[str, Any],
    pre: Preprocessor,
    kept: Kept,
    holdout: pd.DataFrame,
    target_summary: dict[str, Any],
    impact: Callable[[Model], list[list[Any]]],
) -> Model:
    """The model with its hold-out rows, the training target's summary, column impact (until
    the impact deadline) and the phase timings."""
    meta["holdout_rows_kept"] = int(len(holdout))
    meta["train_target_summary"] = target_summary
    run.lap("refit")
    scorer = Model(meta, pre, kept.models)  # the model so far, to measure column impact with
    scorer.holdout = holdout
    meta["column_impact"] = impact(scorer)
    run.lap("column_impact")
    meta["timings"] = run.rounded_timings()
    meta["fit_seconds"] = round(run.elapsed(), 3)
    model = Model(meta, pre, kept.models)
    model.holdout = holdout
    return model


def typical_values(df: pd.DataFrame, max_options: int = 50) -> dict[str, dict[str, Any]]:
    """Per raw column: its kind, a typical value (median or most frequent) and the most frequent
    values (for a prediction form that takes raw rows)."""
    out: dict[str, dict[str, Any]] = {}
    for col in df.columns:
        s = df[col]
        present = s.dropna()
        if pd.api.types.is_bool_dtype(s):
            kind = "boolean"
        elif pd.api.types.is_numeric_dtype(s):
            kind = "number"
        elif pd.api.types.is_datetime64_any_dtype(s):
            kind = "date"
        else:
            kind = "text"
        if kind == "number":
            value: Any = float(present.median()) if len(present) else 0.0
            options: list[Any] = []
        elif kind == "date":
            value = present.median().isoformat() if len(present) else None
            options = []
        else:
            counts = present.astype(str).value_counts()
            value = str(counts.index[0]) if len(counts) else ""
            options = [str(v) for v in counts.index[:max_options]]
            if len(counts) > max_options or counts.iloc[0] == 1:
                options = []  # free text or many values: a text box, not a list
        out[str(col)] = {"kind": kind, "value": value, "options": options}
    return out
