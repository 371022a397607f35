"""Team mode in the workspace: owners, sharing, users, sign-in, the audit log, the CLI."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from automl.cli import main
from automl.errors import DataError, EaselError, ParameterError
from automl.workspace import Workspace
from automl.workspace.users import WRONG, SignInError, Team

PW = "correct horse battery"
DF = pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "b", "a", "b"]})


@pytest.fixture()
def team(tmp_path: Path) -> Team:
    t = Team(Workspace(tmp_path / "ws"))
    t.add("alice", "admin", PW)
    t.add("bob", "analyst", PW)
    t.add("vera", "viewer", PW)
    return t


def _as(team: Team, name: str) -> Workspace:
    return team.workspace(team.get(name))


def test_objects_are_private_until_shared(team: Team) -> None:
    bob, carol_view = _as(team, "bob"), None
    team.add("carol", "analyst", PW)
    carol_view = _as(team, "carol")
    bob.add_dataset("sales", DF, "test")
    assert [d.name for d in bob.list_datasets()] == ["sales"]
    assert carol_view.list_datasets() == [] and carol_view.shared_datasets() == []
    for ref in ("sales", "bob/sales", " bob / sales "):
        with pytest.raises(EaselError, match="no dataset named"):
            carol_view.get_dataset(ref)
    assert carol_view.dataset_versions("bob/sales") == []
    carol_view.add_dataset("sales", DF.head(2), "test")  # same name, her own
    assert carol_view.get_dataset("sales").rows == 2 and bob.get_dataset("sales").rows == 4

    bob.share("dataset", "sales", "carol")
    assert carol_view.get_dataset("bob/sales").rows == 4
    [shared] = carol_view.shared_datasets()
    assert (shared.owner, carol_view.key(shared)) == ("bob", "bob/sales")
    assert bob.shared_with("dataset", "sales") == ["carol"]
    with pytest.raises(ParameterError, match="belongs to bob"):
        carol_view.delete_dataset("bob/sales")
    with pytest.raises(ParameterError, match="belongs to bob"):
        carol_view.add_dataset("bob/sales", DF, "test")
    bob.unshare("dataset", "sales", "carol")
    with pytest.raises(EaselError, match="no dataset named"):
        carol_view.get_dataset("bob/sales")
    # an admin reads everyone's work by OWNER/NAME
    assert _as(team, "alice").get_dataset("bob/sales").rows == 4


def test_share_with_everyone_and_checks(team: Team) -> None:
    bob, vera = _as(team, "bob"), _as(team, "vera")
    bob.add_dataset("sales", DF, "test")
    with pytest.raises(ParameterError, match="no user named 'nobody'"):
        bob.share("dataset", "sales", "nobody")
    with pytest.raises(EaselError, match="no dataset named"):
        bob.share("dataset", "missing", "vera")
    with pytest.raises(ParameterError, match="another user"):
        bob.share("dataset", "sales", "bob")
    bob.share("dataset", "sales", "*")
    assert vera.get_dataset("bob/sales").rows == 4
    bob.delete_dataset("sales")  # deleting the last version ends its shares
    bob.add_dataset("sales", DF, "test")
    with pytest.raises(EaselError):
        vera.get_dataset("bob/sales")


def test_jobs_are_private(team: Team) -> None:
    bob, carol = _as(team, "bob"), None
    team.add("carol", "analyst", PW)
    carol = _as(team, "carol")
    job = bob.create_job("train", {"dataset": "sales"})
    assert bob.get_job(job)["owner"] == "bob"
    with pytest.raises(EaselError, match=f"no build {job}"):
        carol.get_job(job)
    assert carol.list_jobs() == [] and [j["id"] for j in bob.list_jobs()] == [job]
    assert _as(team, "alice").get_job(job)["id"] == job


def test_first_user_is_an_admin_and_takes_over_personal_work(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.add_dataset("sales", DF, "test")
    job = ws.create_job("train", {})
    team = Team(ws)
    assert not team.active()
    with pytest.raises(ParameterError, match="first user must be an admin"):
        team.add("bob", "analyst", PW)
    team.add("alice", "admin", PW)
    assert team.active()
    alice = _as(team, "alice")
    assert alice.get_dataset("sales").owner == "alice" and alice.get_job(job)["owner"] == "alice"
    with pytest.raises(EaselError):
        ws.get_dataset("sales")  # the ownerless view sees nothing any more
    with pytest.raises(ParameterError, match="only admin"):
        team.remove("alice")
    with pytest.raises(ParameterError, match="only admin"):
        team.set_role("alice", "viewer")
    with pytest.raises(ParameterError, match="already a user"):
        team.add("ALICE", "viewer", PW)
    with pytest.raises(ParameterError, match="too short"):
        team.add("dan", "viewer", "short")
    with pytest.raises(ParameterError, match="not allowed"):
        team.add("../x", "viewer", PW)


def test_sign_in_same_answer_and_slows_down(team: Team) -> None:
    assert team.sign_in("bob", PW).role == "analyst"
    with pytest.raises(SignInError) as wrong:
        team.sign_in("bob", "not the password")
    with pytest.raises(SignInError) as unknown:
        team.sign_in("nobody", "not the password")
    assert str(wrong.value) == str(unknown.value) == WRONG
    for _ in range(3):
        with pytest.raises(SignInError):
            team.sign_in("bob", "still wrong")
    assert team.wait_seconds("bob") > 0
    with pytest.raises(SignInError, match="Too many failed sign-ins"):
        team.sign_in("bob", PW)  # even the right password waits
    team.set_password("bob", PW + "!")  # an admin's reset clears the wait
    assert team.sign_in("bob", PW + "!").name == "bob"
    actions = [(r["action"], r["target"], r["ok"]) for r in team.audit_log()]
    assert ("sign in", "bob", 1) in actions and ("sign in", "nobody", 0) in actions
    assert ("user add", "vera", 1) in actions


def test_sso_user_created_once_with_default_role(team: Team) -> None:
    team.set_setting("sso_default_role", "analyst", by="alice")
    u = team.sso_user("Dana.Smith@Example.com")
    assert (u.name, u.role, u.email) == ("dana.smith", "analyst", "dana.smith@example.com")
    assert team.sso_user("dana.smith@example.com").name == "dana.smith"
    with pytest.raises(SignInError):
        team.sso_user("not an address")
    with pytest.raises(ParameterError):
        team.set_setting("sso_default_role", "owner")


def test_old_catalog_without_owners_is_upgraded(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    rec = ws.add_dataset("sales", DF, "test")
    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:  # rewrite as an ownerless catalog
        db.executescript(
            """
            DROP TABLE datasets;
            CREATE TABLE datasets (name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL,
                source TEXT NOT NULL, rows INTEGER NOT NULL, columns INTEGER NOT NULL,
                schema TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (name, version));
            """
        )
        db.execute(
            "INSERT INTO datasets VALUES (?,?,?,?,?,?,?,?)",
            ("sales", 1, rec.path, "test", 4, 2, '{"x": "int64", "y": "object"}', 0.0),
        )
    again = Workspace(tmp_path)
    assert again.load_dataset("sales").equals(DF)
    assert again.add_dataset("sales", DF, "test").version == 2


def test_damaged_catalog_is_a_clear_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.add_dataset("sales", DF, "test")
    (tmp_path / "catalog.sqlite").write_bytes(b"")  # lost: the files remain
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(DataError, match="catalog .* is empty, but the workspace holds 1"):
        Workspace(tmp_path)
    (tmp_path / "catalog.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(DataError, match="damaged and cannot be read"):
        Workspace(tmp_path)
    file_ws = tmp_path / "afile"
    file_ws.write_text("x")
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        Workspace(file_ws)


def _import_same_name(root: str, n: int) -> list[int]:
    ws = Workspace(root)
    return [ws.add_dataset("same", DF, "race").version for _ in range(n)]


def test_simultaneous_imports_get_distinct_versions(tmp_path: Path) -> None:
    Workspace(tmp_path)
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_import_same_name, [(str(tmp_path), 6), (str(tmp_path), 6)])
    versions = sorted(v for r in results for v in r)
    assert versions == list(range(1, 13))
    files = list((tmp_path / "datasets").iterdir())
    assert len(files) == 12 and all(f.suffix == ".parquet" for f in files)


def test_two_models_with_one_name_both_saved(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    model = SimpleNamespace(
        target="y", problem_type="binary", metric="roc_auc", metrics={"roc_auc": 0.8}
    )
    paths = [ws.new_model_path("m") for _ in range(2)]  # both builds expect version 1
    assert [v for _, v, _ in paths] == [1, 1]
    recs = [ws.add_model(n, v, p, "sales", model) for n, v, p in paths]
    assert [r.version for r in recs] == [1, 2]


def _cli(tmp_path: Path, *args: str) -> int:
    return main([*args, "--workspace", str(tmp_path / "ws")])


def test_cli_users_and_team_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    DF.to_csv(data, index=False)
    assert _cli(tmp_path, "import", str(data), "--name", "before") == 0
    assert _cli(tmp_path, "users", "add", "alice", "--role", "admin", "--password-env", "PW") == 2
    assert "PW is not set" in capsys.readouterr().err
    monkeypatch.setenv("PW", PW)
    assert _cli(tmp_path, "users", "add", "alice", "--role", "admin", "--password-env", "PW") == 0
    assert "belongs to alice" in capsys.readouterr().out
    assert _cli(tmp_path, "users", "add", "vera", "--role", "viewer", "--password-env", "PW") == 0
    assert _cli(tmp_path, "users", "add", "bob", "--role", "analyst", "--password-env", "PW") == 0
    capsys.readouterr()
    assert _cli(tmp_path, "import", str(data), "--name", "sales") == 2
    assert "--user NAME" in capsys.readouterr().err
    assert _cli(tmp_path, "import", str(data), "--name", "sales", "--user", "vera") == 2
    assert "vera is a viewer" in capsys.readouterr().err
    assert _cli(tmp_path, "import", str(data), "--name", "sales", "--user", "bob") == 0
    capsys.readouterr()
    assert _cli(tmp_path, "datasets", "list", "--user", "alice") == 0
    out = capsys.readouterr().out
    assert "before" in out and "sales" not in out
    assert _cli(tmp_path, "datasets", "show", "bob/sales", "--user", "alice") == 0  # admin
    assert _cli(tmp_path, "share", "dataset", "before", "--with", "bob", "--user", "alice") == 0
    assert _cli(tmp_path, "datasets", "list", "--user", "bob") == 0
    assert "alice/before" in capsys.readouterr().out
    assert _cli(tmp_path, "users", "list") == 0
    assert "vera   viewer" in capsys.readouterr().out
    assert _cli(tmp_path, "users", "remove", "vera") == 0
    assert _cli(tmp_path, "audit", "--since", "1h") == 0
    out = capsys.readouterr().out
    for line in ("user add", "import", "share", "user remove"):
        assert line in out
    assert _cli(tmp_path, "audit", "--since", "last tuesday") == 2
    assert "is not a time" in capsys.readouterr().err


def test_source_policy_in_team_mode(tmp_path: Path) -> None:
    from connectors.policy import SourcePolicy

    team = Team(Workspace(tmp_path))
    assert team.source_policy() == SourcePolicy()  # personal mode: anything
    team.add("ada", "admin", PW)
    default = team.source_policy()  # team mode: not the server's own files or credentials
    assert not default.allow_local_files and not default.allow_server_credentials
    assert default.allowed_sql_hosts is None
    team.set_source_policy(SourcePolicy(allowed_sql_hosts=("db.example.com",)), by="ada")
    assert team.source_policy().allowed_sql_hosts == ("db.example.com",)
    assert any(r["action"] == "setting" for r in team.audit_log())
