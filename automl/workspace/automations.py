"""Automations in the catalog: what runs without a click, when it is due, who runs it now, and
how its runs went.

Two kinds (:data:`KINDS`):

``score``
    Score every new version of a dataset with a model and save the answers as a dataset of
    their own. It is due when the dataset's newest version is newer than ``seen_version``.
``refresh``
    Read a dataset's recorded source again every ``every_seconds`` and save it as a new version.
    It is due when ``next_due`` has passed.

The runner (:mod:`automl.automations`) takes an automation with a *lease*: one ``UPDATE`` that
succeeds only when nobody holds it (or the holder's lease ran out), so two runners (the app's
background thread, a cron line, a second app server) never run the same automation at once.
Every run is recorded in ``automation_runs``; the automation keeps its last outcome for lists.

The tables are created here through the catalog's connection (``Workspace._db``); the catalog's
own tables are not changed.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from automl.errors import EaselError, ParameterError
from automl.workspace.catalog import Workspace

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS automations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL,
    dataset TEXT NOT NULL, model TEXT NOT NULL DEFAULT '', output TEXT NOT NULL DEFAULT '',
    every_seconds INTEGER, params TEXT NOT NULL DEFAULT '{}', paused INTEGER NOT NULL DEFAULT 0,
    seen_version INTEGER NOT NULL DEFAULT 0, next_due REAL, lease_until REAL,
    lease_by TEXT NOT NULL DEFAULT '', last_run REAL, last_ok INTEGER,
    last_message TEXT NOT NULL DEFAULT '', last_rows INTEGER, last_version TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS automation_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, automation INTEGER NOT NULL, started_at REAL NOT NULL,
    finished_at REAL NOT NULL, ok INTEGER NOT NULL, message TEXT NOT NULL DEFAULT '',
    rows INTEGER, version TEXT NOT NULL DEFAULT '')""",
)
SCORE = "score"
REFRESH = "refresh"
KINDS = {SCORE: "score new versions", REFRESH: "refresh"}
HOUR = 3600
DAY = 24 * HOUR
MIN_EVERY = HOUR  # a refresh every hour at most often: each one adds a dataset version
MAX_EVERY = 366 * DAY
# a runner holds an automation this long at most; one killed mid-run frees it after that
LEASE_SECONDS = 2 * HOUR
RUNS_KEPT = 50  # runs kept per automation (the oldest are dropped)
_EVERY = re.compile(r"^\s*([+-]?[0-9.eE+-]+)\s*([a-zA-Z]*)\s*$")
_UNITS = {
    "h": HOUR, "hour": HOUR, "hours": HOUR, "hr": HOUR, "hrs": HOUR,
    "d": DAY, "day": DAY, "days": DAY,
}  # fmt: skip


@dataclass(frozen=True)
class Automation:
    """One automation as listed."""

    id: int
    owner: str
    kind: str
    dataset: str  # as its owner names it (OWNER/NAME for a shared one)
    model: str  # score: the model (as its owner names it)
    output: str  # score: the dataset the answers are saved to
    every_seconds: int | None  # refresh
    params: dict[str, Any] = field(default_factory=dict)  # refresh: names of secret variables
    paused: bool = False
    seen_version: int = 0
    next_due: float | None = None
    lease_until: float | None = None
    last_run: float | None = None
    last_ok: bool | None = None  # None: never ran
    last_message: str = ""
    last_rows: int | None = None
    last_version: str = ""
    created_at: float = 0.0

    @property
    def failed(self) -> bool:
        return self.last_ok is False

    def what(self) -> str:
        """In words: what it does."""
        if self.kind == SCORE:
            return f"score each new version of {self.dataset} with {self.model}, into {self.output}"
        return f"refresh {self.dataset} {every_text(self.every_seconds or 0)}"

    def status(self) -> str:
        if self.paused:
            return "paused"
        if self.last_ok is None:
            return "waiting for its first run"
        return "last run worked" if self.last_ok else "last run failed"


@dataclass(frozen=True)
class Run:
    automation: int
    started_at: float
    finished_at: float
    ok: bool
    message: str
    rows: int | None
    version: str


def every_text(seconds: int) -> str:
    """``every 6 hours``, ``every day``, ``every 2 days``."""
    if seconds % DAY == 0:
        n, unit = seconds // DAY, "day"
    else:
        n, unit = seconds // HOUR, "hour"
    return f"every {unit}" if n == 1 else f"every {n:,} {unit}s"


def parse_every(text: object) -> int:
    """How often a refresh runs, from ``6h``, ``6 hours``, ``1d`` or ``2 days``, in seconds;
    at least an hour, at most a year; anything else is a :class:`ParameterError`."""
    shown = str(text)[:40]
    m = _EVERY.match(str(text)[:100])
    unit = _UNITS.get(m.group(2).lower()) if m else None
    try:
        n = float(m.group(1)) if m else math.nan
    except ValueError:
        n = math.nan
    if m is None or unit is None or not math.isfinite(n):
        raise ParameterError(
            f"'{shown}' is not a refresh interval. Write a number of hours or days, such as "
            "6h, 12 hours, 1d or 7 days."
        )
    if n <= 0 or n != int(n):
        raise ParameterError(
            f"The refresh interval must be a whole number of hours or days, 1 or more. Got "
            f"'{shown}'."
        )
    seconds = int(n) * unit if n * unit <= MAX_EVERY else MAX_EVERY + 1
    if not MIN_EVERY <= seconds <= MAX_EVERY:
        raise ParameterError(
            f"A refresh can run at most every 366 days. Got '{shown}': choose a shorter "
            "interval, or add the version by hand when it is needed."
        )
    return seconds


def _tables(ws: Workspace) -> None:
    """Create the tables when missing (each time: a restored catalog may predate them). A
    catalog on PostgreSQL has them from its first revision (automl/workspace/migrations)."""
    if ws.shared_catalog:
        return
    with ws._db() as db:
        for statement in _SCHEMA:
            db.execute(statement)


def _record(r: Any) -> Automation:
    d = dict(r)
    return Automation(
        id=int(d["id"]),
        owner=d["owner"],
        kind=d["kind"],
        dataset=d["dataset"],
        model=d["model"],
        output=d["output"],
        every_seconds=d["every_seconds"],
        params=json.loads(d["params"] or "{}"),
        paused=bool(d["paused"]),
        seen_version=int(d["seen_version"]),
        next_due=d["next_due"],
        lease_until=d["lease_until"],
        last_run=d["last_run"],
        last_ok=None if d["last_ok"] is None else bool(d["last_ok"]),
        last_message=d["last_message"],
        last_rows=d["last_rows"],
        last_version=d["last_version"],
        created_at=d["created_at"],
    )


class AutomationStore:
    """The automations of one user's view of the workspace (``ws.user``): they add, list,
    pause, resume and delete their own; another user's automation reads as missing. The runner
    uses :meth:`all`, :meth:`lease` and :meth:`finish`, which see every user's."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        _tables(ws)

    # ------------------------------------------------------------------ a user's own
    def add(
        self,
        kind: str,
        dataset: str,
        *,
        model: str = "",
        output: str = "",
        every_seconds: int | None = None,
        params: dict[str, Any] | None = None,
        seen_version: int = 0,
        next_due: float | None = None,
    ) -> Automation:
        """Record a checked automation (the runner's ``add_score`` and ``add_refresh`` check
        what it names)."""
        if kind not in KINDS:
            raise ParameterError(f"Unknown kind of automation {kind!r}: use score or refresh.")
        with self.ws._db() as db:
            number = db.insert(
                "INSERT INTO automations (owner, kind, dataset, model, output, every_seconds, "
                "params, seen_version, next_due, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    self.ws.user,
                    kind,
                    dataset,
                    model,
                    output,
                    every_seconds,
                    json.dumps(params or {}),
                    seen_version,
                    next_due,
                    time.time(),
                ),
            )
        self.ws.audit("automation add", f"automation {number}", KINDS[kind])
        return self.get(number)

    def own(self) -> list[Automation]:
        """This user's automations, oldest first."""
        with self.ws._db() as db:
            rows = db.execute(
                "SELECT * FROM automations WHERE owner=? ORDER BY id", (self.ws.user,)
            ).fetchall()
        return [_record(r) for r in rows]

    def failed(self) -> list[Automation]:
        """This user's automations whose last run failed (what the Home page shows)."""
        return [a for a in self.own() if a.failed and not a.paused]

    def get(self, number: object) -> Automation:
        auto_id = _number(number)
        with self.ws._db() as db:
            r = db.execute("SELECT * FROM automations WHERE id=?", (auto_id,)).fetchone()
        if r is None or r["owner"] != self.ws.user:
            raise EaselError(
                f"There is no automation {auto_id}. See yours with `automl automations list`."
            )
        return _record(r)

    def set_paused(self, number: object, paused: bool) -> Automation:
        a = self.get(number)
        with self.ws._db() as db:
            db.execute("UPDATE automations SET paused=? WHERE id=?", (int(paused), a.id))
        self.ws.audit("automation pause" if paused else "automation resume", f"automation {a.id}")
        return self.get(a.id)

    def delete(self, number: object) -> None:
        a = self.get(number)
        with self.ws._db() as db:
            db.execute("DELETE FROM automations WHERE id=?", (a.id,))
            db.execute("DELETE FROM automation_runs WHERE automation=?", (a.id,))
        self.ws.audit("automation delete", f"automation {a.id}", a.what())

    def runs(self, number: object, limit: int = 20) -> list[Run]:
        """The last runs of one of this user's automations, newest first."""
        a = self.get(number)
        with self.ws._db() as db:
            rows = db.execute(
                "SELECT * FROM automation_runs WHERE automation=? ORDER BY id DESC LIMIT ?",
                (a.id, int(limit)),
            ).fetchall()
        return [
            Run(
                r["automation"], r["started_at"], r["finished_at"], bool(r["ok"]), r["message"],
                r["rows"], r["version"],
            )
            for r in rows
        ]  # fmt: skip

    # ------------------------------------------------------------------ the runner's
    def all(self, paused: bool = False) -> list[Automation]:
        """Every user's automations that are not paused (with ``paused``: and the paused ones),
        oldest first."""
        where = "" if paused else "WHERE paused=0"
        with self.ws._db() as db:
            rows = db.execute(f"SELECT * FROM automations {where} ORDER BY id").fetchall()
        return [_record(r) for r in rows]

    def lease(self, auto_id: int, runner: str, now: float) -> Automation | None:
        """Take automation ``auto_id`` for ``runner`` until ``now + LEASE_SECONDS``: one
        ``UPDATE`` that only succeeds when it is not paused and nobody holds it, so of two
        runners asking at once exactly one gets it. Returns the automation as it is now (the
        caller checks again that it is due), or None."""
        with self.ws._db(lock=True) as db:
            cur = db.execute(
                "UPDATE automations SET lease_until=?, lease_by=? WHERE id=? AND paused=0 AND "
                "(lease_until IS NULL OR lease_until<=?)",
                (now + LEASE_SECONDS, runner, auto_id, now),
            )
            if cur.rowcount != 1:
                return None
            r = db.execute("SELECT * FROM automations WHERE id=?", (auto_id,)).fetchone()
        return _record(r)

    def release(self, auto_id: int, runner: str) -> None:
        """Give the lease back without recording a run (the automation was not due after all)."""
        with self.ws._db() as db:
            db.execute(
                "UPDATE automations SET lease_until=NULL, lease_by='' WHERE id=? AND lease_by=?",
                (auto_id, runner),
            )

    def finish(
        self,
        auto_id: int,
        runner: str,
        *,
        started: float,
        now: float,
        ok: bool,
        message: str,
        rows: int | None = None,
        version: str = "",
        seen_version: int | None = None,
        next_due: float | None = None,
        keep_lease: bool = False,
    ) -> None:
        """Record a run and give the lease back (in one transaction; ``keep_lease``: the runner
        goes on with the next version)."""
        sets = "last_run=?, last_ok=?, last_message=?"
        if not keep_lease:
            sets += ", lease_until=NULL, lease_by=''"
        args: list[Any] = [now, int(ok), message[:2000]]
        if ok:
            sets += ", last_rows=?, last_version=?"
            args += [rows, version]
        if seen_version is not None:
            sets += ", seen_version=?"
            args.append(seen_version)
        if next_due is not None:
            sets += ", next_due=?"
            args.append(next_due)
        with self.ws._db(lock=True) as db:
            db.execute(
                f"UPDATE automations SET {sets} WHERE id=? AND lease_by=?",
                (*args, auto_id, runner),
            )
            db.execute(
                "INSERT INTO automation_runs (automation, started_at, finished_at, ok, message, "
                "rows, version) VALUES (?,?,?,?,?,?,?)",
                (auto_id, started, now, int(ok), message[:2000], rows, version),
            )
            db.execute(
                "DELETE FROM automation_runs WHERE automation=? AND id NOT IN (SELECT id FROM "
                "automation_runs WHERE automation=? ORDER BY id DESC LIMIT ?)",
                (auto_id, auto_id, RUNS_KEPT),
            )


def _number(value: object) -> int:
    text = str(value).strip().lstrip("#")
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise ParameterError(
            f"'{str(value)[:24]}' is not an automation number. See the numbers with "
            "`automl automations list`."
        )
    return int(text)


__all__ = [
    "DAY",
    "HOUR",
    "KINDS",
    "LEASE_SECONDS",
    "REFRESH",
    "SCORE",
    "Automation",
    "AutomationStore",
    "Run",
    "every_text",
    "parse_every",
]
