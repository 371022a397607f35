"""Automations: new dataset versions scored without a click, scheduled refreshes, leases, pause,
failures recorded, team-mode permissions and hostile input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import automl
from automl.automations import (
    AutomationStore,
    BackgroundRunner,
    add_refresh,
    add_score,
    background_every,
    model_for_automation,
    parse_every,
    run_due,
    start_background,
)
from automl.cli import main
from automl.errors import EaselError, ParameterError, PolicyError
from automl.workspace import Workspace
from automl.workspace.automations import DAY, HOUR, LEASE_SECONDS
from automl.workspace.data import import_dataset
from automl.workspace.db import CATALOG_ENV
from automl.workspace.users import Team
from tests.conftest import make_table
from tests.pg_server import new_database

T0 = 1_800_000_000.0  # the injected clock
PW = "correct horse battery"


@pytest.fixture(scope="module")
def churn_model() -> automl.AutoML:
    return automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(make_table(300, 0), "churn")


def _csv(path: Path, seed: int, n: int = 80) -> Path:
    make_table(n, seed).to_csv(path, index=False)
    return path


def _add_model(ws: Workspace, fit: automl.AutoML, name: str = "churn") -> None:
    name, version, path = ws.new_model_path(name)
    fit.save(path)
    ws.add_model(name, version, path, "customers", fit.model_)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ws(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    churn_model: automl.AutoML,
    monkeypatch: pytest.MonkeyPatch,
) -> Workspace:
    """A workspace with a dataset and a model; its catalog in the folder (SQLite) or, for
    every process the test starts too, on PostgreSQL ($EASEL_CATALOG)."""
    if request.param == "postgresql":
        monkeypatch.setenv(CATALOG_ENV, new_database(request.getfixturevalue("pg")))
    w = Workspace(tmp_path / "ws")
    import_dataset(w, _csv(tmp_path / "customers.csv", 1), "customers")
    _add_model(w, churn_model)
    return w


def test_new_version_scored_without_a_click_equals_automl_predict(
    ws: Workspace, tmp_path: Path, churn_model: automl.AutoML
) -> None:
    auto = add_score(ws, "customers", "churn", "customers_scored")
    assert run_due(ws) == []  # the version that was there when it was added is not scored
    _add_model(ws, churn_model)  # churn@2: the newest version scores
    assert model_for_automation(ws, "churn").version == 2
    import_dataset(ws, _csv(tmp_path / "new.csv", 7, n=60), "customers")  # customers@2
    outcomes = run_due(ws)
    assert [(o.automation, o.ok) for o in outcomes] == [(auto.id, True)], outcomes
    scored = ws.get_dataset("customers_scored")
    assert (scored.version, scored.rows) == (1, 60)
    assert scored.lineage == {
        "kind": "scored",
        "from": "customers@2",
        "model": "churn@2",
        "automation": auto.id,
    }
    out = tmp_path / "predicted.parquet"
    model_dir = str(ws.model_dir(ws.get_model("churn", 2)))
    argv = ["predict", model_dir, "dataset:customers@2", "--out", str(out), "--quiet"]
    assert main([*argv, "--workspace", str(ws.root)]) == 0
    pd.testing.assert_frame_equal(ws.load_dataset("customers_scored"), pd.read_parquet(out))
    listed = AutomationStore(ws).get(auto.id)
    assert (listed.last_ok, listed.last_rows, listed.last_version) == (
        True,
        60,
        "customers_scored@1",
    )
    assert run_due(ws) == []  # scored once only


def test_refresh_runs_when_due_and_not_before(ws: Workspace, tmp_path: Path) -> None:
    auto = add_refresh(ws, "customers", "6h", now=T0)
    assert auto.next_due == T0 + 6 * HOUR
    _csv(tmp_path / "customers.csv", 2, n=90)  # the source changed
    assert run_due(ws, now=T0 + 6 * HOUR - 1) == []
    assert ws.get_dataset("customers").version == 1
    [outcome] = run_due(ws, now=T0 + 6 * HOUR)
    assert outcome.ok, outcome.message
    rec = ws.get_dataset("customers")
    assert (rec.version, rec.rows) == (2, 90)
    pd.testing.assert_frame_equal(
        ws.load_dataset("customers", 2), ws.read(ws.get_dataset("customers", 2))
    )
    assert AutomationStore(ws).get(auto.id).next_due == T0 + 12 * HOUR
    assert run_due(ws, now=T0 + 6 * HOUR + 60) == []  # not twice
    assert run_due(ws, now=T0 + 12 * HOUR)[0].ok  # the refreshed version can be refreshed again
    assert ws.get_dataset("customers").version == 3


def test_refresh_then_score_in_one_pass(ws: Workspace, tmp_path: Path) -> None:
    add_score(ws, "customers", "churn", "scored")
    add_refresh(ws, "customers", "1d", now=T0)
    outcomes = run_due(ws, now=T0 + DAY)
    assert [o.ok for o in outcomes] == [True, True]
    assert ws.get_dataset("scored").lineage["from"] == "customers@2"


def test_failing_refresh_is_recorded_in_plain_words(ws: Workspace, tmp_path: Path) -> None:
    auto = add_refresh(ws, "customers", "2 hours", now=T0)
    (tmp_path / "customers.csv").unlink()
    [outcome] = run_due(ws, now=T0 + 2 * HOUR)
    assert not outcome.ok and "File not found" in outcome.message
    [failed] = AutomationStore(ws).failed()
    assert failed.id == auto.id and failed.last_message == outcome.message
    assert failed.next_due == T0 + 3 * HOUR  # tried again after an hour
    [run] = AutomationStore(ws).runs(auto.id)
    assert not run.ok and run.message == outcome.message


def test_pause_stops_it_and_resume_starts_it(ws: Workspace, tmp_path: Path) -> None:
    store = AutomationStore(ws)
    auto = add_score(ws, "customers", "churn", "scored")
    store.set_paused(auto.id, True)
    import_dataset(ws, _csv(tmp_path / "b.csv", 3), "customers")
    assert run_due(ws) == []
    assert ws.dataset_versions("scored") == []
    store.set_paused(auto.id, False)
    assert [o.ok for o in run_due(ws)] == [True]


def test_a_leased_automation_is_not_run_by_a_second_runner(ws: Workspace, tmp_path: Path) -> None:
    store = AutomationStore(ws)
    auto = add_score(ws, "customers", "churn", "scored")
    import_dataset(ws, _csv(tmp_path / "b.csv", 3), "customers")
    assert store.lease(auto.id, "runner-a", T0) is not None  # runner A is scoring it
    assert store.lease(auto.id, "runner-b", T0) is None
    assert run_due(ws, now=T0 + 60, runner="runner-b") == []
    assert ws.dataset_versions("scored") == []
    # runner A died: its lease runs out, and the next runner does the work once
    assert [o.ok for o in run_due(ws, now=T0 + LEASE_SECONDS, runner="runner-b")] == [True]
    assert run_due(ws, now=T0 + LEASE_SECONDS + 1, runner="runner-c") == []
    assert len(ws.dataset_versions("scored")) == 1


def test_deleted_model_and_dataset_are_reported_once(ws: Workspace, tmp_path: Path) -> None:
    auto = add_score(ws, "customers", "churn", "scored")
    ws.delete_model("churn", 1)
    import_dataset(ws, _csv(tmp_path / "b.csv", 3), "customers")
    [outcome] = run_due(ws, now=T0)
    assert not outcome.ok and "The model 'churn' no longer exists" in outcome.message
    assert run_due(ws, now=T0 + 1) == []  # tried again later, not at every pass
    assert run_due(ws, now=T0 + DAY) == []  # and the same failure is not recorded again
    ws.delete_dataset("customers")
    [outcome] = run_due(ws, now=T0 + DAY)
    assert "The dataset 'customers' no longer exists" in outcome.message
    assert AutomationStore(ws).get(auto.id).last_ok is False


def test_automations_that_feed_each_other_and_duplicates_are_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    first = add_score(ws, "customers", "churn", "scored_a")
    import_dataset(ws, _csv(tmp_path / "b.csv", 3), "customers")
    assert [o.ok for o in run_due(ws, now=T0)] == [True]  # scored_a@1
    with pytest.raises(ParameterError, match="would save every answer twice"):
        add_score(ws, "customers", "churn", "scored_a")
    with pytest.raises(ParameterError, match="automation 1 already scores .* without end"):
        add_score(ws, "scored_a", "churn", "customers")
    second = add_score(ws, "scored_a", "churn", "scored_b")  # a chain is fine
    AutomationStore(ws).set_paused(second.id, True)  # paused ones count too: they can be resumed
    ws.add_dataset("scored_b", make_table(20, 1), "test")
    with pytest.raises(ParameterError, match="automations 1 and 2 already score"):
        add_score(ws, "scored_b", "churn", "customers")  # 'scored_b' -> 'customers' -> ...
    refresh = add_refresh(ws, "customers", "1d", now=T0)
    with pytest.raises(ParameterError, match="already refreshes customers every day"):
        add_refresh(ws, "customers", "1 day", now=T0)
    AutomationStore(ws).delete(refresh.id)
    # a loop already in the catalog (added by an older Easel): it stops at the first round
    AutomationStore(ws).delete(second.id)
    loop = AutomationStore(ws).add(
        "score", "scored_a", model="churn", output="customers", seen_version=1
    )
    import_dataset(ws, _csv(tmp_path / "c.csv", 4), "customers")  # customers@3
    done = run_due(ws, now=T0 + 1)  # customers@3 -> scored_a@2 -> customers@4
    assert [(o.automation, o.ok) for o in done] == [(first.id, True), (loop.id, True)]
    [stopped] = run_due(ws, now=T0 + 2)
    assert stopped.automation == first.id and not stopped.ok
    assert "score each other's answers in a loop" in stopped.message
    assert run_due(ws, now=T0 + DAY) == []  # recorded once, and nothing grows
    assert ws.get_dataset("customers").version == 4
    assert ws.get_dataset("scored_a").version == 2


@pytest.mark.parametrize("every", ["0h", "-3d", "1e9d", "1e999h", "abc", "1.5h", "", "6"])
def test_absurd_intervals_are_refused(every: str) -> None:
    with pytest.raises(ParameterError, match="refresh interval|at most every 366 days"):
        parse_every(every)


def test_hostile_automation_input(ws: Workspace) -> None:
    with pytest.raises(EaselError, match="There is no model named 'nope'"):
        add_score(ws, "customers", "nope", "scored")
    with pytest.raises(EaselError, match="There is no dataset named 'nope'"):
        add_score(ws, "nope", "churn", "scored")
    with pytest.raises(ParameterError, match="not one version"):
        add_score(ws, "customers@1", "churn", "scored")
    with pytest.raises(ParameterError, match="scored again"):
        add_score(ws, "customers", "churn", "customers")
    with pytest.raises(ParameterError, match="name"):
        add_score(ws, "customers", "churn", "../etc")
    with pytest.raises(ParameterError, match="environment variable"):
        add_refresh(ws, "customers", "1d", password_env="$(rm -rf /)")
    ws.add_dataset("made", make_table(20, 1), "test")
    with pytest.raises(ParameterError, match="imported before Easel recorded"):
        add_refresh(ws, "made", "1d")
    with pytest.raises(EaselError, match="There is no automation 99"):
        AutomationStore(ws).delete(99)
    with pytest.raises(ParameterError, match="not an automation number"):
        AutomationStore(ws).delete("1; DROP TABLE datasets")


def test_cli_commands(ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = ["--workspace", str(ws.root)]
    add = ["automations", "add-score", "customers", "--model", "churn", "--out", "s"]
    assert main([*add, *w]) == 0
    assert main(["automations", "add-refresh", "customers", "--every", "0h", *w]) == 2
    err = capsys.readouterr().err
    assert "whole number of hours or days" in err and "Traceback" not in err
    assert main(["automations", "add-refresh", "customers", "--every", "12h", *w]) == 0
    assert main(["automations", "pause", "2", *w]) == 0
    import_dataset(ws, _csv(tmp_path / "b.csv", 3), "customers")
    capsys.readouterr()
    assert main(["automations", "run-due", *w]) == 0
    assert "automation 1: done: Scored customers@2" in capsys.readouterr().out
    assert main(["automations", "list", *w]) == 0
    out = capsys.readouterr().out
    assert "score each new version of customers with churn, into s" in out
    assert "refresh customers every 12 hours" in out and "paused" in out
    assert main(["automations", "delete", "1", *w]) == 0
    assert main(["automations", "resume", "1", *w]) == 2
    assert "There is no automation 1" in capsys.readouterr().err


def test_team_mode_permissions_and_policy(
    tmp_path: Path, churn_model: automl.AutoML, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Workspace(tmp_path / "ws")
    team = Team(root)
    team.add("ann", "admin", PW)
    team.add("bob", "analyst", PW)
    team.add("vic", "viewer", PW)
    ann, bob = (team.workspace(team.get(n)) for n in ("ann", "bob"))
    csv = _csv(tmp_path / "c.csv", 1)
    import_dataset(ann, csv, "customers")
    _add_model(ann, churn_model)
    import_dataset(bob, csv, "leads")
    w = ["--workspace", str(root.root)]
    # a viewer automates nothing; another user's unshared model reads as missing
    assert main(["automations", "list", "--user", "vic", *w]) == 2
    assert "vic is a viewer" in capsys.readouterr().err
    with pytest.raises(EaselError, match="There is no model named 'ann/churn'"):
        add_score(bob, "leads", "ann/churn", "scored")
    ann.share("model", "churn", "bob")
    ann.share("dataset", "customers", "bob")
    auto = add_score(bob, "leads", "ann/churn", "scored")
    with pytest.raises(ParameterError, match="only refresh your own"):
        add_refresh(bob, "ann/customers", "1d")
    with pytest.raises(PolicyError, match="files on the server"):  # the team's source policy
        add_refresh(bob, "leads", "1d")
    with pytest.raises(ParameterError, match="start with EASEL_REFRESH_"):  # not any secret
        add_refresh(bob, "leads", "1d", password_env="AWS_SECRET_ACCESS_KEY")
    # a refresh allowed when it was added is refused once the administrator tightens the policy
    policy = team.source_policy()
    team.set_source_policy(type(policy)(allow_local_files=True))
    refresh = add_refresh(bob, "leads", "1d", now=T0)
    team.set_source_policy(policy)
    [outcome] = run_due(root, now=T0 + DAY, user="bob")
    assert (outcome.automation, outcome.ok) == (refresh.id, False)
    assert "does not allow reading files on the server" in outcome.message
    AutomationStore(bob).delete(refresh.id)
    with pytest.raises(EaselError, match="There is no automation"):  # not bob's to pause
        AutomationStore(ann).set_paused(auto.id, True)
    team.set_role("bob", "viewer")  # bob may no longer make datasets: the automation stops
    import_dataset(bob, csv, "leads")
    [outcome] = run_due(root)
    assert not outcome.ok and "bob is a viewer now" in outcome.message
    assert bob.dataset_versions("scored") == []


def test_the_apps_background_runner_runs_automl_automations_run_due(
    ws: Workspace, tmp_path: Path
) -> None:
    add_score(ws, "customers", "churn", "scored")
    import_dataset(ws, _csv(tmp_path / "b.csv", 3), "customers")
    runner = BackgroundRunner(ws.root, every=60)
    assert runner.run_once() == 0  # the command a cron line runs, in a process of its own
    assert ws.get_dataset("scored").lineage["from"] == "customers@2"
    assert "Scored customers@2" in (ws.root / "jobs" / "automations.log").read_text()
    assert background_every({}) == 60 and background_every({"EASEL_AUTOMATIONS_EVERY": "0"}) == 0
    with pytest.raises(ParameterError, match="EASEL_AUTOMATIONS_EVERY"):
        background_every({"EASEL_AUTOMATIONS_EVERY": "-1"})
    assert start_background(ws.root, every=0) is None
