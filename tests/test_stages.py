"""Model stages: promote, roll back, who may, the audit log, the CLI, and catalogs written before
stages existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from automl.cli import main
from automl.errors import DataError, EaselError, ParameterError
from automl.workspace import Workspace
from automl.workspace.catalog import CATALOG_SCHEMA
from automl.workspace.users import Team

PW = "correct horse battery"
# what the catalog reads from a model when it records one (the model files are not opened)
MODEL = SimpleNamespace(
    target="y", problem_type="binary", metric="roc_auc", metrics={"roc_auc": 0.8}
)


def add_versions(ws: Workspace, name: str, n: int) -> None:
    for _ in range(n):
        ws.add_model(*ws.new_model_path(name), "sales", MODEL)


def stages(ws: Workspace, name: str) -> dict[int, str]:
    return {r.version: r.stage for r in ws.model_versions(name)}


def stage_audit(ws: Workspace) -> list[tuple[str, str, str, int]]:
    with sqlite3.connect(ws.catalog_path) as db:
        return db.execute(
            "SELECT user, target, detail, ok FROM audit WHERE action='stage' ORDER BY id"
        ).fetchall()


def test_promote_and_roll_back(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    add_versions(ws, "churn", 3)
    assert stages(ws, "churn") == {3: "draft", 2: "draft", 1: "draft"}  # new versions
    assert ws.production_model("churn") is None
    ws.set_stage("churn", 1, "production")
    ws.set_stage("churn", 2, "staging")
    change = ws.set_stage("churn", 2, "production")
    assert (change.before, change.stage, change.archived) == ("staging", "production", 1)
    assert stages(ws, "churn") == {3: "draft", 2: "production", 1: "archived"}
    prod = ws.production_model("churn")
    assert prod is not None and prod.version == 2
    assert ws.previous_production("churn") == 1
    ws.set_stage("churn", 1, "production")  # roll back: promote the earlier version again
    assert stages(ws, "churn") == {3: "draft", 2: "archived", 1: "production"}
    assert ws.previous_production("churn") == 2
    history = ws.stage_history("churn")
    assert [(h["version"], h["stage"]) for h in history] == [
        (1, "production"),
        (2, "production"),
        (2, "staging"),
        (1, "production"),
    ]
    assert history[0]["detail"] == "production (was archived); version 2 moved to archived"
    assert all(h["at"] > 0 and h["user"] == "" for h in history)  # when, and who: personal mode
    assert stage_audit(ws)[-1] == (
        "",
        "model churn@1",
        "production (was archived); version 2 moved to archived",
        1,
    )
    add_versions(ws, "churn 2", 1)  # a name that starts like this one has its own history
    ws.set_stage("churn 2", 1, "staging")
    assert len(ws.stage_history("churn")) == 4 and len(ws.stage_history("churn 2")) == 1

    with pytest.raises(ParameterError, match="in production, so it is not deleted"):
        ws.delete_model("churn", 1)
    ws.delete_model("churn", 2)  # an archived version may go
    with pytest.raises(ParameterError, match="choose staging, production or archived"):
        ws.set_stage("churn", 3, "draft")
    with pytest.raises(ParameterError, match="choose staging, production or archived"):
        ws.set_stage("churn", 3, "live")
    with pytest.raises(EaselError, match="has no version 9"):
        ws.set_stage("churn", 9, "staging")
    with sqlite3.connect(ws.catalog_path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE models SET stage='production' WHERE name='churn' AND version=3")


def test_only_the_owner_or_an_admin_changes_a_stage(tmp_path: Path) -> None:
    team = Team(Workspace(tmp_path / "ws"))
    for name, role in (("alice", "admin"), ("bob", "analyst"), ("carol", "analyst")):
        team.add(name, role, PW)
    bob, carol, alice = (team.workspace(team.get(n)) for n in ("bob", "carol", "alice"))
    add_versions(bob, "churn", 2)
    with pytest.raises(EaselError, match="no model named 'bob/churn'"):
        carol.set_stage("bob/churn", 1, "production")  # not shared: reads as missing
    bob.share("model", "churn", "carol")
    with pytest.raises(ParameterError, match="only its owner or an admin"):
        carol.set_stage("bob/churn", 1, "production")
    assert stages(bob, "churn") == {2: "draft", 1: "draft"}
    bob.set_stage("churn", 1, "production")
    alice.set_stage("bob/churn", 2, "production")  # an admin may
    assert stages(bob, "churn") == {2: "production", 1: "archived"}
    prod = carol.production_model("bob/churn")  # what the service reads for a shared model
    assert prod is not None and (prod.owner, prod.version) == ("bob", 2)
    assert stage_audit(bob) == [
        ("carol", "model bob/churn@1", "refused: production (not the owner)", 0),
        ("bob", "model bob/churn@1", "production (was draft)", 1),
        ("alice", "model bob/churn@2", "production (was draft); version 1 moved to archived", 1),
    ]
    assert [(h["user"], h["version"]) for h in carol.stage_history("bob/churn")] == [
        ("alice", 2),
        ("bob", 1),
    ]


def _cli(tmp_path: Path, *args: str) -> int:
    return main([*args, "--workspace", str(tmp_path / "ws")])


def test_cli_promote_list_and_stages_in_team_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    team = Team(Workspace(tmp_path / "ws"))
    for name, role in (("alice", "admin"), ("bob", "analyst"), ("vera", "viewer")):
        team.add(name, role, PW)
    add_versions(team.workspace(team.get("bob")), "churn", 2)
    assert _cli(tmp_path, "models", "promote", "churn", "1", "--stage", "production") == 2
    assert "--user NAME" in capsys.readouterr().err
    assert (
        _cli(tmp_path, "models", "promote", "churn", "1", "--stage", "production", "--user", "vera")
        == 2
    )
    assert "vera is a viewer" in capsys.readouterr().err
    args = ("models", "promote", "churn", "1", "--stage", "production", "--user", "bob")
    assert _cli(tmp_path, *args) == 0
    assert "churn version 1 is now production (was draft)" in capsys.readouterr().out
    args = ("models", "promote", "bob/churn", "2", "--stage", "production", "--user", "alice")
    assert _cli(tmp_path, *args) == 0
    assert "version 1, in production until now, is archived" in capsys.readouterr().out
    assert _cli(tmp_path, "models", "list", "--user", "bob") == 0
    out = capsys.readouterr().out
    assert "production" in out and "archived" in out
    assert _cli(tmp_path, "models", "stages", "churn", "--user", "bob") == 0
    out = capsys.readouterr().out
    assert "version 2     production" in out and "version 1     archived" in out
    assert "alice" in out and "bob" in out  # who changed them
    assert _cli(tmp_path, "models", "stages", "nothing", "--user", "bob") == 2
    assert "no model named 'nothing'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli(tmp_path, "models", "promote", "churn", "x", "--stage", "production", "--user", "bob")
    assert "a version is a number" in capsys.readouterr().err


def _as_old_catalog(path: Path) -> None:
    """Rewrite a catalog as Easel wrote it before stages (schema 1: no stage, no version)."""
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            DROP INDEX one_production;
            ALTER TABLE models DROP COLUMN stage;
            PRAGMA user_version = 0;
            """
        )


def test_a_catalog_from_before_stages_is_upgraded(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    add_versions(ws, "churn", 2)
    _as_old_catalog(ws.catalog_path)
    with sqlite3.connect(ws.catalog_path) as db:
        assert "stage" not in {r[1] for r in db.execute("PRAGMA table_info(models)")}
    again = Workspace(tmp_path)
    assert stages(again, "churn") == {2: "draft", 1: "draft"}
    again.set_stage("churn", 2, "production")
    assert again.production_model("churn").version == 2  # type: ignore[union-attr]
    with sqlite3.connect(ws.catalog_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == CATALOG_SCHEMA
        db.execute(f"PRAGMA user_version = {CATALOG_SCHEMA + 1}")
    with pytest.raises(DataError, match="written by a newer Easel .* Upgrade Easel"):
        Workspace(tmp_path)


def test_a_catalog_from_before_dataset_versions_is_upgraded(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    add_versions(ws, "churn", 1)
    ws.add_model(*ws.new_model_path("churn"), "sales", MODEL, dataset_version=3)
    assert ws.get_model("churn", 2).dataset_ref == "sales@3"
    with sqlite3.connect(ws.catalog_path) as db:  # as schema 2 wrote it: the ref as typed
        db.execute("ALTER TABLE models DROP COLUMN dataset_version")
        db.execute("UPDATE models SET dataset='sales@2' WHERE version=2")
        db.execute("PRAGMA user_version = 2")
    again = Workspace(tmp_path)
    old, named = again.get_model("churn", 1), again.get_model("churn", 2)
    assert (old.dataset, old.dataset_version, old.dataset_ref) == ("sales", None, "sales")
    assert (named.dataset, named.dataset_version) == ("sales", 2)


def test_batch_runs_are_kept_with_the_model(tmp_path: Path) -> None:
    team = Team(Workspace(tmp_path / "ws"))
    for name, role in (("alice", "admin"), ("bob", "analyst"), ("carol", "analyst")):
        team.add(name, role, PW)
    bob, carol = (team.workspace(team.get(n)) for n in ("bob", "carol"))
    add_versions(bob, "churn", 2)
    bob.share("model", "churn", "carol")
    drift = {"verdict": "some", "columns": [{"name": f"c{i}", "drifted": i < 2} for i in range(80)]}
    bob.record_batch_run(bob.get_model("churn", 1), "march.csv", 120, drift)
    carol.record_batch_run(carol.get_model("bob/churn", 2), "april.csv", 80, drift)
    runs = bob.batch_runs("churn")  # the owner sees every run with the model, newest first
    assert [(r.user, r.version, r.source, r.rows, r.verdict) for r in runs] == [
        ("carol", 2, "april.csv", 80, "some"),
        ("bob", 1, "march.csv", 120, "some"),
    ]
    assert len(runs[0].drift["columns"]) == 50  # the columns that moved most, not all
    assert [r.user for r in carol.batch_runs("bob/churn")] == ["carol"]  # others: their own
    bob.rename_model("churn", "churn v2")
    assert len(bob.batch_runs("churn v2")) == 2 and bob.batch_runs("churn") == []
    bob.delete_model("churn v2", 2)
    assert [r.version for r in bob.batch_runs("churn v2")] == [1]
