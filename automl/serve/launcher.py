"""Prediction services that the app starts and stops in the background.

The Models page starts ``python -m automl serve model:NAME`` as a process of its own (its own
session, so the app's reruns and restarts do not stop it) on a free port of 127.0.0.1, and
records it in the catalog's ``services`` table (created here) with its process start time, so a
reused process id is never taken for it (as the build queue does). A record whose process is
gone is dropped the next time services are listed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.errors import EaselError
from automl.workspace.catalog import Workspace
from automl.workspace.jobs import HOST as MACHINE
from automl.workspace.jobs import job_alive, process_start

_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, model TEXT NOT NULL,
    port INTEGER NOT NULL, pid INTEGER, pid_start INTEGER, started_at REAL NOT NULL,
    log_path TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '')
"""
HOST = "127.0.0.1"
READY_SECONDS = 120.0  # loading a large model can take a while on a busy machine
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Service:
    """A background service: its number, owner, the model (as its owner names it) and port."""

    id: int
    owner: str
    model: str
    port: int
    pid: int | None
    pid_start: int | None
    started_at: float
    log_path: str
    host: str = ""  # the machine it runs on ('' recorded before: this one)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return job_alive({"pid": self.pid, "pid_start": self.pid_start,
                          "created_at": self.started_at, "host": self.host})  # fmt: skip


def _table(ws: Workspace) -> None:
    if ws.shared_catalog:  # made by its first revision (automl/workspace/migrations)
        return
    with ws._db() as db:
        db.execute(_SCHEMA)


def _service(row: Any) -> Service:
    return Service(**dict(row))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def services(ws: Workspace) -> list[Service]:
    """This user's running services, oldest first; records of ended ones are removed."""
    _table(ws)
    with ws._db() as db:
        rows = db.execute("SELECT * FROM services WHERE owner=? ORDER BY id", (ws.user,)).fetchall()
    out: list[Service] = []
    gone: list[Service] = []
    for svc in map(_service, rows):
        (out if svc.alive() else gone).append(svc)
    if gone:
        with ws._db() as db:
            db.executemany("DELETE FROM services WHERE id=?", [(s.id,) for s in gone])
    return out


def service_for(ws: Workspace, model: str) -> Service | None:
    """The running service of ``model`` (as this user names it), if any."""
    return next((s for s in services(ws) if s.model == model), None)


def _last_line(path: str) -> str:
    with contextlib.suppress(OSError):
        lines = Path(path).read_text(errors="replace").strip().splitlines()
        if lines:
            return lines[-1].removeprefix("error: ")[:500]
    return "it ended without saying why"


def start_service(ws: Workspace, model: str) -> Service:
    """Start (or find) the service of this user's model ``model`` (``NAME`` or ``OWNER/NAME``)
    on a free port of 127.0.0.1, and wait until it answers."""
    ws.get_model(model)  # a clear error for a model this user cannot reach
    running = service_for(ws, model)
    if running is not None:
        return running
    port = free_port()
    log = ws.root / "jobs" / f"service-{port}-{int(time.time())}.log"
    cmd = [sys.executable, "-m", "automl", "serve", f"model:{model}", "--port", str(port),
           "--workspace", str(ws.root), "--quiet"]  # fmt: skip
    if ws.user:
        cmd += ["--user", ws.user]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_source_root(),
           os.environ.get("PYTHONPATH")]))}  # fmt: skip
    with open(log, "ab") as out:
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise EaselError(
                f"The prediction service could not be started ({exc.strerror or exc}). Check "
                "that the server has free memory and processes, then try again."
            ) from None
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped when it ends
    _table(ws)
    with ws._db() as db:
        service_id = db.insert(
            "INSERT INTO services (owner, model, port, pid, pid_start, started_at, log_path, "
            "host) VALUES (?,?,?,?,?,?,?,?)",
            (
                ws.user,
                model,
                port,
                proc.pid,
                process_start(proc.pid),
                time.time(),
                str(log),
                MACHINE,
            ),
        )
    deadline = time.monotonic() + READY_SECONDS
    while not _answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_service(ws, service_id)
            raise EaselError(f"The prediction service did not start: {_last_line(str(log))}")
        time.sleep(0.2)
    return next(s for s in services(ws) if s.id == service_id)


def _source_root() -> str:
    """The folder that holds the ``automl`` package (the service runs the same code)."""
    return str(Path(__file__).resolve().parents[2])


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def stop_service(ws: Workspace, service_id: int) -> None:
    """Stop one of this user's services and forget it."""
    _table(ws)
    with ws._db() as db:
        row = db.execute(
            "SELECT * FROM services WHERE id=? AND owner=?", (int(service_id), ws.user)
        ).fetchone()
    if row is None:
        raise EaselError(f"There is no prediction service {service_id} of yours.")
    svc = _service(row)
    if svc.pid and svc.alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(svc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while svc.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if svc.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(svc.pid, signal.SIGKILL)
    with ws._db() as db:
        db.execute("DELETE FROM services WHERE id=?", (svc.id,))
    with contextlib.suppress(OSError):
        Path(svc.log_path).unlink()


def _readable(value: Any) -> Any:
    """A typical value for an example: a fractional number to 7 significant digits (what a
    float32 holds, so its noise goes and no digit it kept is lost); anything else as it is."""
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return float(f"{value:.7g}")
    return value


def curl_example(model: Any, url: str, team: bool) -> str:
    """A curl command that asks ``url`` for one row of typical values of ``model``'s columns
    (numbers as people write them: a float32 value 50.614999771118164 shows as 50.615)."""
    from automl.serve.rows import columns, example_row

    row = {k: _readable(v) for k, v in example_row(columns(model)).items()}
    body = json.dumps({"rows": [row]}, ensure_ascii=False)
    key = ' -H "Authorization: Bearer $EASEL_KEY"' if team else ""
    quoted = body.replace("'", "'\\''")
    return f"curl -s {url}/predict{key} -H 'Content-Type: application/json' \\\n  -d '{quoted}'"
