"""Run one build (a training job) in its own process: ``python -m automl.builds WORKSPACE JOB_ID``.

The queue (:mod:`automl.workspace.jobs`) creates the job and starts this module by name; it never
imports it, so the workspace layer stays below the training layer. This module reads the job's
parameters from the catalog, trains with the public API on the dataset's training input (see
:func:`automl.workspace.data.training_input`), saves the model and records the outcome.
"""

from __future__ import annotations

import signal
import sys
import time
import traceback
from typing import Any

from automl.errors import EaselError
from automl.progress import ProgressEvent
from automl.workspace.catalog import Workspace
from automl.workspace.data import training_input
from automl.workspace.jobs import JobCancelled, JobProgress


def _on_sigterm(signum: int, frame: Any) -> None:
    raise JobCancelled()


def run_job(root: str, job_id: int) -> int:
    """Run one training job; returns the process exit status (0 when a model was saved)."""
    import automl

    signal.signal(signal.SIGTERM, _on_sigterm)
    ws = Workspace(root)
    job = ws.get_job(job_id)
    p = job["params"]
    ws.update_job(job_id, status="running", started_at=time.time(), message="Starting")
    try:
        name, version = ws.resolve_dataset(str(p["dataset"]))
        df, recipe, _ = training_input(ws, name, version)
        settings = dict(p["settings"])
        reporter = JobProgress(ws, job_id)
        model = automl.AutoML(progress=reporter, **settings).fit(
            df, target=p["target"], recipe=recipe
        )
        name, version, path = ws.new_model_path(p["model_name"])
        reporter(ProgressEvent("finalize", "Writing the model and its reports", 0.99, 0.0))
        model.save(path, reports=True, data=df)
        rec = ws.add_model(name, version, path, p["dataset"], model.model_)
        ws.update_job(
            job_id,
            status="succeeded",
            progress=1.0,
            message=f"Model '{name}' version {version} is ready",
            trials=reporter.trials,
            result={"model": rec.name, "version": rec.version},
            finished_at=time.time(),
        )
        return 0
    except JobCancelled:
        ws.update_job(job_id, status="cancelled", message="Cancelled", finished_at=time.time())
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
