"""The workspace's files on S3 ($EASEL_STORE, --store) against a real local S3-compatible server
(moto in server mode) and the real PostgreSQL catalog: datasets and model folders uploaded
before the catalog names them, read back through this computer's cache, removed with their
versions; two server processes sharing one catalog and one store; errors in words without the
keys; and the default (no store) unchanged, without s3fs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer
from streamlit.testing.v1 import AppTest

from automl.errors import DataError, ParameterError
from automl.workspace import Workspace
from automl.workspace.backup import backup_workspace, restore_workspace
from automl.workspace.store import ENDPOINT_ENV, STORE_ENV, check_store_url
from tests.conftest import make_table
from tests.pg_server import PgServer, new_database

ROOT = Path(__file__).resolve().parents[1]
KEY = "AKIAEASELSTORE000000"
SECRET = "easel-Store/Secret+0987654321zyxwvuts"
BUCKET = "team"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto S3 server with the bucket ``team``; this process's AWS settings point at it."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION", ENDPOINT_ENV)}  # fmt: skip
    os.environ.update(
        AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ[ENDPOINT_ENV] = url
    try:
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def objects(endpoint: str, prefix: str) -> list[str]:
    """The keys under ``prefix`` in the bucket, as the server lists them."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in found)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EASEL_")}
    env.update(PYTHONPATH=str(ROOT), OMP_WAIT_POLICY="PASSIVE", **extra)
    return env


# ---------------------------------------------------------------------- one workspace on S3
def test_datasets_and_models_live_in_the_bucket(
    tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automl
    from automl.reports import save_model

    ws = Workspace(tmp_path / "ws", store=f"s3://{BUCKET}/one")
    assert ws.store.shared and ws.store.where == f"s3://{BUCKET}/one"
    rows = make_table(300, 3)
    rec = ws.add_dataset("customers", rows, "customers.csv")
    assert objects(endpoint, "one/datasets/") == [f"one/{rec.path}"]
    (ws.root / rec.path).unlink()  # this computer's copy gone: read from the bucket
    pd.testing.assert_frame_equal(ws.load_dataset("customers"), ws.read(rec))
    assert len(ws.preview_dataset("customers", rows=5)) == 5

    fit = automl.AutoML(time_budget=600, seed=0, max_trials=2, candidates=["lightgbm"])
    model = fit.fit(rows, target="churn")
    name, version, path = ws.new_model_path("churn")
    save_model(model, path, reports=True, data=rows)
    mrec = ws.add_model(name, version, path, "customers@1", model.model_)
    stored = objects(endpoint, f"one/{mrec.path}/")
    assert f"one/{mrec.path}/easel_model.json" in stored
    assert f"one/{mrec.path}/reports/performance.html" in stored
    want = model.predict(rows.head(50))

    # another computer: an empty folder as its cache, the same catalog file and bucket
    other = tmp_path / "other"
    other.mkdir()
    (other / "catalog.sqlite").write_bytes((ws.root / "catalog.sqlite").read_bytes())
    there = Workspace(other, store=f"s3://{BUCKET}/one")
    assert not (other / mrec.path).exists()
    got = automl.load(there.model_dir(there.get_model("churn"))).predict(rows.head(50))
    pd.testing.assert_series_equal(pd.Series(got), pd.Series(want))

    # the other server's Analyze page makes another kept candidate the default: saved under a
    # new key, the old one removed, and this server reads the change
    other_id = next(i for i in (1, 2) if i != model.model_.default_id)
    monkeypatch.setenv("EASEL_WORKSPACE", str(other))
    monkeypatch.setenv(STORE_ENV, f"s3://{BUCKET}/one")
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/analyze.py")
    at.run()
    at.selectbox(key="analyze_default").select(other_id).run()
    at.button(key="analyze_use").click().run()
    assert not at.exception, at.exception
    changed = there.get_model("churn", 1)  # (the other server's catalog: a copy of the file)
    assert changed.path != mrec.path and changed.version == mrec.version
    assert objects(endpoint, f"one/{mrec.path}/") == []
    assert f"one/{changed.path}/easel_model.json" in objects(endpoint, f"one/{changed.path}/")
    (other / changed.path).rename(tmp_path / "aside")  # read back from the bucket
    assert automl.load(there.model_dir(changed)).default_id == other_id

    there.delete_model("churn", 1)
    there.delete_dataset("customers")
    assert objects(endpoint, "one/") == []
    assert not (other / changed.path).exists() and not (other / rec.path).exists()


def test_a_failed_save_leaves_nothing_in_the_bucket(tmp_path: Path, endpoint: str) -> None:
    class Boom(Exception):
        pass

    def refuse(*args: Any, **kw: Any) -> None:
        raise Boom

    ws = Workspace(tmp_path, store=f"s3://{BUCKET}/failed")
    rows = pd.DataFrame({"x": [1, 2]})
    ws.add_dataset("good", rows, "x.csv")
    ws._next_version = refuse  # type: ignore[method-assign]  # the catalog write fails
    with pytest.raises(Boom):  # after the upload: the object goes too
        ws.add_dataset("bad", rows, "x.csv")
    del ws._next_version
    assert len(objects(endpoint, "failed/datasets/")) == 1
    assert len(list((ws.root / "datasets").iterdir())) == 1
    ws._insert_model = refuse  # type: ignore[method-assign]
    folder = ws.root / "models" / "m1"
    folder.mkdir()
    (folder / "meta.json").write_text("{}")
    with pytest.raises(Boom):
        ws.add_model("m", 1, folder, "good", None)
    assert objects(endpoint, "failed/models/") == []

    # a file removed from the bucket by hand: said in words when read
    (key,) = objects(endpoint, "failed/datasets/")
    boto3.client("s3", endpoint_url=endpoint).delete_object(Bucket=BUCKET, Key=key)
    for p in (ws.root / "datasets").iterdir():
        p.unlink()
    with pytest.raises(DataError, match=r"missing from its store s3://team/failed: it was"):
        ws.load_dataset("good")


def test_the_cache_is_bounded(tmp_path: Path, endpoint: str, monkeypatch: Any) -> None:
    from automl.workspace import store as store_mod

    monkeypatch.setenv("EASEL_STORE_CACHE_MB", "lots")
    with pytest.raises(ParameterError, match=r"EASEL_STORE_CACHE_MB must be a number"):
        Workspace(tmp_path, store=f"s3://{BUCKET}/cache")
    monkeypatch.setenv("EASEL_STORE_CACHE_MB", "0")
    ws = Workspace(tmp_path, store=f"s3://{BUCKET}/cache")
    recs = [ws.add_dataset(f"d{i}", make_table(2000, i), "x.csv") for i in range(3)]
    for r in recs:
        os.utime(ws.root / r.path, (1, 1))  # used long ago
    monkeypatch.setattr(store_mod, "CACHE_GRACE_S", 0.0)
    (ws.root / recs[0].path).unlink()
    ws.read(recs[0])  # fetched: the cache grows, so the copies used longest ago go
    kept = sorted(p.name for p in (ws.root / "datasets").glob("*.parquet"))
    assert kept == [Path(recs[0].path).name]
    assert len(ws.read(recs[1])) == 2000  # fetched again from the bucket


# ---------------------------------------------------------------------- configurations
def test_the_catalog_remembers_its_store(tmp_path: Path, endpoint: str) -> None:
    Workspace(tmp_path, store=f"s3://{BUCKET}/remembered").add_dataset(
        "d", pd.DataFrame({"x": [1]}), "x.csv"
    )
    with pytest.raises(DataError, match=r"kept in the store s3://team/remembered, but "):
        Workspace(tmp_path)  # without the store, no file would be found
    with pytest.raises(DataError, match=r"EASEL_STORE=s3://team/remembered"):
        Workspace(tmp_path, store=f"s3://{BUCKET}/elsewhere")
    local = tmp_path / "local"
    Workspace(local).add_dataset("d", pd.DataFrame({"x": [1]}), "x.csv")
    with pytest.raises(DataError, match=r"cannot move to the store"):
        Workspace(local, store=f"s3://{BUCKET}/moved")
    with pytest.raises(ParameterError, match=r"keeps its datasets and models on S3"):
        backup_workspace(Workspace(tmp_path, store=f"s3://{BUCKET}/remembered"), tmp_path / "b")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(STORE_ENV, f"s3://{BUCKET}/remembered")
        with pytest.raises(ParameterError, match=r"keeps its datasets and models on S3"):
            restore_workspace(tmp_path / "backup.tar.gz", tmp_path / "restored")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://team/x", "must be an S3 address"),
        (f"s3://{KEY}:{SECRET}@team/x", "Leave the keys out"),
        ("s3://Team_Bucket/x", "cannot be read"),
        ("s3://team/../x", "no '..'"),
        ("s3://team/x?versionId=1", "cannot be read"),
    ],
)
def test_store_addresses_are_checked(url: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        check_store_url(url, "--store")
    assert SECRET not in str(info.value) and KEY not in str(info.value)


def test_a_store_server_address_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, f"http://{KEY}:{SECRET}@minio:9000")
    with pytest.raises(ParameterError, match=r"EASEL_STORE_ENDPOINT_URL must be") as info:
        Workspace(tmp_path, store=f"s3://{BUCKET}/x")
    assert SECRET not in str(info.value)


def test_store_errors_are_words_without_keys(tmp_path: Path, endpoint: str) -> None:
    cli = [sys.executable, "-m", "automl.cli", "datasets", "list", "--workspace", str(tmp_path)]
    cases = [
        (f"s3://{KEY}:{SECRET}@team/x", endpoint, "Leave the keys out"),
        ("s3://no-such-bucket/x", endpoint, "The bucket 'no-such-bucket' of the workspace"),
        ("s3://team/x", f"http://127.0.0.1:{_free_port()}", "could not be reached"),
    ]
    for url, end, message in cases:
        done = subprocess.run(
            [*cli, "--store", url],
            env=_env(**{ENDPOINT_ENV: end}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        shown = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == 2 and message in shown, shown
        assert SECRET not in shown and KEY not in shown and "Traceback" not in shown


def test_without_a_store_nothing_changes_and_s3fs_is_not_loaded(tmp_path: Path) -> None:
    code = (
        "import sys, pandas as pd\n"
        "from automl.workspace import Workspace\n"
        "ws = Workspace(sys.argv[1])\n"
        "rec = ws.add_dataset('d', pd.DataFrame({'x': [1, 2]}), 'x.csv')\n"
        "assert ws.load_dataset('d')['x'].tolist() == [1, 2]\n"
        "assert ws.dataset_file(rec) == ws.root / rec.path\n"
        "print(sorted(m for m in ('s3fs', 'fsspec', 'botocore') if m in sys.modules))\n"
        "print(ws.get_setting('store'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "None"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "catalog.sqlite", "datasets", "jobs", "models", "predictions", "uploads"
    ]  # fmt: skip


# ---------------------------------------------------------------------- two servers
_BUILD = """
import json, sys, time
import automl
from automl.workspace import Workspace
from automl.workspace.jobs import job_status, start_training_job
ws = Workspace(sys.argv[1])
job = start_training_job(ws, "customers", "churn", "churn", {"max_trials": 2, "time_budget": 600})
for _ in range(1200):
    status = job_status(ws, job)
    if status["status"] not in ("queued", "running"):
        break
    time.sleep(0.2)
rec = ws.get_model("churn")
rows = ws.load_dataset("customers").drop(columns=["churn"]).head(40)
rows.to_csv(sys.argv[2], index=False)
pred = automl.load(ws.model_dir(rec)).predict(rows)
print(json.dumps({"status": status["status"], "error": status.get("error"),
                  "path": rec.path, "pred": [str(p) for p in pred]}))
"""


def test_two_servers_share_one_catalog_and_store(
    tmp_path: Path, endpoint: str, pg: PgServer
) -> None:
    store = {STORE_ENV: f"s3://{BUCKET}/shared", ENDPOINT_ENV: endpoint}
    env = _env(EASEL_CATALOG=new_database(pg), **store)
    a, b = tmp_path / "server-a", tmp_path / "server-b"
    cli = [sys.executable, "-m", "automl.cli"]

    def run(*args: str) -> str:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    csv = tmp_path / "customers.csv"
    make_table(300, 4).to_csv(csv, index=False)
    run(*cli, "import", str(csv), "--name", "customers", "--workspace", str(a))
    listed = run(*cli, "datasets", "list", "--workspace", str(b))  # the other server, at once
    assert "customers" in listed
    shown = run(*cli, "datasets", "show", "customers", "--workspace", str(b))
    assert "rows: 300" in shown and "first 10 rows:" in shown
    assert len(list((b / "datasets").glob("*.parquet"))) == 1  # its preview read the store's file

    built = json.loads(run(sys.executable, "-c", _BUILD, str(a), str(tmp_path / "rows.csv")))
    assert built["status"] == "succeeded", built["error"]
    assert f"shared/{built['path']}/easel_model.json" in objects(endpoint, "shared/models/")
    out = tmp_path / "scored.csv"
    run(*cli, "predict", "model:churn", str(tmp_path / "rows.csv"), "--out", str(out),
        "--workspace", str(b), "--quiet")  # fmt: skip
    scored = pd.read_csv(out, dtype=str)
    assert scored["prediction"].tolist() == built["pred"]
    assert (b / built["path"]).is_dir() and not (b / "catalog.sqlite").exists()

    # a cluster's workers read the dataset from the store themselves (s3://, the store's server)
    here, there = tmp_path / "here.csv", tmp_path / "there.csv"
    for cached in (b / "datasets").glob("*.parquet"):
        cached.unlink()
    run(*cli, "predict", "model:churn", "dataset:customers", "--out", str(there),
        "--workspace", str(b), "--quiet", "--cluster", "local:1")  # fmt: skip
    assert not list((b / "datasets").glob("*.parquet"))  # not through this server's cache
    run(*cli, "predict", "model:churn", "dataset:customers", "--out", str(here),
        "--workspace", str(b), "--quiet")  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_csv(there), pd.read_csv(here))


def test_a_server_that_never_answers_is_an_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl.workspace import store as store_mod

    with socket.socket() as silent:  # takes connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv(ENDPOINT_ENV, f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        monkeypatch.setattr(store_mod, "READ_TIMEOUT_S", 1)  # the test's own, shorter wait
        with pytest.raises(DataError, match=r"could not be reached: it refused") as info:
            Workspace(tmp_path, store=f"s3://{BUCKET}/silent")
    assert SECRET not in str(info.value)


def test_keys_without_permission_are_named_not_shown(tmp_path: Path, endpoint: str) -> None:
    from moto.core import enable_iam_authentication

    with enable_iam_authentication(), pytest.raises(DataError, match="no permission") as info:
        Workspace(tmp_path, store=f"s3://{BUCKET}/denied")  # keys the server does not know
    assert SECRET not in str(info.value) and KEY not in str(info.value)
