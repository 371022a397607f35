"""``AutoML``: the estimator users call. ``fit`` types columns, detects the task, holds out rows for
honest metrics, searches candidates under the time budget, and refits the winner on all rows."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from automl import metrics as M
from automl._versions import package_versions
from automl.candidates import REGISTRY, Candidate, FitContext, families_for, get_candidate
from automl.coltypes import ColumnInfo, infer_types
from automl.errors import (
    DataError,
    NotFittedError,
    ParameterError,
    invalid_parameter,
)
from automl.model import SCHEMA_VERSION, Model
from automl.prep.recipe import Recipe
from automl.preprocess import Preprocessor
from automl.presets import get_preset
from automl.task import detect_task
from automl.training.ensemble import average, candidate_pool, greedy_weights, selection_metric
from automl.training.impact import column_impact
from automl.training.search import (
    ProgressCallback,
    ProgressEvent,
    Search,
    SearchData,
    TrialRecord,
    make_folds,
)

HOLDOUT_FRACTION = 0.2
MAX_HOLDOUT_ROWS = 100_000
BUDGET_HEADROOM = 0.95  # plan to finish at 95% of the budget
REFIT_ROWS_EXPONENT = 0.8  # refit time ~ (rows ratio) ** 0.8, measured on 50k -> 1M rows


class AutoML:
    """Find a good model for ``target`` within ``time_budget`` seconds.

    Parameters are only stored here; :meth:`fit` does the work and returns ``self``.
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

    # ------------------------------------------------------------------ validation
    def _settings(self) -> dict[str, Any]:
        settings = get_preset(self.preset)
        if self.time_budget is not None:
            ok = isinstance(self.time_budget, (int, float)) and not isinstance(
                self.time_budget, bool
            )
            if not ok or not math.isfinite(self.time_budget) or self.time_budget <= 0:
                raise invalid_parameter(
                    "time_budget", "AutoML", "a positive number", self.time_budget
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
        return settings

    def _emit(self, phase: str, message: str, fraction: float) -> None:
        if self.progress is not None:
            elapsed = time.monotonic() - self._start
            self.progress(ProgressEvent(phase, message, fraction, elapsed))

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame, target: str, recipe: Recipe | None = None) -> AutoML:
        """Train on ``df`` to predict column ``target``; returns ``self``.

        ``recipe`` (optional) prepares the raw rows first; its column steps are stored in the
        model and replayed on raw rows at prediction time (row steps only shape training data).
        """
        self._start = start = time.monotonic()
        settings = self._settings()
        budget = settings["time_budget"]
        end = start + budget * BUDGET_HEADROOM
        if not isinstance(df, pd.DataFrame):
            raise ParameterError(
                f"fit expects a pandas DataFrame. Got {type(df).__name__} instead."
            )
        if df.shape[0] == 0 or df.shape[1] == 0:
            raise DataError(
                "The data has no rows or no columns, so there is nothing to learn from."
            )
        df = df.rename(columns=str)
        dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
        if dupes:
            raise DataError(
                f"Column names must be unique; these appear more than once: {', '.join(dupes)}. "
                "Rename them and try again."
            )
        recipe_meta: dict[str, Any] | None = None
        if recipe is not None and len(recipe):
            self._emit("prepare", f"applying the preparation recipe ({len(recipe)} steps)", 0.0)
            raw_columns = [c for c in df.columns if c != str(target)]
            raw_typical = typical_values(df[raw_columns])
            recipe.target = str(target)
            df = recipe.fit_apply(df).rename(columns=str)
            if str(target) not in df.columns:
                raise DataError(
                    f"The preparation recipe removes or renames the target '{target}'. Keep the "
                    "target column as it is, or choose the renamed column as the target."
                )
            recipe_meta = {
                **recipe.to_dict(),
                "raw_typical": raw_typical,
                "raw_columns": list(
                    dict.fromkeys(
                        recipe.input_columns(raw_columns)
                        + [c for c in raw_columns if c in df.columns]
                    )
                ),
            }
        if self.task == "timeseries" or self.time_column:
            from automl.timeseries import fit_forecaster

            if self.task not in (None, "timeseries"):
                raise ParameterError(
                    f"'time_column' is only used by time series forecasts; the task is "
                    f"{self.task!r}. Remove 'time_column', or set task='timeseries'."
                )
            model = fit_forecaster(self, df, str(target), recipe_meta)
            self.model_ = model
            self.target_ = str(target)
            self._emit("done", f"done in {model.meta.fit_seconds:.1f} s", 1.0)
            return self
        self._emit("prepare", "checking the target and typing columns", 0.0)
        data, tinfo = detect_task(df, str(target), self.task, self.positive_label)
        metric = M.get_metric(self.metric, tinfo.task)
        features = data.drop(columns=[tinfo.name])
        columns = self._type_columns(features)
        used = [c for c in columns if c.used]
        if not used:
            raise DataError(
                "No column can be used to predict the target: every column is an identifier, "
                "constant or excluded. Add columns with information about the rows."
            )
        warnings_out: list[str] = []
        if tinfo.rows_dropped_missing_target:
            warnings_out.append(
                f"{tinfo.rows_dropped_missing_target} row(s) with a missing '{tinfo.name}' were "
                "dropped (a row needs a target value to learn from)."
            )
        y_all = self._encode_target(data[tinfo.name], tinfo.task, tinfo.classes)

        # Hold-out rows: the search never sees them; they give the reported metrics.
        n = len(data)
        n_hold = int(min(max(round(n * HOLDOUT_FRACTION), 1), MAX_HOLDOUT_ROWS))
        strat = y_all if tinfo.task != "regression" else None
        if strat is not None:
            n_hold = max(n_hold, len(tinfo.classes))
        train_idx, hold_idx = train_test_split(
            np.arange(n), test_size=n_hold, random_state=self.seed, stratify=strat
        )
        search_idx = train_idx
        if len(train_idx) > settings["max_search_rows"]:
            search_idx, _ = train_test_split(
                train_idx,
                train_size=settings["max_search_rows"],
                random_state=self.seed,
                stratify=None if strat is None else strat[train_idx],
            )
        self._emit("prepare", f"preparing {len(used)} columns", 0.02)
        known = [c.name for c in columns] + [tinfo.name]
        pre = Preprocessor(columns, known).fit(features.iloc[search_idx])
        families, notes = families_for(
            settings["families"], len(search_idx), self.candidates is not None
        )
        warnings_out += notes
        encodings = {get_candidate(f).encoding for f in families}
        search_rows = features.iloc[search_idx]
        X = self._encode(pre, search_rows, encodings)
        y = y_all[search_idx]
        n_folds = settings["cv_folds"] if len(search_idx) <= settings["cv_max_rows"] else 1
        if len(search_idx) <= settings["small_rows"]:
            n_folds = max(n_folds, settings["small_cv_folds"])
        folds = make_folds(y, tinfo.task, n_folds, self.seed)
        _, _, cats = pre.tree_features()
        sdata = SearchData(X=X, y=y, categorical=cats, folds=folds)

        n_classes = max(len(tinfo.classes), 1)
        sel_metric = selection_metric(metric, tinfo.task)
        ratio_all = n / max(len(search_idx), 1)
        fold_share = 1.0 if n_folds == 1 else (n_folds - 1) / n_folds
        search: Search

        members_cache: dict[int, list[Any]] = {}

        def likely_members(ranked: list[Any]) -> list[Any]:
            # recomputed once per finished trial (a cheap greedy pass over kept predictions)
            key = len(search.records)
            if key not in members_cache:
                ens = None
                if self.ensemble and search.oof_y is not None:
                    ens = greedy_weights(
                        search.oof, search.oof_y, candidate_pool(ranked), sel_metric
                    )
                by_id = {r.id: r for r in ranked}
                members_cache.clear()
                members_cache[key] = [by_id[i] for i in ens[0]] if ens else ranked[:1]
            return members_cache[key]

        def search_deadline() -> float:
            # Reserve time for the final fits: the kept candidates on the search rows, then the
            # default on all rows (its cost scales with the row count).
            reserve = 0.04 * budget + 0.5
            ranked = search.ranked()
            if ranked:
                scale = 1.0 / max(len(folds), 1) / (0.8 if n_folds == 1 else fold_share)
                plan = self._choose_kept(ranked, settings["keep_top"])
                # a kept trial model (one validation split) is scored as it is: no fit to reserve
                reserve += (
                    sum(r.fit_seconds for r in plan if r.id not in search.models) * scale * 1.3
                )
                # Boosting time grows more slowly than the row count (binning is sample-based).
                # With folds, the fits above leave room for an ensemble's other members; with
                # one split (kept models need no fit), each member of the ensemble the search
                # would build now is refit.
                refits = plan[:1] if n_folds > 1 else likely_members(ranked)
                per_fit = scale * 1.2 * ratio_all**REFIT_ROWS_EXPONENT
                reserve += sum(r.fit_seconds for r in refits) * per_fit + 0.2
            return max(end - reserve, start + 0.5)

        trial_cap = max(settings["min_trials"], int(settings["trials_per_row"] * len(search_idx)))
        max_trials = trial_cap if self.max_trials is None else min(self.max_trials, trial_cap)
        search = Search(
            tinfo.task,
            n_classes,
            metric,
            families,
            self.seed,
            start,
            search_deadline,
            self.progress,
            settings["tuning_share"],
            max_trials,
        )
        self._emit("search", f"searching {', '.join(families)} ({len(folds)} fold(s))", 0.05)
        timings = {"prepare": time.monotonic() - start}
        t_phase = time.monotonic()
        records = search.run(sdata, len(search_idx))
        stopped_by_cap = len(records) >= trial_cap and (
            self.max_trials is None or trial_cap < self.max_trials
        )
        timings["search"] = time.monotonic() - t_phase
        t_phase = time.monotonic()
        ranked = search.ranked_or_raise(budget)

        # Kept candidates: trained on all search rows, scored on the hold-out.
        self._emit("finalize", "scoring the best candidates on the hold-out rows", 0.9)
        holdout = features.iloc[hold_idx]
        X_hold = self._encode(pre, holdout, encodings)
        y_hold = y_all[hold_idx]
        kept_records = self._choose_kept(ranked, settings["keep_top"])
        # An ensemble of the best trials when averaging their validation predictions beats the
        # best single one; its members are kept (trained and scored) like any candidate.
        ens = None
        if self.ensemble and search.oof_y is not None:
            ens = greedy_weights(
                search.oof,
                search.oof_y,
                candidate_pool(ranked),
                sel_metric,
            )
        if ens is not None:
            by_id = {r.id: r for r in ranked}
            kept_records += [by_id[i] for i in ens[0] if by_id[i] not in kept_records]
        kept: dict[int, Candidate] = {}
        kept_meta: dict[str, Any] = {}
        holdout_scores: dict[int, np.ndarray] = {}
        fit_seconds: dict[int, float] = {}
        for i, rec in enumerate(kept_records):
            if i > 0 and time.monotonic() > end - 0.5:
                break
            cls = get_candidate(rec.candidate)
            trained_on = "search rows"
            if rec.id in search.models:  # the trial's own model, trained on 80% of the rows
                cand = search.models[rec.id]
                fit_seconds[rec.id] = rec.fit_seconds / 0.8
                trained_on = "80% of the search rows (the search's own fit)"
            else:
                ctx = FitContext(tinfo.task, n_classes, end if i == 0 else end - 0.5, self.seed)
                t_fit = time.monotonic()
                cand = cls(rec.fit_params()).fit(X[cls.encoding], y, ctx, categorical=cats)
                fit_seconds[rec.id] = time.monotonic() - t_fit
            if i == 0:
                default_fit_seconds = fit_seconds[rec.id]
            t_pred = time.monotonic()
            scores = cand.predict_scores(X_hold[cls.encoding])
            predict_seconds = time.monotonic() - t_pred
            holdout_scores[rec.id] = np.asarray(scores)
            kept[rec.id] = cand
            threshold = 0.5
            if tinfo.task == "binary" and search.oof_y is not None and rec.id in search.oof:
                threshold = M.best_threshold(metric, search.oof_y, search.oof[rec.id])
            kept_meta[str(rec.id)] = {
                "candidate": rec.candidate,
                "params": cand.fixed_iterations(),
                "threshold": threshold,
                "holdout_metrics": M.report(tinfo.task, y_hold, scores, threshold),
                "predict_ms_per_1000_rows": round(
                    1000 * predict_seconds * 1000 / max(1, len(y_hold)), 3
                ),
                "trained_on": trained_on,
            }
        default_id = kept_records[0].id
        if ens is not None and all(i in kept for i in ens[0]):
            weights, ens_loss, _ = ens
            oof_y = search.oof_y
            assert oof_y is not None
            ens_id = len(records) + 1
            scores = average(holdout_scores, weights)
            oof_avg = average(search.oof, weights)
            threshold = 0.5
            if tinfo.task == "binary":
                threshold = M.best_threshold(metric, oof_y, oof_avg)
            records.append(
                TrialRecord(
                    id=ens_id,
                    candidate="ensemble",
                    params={"members": {str(k): w for k, w in weights.items()}},
                    score=round(float(metric(oof_y, oof_avg)), 6),
                    fit_seconds=round(sum(r.fit_seconds for r in records if r.id in weights), 3),
                    status="ok",
                    source="ensemble",
                    finished_at=round(time.monotonic() - start, 3),
                    message="weighted average of trials "
                    + ", ".join(f"{k} ({w:.0%})" for k, w in weights.items()),
                )
            )
            holdout_scores[ens_id] = scores
            kept_meta[str(ens_id)] = {
                "candidate": "ensemble",
                "members": {str(k): w for k, w in weights.items()},
                "params": {"members": {str(k): w for k, w in weights.items()}},
                "threshold": threshold,
                "holdout_metrics": M.report(tinfo.task, y_hold, scores, threshold),
                "predict_ms_per_1000_rows": round(
                    sum(kept_meta[str(k)]["predict_ms_per_1000_rows"] for k in weights), 3
                ),
                "trained_on": "search rows",
            }
            default_id = ens_id

        # Refit the default (each member of an ensemble) on every row when there is time.
        timings["holdout_scoring"] = time.monotonic() - t_phase
        t_phase = time.monotonic()
        members = (
            [int(k) for k in kept_meta[str(default_id)]["members"]]
            if kept_meta[str(default_id)]["candidate"] == "ensemble"
            else [default_id]
        )
        refit_count = 0
        refit_note = ""
        for mid in members:
            refit, refit_note = self._refit_all(
                kept[mid],
                pre,
                features,
                y_all,
                cats,
                tinfo.task,
                n_classes,
                end,
                fit_seconds.get(mid, default_fit_seconds) * ratio_all,
            )
            if refit is not None:
                refit_count += 1
                kept[mid] = refit
                kept_meta[str(mid)]["trained_on"] = "all rows"
                kept_meta[str(mid)]["params"] = refit.fixed_iterations()
        if len(members) > 1:
            kept_meta[str(default_id)]["trained_on"] = (
                f"{refit_count} of {len(members)} members refit on all rows"
            )
            refit = kept[members[0]] if refit_count == len(members) else None
            refit_note = (
                f"{refit_count} of the ensemble's {len(members)} members refit on all rows "
                "(search + hold-out) after scoring"
                + (
                    "; the others had no time left in the budget and use the search rows"
                    if refit_count < len(members)
                    else ""
                )
                + "; the hold-out metrics come from the members trained without the hold-out rows"
            )

        meta = {
            "schema_version": SCHEMA_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "task": tinfo.task,
            "target": {**asdict(tinfo), "name": tinfo.name},
            "metric": metric.name,
            "metric_greater_is_better": metric.greater_is_better,
            "columns": [c.to_dict() for c in columns],
            "recipe": recipe_meta,
            "rows": {
                "total": int(len(df)),
                "with_target": int(n),
                "search": int(len(search_idx)),
                "train": int(len(train_idx)),
                "holdout": int(len(hold_idx)),
            },
            "validation": (
                f"{n_folds}-fold cross-validation on {len(search_idx)} rows"
                if n_folds > 1
                else f"one 80/20 validation split of {len(search_idx)} rows"
            )
            + (
                f"; the search stopped after {trial_cap} trials, about one per "
                f"{1 / settings['trials_per_row']:g} rows (on a table this small, more tuning "
                "mostly fits the validation noise)"
                if stopped_by_cap
                else ""
            ),
            "holdout_description": (
                f"{len(hold_idx)} rows ({len(hold_idx) / n:.0%}) held out before the search and "
                "never seen by it"
            ),
            "refit_on_all_rows": refit is not None,
            "refit_note": refit_note,
            "leaderboard": [r.to_dict() for r in records],
            "kept": kept_meta,
            "default_candidate": default_id,
            "preset": self.preset,
            "time_budget": budget,
            "seed": self.seed,
            "warnings": warnings_out,
        }
        model = Model(meta, pre, kept)
        model.holdout = holdout_frame(holdout, y_hold, holdout_scores, self.seed)
        model.meta.holdout_rows_kept = int(len(model.holdout))
        model.meta.train_target_summary = _target_summary(tinfo.task, y_all[train_idx], n_classes)
        timings["refit"] = time.monotonic() - t_phase
        t_phase = time.monotonic()
        impact_deadline = start + budget * 0.99
        model.meta.column_impact = column_impact(
            model, holdout, data[tinfo.name].iloc[hold_idx], impact_deadline, self.seed
        )
        timings["column_impact"] = time.monotonic() - t_phase
        model.meta.timings = {k: round(v, 3) for k, v in timings.items()}
        model.meta.fit_seconds = round(time.monotonic() - start, 3)
        self.model_ = model
        self.target_ = tinfo.name
        self._emit("done", f"done in {model.meta.fit_seconds:.1f} s", 1.0)
        return self

    # ------------------------------------------------------------------ helpers
    def _type_columns(self, features: pd.DataFrame) -> list[ColumnInfo]:
        overrides = dict(self.column_types or {})
        excluded = list(self.exclude_columns or [])
        missing = [c for c in excluded if c not in features.columns]
        if missing:
            raise ParameterError(
                f"exclude_columns names columns that are not in the data (or are the target): "
                f"{', '.join(missing)}."
            )
        for c in excluded:
            overrides[c] = "excluded"
        return list(infer_types(features, overrides).values())

    @staticmethod
    def _encode_target(y: pd.Series, task: str, classes: list[Any]) -> np.ndarray:
        if task == "regression":
            return y.to_numpy(dtype="float64")
        index = {c: i for i, c in enumerate(classes)}
        return np.asarray([index[v] for v in y.tolist()], dtype=np.int64)

    @staticmethod
    def _encode(pre: Preprocessor, rows: pd.DataFrame, encodings: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "tree" in encodings:
            out["tree"] = pre.transform_tree(rows)
        if "linear" in encodings:
            out["linear"] = pre.transform_linear(rows)
        return out

    @staticmethod
    def _choose_kept(ranked: list[Any], keep_top: int) -> list[Any]:
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

    def _refit_all(
        self,
        cand: Candidate,
        pre: Preprocessor,
        features: pd.DataFrame,
        y_all: np.ndarray,
        cats: list[int],
        task: str,
        n_classes: int,
        end: float,
        expected_seconds: float,
    ) -> tuple[Candidate | None, str]:
        cls = type(cand)
        params = cand.fixed_iterations()
        left = end - time.monotonic()
        if left <= 0.5 or (cls.encoding == "linear" and expected_seconds > left):
            return None, (
                "not refit on all rows: there was no time left in the budget, so the model "
                "trained on the search rows is used"
            )
        X_all = self._encode(pre, features, {cls.encoding})[cls.encoding]
        ctx = FitContext(task, n_classes, end, self.seed)
        refit = cls(params).fit(X_all, y_all, ctx, categorical=cats)
        planned = params.get("n_estimators")
        if planned and refit.n_iterations_ is not None and refit.n_iterations_ < planned:
            return None, (
                "not refit on all rows: the refit could not finish within the time budget, so the "
                "model trained on the search rows is used"
            )
        return refit, (
            "refit on all rows (search + hold-out) after scoring; the hold-out metrics come from "
            "the same configuration trained without the hold-out rows"
        )

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
        """Save the fitted model (see :meth:`automl.model.Model.save`)."""
        return self._check_fitted().save(path, reports=reports, data=data)


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


HOLDOUT_KEEP = 20_000  # hold-out rows kept in the artifact for its performance report


def holdout_frame(
    rows: pd.DataFrame, y: np.ndarray, scores: dict[int, np.ndarray], seed: int
) -> pd.DataFrame:
    """The hold-out rows (a sample above HOLDOUT_KEEP), their encoded target, and every kept
    candidate's scores, as stored in the artifact (``holdout.parquet``)."""
    out = rows.reset_index(drop=True).copy()
    out["__target__"] = y
    for cid, sc in scores.items():
        if sc.ndim == 1:
            out[f"__score_{cid}"] = sc
        else:
            for k in range(sc.shape[1]):
                out[f"__score_{cid}__{k}"] = sc[:, k]
    if len(out) > HOLDOUT_KEEP:
        out = out.sample(HOLDOUT_KEEP, random_state=seed).reset_index(drop=True)
    return out


def _target_summary(task: str, y: np.ndarray, n_classes: int) -> dict[str, Any]:
    """What a model-free guess would use: class shares, or the mean (training rows only)."""
    if task == "regression":
        return {"mean": float(np.mean(y)), "median": float(np.median(y))}
    counts = np.bincount(y.astype(np.int64), minlength=n_classes)
    return {"shares": (counts / max(1, counts.sum())).tolist()}
