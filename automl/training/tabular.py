"""The tabular pipeline: 2-category, 3+ category and numeric targets from rows.

Type the columns, detect the task, hold out rows for honest metrics, search the model families on
the other rows, keep the best candidates (and an ensemble when it helps) scored on the hold-out,
refit the default on every row when there is time, and measure column impact.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from automl import metrics as M
from automl.candidates import Candidate, FitContext, families_for, get_candidate
from automl.coltypes import ColumnInfo, infer_types
from automl.errors import ClusterError, DataError, ParameterError
from automl.model import Model
from automl.preprocess import Preprocessor
from automl.progress import TrialRecord
from automl.task import TargetInfo, detect_task
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
from automl.training.ensemble import (
    average,
    candidate_pool,
    greedy_weights,
    pooling_for,
    selection_metric,
)
from automl.training.impact import column_impact
from automl.training.run import FitRun
from automl.training.search import Search, SearchData, make_folds
from automl.words import plural, rows_text

HOLDOUT_FRACTION = 0.2
# 50,000 hold-out rows measure a metric to within about 0.002 (ROC AUC, one standard error);
# more add scoring time and memory on big tables, not trust
MAX_HOLDOUT_ROWS = 50_000
REFIT_ROWS_EXPONENT = 0.8  # refit time ~ (rows ratio) ** 0.8, measured on 50k -> 1M rows
# A big table's member that learned from at least this share of the rows, and has no learning
# curve to say more rows still help (its fit on them had its learning rate raised), is not
# refit: on the interactions table at 120 s such a refit took 10.8 s to add 11% of the rows to
# a member of 13% weight and raised the build's peak RSS to 3.02 x the table.
REFIT_MOST_ROWS = 0.5
HOLDOUT_KEEP = 20_000  # hold-out rows kept in the artifact for its performance report
# Big tables (more training rows than the preset's max_search_rows): growing samples. One
# validation set for every trial (5% of the training rows, between a fifth of the search sample
# and MAX_VAL_ROWS), a first sample of 1/FIRST_SAMPLE_SHARE of the other rows (between
# FIRST_SAMPLE_MIN and 80% of the search sample), then samples GROWTH times larger, then all the
# rows.
VAL_SHARE = 0.05
MAX_VAL_ROWS = 50_000
FIRST_SAMPLE_MIN = 10_000
FIRST_SAMPLE_SHARE = 64  # measured: 1/32 of 712,500 rows left time for 10 trials in 120 s
GROWTH = 4
PREPARE_ROWS = 200_000  # rows the preparation (category lists, medians) learns from
ENCODE_CHUNK = 50_000  # rows encoded at a time (no copy of the whole table's rows)
# The prediction cost of the default on big tables: a model that scores rows more than
# COST_FREE_RATIO times slower than another kept one must cut the validation error by
# COST_GAIN_PER_10X (relative) per ten times the cost, or the faster one is the default.
COST_FREE_RATIO = 2.0
COST_GAIN_PER_10X = 0.01


@dataclass
class TabularData:
    """The rows split and encoded: what the search, the kept candidates and the refit use."""

    tinfo: TargetInfo
    metric: M.Metric
    data: pd.DataFrame  # rows with a target
    features: pd.DataFrame
    columns: list[ColumnInfo]
    y_all: np.ndarray
    train_idx: np.ndarray
    hold_idx: np.ndarray
    search_idx: np.ndarray
    pre: Preprocessor
    families: list[str]
    sdata: SearchData
    n_folds: int
    warnings: list[str] = field(default_factory=list)
    # a table above the cluster's threshold: the search runs on a sample and the final
    # LightGBM model trains on the cluster (``cluster_fit`` says how it went)
    on_cluster: bool = False
    cluster_fit: dict[str, Any] | None = None

    @property
    def n_classes(self) -> int:
        return max(len(self.tinfo.classes), 1)

    @property
    def encodings(self) -> set[str]:
        return {get_candidate(f).encoding for f in self.families}

    @property
    def growing(self) -> bool:
        """Big table: the search grows its sample (see :func:`growing_rows`)."""
        return self.sdata.growing

    @property
    def ratio_all(self) -> float:
        """All rows over search rows (how much longer a refit on every row takes)."""
        return len(self.data) / max(len(self.search_idx), 1)


def fit_tabular(
    run: FitRun, df: pd.DataFrame, target: str, recipe_meta: dict[str, Any] | None
) -> Model:
    """Train a model for ``target`` on the rows of ``df`` (after the recipe, if any)."""
    d = prepare(run, df, target)
    search, trial_cap = make_search(run, d)
    run.emit(
        "search",
        search_message(
            len(d.families), f"{plural(len(d.sdata.folds), 'set')} of rows it did not learn from"
        ),
        0.05,
    )
    run.lap("prepare")
    records = search.run(d.sdata, len(d.search_idx))
    stopped_by_cap = len(records) >= trial_cap and (
        run.options.max_trials is None or trial_cap < run.options.max_trials
    )
    run.lap("search")
    ranked = search.ranked_or_raise(run.budget)
    run.emit("finalize", "Scoring the best models on the rows kept aside for checking", 0.9)
    kept = keep_best(run, d, search, ranked, records)
    run.lap("holdout_scoring")
    refit_ok, refit_note = refit_default(run, d, kept, records)
    about = describe(run, d, len(df), trial_cap if stopped_by_cap else None)
    meta = model_meta(run, about, recipe_meta, records, kept, refit_ok, refit_note)
    holdout = d.features.iloc[d.hold_idx]
    y_hold = d.y_all[d.hold_idx]
    return finish_model(
        run,
        meta,
        d.pre,
        kept,
        holdout_frame(holdout, y_hold, kept.scores, run.seed),
        target_summary(d.tinfo.task, d.y_all[d.train_idx], d.n_classes),
        lambda model: column_impact(
            model, holdout, d.data[d.tinfo.name].iloc[d.hold_idx], run.impact_deadline, run.seed
        ),
    )


def prepare(run: FitRun, df: pd.DataFrame, target: str) -> TabularData:
    """Detect the task, type the columns, split off the hold-out and encode the search rows."""
    opts, settings = run.options, run.settings
    run.emit("prepare", "Checking the target and the column types", 0.0)
    data, tinfo = detect_task(df, target, opts.task, opts.positive_label)
    metric = M.get_metric(opts.metric, tinfo.task)
    features = data.drop(columns=[tinfo.name])
    columns = type_columns(features, opts.column_types, opts.exclude_columns, tinfo.name)
    used = [c for c in columns if c.used]
    if not used:
        raise DataError(
            "No column can be used to predict the target: every column is an identifier, "
            "constant or excluded. Add columns with information about the rows."
        )
    warnings_out: list[str] = []
    if tinfo.rows_dropped_missing_target:
        warnings_out.append(
            f"{rows_text(tinfo.rows_dropped_missing_target)} with a missing '{tinfo.name}' left "
            "out (a row needs a target value to learn from)."
        )
    y_all = encode_target(data[tinfo.name], tinfo.task, tinfo.classes)
    on_cluster = run.cluster_fitter is not None and len(y_all) > opts.dask_training_rows
    cap = min(settings["max_search_rows"], opts.dask_training_rows) if on_cluster else None
    train_idx, hold_idx, search_idx = split_rows(y_all, tinfo, settings, run.seed, cap)
    # on the cluster the search runs on one sample: growing samples would send every row to
    # every worker
    growing = None if on_cluster else growing_rows(train_idx, y_all, tinfo, settings, run.seed)
    run.emit("prepare", f"Preparing {plural(len(used), 'column')}", 0.02)
    known = [c.name for c in columns] + [tinfo.name]
    if growing is None:
        pre = Preprocessor(columns, known).fit(features.iloc[search_idx])
        families, notes = families_for(settings["families"], len(search_idx), run.families_named)
        encodings = {get_candidate(f).encoding for f in families}
        X = encode(pre, features.iloc[search_idx], encodings)
        y = y_all[search_idx]
        n_folds = settings["cv_folds"] if len(search_idx) <= settings["cv_max_rows"] else 1
        if len(search_idx) <= settings["small_rows"]:
            n_folds = max(n_folds, settings["small_cv_folds"])
        folds = make_folds(y, tinfo.task, n_folds, run.seed)
        _, _, cats = pre.tree_features()
        sdata = SearchData(X=X, y=y, categorical=cats, folds=folds)
    else:
        search_idx, n_val, stage_rows = growing
        pre = Preprocessor(columns, known).fit(features.iloc[search_idx[:PREPARE_ROWS]])
        first = n_val + stage_rows[0]
        families, notes = families_for(settings["families"], stage_rows[0], run.families_named)
        encodings = {get_candidate(f).encoding for f in families}
        # growing families (tree encoding) see every training row; the others the first sample
        X = {
            enc: encode_rows(pre, features, search_idx[: None if enc == "tree" else first], enc)
            for enc in encodings
        }
        y = y_all[search_idx]
        n_folds = 1
        _, _, cats = pre.tree_features()
        sdata = SearchData(X=X, y=y, categorical=cats, stage_rows=stage_rows, n_val=n_val)
        sdata.folds = sdata.stage(0).folds
    warnings_out += notes
    return TabularData(
        tinfo, metric, data, features, columns, y_all, train_idx, hold_idx, search_idx, pre,
        families, sdata, n_folds, warnings_out, on_cluster,
    )  # fmt: skip


def split_rows(
    y_all: np.ndarray,
    tinfo: TargetInfo,
    settings: dict[str, Any],
    seed: int,
    cap: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training, hold-out and search rows. The search never sees the hold-out rows; they give
    the reported metrics. The search uses a (stratified) sample of the training rows: at most
    ``cap`` rows (default: the preset's ``max_search_rows``)."""
    n = len(y_all)
    n_hold = int(min(max(round(n * HOLDOUT_FRACTION), 1), MAX_HOLDOUT_ROWS))
    strat = y_all if tinfo.task != "regression" else None
    if strat is not None:
        n_hold = max(n_hold, len(tinfo.classes))
    train_idx, hold_idx = train_test_split(
        np.arange(n), test_size=n_hold, random_state=seed, stratify=strat
    )
    search_idx = train_idx
    cap = settings["max_search_rows"] if cap is None else cap
    if len(train_idx) > cap:
        search_idx, _ = train_test_split(
            train_idx,
            train_size=cap,
            random_state=seed,
            stratify=None if strat is None else strat[train_idx],
        )
    return train_idx, hold_idx, search_idx


def growing_rows(
    train_idx: np.ndarray, y_all: np.ndarray, tinfo: TargetInfo, settings: dict[str, Any], seed: int
) -> tuple[np.ndarray, int, list[int]] | None:
    """For a big table (more training rows than the preset's ``max_search_rows``): the training
    rows ordered as the validation rows first, then the others in random order; the validation
    row count; and the growing sample sizes (the last is every other training row). None for a
    table the search samples once."""
    n_train, cap = len(train_idx), int(settings["max_search_rows"])
    if n_train <= cap:
        return None
    n_val = int(np.clip(VAL_SHARE * n_train, 0.2 * cap, MAX_VAL_ROWS))
    strat = y_all[train_idx] if tinfo.task != "regression" else None
    pool, val = train_test_split(train_idx, test_size=n_val, random_state=seed, stratify=strat)
    n_pool = len(pool)
    first = n_pool / FIRST_SAMPLE_SHARE
    stage_rows = [int(np.clip(first, min(FIRST_SAMPLE_MIN, n_pool), 0.8 * cap))]
    while stage_rows[-1] * GROWTH < n_pool:
        stage_rows.append(stage_rows[-1] * GROWTH)
    if len(stage_rows) > 1 and n_pool < 1.5 * stage_rows[-1]:
        stage_rows[-1] = n_pool  # no sample almost as large as all the rows
    elif stage_rows[-1] < n_pool:
        stage_rows.append(n_pool)
    return np.concatenate([val, pool]), n_val, stage_rows


def encode_rows(pre: Preprocessor, features: pd.DataFrame, idx: np.ndarray, enc: str) -> Any:
    """The rows ``idx`` of ``features`` in encoding ``enc``, ENCODE_CHUNK rows at a time: a copy
    of one chunk's raw rows at most, and a dense result written in place (no second copy)."""

    def chunk(i: int) -> Any:
        return encode(pre, features.iloc[idx[i : i + ENCODE_CHUNK]], {enc})[enc]

    first = chunk(0)
    if len(idx) <= ENCODE_CHUNK:
        return first
    if sp.issparse(first):
        parts = [first] + [chunk(i) for i in range(ENCODE_CHUNK, len(idx), ENCODE_CHUNK)]
        return sp.vstack(parts, format="csr")
    out = np.empty((len(idx), first.shape[1]), dtype=first.dtype)
    out[:ENCODE_CHUNK] = first
    for i in range(ENCODE_CHUNK, len(idx), ENCODE_CHUNK):
        out[i : i + ENCODE_CHUNK] = chunk(i)
    return out


def all_rows(d: TabularData, family: type[Candidate], enc: str) -> Any:
    """Every row of the table in encoding ``enc`` for a fit of ``family``: encoded a batch at
    a time as the fit reads them when the family reads batches (no dense matrix of them all),
    else as one matrix."""

    def batch(start: int, stop: int) -> Any:
        return encode(d.pre, d.features.iloc[start:stop], {enc})[enc]

    rows = family.batched_rows(len(d.data), batch)
    return encode_rows(d.pre, d.features, np.arange(len(d.data)), enc) if rows is None else rows


def make_search(run: FitRun, d: TabularData) -> tuple[Search, int]:
    """The search, with a deadline that reserves time for the final fits, and its trial cap."""
    settings = run.settings
    n_folds = d.n_folds
    n_search = len(d.search_idx)
    fold_share = 1.0 if n_folds == 1 else (n_folds - 1) / n_folds
    sel_metric = selection_metric(d.metric, d.tinfo.task)
    pooling = pooling_for(d.tinfo.task, d.metric)
    members_cache: dict[int, list[TrialRecord]] = {}
    # on the cluster, the final LightGBM fit on every row is shared by the workers
    spread = run.cluster_fitter.workers if d.on_cluster and run.cluster_fitter else 1

    def likely_members(ranked: list[TrialRecord]) -> list[TrialRecord]:
        # recomputed once per finished trial (a cheap greedy pass over kept predictions)
        key = len(search.records)
        if key not in members_cache:
            ens = None
            if run.options.ensemble and search.oof_y is not None:
                ens = greedy_weights(
                    search.oof, search.oof_y, ensemble_pool(d, ranked), sel_metric, pooling
                )
            by_id = {r.id: r for r in ranked}
            members_cache.clear()
            members_cache[key] = [by_id[i] for i in ens[0]] if ens else ranked[:1]
        return members_cache[key]

    def search_deadline() -> float:
        # Reserve time for the final fits: the kept candidates on the search rows, then the
        # default on all rows (its cost scales with the row count).
        reserve = 0.04 * run.budget + 0.5
        ranked = search.ranked()
        if ranked:
            scale = 1.0 / max(len(d.sdata.folds), 1) / (0.8 if n_folds == 1 else fold_share)
            plan = choose_kept(ranked, settings["keep_top"])
            # a kept trial model (one validation split) is scored as it is: no fit to reserve
            reserve += sum(r.fit_seconds for r in plan if r.id not in search.models) * scale * 1.3
            if d.growing:  # no refit is planned: scoring the kept models on the hold-out rows
                per_row = sum(search.predict_ms.get(r.id, 0.0) for r in plan) / 1e6
                return max(run.end - reserve - 1.5 * per_row * len(d.hold_idx), run.start + 0.5)
            # Boosting time grows more slowly than the row count (binning is sample-based).
            # With folds, the fits above leave room for an ensemble's other members; with one
            # split (kept models need no fit), each member of the ensemble the search would
            # build now is refit.
            refits = plan[:1] if n_folds > 1 else likely_members(ranked)
            per_fit = scale * 1.2 * d.ratio_all**REFIT_ROWS_EXPONENT / spread
            reserve += sum(r.fit_seconds for r in refits) * per_fit + 0.2
        return max(run.end - reserve, run.start + 0.5)

    trial_cap = max(settings["min_trials"], int(settings["trials_per_row"] * n_search))
    max_trials = run.options.max_trials
    max_trials = trial_cap if max_trials is None else min(max_trials, trial_cap)
    search = Search(
        d.tinfo.task, d.n_classes, d.metric, d.families, run.seed, run.start, search_deadline,
        run.progress, settings["tuning_share"], max_trials, run.runner,
        counted=run.options.max_trials is not None,
    )  # fmt: skip
    return search, trial_cap


def ensemble_pool(d: TabularData, ranked: list[TrialRecord]) -> list[int]:
    """Trials an ensemble may average. On a big table, only those that learned from the most
    rows: a model of the first sample adds prediction cost and, chosen on the validation rows
    among dozens, more luck than accuracy (measured on benchmarks/scale.py's synthetic table:
    with first-sample members the default was an ensemble of test ROC AUC 0.8873, below a
    default LightGBM's 0.8887, that scored about 9,000 rows a second)."""
    if not d.growing:
        return candidate_pool(ranked)
    most = max((r.rows or 0) for r in ranked)
    return candidate_pool([r for r in ranked if (r.rows or 0) == most])


def keep_best(
    run: FitRun, d: TabularData, search: Search, ranked: list[TrialRecord], records: list[Any]
) -> Kept:
    """Kept candidates trained on the search rows and scored on the hold-out; an ensemble of the
    best trials when averaging their validation predictions beats the best single one (its
    members are kept like any candidate, and it is then the default)."""
    task, X, cats = d.tinfo.task, d.sdata.X, d.sdata.categorical
    X_hold = encode(d.pre, d.features.iloc[d.hold_idx], d.encodings)
    y_hold = d.y_all[d.hold_idx]
    plan = choose_kept(ranked, run.settings["keep_top"])
    ens = None
    if run.options.ensemble and search.oof_y is not None:
        sel = selection_metric(d.metric, task)
        ens = greedy_weights(
            search.oof, search.oof_y, ensemble_pool(d, ranked), sel, pooling_for(task, d.metric)
        )
    if ens is not None:
        by_id = {r.id: r for r in ranked}
        plan += [by_id[i] for i in ens[0] if by_id[i] not in plan]

    def train(rec: TrialRecord, deadline: float) -> tuple[Candidate, float, str]:
        if rec.id in search.models:  # the trial's own model, trained on its split's rows
            if d.growing:
                trained = f"{rows_text(rec.rows or 0)} (the search's own fit)"
                return search.models[rec.id], rec.fit_seconds, trained
            trained = "80% of the search rows (the search's own fit)"
            return search.models[rec.id], rec.fit_seconds / 0.8, trained
        cls = get_candidate(rec.candidate)
        ctx = FitContext(task, d.n_classes, deadline, run.seed)
        t_fit = time.monotonic()
        if d.growing:  # the rows of the trial's own sample
            rows = slice(d.sdata.n_val, d.sdata.n_val + (rec.rows or d.sdata.stage_rows[0]))
            cand = cls(rec.fit_params()).fit(
                X[cls.encoding][rows], d.sdata.y[rows], ctx, categorical=cats
            )
            return cand, time.monotonic() - t_fit, rows_text(rec.rows or 0)
        cand = cls(rec.fit_params()).fit(X[cls.encoding], d.sdata.y, ctx, categorical=cats)
        return cand, time.monotonic() - t_fit, "search rows"

    def evaluate(rec: TrialRecord, cand: Candidate) -> tuple[np.ndarray, dict[str, Any], int]:
        scores = np.asarray(cand.predict_scores(X_hold[cand.encoding]))
        threshold = 0.5
        if task == "binary" and search.oof_y is not None and rec.id in search.oof:
            threshold = M.best_threshold(d.metric, search.oof_y, search.oof[rec.id])
        report = M.report(task, y_hold, scores, threshold)
        return scores, {"threshold": threshold, "holdout_metrics": report}, len(y_hold)

    kept = keep_candidates(run, plan, train, evaluate)
    if ens is not None and search.oof_y is not None and all(i in kept.models for i in ens[0]):
        add_ensemble(d, search.oof, search.oof_y, kept, ens[0], records, y_hold, run.elapsed())
    if d.growing:
        cheaper_default(d.metric, kept, records)
    return kept


def error_of(metric: M.Metric, score: float) -> float:
    """How far a validation score is from perfect (every greater-is-better metric here is at
    most 1; the others are errors already)."""
    return max(1.0 - score, 0.0) if metric.greater_is_better else max(score, 0.0)


def cheaper_default(metric: M.Metric, kept: Kept, records: list[TrialRecord]) -> None:
    """On a big table the prediction cost counts: the default (an ensemble, or a slow single
    model) stays the default only if it cuts the validation error enough for what it costs per
    row (COST_GAIN_PER_10X per ten times the cost) against every faster kept model; otherwise
    the best faster one is the default, and the leaderboard says why."""
    by_id = {r.id: r for r in records}

    def cost(cid: int) -> float:
        return max(float(kept.meta[str(cid)]["predict_ms_per_1000_rows"]), 1e-3)

    best = kept.default_id
    if by_id[best].score is None:
        return
    others = [
        cid
        for cid in kept.meta
        if int(cid) != best and by_id[int(cid)].score is not None and by_id[int(cid)].status == "ok"
    ]
    sign = -1.0 if metric.greater_is_better else 1.0
    for cid in sorted((int(c) for c in others), key=lambda c: sign * float(by_id[c].score or 0)):
        ratio = cost(best) / cost(cid)
        if ratio < COST_FREE_RATIO:
            continue
        e_best = error_of(metric, float(by_id[best].score or 0))
        e_other = error_of(metric, float(by_id[cid].score or 0))
        gain = (e_other - e_best) / max(e_other, 1e-12)
        needed = COST_GAIN_PER_10X * np.log10(ratio)
        if gain >= needed:
            continue
        loser = by_id[best]
        why = (
            f"not the default: it scores rows {ratio:.0f} times slower than model {cid} for "
            f"{max(gain, 0.0):.1%} less validation error (on a big table that cost needs "
            f"{needed:.1%})"
        )
        loser.message = f"{loser.message}; {why}" if loser.message else why
        best = cid
    kept.default_id = best


def add_ensemble(
    d: TabularData,
    oof: dict[int, np.ndarray],
    oof_y: np.ndarray,
    kept: Kept,
    weights: dict[int, float],
    records: list[TrialRecord],
    y_hold: np.ndarray,
    elapsed: float,
) -> None:
    """Add the weighted ensemble of kept members (chosen on the validation predictions ``oof``
    of labels ``oof_y``) to the leaderboard and make it the default."""
    ens_id = len(records) + 1
    pooling = pooling_for(d.tinfo.task, d.metric)
    scores = average(kept.scores, weights, pooling)
    oof_avg = average(oof, weights, pooling)
    threshold = 0.5
    if d.tinfo.task == "binary":
        threshold = M.best_threshold(d.metric, oof_y, oof_avg)
    members = {str(k): w for k, w in weights.items()}
    records.append(
        TrialRecord(
            id=ens_id,
            candidate="ensemble",
            params={"members": members},
            score=round(float(d.metric(oof_y, oof_avg)), 6),
            fit_seconds=round(sum(r.fit_seconds for r in records if r.id in weights), 3),
            status="ok",
            source="ensemble",
            finished_at=round(elapsed, 3),
            message="weighted average of trials "
            + ", ".join(f"{k} ({w:.0%})" for k, w in weights.items()),
        )
    )
    kept.scores[ens_id] = scores
    kept.meta[str(ens_id)] = {
        "candidate": "ensemble",
        "members": members,
        "pooling": pooling,
        "params": {"members": dict(members)},
        "threshold": threshold,
        "holdout_metrics": M.report(d.tinfo.task, y_hold, scores, threshold),
        "predict_ms_per_1000_rows": round(
            sum(kept.meta[str(k)]["predict_ms_per_1000_rows"] for k in weights), 3
        ),
        "trained_on": "search rows",
    }
    kept.default_id = ens_id


def learning_curve(records: list[TrialRecord], rec: TrialRecord) -> list[tuple[int, float]]:
    """(training rows, validation score) of ``rec``'s configuration on each sample it learned
    from, fewest rows first (growing samples share their validation rows)."""
    points: dict[int, float] = {}
    for r in records:
        if (
            r.candidate == rec.candidate
            and r.params == rec.params
            and r.rows
            and r.score is not None
            and r.status == "ok"
        ):
            points[r.rows] = float(r.score)
    return sorted(points.items())


def refit_grown(
    run: FitRun, d: TabularData, kept: Kept, records: list[TrialRecord]
) -> tuple[bool, str]:
    """Big table: the default learned from most rows already. Refit it (each member of an
    ensemble) on every row only when its learning curve says more rows still help (without a
    curve: when it learned from less than REFIT_MOST_ROWS of them) and the refit should finish
    in the time left; the note says what the curve and the clock said.
    The search's encoded rows are let go first (nothing after the search reads them), and a
    refit reads every row encoded a batch at a time (``all_rows``): on the 1,000,000-row
    synthetic table at 120 s, a refit on a dense matrix of every row peaked at 1,340-1,380 MB
    of RSS (over 3 x the table's 435 MB), one in batches at 1,118 MB (the search's 1,098)."""
    d.sdata.X.clear()
    by_id = {r.id: r for r in records}
    members = kept.members(kept.default_id)
    n_all = len(d.data)
    sign = 1.0 if d.metric.greater_is_better else -1.0
    notes: list[str] = []
    refit_count = 0
    for mid in members:
        rec = by_id[mid]
        rows = rec.rows or d.sdata.stage_rows[0]
        curve = learning_curve(records, rec)
        label = d.metric.label
        said = f"model {mid} learned from {rows_text(rows)} of {n_all:,}"
        gain = None
        if len(curve) >= 2:
            (n1, s1), (n2, s2) = curve[-2], curve[-1]
            gain = (s2 - s1) / np.log2(n2 / n1) * np.log2(n_all / n2)
            said += (
                f"; its validation {label} went from {s1:.4f} on {n1:,} rows to {s2:.4f} on "
                f"{n2:,}, which predicts {gain:+.4f} from all the rows"
            )
        needed = kept.fit_seconds[mid] * n_all / max(rows, 1)
        left = run.end - time.monotonic()
        if gain is not None and sign * gain <= 0:
            notes.append(f"{said}: not refit, more rows no longer help")
            continue
        if gain is None and rows >= REFIT_MOST_ROWS * n_all:
            notes.append(f"{said}: not refit, no learning curve says the other rows would help")
            continue
        if needed > left:
            notes.append(
                f"{said}: not refit, a refit on all rows would take about {needed:.0f} s and "
                f"{max(left, 0):.0f} s were left"
            )
            continue
        cand = kept.models[mid]
        model, why = refit(
            run, cand, functools.partial(all_rows, d, type(cand)),
            d.y_all, d.sdata.categorical, d.tinfo.task, d.n_classes, 0.0,
        )  # fmt: skip
        if model is None:
            notes.append(f"{said}: the refit on all rows could not finish in the time budget")
            continue
        refit_count += 1
        kept.models[mid] = model
        kept.meta[str(mid)]["trained_on"] = "all rows"
        kept.meta[str(mid)]["params"] = model.fixed_iterations()
        notes.append(f"{said}: refit on all rows")
    done = refit_count == len(members)
    tail = (
        "the hold-out metrics come from the same configurations trained without the hold-out rows"
        if refit_count
        else "the hold-out metrics are this model's own"
    )
    return done, "; ".join(notes) + f" ({tail})"


def refit_default(
    run: FitRun, d: TabularData, kept: Kept, records: list[TrialRecord] | None = None
) -> tuple[bool, str]:
    """Refit the default (each member of an ensemble) on every row when there is time; returns
    whether the model that predicts was refit, and the note that says so."""
    if d.growing:
        return refit_grown(run, d, kept, records or [])
    if d.on_cluster:
        return refit_on_cluster(run, d, kept)
    members = kept.members(kept.default_id)
    refit_count = 0
    note = ""
    done = False
    for mid in members:
        cand = kept.models[mid]
        expected = kept.fit_seconds[mid] * d.ratio_all
        model, why = refit(
            run, cand, lambda enc: encode(d.pre, d.features, {enc})[enc], d.y_all,
            d.sdata.categorical, d.tinfo.task, d.n_classes,
            expected if cand.encoding == "linear" else 0.0,
        )  # fmt: skip
        done = model is not None
        note = REFIT_NOTES[why]
        if model is not None:
            refit_count += 1
            kept.models[mid] = model
            kept.meta[str(mid)]["trained_on"] = "all rows"
            kept.meta[str(mid)]["params"] = model.fixed_iterations()
    if len(members) > 1:
        kept.meta[str(kept.default_id)]["trained_on"] = (
            f"{refit_count} of {len(members)} members refit on all rows"
        )
        done = refit_count == len(members)
        note = (
            f"{refit_count} of the ensemble's {len(members)} members refit on all rows "
            "(search + hold-out) after scoring"
            + (
                "; the others had no time left in the budget and use the search rows"
                if not done
                else ""
            )
            + "; the hold-out metrics come from the members trained without the hold-out rows"
        )
    return done, note


def refit_on_cluster(run: FitRun, d: TabularData, kept: Kept) -> tuple[bool, str]:
    """A table above the cluster's threshold: each LightGBM model behind the default (each
    member of an ensemble) trains on every row with LightGBM's Dask interface on the cluster's
    workers, with its configuration and number of rounds; the other families' members keep
    their fit on the search sample (one computer would have to hold every row). A fit that
    would not finish in the time left, or that the cluster cannot finish (a worker lost), keeps
    the model trained on the sample; the note and ``d.cluster_fit`` say which ran where."""
    fitter = run.cluster_fitter
    assert fitter is not None  # (on_cluster is only set with one)
    members = kept.members(kept.default_id)
    n_all, n_search = len(d.data), len(d.search_idx)
    workers = fitter.workers
    notes: list[str] = []
    trained: list[int] = []
    for mid in members:
        cand = kept.models[mid]
        said = f"model {mid} ({cand.name})"
        if cand.name != "lightgbm":
            only = "only LightGBM trains on the cluster"
            notes.append(f"{said}: trained on the {n_search:,} search rows ({only})")
            continue
        needed = kept.fit_seconds[mid] * d.ratio_all**REFIT_ROWS_EXPONENT / workers
        left = run.end - time.monotonic()
        if needed > left:
            notes.append(
                f"{said}: trained on the {n_search:,} search rows; its training on all "
                f"{n_all:,} rows on the cluster would take about {needed:.0f} s and "
                f"{max(left, 0):.0f} s were left"
            )
            continue
        ctx = FitContext(d.tinfo.task, d.n_classes, run.end, run.seed)
        try:
            model = fitter.fit_lightgbm(cand, d.features, d.y_all, d.pre, d.sdata.categorical, ctx)
        except ClusterError as exc:
            notes.append(
                f"{said}: trained on the {n_search:,} search rows, because its training on "
                f"all rows on the cluster stopped: {exc}"
            )
            continue
        trained.append(mid)
        kept.models[mid] = model
        kept.meta[str(mid)]["trained_on"] = (
            f"all {n_all:,} rows, on {plural(workers, 'cluster worker')} (LightGBM's Dask training)"
        )
        kept.meta[str(mid)]["params"] = model.fixed_iterations()
        notes.append(f"{said}: trained on all {n_all:,} rows on the cluster")
    done = len(trained) == len(members)
    if len(members) > 1:
        kept.meta[str(kept.default_id)]["trained_on"] = (
            f"{len(trained)} of {len(members)} members trained on all rows on the cluster, the "
            "others on the search rows"
        )
    tail = (
        "the hold-out metrics come from the same configurations trained on the search rows"
        if trained
        else "the hold-out metrics are this model's own"
    )
    note = "; ".join(notes) + f" ({tail})"
    d.cluster_fit = {
        "workers": workers,
        "rows": n_all,
        "search_rows": n_search,
        "candidates": trained,
        "note": note,
    }
    return done, note


REFIT_NOTES = {
    "no time": (
        "not refit on all rows: there was no time left in the budget, so the model trained on "
        "the search rows is used"
    ),
    "unfinished": (
        "not refit on all rows: the refit could not finish within the time budget, so the model "
        "trained on the search rows is used"
    ),
    "refit": (
        "refit on all rows (search + hold-out) after scoring; the hold-out metrics come from the "
        "same configuration trained without the hold-out rows"
    ),
}


def describe(run: FitRun, d: TabularData, total_rows: int, trial_cap: int | None) -> Description:
    """What the model file says about the data, its rows and how they were used."""
    n, n_search, n_hold = len(d.data), len(d.search_idx), len(d.hold_idx)
    validation = (
        f"{d.n_folds}-fold cross-validation on {n_search} rows"
        if d.n_folds > 1
        else f"one 80/20 validation split of {n_search} rows"
    )
    if d.growing:
        sizes = ", ".join(f"{r:,}" for r in d.sdata.stage_rows)
        validation = (
            f"one validation set of {d.sdata.n_val:,} rows for every trial; trials learned from "
            f"growing samples of {sizes} rows, the best configurations moving on to the larger "
            "ones"
        )
    extra: dict[str, Any] = {}
    if d.on_cluster:
        validation += (
            f"; the search ran on a sample of {n_search:,} of the {len(d.train_idx):,} training "
            f"rows (a table of more than {run.options.dask_training_rows:,} rows built on a "
            "cluster: the final LightGBM model trains on the cluster's workers)"
        )
        extra["cluster_fit"] = d.cluster_fit
    if trial_cap is not None:
        validation += (
            f"; the search stopped after {trial_cap} trials, about one per "
            f"{1 / run.settings['trials_per_row']:g} rows (on a table this small, more tuning "
            "mostly fits the validation noise)"
        )
    return Description(
        task=d.tinfo.task,
        target={**asdict(d.tinfo), "name": d.tinfo.name},
        metric=d.metric,
        columns=[c.to_dict() for c in d.columns],
        rows={
            "total": int(total_rows),
            "with_target": int(n),
            "search": int(n_search),
            "train": int(len(d.train_idx)),
            "holdout": int(n_hold),
        },
        validation=validation,
        holdout_description=(
            f"{n_hold} rows ({n_hold / n:.0%}) held out before the search and never seen by it"
        ),
        warnings=d.warnings,
        extra=extra,
    )


def type_columns(
    features: pd.DataFrame,
    column_types: dict[str, str] | None,
    exclude: list[str] | None,
    target: str | None = None,
) -> list[ColumnInfo]:
    """Each column's type (detected, or the user's override); excluded columns are kept, typed
    "excluded", so the model file says why they were not used."""
    overrides = dict(column_types or {})
    excluded = list(exclude or [])
    missing = [c for c in excluded if c not in features.columns]
    if missing:
        raise ParameterError(
            f"exclude_columns names columns that are not in the data (or are the target): "
            f"{', '.join(missing)}."
        )
    for c in excluded:
        overrides[c] = "excluded"
    return list(infer_types(features, overrides, target).values())


def encode_target(y: pd.Series, task: str, classes: list[Any]) -> np.ndarray:
    """Numbers as floats; class labels as their index in ``classes``."""
    if task == "regression":
        return y.to_numpy(dtype="float64")
    index = {c: i for i, c in enumerate(classes)}
    return np.asarray([index[v] for v in y.tolist()], dtype=np.int64)


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


def target_summary(task: str, y: np.ndarray, n_classes: int) -> dict[str, Any]:
    """What a model-free guess would use: class shares, or the mean (training rows only)."""
    if task == "regression":
        return {"mean": float(np.mean(y)), "median": float(np.median(y))}
    counts = np.bincount(y.astype(np.int64), minlength=n_classes)
    return {"shares": (counts / max(1, counts.sum())).tolist()}
