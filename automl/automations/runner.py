"""Adding automations (checked at the door) and running the due ones.

:func:`run_due` is the one runner: ``automl automations run-due`` calls it (from a cron line, or
from the app's background thread, :class:`BackgroundRunner`, which starts that command every
minute). It looks at every user's automations that are not paused, takes each due one with a
lease (:meth:`AutomationStore.lease`: of two runners, exactly one gets it), runs it as its owner
(with the owner's permissions and, in team mode, the administrator's source policy), and records
the outcome. The clock is a parameter, so tests say what time it is.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from automl.batch import predict_file
from automl.errors import EaselError, ParameterError, PolicyError
from automl.model import Model
from automl.words import rows_text
from automl.workspace import lineage as history
from automl.workspace.automations import (
    HOUR,
    REFRESH,
    SCORE,
    Automation,
    AutomationStore,
    every_text,
    parse_every,
)
from automl.workspace.catalog import DatasetRecord, ModelRecord, Workspace, check_name, split_ref
from automl.workspace.data import dataset_ref, read_source, resolve, save_source
from automl.workspace.db import CATALOG_ENV
from automl.workspace.users import Team

log = logging.getLogger("easel.automations")
MAX_VERSIONS_PER_RUN = 10  # new versions of one dataset scored in one run (the rest: next run)
MAX_CHAIN = 8  # scorings of scorings' answers: a version made by more is not scored again
RETRY_SECONDS = HOUR  # a failed refresh is tried again after this (or its interval, if shorter)
SCORE_RETRY_SECONDS = 600.0  # a failed scoring is tried again after this
EVERY_ENV = "EASEL_AUTOMATIONS_EVERY"  # seconds between two runs of the app's runner; 0: off
DEFAULT_EVERY = 60.0
FIRST_DELAY = 5.0  # the app's runner waits this long after the server starts
TEAM_ENV_PREFIX = "EASEL_REFRESH_"  # the only variables a refresh may read in team mode
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_NEEDS = {SCORE: ("predict", "import"), REFRESH: ("import",)}


@dataclass(frozen=True)
class Outcome:
    """What one run of one automation did."""

    automation: int
    ok: bool
    message: str


# ---------------------------------------------------------------------- which model
def model_for_automation(ws: Workspace, name: str) -> ModelRecord:
    """The version of model ``name`` an automation scores with.

    It follows the production stage: the version in the ``production`` stage, else the newest
    (``Workspace.chosen_model``, the rule of every front door)."""
    return ws.chosen_model(name)


# ---------------------------------------------------------------------- adding
def add_score(ws: Workspace, dataset: str, model: str, output: str) -> Automation:
    """Score every new version of ``dataset`` (from the next one on) with the production
    version of ``model`` and save the answers as versions of this user's dataset ``output``."""
    name = _watched(dataset)
    rec = resolve(ws, name)
    mrec = model_for_automation(ws, str(model).strip())
    if mrec.task == "timeseries":
        raise ParameterError(
            f"The model '{model}' forecasts a time series: it does not score rows one by one. "
            "Choose a model that predicts rows."
        )
    output = check_name(output, "dataset")
    if rec.owner == ws.user and output == rec.name:
        raise ParameterError(
            f"The answers cannot go to '{output}' itself: each saved version would be scored "
            f"again. Choose another name, such as {rec.name}_scored."
        )
    _check_scoring(ws, rec, ws.key(mrec), output)
    auto = AutomationStore(ws).add(
        SCORE, ws.key(rec), model=ws.key(mrec), output=output, seen_version=rec.version
    )
    return auto


def _node(owner: str, ref: str) -> tuple[str, str]:
    """A dataset as (owner, name), from how ``owner`` names it (``NAME`` or ``OWNER/NAME``)."""
    named, name = split_ref(ref)
    return (owner if named is None else named, name)


def _check_scoring(ws: Workspace, rec: DatasetRecord, model: str, output: str) -> None:
    """Refuse a scoring that another automation already does, and one whose answers would come
    back to its own dataset through other scorings (every user's, paused ones too): the
    automations would score each other's answers without end."""
    autos = [a for a in AutomationStore(ws.as_user("", admin=True)).all(paused=True)]
    scorings = [a for a in autos if a.kind == SCORE]
    source, target = (rec.owner, rec.name), (ws.user, output)
    for a in scorings:
        if (a.owner, _node(a.owner, a.dataset), a.model, a.output) == (
            ws.user,
            source,
            model,
            output,
        ):
            raise ParameterError(
                f"Automation {a.id} already scores each new version of {ws.key(rec)} with "
                f"{model} into {output}{' (paused)' if a.paused else ''}: a second one would save "
                "every answer twice. Resume or change that one instead."
            )
    feeds: dict[tuple[str, str], list[Automation]] = {}
    for a in scorings:
        feeds.setdefault(_node(a.owner, a.dataset), []).append(a)
    # the scorings that start from the new one's answers, then theirs ...: one reaching the
    # dataset it reads closes a loop
    paths: list[tuple[tuple[str, str], list[Automation]]] = [(target, [])]
    seen = {target}
    while paths:
        node, chain = paths.pop()
        for a in feeds.get(node, []):
            out = (a.owner, a.output)
            if out == source:
                steps = [output, *(a2.output for a2 in [*chain, a])]
                names = " -> ".join(f"'{n}'" for n in [ws.key(rec), *steps])
                ids = [str(a2.id) for a2 in [*chain, a]]
                which = (
                    f"automation {ids[0]} already scores"
                    if len(ids) == 1
                    else f"automations {', '.join(ids[:-1])} and {ids[-1]} already score, one "
                    "after the other,"
                )
                raise ParameterError(
                    f"The answers cannot go to '{output}': {which} each new version of "
                    f"'{output}' into '{ws.key(rec)}' ({names}), so the automations would score "
                    "each other's answers again and again, without end. Choose another name for "
                    "the answers."
                )
            if out not in seen:
                seen.add(out)
                paths.append((out, [*chain, a]))


def add_refresh(
    ws: Workspace,
    dataset: str,
    every: object,
    *,
    password_env: str | None = None,
    access_key_env: str | None = None,
    secret_key_env: str | None = None,
    now: float | None = None,
) -> Automation:
    """Read this user's dataset ``dataset`` again from its recorded source every ``every``
    (``6h``, ``1d`` ...; see :func:`parse_every`). Secrets are never stored: a database password
    or storage keys come from environment variables of the process that runs automations,
    named here."""
    seconds = parse_every(every)
    name = _watched(dataset)
    owner, _ = split_ref(name)
    if owner is not None and owner != ws.user:
        raise ParameterError(
            f"'{name}' belongs to {owner}: you can only refresh your own datasets. Ask {owner} "
            "to add the refresh."
        )
    rec = ws.get_dataset(name)
    params = {
        k: _env_name(v, flag)
        for k, v, flag in (
            ("password_env", password_env, "--password-env"),
            ("access_key_env", access_key_env, "--access-key-env"),
            ("secret_key_env", secret_key_env, "--secret-key-env"),
        )
        if v
    }
    if ("access_key_env" in params) != ("secret_key_env" in params):
        raise ParameterError(
            "Give both --access-key-env and --secret-key-env (the variables holding the storage "
            "keys), or neither."
        )
    location, options = _recorded_source(rec)
    if "***" in location and "password_env" not in params:
        raise ParameterError(
            f"The database of '{rec.name}' needs its password, which Easel never stores. Add "
            "the refresh on the command line with the environment variable that holds it: "
            f"automl automations add-refresh {rec.name} --every 1d --password-env VAR."
        )
    team = Team(ws)
    for var in params.values():
        if team.active() and not var.startswith(TEAM_ENV_PREFIX):
            raise ParameterError(
                f"In team mode a refresh reads only the server's variables whose names start "
                f"with {TEAM_ENV_PREFIX} (so the administrator chooses which secrets automations "
                f"may use). Ask them to set {TEAM_ENV_PREFIX}{var[:40]} for you."
            )
    try:  # refused by the source policy now: say so at once (other problems show at run time)
        from connectors import open_source

        open_source(location, **options, policy=_policy(ws))
    except PolicyError:
        raise
    except EaselError:
        pass
    for a in AutomationStore(ws).own():
        if a.kind == REFRESH and (a.dataset, a.every_seconds, a.params) == (
            rec.name,
            seconds,
            params,
        ):
            raise ParameterError(
                f"Automation {a.id} already refreshes {rec.name} {every_text(seconds)}"
                f"{' (paused)' if a.paused else ''}: a second one would read it twice. Resume or "
                "change that one instead."
            )
    start = time.time() if now is None else now
    return AutomationStore(ws).add(
        REFRESH, rec.name, every_seconds=seconds, params=params, next_due=start + seconds
    )


def _watched(dataset: str) -> str:
    text = str(dataset).strip().removeprefix("dataset:")
    name, sep, version = text.rpartition("@")
    if sep and version.isascii() and version.isdigit():
        raise ParameterError(
            f"An automation follows a dataset, not one version: give '{name}' without '@{version}'."
        )
    return text


def _env_name(value: str, flag: str) -> str:
    text = str(value).strip()
    if not _ENV_NAME.match(text):
        raise ParameterError(
            f"{flag} takes the name of an environment variable (letters, digits and _), such "
            f"as SALES_DB_PASSWORD, not '{text[:40]}'."
        )
    return text


def _recorded_source(rec: DatasetRecord) -> tuple[str, dict[str, Any]]:
    """Where dataset version ``rec`` was imported from, and the reading options, or a clear
    error saying why it cannot be read again."""
    lin = rec.lineage or {}
    kind = history.kind_of(lin)
    if kind != history.IMPORT:
        raise ParameterError(
            f"'{rec.name}' was made in Easel ({history.describe(lin)}), not imported, so there "
            "is no source to read again. Refresh the dataset it was made from instead."
        )
    location = str(lin.get("location") or "")
    if not location:
        if str(lin.get("source") or rec.source).startswith("uploaded file"):
            raise ParameterError(
                f"'{rec.name}' was uploaded from a browser, so Easel cannot read it again. Import "
                "it from a database, object storage or a file on the server to refresh it."
            )
        raise ParameterError(
            f"'{rec.name}' was imported before Easel recorded where to read it again. Import it "
            "once more from its source (same name), then add the refresh."
        )
    options = {
        k: v
        for k, v in dict(lin.get("options") or {}).items()
        if k in ("table", "query", "sheet", "limit", "endpoint_url")
        or (k in ("anonymous", "server_credentials") and v is True)
    }
    return location, options


def _policy(ws: Workspace) -> Any:
    team = Team(ws)
    return team.source_policy() if team.active() else None


# ---------------------------------------------------------------------- running
def run_due(
    ws: Workspace,
    now: float | None = None,
    user: str | None = None,
    runner: str | None = None,
) -> list[Outcome]:
    """Run every automation that is due (only ``user``'s when given), refreshes first so that a
    refreshed dataset is scored in the same pass. ``now`` is the clock (default: the time)."""
    clock = time.time() if now is None else float(now)
    runner = runner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    store = AutomationStore(ws.as_user("", admin=True))
    todo = [a for a in store.all() if user is None or a.owner == user]
    todo.sort(key=lambda a: (a.kind != REFRESH, a.id))
    out: list[Outcome] = []
    for auto in todo:
        try:
            due = _due(ws, auto, clock)
        except EaselError as exc:  # its dataset, model or owner is gone: say so, once
            if auto.last_ok is False and auto.last_message == str(exc):
                continue
            due = True
        if not due:
            continue
        leased = store.lease(auto.id, runner, clock)
        if leased is None:  # another runner has it
            continue
        out += _run(ws, store, leased, runner, clock)
    return out


def _owner_view(ws: Workspace, auto: Automation) -> Workspace:
    """The workspace as the automation's owner sees it, refused when they may no longer do it."""
    team = Team(ws)
    if not team.active():
        return ws.as_user(auto.owner)
    try:
        user = team.get(auto.owner)
    except ParameterError:
        raise EaselError(
            f"Its owner '{auto.owner}' is no longer a user of this Easel, so it cannot run. An "
            "administrator can delete it."
        ) from None
    missing = [p for p in _NEEDS[auto.kind] if not user.can(p)]
    if missing:
        raise EaselError(
            f"{user.name} is a {user.role} now, who may not {' or '.join(missing)} data, so it "
            "cannot run. Ask an administrator for the analyst role, or delete it."
        )
    return team.workspace(user)


def _due(ws: Workspace, auto: Automation, now: float) -> bool:
    """A refresh whose time has come; a scoring with a new version to score (and, after a
    failure, :data:`SCORE_RETRY_SECONDS` gone by)."""
    if auto.next_due is not None and auto.next_due > now:
        return False
    if auto.kind == REFRESH:
        return True
    view = _owner_view(ws, auto)
    if _followed(view, auto).version <= auto.seen_version:
        return False
    _scoring_model(view, auto)  # a deleted model: a failure, reported once
    new = [v for v in view.dataset_versions(auto.dataset) if v.version > auto.seen_version]
    if new:
        _check_chain(ws, min(new, key=lambda v: v.version), auto)  # a loop: reported once
    return True


def _check_chain(ws: Workspace, rec: DatasetRecord, auto: Automation) -> None:
    """Refuse to score dataset version ``rec`` when it was made, through scorings, from the
    automation's own answers (automations that feed each other: refused when added, but a
    catalog may hold them from before), or at the end of a chain of more than
    :data:`MAX_CHAIN` scorings."""
    current, steps = rec, 0
    while history.kind_of(current.lineage) == history.SCORED:
        if (current.owner, current.name) == (auto.owner, auto.output):
            raise EaselError(
                f"Stopped: {dataset_ref(rec, ws.as_user(auto.owner))} was made by scoring this "
                f"automation's own answers ({auto.output}), so automations here score each "
                "other's answers in a loop without end. Delete this automation or the one that "
                f"scores {auto.output}."
            )
        steps += 1
        if steps >= MAX_CHAIN:
            raise EaselError(
                f"Stopped: {dataset_ref(rec, ws.as_user(auto.owner))} comes from {MAX_CHAIN} "
                "scorings, each of the previous one's answers; Easel scores no longer chains, "
                "so automations cannot feed each other without end. Score the first dataset "
                "of the chain instead."
            )
        try:  # lineage names versions as their owner sees them
            current = resolve(ws.as_user(current.owner, admin=True), str(current.lineage["from"]))
        except (EaselError, KeyError):
            return  # the version it came from is gone: no loop can run through it


def _followed(view: Workspace, auto: Automation) -> DatasetRecord:
    """The newest version of the automation's dataset, or a clear error when it is gone."""
    try:
        return view.get_dataset(auto.dataset)
    except EaselError:
        raise EaselError(
            f"The dataset '{auto.dataset}' no longer exists (it was deleted, or is no longer "
            "shared), so the automation cannot run. Delete it, or import the dataset again under "
            "that name."
        ) from None


def _run(
    ws: Workspace, store: AutomationStore, auto: Automation, runner: str, now: float
) -> list[Outcome]:
    started = time.time()
    try:
        if not _due(ws, auto, now):
            store.release(auto.id, runner)
            return []
    except EaselError:
        pass  # recorded as the run's failure below
    try:
        view = _owner_view(ws, auto)
        if auto.kind == REFRESH:
            return [_refresh(view, store, auto, runner, now, started)]
        return _score_new(view, store, auto, runner, now, started)
    except Exception as exc:  # recorded and reported; never stops the other automations
        message = _failure(exc)
        if auto.kind == REFRESH:
            next_due = now + min(RETRY_SECONDS, auto.every_seconds or RETRY_SECONDS)
        else:
            next_due = now + SCORE_RETRY_SECONDS
        store.finish(
            auto.id, runner, started=started, now=now, ok=False, message=message,
            next_due=next_due,
        )  # fmt: skip
        return [Outcome(auto.id, False, message)]


def _failure(exc: BaseException) -> str:
    if isinstance(exc, EaselError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The server ran out of memory. Try again when it is less busy."
    if isinstance(exc, OSError):
        from automl.atomic import os_error_message

        return os_error_message(exc)
    log.error("automation failed unexpectedly:\n%s", traceback.format_exc())
    return (
        "Something went wrong inside Easel while running it; the details are in the server's "
        "log. It will be tried again."
    )


def _refresh(
    view: Workspace,
    store: AutomationStore,
    auto: Automation,
    runner: str,
    now: float,
    started: float,
) -> Outcome:
    rec = _followed(view, auto)
    location, options = _recorded_source(rec)
    secrets: dict[str, Any] = {}
    for param, arg in (
        ("password_env", "password"),
        ("access_key_env", "access_key"),
        ("secret_key_env", "secret_key"),
    ):
        var = auto.params.get(param)
        if var:
            if Team(view).active() and not var.startswith(TEAM_ENV_PREFIX):
                raise PolicyError(
                    f"In team mode a refresh reads only variables whose names start with "
                    f"{TEAM_ENV_PREFIX}; {var} does not. Delete this refresh and add it again."
                )
            if var not in os.environ:
                raise ParameterError(
                    f"The environment variable {var} (named for the refresh's secret) is not set "
                    "for the process that runs automations. Set it where the Easel server (or "
                    "the cron line) starts."
                )
            secrets[arg] = os.environ[var]
    src = read_source(location, **options, **secrets, policy=_policy(view))
    lin = rec.lineage or {}
    saved = save_source(view, src, rec.name, column_types=lin.get("column_types") or None)
    every = auto.every_seconds or HOUR
    due = (auto.next_due or now) + every
    next_due = due if due > now else now + every
    message = (
        f"Read {rows_text(saved.rows)} from {src.source}: saved as {rec.name} version "
        f"{saved.version}."
    )
    version = f"{rec.name}@{saved.version}"
    store.finish(
        auto.id, runner, started=started, now=now, ok=True, message=message, rows=saved.rows,
        version=version, next_due=next_due,
    )  # fmt: skip
    return Outcome(auto.id, True, message)


def _score_new(
    view: Workspace,
    store: AutomationStore,
    auto: Automation,
    runner: str,
    now: float,
    started: float,
) -> list[Outcome]:
    _followed(view, auto)
    new = sorted(
        (v for v in view.dataset_versions(auto.dataset) if v.version > auto.seen_version),
        key=lambda v: v.version,
    )[:MAX_VERSIONS_PER_RUN]
    if not new:
        store.release(auto.id, runner)
        return []
    out = []
    for i, rec in enumerate(new):
        saved, model_ref = score_version(view, rec, auto)
        message = (
            f"Scored {dataset_ref(rec, view)} ({rows_text(saved.rows)}) with model {model_ref}: "
            f"saved as {saved.name} version {saved.version}."
        )
        store.finish(
            auto.id, runner, started=started, now=now, ok=True, message=message,
            rows=saved.rows, version=f"{saved.name}@{saved.version}",
            seen_version=rec.version, next_due=0.0, keep_lease=i < len(new) - 1,
        )  # fmt: skip
        out.append(Outcome(auto.id, True, message))
        started = time.time()
    return out


def _scoring_model(view: Workspace, auto: Automation) -> ModelRecord:
    try:
        return model_for_automation(view, auto.model)
    except EaselError:
        raise EaselError(
            f"The model '{auto.model}' no longer exists (it was deleted or is no longer shared), "
            "so new versions cannot be scored. Delete this automation, or add one with another "
            "model."
        ) from None


def score_version(
    view: Workspace, rec: DatasetRecord, auto: Automation
) -> tuple[DatasetRecord, str]:
    """Score dataset version ``rec`` with the automation's model (its production version) and
    save the answers, exactly as ``automl predict`` writes them, as the next version of the
    automation's output dataset, with a ``scored`` lineage. Returns the saved version and the
    model version used (``NAME@VERSION``)."""
    _check_chain(view, rec, auto)
    mrec = _scoring_model(view, auto)
    model = Model.load(view.model_dir(mrec))
    model_ref = f"{view.key(mrec)}@{mrec.version}"
    folder = view.root / "predictions"
    with tempfile.TemporaryDirectory(dir=folder, prefix=".automation-") as tmp:
        out = Path(tmp) / "scored.parquet"
        predict_file(model, view.dataset_file(rec), out)
        df = pd.read_parquet(out)
    ref = dataset_ref(rec, view)
    saved = view.add_dataset(
        auto.output,
        df,
        f"predictions of model {model_ref} for {ref}",
        lineage=history.scored_lineage(ref, model_ref, auto.id),
    )
    return saved, model_ref


# ---------------------------------------------------------------------- the app's runner
class BackgroundRunner:
    """What the app starts once per server process and workspace: a thread that runs
    ``python -m automl automations run-due --workspace ROOT`` every ``every`` seconds (a process
    of its own, so scoring's memory and any crash stay out of the app). It stops when the
    workspace's catalog is gone. Other runners (a second server, a cron line) are safe beside
    it: each automation is leased."""

    def __init__(self, root: str | os.PathLike[str], every: float) -> None:
        self.root = Path(root)
        self.every = every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="easel-automations", daemon=True)

    def start(self) -> BackgroundRunner:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "automl", "automations", "run-due", "--workspace",
                str(self.root), "--quiet"]  # fmt: skip

    def run_once(self) -> int:
        log_path = self.root / "jobs" / "automations.log"
        if log_path.exists() and log_path.stat().st_size > 5_000_000:
            log_path.replace(log_path.with_suffix(".log.old"))
        source_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [source_root, os.environ.get("PYTHONPATH")]))}  # fmt: skip
        with open(log_path, "ab") as out:
            return subprocess.call(
                self.command(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip

    def _gone(self) -> bool:
        """The workspace is gone: its folder, or its SQLite catalog (a catalog on PostgreSQL,
        $EASEL_CATALOG, is not in the folder)."""
        if os.environ.get(CATALOG_ENV):
            return not self.root.is_dir()
        return not (self.root / "catalog.sqlite").is_file()

    def _loop(self) -> None:
        wait = min(FIRST_DELAY, self.every)
        while not self.stopped.wait(wait):
            wait = self.every
            if self._gone():
                return
            try:
                self.run_once()
            except Exception:  # a thread: log and go on
                log.exception("the automations runner could not start")


def background_every(env: dict[str, str] | None = None) -> float:
    """Seconds between two runs of the app's runner ($EASEL_AUTOMATIONS_EVERY; 0 turns it off)."""
    text = (env if env is not None else os.environ).get(EVERY_ENV, "").strip()
    if not text:
        return DEFAULT_EVERY
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ParameterError(
            f"{EVERY_ENV} must be a number of seconds (0 turns the app's automation runner off). "
            f"Got '{text[:40]}'."
        )
    return value


def start_background(
    root: str | os.PathLike[str], every: float | None = None
) -> BackgroundRunner | None:
    """Start the app's runner (None when it is turned off)."""
    seconds = background_every() if every is None else every
    return BackgroundRunner(root, seconds).start() if seconds > 0 else None


__all__ = [
    "BackgroundRunner",
    "Outcome",
    "add_refresh",
    "add_score",
    "background_every",
    "model_for_automation",
    "run_due",
    "score_version",
    "start_background",
]
