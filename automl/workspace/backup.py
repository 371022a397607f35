"""Back up a workspace to one archive and restore it (``automl workspace backup / restore``).

A backup is a gzip-compressed tar file holding:

- ``catalog.sqlite``: a consistent copy of the catalog made with SQLite's online backup API, safe
  while the app and builds write to it; builds that were queued or running are "interrupted" in it
  (their processes do not come with the copy);
- the files the copy refers to: every dataset version (``datasets/``), every model folder with its
  reports (``models/``), and the scored files of the Predict page (``predictions/``). Uploads (the
  raw files behind imported datasets) and build logs are left out: the datasets hold the rows;
- ``manifest.json`` (last): the format, the Easel version, and every other member's path, size and
  sha256.

Datasets and model folders are written before their catalog row and never change after, so the
files the copy refers to are complete. A file deleted while the backup runs is left out together
with its catalog row.

A restore treats the archive as hostile: only regular files under the known folders, no absolute
paths, ``..``, links or special files, no duplicates; headers and the whole archive are read with
bounded memory and a bounded number of bytes (a "zip bomb" is refused); every checksum, the
catalog's ``PRAGMA integrity_check`` and the paths it refers to are verified before anything is
replaced. It unpacks into a temporary folder beside the target and renames it into place.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from automl._version import __version__
from automl.atomic import temp_path
from automl.errors import DataError, ParameterError
from automl.workspace.catalog import CATALOG_SCHEMA, ENV_VAR, STAGES, Workspace, newer_catalog
from automl.workspace.db import CATALOG_ENV
from automl.workspace.jobs import job_alive
from automl.workspace.store import STORE_ENV

FORMAT = "easel-workspace-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CATALOG = "catalog.sqlite"
FOLDERS = ("datasets", "models", "predictions")  # the folders a backup holds files of
CHUNK = 1 << 20  # bytes copied at a time: memory stays bounded whatever the file sizes
MAX_MEMBERS = 200_000  # a workspace has a few thousand files; each entry costs memory
MAX_MANIFEST_BYTES = 64 << 20
MAX_HEADER_BYTES = 1 << 20  # a tar header, with a long name or extended attributes, is far smaller
# Datasets are Parquet (already compressed) and models mostly numbers: a real backup unpacks to
# a few times its size. An archive that unpacks to more than this many times its size (and more
# than the floor) is refused as a decompression bomb.
MAX_RATIO = 200
RATIO_FLOOR = 256 << 20
INTERRUPTED_BY_BACKUP = (
    "Interrupted: this build was running when the workspace was backed up, so the backup has no "
    "result for it. Start it again."
)


@dataclass
class BackupSummary:
    """What a backup or a restore holds."""

    path: Path
    files: int
    bytes: int
    datasets: int
    models: int
    jobs: int
    notes: list[str] = field(default_factory=list)


def _safe_name(name: str) -> bool:
    """A member name a backup may hold: relative, '/'-separated, no '..', under a known folder."""
    if name in (MANIFEST, CATALOG):
        return True
    parts = name.split("/")
    return (
        len(name) <= 1024
        and "\\" not in name
        and "\x00" not in name
        and parts[0] in FOLDERS
        and len(parts) >= 2
        and all(p not in ("", ".", "..") for p in parts)
    )


# ---------------------------------------------------------------------- backup
class _Hashing:
    """A file reader that hashes what it reads (tarfile reads each member through it)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        return data


_NOT_ON_POSTGRES = (
    "This workspace's catalog is on PostgreSQL ($EASEL_CATALOG): its backup and restore are not "
    "part of Easel yet. Back up the catalog database with PostgreSQL's own tools (pg_dump) "
    "together with the workspace folder, or unset EASEL_CATALOG for a workspace kept in its "
    "folder."
)


_NOT_ON_S3 = (
    "This workspace keeps its datasets and models on S3 ($EASEL_STORE): its backup and restore "
    "are not part of Easel yet. Back up the bucket with the storage's own tools (versioning or "
    "replication) together with the catalog, or unset EASEL_STORE for a workspace kept in its "
    "folder."
)


def backup_workspace(ws: Workspace, out: str | os.PathLike[str]) -> BackupSummary:
    """Write a backup of ``ws`` to ``out`` (a .tar.gz file), atomically: a failed backup leaves
    no file behind and an older file at ``out`` untouched."""
    if ws.shared_catalog:
        raise ParameterError(_NOT_ON_POSTGRES)
    if ws.store.shared:
        raise ParameterError(_NOT_ON_S3)
    out = Path(out).resolve()
    if out.is_dir():
        raise ParameterError(
            f"'{out}' is a folder. Give the backup file's name, e.g. {out}/easel.tar.gz."
        )
    if not out.parent.is_dir():
        raise ParameterError(
            f"The folder '{out.parent}' does not exist. Create it or choose another."
        )
    notes: list[str] = []
    tmp = temp_path(out)  # named after this process, so a killed backup's file is swept
    stage = Path(tempfile.mkdtemp(prefix=".easel-backup-", dir=out.parent))
    try:
        catalog = stage / CATALOG
        _copy_catalog(ws.root / CATALOG, catalog)
        with tarfile.open(tmp, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT) as tar:
            entries: list[dict[str, Any]] = []
            missing = []
            for rel in _catalog_files(ws.root, catalog) + _prediction_files(ws.root, {out, tmp}):
                entry = _add(tar, ws.root / rel, rel)
                if entry is None:
                    missing.append(rel)
                else:
                    entries.append(entry)
            counts = _finish_catalog(catalog, missing, notes)
            entries.append(_add(tar, catalog, CATALOG) or {})
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "easel_version": __version__,
                "created_at": time.time(),
                "files": entries,
            }
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    size = sum(int(e["size"]) for e in entries)
    return BackupSummary(out, len(entries), size, *counts, notes=notes)


def _copy_catalog(src: Path, dst: Path) -> None:
    """A consistent copy of the catalog while other processes write to it (the backup API)."""
    if not src.is_file():
        raise ParameterError(f"'{src.parent}' is not an Easel workspace (it has no catalog).")
    source = sqlite3.connect(src, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _catalog_files(root: Path, catalog: Path) -> list[str]:
    """The dataset files and model folders' files the catalog copy refers to."""
    db = sqlite3.connect(catalog)
    try:
        paths = [r[0] for r in db.execute("SELECT path FROM datasets")]
        folders = [r[0] for r in db.execute("SELECT path FROM models")]
    finally:
        db.close()
    files = [p for p in paths if _safe_name(p)]
    for folder in folders:
        base = root / folder
        if not _safe_name(folder) or not base.is_dir():
            continue
        for f in sorted(base.rglob("*")):
            if f.is_file() and not f.is_symlink():
                files.append(f.relative_to(root).as_posix())
    return files


def _prediction_files(root: Path, skip: set[Path]) -> list[str]:
    folder = root / "predictions"
    if not folder.is_dir():
        return []
    return [
        f.relative_to(root).as_posix()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not f.is_symlink() and not f.name.startswith(".") and f not in skip
    ]


def _add(tar: tarfile.TarFile, path: Path, name: str) -> dict[str, Any] | None:
    """Add one file, hashed as it is read; None when it was deleted meanwhile."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return None
    with f:
        st = os.fstat(f.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o644
        reader = _Hashing(f)
        tar.addfile(info, reader)
    return {"path": name, "size": st.st_size, "sha256": reader.sha.hexdigest()}


def _finish_catalog(catalog: Path, missing: list[str], notes: list[str]) -> tuple[int, int, int]:
    """Leave out rows whose files were deleted during the backup; mark unfinished builds
    interrupted. Returns the numbers of dataset versions, model versions and jobs."""
    db = sqlite3.connect(catalog)
    try:
        with db:
            for rel in missing:  # datasets/<file>, models/<folder>/..., predictions/...
                table, path = {
                    "datasets": ("datasets", rel),
                    "models": ("models", "/".join(rel.split("/")[:2])),
                }.get(rel.split("/")[0], ("", ""))
                if not table:
                    continue
                gone = db.execute(f"SELECT name, version FROM {table} WHERE path=?", (path,))
                for name, version in gone.fetchall():
                    notes.append(
                        f"{table[:-1].title()} '{name}' version {version} was deleted during the "
                        "backup and is not in it."
                    )
                db.execute(f"DELETE FROM {table} WHERE path=?", (path,))
            db.execute(
                "UPDATE jobs SET status='interrupted', error=?, pid=NULL, finished_at=? "
                "WHERE status IN ('queued', 'running')",
                (INTERRUPTED_BY_BACKUP, time.time()),
            )
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            if "automations" in tables:  # a lease belongs to a runner of the original workspace
                db.execute("UPDATE automations SET lease_until=NULL, lease_by=''")
        return tuple(  # type: ignore[return-value]
            int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in ("datasets", "models", "jobs")
        )
    finally:
        db.close()


# ---------------------------------------------------------------------- restore
def default_root(root: str | os.PathLike[str] | None) -> Path:
    """The workspace folder meant: --workspace, else $EASEL_WORKSPACE, else ./workspace."""
    return Path(root or os.environ.get(ENV_VAR) or "workspace").resolve()


def restore_workspace(
    archive: str | os.PathLike[str], root: str | os.PathLike[str], force: bool = False
) -> BackupSummary:
    """Restore a backup into the workspace folder ``root``.

    Refuses a folder that already holds datasets, models or builds unless ``force`` (then refuses
    while builds run there). Everything is checked before the folder is replaced in one rename.
    """
    if os.environ.get(CATALOG_ENV):
        raise ParameterError(_NOT_ON_POSTGRES)
    if os.environ.get(STORE_ENV):
        raise ParameterError(_NOT_ON_S3)
    archive, root = Path(archive), Path(root).resolve()
    if not archive.is_file():
        raise ParameterError(f"There is no backup file at '{archive}'. Check the path.")
    if root.exists() and not root.is_dir():
        raise ParameterError(f"'{root}' is a file, not a workspace folder. Choose a folder.")
    if _has_content(root):
        if not force:
            raise ParameterError(
                f"The workspace '{root}' already has datasets, models or builds. Restore into a "
                "new folder, or add --force to replace everything in it with the backup."
            )
        _refuse_running_builds(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.restore-", dir=root.parent))
    try:
        files, manifest = _unpack(archive, stage)
        _verify(manifest, files)
        counts = _check_catalog(stage, files, root)
        for sub in ("datasets", "models", "jobs", "uploads", "predictions"):
            (stage / sub).mkdir(exist_ok=True)
        _swap(stage, root)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    size = sum(n for n, _ in files.values())
    return BackupSummary(root, len(files), size, *counts)


def _has_content(root: Path) -> bool:
    """Whether the folder holds anything but an empty workspace (folders and an empty catalog)."""
    if not root.is_dir():
        return False
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            continue
        if path.parent == root and path.name.startswith(CATALOG):
            continue
        return True
    if not (root / CATALOG).is_file():
        return False
    try:
        db = sqlite3.connect(root / CATALOG, timeout=30)
        try:
            return any(
                db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
                for t in ("datasets", "models", "jobs")
            )
        finally:
            db.close()
    except sqlite3.Error:
        return True


def _refuse_running_builds(root: Path) -> None:
    if not (root / CATALOG).is_file():
        return
    with contextlib.suppress(sqlite3.Error):
        running = [j["id"] for j in Workspace(root).active_jobs() if job_alive(j)]
        if running:
            raise ParameterError(
                f"Builds are running in the workspace '{root}' (job "
                f"{', '.join(map(str, running))}). Wait for them to finish or cancel them, then "
                "restore."
            )


class _Bounded:
    """The unpacked tar stream, counting bytes: refuses more than ``total`` in all, and more than
    :data:`MAX_HEADER_BYTES` while a header is read (``header_start`` set)."""

    def __init__(self, f: IO[bytes], total: int, what: str, disk_full: bool) -> None:
        self.f, self.total, self.what, self.disk_full = f, total, what, disk_full
        self.count = 0
        self.header_start: int | None = None

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(min(n, CHUNK) if n >= 0 else CHUNK)
        self.count += len(data)
        if self.count > self.total and self.disk_full:
            raise DataError(
                f"There is not enough free disk space to restore '{self.what}' (it unpacks to "
                f"more than the {self.total / 1e9:.1f} GB free). Free some space, or restore on "
                "another disk."
            )
        if self.count > self.total:
            raise DataError(
                f"The backup '{self.what}' unpacks to far more than its size (more than "
                f"{self.total / 1e9:.1f} GB), which an Easel backup never does; it was not "
                "restored."
            )
        if self.header_start is not None and self.count - self.header_start > MAX_HEADER_BYTES:
            raise _damaged(self.what, "a file header is far too large")
        return data


def _damaged(what: str, why: str) -> DataError:
    return DataError(
        f"'{what}' is not an Easel workspace backup, or it is damaged ({why}). Nothing was "
        "restored; use a backup made with 'automl workspace backup'."
    )


def _unpack(archive: Path, stage: Path) -> tuple[dict[str, tuple[int, str]], dict[str, Any]]:
    """Stream the archive's files into ``stage``: {path: (size, sha256)}, and the manifest."""
    what = archive.name
    size = archive.stat().st_size
    free = shutil.disk_usage(stage).free
    limit = min(free, max(MAX_RATIO * size, RATIO_FLOOR))
    disk_full = limit == free
    files: dict[str, tuple[int, str]] = {}
    manifest: dict[str, Any] | None = None
    with open(archive, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        inner: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw  # type: ignore[assignment]
        stream = _Bounded(inner, limit, what, disk_full)
        try:
            stream.header_start = 0  # opening reads the first header
            tar = tarfile.open(fileobj=stream, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
            for _ in range(MAX_MEMBERS + 1):
                stream.header_start = stream.count
                member = tar.next()
                stream.header_start = None
                if member is None:
                    break
                if member.isdir():
                    continue
                name = member.name
                if not member.isreg() or member.issparse():
                    raise _damaged(what, f"'{name[:200]}' is a link or a special file")
                if not _safe_name(name):
                    raise _damaged(what, f"'{name[:200]}' is outside the workspace's folders")
                if name in files or (name == MANIFEST and manifest is not None):
                    raise _damaged(what, f"'{name[:200]}' appears twice")
                src = tar.extractfile(member)
                if src is None:
                    raise _damaged(what, f"'{name[:200]}' cannot be read")
                if name == MANIFEST:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise _damaged(what, "its list of files is far too large")
                    manifest = _parse_manifest(src.read(), what)
                    continue
                try:
                    files[name] = _write(src, stage / name)
                except (FileExistsError, NotADirectoryError, IsADirectoryError):
                    raise _damaged(what, f"'{name[:200]}' clashes with another file") from None
            else:
                raise _damaged(what, f"it has more than {MAX_MEMBERS:,} files")
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise _damaged(what, str(exc)[:200] or type(exc).__name__) from None
    if manifest is None:
        raise _damaged(what, "it has no manifest.json")
    return files, manifest


def _write(src: IO[bytes], path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    sha, n = hashlib.sha256(), 0
    with open(path, "xb") as out:
        while chunk := src.read(CHUNK):
            sha.update(chunk)
            out.write(chunk)
            n += len(chunk)
    return n, sha.hexdigest()


def _parse_manifest(data: bytes, what: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise _damaged(what, "its manifest.json is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _damaged(what, "its manifest.json is not an Easel backup's")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise _damaged(what, "its manifest.json has no format version")
    if version > FORMAT_VERSION:
        raise DataError(
            f"'{what}' was made by a newer Easel (backup format {version}; this one reads up to "
            f"{FORMAT_VERSION}). Upgrade Easel to restore it."
        )
    entries = manifest.get("files")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("path"), str)
        and isinstance(e.get("size"), int)
        and isinstance(e.get("sha256"), str)
        for e in entries
    ):
        raise _damaged(what, "its manifest.json lists its files wrongly")
    return manifest


def _verify(manifest: dict[str, Any], files: dict[str, tuple[int, str]]) -> None:
    listed = {e["path"]: (e["size"], e["sha256"]) for e in manifest["files"]}
    if set(listed) != set(files):
        extra = sorted(set(files) - set(listed))[:3]
        absent = sorted(set(listed) - set(files))[:3]
        why = (
            f"files not in its manifest: {', '.join(extra)}"
            if extra
            else f"files in its manifest are missing: {', '.join(absent)}"
        )
        raise DataError(f"The backup is incomplete or was changed ({why}). Nothing was restored.")
    bad = sorted(p for p, got in files.items() if got != tuple(listed[p]))
    if bad:
        raise DataError(
            f"The backup is damaged: {len(bad)} file{'s do' if len(bad) > 1 else ' does'} not "
            f"match {'their' if len(bad) > 1 else 'its'} checksum (first: {bad[0]}). Nothing was "
            "restored; use another copy of the backup."
        )


def _check_catalog(
    stage: Path, files: dict[str, tuple[int, str]], root: Path
) -> tuple[int, int, int]:
    """The catalog passes SQLite's integrity check and refers only to files in the backup; its
    build logs point into the new folder. Returns the numbers of datasets, models and jobs."""
    if CATALOG not in files:
        raise DataError("The backup has no catalog (catalog.sqlite). Nothing was restored.")
    damaged = DataError(
        "The backup's catalog is damaged (SQLite's integrity check failed). Nothing was restored; "
        "use another copy of the backup."
    )
    try:
        db = sqlite3.connect(stage / CATALOG)
    except sqlite3.Error:
        raise damaged from None
    try:
        if db.execute("PRAGMA integrity_check").fetchall() != [("ok",)]:
            raise damaged
        objects = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        code = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type IN ('trigger', 'view')")
        if not {"datasets", "models", "jobs"} <= objects or code.fetchone()[0]:
            raise DataError(
                "The backup's catalog is not an Easel catalog (its tables differ). Nothing was "
                "restored."
            )
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > CATALOG_SCHEMA:
            raise DataError(f"{newer_catalog('in the backup', version)} Nothing was restored.")
        columns = {r[1] for r in db.execute("PRAGMA table_info(models)")}
        if "stage" in columns:
            marks = ",".join("?" * len(STAGES))
            odd = db.execute(f"SELECT stage FROM models WHERE stage NOT IN ({marks})", STAGES)
            if (bad := odd.fetchone()) is not None:
                raise DataError(
                    f"The backup's catalog gives a model the stage '{str(bad[0])[:40]}', which "
                    "Easel does not have. Nothing was restored."
                )
        for (path,) in db.execute("SELECT path FROM datasets"):
            if not (isinstance(path, str) and path.startswith("datasets/") and path in files):
                raise DataError(
                    f"The backup's catalog refers to a dataset file that is not in it "
                    f"('{str(path)[:200]}'). Nothing was restored."
                )
        for (path,) in db.execute("SELECT path FROM models"):
            ok = isinstance(path, str) and path.startswith("models/") and _safe_name(path)
            if not ok or f"{path}/easel_model.json" not in files:
                raise DataError(
                    f"The backup's catalog refers to a model folder that is not in it "
                    f"('{str(path)[:200]}'). Nothing was restored."
                )
        with db:  # no process of another machine is taken for a build; logs go to the new folder
            db.execute(
                "UPDATE jobs SET status='interrupted', error=? "
                "WHERE status IN ('queued', 'running')",
                (INTERRUPTED_BY_BACKUP,),
            )
            db.execute(
                "UPDATE jobs SET pid=NULL, log_path=? || id || '.log'",
                (str(root / "jobs" / "job-"),),
            )
        return tuple(  # type: ignore[return-value]
            int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in ("datasets", "models", "jobs")
        )
    except sqlite3.DatabaseError:
        raise damaged from None
    finally:
        db.close()


def _swap(stage: Path, root: Path) -> None:
    """Put the restored folder in place: one rename, or two when an old folder is replaced (it
    is put back if the second fails)."""
    if not root.exists():
        os.rename(stage, root)
        return
    old = root.with_name(f".{root.name}.replaced-{uuid.uuid4().hex[:8]}")
    os.rename(root, old)
    try:
        os.rename(stage, root)
    except BaseException:
        os.rename(old, root)
        raise
    shutil.rmtree(old, ignore_errors=True)
