"""Data sources: turn a source description into a pandas DataFrame, with clear errors.

>>> from connectors import read_file
>>> df = read_file("sample_data/customer_churn.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from connectors._base import Connector, SourceRequest
from connectors._registry import REGISTRY, SourceKind, connect, get_connector, register
from connectors._secrets import redact_url
from connectors._stream import Rows
from connectors.files import SUPPORTED_EXTENSIONS, FileConnector, FileOptions
from connectors.policy import PERMISSIVE, SourcePolicy


def read_file(
    path: str | os.PathLike[str],
    *,
    sheet: str | int | None = None,
    max_bytes: int | None = None,
    nrows: int | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV, Parquet, JSON/JSON Lines or Excel file into a DataFrame."""
    return FileConnector(
        FileOptions(Path(path), sheet=sheet, max_bytes=max_bytes, nrows=nrows)
    ).read()


def iter_file_chunks(
    path: str | os.PathLike[str], chunk_rows: int, *, max_bytes: int | None = None
) -> Iterator[pd.DataFrame]:
    """Read a file in chunks of at most ``chunk_rows`` rows (bounded memory for large files)."""
    return FileConnector(FileOptions(Path(path), max_bytes=max_bytes)).iter_chunks(chunk_rows)


def iter_file_batches(
    path: str | os.PathLike[str],
    chunk_rows: int,
    *,
    max_bytes: int | None = None,
    first_rows: int | None = None,
) -> Iterator[Rows]:
    """A CSV/TSV or Parquet file in chunks of ``chunk_rows`` rows (the first of ``first_rows``
    when given) as Arrow tables (with each row's own line when the file allows), in bounded
    memory: the fast path of batch scoring (see :meth:`FileConnector.iter_batches`)."""
    connector = FileConnector(FileOptions(Path(path), max_bytes=max_bytes))
    return connector.iter_batches(chunk_rows, first_rows)


def estimate_rows(path: str | os.PathLike[str]) -> int | None:
    """About how many rows a CSV/TSV or Parquet file holds, without reading it: Parquet's own
    count, or a text file's size over the length of its first lines. None when unknown."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from connectors.files import PARQUET_EXT

    p = Path(path)
    try:
        if p.suffix.lower() in PARQUET_EXT:
            return int(pq.ParquetFile(p).metadata.num_rows)
        with open(p, "rb") as fh:
            head = fh.read(1 << 16)
        lines = head.count(b"\n")
        return int(p.stat().st_size * lines / len(head)) if lines else 1
    except (OSError, ValueError, pa.ArrowException):
        return None


def open_source(
    source: str | os.PathLike[str],
    *,
    table: str | None = None,
    query: str | None = None,
    sheet: str | int | None = None,
    limit: int | None = None,
    password: str | None = None,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    max_bytes: int | None = None,
    anonymous: bool = False,
    server_credentials: bool = False,
    policy: SourcePolicy | None = None,
) -> Connector:
    """The connector for ``source``: a file path, a SQLAlchemy URL or an ``s3://`` URI (any
    kind in :data:`REGISTRY`, tried in order). Options that do not apply to the source's kind are
    errors; an unknown kind of source is an error listing the supported ones.

    Object storage needs keys, ``anonymous=True`` (a public bucket) or ``server_credentials=True``
    (the explicit choice of this server's own AWS settings). ``policy`` says where this server may
    read from (None: anywhere); a source it does not allow is a
    :class:`~automl.errors.PolicyError`, raised before anything is opened."""
    request = SourceRequest(
        str(source).strip(),
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
    return connect(request)


__all__ = [
    "PERMISSIVE",
    "REGISTRY",
    "Rows",
    "SUPPORTED_EXTENSIONS",
    "Connector",
    "SourceKind",
    "SourcePolicy",
    "SourceRequest",
    "FileConnector",
    "FileOptions",
    "get_connector",
    "open_source",
    "iter_file_batches",
    "iter_file_chunks",
    "read_file",
    "redact_url",
    "register",
]
