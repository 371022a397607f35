"""The build queue: training jobs run in their own processes, so a browser can close or refresh.

This module creates a job, starts its process, reports its status and cancels it; the job's state,
progress, best score and trials so far live in the workspace catalog, and the app polls them.
The build itself runs in :mod:`automl.builds`, which the queue starts by name
(``python -m automl.builds WORKSPACE JOB_ID``) and never imports: the workspace layer sits below
training.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from automl.progress import ProgressEvent
from automl.workspace.catalog import Workspace

log = logging.getLogger("easel.jobs")
FINAL_STATES = ("succeeded", "failed", "cancelled")
BUILD_MODULE = "automl.builds"  # run as ``python -m automl.builds WORKSPACE JOB_ID``


class JobCancelled(Exception):
    """Raised inside a job when the user asked to cancel it."""


def start_training_job(
    ws: Workspace, dataset: str, target: str, model_name: str, settings: dict[str, Any]
) -> int:
    """Queue a training job and start its process; returns the job id."""
    ws.get_dataset(dataset)  # fails early with a clear message
    params = {"dataset": dataset, "target": target, "model_name": model_name, "settings": settings}
    job_id = ws.create_job("train", params)
    job = ws.get_job(job_id)
    with open(job["log_path"], "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", BUILD_MODULE, str(ws.root), str(job_id)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    ws.update_job(job_id, pid=proc.pid)
    return job_id


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child of this process is a zombie until reaped
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def job_status(ws: Workspace, job_id: int) -> dict[str, Any]:
    """The job's row; a job whose process vanished is marked failed."""
    job = ws.get_job(job_id)
    if job["status"] in ("queued", "running") and job["pid"] and not _alive(job["pid"]):
        time.sleep(0.2)
        job = ws.get_job(job_id)
        if job["status"] in ("queued", "running"):
            ws.update_job(
                job_id,
                status="failed",
                error="The build stopped unexpectedly (its process ended). Try again.",
                finished_at=time.time(),
            )
            job = ws.get_job(job_id)
    return job


def cancel_job(ws: Workspace, job_id: int) -> None:
    """Ask a job to stop; it stops at its next progress step, or is terminated after a grace."""
    job = ws.get_job(job_id)
    if job["status"] in FINAL_STATES:
        return
    ws.update_job(job_id, cancel_requested=1)
    if job["pid"]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job["pid"], signal.SIGTERM)


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
