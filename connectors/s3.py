"""Object storage: ``s3://bucket/key`` for one CSV/TSV or Parquet file, ``s3://bucket/prefix/``
for many files of one format and one set of columns (e.g. the parts a Spark job writes).

Works with AWS S3 and S3-compatible services (MinIO, Ceph, Cloudflare R2, ...) through
``endpoint_url``. Credentials come from the options or the standard AWS environment variables and
never appear in :meth:`S3Connector.describe`, in errors or in the catalog. Each object is copied
to a temporary file and read by the files connector, so CSV detection and errors are the same as
for uploads.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from automl.errors import DataError
from connectors._base import Connector
from connectors.files import CSV_EXT, PARQUET_EXT, FileConnector, FileOptions

SUPPORTED = CSV_EXT + PARQUET_EXT
TIMEOUT_S = 5.0
_COPY_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class S3Options:
    """An ``s3://`` URI and how to reach it."""

    uri: str
    endpoint_url: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    region: str | None = None
    max_bytes: int | None = None
    nrows: int | None = None
    anonymous: bool = False


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); a clear error for anything else."""
    text = uri.strip()
    if not text.lower().startswith("s3://") or len(text) <= 5:
        raise DataError(
            f"'{uri}' is not an object storage address. Write it as s3://bucket/path/file.csv "
            "(or s3://bucket/folder/ for every file in a folder)."
        )
    bucket, _, key = text[5:].partition("/")
    if not bucket:
        raise DataError(f"'{uri}' has no bucket name: write s3://bucket/path/file.csv.")
    return bucket, key


class S3Connector(Connector):
    kind = "s3"

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self.bucket, self.key = parse_uri(options.uri)
        self._fs: pafs.S3FileSystem | None = None

    def describe(self) -> str:
        where = f" (endpoint {self.options.endpoint_url})" if self.options.endpoint_url else ""
        return f"s3://{self.bucket}/{self.key}{where}"

    # ------------------------------------------------------------------ connection
    def _filesystem(self) -> pafs.S3FileSystem:
        if self._fs is not None:
            return self._fs
        o = self.options
        kwargs: dict[str, object] = {
            "connect_timeout": TIMEOUT_S,
            "request_timeout": TIMEOUT_S,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=2),
        }
        if o.endpoint_url:
            endpoint = o.endpoint_url.strip().rstrip("/")
            scheme = "https"
            if "://" in endpoint:
                scheme, endpoint = endpoint.split("://", 1)
            kwargs["endpoint_override"] = endpoint
            kwargs["scheme"] = scheme
        if o.region:
            kwargs["region"] = o.region
        elif o.endpoint_url:
            kwargs["region"] = "us-east-1"
        if o.anonymous:
            kwargs["anonymous"] = True
        elif o.access_key or o.secret_key:
            kwargs["access_key"] = o.access_key
            kwargs["secret_key"] = o.secret_key
        try:
            self._fs = pafs.S3FileSystem(**kwargs)
        except (pa.ArrowInvalid, ValueError) as e:
            raise DataError(self._scrub(f"Object storage settings are not valid: {e}.")) from None
        return self._fs

    def _scrub(self, text: str) -> str:
        for secret in (self.options.secret_key, self.options.access_key):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _explain(self, exc: Exception) -> DataError:
        msg = str(exc)
        low = msg.lower()
        where = self.describe()
        if "nosuchbucket" in low or "bucket does not exist" in low or "bucket not found" in low:
            text = f"The bucket '{self.bucket}' does not exist at {where}. Check its name."
        elif "access denied" in low or "accessdenied" in low or "forbidden" in low or "403" in low:
            text = (
                f"Access to {where} was refused. Check the access key and secret key, and that "
                "they may read this bucket."
            )
        elif (
            "invalidaccesskeyid" in low
            or "signaturedoesnotmatch" in low
            or "credentials" in low
            or "security token" in low
        ):
            text = f"The storage service did not accept the access key or secret key for {where}."
        elif (
            "curl" in low
            or "connect" in low
            or "resolve" in low
            or "timeout" in low
            or "timed out" in low
        ):
            text = (
                f"Could not reach the storage service for {where}. Check the endpoint address "
                "and port, that the service is running, and the network."
            )
        else:
            first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
            text = f"Could not read {where}: {first[:200]}."
        return DataError(self._scrub(text))

    # ------------------------------------------------------------------ listing
    def list_objects(self) -> list[tuple[str, int]]:
        """(key, size) of the supported data files at the URI: one file, or a prefix's files."""
        fs = self._filesystem()
        path = f"{self.bucket}/{self.key}".rstrip("/")
        try:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.File and not self.key.endswith("/"):
                files = [info]
            else:
                files = [
                    f
                    for f in fs.get_file_info(pafs.FileSelector(path, recursive=True))
                    if f.type == pafs.FileType.File
                ]
        except FileNotFoundError:
            files = []
        except OSError as e:
            raise self._explain(e) from None
        out = []
        for f in sorted(files, key=lambda f: f.path):
            name = PurePosixPath(f.path).name
            if f.size == 0 or name.startswith(("_", ".")):
                continue  # folder markers, _SUCCESS, hidden files
            out.append((f.path.split("/", 1)[1], int(f.size or 0)))
        if not out:
            if not files and not self._bucket_exists():
                raise DataError(f"The bucket '{self.bucket}' does not exist at {self.describe()}.")
            raise DataError(
                f"Nothing to read at {self.describe()}: no such file, or no data files under "
                "that prefix. Check the path (keys are case-sensitive)."
            )
        return out

    def _bucket_exists(self) -> bool:
        try:
            return bool(
                self._filesystem().get_file_info(self.bucket).type != pafs.FileType.NotFound
            )
        except OSError:
            return False

    def _plan(self) -> list[tuple[str, int]]:
        objects = self.list_objects()
        exts = {PurePosixPath(k).suffix.lower() for k, _ in objects}
        unsupported = sorted(e or "(none)" for e in exts if e not in SUPPORTED)
        if unsupported:
            raise DataError(
                f"{self.describe()} holds files of a type Easel cannot read from object storage "
                f"({', '.join(unsupported)}). Supported: {', '.join(SUPPORTED)}."
            )
        kinds = {"csv" if e in CSV_EXT else "parquet" for e in exts}
        if len(kinds) > 1:
            raise DataError(
                f"{self.describe()} mixes CSV and Parquet files; point at a folder with one format."
            )
        total = sum(size for _, size in objects)
        limit = self.options.max_bytes
        if limit is not None and total > limit:
            raise DataError(
                f"{self.describe()} is {total / 1e6:,.1f} MB, over the limit of "
                f"{limit / 1e6:,.1f} MB. Read a smaller file or folder, or raise the limit."
            )
        return objects

    # ------------------------------------------------------------------ reading
    def _download(self, key: str, tmpdir: str) -> Path:
        fs = self._filesystem()
        local = Path(tmpdir) / PurePosixPath(key).name
        try:
            with fs.open_input_stream(f"{self.bucket}/{key}") as src, local.open("wb") as dst:
                while True:
                    block = src.read(_COPY_BLOCK)
                    if not block:
                        break
                    dst.write(block)
        except OSError as e:
            raise self._explain(e) from None
        return local

    def _read_one(self, key: str, tmpdir: str, nrows: int | None) -> pd.DataFrame:
        local = self._download(key, tmpdir)
        try:
            return FileConnector(FileOptions(local, nrows=nrows)).read()
        except DataError as e:
            raise DataError(
                str(e).replace(f"'{local.name}'", f"'s3://{self.bucket}/{key}'")
            ) from None
        finally:
            local.unlink(missing_ok=True)

    def read(self) -> pd.DataFrame:
        return pd.concat(list(self._frames()), ignore_index=True)

    def _frames(self) -> Iterator[pd.DataFrame]:
        objects = self._plan()
        left = self.options.nrows
        columns: list[str] | None = None
        first_key = objects[0][0]
        with tempfile.TemporaryDirectory(prefix="easel-s3-") as tmp:
            for key, _ in objects:
                df = self._read_one(key, tmp, left)
                if columns is None:
                    columns = list(df.columns)
                elif list(df.columns) != columns:
                    raise DataError(
                        f"s3://{self.bucket}/{key} has different columns from "
                        f"s3://{self.bucket}/{first_key} ({', '.join(map(str, df.columns[:8]))} "
                        f"vs {', '.join(map(str, columns[:8]))}). Files read together must have "
                        "the same columns."
                    )
                yield df
                if left is not None:
                    left -= len(df)
                    if left <= 0:
                        return

    def iter_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        for df in self._frames():
            for start in range(0, len(df), chunk_rows):
                yield df.iloc[start : start + chunk_rows]


def read_s3(uri: str, **options: object) -> pd.DataFrame:
    """Read ``s3://bucket/key`` (or a prefix of files) into a DataFrame."""
    return S3Connector(S3Options(uri, **options)).read()  # type: ignore[arg-type]


__all__ = ["S3Connector", "S3Options", "parse_uri", "read_s3"]
