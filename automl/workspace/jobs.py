"""The build queue: training jobs run in their own processes, so a browser can close or refresh.

This module creates a job, starts its process, reports its status and cancels it; the job's state,
progress, best score and trials so far live in the workspace catalog, and the app polls them.
The build itself runs in :mod:`automl.builds`, which the queue starts by name
(``python -m automl.builds WORKSPACE JOB_ID``) and never imports: the workspace layer sits below
training.

How a build process runs (:func:`run_queued`):

1. It starts in state "queued" and polls every :data:`QUEUE_POLL` seconds until it may take a slot:
   fewer than :func:`max_builds` jobs are running and it is the oldest queued job, checked in one
   ``BEGIN IMMEDIATE`` transaction (``Workspace.claim_job_slot``). No daemon: the queue is the jobs
   table, global across every user of the workspace. Cancelling a queued build ends it
   "cancelled" without training; the time budget starts when it leaves the queue.
2. It forks a worker that trains, and stays as the worker's parent: ``waitpid`` tells how the
   worker ended, so a worker killed by the kernel for memory (SIGKILL not asked for by a cancel) is
   reported as "ran out of memory" with the size of the data. A cancel sends SIGTERM to the build's
   process group; a worker that has not stopped :data:`CANCEL_GRACE` seconds later is killed.

The app's server is the parent of every build process it starts and reaps it (a thread waits for
it), so a finished or cancelled build leaves no zombie. A process is identified by its pid and its
start time (``/proc/PID/stat``), so a reused pid is never taken for a build. After an app restart,
:func:`recover_interrupted` marks the builds whose process is gone "interrupted".
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from automl.atomic import sweep_stale
from automl.errors import EaselError, ParameterError
from automl.progress import ProgressEvent
from automl.workspace.catalog import Workspace

log = logging.getLogger("easel.jobs")
FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")
BUILD_MODULE = "automl.builds"  # run as ``python -m automl.builds WORKSPACE JOB_ID``
MAX_BUILDS_ENV = "EASEL_MAX_BUILDS"
MAX_BUILDS_SETTING = "max_builds"
QUEUE_POLL = 0.5  # seconds between two looks at the queue by a waiting build
CANCEL_GRACE = 10  # seconds a cancelled build has to stop before it is killed
LAUNCH_GRACE = 60.0  # seconds a new job may have no process yet (it is being started)
HOST = socket.gethostname()  # the machine of the processes this one starts (jobs' `host`)
INTERRUPTED = "Interrupted: the server restarted while this build was running. Start it again."
VANISHED = "The build stopped unexpectedly (its process ended). Try again."


class JobCancelled(Exception):
    """Raised inside a job when the user asked to cancel it, or the server is stopping it."""


def record_stopped(ws: Workspace, job_id: int) -> None:
    """Record a build stopped by SIGTERM: "cancelled" when a user asked for it, else
    "interrupted" (the server is stopping, e.g. a service manager ending every process)."""
    now = time.time()
    if ws.get_job(job_id)["cancel_requested"]:
        ws.update_job(job_id, status="cancelled", message="cancelled", finished_at=now)
    else:
        ws.update_job(job_id, status="interrupted", error=INTERRUPTED, finished_at=now)


# ---------------------------------------------------------------------- how many builds at once
def default_max_builds() -> int:
    """One build per two cores, at least one (a build's trials use the cores it has)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def _check_max_builds(value: object, where: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        shown = repr(value) if isinstance(value, int) else repr(str(value)[:40])
        raise ParameterError(
            f"The number of builds that may run at once ({where}) must be a whole number of at "
            f"least 1. Got {shown} instead."
        )
    return int(text)


def max_builds(ws: Workspace) -> int:
    """How many builds may run at once: the workspace setting an admin chose
    (:func:`set_max_builds`), else $EASEL_MAX_BUILDS, else :func:`default_max_builds`."""
    setting = ws.get_setting(MAX_BUILDS_SETTING)
    if setting is not None:
        return _check_max_builds(setting, "the workspace setting")
    env = os.environ.get(MAX_BUILDS_ENV)
    if env is not None and env.strip():
        return _check_max_builds(env, f"${MAX_BUILDS_ENV}")
    return default_max_builds()


def set_max_builds(ws: Workspace, value: int | str | None) -> None:
    """Set the workspace's limit on builds at once (for the admin page); None restores the
    default ($EASEL_MAX_BUILDS or one per two cores). Builds waiting in the queue use it at once."""
    if value is None:
        ws.set_setting(MAX_BUILDS_SETTING, None)
    else:
        ws.set_setting(MAX_BUILDS_SETTING, str(_check_max_builds(value, "the workspace setting")))


# ---------------------------------------------------------------------- processes
def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of process ``pid`` from /proc/PID/stat, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (name) ": state, ppid, ...
    if len(fields) < 20:
        return None
    return fields[0].decode(), int(fields[19])  # field 22 of the line: start time in ticks


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks after boot), or None without /proc."""
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def job_alive(job: dict[str, Any]) -> bool:
    """Whether the job's build process still runs (a reused pid does not count). A process on
    another machine (``host``: a second app server on a shared catalog) counts as running:
    its own server checks it."""
    if job.get("host") not in (None, "", HOST):
        return True
    pid, start = job.get("pid"), job.get("pid_start")
    if not pid:  # being started, unless that was long ago
        return time.time() - float(job["created_at"]) < LAUNCH_GRACE
    if not os.path.isdir("/proc"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = _proc_stat(pid)
    if state is not None:
        return state[0] not in ("Z", "X") and (start is None or state[1] == start)
    # the build's first process is gone; its worker may still run in its process group (the
    # kernel never hands out a pid that is still a process group's id)
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


# ---------------------------------------------------------------------- the front door's side
def start_training_job(
    ws: Workspace, dataset: str, target: str, model_name: str, settings: dict[str, Any]
) -> int:
    """Queue a training job and start its process; returns the job id."""
    ws.get_dataset(dataset)  # fails early with a clear message
    max_builds(ws)  # a bad limit is reported here, not by a build that never starts
    params = {"dataset": dataset, "target": target, "model_name": model_name, "settings": settings}
    job_id = ws.create_job("train", params)
    job = ws.get_job(job_id)
    try:
        with open(job["log_path"], "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", BUILD_MODULE, str(ws.root), str(job_id)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
    except OSError as exc:
        ws.update_job(job_id, status="failed", error=VANISHED, finished_at=time.time())
        raise EaselError(
            f"The build could not be started ({exc.strerror or exc}). Check that the server has "
            "free memory and processes, then try again."
        ) from exc
    # not reaped before wait(), so /proc still has it even if it already ended
    ws.update_job(job_id, pid=proc.pid, pid_start=process_start(proc.pid), host=HOST)
    # reap it the moment it ends: a finished or cancelled build leaves no zombie behind
    threading.Thread(target=_reap, args=(ws, job_id, proc), daemon=True).start()
    return job_id


def _reap(ws: Workspace, job_id: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait for a build process this one started, and record how it ended if it could not (it
    was killed before it could, e.g. by a cancel before it was ready for one)."""
    code = proc.wait()
    with contextlib.suppress(Exception):  # a thread: never raise; job_status covers the rest
        record_exit(ws, job_id, code)


def job_status(ws: Workspace, job_id: int) -> dict[str, Any]:
    """The job's row; a job whose process vanished is marked failed."""
    job = ws.get_job(job_id)
    if job["status"] in ("queued", "running") and not job_alive(job):
        time.sleep(0.2)  # it may be writing its final state
        job = ws.get_job(job_id)
        if job["status"] in ("queued", "running") and job["cancel_requested"]:
            ws.update_job(job_id, status="cancelled", message="cancelled", finished_at=time.time())
        elif job["status"] in ("queued", "running"):
            ws.update_job(job_id, status="failed", error=VANISHED, finished_at=time.time())
        job = ws.get_job(job_id)
    return job


def queue_position(ws: Workspace, job_id: int) -> int | None:
    """How many builds are ahead of a queued one (running ones and older queued ones), or None
    when the job is not waiting in the queue."""
    active = [j for j in ws.active_jobs() if job_alive(j)]
    if not any(j["id"] == job_id and j["status"] == "queued" for j in active):
        return None
    return sum(j["status"] == "running" or j["id"] < job_id for j in active if j["id"] != job_id)


def waiting_text(ws: Workspace, job_id: int) -> str:
    """The Build page's line for a queued build, e.g. "Waiting: 2 builds ahead of yours"."""
    ahead = queue_position(ws, job_id) or 0
    try:
        limit = max_builds(ws)
    except ParameterError:  # shown when a build is started
        at_once = ""
    else:
        at_once = f" ({limit} build{'s run' if limit > 1 else ' runs'} at a time)"
    if ahead == 0:
        return f"Waiting to start{at_once}."
    return f"Waiting: {ahead} build{'s' if ahead > 1 else ''} ahead of yours{at_once}."


def cancel_job(ws: Workspace, job_id: int) -> None:
    """Ask a job to stop: a queued one ends without training, a running one at its next progress
    step, or is killed after a grace (:data:`CANCEL_GRACE`). A build of another machine only
    gets the request (no signal is sent to a process id of this machine)."""
    job = job_status(ws, job_id)
    if job["status"] in FINAL_STATES:
        return
    ws.update_job(job_id, cancel_requested=1)
    if job.get("host") not in (None, "", HOST):
        return  # another server's build: it sees the request at its next step or look
    if job_alive(job):
        if job["pid"]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(job["pid"], signal.SIGTERM)
    else:  # never started: nothing to stop
        ws.update_job(job_id, status="cancelled", message="cancelled", finished_at=time.time())


def recover_interrupted(ws: Workspace) -> list[int]:
    """Mark the queued and running builds whose process is gone "interrupted" (the app calls it
    when it starts: a server restart stopped them). Returns their ids."""
    gone = [j for j in ws.active_jobs() if not job_alive(j)]
    for j in gone:
        ws.update_job(j["id"], status="interrupted", error=INTERRUPTED, finished_at=time.time())
    return [j["id"] for j in gone]


# ---------------------------------------------------------------------- the build process's side
def wait_for_slot(ws: Workspace, job_id: int) -> bool:
    """Wait in the queue until this build may run (then it is "running"); False when it was
    cancelled while waiting (or ended by someone else)."""
    ws.update_job(job_id, message="waiting for a free build slot")
    while True:
        job = ws.get_job(job_id)
        if job["cancel_requested"] or job["status"] != "queued":
            return False
        try:
            if ws.claim_job_slot(job_id, max_builds(ws), job_alive):
                return True
        except sqlite3.OperationalError:  # the catalog stayed locked: look again
            pass
        time.sleep(QUEUE_POLL)


def run_queued(ws: Workspace, job_id: int, work: Callable[[], int]) -> int:
    """The build process: wait in the queue, then run ``work`` (the training) in a forked worker
    and record how the worker ended if it could not. Returns the process exit status."""

    def cancelled_while_queued(signum: int, frame: Any) -> None:
        raise JobCancelled()

    signal.signal(signal.SIGTERM, cancelled_while_queued)
    try:
        if not wait_for_slot(ws, job_id):
            raise JobCancelled()
        # from here a cancel waits for the worker: SIGTERM is handled again once it is forked
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    except JobCancelled:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if ws.get_job(job_id)["status"] in ("queued", "running"):
            record_stopped(ws, job_id)
        return 1
    except Exception as exc:  # a bad limit setting, a catalog error: the build cannot start
        ws.update_job(job_id, status="failed", error=str(exc), finished_at=time.time())
        return 1
    return _supervise(ws, job_id, work)


def _supervise(ws: Workspace, job_id: int, work: Callable[[], int]) -> int:
    """Fork the worker (SIGTERM is blocked on entry) and wait for it."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        child = os.fork()
    except OSError:
        return record_exit(ws, job_id, 1)
    if child == 0:  # the worker
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            code = work()
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def on_cancel(signum: int, frame: Any) -> None:  # the worker got SIGTERM too: give it time
        signal.alarm(CANCEL_GRACE)

    def on_grace_over(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_grace_over)
    signal.signal(signal.SIGTERM, on_cancel)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    _, status = os.waitpid(child, 0)  # retried after a signal handler runs (PEP 475)
    signal.alarm(0)
    sweep_stale(ws.root / "models")  # a worker killed while saving left its temporary folder
    return record_exit(ws, job_id, os.waitstatus_to_exitcode(status))


def record_exit(ws: Workspace, job_id: int, code: int) -> int:
    """Record how a build's process ended (``code``: its exit status, or minus the signal that
    killed it) when it could not record it itself; returns the exit status to pass on."""
    job = ws.get_job(job_id)
    if job["status"] not in ("queued", "running"):
        return code  # the process wrote its outcome
    now = time.time()
    if job["cancel_requested"] or code == -signal.SIGTERM:
        record_stopped(ws, job_id)
    elif code == -signal.SIGKILL:
        error = out_of_memory_message(ws, job)
        ws.update_job(job_id, status="failed", error=error, finished_at=now)
    else:
        ws.update_job(
            job_id,
            status="failed",
            error="The build stopped unexpectedly (its process crashed). Try again; if it happens "
            "again, the job log has the details.",
            finished_at=now,
        )
    return code or 1


def out_of_memory_message(ws: Workspace, job: dict[str, Any]) -> str:
    """The analyst's note for a build the kernel killed for memory, with the data's size."""
    ref = str(job["params"].get("dataset", ""))
    try:
        rec = ws.get_dataset(*ws.resolve_dataset(ref))
    except Exception:  # the dataset was deleted since: say what we know
        what = f"'{ref}'" if ref else "its data"
    else:
        size = job.get("data_bytes") or _parquet_bytes(ws, rec.path)
        mb = "" if size is None else f", {size / 1e6:,.{0 if size >= 1e7 else 1}f} MB"
        what = f"{rec.name} ({rec.rows:,} rows x {rec.columns:,} columns{mb})"
    return (
        f"The build ran out of memory on {what}. Try a sample of the rows, fewer columns, or a "
        "machine with more memory."
    )


def _parquet_bytes(ws: Workspace, path: str) -> int | None:
    """The dataset's size uncompressed, from its Parquet footer (when the worker died before it
    measured the rows in memory)."""
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(ws.root / path).metadata
        return int(sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)))
    except Exception:
        return None


class JobProgress:
    """The build's progress callback: writes progress to the job's catalog row (at most twice a
    second during the search) and raises :class:`JobCancelled` when the user asked to cancel."""

    def __init__(self, ws: Workspace, job_id: int) -> None:
        self.ws = ws
        self.job_id = job_id
        self.trials: list[dict[str, Any]] = []
        self.best: float | None = None
        self.last = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        if event.trial is not None:
            self.trials.append(event.trial.to_dict())
        if event.best_score is not None:
            self.best = event.best_score
        now = time.monotonic()
        if now - self.last < 0.5 and event.phase == "search":
            return
        self.last = now
        self.ws.update_job(
            self.job_id,
            progress=round(event.fraction, 4),
            message=event.message,
            best_score=self.best,
            trials=self.trials,
        )
        if self.ws.get_job(self.job_id)["cancel_requested"]:
            raise JobCancelled()
