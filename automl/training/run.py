"""``FitRun``: everything one fit needs besides the data, made once by :class:`automl.AutoML`.

The user's options (validated at the public boundary), the preset's settings, the clock (start,
budget, the deadline with headroom), the seed and the progress callback. Both pipelines
(:mod:`automl.training.tabular`, :mod:`automl.training.forecast`) take a ``FitRun``; neither reads
the estimator that made it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from automl.progress import ProgressCallback, ProgressEvent

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from automl.candidates import Candidate, FitContext
    from automl.preprocess import Preprocessor
    from automl.training.search import TrialRunner

BUDGET_HEADROOM = 0.95  # plan to finish at 95% of the budget
# The smallest time budget (seconds) AutoML takes: a fit reads and types the columns, runs at least
# one trial, scores the hold-out and measures column impact, about 1-3 s on small data, so a
# smaller budget could not be kept (0.001 s used to train for 0.6 s and report success).
MIN_TIME_BUDGET = 5.0
IMPACT_SHARE = 0.99  # column impact may run until 99% of the budget
# Of a whole build's budget (the CLI's `train`, the app's builds), the share kept for writing the
# model and its reports (at least REPORT_RESERVE_MIN seconds, at most REPORT_RESERVE_MAX).
REPORT_SHARE = 0.15
REPORT_RESERVE_MIN = 2.0
REPORT_RESERVE_MAX = 45.0


def build_fit_budget(total: float, spent: float, reports: bool) -> float:
    """The fit's share of a whole build's ``total`` seconds: less the ``spent`` seconds (reading
    the data) and the time kept for writing the model (and its reports, if ``reports``); never
    below MIN_TIME_BUDGET (a budget under it is the caller's to refuse)."""
    if total < MIN_TIME_BUDGET:
        return total
    keep = REPORT_SHARE * total if reports else 0.0
    keep = min(max(keep, REPORT_RESERVE_MIN), REPORT_RESERVE_MAX)
    return max(total - spent - keep, MIN_TIME_BUDGET)


# Rows with a target above which, with a cluster, the final LightGBM model trains with
# LightGBM's own Dask interface on the cluster's workers and the search runs on a sample (at
# most this many rows, and the preset's max_search_rows). Below it one computer does the whole
# build well: a default LightGBM fits 1,000,000 rows of 50 columns in 13 s on 2 cores and the
# build peaks at 2.6 times the table's memory (docs/benchmarks.md, "Big tables"), so 5,000,000
# such rows need about 1 GB as the float32 the trees read and 5 GB at the peak: a laptop's
# memory. Past that the table outgrows machines; below it the distributed fit's start (sockets
# between the workers, the rows sent to them) is not worth it.
DASK_TRAINING_ROWS = 5_000_000


class ClusterFitter(Protocol):
    """Trains a final LightGBM model on a cluster's workers (``automl.cluster``: LightGBM's Dask
    interface). ``fit_lightgbm`` trains ``cand``'s configuration with its number of rounds on
    ``rows`` (raw, encoded on the workers by ``pre``) and ``y``, and raises a ``ClusterError``
    when the cluster cannot finish it (a worker lost, the workers unable to reach each other)."""

    @property
    def workers(self) -> int: ...

    def fit_lightgbm(
        self,
        cand: Candidate,
        rows: pd.DataFrame,
        y: np.ndarray,
        pre: Preprocessor,
        categorical: list[int],
        ctx: FitContext,
    ) -> Candidate: ...


@dataclass(frozen=True)
class FitOptions:
    """The options of :class:`automl.AutoML` that shape a fit (see its docstring)."""

    preset: str = "quick"
    seed: int = 0
    task: str | None = None
    metric: str | None = None
    column_types: dict[str, str] | None = None
    exclude_columns: list[str] | None = None
    positive_label: Any = None
    candidates: list[str] | None = None
    max_trials: int | None = None
    ensemble: bool = True
    time_column: str | None = None
    series_columns: list[str] | None = None
    horizon: int | None = None
    aggregate: str | None = None
    quantiles: list[float] | None = None
    backtests: int | None = None
    future_columns: list[str] | None = None
    holidays: str | None = None
    fill: str | None = None
    # with a cluster: rows above which the final LightGBM model trains on the cluster
    dask_training_rows: int = DASK_TRAINING_ROWS


@dataclass
class FitRun:
    """One fit: options, the preset's settings, the clock and progress reporting."""

    options: FitOptions
    settings: dict[str, Any]
    progress: ProgressCallback | None = None
    start: float = field(default_factory=time.monotonic)
    # where the search's trials run: a cluster's workers (automl.cluster), or here when None
    runner: TrialRunner | None = None
    # with a cluster: trains the final LightGBM model of a big table on its workers
    cluster_fitter: ClusterFitter | None = None
    timings: dict[str, float] = field(default_factory=dict)
    _lap: float | None = None

    @property
    def budget(self) -> float:
        """Seconds for the whole fit (from the preset, or the user's ``time_budget``)."""
        return float(self.settings["time_budget"])

    @property
    def end(self) -> float:
        """When the planned work should be done: the budget less its headroom."""
        return self.start + self.budget * BUDGET_HEADROOM

    @property
    def impact_deadline(self) -> float:
        return self.start + self.budget * IMPACT_SHARE

    @property
    def seed(self) -> int:
        return self.options.seed

    @property
    def families_named(self) -> bool:
        """The user chose the model families (so an unusable one is an error, not a note)."""
        return self.options.candidates is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def emit(self, phase: str, message: str, fraction: float) -> None:
        """Report progress to the callback, if there is one."""
        if self.progress is not None:
            self.progress(ProgressEvent(phase, message, fraction, self.elapsed()))

    def lap(self, phase: str) -> None:
        """Record the time since the previous lap (or since the start) as ``phase``."""
        now = time.monotonic()
        self.timings[phase] = now - (self.start if self._lap is None else self._lap)
        self._lap = now

    def rounded_timings(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.timings.items()}
