"""The search: default configurations first, then Optuna (TPE) under a wall-clock deadline.

Each model family has its own Optuna study (ask/tell), so the search can decide which family to try
next and stop launching trials that cannot finish. Every fit also gets the deadline itself (Optuna
only checks its timeout between trials). Small data is scored by cross-validation, large data by a
validation split; both only ever see the search rows, never the hold-out.
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import optuna
from sklearn.model_selection import KFold, StratifiedKFold

from automl.candidates import Candidate, FitContext, get_candidate
from automl.errors import BudgetError, EaselError
from automl.metrics import Metric
from automl.progress import ProgressCallback, ProgressEvent, TrialRecord

optuna.logging.set_verbosity(optuna.logging.WARNING)
MAX_KEPT_PREDICTIONS = 40  # validation predictions kept for the best trials
# With one validation split, the fitted models of the best trials (and the best of each family)
# are kept, so the final phase scores them on the hold-out rows instead of training them again.
MAX_KEPT_MODELS = 8
# A trial may use at most this share of the search time (or twice the family's fastest trial, if
# more), split over its folds: one slow configuration (a low learning rate on ten classes) must not
# eat the budget of dozens of others. Boosting and forests stop early and still give a model.
TRIAL_SHARE = 0.15
# Growing samples (tables larger than the search sample): the best configurations of the first
# sample move on to larger ones. GROWTH_TOP go to the second sample, one fewer to each next one,
# and the best one to all the rows. The first sample keeps at least STAGE0_MIN_SHARE of the search
# time; a trial's seconds are predicted from the same configuration on its samples so far: a line
# through two of them, or from one, times the rows ratio to ROWS_COST_EXPONENT (measured on a
# 1,000,000-row table: 64 times the rows took 30 times the seconds, 16 times 11.5 times; 0.7
# for one point measured better at 120 s: a higher one left no time for the second sample and
# raised the learning rate of the fit on all the rows, which then finished early).
GROWTH_TOP = 3
STAGE0_MIN_SHARE = 0.3
# The first sample stops after this many configurations when much time is left: more of
# them rank configurations for that sample, not for all the rows (interactions table at 600 s:
# 183 trials on 11,132 rows, test ROC AUC 0.8096 against 0.8309 at 120 s with 44); the time
# goes to the larger samples and to more configurations learning from all the rows.
STAGE0_MAX_TRIALS = 60
STAGE0_LONG = 3.0  # (when the time left is more than this many times what growing needs)
ROWS_COST_EXPONENT = 0.7
# The first sample stops when the time left is this many times what growing is predicted to
# need: with 1.2, the fit on all the rows of the interactions table at 120 s was predicted at
# 23 s, had 34 s and was stopped unfinished at 35.6 s, twice (on 712,500 rows a configuration
# boosts more rounds than the line through its small samples says); with 1.6 it had 46-54 s
# and finished in 39-45 s.
GROWTH_SAFETY = 1.6
# A family's anchor configurations (``anchor_configs``: settings known to use many rows well)
# run on the first sample, and the first of them learns from all the rows before the best tuned
# configuration: a small sample ranks configurations for its own size (interactions table at
# 120 s: the first sample's best reached test ROC AUC 0.79-0.83 from run to run on all the rows,
# the anchor 0.838). Under a count of trials, only when there are at least this many.
ANCHOR_MIN_TRIALS = 12
# The probe's measured exponent is kept within [MIN_ROWS_EXPONENT, 1]: a small sample's fixed
# costs can make 4 times the rows look almost free.
MIN_ROWS_EXPONENT = 0.5
# Learning on all the rows in the time left: the rate may be raised up to this many times, to at
# most this rate (fewer, larger boosting steps).
MAX_RATE_RAISE = 4.0
MAX_LEARNING_RATE = 0.3
# On growing samples a configuration learns at a rate of at least this: the fit on all the rows
# raises a slow rate anyway, and on the first sample rates of 0.05-0.065 took 24 of the 33 s of
# fits (synthetic table: 2.1-8.1 s a trial, the others 0.2-1.9 s). 1,000,000-row tables at
# 120 s: synthetic 17 trials at 0.05, 19-22 at 0.1, test ROC AUC 0.8917 and 0.8918-0.8928;
# interactions 19-21 and 23-25 trials, 0.8329-0.8336 and 0.8329-0.8345.
GROWING_MIN_RATE = 0.1


@dataclass
class SearchData:
    """Encoded search rows: one matrix per encoding, the labels, the categorical indices."""

    X: dict[str, Any]
    y: np.ndarray
    categorical: list[int]
    folds: list[tuple[Any, Any]] = field(default_factory=list)  # (train, validation) indices
    # Growing samples (big tables): the first ``n_val`` rows validate every trial; sample k
    # trains on the next ``stage_rows[k]`` rows (the rows are in random order, so each sample
    # holds the previous one). Empty: no growing (``folds`` are the search's only rows).
    stage_rows: list[int] = field(default_factory=list)
    n_val: int = 0

    @property
    def growing(self) -> bool:
        return len(self.stage_rows) > 1

    def stage(self, k: int) -> SearchData:
        """The same rows with sample ``k``'s one split, as slices (views: no copy of X)."""
        fold = (slice(self.n_val, self.n_val + self.stage_rows[k]), slice(0, self.n_val))
        return SearchData(self.X, self.y, self.categorical, [fold], self.stage_rows, self.n_val)


def _growing_rate(params: dict[str, Any]) -> dict[str, Any]:
    """On growing samples, a learning rate of at least GROWING_MIN_RATE: the best configuration
    must learn from all the rows within the budget (a slower rate would be cut short there),
    and faster trials leave the first sample time for more of them."""
    rate = params.get("learning_rate")
    if isinstance(rate, float) and rate < GROWING_MIN_RATE:
        return {**params, "learning_rate": GROWING_MIN_RATE}
    return params


@dataclass
class TrialSpec:
    """One trial, everything but its rows: what a worker needs to run it (with the rows)."""

    number: int  # its leaderboard id
    family: str
    params: dict[str, Any]
    task: str
    n_classes: int
    metric: Metric
    seed: int
    allowance: float  # seconds it may take, split over its folds


@dataclass
class TrialOutcome:
    """What running a trial gave, wherever it ran."""

    score: float | None
    status: str
    iterations: int | None
    seconds: float
    message: str = ""
    cut_by_deadline: bool = False  # its only split was complete when the search time ran out
    preds: np.ndarray | None = None  # every fold's validation predictions, in fold order
    model: Candidate | None = None  # one-split searches: the fitted model
    predict_ms: float = 0.0  # milliseconds per 1,000 validation rows
    worker: str = ""  # the cluster worker that ran it ("" here)


class TrialRunner(Protocol):
    """Runs trials elsewhere (``automl.cluster``: Dask workers). ``submit`` starts a trial on
    ``data`` with the search's ``deadline`` (``time.monotonic()`` seconds); ``result`` waits for
    it, until a little after ``deadline()`` at most, and never raises for a trial lost with its
    worker (a failed outcome says so)."""

    @property
    def slots(self) -> int: ...

    def submit(self, spec: TrialSpec, data: SearchData, deadline: float) -> Any: ...

    def result(self, handle: Any, deadline: Callable[[], float]) -> TrialOutcome: ...


@dataclass
class _Pending:
    spec: TrialSpec
    source: str
    data: SearchData
    handle: Any
    done: Callable[[TrialRecord], None] | None


def run_trial(
    spec: TrialSpec,
    data: SearchData,
    deadline: Callable[[], float],
    reuse: dict[str, Any] | None = None,
    rows_token: Any = None,
) -> TrialOutcome:
    """Score ``spec``'s configuration on ``data``'s folds within ``spec.allowance`` seconds
    (split over the folds) and before ``deadline()``: a function of its arguments only, so it
    runs the same here and on a worker. On growing samples every fit of the same rows may share
    what a family builds from them (``reuse``, keyed by ``rows_token`` and the rows: the
    matrix's id when None). A bad configuration is a failed outcome."""
    t0 = time.monotonic()
    try:
        out = _evaluate(spec, data, deadline, reuse, rows_token)
    except (ValueError, MemoryError, ArithmeticError) as exc:  # a bad configuration
        out = TrialOutcome(None, "failed", None, 0.0, str(exc)[:300])
    out.seconds = time.monotonic() - t0
    return out


def _evaluate(
    spec: TrialSpec,
    data: SearchData,
    deadline: Callable[[], float],
    reuse_all: dict[str, Any] | None,
    rows_token: Any,
) -> TrialOutcome:
    cls = get_candidate(spec.family)
    X = data.X[cls.encoding]
    y = data.y
    preds: list[np.ndarray] = []
    truth: list[np.ndarray] = []
    iterations: list[int] = []
    status = "ok"
    cut = timed = False
    last_model: Candidate | None = None
    predict_seconds, predicted_rows = 0.0, 0
    trial_end = time.monotonic() + spec.allowance
    for k, (train_idx, val_idx) in enumerate(data.folds):
        now = time.monotonic()
        fold_end = now + (trial_end - now) / (len(data.folds) - k)
        reuse, key = None, None
        if data.growing and isinstance(train_idx, slice) and isinstance(val_idx, slice):
            # growing samples: every trial of a sample fits on the same rows
            reuse = reuse_all
            token = id(X) if rows_token is None else rows_token
            key = (token, train_idx.start, train_idx.stop, val_idx.start, val_idx.stop)
        ctx = FitContext(
            spec.task,
            spec.n_classes,
            min(deadline(), fold_end),
            spec.seed,
            reuse=reuse,
            rows_key=key,
        )
        if ctx.seconds_left() <= 0:  # earlier folds used up the trial's share, or the search's
            late = time.monotonic() >= deadline()
            status = "stopped at deadline" if late else "stopped at its time share"
            break
        model = cls(spec.params).fit(
            X[train_idx], y[train_idx], ctx, X[val_idx], y[val_idx], data.categorical
        )
        if model.n_iterations_ is not None:
            iterations.append(model.n_iterations_)
            # a fit that ran to its fold's end was cut there (its rounds stopped by the time)
            timed |= time.monotonic() >= ctx.deadline and time.monotonic() < deadline()
        t_pred = time.monotonic()
        preds.append(model.predict_scores(X[val_idx]))
        predict_seconds += time.monotonic() - t_pred
        truth.append(y[val_idx])
        predicted_rows += len(truth[-1])
        if len(data.folds) == 1:
            last_model = model
        if time.monotonic() >= deadline():
            if len(data.folds) == 1:  # its only split is complete: a model cut short
                cut = True
                break
            status = "stopped at deadline"
            break
    if not preds:
        return TrialOutcome(None, status, None, 0.0)
    complete = np.concatenate(preds) if len(preds) == len(data.folds) else None
    score = spec.metric(np.concatenate(truth), np.concatenate(preds))
    return TrialOutcome(
        score=score,
        status=status,
        iterations=int(np.mean(iterations)) if iterations else None,
        seconds=0.0,
        # every fold scored, but with the rounds its time share allowed
        message="rounds cut at its time share" if timed and status == "ok" else "",
        cut_by_deadline=cut,
        preds=complete,
        model=last_model,
        predict_ms=1e6 * predict_seconds / max(predicted_rows, 1),
    )


def make_folds(
    y: np.ndarray, task: str, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds (``n_folds`` >= 2), or one 80/20 split (``n_folds`` == 1)."""
    idx = np.arange(len(y))
    splitter: Any
    if task == "regression":
        splitter = KFold(n_splits=max(n_folds, 5), shuffle=True, random_state=seed)
    else:
        # no more splits than the largest class has rows (4 classes of 5 rows leave 4 of each
        # after the hold-out: 4 splits, not an error)
        largest = int(np.bincount(np.asarray(y, dtype=np.int64)).max()) if len(y) else 2
        splits = max(2, min(max(n_folds, 5), largest))
        splitter = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
    folds = list(splitter.split(idx, y))
    return folds[:n_folds]


class Search:
    """Run default configurations, then tuned ones, until the deadline."""

    def __init__(
        self,
        task: str,
        n_classes: int,
        metric: Metric,
        families: list[str],
        seed: int,
        start: float,
        deadline: Callable[[], float],
        progress: ProgressCallback | None = None,
        tuning_share: dict[str, int] | None = None,
        max_trials: int | None = None,
        runner: TrialRunner | None = None,
        counted: bool | None = None,
    ) -> None:
        """``max_trials``: at most this many trials (a user's count, or a cap for tiny tables);
        ``counted``: the user asked for a count of trials (default: when ``max_trials`` is
        given), so that nothing measured on the clock changes which trials run."""
        self.task = task
        self.n_classes = n_classes
        self.metric = metric
        self.families = families
        self.seed = seed
        self.start = start
        self.deadline = deadline
        self.progress = progress
        self.tuning_share = tuning_share or {"lightgbm": 3, "linear": 1}
        self.max_trials = max_trials
        self.counted = max_trials is not None if counted is None else counted
        self.records: list[TrialRecord] = []
        self.cost: dict[str, list[float]] = {f: [] for f in families}
        # validation predictions of the best complete trials (all folds, concatenated in fold
        # order) and their true values: for threshold tuning and ensembles
        self.oof: dict[int, np.ndarray] = {}
        self.oof_y: np.ndarray | None = None
        # one-split searches: fitted models of the best trials, trained on the split's 80%
        self.models: dict[int, Candidate] = {}
        # milliseconds per 1,000 validation rows of each scored trial's model
        self.predict_ms: dict[int, float] = {}
        self.span = 0.0  # seconds of search time when the run started
        self.search_start = start
        self._probed = False
        self._use_anchors = False
        self._reuse: dict[str, Any] = {}  # what families keep between fits on the same rows
        # trials run on a cluster's workers (None: here, one after the other), and those
        # submitted there and not yet recorded, oldest first
        self.runner = runner
        self._pending: deque[_Pending] = deque()

    # ------------------------------------------------------------------ one trial
    def _trial_allowance(self, family: str) -> float:
        """Seconds the next trial of ``family`` may take (no limit before its first trial)."""
        done = [r.fit_seconds for r in self.records if r.candidate == family and r.status == "ok"]
        if not done:
            return float("inf")
        return max(TRIAL_SHARE * self.span, 2.0 * min(done))

    def _spec(self, family: str, params: dict[str, Any], allowance: float) -> TrialSpec:
        number = len(self.records) + len(self._pending) + 1
        return TrialSpec(
            number, family, params, self.task, self.n_classes, self.metric, self.seed, allowance
        )

    def _run_one(
        self,
        family: str,
        params: dict[str, Any],
        source: str,
        data: SearchData,
        allowance: float | None = None,
    ) -> TrialRecord:
        """Run one trial now and record it (on a cluster, on a worker, after the trials
        already submitted)."""
        self._settle_all()
        if allowance is None:
            allowance = self._trial_allowance(family)
        spec = self._spec(family, params, allowance)
        if self.runner is None:
            outcome = run_trial(spec, data, self.deadline, self._reuse)
        else:
            handle = self.runner.submit(spec, data, self.deadline())
            outcome = self.runner.result(handle, self.deadline)
        return self._finish(spec, source, data, outcome)

    def _launch(
        self,
        family: str,
        params: dict[str, Any],
        source: str,
        data: SearchData,
        done: Callable[[TrialRecord], None] | None = None,
    ) -> None:
        """Start one trial; ``done`` gets its record. Here it runs at once. On a cluster it is
        submitted to the workers, at most ``runner.slots`` at a time, and the records come in
        the order the trials were started (so the search's decisions do not depend on which
        worker was faster)."""
        if self.runner is None:
            record = self._run_one(family, params, source, data)
            if done is not None:
                done(record)
            return
        while len(self._pending) >= max(self.runner.slots, 1):
            self._settle_next()
        spec = self._spec(family, params, self._trial_allowance(family))
        handle = self.runner.submit(spec, data, self.deadline())
        self._pending.append(_Pending(spec, source, data, handle, done))

    def _settle_next(self) -> None:
        """Wait for the oldest trial started on the cluster and record it."""
        assert self.runner is not None
        p = self._pending.popleft()
        record = self._finish(p.spec, p.source, p.data, self.runner.result(p.handle, self.deadline))
        if p.done is not None:
            p.done(record)

    def _settle_all(self) -> None:
        while self._pending:
            self._settle_next()

    def _finish(
        self, spec: TrialSpec, source: str, data: SearchData, outcome: TrialOutcome
    ) -> TrialRecord:
        """Record a trial's outcome: the leaderboard row, its validation predictions and model
        (the best ones are kept), and the progress event."""
        family, allowance, took = spec.family, spec.allowance, outcome.seconds
        message = outcome.message
        if outcome.status == "ok" and outcome.cut_by_deadline:
            message = "stopped growing at the end of the search time"
        elif outcome.status == "ok" and took >= 0.95 * allowance:
            message = f"stopped growing at its time share ({allowance:.1f} s)"
        self.cost[family].append(took)
        score = outcome.score
        record = TrialRecord(
            id=len(self.records) + 1,
            candidate=family,
            params=spec.params,
            score=None if score is None else round(float(score), 6),
            fit_seconds=round(took, 3),
            status=outcome.status,
            source=source,
            iterations=outcome.iterations,
            finished_at=round(time.monotonic() - self.start, 3),
            message=message,
            rows=int(np.mean([len(data.y[train]) for train, _ in data.folds])),
            worker=outcome.worker,
        )
        self.records.append(record)
        if score is not None:
            self.predict_ms[record.id] = round(outcome.predict_ms, 3)
        if score is not None and outcome.preds is not None:
            if self.oof_y is None:
                self.oof_y = np.concatenate([data.y[val] for _, val in data.folds])
            self.oof[record.id] = outcome.preds
            if len(self.oof) > MAX_KEPT_PREDICTIONS:  # drop the worst
                by_id = {r.id: r for r in self.records}
                worst = max(self.oof, key=lambda i: self._loss(by_id[i].score))
                del self.oof[worst]
        if outcome.status == "ok" and outcome.model is not None:
            self._keep_model(record, outcome.model)
        self._report(record)
        return record

    def _keep_model(self, record: TrialRecord, model: Candidate) -> None:
        self.models[record.id] = model
        if len(self.models) <= MAX_KEPT_MODELS:
            return
        by_id = {r.id: r for r in self.records}
        best_of_family: dict[str, int] = {}
        for r in self.ranked():
            best_of_family.setdefault(r.candidate, r.id)
        spare = [i for i in self.models if i not in best_of_family.values()]
        if spare:  # drop the worst model that is not the best of its family
            del self.models[max(spare, key=lambda i: self._loss(by_id[i].score))]

    def _report(self, record: TrialRecord) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        total = max(self.deadline() - self.start, 1e-9)
        best = self.best()
        try:
            family = get_candidate(record.candidate).label
        except EaselError:  # not a registered family: its name
            family = record.candidate
        shown = (
            f"{self.metric.label} {record.score:.4f}"
            if record.score is not None
            else "no score (it did not finish)"
        )
        self.progress(
            ProgressEvent(
                phase="search",
                message=f"Tried model {record.id} ({family}): {shown}",
                fraction=min((now - self.start) / total, 1.0),
                elapsed=now - self.start,
                best_score=None if best is None else best.score,
                trial=record,
            )
        )

    # ------------------------------------------------------------------ loop
    def best(self) -> TrialRecord | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked_or_raise(self, budget: float) -> list[TrialRecord]:
        """:meth:`ranked`, or a clear error when no trial could be trained in the budget."""
        ranked = self.ranked()
        if not ranked:
            raise BudgetError(
                f"No model could be trained within the time budget of {budget:g} seconds. "
                "Give a larger time budget."
            )
        return ranked

    def ranked(self) -> list[TrialRecord]:
        """Scored trials, best first; trials cut short before their last fold (by the deadline
        or their time share: scored on fewer folds, so not comparable) after every complete one."""
        scored = [r for r in self.records if r.score is not None and r.status != "failed"]
        sign = -1.0 if self.metric.greater_is_better else 1.0
        return sorted(
            scored,
            key=lambda r: (r.status != "ok", sign * float(r.score or 0.0), r.fit_seconds),
        )

    def _can_afford(self, family: str) -> bool:
        if not self.records:  # a tiny budget still gets one model
            return True
        left = self.deadline() - time.monotonic()
        costs = self.cost[family]
        expected = float(np.median(costs)) if costs else 0.0
        # Launch only what is likely to finish; the first trial of a family always gets a chance.
        return left > 0 and (not costs or left >= 0.5 * expected)

    def run(self, data: SearchData, n_rows: int) -> list[TrialRecord]:
        """Default configurations, then tuned ones, until the deadline (or ``max_trials``). On
        growing samples (``data.growing``) this happens on the first sample, until the time
        left is what the best configurations need on the larger samples; then they grow."""
        self.search_start = time.monotonic()
        self.span = max(self.deadline() - self.search_start, 0.0)
        grow = data.growing and any(get_candidate(f).grows for f in self.families)
        self._use_anchors = grow and (
            self.max_trials is None or self.max_trials >= ANCHOR_MIN_TRIALS
        )
        self._stage0_cap = self.max_trials
        if grow and self.max_trials is not None:  # leave trials for the larger samples
            later = len(data.stage_rows) - 1 + int(self._use_anchors)
            self._stage0_cap = max(1, self.max_trials - later)
        first = data.stage(0) if grow else data
        self._search_first(first, n_rows, data if grow else None)
        if grow:
            self._grow(data)
        return self.records

    def _search_first(self, data: SearchData, n_rows: int, growing: SearchData | None) -> None:
        self._first_trials(data, n_rows, growing)
        self._settle_all()  # the trials still running on the cluster (an error leaves them)

    def _first_trials(self, data: SearchData, n_rows: int, growing: SearchData | None) -> None:
        queue: list[tuple[str, dict[str, Any], str]] = []
        defaults = {f: get_candidate(f).default_configs(self.task, n_rows) for f in self.families}
        if growing is not None:
            # the first sample's time goes to what can grow (only it can learn from all the
            # rows and be the model): a family that does not grow gets one default only when it
            # is cheap (a yardstick on the leaderboard); the others took a fifth of the first
            # sample's time on a 1,000,000-row table for models no ensemble could use
            defaults = {
                f: [_growing_rate(get_candidate(f).growing_config(c)) for c in v]
                if get_candidate(f).grows
                else (v[:1] if get_candidate(f).cheap else [])
                for f, v in defaults.items()
            }
            # the anchors first: whatever else the first sample has time for, they are timed
            # there, to learn from all the rows later
            for f in self.families if self._use_anchors else []:
                if get_candidate(f).grows:
                    queue += [(f, c, "anchor") for c in get_candidate(f).anchor_configs(self.task)]
        for i in range(max(len(v) for v in defaults.values())):
            for f in sorted(self.families, key=lambda f: not get_candidate(f).cheap):
                if i < len(defaults[f]):
                    queue.append((f, defaults[f][i], "default"))
        for family, params, source in queue:
            if growing is not None and self._first_sample_done(growing):
                return  # the larger samples need the time left
            if self._enough(self._stage0_cap) or not self._can_afford(family):
                continue
            self._launch(family, params, source, data)
        self._settle_all()  # (the studies start from every default's result)

        def space(cls: type[Candidate]) -> Callable[..., dict[str, Any]]:
            """The family's search space (on a big table's first sample, its growing one)."""
            return cls.suggest_growing if growing is not None and cls.grows else cls.suggest

        studies = {
            f: optuna.create_study(
                direction="minimize",
                sampler=optuna.samplers.TPESampler(seed=self.seed + i, n_startup_trials=5),
            )
            for i, f in enumerate(self.families)
        }
        # Tell each study the default results first, so TPE starts from them (not the anchors':
        # they may set what the search space does not hold).
        for f, study in studies.items():
            cls = get_candidate(f)
            told = [r for r in self.records if r.candidate == f and r.source == "default"]
            for r in [r for r in told if r.score is not None]:
                study.enqueue_trial(r.params, skip_if_exists=False)
                trial = study.ask()
                with warnings.catch_warnings():  # defaults may lie outside a small-data space
                    warnings.simplefilter("ignore")
                    space(cls)(trial, self.task, n_rows)
                study.tell(trial, self._loss(r.score))
        cycle = [f for f in self.families for _ in range(self.tuning_share.get(f, 1))]
        if not cycle:  # only families that run their defaults were chosen: tune them anyway
            cycle = list(self.families)
        if growing is not None:  # only what grows can become the model: tune only that
            cycle = [f for f in cycle if get_candidate(f).grows] or cycle
        step = 0
        stalled = 0
        while (
            cycle
            and not self._enough(self._stage0_cap)
            and time.monotonic() < self.deadline()
            and stalled < len(cycle)
            and not (growing is not None and self._first_sample_done(growing))
        ):
            family = cycle[step % len(cycle)]
            step += 1
            if not self._can_afford(family):
                stalled += 1
                continue
            stalled = 0
            cls = get_candidate(family)
            trial = studies[family].ask()
            params = space(cls)(trial, self.task, n_rows)
            if growing is not None and cls.grows:
                params = _growing_rate(params)
            tell = functools.partial(self._tell, studies[family], trial)
            self._launch(family, params, "search", data, tell)

    def _tell(self, study: optuna.Study, trial: optuna.Trial, record: TrialRecord) -> None:
        if record.score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, self._loss(record.score))

    def _enough(self, cap: int | None = None) -> bool:
        """``cap`` (default ``max_trials``) trials recorded or running."""
        cap = self.max_trials if cap is None else cap
        return cap is not None and len(self.records) + len(self._pending) >= cap

    # ------------------------------------------------------------------ growing samples
    def _growers(self, rows: int) -> list[TrialRecord]:
        """Scored trials of growing families trained on ``rows`` rows, best first, one per
        configuration."""
        seen: list[dict[str, Any]] = []
        out = []
        anchors = self._anchor_params()
        for r in self.ranked():
            grows = get_candidate(r.candidate).grows
            tuned = r.source != "anchor" and r.params not in anchors
            if r.rows == rows and r.status == "ok" and grows and tuned and r.params not in seen:
                seen.append(r.params)
                out.append(r)
        return out

    def _anchor_params(self) -> list[dict[str, Any]]:
        return [r.params for r in self.records if r.source == "anchor"]

    def _anchors(self, rows: int) -> list[TrialRecord]:
        """The anchors that ran on ``rows`` rows (the first sample), in their order."""
        return [
            r
            for r in self.records
            if r.source == "anchor" and r.rows == rows and r.status == "ok" and r.score is not None
        ]

    def _predicted(self, rec: TrialRecord, rows: int) -> float:
        """Seconds ``rec``'s configuration should take on ``rows`` training rows: a line through
        its two largest samples when it ran on two (a fixed cost plus a cost per row), else its
        seconds times the rows ratio to ROWS_COST_EXPONENT."""
        times = {
            r.rows: r.fit_seconds
            for r in self.records
            if r.params == rec.params
            and r.candidate == rec.candidate
            and r.rows
            and r.score is not None
        }
        times[rec.rows or rows] = rec.fit_seconds
        if len(times) >= 2:
            (n1, t1), (n2, t2) = sorted(times.items())[-2:]
            per_row = max((t2 - t1) / (n2 - n1), 0.0)
            return max(t2 + per_row * (rows - n2), 0.0)
        ratio = rows / max(rec.rows or rows, 1)
        return rec.fit_seconds * ratio ** self._rows_exponent()

    def _rows_exponent(self) -> float:
        """How a configuration's seconds grow with its rows on this table: measured by the
        probe (the best configuration of the first sample on the second), else
        ROWS_COST_EXPONENT."""
        pairs: dict[str, dict[int, float]] = {}
        for r in self.records:
            if r.status == "ok" and r.score is not None and r.rows and r.fit_seconds > 0:
                key = json.dumps([r.candidate, r.params], sort_keys=True, default=str)
                pairs.setdefault(key, {})[int(r.rows)] = float(r.fit_seconds)
        for times in pairs.values():
            if len(times) >= 2:
                (n1, t1), (n2, t2) = sorted(times.items())[:2]
                exponent = math.log(t2 / t1) / math.log(n2 / n1)
                return float(min(max(exponent, MIN_ROWS_EXPONENT), 1.0))
        return ROWS_COST_EXPONENT

    def _has_run(self, rec: TrialRecord, rows: int) -> bool:
        """Whether ``rec``'s configuration has already learned from ``rows`` rows."""
        return any(
            r.rows == rows and r.candidate == rec.candidate and r.params == rec.params
            for r in self.records
        )

    def _plan(self, data: SearchData, left: float) -> tuple[list[tuple[int, int]], float]:
        """The larger samples to run within ``left`` seconds, as (sample, configurations), and
        their predicted seconds: all the rows for the best configuration always, then the
        samples in between (GROWTH_TOP configurations, one fewer each) while they fit."""
        best = self._growers(data.stage_rows[0])
        if not best:
            return [], 0.0
        last = len(data.stage_rows) - 1
        plan = [(last, 1)]
        cost = self._predicted(best[0], data.stage_rows[last]) + self._anchor_need(data)
        top = GROWTH_TOP
        for k in range(1, last):
            extra = sum(
                self._predicted(r, data.stage_rows[k])
                for r in best[:top]
                if not self._has_run(r, data.stage_rows[k])
            )
            if cost + extra > left:
                break
            plan.insert(-1, (k, min(top, len(best))))
            cost += extra
            top = max(1, top - 1)
        return plan, cost

    def _within_time(self, rec: TrialRecord, rows: int) -> tuple[dict[str, Any], str]:
        """``rec``'s configuration for ``rows`` rows, with its learning rate raised (at most
        MAX_RATE_RAISE times, to at most MAX_LEARNING_RATE) when the time left would cut its
        boosting short: a model that finishes learning at a faster rate beats one stopped early
        at a slow rate. The note says so ("" when unchanged)."""
        rate = rec.params.get("learning_rate")
        left = self.deadline() - time.monotonic()
        need = self._predicted(rec, rows)
        if not isinstance(rate, float) or left <= 0 or need <= left:
            return rec.params, ""
        new = min(rate * min(need / left, MAX_RATE_RAISE), MAX_LEARNING_RATE)
        if new <= rate * 1.05:
            return rec.params, ""
        note = (
            f"learning rate raised from {rate:.3g} to {new:.3g} to finish learning in the "
            f"{left:.0f} s left (about {need:.0f} s needed at the first rate)"
        )
        return {**rec.params, "learning_rate": round(new, 4)}, note

    def _cut_short(self, rec: TrialRecord, params: dict[str, Any], rows: int) -> bool:
        """Whether ``rec``'s configuration, at ``params``' learning rate, is predicted to need
        more than twice the time left on ``rows`` rows: cut at the deadline it would learn
        less than half of what it could (interactions table at 120 s: 25 s needed at its raised
        rate, 4 s left, stopped at the deadline with validation ROC AUC 0.765 against the
        anchor's 0.838; those seconds can compile the trees for batch scoring instead)."""
        before, after = rec.params.get("learning_rate"), params.get("learning_rate")
        need = self._predicted(rec, rows)
        if isinstance(before, float) and isinstance(after, float) and after > 0:
            need *= before / after  # (rounds fall with a larger rate)
        return need > 2.0 * (self.deadline() - time.monotonic())

    def _first_sample_done(self, data: SearchData) -> bool:
        """The first sample has had its share: what is left is what growing needs."""
        now = time.monotonic()
        if now - self.search_start < STAGE0_MIN_SHARE * self.span:
            return False
        left, need = self.deadline() - now, GROWTH_SAFETY * self._least_growth(data)
        # a long budget: after enough configurations, most of the time goes to growing
        moving_on = (
            left > STAGE0_LONG * need
            and len(self._growers(data.stage_rows[0])) >= STAGE0_MAX_TRIALS
        )
        if left > need and not moving_on:
            return False
        if self._probe(data) and not moving_on:  # measured now: decide again on it
            return self.deadline() - time.monotonic() <= GROWTH_SAFETY * self._least_growth(data)
        return True

    def _least_growth(self, data: SearchData) -> float:
        """Predicted seconds of the least growing worth stopping the first sample for: the
        next sample for GROWTH_TOP configurations (when it is not all the rows), then the best
        on all the rows. 0 before a growing family has a scored trial."""
        best = self._growers(data.stage_rows[0])
        if not best:
            return 0.0
        last = len(data.stage_rows) - 1
        need = self._predicted(best[0], data.stage_rows[last]) + self._anchor_need(data)
        if last > 1:
            need += sum(
                self._predicted(r, data.stage_rows[1])
                for r in best[:GROWTH_TOP]
                if not self._has_run(r, data.stage_rows[1])
            )
        return need

    def _anchor_need(self, data: SearchData) -> float:
        """Predicted seconds of the first anchor on all the rows (0 without one)."""
        anchors = self._anchors(data.stage_rows[0])
        return self._predicted(anchors[0], data.stage_rows[-1]) if anchors else 0.0

    def _probe(self, data: SearchData) -> bool:
        """Once: the best configuration of the first sample on the second, so that how
        seconds grow with rows on this table is measured rather than assumed (it is that
        configuration's first growth step, which growing would take anyway)."""
        if self._probed or len(data.stage_rows) <= 2 or self.counted:
            return False  # (a count of trials is planned for the larger samples: keep it)
        best = self._growers(data.stage_rows[0])
        if not best or self._enough():
            return False
        self._probed = True
        rec, rows = best[0], data.stage_rows[1]
        left = self.deadline() - time.monotonic()
        # room for 4 times the rows to take more than 4 times the seconds (more boosting rounds
        # before early stopping): a probe cut short measures only a lower bound
        allowance = min(max(2.0 * self._predicted(rec, rows), 6.0 * rec.fit_seconds), 0.25 * left)
        if allowance < 0.5:
            return False
        self._run_one(rec.candidate, rec.params, "growth", data.stage(1), allowance)
        return True

    def _grow(self, data: SearchData) -> None:
        """Train the best configurations on larger samples, all validated on the same rows, so
        every trial's score is comparable; the best configuration then learns from all the
        rows (until the deadline: a model cut short is still scored and ranked)."""
        left = self.deadline() - time.monotonic()
        plan, _ = self._plan(data, left / GROWTH_SAFETY)
        if not plan:
            return
        prev_rows = data.stage_rows[0]
        done: list[dict[str, Any]] = []  # configurations that learned from all the rows
        for k, top in plan:
            rows = data.stage_rows[k]
            stage = data.stage(k)
            final = k == len(data.stage_rows) - 1
            chosen = self._growers(prev_rows)[:top]
            if final:  # the first anchor learns from all the rows first, then the best tuned
                chosen = self._anchors(data.stage_rows[0])[:1] + chosen
            for rec in chosen:
                if self._enough() or time.monotonic() >= self.deadline():
                    return
                if not final and self._has_run(rec, rows):
                    continue  # (the probe ran it)
                params, note = rec.params, ""
                if final:
                    params, note = self._within_time(rec, rows)
                    if done and self._cut_short(rec, params, rows):
                        continue  # (a model already learned from all the rows)
                    done.append(rec.params)
                allowance = float("inf")
                if not final:  # protect the time the larger samples need
                    rest = sum(
                        self._predicted(self._growers(prev_rows)[0], data.stage_rows[j])
                        for j, _ in plan
                        if j > k
                    )
                    allowance = max(
                        min(
                            2.0 * self._predicted(rec, rows),
                            self.deadline() - time.monotonic() - rest,
                        ),
                        0.5,
                    )
                grown = self._run_one(rec.candidate, params, "growth", stage, allowance)
                if note:
                    grown.message = f"{note}; {grown.message}" if grown.message else note
            prev_rows = rows
        # time left (the plan was pessimistic, or the budget long): the next best
        # configurations on all the rows, as the largest sample each learned from ranks them
        last = len(data.stage_rows) - 1
        for rec in self._anchors(data.stage_rows[0])[1:] + self._next_best(data, done):
            left = self.deadline() - time.monotonic()
            # (no safety margin: a fit cut at the deadline is still scored and ranked)
            if self._enough() or left < self._predicted(rec, data.stage_rows[last]):
                break
            done.append(rec.params)
            self._run_one(rec.candidate, rec.params, "growth", data.stage(last))

    def _next_best(self, data: SearchData, done: list[dict[str, Any]]) -> list[TrialRecord]:
        """Configurations not yet in ``done``, best first: those of the largest sample before
        all the rows first, then those only the smaller samples ranked."""
        out: list[TrialRecord] = []
        seen = list(done)
        for k in reversed(range(len(data.stage_rows) - 1)):
            for rec in self._growers(data.stage_rows[k]):
                if rec.params not in seen:
                    seen.append(rec.params)
                    out.append(rec)
        return out

    def _loss(self, score: float | None) -> float:
        v = float(score if score is not None else 0.0)
        return -v if self.metric.greater_is_better else v
