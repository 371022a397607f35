"""Run one build (a training job) in its own process: ``python -m automl.builds WORKSPACE JOB_ID``.

The queue (:mod:`automl.workspace.jobs`) creates the job and starts this module by name; it never
imports it, so the workspace layer stays below the training layer. The process waits for its turn
in the queue and runs the training in a worker it watches
(:func:`automl.workspace.jobs.run_queued`); the worker, :func:`run_job`, reads the job's
parameters from the catalog, trains with the public API on the dataset's training input (see
:func:`automl.workspace.data.training_input`), saves the model and records the outcome. With
``EASEL_DASK_SCHEDULER`` set (a scheduler's address, or ``local:N``), the search's trials run on
that Dask cluster (:mod:`automl.cluster`); with ``EASEL_BUILD_MAX_TRIALS=N``, every build stops
its search after N trials (an administrator's cap: builds that repeat exactly, whatever the
machine's load, within their time budget).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
from typing import Any

from automl.atomic import os_error_message, sweep_stale
from automl.cluster import ENV_VAR as CLUSTER_ENV
from automl.errors import EaselError, ParameterError
from automl.progress import ProgressEvent
from automl.workspace.catalog import Workspace
from automl.workspace.data import training_input
from automl.workspace.jobs import JobCancelled, JobProgress, record_stopped, run_queued

MAX_TRIALS_ENV = "EASEL_BUILD_MAX_TRIALS"


def max_trials_cap() -> int | None:
    """``EASEL_BUILD_MAX_TRIALS`` as a number of trials (None when unset), or a
    ``ParameterError`` that says what it must be."""
    text = os.environ.get(MAX_TRIALS_ENV, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and int(text) >= 1):
        raise ParameterError(
            f"{MAX_TRIALS_ENV} must be a whole number of trials from 1 to 999999 (it caps every "
            f"build's search); it is {text[:40]!r}. Fix it in the app server's environment, or "
            "remove it."
        )
    return int(text)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise JobCancelled()


def _frame_bytes(df: Any, sample: int = 50_000) -> int:
    """The frame's size in memory, text included (measured on its first rows when it is long)."""
    head = df.head(sample)
    per_row = float(head.memory_usage(deep=True, index=False).sum()) / max(len(head), 1)
    return int(per_row * len(df))


def run_job(root: str, job_id: int) -> int:
    """Run one training job that left the queue (it is "running"); returns the process exit
    status (0 when a model was saved). Its time budget starts here, not when it was queued."""
    import automl
    from automl.presets import PRESETS
    from automl.training.common import compact_floats
    from automl.training.run import build_fit_budget

    started = time.monotonic()
    signal.signal(signal.SIGTERM, _on_sigterm)
    job = Workspace(root, admin=True).get_job(job_id)
    ws = Workspace(root, user=job["owner"])  # the build reads and writes as its owner
    p = job["params"]
    try:
        dataset, version = ws.resolve_dataset(str(p["dataset"]))
        read = ws.get_dataset(dataset, version).version  # the newest when none was named
        df, recipe, _ = training_input(ws, dataset, read)
        # the size in memory, for the note if the kernel stops the build for lack of memory
        ws.update_job(job_id, data_bytes=_frame_bytes(df))
        settings = dict(p["settings"])
        if recipe is None:  # (a recipe's formulas see the numbers as they were read)
            compact_floats(df)  # the build's own frame: half the memory for its numbers
        # the budget is the whole build's: reading, training, writing the model and its reports
        total = settings.get("time_budget") or PRESETS.get(settings.get("preset", ""), {}).get(
            "time_budget"
        )
        if isinstance(total, (int, float)) and not isinstance(total, bool):
            settings["time_budget"] = build_fit_budget(
                float(total), time.monotonic() - started, reports=True
            )
        cap = max_trials_cap()
        if cap is not None:  # EASEL_BUILD_MAX_TRIALS: every build stops after that many trials
            settings["max_trials"] = min(cap, settings.get("max_trials") or cap)
        reporter = JobProgress(ws, job_id)
        # EASEL_DASK_SCHEDULER: the search's trials run on that Dask cluster (or local:N)
        cluster = os.environ.get(CLUSTER_ENV, "").strip() or None
        model = automl.AutoML(progress=reporter, cluster=cluster, **settings).fit(
            df, target=p["target"], recipe=recipe
        )
        name, version, path = ws.new_model_path(p["model_name"])
        reporter(ProgressEvent("finalize", "Writing the model and its reports", 0.99, 0.0))
        sweep_stale(path.parent)  # what saves killed outright left (kill -9, a power cut)
        model.save(path, reports=True, data=df)
        rec = ws.add_model(name, version, path, dataset, model.model_, dataset_version=read)
        ws.update_job(
            job_id,
            status="succeeded",
            progress=1.0,
            message=f"Model '{name}' version {version} is ready",
            trials=reporter.trials,
            result={"model": rec.name, "version": rec.version},
            finished_at=time.time(),
        )
        if isinstance(total, (int, float)) and not isinstance(total, bool):
            # the budget's last seconds make later batch scoring of a big table's model faster
            with contextlib.suppress(Exception):  # an optional speed-up: never the build's failure
                model.model_.compile_now(float(total) - (time.monotonic() - started))
        return 0
    except JobCancelled:  # cancelled, or the server is stopping
        record_stopped(ws, job_id)
        return 1
    except EaselError as exc:
        ws.update_job(job_id, status="failed", error=str(exc), finished_at=time.time())
        return 1
    except OSError as exc:  # a full disk, a permission: in words, with the traceback in the log
        traceback.print_exc()
        ws.update_job(job_id, status="failed", error=os_error_message(exc), finished_at=time.time())
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
    from automl.memory import return_freed_memory

    return_freed_memory()
    root, job = sys.argv[1], int(sys.argv[2])
    every = Workspace(root, admin=True)
    owner = every.as_user(every.get_job(job)["owner"], admin=True)  # names resolve as the owner's
    sys.exit(run_queued(owner, job, lambda: run_job(root, job)))
