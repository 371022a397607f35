"""Data sources: turn a source description into a pandas DataFrame, with clear errors.

>>> from connectors import read_file
>>> df = read_file("sample_data/customer_churn.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from connectors._base import Connector
from connectors._registry import REGISTRY, get_connector, register
from connectors.files import SUPPORTED_EXTENSIONS, FileConnector, FileOptions


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
) -> Connector:
    """The connector for ``source``: a file path, a SQLAlchemy URL or an ``s3://`` URI."""
    from automl.errors import DataError

    text = str(source).strip()
    if text.lower().startswith("s3://"):
        if table or query or sheet is not None:
            raise DataError("Object storage sources take no table, query or sheet: drop them.")
        from connectors.s3 import S3Connector, S3Options

        return S3Connector(
            S3Options(
                text,
                endpoint_url=endpoint_url,
                access_key=access_key,
                secret_key=secret_key,
                max_bytes=max_bytes,
                nrows=limit,
            )
        )
    from connectors.sql import SqlConnector, SqlOptions, is_database_url

    if is_database_url(text):
        if table is None and query is None:
            raise DataError(
                "A database source needs a table (--table NAME) or a SELECT query (--query SQL)."
            )
        return SqlConnector(
            SqlOptions(text, table=table, query=query, limit=limit, password=password)
        )
    if table or query:
        raise DataError(
            f"'{text}' is a file, so --table and --query do not apply. For a database, give a "
            "URL such as sqlite:///shop.db or postgresql://user@host/db."
        )
    return FileConnector(FileOptions(Path(text), sheet=sheet, max_bytes=max_bytes, nrows=limit))


__all__ = [
    "REGISTRY",
    "SUPPORTED_EXTENSIONS",
    "Connector",
    "FileConnector",
    "FileOptions",
    "get_connector",
    "open_source",
    "iter_file_chunks",
    "read_file",
    "register",
]
