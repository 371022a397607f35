"""The workspace: datasets (Parquet), models (artifacts) and jobs under one folder, with a
catalog that several processes (the app, background jobs, the CLI) can share safely: the folder's
SQLite file, or a PostgreSQL database shared by several app servers ($EASEL_CATALOG; the
connection layer is :mod:`automl.workspace.db`, the schema :mod:`automl.workspace.migrations`)."""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from automl.artifact import parquet_safe
from automl.atomic import check_folder, sweep_stale, temp_path
from automl.errors import DataError, EaselError, ParameterError
from automl.workspace.db import CATALOG_ENV, Catalog, CatalogConnection, Row, check_catalog_url
from automl.workspace.store import STORE_ENV, Store, open_store

ENV_VAR = "EASEL_WORKSPACE"
# Letters (any alphabet), digits, spaces and _ . - + & ( ); never '/', '\\' (paths), '@' (it
# separates NAME@VERSION), control characters, or a leading dot, space or dash.
_NAME = re.compile(r"[\w(][\w .+&()\-]{0,63}")
# The catalog's schema version: the newest Alembic revision in automl/workspace/migrations
# (its versions/ folder holds the tables and every upgrade; SQLite catalogs also keep the number
# in PRAGMA user_version). 0 or 1: the catalogs before it was declared (their tables are
# upgraded by looking at their columns); 2: model stages (the models' `stage` column, at most
# one production version per name); 3: the version of the dataset a model was built from (the
# models' `dataset_version`; NULL for models recorded before it, and for imported ones); 4: the
# machine of a build's process (the jobs' `host`). A catalog of a newer version is refused: a
# newer Easel wrote it.
CATALOG_SCHEMA = 4
# A model version's stage: new versions are drafts; at most one version of a name is in
# production, and promoting another one moves it to archived (roll back: promote it again).
STAGES = ("draft", "staging", "production", "archived")
EVERYONE = "*"  # a share's grantee meaning every user
KINDS = ("dataset", "model")  # what can be shared
_DAMAGED = ("file is not a database", "database disk image is malformed", "malformed")
_ACTIVE_JOBS = (
    "SELECT id, status, pid, pid_start, created_at, host FROM jobs "
    "WHERE status IN ('queued', 'running') ORDER BY id"
)
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
STORE_SETTING = "store"  # the settings key naming an S3 store the catalog's files are in


@dataclass
class DatasetRecord:
    name: str
    version: int
    path: str
    source: str
    rows: int
    columns: int
    schema: dict[str, str]
    created_at: float
    lineage: dict[str, Any] = field(default_factory=dict)
    owner: str = ""  # the user who made it ('' in personal mode)

    @property
    def ref(self) -> str:
        """``NAME@VERSION``, or ``OWNER/NAME@VERSION`` for another user's dataset."""
        return (
            f"{self.owner}/{self.name}@{self.version}"
            if self.owner
            else f"{self.name}@{self.version}"
        )


@dataclass
class ModelRecord:
    name: str
    version: int
    path: str
    dataset: str
    target: str
    task: str
    metric: str
    score: float | None
    created_at: float
    owner: str = ""  # the user who built it ('' in personal mode)
    stage: str = "draft"  # draft, staging, production or archived (see STAGES)
    # the version of ``dataset`` the build read (None: imported, or built before catalog schema 3)
    dataset_version: int | None = None

    @property
    def dataset_ref(self) -> str:
        """The dataset it was built from as people read it: ``NAME@VERSION`` when the catalog
        knows the version, else what was recorded (an older record's name, an import's
        origin)."""
        if self.dataset_version is None:
            return self.dataset
        return f"{self.dataset}@{self.dataset_version}"


@dataclass
class StageChange:
    """What a promotion did: ``version`` of ``name`` went from ``before`` to ``stage``, and
    ``archived`` names the version that left production for it (None when there was none)."""

    name: str
    version: int
    stage: str
    before: str
    archived: int | None = None


@dataclass
class BatchRun:
    """A batch prediction made in the app: with which model version, by whom, when, on which
    file, and its drift report (``automl.drift.DriftReport.to_dict()``; {} when unreadable)."""

    at: float
    user: str
    version: int
    source: str
    rows: int
    verdict: str
    drift: dict[str, Any]


MAX_STORED_DRIFT_COLUMNS = 50  # a run keeps the columns that moved most, not thousands


def split_ref(ref: str) -> tuple[str | None, str]:
    """``OWNER/NAME`` -> (OWNER, NAME); a plain ``NAME`` -> (None, NAME). Names never hold '/'."""
    owner, sep, name = str(ref).strip().partition("/")
    return (owner.strip(), name.strip()) if sep else (None, owner.strip())


MODEL_PREFIX = "model:"  # how a front door names a workspace model instead of a folder


def model_reference(ref: str) -> tuple[str, int | None] | None:
    """``model:NAME``, ``model:NAME:VERSION`` or ``model:NAME@VERSION`` -> (NAME, VERSION);
    None for anything else (a model folder). NAME may be ``OWNER/NAME``. Which version a name
    alone means is :meth:`Workspace.chosen_model`'s rule."""
    text = str(ref).strip()
    if not text.startswith(MODEL_PREFIX):
        return None
    body = text[len(MODEL_PREFIX) :].strip()
    for sep in (":", "@"):
        name, found, ver = body.rpartition(sep)
        if found and ver.strip().isascii() and ver.strip().isdigit() and len(ver.strip()) <= 9:
            return name.strip(), int(ver)
    if not body:
        raise ParameterError(
            "Name the model after 'model:', e.g. model:churn or model:churn:2 for version 2."
        )
    return body, None


def zip_model_folder(zf: zipfile.ZipFile, folder: Path, prefix: str) -> int:
    """Add a model folder's files to an open zip archive under ``prefix/`` (its own regular
    files only: a link is not followed, so nothing outside the folder is ever packed); returns
    how many files were added. The one writer of model zips (the catalog's export and the
    export bundle of :mod:`automl.bundle`)."""
    added = 0
    for f in sorted(folder.rglob("*")):
        if f.is_symlink() or not f.is_file():
            continue
        zf.write(f, f"{prefix}/{f.relative_to(folder).as_posix()}")
        added += 1
    return added


def check_name(name: str, what: str) -> str:
    name = str(name).strip()
    if not _NAME.fullmatch(name):
        raise ParameterError(
            f"The {what} name {name[:80]!r} is not allowed: use 1 to 64 letters, digits, spaces "
            "and the signs _ . - + & ( ), starting with a letter, a digit, '_' or '('."
        )
    return name


def fit_name(text: str, otherwise: str = "model") -> str:
    """``text`` made into an allowed name (see ``check_name``): markup and other signs left out,
    at most 64 characters; ``otherwise`` when nothing is left (a default the user may edit)."""
    words = re.sub(r"<[^<>]{0,200}>", " ", str(text)[:1000])  # markup such as <b> goes
    kept = re.sub(r"\s+", " ", re.sub(r"[^\w .+&()\-]", " ", words))
    kept = kept.lstrip(" .+&)-")[:64].strip()
    return kept if _NAME.fullmatch(kept) else otherwise


def newer_catalog(path: Path | str, found: int | str) -> str:
    """The message for a catalog written by a newer Easel (schema ``found``)."""
    return (
        f"The workspace catalog {path} was written by a newer Easel (catalog schema {found}; "
        f"this Easel reads schema {CATALOG_SCHEMA} and older). Upgrade Easel to use this "
        "workspace."
    )


def check_stage(stage: str) -> str:
    """A stage a version can be promoted to (``draft`` is only where new versions start)."""
    stage = str(stage).strip().lower()
    if stage not in STAGES or stage == "draft":
        raise ParameterError(
            f"'{str(stage)[:40]}' is not a stage a model version can be moved to: choose "
            "staging, production or archived (new versions start as drafts)."
        )
    return stage


class Workspace:
    """One user's view of the workspace: the datasets, models and jobs they own, and what other
    users shared with them (read-only). ``root`` defaults to $EASEL_WORKSPACE or ./workspace.
    The catalog is ``root``/catalog.sqlite, or the PostgreSQL database ``catalog`` names
    (default $EASEL_CATALOG, e.g. ``postgresql://easel@db:5432/easel``), which several app
    servers and workers sharing the folder ``root`` can use at once. Datasets and model
    folders are kept in ``root``, or on the S3 store ``store`` names (default $EASEL_STORE,
    e.g. ``s3://team-bucket/easel``; ``root`` is then this computer's cache of it: see
    :mod:`automl.workspace.store`).

    ``user`` is the owner of everything this object creates and lists ('' in personal mode, where
    there are no users); ``admin`` lets it read every user's objects. Another user's object is
    named ``OWNER/NAME``; it is reachable only when shared with this user or with everyone, and
    an unreachable object reads exactly like one that does not exist.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        user: str | None = None,
        admin: bool = False,
        catalog: str | None = None,
        store: str | None = None,
    ) -> None:
        self.root = Path(root or os.environ.get(ENV_VAR) or "workspace").resolve()
        self.user = str(user or "")
        self.admin = bool(admin)
        url = catalog or os.environ.get(CATALOG_ENV) or None
        where = "--catalog" if catalog else f"${CATALOG_ENV}"
        self._catalog = Catalog(
            str(self.catalog_path), check_catalog_url(url, where) if url else None
        )
        if self.root.exists() and not self.root.is_dir():
            raise ParameterError(
                f"The workspace {self.root} is a file, not a folder. Give --workspace (or "
                f"{ENV_VAR}) a folder; it is created when missing."
            )
        for sub in ("", "datasets", "models", "jobs", "uploads", "predictions"):
            check_folder(self.root / sub, "workspace folder")
        for sub in ("datasets", "models", "predictions"):  # temporaries of crashed writers
            sweep_stale(self.root / sub)
        self.store: Store = open_store(self.root, store)
        self._check_catalog_file()
        self._migrate()
        self._check_store()

    def as_user(self, user: str | None, admin: bool = False) -> Workspace:
        """The same workspace seen by another user (no folders or tables touched)."""
        ws = object.__new__(Workspace)
        ws.root, ws.user, ws.admin = self.root, str(user or ""), bool(admin)
        ws._catalog = self._catalog
        ws.store = self.store
        return ws

    # ------------------------------------------------------------------ catalog
    @property
    def catalog_path(self) -> Path:
        """The SQLite catalog file (unused when the catalog is on PostgreSQL)."""
        return self.root / "catalog.sqlite"

    @property
    def catalog_where(self) -> str:
        """The catalog as messages name it: its file, or its PostgreSQL address without the
        password."""
        return self._catalog.where

    @property
    def shared_catalog(self) -> bool:
        """Whether the catalog is on PostgreSQL (not the workspace folder's SQLite file)."""
        return self._catalog.dialect != "sqlite"

    def _check_catalog_file(self) -> None:
        path = self.catalog_path
        if self.shared_catalog:
            return
        if path.exists() and path.stat().st_size == 0:
            held = sum(1 for _ in (self.root / "datasets").glob("*.parquet")) + sum(
                1 for _ in (self.root / "models").iterdir()
            )
            if held:
                raise DataError(
                    f"The workspace catalog {path} is empty, but the workspace holds {held} "
                    "dataset and model files: the catalog was lost or truncated. Restore the "
                    "workspace from a backup (automl workspace restore FILE), or move the "
                    "workspace folder aside and start a new one."
                )

    def _check_store(self) -> None:
        """The catalog names the S3 store its files are in (the setting ``store``): opening it
        with another store, or none, is refused, since no file would be found. A catalog that
        already holds files in its folder is not moved to a store."""
        store = self.store.where if self.store.shared else None
        recorded = self.get_setting(STORE_SETTING)
        if recorded == store:
            return
        if recorded is not None:
            now = f"${STORE_ENV} is {store}" if store else f"${STORE_ENV} is not set"
            raise DataError(
                f"The datasets and models of this workspace's catalog ({self.catalog_where}) "
                f"are kept in the store {recorded}, but {now}. Set {STORE_ENV}={recorded} "
                "(with the same catalog) on every server and command of this workspace."
            )
        with self._db(lock=True) as db:
            held = sum(
                int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in ("datasets", "models")
            )
            found = db.execute(
                "SELECT value FROM settings WHERE key=?", (STORE_SETTING,)
            ).fetchone()
            if found is None and held:
                raise DataError(
                    f"This workspace's catalog ({self.catalog_where}) already holds datasets "
                    f"and models kept in the folder {self.root}, so it cannot move to the store "
                    f"{store}. Unset {STORE_ENV} for this workspace, or start a new workspace "
                    "(another folder or catalog) for the shared store."
                )
            if found is None:
                db.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?)", (STORE_SETTING, store)
                )
            elif found[0] != store:
                raise DataError(
                    f"The datasets and models of this workspace's catalog are kept in the "
                    f"store {found[0]}, but ${STORE_ENV} is {store}. Set {STORE_ENV}="
                    f"{found[0]} on every server and command of this workspace."
                )

    def _damaged(self, exc: sqlite3.DatabaseError) -> DataError:
        return DataError(
            f"The workspace catalog {self.catalog_path} is damaged and cannot be read "
            f"({exc}). Restore the workspace from a backup (automl workspace restore FILE), "
            "or move the workspace folder aside and start a new one."
        )

    @contextmanager
    def _db(self, lock: bool = False) -> Iterator[CatalogConnection]:
        """A catalog connection; one transaction, committed on success. ``lock`` takes the write
        lock at once (SQLite's BEGIN IMMEDIATE, a PostgreSQL advisory lock), so a
        read-then-write (the next version number, then the row) cannot interleave with another
        process doing the same. See :mod:`automl.workspace.db`."""
        try:
            with self._catalog.transaction(lock, self._damaged) as db:
                yield db
        except sqlite3.DatabaseError as exc:
            if any(m in str(exc) for m in _DAMAGED):
                raise self._damaged(exc) from None
            raise

    def _migrate(self) -> None:
        """Create the tables, or upgrade an older catalog to :data:`CATALOG_SCHEMA` (the
        Alembic revisions of :mod:`automl.workspace.migrations`), under the catalog's write
        lock. A catalog of a newer schema is refused."""
        from automl.workspace import migrations

        def newer(found: str) -> DataError:
            return DataError(newer_catalog(self.catalog_where, found))

        with self._db(lock=True) as db:
            if migrations.check(db, newer):
                return
        try:
            with self._catalog.upgrading() as up:
                migrations.upgrade(up, newer)
        except sqlite3.DatabaseError as exc:
            if any(m in str(exc) for m in _DAMAGED):
                raise self._damaged(exc) from None
            raise

    def audit(
        self,
        action: str,
        target: str = "",
        detail: str = "",
        ok: bool = True,
        user: str | None = None,
    ) -> None:
        """Add a line to the audit log (who did what to which object, and whether it worked)."""
        with self._db() as db:
            db.execute(
                'INSERT INTO audit (at, "user", action, target, detail, ok) VALUES (?,?,?,?,?,?)',
                (time.time(), self.user if user is None else user, action, target, detail, int(ok)),
            )

    def key(self, rec: DatasetRecord | ModelRecord) -> str:
        """How this user names ``rec``: ``NAME`` for their own, ``OWNER/NAME`` for a shared one."""
        return rec.name if rec.owner == self.user else f"{rec.owner}/{rec.name}"

    # ------------------------------------------------------------------ access
    def _readable_owner(self, kind: str, ref: str) -> tuple[str, str] | None:
        """(owner, name) for a reference this user may read, or None (shown as 'no such')."""
        owner, name = split_ref(ref)
        if owner is None or owner == self.user:
            return self.user, name
        if self.admin:
            return owner, name
        with self._db() as db:
            row = db.execute(
                "SELECT 1 FROM shares WHERE kind=? AND owner=? AND name=? AND grantee IN (?,?)",
                (kind, owner, name, self.user, EVERYONE),
            ).fetchone()
        return (owner, name) if row else None

    def _own(self, kind: str, ref: str) -> str:
        """The name of one of this user's own objects; changing another's is refused."""
        owner, name = split_ref(ref)
        if owner is not None and owner != self.user:
            with self._db() as db:
                known = db.execute("SELECT 1 FROM users WHERE name=?", (owner,)).fetchone()
            if not known:  # not OWNER/NAME: a name with a '/' in it
                check_name(ref, kind)
            raise ParameterError(
                f"'{ref}' belongs to {owner}: you can only change your own {kind}s. Ask {owner} "
                "to do it, or make a copy of your own."
            )
        return name

    # ------------------------------------------------------------------ datasets
    def add_dataset(
        self,
        name: str,
        df: pd.DataFrame,
        source: str,
        lineage: dict[str, Any] | None = None,
    ) -> DatasetRecord:
        """Save ``df`` as the next version of this user's dataset ``name``.

        ``source`` describes where the rows came from, in words and without credentials;
        ``lineage`` records how a derived dataset was made (join, cleaning, recipe) as JSON.
        The version number is taken and the row written in one locked transaction, so two
        imports under the same name at once get two versions; a failed write leaves no file.
        """
        name = check_name(self._own("dataset", name), "dataset")
        if len(df) == 0:
            raise DataError("The dataset has no rows; nothing was saved.")
        df = parquet_safe(df.rename(columns=str))
        path = self.root / "datasets" / f"{uuid.uuid4().hex}.parquet"
        tmp = temp_path(path)  # named so that a later sweep knows when its writer is gone
        try:
            # no per-column statistics: Easel never filters on read, and writing is 20-25% faster
            df.to_parquet(tmp, index=False, write_statistics=False)
            os.replace(tmp, path)
            key = str(path.relative_to(self.root))
            self.store.put(key)  # uploaded before the catalog names it (an S3 store)
            with self._db(lock=True) as db:
                version = self._next_version(db, "datasets", name)
                rec = DatasetRecord(
                    name,
                    version,
                    key,
                    source,
                    len(df),
                    df.shape[1],
                    {str(c): str(t) for c, t in df.dtypes.items()},
                    time.time(),
                    lineage or {},
                    self.user,
                )
                db.execute(
                    "INSERT INTO datasets (owner, name, version, path, source, rows, columns, "
                    "schema, created_at, lineage) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        rec.owner,
                        rec.name,
                        rec.version,
                        rec.path,
                        rec.source,
                        rec.rows,
                        rec.columns,
                        json.dumps(rec.schema),
                        rec.created_at,
                        json.dumps(rec.lineage, default=str),
                    ),
                )
        except BaseException:
            tmp.unlink(missing_ok=True)
            self._forget(str(path.relative_to(self.root)))
            raise
        self.audit("import", f"dataset {name}@{rec.version}", f"{rec.rows} rows from {source}")
        return rec

    def _forget(self, key: str) -> None:
        """Remove a file that the catalog does not name (a save that failed half-way)."""
        with contextlib.suppress(EaselError):  # the failure being reported is the one to see
            self.store.remove(key)

    def dataset_file(self, rec: DatasetRecord) -> Path:
        """A local Parquet file with the rows of a dataset record this workspace returned:
        the workspace folder's, or this computer's copy of the S3 store's."""
        return self.store.local(rec.path)

    def has_file(self, rec: DatasetRecord) -> bool:
        """Whether the dataset's file is in the store (a file removed by hand is not)."""
        return self.store.exists(rec.path)

    def _next_version(self, db: CatalogConnection, table: str, name: str) -> int:
        row = db.execute(
            f"SELECT MAX(version) FROM {table} WHERE owner=? AND name=?", (self.user, name)
        ).fetchone()
        return int(row[0] or 0) + 1

    def list_datasets(self) -> list[DatasetRecord]:
        """The newest version of each of this user's datasets, newest first."""
        return self._newest("datasets", "owner=?", (self.user,))

    def shared_datasets(self) -> list[DatasetRecord]:
        """The newest version of each dataset other users shared with this one."""
        return self._newest("datasets", *self._shared_where("dataset"))

    def _shared_where(self, kind: str) -> tuple[str, tuple[Any, ...]]:
        return (
            "owner<>? AND EXISTS (SELECT 1 FROM shares s WHERE s.kind=? AND s.owner=d.owner "
            "AND s.name=d.name AND s.grantee IN (?,?))",
            (self.user, kind, self.user, EVERYONE),
        )

    def _newest(self, table: str, where: str, args: tuple[Any, ...]) -> list[Any]:
        with self._db() as db:
            rows = db.execute(
                f"SELECT * FROM {table} d WHERE {where} AND version = (SELECT MAX(version) FROM "
                f"{table} WHERE owner=d.owner AND name=d.name) ORDER BY created_at DESC",
                args,
            ).fetchall()
        convert = self._dataset if table == "datasets" else self._model
        return [convert(r) for r in rows]

    @staticmethod
    def _dataset(r: Row) -> DatasetRecord:
        d = dict(r)
        return DatasetRecord(
            **{**d, "schema": json.loads(d["schema"]), "lineage": json.loads(d["lineage"] or "{}")}
        )

    @staticmethod
    def _model(r: Row) -> ModelRecord:
        return ModelRecord(**dict(r))

    def _get(self, kind: str, ref: str, version: int | None) -> Row | None:
        table = f"{kind}s"
        found = self._readable_owner(kind, ref)
        if found is None:
            return None
        owner, name = found
        if version is not None and not 0 <= version < 2**63:  # more than SQLite holds: none
            return None
        with self._db() as db:
            if version is None:
                return db.execute(
                    f"SELECT * FROM {table} WHERE owner=? AND name=? ORDER BY version DESC LIMIT 1",
                    (owner, name),
                ).fetchone()
            return db.execute(
                f"SELECT * FROM {table} WHERE owner=? AND name=? AND version=?",
                (owner, name, version),
            ).fetchone()

    def get_dataset(self, name: str, version: int | None = None) -> DatasetRecord:
        """A dataset this user may read: ``NAME`` (their own) or ``OWNER/NAME`` (shared)."""
        r = self._get("dataset", name, version)
        if r is None:
            have = self.dataset_versions(name) if version is not None else []
            if have:
                versions = ", ".join(str(v.version) for v in have)
                raise EaselError(
                    f"Dataset '{name}' has no version {version}. Versions: {versions}."
                )
            names = [d.name for d in self.list_datasets()]
            near = difflib.get_close_matches(name, names, n=3)
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise EaselError(f"There is no dataset named '{name}'.{hint} Import it first.")
        return self._dataset(r)

    def dataset_versions(self, name: str) -> list[DatasetRecord]:
        """Every version of ``name`` (own, or shared), newest first."""
        return [self._dataset(r) for r in self._versions("dataset", name)]

    def _versions(self, kind: str, ref: str) -> list[Row]:
        found = self._readable_owner(kind, ref)
        if found is None:
            return []
        with self._db() as db:
            return db.execute(
                f"SELECT * FROM {kind}s WHERE owner=? AND name=? ORDER BY version DESC", found
            ).fetchall()

    def preview_dataset(
        self, name: str, version: int | None = None, rows: int = 20
    ) -> pd.DataFrame:
        """The first ``rows`` rows, read without loading the whole dataset."""
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.dataset_file(self.get_dataset(name, version)))
        batches = pf.iter_batches(batch_size=max(1, rows))
        first = next(batches, None)
        return first.to_pandas() if first is not None else pd.DataFrame()

    def resolve_dataset(self, ref: str) -> tuple[str, int | None]:
        """``NAME`` or ``NAME@VERSION`` (as written after ``dataset:``) -> (name, version);
        ``NAME`` may be ``OWNER/NAME`` for a dataset shared with this user."""
        name, sep, ver = ref.strip().rpartition("@")
        if sep and ver.isascii() and ver.isdigit():
            if len(ver) > 9:
                raise ParameterError(
                    f"'{name}': version {ver[:12]}... is not a version number Easel could have "
                    "given. Versions count 1, 2, 3, ...; see them with `automl datasets show NAME`."
                )
            return name, int(ver)
        return ref.strip(), None

    def load_dataset(self, name: str, version: int | None = None) -> pd.DataFrame:
        return self.read(self.get_dataset(name, version))

    def read(self, rec: DatasetRecord) -> pd.DataFrame:
        """The rows of a dataset record this workspace returned (so already allowed)."""
        return pd.read_parquet(self.dataset_file(rec))

    def delete_dataset(self, name: str, version: int | None = None) -> int:
        """Delete one version, or every version, of one of this user's datasets (models trained
        on it are kept). Returns the number of versions deleted."""
        name = self._own("dataset", name)
        self.get_dataset(name, version)  # clear error when it does not exist
        where, args = "owner=? AND name=?", (self.user, name)
        args_t: tuple[Any, ...] = args
        if version is not None:
            where, args_t = where + " AND version=?", (*args, version)
        with self._db() as db:
            rows = db.execute(f"SELECT path FROM datasets WHERE {where}", args_t).fetchall()
            db.execute(f"DELETE FROM datasets WHERE {where}", args_t)
            left = db.execute(
                "SELECT 1 FROM datasets WHERE owner=? AND name=?", (self.user, name)
            ).fetchone()
            if not left:
                db.execute(
                    "DELETE FROM shares WHERE kind='dataset' AND owner=? AND name=?",
                    (self.user, name),
                )
        what = f"dataset {name}" + ("" if version is None else f"@{version}")
        self.audit("delete", what, f"{len(rows)} version(s)")
        self._remove_files(what, [r["path"] for r in rows])
        return len(rows)

    def _remove_files(self, what: str, keys: list[str]) -> None:
        """Remove the files of deleted catalog rows; on a store that cannot be reached, say
        that the deletion happened but its files were left."""
        for key in keys:
            try:
                self.store.remove(key)
            except EaselError as exc:
                raise DataError(
                    f"{what.capitalize()} was deleted, but its files were left in the store: "
                    f"{exc} They are no longer used and can be removed from the bucket by hand."
                ) from None

    # ------------------------------------------------------------------ models
    def new_model_path(self, name: str) -> tuple[str, int, Path]:
        """A name check, the version the model will probably get (the final number is taken
        when it is added), and a fresh folder path to save it to."""
        name = check_name(self._own("model", name), "model")
        with self._db() as db:
            version = self._next_version(db, "models", name)
        return name, version, self.root / "models" / f"{uuid.uuid4().hex}"

    def add_model(
        self,
        name: str,
        version: int,
        path: Path,
        dataset: str,
        model: Any,
        action: str = "build",
        dataset_version: int | None = None,
    ) -> ModelRecord:
        """Record a saved model as the next version of ``name``. The version is taken in the
        same locked transaction as the insert (``version`` is only the expected number), so two
        builds with one model name both succeed. ``action`` is what the audit log calls it
        ("build", or "import" for a model brought in from an export bundle);
        ``dataset_version`` is the version of ``dataset`` the build read."""
        name = check_name(self._own("model", name), "model")
        if dataset_version is None:  # "NAME@VERSION" names its version
            base, sep, ver = dataset.rpartition("@")
            if sep and base and ver.isascii() and ver.isdigit() and len(ver) <= 9:
                dataset, dataset_version = base, int(ver)
        key = str(Path(path).relative_to(self.root))
        try:
            self.store.put(key)  # uploaded before the catalog names it (an S3 store)
            rec = self._insert_model(name, key, dataset, model, dataset_version)
        except BaseException:
            if self.store.shared:
                self._forget(key)
            raise
        self.audit(
            action, f"model {name}@{rec.version}", f"from {rec.dataset_ref}, target {rec.target}"
        )
        return rec

    def _insert_model(
        self, name: str, key: str, dataset: str, model: Any, dataset_version: int | None
    ) -> ModelRecord:
        with self._db(lock=True) as db:
            rec = ModelRecord(
                name,
                self._next_version(db, "models", name),
                key,
                dataset,
                model.target,
                model.problem_type,
                model.metric,
                model.metrics.get(model.metric),
                time.time(),
                self.user,
                dataset_version=dataset_version,
            )
            db.execute(
                "INSERT INTO models (owner, name, version, path, dataset, target, task, metric, "
                "score, created_at, dataset_version) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rec.owner,
                    rec.name,
                    rec.version,
                    rec.path,
                    rec.dataset,
                    rec.target,
                    rec.task,
                    rec.metric,
                    rec.score,
                    rec.created_at,
                    rec.dataset_version,
                ),
            )
        return rec

    def list_models(self) -> list[ModelRecord]:
        """Every version of this user's models, newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM models WHERE owner=? ORDER BY created_at DESC", (self.user,)
            ).fetchall()
        return [self._model(r) for r in rows]

    def shared_models(self) -> list[ModelRecord]:
        """Every version of each model other users shared with this one, newest first."""
        where, args = self._shared_where("model")
        with self._db() as db:
            rows = db.execute(
                f"SELECT * FROM models d WHERE {where} ORDER BY created_at DESC", args
            ).fetchall()
        return [self._model(r) for r in rows]

    def get_model(self, name: str, version: int | None = None) -> ModelRecord:
        """A model this user may read: ``NAME`` (their own) or ``OWNER/NAME`` (shared)."""
        r = self._get("model", name, version)
        if r is None:
            if version is not None and self._versions("model", name):
                raise EaselError(f"Model '{name}' has no version {version}.")
            raise EaselError(f"There is no model named '{name}'. Build one on the Build page.")
        return self._model(r)

    def model_dir(self, rec: ModelRecord) -> Path:
        """The model's folder: the workspace folder's, or this computer's copy of the S3
        store's (fetched on first use; a model version's files never change under a key)."""
        return self.store.local(rec.path)

    def rewrite_model(self, rec: ModelRecord, save: Callable[[Path], Any]) -> ModelRecord:
        """Save a changed model version (another default candidate): ``save(folder)`` writes
        it. In the workspace folder that is the version's own folder, as always; on an S3 store
        the changed folder goes under a new key, recorded once uploaded, so that no server's
        copy of the old one is ever stale."""
        folder = self.model_dir(rec)
        if not self.store.shared:
            sweep_stale(folder.parent, of=folder.name)  # left by a killed save
            save(folder)
            return rec
        new = self.root / "models" / uuid.uuid4().hex
        key = str(new.relative_to(self.root))
        try:
            shutil.copytree(folder, new)  # save() keeps the data report of the folder it replaces
            save(new)
            self.store.put(key)
            with self._db(lock=True) as db:
                cur = db.execute(
                    "UPDATE models SET path=? WHERE owner=? AND name=? AND version=? AND path=?",
                    (key, rec.owner, rec.name, rec.version, rec.path),
                )
                if cur.rowcount != 1:
                    raise EaselError(
                        f"Version {rec.version} of model '{rec.name}' was changed or deleted "
                        "by someone else meanwhile. Open it again and repeat the change."
                    )
        except BaseException:
            self._forget(key)
            raise
        self._remove_files(f"the earlier copy of model {rec.name}@{rec.version}", [rec.path])
        return self.get_model(self.key(rec), rec.version)

    def delete_model(self, name: str, version: int) -> None:
        name = self._own("model", name)
        rec = self.get_model(name, version)
        if rec.stage == "production":
            raise ParameterError(
                f"Version {version} of '{name}' is in production, so it is not deleted. Promote "
                "another version to production first, or move this one to archived."
            )
        with self._db() as db:
            for table in ("models", "batch_runs"):
                db.execute(
                    f"DELETE FROM {table} WHERE owner=? AND name=? AND version=?",
                    (self.user, name, version),
                )
            if not db.execute(
                "SELECT 1 FROM models WHERE owner=? AND name=?", (self.user, name)
            ).fetchone():
                db.execute(
                    "DELETE FROM shares WHERE kind='model' AND owner=? AND name=?",
                    (self.user, name),
                )
        self.audit("delete", f"model {name}@{version}")
        self._remove_files(f"model {name}@{version}", [rec.path])

    def model_versions(self, name: str) -> list[ModelRecord]:
        return [self._model(r) for r in self._versions("model", name)]

    # ------------------------------------------------------------------ stages
    def chosen_model(self, name: str, version: int | None = None) -> ModelRecord:
        """The version of model ``name`` that "the model" means wherever a version is not
        named (``model:NAME`` in every command, the service, automations, the Models page's
        service and export): the version in the production stage, else the newest. With
        ``version``: that version."""
        if version is not None:
            return self.get_model(name, version)
        return self.production_model(name) or self.get_model(name)

    def production_model(self, name: str) -> ModelRecord | None:
        """The production version of a model this user may read (``NAME`` or ``OWNER/NAME``),
        or None when no version of it is in production (or there is no such model)."""
        found = self._readable_owner("model", name)
        if found is None:
            return None
        with self._db() as db:
            r = db.execute(
                "SELECT * FROM models WHERE owner=? AND name=? AND stage='production'", found
            ).fetchone()
        return None if r is None else self._model(r)

    def set_stage(self, name: str, version: int, stage: str) -> StageChange:
        """Move one version of a model to ``stage`` (staging, production or archived). Only
        its owner, or an admin naming it ``OWNER/NAME``, may; a refusal is in the audit log too.
        Promoting a version to production moves the version that was in production to
        archived, in one locked transaction, so a name never has two production versions; to
        roll back, promote the earlier version again."""
        stage = check_stage(stage)
        rec = self.get_model(name, version)  # a model this user cannot read reads as missing
        where = self._stage_target(rec)
        if rec.owner != self.user and not self.admin:
            self.audit("stage", where, f"refused: {stage} (not the owner)", ok=False)
            raise ParameterError(
                f"'{name}' belongs to {rec.owner}: only its owner or an admin can change the "
                f"stage of its versions. Ask {rec.owner} to do it."
            )
        with self._db(lock=True) as db:
            key = (rec.owner, rec.name)
            row = db.execute(
                "SELECT stage FROM models WHERE owner=? AND name=? AND version=?",
                (*key, rec.version),
            ).fetchone()
            if row is None:  # deleted since it was read
                raise EaselError(f"Model '{name}' has no version {version}.")
            before = str(row[0])
            archived = None
            if stage == "production":
                prev = db.execute(
                    "SELECT version FROM models WHERE owner=? AND name=? AND stage='production' "
                    "AND version<>?",
                    (*key, rec.version),
                ).fetchone()
                if prev is not None:
                    archived = int(prev[0])
                    db.execute(
                        "UPDATE models SET stage='archived' WHERE owner=? AND name=? AND version=?",
                        (*key, archived),
                    )
            db.execute(
                "UPDATE models SET stage=? WHERE owner=? AND name=? AND version=?",
                (stage, *key, rec.version),
            )
        moved = "" if archived is None else f"; version {archived} moved to archived"
        self.audit("stage", where, f"{stage} (was {before}){moved}")
        return StageChange(rec.name, rec.version, stage, before, archived)

    @staticmethod
    def _stage_target(rec: ModelRecord) -> str:
        """How the audit log names a version whose stage changes: with its owner in team mode,
        whoever changes it, so a model's stage history is one search."""
        return f"model {rec.owner + '/' if rec.owner else ''}{rec.name}@{rec.version}"

    def stage_history(self, name: str, limit: int = 200) -> list[dict[str, Any]]:
        """The stage changes of every version of a model this user may read, newest first:
        ``at``, ``user`` (who), ``version``, ``stage`` and ``detail`` (from the audit log)."""
        versions = self._versions("model", name)
        if not versions:
            return []
        prefix = self._stage_target(self._model(versions[0])).rsplit("@", 1)[0] + "@"
        with self._db() as db:
            rows = db.execute(
                "SELECT at, \"user\", target, detail FROM audit WHERE action='stage' AND ok=1 "
                "AND substr(target, 1, ?)=? ORDER BY id DESC LIMIT ?",
                (len(prefix), prefix, limit),
            ).fetchall()
        out = []
        for r in rows:
            number = str(r["target"])[len(prefix) :]
            if number.isdigit():  # not NAME@1 of a name that only starts like this one
                out.append(
                    {
                        "at": float(r["at"]),
                        "user": str(r["user"]),
                        "version": int(number),
                        "stage": str(r["detail"]).split(" ", 1)[0],
                        "detail": str(r["detail"]),
                    }
                )
        return out

    # ------------------------------------------------------------------ batch runs
    def record_batch_run(
        self, rec: ModelRecord, source: str, rows: int, drift: dict[str, Any]
    ) -> None:
        """Remember a batch prediction with a model version this user may read, and its drift
        report (its :data:`MAX_STORED_DRIFT_COLUMNS` most moved columns)."""
        kept = {**drift, "columns": list(drift.get("columns", []))[:MAX_STORED_DRIFT_COLUMNS]}
        with self._db() as db:
            db.execute(
                'INSERT INTO batch_runs (owner, name, version, "user", at, source, rows, verdict, '
                "drift) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    rec.owner,
                    rec.name,
                    rec.version,
                    self.user,
                    time.time(),
                    str(source)[:200],
                    int(rows),
                    str(drift.get("verdict", "")),
                    json.dumps(kept),
                ),
            )

    def batch_runs(self, name: str, limit: int = 50) -> list[BatchRun]:
        """The batch predictions made with any version of a model this user may read, newest
        first: every user's for its owner and admins, only this user's for others."""
        found = self._readable_owner("model", name)
        if found is None:
            return []
        where, args = "owner=? AND name=?", list(found)
        if found[0] != self.user and not self.admin:
            where, args = where + ' AND "user"=?', [*found, self.user]
        with self._db() as db:
            rows = db.execute(
                'SELECT at, "user", version, source, rows, verdict, drift FROM batch_runs '
                f"WHERE {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        out = []
        for r in rows:
            try:
                drift = json.loads(r["drift"])
            except (TypeError, ValueError):
                drift = {}
            out.append(
                BatchRun(
                    float(r["at"]),
                    str(r["user"]),
                    int(r["version"]),
                    str(r["source"]),
                    int(r["rows"]),
                    str(r["verdict"]),
                    drift if isinstance(drift, dict) else {},
                )
            )
        return out

    def previous_production(self, name: str) -> int | None:
        """The version that was in production before the current one and still exists (what a
        roll back promotes again), or None."""
        now = self.production_model(name)
        have = {r.version for r in self.model_versions(name)}
        for h in self.stage_history(name):
            current = now is not None and h["version"] == now.version
            if h["stage"] == "production" and h["version"] in have and not current:
                return int(h["version"])
        return None

    def rename_model(self, name: str, new_name: str) -> int:
        """Give every version of this user's model ``name`` a new name; returns the number of
        versions. Its shares follow the new name."""
        name = self._own("model", name)
        new_name = check_name(new_name, "model")
        self.get_model(name)  # clear error when it does not exist
        if new_name != name and self.model_versions(new_name):
            raise ParameterError(
                f"There is already a model named '{new_name}'. Choose another name."
            )
        with self._db(lock=True) as db:
            cur = db.execute(
                "UPDATE models SET name=? WHERE owner=? AND name=?", (new_name, self.user, name)
            )
            db.execute(
                "UPDATE shares SET name=? WHERE kind='model' AND owner=? AND name=?",
                (new_name, self.user, name),
            )
            db.execute(
                "UPDATE batch_runs SET name=? WHERE owner=? AND name=?",
                (new_name, self.user, name),
            )
        self.audit("rename", f"model {name}", f"now {new_name}")
        return int(cur.rowcount)

    def export_model(self, name: str, version: int) -> bytes:
        """The model directory as a zip archive (JSON + model text files)."""
        import io

        rec = self.get_model(name, version)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zip_model_folder(zf, self.model_dir(rec), f"{rec.name}-v{version}")
        return buf.getvalue()

    # ------------------------------------------------------------------ sharing
    def share(self, kind: str, name: str, grantee: str) -> None:
        """Let ``grantee`` (a user name, or ``*`` for everyone) read every version of one of
        this user's datasets or models."""
        kind, name, grantee = self._share_args(kind, name, grantee)
        with self._db() as db:
            if (
                grantee != EVERYONE
                and not db.execute("SELECT 1 FROM users WHERE name=?", (grantee,)).fetchone()
            ):
                raise ParameterError(
                    f"There is no user named '{grantee}'. Share with an existing user, or with "
                    "everyone."
                )
            db.execute(
                "INSERT INTO shares (kind, owner, name, grantee, created_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                (kind, self.user, name, grantee, time.time()),
            )
        self.audit(
            "share", f"{kind} {name}", f"with {'everyone' if grantee == EVERYONE else grantee}"
        )

    def unshare(self, kind: str, name: str, grantee: str) -> None:
        kind, name, grantee = self._share_args(kind, name, grantee)
        with self._db() as db:
            db.execute(
                "DELETE FROM shares WHERE kind=? AND owner=? AND name=? AND grantee=?",
                (kind, self.user, name, grantee),
            )
        self.audit(
            "unshare", f"{kind} {name}", f"from {'everyone' if grantee == EVERYONE else grantee}"
        )

    def _share_args(self, kind: str, name: str, grantee: str) -> tuple[str, str, str]:
        if kind not in KINDS:
            raise ParameterError(f"Only datasets and models can be shared, not {kind!r}.")
        name = self._own(kind, name)
        if kind == "dataset":
            self.get_dataset(name)
        else:
            self.get_model(name)
        grantee = str(grantee).strip()
        if grantee in ("", self.user):
            raise ParameterError("Share with another user, or with everyone.")
        return kind, name, grantee

    def shared_with(self, kind: str, name: str) -> list[str]:
        """Who one of this user's datasets or models is shared with (``*`` = everyone)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT grantee FROM shares WHERE kind=? AND owner=? AND name=? ORDER BY grantee",
                (kind, self.user, self._own(kind, name)),
            ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ jobs
    def create_job(self, kind: str, params: dict[str, Any]) -> int:
        with self._db() as db:
            job_id = db.insert(
                "INSERT INTO jobs (kind, params, status, created_at, owner) VALUES (?,?,?,?,?)",
                (kind, json.dumps(params), "queued", time.time(), self.user),
            )
        log = self.root / "jobs" / f"job-{job_id}.log"
        self.update_job(job_id, log_path=str(log))
        return job_id

    def update_job(self, job_id: int, **fields: Any) -> None:
        if not fields:
            return
        cols = ", ".join(f"{k}=?" for k in fields)
        values = [json.dumps(v) if isinstance(v, (list, dict)) else v for v in fields.values()]
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {cols} WHERE id=?", (*values, job_id))

    def get_job(self, job_id: int) -> dict[str, Any]:
        """One of this user's jobs (an admin reaches every job); another user's job reads as
        missing, whatever its number."""
        with self._db() as db:
            r = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if r is None or (r["owner"] != self.user and not self.admin):
            raise EaselError(f"There is no build {job_id}.")
        job = dict(r)
        job["params"] = json.loads(job["params"])
        job["trials"] = json.loads(job["trials"] or "[]")
        job["result"] = json.loads(job["result"]) if job["result"] else {}
        return job

    def list_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._db() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs WHERE owner=? ORDER BY id DESC LIMIT ?",
                    (self.user, limit),
                )
            ]
        return [self.get_job(i) for i in ids]

    # ------------------------------------------------------------------ build queue, settings
    def active_jobs(self) -> list[dict[str, Any]]:
        """The queued and running jobs, oldest first (id, status, pid, pid_start, created_at,
        host)."""
        with self._db() as db:
            return [dict(r) for r in db.execute(_ACTIVE_JOBS)]

    def claim_job_slot(
        self, job_id: int, limit: int, alive: Callable[[dict[str, Any]], bool]
    ) -> bool:
        """Start queued job ``job_id`` (status "running") if fewer than ``limit`` live jobs run and
        it is the oldest live queued job; ``alive`` tells a job whose process is gone. One
        ``BEGIN IMMEDIATE`` transaction, so two build processes never both take the last slot."""
        with self._db(lock=True) as db:
            live = [r for r in map(dict, db.execute(_ACTIVE_JOBS)) if r["id"] == job_id or alive(r)]
            running = sum(r["status"] == "running" for r in live)
            queued = [r["id"] for r in live if r["status"] == "queued"]
            if running >= limit or not queued or queued[0] != job_id:
                return False
            db.execute(
                "UPDATE jobs SET status='running', started_at=?, message='starting' WHERE id=?",
                (time.time(), job_id),
            )
            return True

    def get_setting(self, key: str) -> str | None:
        """A workspace setting (e.g. ``max_builds``), or None when it was never set."""
        with self._db() as db:
            r = db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return None if r is None else str(r[0])

    def set_setting(self, key: str, value: str | None) -> None:
        """Set a workspace setting; None removes it (back to the default)."""
        with self._db() as db:
            if value is None:
                db.execute("DELETE FROM settings WHERE key=?", (key,))
            else:
                db.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, value),
                )
