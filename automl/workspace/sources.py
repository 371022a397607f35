"""Getting rows in: read a source (a file, an upload, a database table or query, object storage),
look at it before saving, and save it as a dataset version with an ``import`` lineage.

Part of the data service (:mod:`automl.workspace.data` re-exports it): ``automl import`` and the
Import page both read with :func:`read_source` and save with :func:`save_source`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from automl.atomic import atomic_path, newest_change, remove
from automl.errors import ParameterError
from automl.workspace.catalog import DatasetRecord, Workspace, check_name
from automl.workspace.lineage import import_lineage

if TYPE_CHECKING:
    from connectors.policy import SourcePolicy

# never credentials: the two flags only say how object storage was reached
RECORDED_OPTIONS = (
    "table", "query", "sheet", "limit", "endpoint_url", "anonymous", "server_credentials"
)  # fmt: skip
UPLOADS = "uploads"  # the workspace folder of uploaded files, one folder per browser session
PREDICTIONS = "predictions"  # the workspace folder of the Predict page's scored files
# what a browser session left in those folders, untouched for a day, belongs to no open page
SESSION_FILES_MAX_AGE = 24 * 3600.0
_SAFE_FILE = re.compile(r"[^A-Za-z0-9 _.\-]")


@dataclass
class SourceData:
    """Rows read from a source, not saved yet: what the Import page previews and the CLI saves.

    ``source`` describes where they came from without credentials; ``options`` are the reading
    options worth recording (table, query, sheet, limit, endpoint), never a password or key (an
    endpoint is recorded without its ``user:password@`` part and secret parameters).
    ``location`` is where to read the same rows again (a file's full path, a database URL with
    its password masked, an ``s3://`` URI; "" for an upload, which is deleted once read): a
    scheduled refresh re-reads it.
    """

    data: pd.DataFrame = field(repr=False)
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # how the source was read (a text file's separator, decimal mark, encoding)
    location: str = ""

    @property
    def rows(self) -> int:
        return len(self.data)


def password_from_env(var: str) -> str:
    """The password in environment variable ``var`` (so it is never typed on a command line)."""
    if var not in os.environ:
        raise ParameterError(
            f"--password-env names {var}, but that environment variable is not set."
        )
    return os.environ[var]


def read_source(
    source: str | os.PathLike[str],
    *,
    table: str | None = None,
    query: str | None = None,
    sheet: str | int | None = None,
    limit: int | None = None,
    password: str | None = None,
    password_env: str | None = None,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    max_bytes: int | None = None,
    anonymous: bool = False,
    server_credentials: bool = False,
    policy: SourcePolicy | None = None,
    progress: Callable[[int], None] | None = None,
    label: str | None = None,
) -> SourceData:
    """Read every row of ``source``: a file path, a SQLAlchemy URL with ``table`` or ``query``,
    or an ``s3://`` URI (see :func:`connectors.open_source`).

    The password comes from ``password`` or from the environment variable ``password_env``;
    object storage needs keys, ``anonymous`` or ``server_credentials`` (this server's own AWS
    settings, chosen explicitly); ``policy`` says where this server may read from (None:
    anywhere, as in personal mode; team mode passes the administrator's); ``progress`` gets the
    number of rows read so far (databases); ``label`` replaces the source's own description
    (e.g. "uploaded file churn.csv").
    """
    from connectors import open_source, redact_url
    from connectors.sql import SqlConnector

    if password is None and password_env:
        password = password_from_env(password_env)
    conn = open_source(
        source,
        table=table,
        query=query,
        sheet=sheet,
        limit=limit,
        password=password,
        endpoint_url=endpoint_url,
        access_key=access_key,
        secret_key=secret_key,
        max_bytes=max_bytes,
        anonymous=anonymous,
        server_credentials=server_credentials,
        policy=policy,
    )
    if progress is not None and isinstance(conn, SqlConnector):
        conn = SqlConnector(replace(conn.options, progress=progress))
    df = conn.read()
    given = {
        "table": table,
        "query": query,
        "sheet": sheet,
        "limit": limit,
        "endpoint_url": None if endpoint_url is None else redact_url(endpoint_url, drop_user=True),
        "anonymous": anonymous or None,
        "server_credentials": server_credentials or None,
    }
    recorded = {k: v for k, v in given.items() if k in RECORDED_OPTIONS and v is not None}
    if label is not None:  # an upload: deleted once read, so it cannot be read again
        location = ""
    elif conn.kind == "file":
        location = str(Path(source).resolve())
    else:
        location = redact_url(str(source).strip())
    return SourceData(df, label or conn.describe(), recorded, conn.reading_note(), location)


def save_source(
    ws: Workspace, src: SourceData, name: str, column_types: dict[str, str] | None = None
) -> DatasetRecord:
    """Save rows read by :func:`read_source` as the next version of dataset ``name``.

    ``column_types`` (column -> type) are the types the user chose; builds on this dataset use
    them.
    """
    lineage = import_lineage(src.source, src.options, column_types, src.location)
    return ws.add_dataset(name, src.data, src.source, lineage=lineage)


def import_dataset(
    ws: Workspace,
    source: str | os.PathLike[str],
    name: str,
    **options: Any,
) -> DatasetRecord:
    """Read ``source`` (``options`` as for :func:`read_source`) and save it as the next version of
    dataset ``name``. The catalog records a description of the source without credentials."""
    check_name(name, "dataset")  # before reading, which can take long
    return save_source(ws, read_source(source, **options), name)


def store_upload(ws: Workspace, filename: str, data: bytes | memoryview, folder: str) -> Path:
    """Write uploaded bytes to ``uploads/FOLDER/NAME`` in the workspace (so they do not stay in
    memory) and return the path; the file name is reduced to safe characters. The caller deletes
    it once read: :func:`stored_upload` does both."""
    safe_folder = _SAFE_FILE.sub("_", folder)[:64] or "upload"
    safe_name = _SAFE_FILE.sub("_", Path(filename).name)[:128] or "upload"
    target = ws.root / UPLOADS / safe_folder
    target.mkdir(parents=True, exist_ok=True)
    path = target / safe_name
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


@contextmanager
def stored_upload(
    ws: Workspace, filename: str, data: bytes | memoryview, folder: str
) -> Iterator[Path]:
    """An upload stored with :func:`store_upload` for as long as the block reads it: then it is
    deleted, whether it was imported or rejected (and its session folder, once empty)."""
    path = store_upload(ws, filename, data, folder)
    try:
        yield path
    finally:
        remove(path)
        with suppress(OSError):
            path.parent.rmdir()  # only when empty: another tab of the session may be reading


def sweep_session_files(ws: Workspace, max_age: float = SESSION_FILES_MAX_AGE) -> list[Path]:
    """Delete what browser sessions left in the workspace, untouched for ``max_age`` seconds:
    upload folders (an upload is deleted once read, so these are from a server that stopped
    while reading) and scored files in ``predictions/`` (kept for a session's download button).
    The app calls it when it starts; returns what was deleted."""
    removed: list[Path] = []
    now = time.time()
    for folder in (UPLOADS, PREDICTIONS):
        try:
            entries = list((ws.root / folder).iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                stale = now - newest_change(entry) > max_age
            except OSError:
                continue
            if stale:
                remove(entry)
                removed.append(entry)
    return removed


def read_upload(
    path: str | os.PathLike[str], *, sheet: str | int | None = None, max_bytes: int | None = None
) -> SourceData:
    """An uploaded file (stored with :func:`store_upload`), described as "uploaded file NAME".
    Easel wrote the file itself, so a policy that forbids reading the server's files does not
    apply: call it only with a path :func:`store_upload` returned."""
    p = Path(path)
    return read_source(p, sheet=sheet, max_bytes=max_bytes, label=f"uploaded file {p.name}")


def list_sheets(path: str | os.PathLike[str]) -> list[str]:
    """The sheet names of an Excel workbook (one sheet or none for other files)."""
    p = Path(path)
    if p.suffix.lower() not in (".xlsx", ".xlsm"):
        return []
    return [str(s) for s in pd.ExcelFile(p).sheet_names]


def list_tables(
    url: str, password: str | None = None, *, policy: SourcePolicy | None = None
) -> list[str]:
    """The tables (and views) a database URL can read (``policy`` as for :func:`read_source`)."""
    from connectors.sql import list_tables as _list

    return _list(url, password, policy=policy)


def safe_url(url: str) -> str:
    """A database URL as it may be shown: the password and secret-looking parameters masked."""
    from connectors.sql import safe_url as _safe

    return _safe(url)
