"""What a fit reports while it runs: one leaderboard row per trial (``TrialRecord``) and progress
events (``ProgressEvent``) passed to a ``ProgressCallback``. Plain data, no ML library: the
workspace's job runner and the app read them without loading the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class TrialRecord:
    """One candidate configuration tried by the search (a leaderboard row)."""

    id: int
    candidate: str
    params: dict[str, Any]
    score: float | None
    fit_seconds: float
    status: str  # "ok", "stopped at deadline", "stopped at its time share", "failed"
    # "default", "search", "growth" (a best configuration on a larger sample) or "anchor" (a
    # configuration for many rows, on a big table's first sample)
    source: str
    iterations: int | None = None
    finished_at: float = 0.0
    message: str = ""
    rows: int | None = None  # training rows the trial learned from (its fold's, or the sample's)
    worker: str = ""  # the cluster worker that ran it ("": this computer, no cluster)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fit_params(self) -> dict[str, Any]:
        """Parameters that refit this trial without validation data (its mean iterations)."""
        params = dict(self.params)
        if self.iterations:
            params["n_estimators"] = self.iterations
        return params


@dataclass
class ProgressEvent:
    """Reported to the ``progress`` callback at every step of a fit."""

    phase: str
    message: str
    fraction: float
    elapsed: float
    best_score: float | None = None
    trial: TrialRecord | None = None


ProgressCallback = Callable[[ProgressEvent], None]
