"""The search's trials as Dask tasks (:class:`DaskTrials`, the search's ``TrialRunner``).

A trial is :func:`automl.training.search.run_trial`, a function of (its configuration, the
rows, a deadline): the rows of a sample are scattered to the cluster once and every trial of that
sample names them. The deadline travels as wall-clock time (the machines' clocks are assumed in
step, as NTP keeps them). A trial whose worker is lost (the process or machine stopped) is a
failed trial; the search goes on with the other workers.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any

from automl.cluster._connect import Cluster
from automl.errors import ClusterError
from automl.training.search import SearchData, TrialOutcome, TrialSpec, run_trial

# A trial stops at its deadline within one boosting round or fold; one that has not answered
# this many seconds after the search's deadline is given up (its worker hangs or is gone).
GRACE_SECONDS = 30.0
# With no worker at all for this long, the cluster cannot run the search: an error, not a wait
# until the deadline.
NO_WORKER_SECONDS = 60.0
POLL_SECONDS = 1.0
_THREAD = threading.local()  # on a worker: what fits of the same rows share (one sample's)


def remote_trial(
    spec: TrialSpec, base: SearchData, wall_deadline: float, token: str
) -> TrialOutcome:
    """Run on a worker: the trial on the scattered rows, until ``wall_deadline`` (``time.time``
    seconds). Fits of the same rows on this worker thread share what a family builds from them
    (``token`` names the rows)."""
    from distributed import get_worker

    left = wall_deadline - time.time()
    deadline = time.monotonic() + left
    reuse = getattr(_THREAD, "reuse", None)
    if reuse is None or getattr(_THREAD, "token", None) != token:
        reuse = _THREAD.reuse = {}  # the previous sample's (or build's) are let go
        _THREAD.token = token
    outcome = run_trial(spec, base, lambda: deadline, reuse, token)
    try:
        outcome.worker = str(get_worker().address)
    except ValueError:  # not on a worker (a synchronous scheduler): nothing to name
        outcome.worker = ""
    return outcome


@dataclass
class _Handle:
    future: Any
    submitted: float


def _folds_key(data: SearchData) -> tuple[Any, ...]:
    """The folds' identity: slices by their bounds, index arrays by the object."""
    out: list[Any] = []
    for pair in data.folds:
        for part in pair:
            out.append((part.start, part.stop) if isinstance(part, slice) else ("rows", id(part)))
    return tuple(out)


def _rows_needed(data: SearchData) -> int:
    """How many first rows the folds use (a growing sample's: the validation rows and the
    sample; cross-validation folds: every row)."""
    parts = [part for pair in data.folds for part in pair]
    if parts and all(isinstance(p, slice) and p.stop is not None for p in parts):
        return max(int(p.stop) for p in parts)
    return len(data.y)


class DaskTrials:
    """Runs the search's trials on a Dask cluster, one per worker at a time."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.client = cluster.client
        # fixed at the start: the search's decisions depend on how many trials run at once,
        # not on workers that come and go
        self._slots = cluster.slots
        self._shared: tuple[tuple[Any, ...], Any, str, SearchData] | None = None

    @property
    def slots(self) -> int:
        return self._slots

    def _share(self, data: SearchData) -> tuple[Any, str]:
        """``data``'s rows on the cluster, scattered once per sample (the previous sample's
        are let go): a reference the trials name, and the token of those rows."""
        need = _rows_needed(data)
        key = (id(data.X), need, _folds_key(data))
        shared = self._shared
        # (not "finished": every worker holding the rows was lost; they are scattered again)
        if shared is not None and shared[0] == key and shared[1].status == "finished":
            return shared[1], shared[2]
        base = SearchData(
            {enc: X[:need] for enc, X in data.X.items()},
            data.y[:need],
            data.categorical,
            data.folds,
            data.stage_rows,
            data.n_val,
        )
        # on every worker: each runs trials on them, and a lost worker loses no rows
        future = self.client.scatter(base, hash=False, broadcast=True)
        token = uuid.uuid4().hex
        self._shared = (key, future, token, data)  # (data: its ids stay taken while shared)
        return future, token

    def submit(self, spec: TrialSpec, data: SearchData, deadline: float) -> _Handle:
        shared, token = self._share(data)
        wall = time.time() + (deadline - time.monotonic())
        future = self.client.submit(
            remote_trial,
            spec,
            shared,
            wall,
            token,
            key=f"easel-trial-{spec.number}-{uuid.uuid4().hex[:12]}",
            pure=False,
            retries=0,
        )
        return _Handle(future, time.monotonic())

    def result(self, handle: _Handle, deadline: Any) -> TrialOutcome:
        """The trial's outcome; a failed one when its worker was lost or did not answer in
        time. A ``ClusterError`` when the cluster has had no worker for NO_WORKER_SECONDS."""
        from distributed import KilledWorker, wait

        alone_since: float | None = None
        while True:
            left = deadline() + GRACE_SECONDS - time.monotonic()
            try:
                # the wait is polled (it moves no data), the outcome fetched once: a fetch given
                # up by a timeout and asked again makes the worker send it again
                wait([handle.future], timeout=max(min(left, POLL_SECONDS), 0.01))
                outcome = handle.future.result()
            except KilledWorker as exc:
                address = str(getattr(exc.last_worker, "address", "") or "")
                return self._lost(
                    handle,
                    f"the worker training it ({address or 'unknown'}) stopped (its process or "
                    "machine was lost); the search went on without it",
                    address,
                )
            except (CancelledError, OSError) as exc:
                if isinstance(exc, TimeoutError):
                    if left > POLL_SECONDS:
                        alone_since = self._check_workers(alone_since)
                        continue
                    handle.future.cancel()
                    return self._lost(
                        handle,
                        "its worker did not answer before the end of the search time; the "
                        "search went on without it",
                    )
                return self._lost(
                    handle, "the cluster lost it (its worker or the connection stopped)"
                )
            if not isinstance(outcome, TrialOutcome):
                return self._lost(handle, "its worker answered with something else than a trial")
            return outcome

    def _check_workers(self, alone_since: float | None) -> float | None:
        return alone_since_check(
            self.client,
            alone_since,
            f"The Dask cluster at '{self.cluster.name}' has had no worker for "
            f"{NO_WORKER_SECONDS:g} s, so the search cannot go on. Start workers (or check why "
            "they stopped: memory, the machines' logs) and build again.",
        )

    def _lost(self, handle: _Handle, message: str, worker: str = "") -> TrialOutcome:
        took = time.monotonic() - handle.submitted
        return dataclasses.replace(TrialOutcome(None, "failed", None, took, message), worker=worker)


def alone_since_check(client: Any, alone_since: float | None, message: str) -> float | None:
    """Since when (``time.monotonic``) the cluster has had no worker, given the last answer
    ``alone_since`` (None while it has workers); a ``ClusterError`` saying ``message`` once
    that is ``NO_WORKER_SECONDS`` ago."""
    try:
        workers = client.nthreads()
    except (OSError, TimeoutError):
        workers = {}
    if workers:
        return None
    now = time.monotonic()
    if alone_since is None:
        return now
    if now - alone_since >= NO_WORKER_SECONDS:
        raise ClusterError(message)
    return alone_since
