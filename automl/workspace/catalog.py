"""The workspace: datasets (Parquet), models (artifacts) and jobs under one folder, with a SQLite
catalog that several processes (the app, background jobs, the CLI) can share safely."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from automl.artifact import parquet_safe
from automl.errors import DataError, EaselError, ParameterError

ENV_VAR = "EASEL_WORKSPACE"
# Letters (any alphabet), digits, spaces and _ . - + & ( ); never '/', '\\' (paths), '@' (it
# separates NAME@VERSION), control characters, or a leading dot, space or dash.
_NAME = re.compile(r"[\w(][\w .+&()\-]{0,63}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL,
    rows INTEGER NOT NULL, columns INTEGER NOT NULL, schema TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS models (
    name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL, dataset TEXT NOT NULL,
    target TEXT NOT NULL, task TEXT NOT NULL, metric TEXT NOT NULL, score REAL,
    created_at REAL NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, params TEXT NOT NULL,
    status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
    best_score REAL, trials TEXT NOT NULL DEFAULT '[]', error TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '', log_path TEXT NOT NULL DEFAULT '', pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, started_at REAL,
    finished_at REAL);
"""
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


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


def check_name(name: str, what: str) -> str:
    name = str(name).strip()
    if not _NAME.fullmatch(name):
        raise ParameterError(
            f"The {what} name {name[:80]!r} is not allowed: use 1 to 64 letters, digits, spaces "
            "and the signs _ . - + & ( ), starting with a letter, a digit, '_' or '('."
        )
    return name


class Workspace:
    """One user's datasets, models and jobs; ``root`` defaults to $EASEL_WORKSPACE/./workspace."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or os.environ.get(ENV_VAR) or "workspace").resolve()
        for sub in ("datasets", "models", "jobs", "uploads", "predictions"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)
            cols = {r[1] for r in db.execute("PRAGMA table_info(datasets)")}
            if "lineage" not in cols:  # catalogs written before lineage was recorded
                db.execute("ALTER TABLE datasets ADD COLUMN lineage TEXT NOT NULL DEFAULT '{}'")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.root / "catalog.sqlite", timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                yield conn
        finally:
            conn.close()

    # ------------------------------------------------------------------ datasets
    def add_dataset(
        self,
        name: str,
        df: pd.DataFrame,
        source: str,
        lineage: dict[str, Any] | None = None,
    ) -> DatasetRecord:
        """Save ``df`` as the next version of dataset ``name``.

        ``source`` describes where the rows came from, in words and without credentials;
        ``lineage`` records how a derived dataset was made (join, cleaning, recipe) as JSON.
        """
        name = check_name(name, "dataset")
        if len(df) == 0:
            raise DataError("The dataset has no rows; nothing was saved.")
        df = parquet_safe(df.rename(columns=str))
        version = self._next_version("datasets", name)
        path = self.root / "datasets" / f"{uuid.uuid4().hex}.parquet"
        tmp = path.with_suffix(".tmp")
        # no per-column statistics: Easel never filters on read, and writing is 20-25% faster
        df.to_parquet(tmp, index=False, write_statistics=False)
        os.replace(tmp, path)
        rec = DatasetRecord(
            name,
            version,
            str(path.relative_to(self.root)),
            source,
            len(df),
            df.shape[1],
            {str(c): str(t) for c, t in df.dtypes.items()},
            time.time(),
            lineage or {},
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO datasets (name, version, path, source, rows, columns, schema, "
                "created_at, lineage) VALUES (?,?,?,?,?,?,?,?,?)",
                (
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
        return rec

    def _next_version(self, table: str, name: str) -> int:
        with self._db() as db:
            row = db.execute(f"SELECT MAX(version) FROM {table} WHERE name=?", (name,)).fetchone()
        return int(row[0] or 0) + 1

    def list_datasets(self) -> list[DatasetRecord]:
        """The newest version of every dataset, newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM datasets d WHERE version = (SELECT MAX(version) FROM datasets "
                "WHERE name = d.name) ORDER BY created_at DESC"
            ).fetchall()
        return [self._dataset(r) for r in rows]

    @staticmethod
    def _dataset(r: sqlite3.Row) -> DatasetRecord:
        d = dict(r)
        return DatasetRecord(
            **{**d, "schema": json.loads(d["schema"]), "lineage": json.loads(d["lineage"] or "{}")}
        )

    def get_dataset(self, name: str, version: int | None = None) -> DatasetRecord:
        with self._db() as db:
            if version is None:
                r = db.execute(
                    "SELECT * FROM datasets WHERE name=? ORDER BY version DESC LIMIT 1", (name,)
                ).fetchone()
            else:
                r = db.execute(
                    "SELECT * FROM datasets WHERE name=? AND version=?", (name, version)
                ).fetchone()
        if r is None:
            if version is not None and self.dataset_versions(name):
                have = ", ".join(str(v.version) for v in self.dataset_versions(name))
                raise EaselError(f"Dataset '{name}' has no version {version}. Versions: {have}.")
            names = [d.name for d in self.list_datasets()]
            near = difflib.get_close_matches(name, names, n=3)
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise EaselError(f"There is no dataset named '{name}'.{hint} Import it first.")
        return self._dataset(r)

    def dataset_versions(self, name: str) -> list[DatasetRecord]:
        """Every version of ``name``, newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM datasets WHERE name=? ORDER BY version DESC", (name,)
            ).fetchall()
        return [self._dataset(r) for r in rows]

    def preview_dataset(
        self, name: str, version: int | None = None, rows: int = 20
    ) -> pd.DataFrame:
        """The first ``rows`` rows, read without loading the whole dataset."""
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.root / self.get_dataset(name, version).path)
        batches = pf.iter_batches(batch_size=max(1, rows))
        first = next(batches, None)
        return first.to_pandas() if first is not None else pd.DataFrame()

    def resolve_dataset(self, ref: str) -> tuple[str, int | None]:
        """``NAME`` or ``NAME@VERSION`` (as written after ``dataset:``) -> (name, version)."""
        name, sep, ver = ref.strip().rpartition("@")
        if sep and ver.isdigit():
            return name, int(ver)
        return ref.strip(), None

    def load_dataset(self, name: str, version: int | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.root / self.get_dataset(name, version).path)

    def delete_dataset(self, name: str, version: int | None = None) -> int:
        """Delete one version, or every version, of a dataset (models trained on it are kept).

        Returns the number of versions deleted.
        """
        self.get_dataset(name, version)  # clear error when it does not exist
        where, args = (
            ("name=?", (name,))
            if version is None
            else (
                "name=? AND version=?",
                (name, version),
            )
        )
        with self._db() as db:
            rows = db.execute(f"SELECT path FROM datasets WHERE {where}", args).fetchall()
            db.execute(f"DELETE FROM datasets WHERE {where}", args)
        for r in rows:
            (self.root / r["path"]).unlink(missing_ok=True)
        return len(rows)

    # ------------------------------------------------------------------ models
    def new_model_path(self, name: str) -> tuple[str, int, Path]:
        name = check_name(name, "model")
        version = self._next_version("models", name)
        return name, version, self.root / "models" / f"{uuid.uuid4().hex}"

    def add_model(
        self, name: str, version: int, path: Path, dataset: str, model: Any
    ) -> ModelRecord:
        rec = ModelRecord(
            name,
            version,
            str(Path(path).relative_to(self.root)),
            dataset,
            model.target,
            model.problem_type,
            model.metric,
            model.metrics.get(model.metric),
            time.time(),
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO models VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    rec.name,
                    rec.version,
                    rec.path,
                    rec.dataset,
                    rec.target,
                    rec.task,
                    rec.metric,
                    rec.score,
                    rec.created_at,
                ),
            )
        return rec

    def list_models(self) -> list[ModelRecord]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM models ORDER BY created_at DESC").fetchall()
        return [ModelRecord(**dict(r)) for r in rows]

    def get_model(self, name: str, version: int | None = None) -> ModelRecord:
        with self._db() as db:
            if version is None:
                r = db.execute(
                    "SELECT * FROM models WHERE name=? ORDER BY version DESC LIMIT 1", (name,)
                ).fetchone()
            else:
                r = db.execute(
                    "SELECT * FROM models WHERE name=? AND version=?", (name, version)
                ).fetchone()
        if r is None:
            raise EaselError(f"There is no model named '{name}'. Build one on the Build page.")
        return ModelRecord(**dict(r))

    def model_dir(self, rec: ModelRecord) -> Path:
        return self.root / rec.path

    def delete_model(self, name: str, version: int) -> None:
        rec = self.get_model(name, version)
        with self._db() as db:
            db.execute("DELETE FROM models WHERE name=? AND version=?", (name, version))
        shutil.rmtree(self.root / rec.path, ignore_errors=True)

    def model_versions(self, name: str) -> list[ModelRecord]:
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM models WHERE name=? ORDER BY version DESC", (name,)
            ).fetchall()
        return [ModelRecord(**dict(r)) for r in rows]

    def rename_model(self, name: str, new_name: str) -> int:
        """Give every version of model ``name`` a new name; returns the number of versions."""
        new_name = check_name(new_name, "model")
        self.get_model(name)  # clear error when it does not exist
        if new_name != name and self.model_versions(new_name):
            raise ParameterError(
                f"There is already a model named '{new_name}'. Choose another name."
            )
        with self._db() as db:
            cur = db.execute("UPDATE models SET name=? WHERE name=?", (new_name, name))
        return int(cur.rowcount)

    def export_model(self, name: str, version: int) -> bytes:
        """The model directory as a zip archive (for data scientists: JSON + model text files)."""
        import io
        import zipfile

        rec = self.get_model(name, version)
        folder = self.root / rec.path
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.rglob("*")):
                if f.is_file():
                    zf.write(f, f"{name}-v{version}/{f.relative_to(folder)}")
        return buf.getvalue()

    # ------------------------------------------------------------------ jobs
    def create_job(self, kind: str, params: dict[str, Any]) -> int:
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO jobs (kind, params, status, created_at) VALUES (?,?,?,?)",
                (kind, json.dumps(params), "queued", time.time()),
            )
            job_id = int(cur.lastrowid or 0)
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
        with self._db() as db:
            r = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if r is None:
            raise EaselError(f"There is no job {job_id}.")
        job = dict(r)
        job["params"] = json.loads(job["params"])
        job["trials"] = json.loads(job["trials"] or "[]")
        job["result"] = json.loads(job["result"]) if job["result"] else {}
        return job

    def list_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._db() as db:
            ids = [
                r[0] for r in db.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
            ]
        return [self.get_job(i) for i in ids]
