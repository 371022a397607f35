"""The prediction service (``automl serve``), started for real (uvicorn on a free port of
127.0.0.1) and called over HTTP with httpx: answers equal the engine's, errors name the row and
column, limits, schema, metrics, CSV, team-mode keys, following a new model version, and
schemathesis against the live OpenAPI document."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn

import automl
from automl.cli import main
from automl.serve.commands import bind
from automl.serve.served import ServedModel
from automl.serve.service import ServiceSettings, create_app
from automl.workspace import Workspace
from automl.workspace.users import Team
from tests.conftest import make_table

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Live:
    url: str
    client: httpx.Client
    served: ServedModel


@contextlib.contextmanager
def live(
    ref: str,
    ws: Workspace | None = None,
    settings: ServiceSettings | None = None,
    resolve_seconds: float = 2.0,
) -> Iterator[Live]:
    """The real service of ``ref`` on a free port, in a thread of this process."""
    served = ServedModel(ref, ws, resolve_seconds=resolve_seconds)
    app = create_app(served, settings)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield Live(url, client, served)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def json_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client sends them: missing values as null."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in json.loads(df.to_json(orient="records", double_precision=15))
    ]


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in df.to_dict("records")]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_table(300, 0, "binary")


@pytest.fixture(scope="module")
def model_dir(data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    fit = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(data, target="churn")
    path: Path = fit.save(tmp_path_factory.mktemp("serve") / "churn")
    return path


@pytest.fixture(scope="module")
def service(model_dir: Path) -> Iterator[Live]:
    with live(str(model_dir), settings=ServiceSettings(max_rows=50, max_body_bytes=200_000)) as s:
        yield s


# ---------------------------------------------------------------------- answers
def test_predictions_equal_the_engine(service: Live, model_dir: Path, data: pd.DataFrame) -> None:
    model = automl.load(model_dir)
    rows = data.drop(columns="churn").head(40)
    r = service.client.post("/predict", json={"rows": records(rows)})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [p["prediction"] for p in got] == model.predict(rows).tolist()
    proba = model.predict_proba(rows)
    for answer, (_, expected) in zip(got, proba.iterrows(), strict=True):
        assert answer["probabilities"] == {str(k): float(v) for k, v in expected.items()}
        assert answer["confidence"] == float(expected.max())
    assert r.json()["model"] == "churn"


def test_regression_answers_and_reasons(tmp_path: Path) -> None:
    df = make_table(300, 2, "regression")
    path = (
        automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(df, "spend").save(tmp_path / "m")
    )
    model = automl.load(path)
    rows = df.drop(columns="spend").head(7)
    with live(str(path)) as s:
        r = s.client.post("/predict", params={"reasons": 2}, json={"rows": records(rows)})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [p["prediction"] for p in got] == model.predict(rows).tolist()
    assert all(set(p) == {"prediction", "reasons"} for p in got)
    ex = model.explain(rows, top=2)
    assert [x["column"] for p in got for x in p["reasons"]] == ex["column"].tolist()
    assert [x["contribution"] for p in got for x in p["reasons"]] == ex["contribution"].tolist()


def test_csv_equals_automl_predict(service: Live, model_dir: Path, data: pd.DataFrame,
                                   tmp_path: Path) -> None:  # fmt: skip
    source = tmp_path / "rows.csv"
    data.head(30).to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    assert main(["predict", str(model_dir), str(source), "--out", str(out), "--reasons", "2",
                 "--quiet"]) == 0  # fmt: skip
    r = service.client.post(
        "/predict/csv", params={"reasons": 2}, content=source.read_bytes(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content == out.read_bytes()


# ---------------------------------------------------------------------- errors and limits
def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body


def test_bad_rows_name_the_row_and_column(service: Live, data: pd.DataFrame) -> None:
    rows = records(data.drop(columns="churn").head(4))
    no_age = [dict(r) for r in rows]
    del no_age[2]["age"]
    body = _error(service.client.post("/predict", json={"rows": no_age}), 422)
    assert body["problems"] == [
        {
            "row": 2,
            "column": "age",
            "problem": "the column is missing (send null for an empty value)",
        }  # fmt: skip
    ]
    assert "Row 2, column 'age'" in body["error"]
    bad = [dict(r) for r in rows]
    bad[1]["income"] = "lots"
    bad[3]["signup"] = "someday"
    bad[0]["member"] = "maybe"
    body = _error(service.client.post("/predict", json={"rows": bad}), 422)
    assert {(p["row"], p["column"]) for p in body["problems"]} == {
        (1, "income"), (3, "signup"), (0, "member")
    }  # fmt: skip
    assert "'lots' cannot be read as a number" in json.dumps(body)
    nested = [dict(r) for r in rows]
    nested[0]["plan"] = ["basic"]
    body = _error(service.client.post("/predict", json={"rows": nested}), 422)
    assert body["problems"][0]["column"] == "plan" and "list" in body["problems"][0]["problem"]
    # values a model reads are fine: numbers as text, a missing value as null
    ok = [dict(r) for r in rows]
    ok[0]["age"], ok[1]["income"] = "42", None
    assert service.client.post("/predict", json={"rows": ok}).status_code == 200
    broken = json.dumps({"rows": rows}).replace('"notes": "', '"notes": "\\ud800', 1)
    huge = json.dumps({"rows": rows}).replace('"age": ', '"age": 1e999, "_": ', 1)
    body = _error(service.client.post("/predict", content=huge.encode()), 422)
    too_large = "a number this large cannot be read as a number"
    assert body["problems"] == [{"row": 0, "column": "age", "problem": too_large}]
    body = _error(service.client.post("/predict", content=broken.encode()), 422)
    assert body["problems"][0]["row"] == 0 and body["problems"][0]["column"] == "notes"
    assert "broken Unicode" in body["error"]
    for payload in ({"rows": []}, {"rows": "all"}, {"data": rows}, [1, 2], {"rows": [1]}):
        assert "error" in _error(service.client.post("/predict", json=payload), 422)
    for raw in (b"not json", b"", b'{"rows": [{"age": NaN}]}', b"[" * 100_000, b"\xff\xfe"):
        assert "error" in _error(service.client.post("/predict", content=raw), 400)
    body = _error(service.client.post("/predict?reasons=many", json={"rows": rows}), 422)
    assert "'reasons' must be a whole number" in body["error"]
    assert "nothing at /nowhere" in _error(service.client.get("/nowhere"), 404)["error"]


def test_too_many_rows_and_bytes_are_413(service: Live, data: pd.DataFrame) -> None:
    rows = records(data.drop(columns="churn").head(51))  # the service takes at most 50
    assert (
        "at most 50" in _error(service.client.post("/predict", json={"rows": rows}), 413)["error"]
    )
    big = json.dumps({"rows": records(data.drop(columns="churn").head(10)), "pad": "x" * 300_000})
    body = _error(service.client.post("/predict", content=big.encode()), 413)
    assert "larger than this service accepts" in body["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 10_000

    assert _error(service.client.post("/predict", content=chunks()), 413)
    csv = data.head(51).to_csv(index=False).encode()
    assert "at most 50" in _error(service.client.post("/predict/csv", content=csv), 413)["error"]
    assert service.client.get("/health").json()["status"] == "ok"


def test_csv_errors_are_plain(service: Live) -> None:
    body = _error(service.client.post("/predict/csv", content=b"a,b\n1,2\n"), 422)
    assert "missing" in body["error"] and "age" in body["error"]


# ---------------------------------------------------------------------- schema, docs, metrics
def test_schema_and_openapi_use_the_models_columns(service: Live, model_dir: Path) -> None:
    model = automl.load(model_dir)
    schema = service.client.get("/schema").json()
    cols = {c["name"]: c for c in schema["columns"]}
    assert list(cols) == model.input_columns
    assert cols["age"]["type"] == "number" and isinstance(cols["age"]["typical"], (int, float))
    assert cols["plan"]["type"] == "category"
    assert set(cols["plan"]["categories"]) == {"basic", "plus", "pro"}
    assert cols["signup"]["type"] == "date" and cols["member"]["type"] == "yes/no"
    assert schema["classes"] == ["no", "yes"] and schema["target"] == "churn"
    doc = service.client.get("/openapi.json").json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    example = body["example"]["rows"][0]
    assert list(example) == model.input_columns and example["plan"] in cols["plan"]["categories"]
    assert body["schema"]["properties"]["rows"]["items"]["required"] == model.input_columns
    # the example request is one the service answers
    assert service.client.post("/predict", json=body["example"]).status_code == 200
    assert "swagger" in service.client.get("/docs").text.lower()


def _metric(text: str, name: str, **labels: str) -> float:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(f"{name}{{{inner}}}" if inner else name) + r" ([0-9.e+]+)"
    m = re.search(pattern, text)
    return float(m[1]) if m else 0.0


def test_metrics_count_requests_rows_and_errors(model_dir: Path, data: pd.DataFrame) -> None:
    rows = records(data.drop(columns="churn").head(5))
    with live(str(model_dir)) as s:
        for _ in range(3):
            assert s.client.post("/predict", json={"rows": rows}).status_code == 200
        assert s.client.post("/predict", content=b"{").status_code == 400
        text = s.client.get("/metrics").text
    assert _metric(text, "easel_requests_total", endpoint="/predict", status="200") == 3
    assert _metric(text, "easel_requests_total", endpoint="/predict", status="400") == 1
    assert _metric(text, "easel_request_errors_total", endpoint="/predict", kind="client") == 1
    assert _metric(text, "easel_rows_scored_total") == 15
    assert _metric(text, "easel_request_seconds_count", endpoint="/predict") == 4
    assert "_created" not in text


# ---------------------------------------------------------------------- model:NAME
def _add(ws: Workspace, name: str, model: Any) -> Path:
    n, v, path = ws.new_model_path(name)
    model.save(path)
    ws.add_model(n, v, path, "d", model.model_ if hasattr(model, "model_") else model)
    return path


def test_model_name_follows_new_versions_without_restart(tmp_path: Path,
                                                         data: pd.DataFrame) -> None:  # fmt: skip
    ws = Workspace(tmp_path / "ws")
    _add(ws, "churn", automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(data, "churn"))
    rows = data.drop(columns="churn").head(20)
    with live("model:churn", ws, resolve_seconds=0.1) as s:
        first = s.client.post("/predict", json={"rows": records(rows)}).json()
        assert first["version"] == 1 and first["model"] == "churn@1"
        other = automl.AutoML(time_budget=600, seed=1, max_trials=3).fit(data.tail(200), "churn")
        path2 = _add(ws, "churn", other)
        deadline = time.monotonic() + 60
        while s.client.get("/health").json()["version"] != 2:
            assert time.monotonic() < deadline, "version 2 was not served"
            time.sleep(0.05)
        second = s.client.post("/predict", json={"rows": records(rows)}).json()
        expected = automl.load(path2).predict_proba(rows)
        got = [p["probabilities"]["yes"] for p in second["predictions"]]
        assert got == expected["yes"].tolist() and second["model"] == "churn@2"
        # a version that cannot be loaded: version 2 goes on answering, and health says why
        n, v, path3 = ws.new_model_path("churn")
        shutil.copytree(path2, path3)
        third = automl.load(path3)
        # damaged before it is registered: the service never sees a sound version 3
        (path3 / "easel_model.json").write_text("{ damaged")
        ws.add_model(n, v, path3, "d", third)
        while s.client.get("/health").json()["status"] != "degraded":
            assert time.monotonic() < deadline, "the damaged version was not noticed"
            time.sleep(0.05)
        assert s.client.get("/health").json()["version"] == 2
        again = s.client.post("/predict", json={"rows": records(rows)}).json()
        assert again["predictions"] == second["predictions"]
        assert "version 3 could not be loaded" in s.client.get("/schema").json()["notice"]
        # a version promoted to production is served, newer or not (a roll back to version 1)
        ws.set_stage("churn", 1, "production")
        while s.client.get("/health").json()["version"] != 1:
            assert time.monotonic() < deadline, "the production version was not served"
            time.sleep(0.05)
        back = s.client.post("/predict", json={"rows": records(rows)}).json()
        assert back["predictions"] == first["predictions"] and back["model"] == "churn@1"


# ---------------------------------------------------------------------- team mode
def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_team_mode_keys(tmp_path: Path, data: pd.DataFrame, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from automl.serve import service as service_mod

    monkeypatch.setattr(service_mod, "AUTH_CACHE_SECONDS", 0.0)  # changes show at once
    root = tmp_path / "ws"
    ws = Workspace(root)
    team = Team(ws)
    code, _, err = _cli(capsys, "keys", "create", "--user", "ann", "--workspace", str(root))
    assert code == 2 and "no users (personal mode)" in err
    team.add("ann", "admin", "a long password")
    team.add("al", "analyst", "a long password")
    team.add("vi", "viewer", "a long password")
    _add(team.workspace(team.get("al")), "churn", automl.AutoML(time_budget=600, seed=0,
         max_trials=2).fit(data, "churn"))  # fmt: skip
    keys = {}
    for user in ("al", "vi", "ann"):
        code, out, err = _cli(capsys, "keys", "create", "--user", user, "--workspace", str(root))
        assert code == 0 and "not shown again" in err
        keys[user] = out.strip()
    assert keys["al"].startswith("easel_") and len(set(keys.values())) == 3
    catalog = (root / "catalog.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in root.glob("catalog.sqlite-*")
    )
    assert not any(k.encode() in catalog for k in keys.values())  # only hashes are stored
    code, out, _ = _cli(capsys, "keys", "list", "--user", "al", "--workspace", str(root))
    assert code == 0 and "al" in out and "active" in out and keys["al"] not in out

    rows = {"rows": records(data.drop(columns="churn").head(3))}
    view = team.workspace(team.get("al"))
    with live("model:churn", view, ServiceSettings(team=team)) as s:

        def post(key: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return s.client.post("/predict", json=rows, headers=headers)

        assert s.client.get("/health").status_code == 200  # the only door without a key
        body = _error(post(None), 401)
        assert "needs an API key" in body["error"]
        assert _error(post(keys["al"][:-2] + "xx"), 401)
        assert _error(post("Basic abc"), 401)
        for path in ("/schema", "/metrics", "/openapi.json", "/docs"):
            assert s.client.get(path).status_code == 401
        assert post(keys["al"]).status_code == 200  # the owner
        assert post(keys["ann"]).status_code == 200  # an admin
        assert "vi may not use this model" in _error(post(keys["vi"]), 403)["error"]
        view.share("model", "churn", "vi")
        assert post(keys["vi"]).status_code == 200
        code, out, _ = _cli(capsys, "keys", "revoke", "1", "--workspace", str(root))
        assert code == 0 and "revoked" in out
        assert _error(post(keys["al"]), 401)
        doc = s.client.get("/openapi.json", headers={"Authorization": f"Bearer {keys['vi']}"})
        assert doc.json()["components"]["securitySchemes"]["key"]["scheme"] == "bearer"
    code, _, err = _cli(capsys, "serve", "model:churn", "--workspace", str(root))
    assert code == 2 and "--user NAME" in err


def test_keys_of_a_removed_user_open_nothing_for_a_new_user_of_that_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.serve import keys as keys_mod

    root = tmp_path / "ws"
    team = Team(Workspace(root))
    team.add("ann", "admin", "a long password")
    team.add("bob", "viewer", "a long password")
    _, bob_key = keys_mod.create_key(team, "bob")
    assert keys_mod.key_user(team, bob_key) == team.get("bob")
    team.remove("bob")
    assert keys_mod.key_user(team, bob_key) is None
    code, out, _ = _cli(capsys, "keys", "list", "--workspace", str(root))
    assert code == 0 and "bob" in out and "revoked" in out and "active" not in out
    team.add("bob", "viewer", "a long password")  # someone else, with the same name
    assert keys_mod.key_user(team, bob_key) is None
    # a key is bound to the user it was made for, not to a name: even a key left active (a
    # user removed by an older Easel, which kept the keys) opens nothing for a new "bob"
    _, key2 = keys_mod.create_key(team, "bob")
    with team.ws._db() as db:
        db.execute("DELETE FROM users WHERE name='bob'")
    team.add("bob", "viewer", "a long password")
    assert keys_mod.get_key(team, 2).active and keys_mod.key_user(team, key2) is None
    # keys of a catalog written before keys were bound: bound when first opened, and those of
    # a user gone or added again since are revoked
    keys_mod._READY.clear()
    with team.ws._db() as db:
        db.execute("DROP TABLE api_keys")
        db.execute(keys_mod._SCHEMA.replace(", user_since REAL", ""))
        created = team.get("bob").created_at
        for n, (user, at) in enumerate([("bob", created - 60), ("bob", created + 1)]):
            db.execute(
                "INSERT INTO api_keys (user, lookup, key_hash, created_at) VALUES (?,?,?,?)",
                (user, f"0000000{n}", keys_mod._digest(f"k{n}"), at),
            )
    old, kept = keys_mod.list_keys(team, "bob")
    assert not old.active and kept.active


def test_curl_example_shows_typical_numbers_as_people_write_them(data: pd.DataFrame) -> None:
    from automl.serve.launcher import curl_example

    rows = data.copy()
    number = next(c for c in rows.columns if c != "churn" and rows[c].dtype.kind == "f")
    rows[number] = (rows[number].round(1) + 0.615).astype("float32")  # as builds store numbers
    fit = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(rows, target="churn")
    code = curl_example(fit.model_, "http://127.0.0.1:8000", team=False)
    [row] = json.loads(code.split("-d '", 1)[1].rsplit("'", 1)[0])["rows"]
    typical = row[number]
    assert isinstance(typical, float) and typical == float(f"{typical:.7g}"), code
    assert abs(typical - float(np.float32(typical))) < 1e-6 * abs(typical)


# ---------------------------------------------------------------------- the command
def test_automl_serve_command(model_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    ws = str(tmp_path / "ws")
    code, _, err = _cli(capsys, "serve", str(model_dir), "--host", "0.0.0.0", "--workspace", ws)
    assert code == 2 and "Refusing to serve on 0.0.0.0" in err
    code, _, err = _cli(capsys, "serve", str(tmp_path / "none"), "--workspace", ws)
    assert code == 2 and "No model directory" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl", "serve", str(model_dir), "--port", str(port),
         "--workspace", ws, "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "automl serve did not answer"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            time.sleep(0.2)
        code, _, err = _cli(capsys, "serve", str(model_dir), "--port", str(port), "--workspace", ws)
        assert code == 2 and f"Port {port} on 127.0.0.1 is already in use" in err
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert f"serving churn on http://127.0.0.1:{port}" in stderr.decode()
    assert "Traceback" not in stderr.decode()


def test_answers_are_sent_at_once(service: Live) -> None:
    """The service's connections send small answers at once (TCP_NODELAY): asyncio sets it
    only on connections of a socket made as TCP, and the service binds its own socket."""
    import asyncio

    seen: list[int] = []
    original = asyncio.base_events._set_nodelay  # type: ignore[attr-defined]

    def spy(sock: socket.socket) -> None:
        original(sock)
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(asyncio.selector_events.base_events, "_set_nodelay", spy)
        with httpx.Client(base_url=service.url) as fresh:  # a new connection
            assert fresh.get("/health").status_code == 200
    assert seen and all(seen)


# ---------------------------------------------------------------------- schemathesis
def test_openapi_document_holds_against_the_live_service(service: Live) -> None:
    """Schemathesis generates requests from the live /openapi.json: no answer is a server
    error, and every answer has a documented status, content type and shape."""
    import schemathesis
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import CHECKS  # noqa: F401 - registers the built-in checks
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    checks = [
        schemathesis.checks.not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    ran, calls = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=30, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)  # fmt: skip
        def check(case: Any) -> None:
            calls.append(case.operation.label)
            case.call_and_validate(checks=checks)

        from hypothesis import given

        given(operation.as_strategy())(check)()
        ran += 1
    assert ran == 5 and calls.count("POST /predict") >= 10, calls
    assert service.client.get("/health").json()["status"] == "ok"


def test_single_rows_equal_the_engine(service: Live, model_dir: Path, data: pd.DataFrame) -> None:
    """One row at a time, as most callers send them: each answer is the engine's for that row
    (the k-NN family's scores of a row may differ slightly between batch sizes, so one row is
    compared with one row)."""
    model = automl.load(model_dir)
    rows = data.drop(columns="churn").head(30)
    for i in range(0, 30, 3):
        one = rows.iloc[[i]]
        got = service.client.post("/predict", json={"rows": records(one)}).json()["predictions"]
        expected = model.predict_proba(one).iloc[0]
        assert got[0]["probabilities"] == {str(k): float(v) for k, v in expected.items()}
        assert got[0]["prediction"] == model.predict(one)[0]


def test_the_command_line_loads_no_web_server() -> None:
    """`automl --help` (and every other command) builds its parser without FastAPI, uvicorn
    or the engine: they load when `automl serve` runs."""
    code = (
        "import sys\nfrom automl.cli import build_parser\nbuild_parser()\n"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'prometheus_client', 'lightgbm') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_every_kind_of_value_gets_the_engines_answer(service: Live, model_dir: Path,
                                                     data: pd.DataFrame) -> None:  # fmt: skip
    """Numbers (as numbers or text, whole, negative, huge), categories (known, unseen, as
    numbers, with spaces), dates, yes/no values (true/false, words), text and missing values:
    one row at a time and all together, each answer is Model.predict_proba's for the same rows
    as a DataFrame, to the last bit."""
    model = automl.load(model_dir)
    base = records(data.drop(columns="churn").head(1))[0]
    values: dict[str, list[Any]] = {
        "age": [42, 42.5, -3, None, "42", "1,234", 1e300, 0],
        "income": [51234.5, None, 7, "7.5"],
        "plan": ["pro", None, "unheard of", "  basic ", 7, "Pro"],
        "city": ["city_1", "city_99", 123456789012345678901234567890, "ünïcode"],
        "signup": ["2021-03-04", "2020-02-29", " 2021-03-04", "2021-3-4", None],
        "member": [True, False, "yes", "No", None, " YES "],
        "notes": [
            "fast refund",
            "",
            None,
            "  cancel  ",
            "great\u00a0price",
            1234567890123456789012,
        ],
    }
    rows = [{**base, name: v} for name, vs in values.items() for v in vs]
    text = json.dumps({"rows": rows})
    # a whole number longer than 64 bits is sent as its digits, as a client's JSON writes it
    assert "123456789012345678901234567890" in text and "1234567890123456789012" in text
    expected_all = model.predict_proba(pd.DataFrame(rows))
    answer = service.client.post("/predict", content=text.encode())
    assert answer.status_code == 200, answer.text
    got_all = answer.json()["predictions"]
    for i, row in enumerate(rows):
        one = service.client.post("/predict", content=json.dumps({"rows": [row]}).encode())
        assert one.status_code == 200, (row, one.text)
        expected = model.predict_proba(pd.DataFrame([row])).iloc[0]
        want = {str(k): float(v) for k, v in expected.items()}
        assert one.json()["predictions"][0]["probabilities"] == want, row
        assert got_all[i]["probabilities"] == {
            str(k): float(v) for k, v in expected_all.iloc[i].items()
        }, row


def test_numbers_beyond_any_model_and_bodies_not_utf8_are_plain_errors(
    service: Live, data: pd.DataFrame
) -> None:
    """Found by a review: a 401-digit whole number was scored (200), a 5,000-digit one and a
    Latin-1 body were called "not valid JSON"."""
    rows = records(data.drop(columns="churn").head(2))
    text = json.dumps({"rows": rows})
    body = text.replace('"age": ', '"age": 1' + "0" * 400 + ', "_": ', 1)
    got = _error(service.client.post("/predict", content=body.encode()), 422)
    assert got["problems"] == [
        {"row": 0, "column": "age", "problem": "a number this large cannot be read as a number"}
    ]
    body = text.replace('"age": ', '"age": 1' + "0" * 5000 + ', "_": ', 1)
    assert (
        "thousands of digits" in _error(service.client.post("/predict", content=body), 422)["error"]
    )
    latin = json.dumps({"rows": rows}, ensure_ascii=False).replace(
        '"notes": "', '"notes": "caf\u00e9 ', 1
    )
    got = _error(service.client.post("/predict", content=latin.encode("latin-1")), 400)
    assert "not UTF-8" in got["error"]


def test_docs_page_loads_nothing_from_other_sites(service: Live) -> None:
    page = service.client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no address of another site
    script = service.client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert len(script.content) > 100_000  # the real Swagger UI, from the installed package


def test_a_personal_service_stops_answering_once_the_workspace_has_users(
    tmp_path: Path, model_dir: Path, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a review: a service started without users went on answering everyone without
    a key after users were added (team mode), where every request needs one."""
    from automl.serve import service as service_mod

    monkeypatch.setattr(service_mod, "AUTH_CACHE_SECONDS", 0.0)
    team = Team(Workspace(tmp_path / "ws"))
    rows = {"rows": records(data.drop(columns="churn").head(2))}
    with live(str(model_dir), settings=ServiceSettings(personal=team)) as s:
        assert s.client.post("/predict", json=rows).status_code == 200
        team.add("ann", "admin", "a long password")
        got = _error(s.client.post("/predict", json=rows), 401)
        assert "started again with --user NAME" in got["error"]
        assert s.client.get("/health").status_code == 200


def test_csv_batches_carry_their_drift(service: Live, data: pd.DataFrame, tmp_path: Path) -> None:
    """A REST batch is compared with the training rows like every batch: the verdict and the
    columns that moved are in the answer's headers and counted in /metrics."""
    rows = data.drop(columns="churn").head(50)
    plain = service.client.post("/predict/csv", content=rows.to_csv(index=False).encode())
    assert plain.status_code == 200 and plain.headers["x-easel-drift"] == "none"
    shifted = rows.assign(age=rows["age"] + 300)
    r = service.client.post("/predict/csv", content=shifted.to_csv(index=False).encode())
    assert r.status_code == 200
    assert r.headers["x-easel-drift"] in ("some", "severe")
    assert r.headers["x-easel-drift-columns"].split(",")[0] == "age"
    text = service.client.get("/metrics").text
    assert _metric(text, "easel_batch_drift_total", verdict=r.headers["x-easel-drift"]) >= 1
