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


__all__ = [
    "REGISTRY",
    "SUPPORTED_EXTENSIONS",
    "Connector",
    "FileConnector",
    "FileOptions",
    "get_connector",
    "iter_file_chunks",
    "read_file",
    "register",
]
