"""The build queue, with real build processes: the limit on builds at once, cancelling a queued
build, builds interrupted by a restart, a build killed for memory, and no zombie processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from automl.errors import ParameterError
from automl.workspace import Workspace
from automl.workspace.db import CATALOG_ENV
from automl.workspace.jobs import (
    INTERRUPTED,
    cancel_job,
    default_max_builds,
    job_status,
    max_builds,
    process_start,
    queue_position,
    record_exit,
    recover_interrupted,
    set_max_builds,
    start_training_job,
    waiting_text,
)
from tests.conftest import make_table
from tests.pg_server import new_database

OOM = (
    r"The build ran out of memory on customers \(300 rows x 10 columns, [0-9.]+ MB\)\. Try a "
    r"sample of the rows, fewer columns, or a machine with more memory\."
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ws(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    """The catalog in the folder (SQLite) or on PostgreSQL ($EASEL_CATALOG, inherited by the
    build processes like the limit)."""
    monkeypatch.setenv("EASEL_MAX_BUILDS", "1")  # inherited by the build processes
    if request.param == "postgresql":
        monkeypatch.setenv(CATALOG_ENV, new_database(request.getfixturevalue("pg")))
    ws = Workspace(tmp_path / "ws")
    ws.add_dataset("customers", make_table(300, 5, "binary"), "generated")
    return ws


# Generous waits: a build is a new process that imports the ML libraries before its first trial,
# which takes many times longer on a busy machine; an idle one finishes in seconds.
def until(check: Callable[[], Any], timeout: float = 200) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.2)
    return result


def finished(ws: Workspace, job_id: int) -> dict[str, Any]:
    return until(lambda: (j := job_status(ws, job_id))["status"] not in ("queued", "running") and j)


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of the processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[1]) == pid:
                out.append((int(entry.name), fields[0].decode()))
    return out


def fake_running_job(ws: Workspace) -> int:
    """A job that holds a slot: "running" in this test's own (live) process."""
    job_id = ws.create_job("train", {"model_name": "other", "dataset": "customers"})
    me = os.getpid()
    ws.update_job(job_id, status="running", pid=me, pid_start=process_start(me))
    return job_id


def test_the_limit_comes_from_the_setting_the_environment_or_the_cores(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert max_builds(ws) == 1
    monkeypatch.delenv("EASEL_MAX_BUILDS")
    assert max_builds(ws) == default_max_builds() == max(1, len(os.sched_getaffinity(0)) // 2)
    monkeypatch.setenv("EASEL_MAX_BUILDS", "3")
    set_max_builds(ws, 2)  # the admin's choice wins over the environment
    assert max_builds(ws) == 2
    set_max_builds(ws, None)
    assert max_builds(ws) == 3
    with pytest.raises(ParameterError, match="at least 1. Got 0 instead"):
        set_max_builds(ws, 0)
    monkeypatch.setenv("EASEL_MAX_BUILDS", "two")
    with pytest.raises(ParameterError, match=r"\$EASEL_MAX_BUILDS\) must be a whole number"):
        start_training_job(ws, "customers", "churn", "m", {"max_trials": 2})
    assert ws.list_jobs() == []


def test_one_build_at_a_time_oldest_first(ws: Workspace) -> None:
    holder = fake_running_job(ws)  # takes the only slot
    settings = {"time_budget": 600.0, "max_trials": 500, "preset": "quick"}
    first = start_training_job(ws, "customers", "churn", "first", settings)
    second = start_training_job(ws, "customers", "churn", "second", settings)
    until(lambda: ws.get_job(first)["message"] and ws.get_job(second)["message"])  # both waiting
    assert [job_status(ws, j)["status"] for j in (first, second)] == ["queued", "queued"]
    assert waiting_text(ws, first) == "Waiting: 1 build ahead of yours (1 build runs at a time)."
    assert waiting_text(ws, second) == "Waiting: 2 builds ahead of yours (1 build runs at a time)."

    def running(job_id: int) -> bool:
        assert sum(j["status"] == "running" for j in ws.active_jobs()) <= 1  # one snapshot
        return bool(job_status(ws, job_id)["status"] == "running")

    released = time.time()
    ws.update_job(holder, status="succeeded", finished_at=released)
    until(lambda: running(first))  # the oldest takes the slot, the other keeps waiting
    assert job_status(ws, second)["status"] == "queued" and queue_position(ws, second) == 1
    assert ws.get_job(first)["started_at"] >= released  # its time starts when it leaves the queue
    cancel_job(ws, first)
    assert finished(ws, first)["status"] == "cancelled"
    until(lambda: running(second))
    assert ws.get_job(second)["started_at"] >= ws.get_job(first)["finished_at"]
    cancel_job(ws, second)
    assert finished(ws, second)["status"] == "cancelled"
    assert ws.list_models() == []


def test_cancel_while_queued_never_trains_and_leaves_no_zombie(ws: Workspace) -> None:
    holder = fake_running_job(ws)
    job_id = start_training_job(ws, "customers", "churn", "m", {"max_trials": 2})
    pid, start = ws.get_job(job_id)["pid"], ws.get_job(job_id)["pid_start"]
    until(lambda: ws.get_job(job_id)["message"])  # the build process is waiting in the queue
    job = job_status(ws, job_id)
    assert job["status"] == "queued" and queue_position(ws, job_id) == 1
    assert waiting_text(ws, job_id) == "Waiting: 1 build ahead of yours (1 build runs at a time)."
    cancel_job(ws, job_id)
    job = finished(ws, job_id)
    assert job["status"] == "cancelled" and job["started_at"] is None and not job["trials"]
    assert ws.list_models() == []
    # the app (here: this test) started it and has reaped it: no zombie is left behind
    until(lambda: process_start(pid) != start, timeout=60)  # gone, not a zombie
    assert not [c for c in children(os.getpid()) if c[1] == "Z"]
    ws.update_job(holder, status="succeeded")


def test_a_build_stopped_with_the_server_is_interrupted_not_cancelled(ws: Workspace) -> None:
    holder = fake_running_job(ws)
    job_id = start_training_job(ws, "customers", "churn", "m", {"max_trials": 2})
    until(lambda: ws.get_job(job_id)["message"])  # waiting in the queue
    os.killpg(ws.get_job(job_id)["pid"], signal.SIGTERM)  # a service manager stopping the server
    job = finished(ws, job_id)
    assert job["status"] == "interrupted" and job["error"] == INTERRUPTED
    ws.update_job(holder, status="succeeded")


def test_a_build_killed_for_memory_says_so(ws: Workspace) -> None:
    settings = {"time_budget": 600.0, "max_trials": 200, "preset": "quick"}
    job_id = start_training_job(ws, "customers", "churn", "m", settings)
    pid = ws.get_job(job_id)["pid"]
    until(lambda: job_status(ws, job_id)["trials"])  # training: the data is loaded
    (worker,) = [c for c, _ in children(pid)]
    os.kill(worker, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    job = finished(ws, job_id)
    assert job["status"] == "failed" and re.fullmatch(OOM, job["error"]), job["error"]
    assert ws.list_models() == []


def test_how_a_worker_ended_is_worded(ws: Workspace) -> None:
    job_id = fake_running_job(ws)
    ws.update_job(job_id, data_bytes=380_000_000, params={"dataset": "customers"})
    record_exit(ws, job_id, -signal.SIGKILL)  # the process was killed by SIGKILL
    assert ws.get_job(job_id)["error"] == (
        "The build ran out of memory on customers (300 rows x 10 columns, 380 MB). Try a sample "
        "of the rows, fewer columns, or a machine with more memory."
    )
    cancelled = fake_running_job(ws)
    ws.update_job(cancelled, cancel_requested=1)
    record_exit(ws, cancelled, -signal.SIGKILL)  # killed after the cancel's grace: no note
    assert ws.get_job(cancelled)["status"] == "cancelled"
    stopped = fake_running_job(ws)
    record_exit(ws, stopped, -signal.SIGTERM)  # before it could record it itself
    assert ws.get_job(stopped)["status"] == "interrupted"
    crashed = fake_running_job(ws)
    record_exit(ws, crashed, -signal.SIGSEGV)
    assert "stopped unexpectedly (its process crashed)" in ws.get_job(crashed)["error"]


def test_a_restart_marks_builds_whose_process_is_gone_interrupted(ws: Workspace) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = fake_running_job(ws)
    ws.update_job(dead, pid=gone.pid, pid_start=None)
    reused = fake_running_job(ws)  # its pid now belongs to another process (this one)
    ws.update_job(reused, pid_start=(process_start(os.getpid()) or 0) + 1)
    alive = fake_running_job(ws)
    never_started = ws.create_job("train", {"model_name": "q"})
    ws.update_job(never_started, created_at=time.time() - 3600)
    assert sorted(recover_interrupted(ws)) == sorted([dead, reused, never_started])
    for job_id in (dead, reused, never_started):
        job = ws.get_job(job_id)
        assert job["status"] == "interrupted" and job["error"] == INTERRUPTED
    assert ws.get_job(alive)["status"] == "running"
    assert recover_interrupted(ws) == []
    ws.update_job(alive, status="succeeded")


def test_an_administrators_trial_cap_bounds_every_build(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EASEL_BUILD_MAX_TRIALS (the app server's environment, inherited by its builds) stops
    every build's search after that many trials, whatever its time budget; a value that is not
    a number of trials fails the build in words."""
    monkeypatch.setenv("EASEL_BUILD_MAX_TRIALS", "2")
    job_id = start_training_job(ws, "customers", "churn", "capped", {"time_budget": 600.0})
    job = finished(ws, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert len(job["trials"]) == 2
    monkeypatch.setenv("EASEL_BUILD_MAX_TRIALS", "lots")
    job = finished(ws, start_training_job(ws, "customers", "churn", "m", {"time_budget": 600.0}))
    assert job["status"] == "failed"
    assert "EASEL_BUILD_MAX_TRIALS must be a whole number of trials" in job["error"]
