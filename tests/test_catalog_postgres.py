"""The catalog on PostgreSQL ($EASEL_CATALOG, --catalog) and its schema as Alembic revisions:
the same catalog behaviour on SQLite and PostgreSQL, two processes sharing one PostgreSQL
catalog and one folder, catalogs written before Alembic upgraded in place, newer ones refused,
and the catalog's password never shown."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa

from automl.cli import main
from automl.errors import DataError, ParameterError
from automl.workspace import Workspace
from automl.workspace.automations import AutomationStore
from automl.workspace.catalog import CATALOG_SCHEMA
from automl.workspace.db import CATALOG_ENV, scrub
from automl.workspace.migrations import FOLDER, HEAD, REVISIONS
from automl.workspace.users import SignInError, Team
from tests.pg_server import PgServer, new_database

ROOT = Path(__file__).resolve().parents[1]
OLD_CATALOG = Path(__file__).parent / "data" / "catalog_schema3_before_alembic.sqlite"
PW = "correct horse battery"
MODEL = SimpleNamespace(
    target="y", problem_type="binary", metric="roc_auc", metrics={"roc_auc": 0.8}
)
ROWS = pd.DataFrame({"x": [1.5, 2.5, 3.5], "y": ["a", "b", "a"]})


@pytest.fixture()
def pg_catalog(pg: PgServer) -> str:
    return new_database(pg)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest) -> str | None:
    """Where the catalog lives: None (the workspace's SQLite file) or a new PostgreSQL one."""
    if request.param == "sqlite":
        return None
    return new_database(request.getfixturevalue("pg"))


# ---------------------------------------------------------------------- one behaviour, two places
def test_the_catalog_works_the_same_on_both(tmp_path: Path, catalog: str | None) -> None:
    ws = Workspace(tmp_path, catalog=catalog)
    assert ws.shared_catalog == (catalog is not None)
    first, second = (ws.add_dataset("sales", ROWS, "sales.csv") for _ in range(2))
    assert (first.version, second.version) == (1, 2)
    assert ws.get_dataset("sales").schema == {"x": "float64", "y": "str"}
    assert [d.ref for d in ws.list_datasets()] == ["sales@2"]
    assert ws.load_dataset("sales", 1).equals(ws.read(first))
    for _ in range(3):
        ws.add_model(*ws.new_model_path("churn"), "sales@2", MODEL)
    assert ws.get_model("churn", 1).dataset_ref == "sales@2"
    ws.set_stage("churn", 1, "production")
    change = ws.set_stage("churn", 3, "production")
    assert change.archived == 1 and ws.chosen_model("churn").version == 3
    assert [h["version"] for h in ws.stage_history("churn")] == [3, 1]
    assert ws.previous_production("churn") == 1
    ws.record_batch_run(ws.get_model("churn", 3), "march.csv", 3, {"verdict": "none"})
    assert [(r.version, r.rows) for r in ws.batch_runs("churn")] == [(3, 3)]
    assert ws.rename_model("churn", "churn v2") == 3
    ws.delete_model("churn v2", 2)
    assert [m.version for m in ws.model_versions("churn v2")] == [3, 1]
    # jobs and the build queue
    a, b = ws.create_job("train", {"dataset": "sales"}), ws.create_job("train", {})
    assert b == a + 1 and ws.get_job(a)["params"] == {"dataset": "sales"}
    ws.update_job(a, trials=[{"score": 0.5}], progress=0.25, pid=os.getpid())
    assert ws.get_job(a)["trials"] == [{"score": 0.5}] and ws.get_job(a)["progress"] == 0.25
    assert not ws.claim_job_slot(b, 1, lambda j: True)  # a is older
    assert ws.claim_job_slot(a, 1, lambda j: True) and not ws.claim_job_slot(b, 1, lambda j: True)
    assert [j["id"] for j in ws.list_jobs()] == [b, a]
    ws.set_setting("max_builds", "2")
    ws.set_setting("max_builds", "3")  # an upsert
    assert ws.get_setting("max_builds") == "3"
    # users, shares, sessions, sign-in failures
    team = Team(ws)
    team.add("alice", "admin", PW)
    team.add("bob", "analyst", PW)
    alice = team.workspace(team.get("alice"))
    assert [d.name for d in alice.list_datasets()] == ["sales"]  # personal work passed to her
    alice.share("dataset", "sales", "bob")
    alice.share("dataset", "sales", "bob")  # twice: still one share
    assert alice.shared_with("dataset", "sales") == ["bob"]
    bob = team.workspace(team.get("bob"))
    assert [d.ref for d in bob.shared_datasets()] == ["alice/sales@2"]
    for _ in range(2):
        with pytest.raises(SignInError):
            team.sign_in("bob", "wrong password!")
    assert team.sign_in("bob", PW).name == "bob"
    token = team.new_session("bob")
    assert team.session_user(token).name == "bob"  # type: ignore[union-attr]
    team.remove("bob", by="alice")
    assert team.session_user(token) is None and alice.shared_with("dataset", "sales") == []
    actions = [line["action"] for line in team.audit_log()]
    assert "user remove" in actions and actions.count("import") == 2
    # automations: leases and runs
    store = AutomationStore(alice)
    auto = store.add("refresh", "sales", every_seconds=3600, next_due=0.0)
    assert store.lease(auto.id, "runner-a", 100.0) is not None
    assert store.lease(auto.id, "runner-b", 100.0) is None
    store.finish(auto.id, "runner-a", started=100.0, now=101.0, ok=True, message="done", rows=3)
    assert [r.ok for r in store.runs(auto.id)] == [True]
    assert store.lease(auto.id, "runner-b", 102.0) is not None
    # the prediction service's API keys, the Models page's background services
    from automl.serve.keys import create_key, key_user, list_keys, revoke_key
    from automl.serve.launcher import services

    rec, key = create_key(team, "alice", by="alice")
    assert key_user(team, key).name == "alice"  # type: ignore[union-attr]
    assert [k.id for k in list_keys(team, "alice")] == [rec.id]
    assert not revoke_key(team, rec.id, by="alice").active and key_user(team, key) is None
    assert services(alice) == []


# ---------------------------------------------------------------------- two processes, one catalog
_LEASE = """
import sys, time
from automl.workspace import Workspace
from automl.workspace.automations import AutomationStore
ws = Workspace(sys.argv[1])
while time.time() < float(sys.argv[3]):
    time.sleep(0.01)
got = AutomationStore(ws).lease(int(sys.argv[2]), sys.argv[4], time.time())
print("taken" if got is not None else "refused")
"""


def _env(url: str) -> dict[str, str]:
    return {**os.environ, CATALOG_ENV: url, "PYTHONPATH": str(ROOT)}


def test_two_processes_share_one_postgres_catalog(
    tmp_path: Path, pg_catalog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "shared"
    csv = tmp_path / "sales.csv"
    ROWS.to_csv(csv, index=False)
    cli = [sys.executable, "-m", "automl"]
    env = _env(pg_catalog)
    done = subprocess.run(
        [*cli, "import", str(csv), "--name", "sales", "--workspace", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [*cli, "datasets", "list", "--workspace", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0 and "sales" in listed.stdout  # the other process sees it
    # this process (a third app server) sees it too, and its own work is seen by the others
    ws = Workspace(folder, catalog=pg_catalog)
    assert [d.ref for d in ws.list_datasets()] == ["sales@1"]
    assert ws.load_dataset("sales").shape == (3, 2)
    auto = AutomationStore(ws).add("refresh", "sales", every_seconds=3600, next_due=0.0)
    # two processes ask for the same automation's lease at the same moment: one gets it
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LEASE, str(folder), str(auto.id), str(start), runner],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for runner in ("server-a", "server-b")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert sorted(o.strip() for o, _ in outs) == ["refused", "taken"], outs
    held = AutomationStore(ws).get(auto.id)
    assert held.lease_until is not None and held.lease_until > time.time()
    # a file-based workspace beside it knows nothing of these (the catalog is the database)
    assert Workspace(tmp_path / "other").list_datasets() == []


def test_a_build_on_another_server_is_left_to_that_server(
    tmp_path: Path, catalog: str | None
) -> None:
    from automl.workspace.jobs import HOST, cancel_job, job_status, recover_interrupted

    ws = Workspace(tmp_path, catalog=catalog)
    here, there = ws.create_job("train", {}), ws.create_job("train", {})
    gone = {"status": "running", "pid": 2**30, "pid_start": 1}  # no such process here
    ws.update_job(here, **gone, host=HOST)
    ws.update_job(there, **gone, host="another-app-server")
    assert recover_interrupted(ws) == [here]  # this server restarted: its own build ended
    assert job_status(ws, there)["status"] == "running"  # the other server's goes on
    cancel_job(ws, there)  # asked for, never signalled here (its pid means nothing here)
    assert ws.get_job(there)["cancel_requested"] and ws.get_job(there)["status"] == "running"


# ---------------------------------------------------------------------- schema versions
def test_a_catalog_written_before_alembic_is_upgraded_in_place(tmp_path: Path) -> None:
    shutil.copy(OLD_CATALOG, tmp_path / "catalog.sqlite")  # made by Easel before Alembic
    ws = Workspace(tmp_path)
    with sqlite3.connect(ws.catalog_path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
        assert db.execute("PRAGMA user_version").fetchone()[0] == CATALOG_SCHEMA
    admin = ws.as_user("alice", admin=True)
    assert [(d.name, d.version, d.rows) for d in admin.list_datasets()] == [("sales", 1, 3)]
    assert admin.chosen_model("churn").version == 2
    assert admin.get_model("churn", 1).dataset_ref == "sales@1"
    assert Team(ws).get("alice").admin
    assert [a.kind for a in AutomationStore(admin).own()] == ["refresh"]
    assert admin.get_job(1)["params"] == {"dataset": "sales"}
    admin.add_model(*admin.new_model_path("churn"), "sales", MODEL)
    assert admin.get_model("churn").version == 3
    with sqlite3.connect(ws.catalog_path) as db:  # revision 0004 on top
        assert "host" in {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    assert admin.get_job(1)["host"] == ""  # recorded before: taken as this machine's
    Workspace(tmp_path)  # opened again: nothing to do


def test_revisions_are_the_files_alembic_reads() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(FOLDER))
    found = [s.revision for s in reversed(list(script.walk_revisions()))]
    assert tuple(found) == REVISIONS and script.get_current_head() == HEAD
    assert int(HEAD) == CATALOG_SCHEMA


def test_a_catalog_from_a_newer_easel_is_refused(tmp_path: Path, catalog: str | None) -> None:
    ws = Workspace(tmp_path, catalog=catalog)
    ws.add_dataset("sales", ROWS, "sales.csv")
    with ws._db() as db:
        db.execute("UPDATE alembic_version SET version_num='0099'")
    with pytest.raises(DataError, match="written by a newer Easel .* Upgrade Easel") as err:
        Workspace(tmp_path, catalog=catalog)
    assert "password" not in str(err.value) and (catalog is None or ":s3cret" not in str(err.value))


# ---------------------------------------------------------------------- the password stays secret
def test_the_catalog_password_is_never_shown(
    tmp_path: Path, pg: PgServer, pg_catalog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = pg_catalog.replace(pg.password, "Wr0ng-s3cret-x")
    with pytest.raises(DataError, match="cannot be reached") as err:
        Workspace(tmp_path, catalog=wrong)
    assert "Wr0ng-s3cret-x" not in str(err.value) and pg.password not in str(err.value)
    cli = [sys.executable, "-m", "automl", "datasets", "list", "--workspace", str(tmp_path)]
    for url in (wrong, pg_catalog):
        done = subprocess.run(cli, env=_env(url), capture_output=True, text=True, timeout=120)
        shown = done.stdout + done.stderr
        assert "Wr0ng-s3cret-x" not in shown and pg.password not in shown
        assert "Traceback" not in shown
    assert done.returncode == 0
    failed = subprocess.run(cli, env=_env(wrong), capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "cannot be reached" in failed.stderr
    assert failed.stderr.startswith("error: ") and "\n\n" not in failed.stderr.strip()
    assert "password authentication failed" in " ".join(failed.stderr.split())  # its reason
    # on a command line a password is refused (the process list shows it), without echoing it
    code = main(["datasets", "list", "--workspace", str(tmp_path), "--catalog", wrong])
    err_text = capsys.readouterr().err
    assert code == 2 and "Leave the password out of --catalog" in err_text
    assert "Wr0ng-s3cret-x" not in err_text
    user_only = wrong.replace(":Wr0ng-s3cret-x@", "@")
    os.environ.pop(CATALOG_ENV, None)
    old = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = pg.password
    try:
        assert main(["datasets", "list", "--workspace", str(tmp_path), "--catalog", user_only]) == 0
    finally:
        os.environ.pop(CATALOG_ENV, None)
        if old is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = old
    assert scrub(f"see {pg_catalog} here") == f"see {pg_catalog.replace(pg.password, '***')} here"


def test_a_catalog_held_too_long_by_another_process_is_busy_not_a_hang(
    tmp_path: Path, pg_catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl.workspace import db as layer

    monkeypatch.setattr(layer, "LOCK_TIMEOUT_MS", 300)  # read when its engine is made
    ws = Workspace(tmp_path, catalog=pg_catalog)
    holder = sa.create_engine(pg_catalog.replace("postgresql://", "postgresql+psycopg://"))
    with holder.connect() as other:  # another process holds the catalog's write lock
        other.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": layer._PG_LOCK})
        with pytest.raises(DataError, match="stayed busy .* Try again in a moment"):
            ws.add_dataset("sales", ROWS, "sales.csv")
        other.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": layer._PG_LOCK})
    holder.dispose()
    assert ws.add_dataset("sales", ROWS, "sales.csv").version == 1
    kept = list((tmp_path / "datasets").glob("*.parquet"))  # the refused one left no file
    assert kept == [tmp_path / ws.get_dataset("sales").path]


@pytest.mark.parametrize(
    "url, words",
    [
        ("mysql://easel@db/easel", "must be a PostgreSQL address"),
        ("postgresql://easel@/easel", "needs a host and a database"),
        ("postgresql://easel@db.example.com", "needs a host and a database"),
    ],
)
def test_a_catalog_address_that_is_not_postgresql_is_refused(
    tmp_path: Path, url: str, words: str
) -> None:
    with pytest.raises(ParameterError, match=words):
        Workspace(tmp_path, catalog=url)


@pytest.fixture(autouse=True)
def _no_catalog_env() -> Iterator[None]:
    """No $EASEL_CATALOG from outside, and none left behind by ``--catalog``."""
    saved = os.environ.pop(CATALOG_ENV, None)
    yield
    os.environ.pop(CATALOG_ENV, None)
    if saved is not None:
        os.environ[CATALOG_ENV] = saved


def test_backup_and_restore_say_they_do_not_cover_a_postgres_catalog(
    tmp_path: Path, pg_catalog: str
) -> None:
    from automl.workspace.backup import backup_workspace, restore_workspace

    ws = Workspace(tmp_path / "ws", catalog=pg_catalog)
    ws.add_dataset("sales", ROWS, "sales.csv")
    with pytest.raises(ParameterError, match="catalog is on PostgreSQL.*pg_dump"):
        backup_workspace(ws, tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()
    backup_workspace(Workspace(tmp_path / "local"), tmp_path / "local.tar.gz")
    os.environ[CATALOG_ENV] = pg_catalog
    with pytest.raises(ParameterError, match="catalog is on PostgreSQL"):
        restore_workspace(tmp_path / "local.tar.gz", tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_the_apps_automations_runner_runs_beside_a_postgres_catalog(
    tmp_path: Path, pg_catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl.automations.runner import BackgroundRunner

    Workspace(tmp_path, catalog=pg_catalog)  # no catalog.sqlite in the folder
    monkeypatch.setenv(CATALOG_ENV, pg_catalog)
    runner = BackgroundRunner(tmp_path, every=0.05)
    runs: list[int] = []
    monkeypatch.setattr(runner, "run_once", lambda: runs.append(1) or 0)
    runner.start()
    deadline = time.time() + 30
    while not runs and time.time() < deadline and runner.thread.is_alive():
        time.sleep(0.02)
    runner.stop()
    assert runs  # it ran instead of taking the missing SQLite file for a deleted workspace


def test_the_app_on_a_postgres_catalog(
    tmp_path: Path, pg_catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("EASEL_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv(CATALOG_ENV, pg_catalog)
    main_page = str(ROOT / "app" / "main.py")
    first = AppTest.from_file(main_page, default_timeout=60)
    first.run()
    assert not first.exception, first.exception
    first.button(key="home_samples").click().run()
    assert not first.exception, first.exception
    second = AppTest.from_file(main_page, default_timeout=60)  # another server's browser
    second.run()
    assert not second.exception and second.dataframe[0].value.shape[0] == 4
    assert not (tmp_path / "ws" / "catalog.sqlite").exists()  # all in PostgreSQL
