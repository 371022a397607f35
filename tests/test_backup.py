"""Workspace backup and restore: a consistent copy while a build writes, checked restores, and
hostile archives refused with bounded memory."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import automl
from automl import cli
from automl.errors import DataError, ParameterError
from automl.workspace import Workspace, backup
from automl.workspace.backup import backup_workspace, restore_workspace
from automl.workspace.jobs import cancel_job, job_status, start_training_job
from tests.conftest import make_table

Members = list[tuple[tarfile.TarInfo, bytes]]


def until(check: Callable[[], Any], timeout: float = 200) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.2)
    return result


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A backup of a workspace with one dataset (no model: fast)."""
    ws = Workspace(tmp_path / "small")
    ws.add_dataset("customers", make_table(50, 1, "binary"), "generated")
    out = tmp_path / "small.tar.gz"
    backup_workspace(ws, out)
    return out


def read_members(archive: Path) -> Members:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def write_members(path: Path, members: Members, fix_manifest: bool = True) -> Path:
    """Write ``members`` as a .tar.gz, with a manifest that matches them (a careful attacker's)."""
    if fix_manifest:
        files = [
            {"path": m.name, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for m, d in members
            if m.name != "manifest.json" and m.isreg()
        ]
        manifest = {"format": backup.FORMAT, "format_version": 1, "files": files}
        members = [(m, d) for m, d in members if m.name != "manifest.json"]
        members.append((tarfile.TarInfo("manifest.json"), json.dumps(manifest).encode()))
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for m, d in members:
            if m.isreg():
                m.size = len(d)
            tar.addfile(m, io.BytesIO(d) if m.isreg() else None)
    return path


def member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> tuple[Any, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    return info, data


def refused(archive: Path, target: Path, match: str) -> None:
    with pytest.raises(DataError, match=match):
        restore_workspace(archive, target)
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]


def test_backup_while_a_build_writes_then_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EASEL_MAX_BUILDS", "1")
    ws = Workspace(tmp_path / "ws")
    df = make_table(300, 5, "binary")
    ws.add_dataset("customers", df, "generated")
    ws.add_dataset("customers", make_table(120, 6, "binary"), "generated again")
    model = automl.AutoML(time_budget=600, max_trials=2, seed=0).fit(df, target="churn")
    name, version, path = ws.new_model_path("churn")
    model.save(path)
    ws.add_model(name, version, path, "customers", model.model_)
    ws.set_stage("churn", version, "production")
    (ws.root / "predictions" / "scored.csv").write_text("age,prediction\n30,yes\n")
    settings = {"time_budget": 600.0, "max_trials": 500, "preset": "quick"}
    job_id = start_training_job(ws, "customers", "churn", "busy", settings)
    until(lambda: job_status(ws, job_id)["trials"])  # it writes progress to the catalog now
    summary = backup_workspace(ws, tmp_path / "backup.tar.gz")
    cancel_job(ws, job_id)
    until(lambda: job_status(ws, job_id)["status"] == "cancelled")
    assert (summary.datasets, summary.models, summary.jobs) == (2, 1, 1)

    restored = restore_workspace(tmp_path / "backup.tar.gz", tmp_path / "restored")
    assert restored.files == summary.files and restored.bytes == summary.bytes
    ws2 = Workspace(tmp_path / "restored")
    for v in (1, 2):
        pd.testing.assert_frame_equal(
            ws2.load_dataset("customers", v), ws.load_dataset("customers", v)
        )
    assert ws2.get_model("churn").stage == "production"  # stages and their history come back
    assert [h["stage"] for h in ws2.stage_history("churn")] == ["production"]
    again = automl.load(ws2.model_dir(ws2.get_model("churn")))
    np.testing.assert_array_equal(again.predict(df), model.predict(df))
    pd.testing.assert_frame_equal(again.predict_proba(df), model.predict_proba(df))
    job = ws2.get_job(job_id)
    assert job["status"] == "interrupted" and job["params"]["model_name"] == "busy"
    assert job["trials"] and Path(job["log_path"]).parent == ws2.root / "jobs"
    assert (ws2.root / "predictions" / "scored.csv").read_text() == "age,prediction\n30,yes\n"
    assert not (ws2.root / "uploads").exists() or not any((ws2.root / "uploads").iterdir())

    with pytest.raises(ParameterError, match="already has datasets, models or builds"):
        restore_workspace(tmp_path / "backup.tar.gz", tmp_path / "restored")
    ws2.delete_dataset("customers", 2)
    restore_workspace(tmp_path / "backup.tar.gz", tmp_path / "restored", force=True)
    assert Workspace(tmp_path / "restored").get_dataset("customers").version == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar.gz", "restored", "ws"]


def test_the_cli_backs_up_and_restores(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "again.tar.gz"
    assert (
        cli.main(["workspace", "backup", "--workspace", str(tmp_path / "small"), "--out", str(out)])
        == 0
    )
    assert "backed up 1 dataset version, 0 model versions and 0 builds" in capsys.readouterr().out
    target = str(tmp_path / "new")
    assert cli.main(["workspace", "restore", str(out), "--workspace", target]) == 0
    assert "restored 1 dataset version, 0 model versions and 0 builds" in capsys.readouterr().out
    assert cli.main(["workspace", "restore", str(out), "--workspace", target]) == 2
    err = " ".join(capsys.readouterr().err.split())  # one wrapped paragraph
    assert "already has datasets, models or builds" in err and "Traceback" not in err
    assert cli.main(["workspace", "restore", str(out), "--workspace", target, "--force"]) == 0
    assert (
        cli.main(["workspace", "restore", str(tmp_path / "nope.tar.gz"), "--workspace", target])
        == 2
    )
    assert "There is no backup file" in capsys.readouterr().err


def test_an_empty_workspace_may_be_restored_into(small: Path, tmp_path: Path) -> None:
    Workspace(tmp_path / "fresh")  # folders and an empty catalog, as the app makes them
    restore_workspace(small, tmp_path / "fresh")
    assert Workspace(tmp_path / "fresh").load_dataset("customers").shape == (50, 10)


@pytest.mark.parametrize(
    "bad, match",
    [
        (member("/etc/cron.d/evil"), "outside the workspace's folders"),
        (member("datasets/../../evil"), "outside the workspace's folders"),
        (member("uploads/evil.csv"), "outside the workspace's folders"),
        (member("datasets/link", b"", tarfile.SYMTYPE), "is a link or a special file"),
        (member("datasets/hard", b"", tarfile.LNKTYPE), "is a link or a special file"),
        (member("datasets/dev", b"", tarfile.CHRTYPE), "is a link or a special file"),
        (member("datasets/" + "a" * 2_000_000), "a file header is far too large"),
    ],
)
def test_hostile_members_are_refused(
    small: Path, tmp_path: Path, bad: tuple[Any, bytes], match: str
) -> None:
    archive = write_members(tmp_path / "bad.tar.gz", [*read_members(small), bad])
    refused(archive, tmp_path / "target", match)


def test_a_decompression_bomb_is_refused(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup, "RATIO_FLOOR", 1 << 20)
    bomb = member("datasets/big.parquet", bytes(20 << 20))  # 20 MB of zeros: 20 kB packed
    archive = write_members(tmp_path / "bomb.tar.gz", [*read_members(small), bomb])
    assert archive.stat().st_size < 200_000
    refused(archive, tmp_path / "target", "unpacks to far more than its size")


def test_a_changed_file_is_refused_before_anything_is_replaced(small: Path, tmp_path: Path) -> None:
    members = read_members(small)
    i = next(k for k, (m, _) in enumerate(members) if m.name.startswith("datasets/"))
    members[i] = (members[i][0], members[i][1][:-1] + b"!")
    archive = write_members(tmp_path / "changed.tar.gz", members, fix_manifest=False)
    refused(archive, tmp_path / "target", "does not match its checksum")
    extra = write_members(
        tmp_path / "extra.tar.gz", [*read_members(small), member("datasets/x")], fix_manifest=False
    )
    refused(extra, tmp_path / "target", "files not in its manifest: datasets/x")
    # a workspace in the target stays as it was
    ws = Workspace(tmp_path / "kept")
    ws.add_dataset("mine", make_table(30, 2), "generated")
    with pytest.raises(DataError, match="does not match its checksum"):
        restore_workspace(archive, tmp_path / "kept", force=True)
    assert Workspace(tmp_path / "kept").load_dataset("mine").shape == (30, 10)


def edit_catalog(members: Members, tmp_path: Path, change: Callable[[Path], None]) -> Members:
    (i,) = [k for k, (m, _) in enumerate(members) if m.name == "catalog.sqlite"]
    path = tmp_path / "edit.sqlite"
    path.write_bytes(members[i][1])
    change(path)
    members[i] = (members[i][0], path.read_bytes())
    return members


def sql(statement: str) -> Callable[[Path], None]:
    def run(path: Path) -> None:
        db = sqlite3.connect(path)
        with db:
            db.execute(statement)
        db.close()

    return run


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096 + 8 : 4096 + 400] = b"\xff" * 392  # inside the second page (a table's b-tree)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "change, match",
    [
        (sql("UPDATE datasets SET path='/etc/passwd'"), "refers to a dataset file that is not"),
        (
            sql("UPDATE datasets SET path='datasets/../../x'"),
            "refers to a dataset file that is not",
        ),
        (
            sql(
                "INSERT INTO models (name, version, path, dataset, target, task, metric, score, "
                "created_at) VALUES ('m', 1, '/etc', 'customers', 'churn', 'binary', 'roc_auc', "
                "0.5, 0)"
            ),
            "refers to a model folder that is not in it",
        ),
        (
            sql("CREATE TRIGGER t AFTER UPDATE ON jobs BEGIN DELETE FROM datasets; END"),
            "not an Easel catalog",
        ),
        (sql("DROP TABLE jobs"), "not an Easel catalog"),
        (sql("PRAGMA user_version = 99"), "written by a newer Easel"),
        (
            sql(
                "INSERT INTO models (name, version, path, dataset, target, task, metric, score, "
                "created_at, stage) VALUES ('m', 1, 'models/m', 'customers', 'churn', 'binary', "
                "'roc_auc', 0.5, 0, 'evil')"
            ),
            "gives a model the stage 'evil'",
        ),
        (corrupt, "catalog is damaged"),
    ],
)
def test_a_hostile_or_damaged_catalog_is_refused(
    small: Path, tmp_path: Path, change: Callable[[Path], None], match: str
) -> None:
    archive = write_members(
        tmp_path / "c.tar.gz", edit_catalog(read_members(small), tmp_path, change)
    )
    refused(archive, tmp_path / "target", match)


def test_a_backup_from_before_stages_is_restored_and_upgraded(small: Path, tmp_path: Path) -> None:
    def before_stages(path: Path) -> None:
        with sqlite3.connect(path) as db:
            db.executescript(
                "DROP INDEX one_production; ALTER TABLE models DROP COLUMN stage; "
                "PRAGMA user_version = 0;"
            )

    archive = write_members(
        tmp_path / "old.tar.gz", edit_catalog(read_members(small), tmp_path, before_stages)
    )
    restore_workspace(archive, tmp_path / "target")
    ws = Workspace(tmp_path / "target")
    assert ws.load_dataset("customers").shape == (50, 10)
    with sqlite3.connect(ws.catalog_path) as db:
        assert "stage" in {r[1] for r in db.execute("PRAGMA table_info(models)")}


def test_other_files_are_refused_plainly(small: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    refused(junk, tmp_path / "target", "is not an Easel workspace backup, or it is damaged")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 1000)
    refused(text, tmp_path / "target", "is not an Easel workspace backup, or it is damaged")
    no_manifest = [(m, d) for m, d in read_members(small) if m.name != "manifest.json"]
    archive = write_members(tmp_path / "nm.tar.gz", no_manifest, fix_manifest=False)
    refused(archive, tmp_path / "target", "it has no manifest.json")
    newer = [
        (m, json.dumps({**json.loads(d), "format_version": 99}).encode())
        if m.name == "manifest.json"
        else (m, d)
        for m, d in read_members(small)
    ]
    archive = write_members(tmp_path / "newer.tar.gz", newer, fix_manifest=False)
    refused(archive, tmp_path / "target", "made by a newer Easel")


def test_automations_are_backed_up_without_their_runners_leases(tmp_path: Path) -> None:
    from automl.workspace.automations import SCORE, AutomationStore

    ws = Workspace(tmp_path / "ws")
    ws.add_dataset("customers", make_table(50, 1, "binary"), "generated")
    store = AutomationStore(ws)
    auto = store.add(SCORE, "customers", model="churn", output="scored", seen_version=1)
    assert store.lease(auto.id, "a runner of this workspace", time.time()) is not None
    backup_workspace(ws, tmp_path / "b.tar.gz")
    restore_workspace(tmp_path / "b.tar.gz", tmp_path / "copy")
    [copied] = AutomationStore(Workspace(tmp_path / "copy")).own()
    assert (copied.id, copied.output, copied.lease_until) == (auto.id, "scored", None)
