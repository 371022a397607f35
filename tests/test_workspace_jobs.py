"""Workspace catalog and background training jobs, with real processes."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

import automl
from automl.errors import EaselError, ParameterError
from automl.training.run import MIN_TIME_BUDGET
from automl.workspace import Workspace
from automl.workspace.jobs import cancel_job, job_status, process_start, start_training_job
from tests.conftest import make_table


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.add_dataset("customers", make_table(300, 5, "binary"), "generated")
    return ws


# Generous waits: a job is a new process that imports the ML libraries before its first trial,
# which takes many times longer on a busy machine; an idle one finishes in seconds.
def wait(ws: Workspace, job_id: int, timeout: float = 200) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        job = job_status(ws, job_id)
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.3)


def test_dataset_versions_list_load_delete(ws: Workspace) -> None:
    again = ws.add_dataset("customers", make_table(50, 6, "binary"), "generated again")
    assert again.version == 2 and ws.get_dataset("customers").rows == 50
    assert ws.get_dataset("customers", 1).rows == 300
    assert [d.name for d in ws.list_datasets()] == ["customers"]
    pd.testing.assert_frame_equal(ws.load_dataset("customers", 2), make_table(50, 6, "binary"))
    ws.delete_dataset("customers")
    with pytest.raises(EaselError, match="no dataset named 'customers'"):
        ws.get_dataset("customers")
    assert not list((ws.root / "datasets").glob("*.parquet"))


def test_names_are_validated(ws: Workspace) -> None:
    with pytest.raises(ParameterError, match="not allowed"):
        ws.add_dataset("../etc", make_table(30), "x")


def test_training_job_end_to_end(ws: Workspace) -> None:
    settings = {"time_budget": 600.0, "max_trials": 2, "preset": "quick"}
    job_id = start_training_job(ws, "customers", "churn", "churn model", settings)
    job = wait(ws, job_id)
    assert job["status"] == "succeeded", (job["error"], Path(job["log_path"]).read_text())
    assert job["progress"] == 1.0 and job["trials"] and job["best_score"] is not None
    rec = ws.get_model("churn model")
    model = automl.load(ws.model_dir(rec))
    assert model.task == "binary" and rec.score == model.metrics["roc_auc"]
    # a second build of the same name is its version 2 (one linear trial: the fit is not the point)
    again = {**settings, "max_trials": 1, "candidates": ["linear"]}
    job2 = wait(ws, start_training_job(ws, "customers", "churn", "churn model", again))
    assert job2["status"] == "succeeded" and ws.get_model("churn model").version == 2


def test_failing_job_keeps_the_user_message(ws: Workspace) -> None:
    job = wait(ws, start_training_job(ws, "customers", "nope", "m", {"time_budget": 5.0}))
    assert job["status"] == "failed" and "'nope' is not in the data" in job["error"]
    assert ws.list_models() == []


def test_cancel_leaves_nothing(ws: Workspace) -> None:
    job_id = start_training_job(ws, "customers", "churn", "m", {"time_budget": 60.0})
    deadline = time.monotonic() + 200
    while not job_status(ws, job_id)["trials"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cancel_job(ws, job_id)
    job = wait(ws, job_id, timeout=60)
    assert job["status"] == "cancelled"
    assert ws.list_models() == [] and not any((ws.root / "models").iterdir())
    # the process that started the build reaps it: no zombie is left until the server stops
    deadline = time.monotonic() + 60
    while process_start(job["pid"]) == job["pid_start"]:  # a zombie keeps it until reaped
        assert time.monotonic() < deadline, f"build process {job['pid']} is left as a zombie"
        time.sleep(0.2)


def test_vanished_process_is_reported(ws: Workspace) -> None:
    job_id = ws.create_job("train", {"model_name": "x"})
    ws.update_job(job_id, status="running", pid=999_999)
    job = job_status(ws, job_id)
    assert job["status"] == "failed" and "stopped unexpectedly" in job["error"]


def test_mixed_type_columns_are_saved_as_text(ws: Workspace) -> None:
    df = pd.DataFrame({"code": [1, "A7", 3.5, None] * 10, "n": range(40)})
    ws.add_dataset("mixed", df, "spreadsheet")
    back = ws.load_dataset("mixed")
    assert back["code"].tolist()[:3] == ["1", "A7", "3.5"] and back["code"].isna().sum() == 10


def test_the_least_budget_still_gives_a_model() -> None:
    df = make_table(200, 7, "binary")
    m = automl.AutoML(time_budget=MIN_TIME_BUDGET, max_trials=2).fit(df, target="churn")
    assert len(m.leaderboard) >= 1 and m.predict(df.head(2)).shape == (2,)
