"""Training as a background job in its own process, so a browser can close or refresh.

The job's state, progress, best score and leaderboard so far live in the workspace catalog; the app
polls them. ``python -m automl.workspace.jobs WORKSPACE JOB_ID`` runs one job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from typing import Any

from automl.errors import EaselError
from automl.progress import ProgressEvent
from automl.workspace.catalog import Workspace

log = logging.getLogger("easel.jobs")
FINAL_STATES = ("succeeded", "failed", "cancelled")


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
            [sys.executable, "-m", "automl.workspace.jobs", str(ws.root), str(job_id)],
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


class _Reporter:
    """Progress callback writing to the catalog (throttled) and checking for cancellation."""

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


def _on_sigterm(signum: int, frame: Any) -> None:
    raise JobCancelled()


def run_job(root: str, job_id: int) -> int:
    """Run one training job (in its own process)."""
    import automl

    signal.signal(signal.SIGTERM, _on_sigterm)
    ws = Workspace(root)
    job = ws.get_job(job_id)
    p = job["params"]
    ws.update_job(job_id, status="running", started_at=time.time(), message="starting")
    try:
        from automl.workspace.data import training_input

        df, recipe, _ = training_input(ws, p["dataset"])
        settings = dict(p["settings"])
        reporter = _Reporter(ws, job_id)
        model = automl.AutoML(progress=reporter, **settings).fit(
            df, target=p["target"], recipe=recipe
        )
        name, version, path = ws.new_model_path(p["model_name"])
        reporter(ProgressEvent("finalize", "writing the model and its reports", 0.99, 0.0))
        model.save(path, reports=True, data=df)
        rec = ws.add_model(name, version, path, p["dataset"], model.model_)
        ws.update_job(
            job_id,
            status="succeeded",
            progress=1.0,
            message=f"model '{name}' version {version} is ready",
            trials=reporter.trials,
            result={"model": rec.name, "version": rec.version},
            finished_at=time.time(),
        )
        return 0
    except JobCancelled:
        ws.update_job(job_id, status="cancelled", message="cancelled", finished_at=time.time())
        return 1
    except EaselError as exc:
        ws.update_job(job_id, status="failed", error=str(exc), finished_at=time.time())
        return 1
    except Exception as exc:  # unexpected: short message for the user, traceback to the log
        traceback.print_exc()
        ws.update_job(
            job_id,
            status="failed",
            error=f"The build failed unexpectedly ({type(exc).__name__}). Details are in the job "
            "log.",
            finished_at=time.time(),
        )
        return 1


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1], int(sys.argv[2])))
