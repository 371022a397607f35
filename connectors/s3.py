"""Object storage: ``s3://bucket/key`` for one CSV/TSV or Parquet file, ``s3://bucket/prefix/``
for many files of one format and one set of columns (e.g. the parts a Spark job writes).

Works with AWS S3 and S3-compatible services (MinIO, Ceph, Cloudflare R2, ...) through
``endpoint_url``, using pyarrow's S3 filesystem (no extra dependency). Access is one explicit
choice: keys given in the options, ``anonymous`` for a public bucket, or
``use_server_credentials`` for the standard AWS settings of the machine Easel runs on
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws``, instance roles),
which a :class:`~connectors.policy.SourcePolicy` can forbid; empty keys never fall back to them
silently. Keys never appear in :meth:`S3Connector.describe` or in errors, nor does a
``user:password@`` part of the endpoint. Each object is checked against ``max_bytes`` before it
is downloaded, copied to a temporary file, read by the files connector (so delimiter and encoding
detection and the errors are the same as for uploads, but name the ``s3://`` object) and deleted.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from automl.errors import DataError, invalid_parameter
from connectors._base import Connector, SourceRequest
from connectors._secrets import redact_url
from connectors.files import CSV_EXT, PARQUET_EXT, FileConnector, FileOptions
from connectors.policy import SourcePolicy, effective, split_host_port

SUPPORTED = CSV_EXT + PARQUET_EXT
TIMEOUT_S = 5.0
MAX_ATTEMPTS = 2
_COPY_BLOCK = 8 * 1024 * 1024
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENDPOINT_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?$")
_AWS_CODE = re.compile(r"AWS Error ([A-Z_]+)")
_REQUEST_ID = re.compile(r"\s*\(Request ID: [^)]*\)")


@dataclass(frozen=True)
class S3Options:
    """An ``s3://`` URI and how to reach it.

    ``endpoint_url`` is for S3-compatible services (``http://host:9000``; without a scheme,
    https is used). Give the keys, or ``anonymous`` to read a public bucket without keys, or
    ``use_server_credentials`` to use the standard AWS settings of this machine (exactly one of
    the three); the keys are left out of ``repr``. ``max_bytes`` limits the total size of the
    objects read (checked before downloading); ``nrows`` the number of rows. ``policy`` says
    which endpoints, and whether the server's own credentials, may be used.
    """

    uri: str
    endpoint_url: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    region: str | None = None
    max_bytes: int | None = None
    nrows: int | None = None
    anonymous: bool = False
    use_server_credentials: bool = False
    policy: SourcePolicy | None = field(default=None, repr=False, compare=False)


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); a clear error for anything else."""
    text = uri.strip()
    shown = redact_url(text[:300], drop_user=True)
    if not text.lower().startswith("s3://"):
        raise DataError(
            f"'{shown}' is not an object storage address. Write it as s3://bucket/path/file.csv "
            "(or s3://bucket/folder/ for every file in a folder)."
        )
    bucket, _, key = text[5:].partition("/")
    if not bucket:
        raise DataError(f"'{shown}' has no bucket name: write it as s3://bucket/path/file.csv.")
    if not _BUCKET.match(bucket):
        raise DataError(
            f"The first part of '{shown}' is not a valid bucket name (use letters, digits, '.', "
            "'-' and '_' only). Write the address as s3://bucket/path/file.csv."
        )
    return bucket, key


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"  # pragma: no cover


def _split_endpoint(text: str) -> tuple[str | None, str]:
    """``http://user:pw@host:9000/`` -> ("http", "host:9000"); no scheme -> (None, host)."""
    text = text.strip().rstrip("/")
    scheme: str | None = None
    if "://" in text:
        scheme, text = text.split("://", 1)
        scheme = scheme.lower()
    return scheme, text.rpartition("@")[2]


def _is_marker(name: str, size: int) -> bool:
    """Zero-byte folder markers, ``_SUCCESS``/``_metadata`` and hidden files (``.crc``)."""
    return size == 0 or name.startswith(("_", "."))


class S3Connector(Connector):
    kind = "s3"
    enforces_policy = True

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self.bucket, self.key = parse_uri(options.uri)
        o = options
        for name in ("max_bytes", "nrows"):
            value = getattr(o, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise invalid_parameter(name, "S3Options", "a positive whole number or None", value)
        if bool(o.access_key) != bool(o.secret_key):
            raise DataError(
                "Give both the access key and the secret key, or neither (then choose anonymous "
                "access for a public bucket, or this server's own AWS settings)."
            )
        if o.anonymous and o.access_key:
            raise DataError(
                "Anonymous access takes no keys: drop the keys, or turn anonymous access off."
            )
        if o.use_server_credentials and (o.access_key or o.anonymous):
            raise DataError(
                "Choose one way to reach the bucket: keys, anonymous access, or this server's own "
                "AWS settings."
            )
        rules = effective(o.policy)
        self._scheme, self._host = self._check_endpoint()
        host, port = split_host_port(self._host) if self._host else (None, None)
        rules.check_s3_endpoint(host, port, self._scheme or "https")
        if o.use_server_credentials:
            rules.check_server_credentials()
        elif not (o.access_key or o.anonymous):
            raise DataError(
                f"No keys were given for {self.describe()}. Give the access key and secret key, "
                "choose anonymous access for a public bucket, or choose to use this server's own "
                "AWS settings (on the command line: --aws-settings)."
            )
        self._fs: pafs.S3FileSystem | None = None

    @classmethod
    def from_request(cls, request: SourceRequest) -> S3Connector:
        r = request
        if r.table or r.query or r.sheet is not None:
            raise DataError("Object storage sources take no table, query or sheet: drop them.")
        options = S3Options(
            r.source,
            endpoint_url=r.endpoint_url,
            access_key=r.access_key,
            secret_key=r.secret_key,
            max_bytes=r.max_bytes,
            nrows=r.limit,
            anonymous=r.anonymous,
            use_server_credentials=r.server_credentials,
            policy=r.policy,
        )
        return cls(options)

    def _check_endpoint(self) -> tuple[str | None, str | None]:
        """(scheme, host:port) of the endpoint; (None, None) for Amazon S3 itself."""
        if not self.options.endpoint_url:
            return None, None
        scheme, host = _split_endpoint(self.options.endpoint_url)
        if scheme not in (None, "http", "https"):
            raise DataError(
                f"The endpoint must start with http:// or https:// (got {scheme[:20]}://). "
                "Write it as http://host:9000."
            )
        if not _ENDPOINT_HOST.match(host):
            raise DataError(
                f"The endpoint '{self.endpoint()}' should be a host and port only, such as "
                "http://host:9000 (no path or options)."
            )
        return scheme, host

    def endpoint(self) -> str | None:
        """The endpoint as given, without any ``user:password@`` part, for messages and for the
        catalog."""
        if not self.options.endpoint_url:
            return None
        scheme, host = _split_endpoint(self.options.endpoint_url)
        shown = redact_url(f"{scheme}://{host}" if scheme else host, drop_user=True)
        return shown[:200]

    def describe(self) -> str:
        endpoint = self.endpoint()
        where = f" (endpoint {endpoint})" if endpoint else ""
        return f"s3://{self.bucket}/{self.key}{where}"

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # ------------------------------------------------------------------ connection
    def _filesystem(self) -> pafs.S3FileSystem:
        if self._fs is not None:
            return self._fs
        o = self.options
        kwargs: dict[str, Any] = {
            "connect_timeout": TIMEOUT_S,
            "request_timeout": TIMEOUT_S,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=MAX_ATTEMPTS),
        }
        if self._host:
            kwargs["endpoint_override"] = self._host
            kwargs["scheme"] = self._scheme or "https"
        if o.region:
            kwargs["region"] = o.region
        elif o.endpoint_url:
            kwargs["region"] = "us-east-1"  # S3-compatible services ignore it; skip the lookup
        if o.anonymous:
            kwargs["anonymous"] = True
        elif o.access_key and o.secret_key:
            kwargs["access_key"] = o.access_key
            kwargs["secret_key"] = o.secret_key
        try:
            self._fs = pafs.S3FileSystem(**kwargs)
        except (pa.ArrowInvalid, ValueError, TypeError, OSError) as e:
            raise DataError(
                f"The object storage settings are not valid: {self._scrub(str(e))[:200]}."
            ) from None
        return self._fs

    def _scrub(self, text: str) -> str:
        """Remove the keys (and the request id noise) from text coming from the S3 library."""
        for secret in (self.options.secret_key, self.options.access_key):
            if secret:
                text = text.replace(secret, "***")
        return _REQUEST_ID.sub("", text)

    def _explain(self, exc: Exception, probe: str | None = None) -> DataError:
        """A DataError for an S3 failure. A refused HEAD request has no body, so ``probe`` (a
        path to list) asks again with a request whose answer says why."""
        msg = self._scrub(str(exc))
        m = _AWS_CODE.search(msg)
        code = m.group(1) if m else ""
        low = msg.lower()
        where = self.describe()
        if code == "ACCESS_DENIED" and "no response body" in low and probe is not None:
            try:
                self._filesystem().get_file_info(pafs.FileSelector(probe, allow_not_found=True))
            except OSError as again:
                if _AWS_CODE.search(str(again)):
                    return self._explain(again)
        if code == "NO_SUCH_BUCKET" or "bucket does not exist" in low:
            return self._no_bucket()
        if code == "INVALID_ACCESS_KEY_ID":
            text = (
                f"The storage service does not know the access key given for {where}. Check the "
                "access key (or AWS_ACCESS_KEY_ID), and that it belongs to this service."
            )
        elif code == "SIGNATURE_DOES_NOT_MATCH":
            text = (
                f"The secret key does not match the access key for {where}. Check the secret key "
                "(or AWS_SECRET_ACCESS_KEY) and copy it again without spaces."
            )
        elif code in ("ACCESS_DENIED", "INVALID_TOKEN", "EXPIRED_TOKEN") or "forbidden" in low:
            text = (
                f"Access to {where} was refused. Check the access key and secret key (or the "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY settings), and that they may read "
                "this bucket."
            )
        elif code == "MISSING_AUTHENTICATION_TOKEN" or "no credentials" in low:
            text = (
                f"No keys were found for {where}. Give the access key and secret key, set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use anonymous access for a "
                "public bucket."
            )
        elif "could not resolve" in low:
            text = (
                f"The storage service's host name for {where} could not be found. Check the "
                "spelling of the endpoint and the network."
            )
        elif code == "NETWORK_CONNECTION" or "curl" in low or "timed out" in low:
            text = (
                f"Could not reach the storage service for {where}. Check the endpoint address, "
                "scheme (http or https) and port, that the service is running, and the network."
            )
            if self.options.endpoint_url and "://" not in self.options.endpoint_url:
                text += " The endpoint has no scheme, so https was used: write http://... if the "
                text += "service does not use TLS."
        elif code in ("PERMANENT_REDIRECT", "AUTHORIZATION_HEADER_MALFORMED") or (
            "http status 301" in low
        ):
            text = (
                f"The bucket '{self.bucket}' is in another region than the one used for {where}. "
                "Set the region (e.g. eu-west-1)."
            )
        else:
            first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
            text = f"Could not read {where}: {first[:200]}. Check the address and the settings."
        return DataError(text)

    # ------------------------------------------------------------------ listing
    def _listing(self) -> tuple[bool, list[pafs.FileInfo]]:
        """(is a prefix, the files found). One key is one file unless it is a "folder"."""
        fs = self._filesystem()
        path = f"{self.bucket}/{self.key}".rstrip("/")
        if self.key and not self.key.endswith("/"):
            try:
                info = fs.get_file_info(path)
            except OSError as e:
                raise self._explain(e, probe=f"{path}/") from None
            if info.type == pafs.FileType.File:
                return False, [info]
        try:
            found = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        except OSError as e:
            raise self._explain(e) from None
        return True, [f for f in found if f.type == pafs.FileType.File]

    def _not_found(self) -> DataError:
        """Nothing at the URI: name a few close keys from the parent folder (one listing)."""
        if not self._bucket_exists():
            return self._no_bucket()
        target = self.key.rstrip("/")
        parent, _, name = target.rpartition("/")
        hint = ""
        try:
            entries = self._filesystem().get_file_info(
                pafs.FileSelector(f"{self.bucket}/{parent}".rstrip("/"), allow_not_found=True)
            )
        except OSError:
            entries = []
        names = [
            PurePosixPath(e.path).name + ("/" if e.type == pafs.FileType.Directory else "")
            for e in entries
        ]
        names = [n for n in names if n and not _is_marker(n, 1)]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        folder = f"s3://{self.bucket}/{parent}/" if parent else f"s3://{self.bucket}/"
        if close:
            hint = " Close matches: " + ", ".join(folder + c for c in close) + "."
        elif names:
            shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
            hint = f" {folder} holds: {shown}."
        return DataError(
            f"Nothing found at {self.describe()}: no object with that key and no files under "
            f"that prefix. Check the path (keys are case-sensitive).{hint}"
        )

    def _no_bucket(self) -> DataError:
        return DataError(
            f"The bucket '{self.bucket}' does not exist at {self.describe()}. Check its name (and "
            "the endpoint, if you gave one)."
        )

    def _bucket_exists(self) -> bool:
        try:
            info = self._filesystem().get_file_info(self.bucket)
        except OSError:
            return True  # e.g. no right to look at the bucket itself: say nothing about it
        return bool(info.type != pafs.FileType.NotFound)

    def list_objects(self) -> list[tuple[str, int]]:
        """(key, size) of the data files the URI names, in key order: the object itself, or the
        CSV/TSV/Parquet files under a prefix (without folder markers, ``_SUCCESS`` and hidden
        files, and without files of other types)."""
        is_prefix, files = self._listing()
        if not is_prefix:
            info = files[0]
            ext = PurePosixPath(self.key).suffix.lower()
            if ext not in SUPPORTED:
                raise DataError(
                    f"{self._uri(self.key)} has an unsupported extension ({ext or 'none'}). "
                    f"Supported in object storage: {', '.join(SUPPORTED)}. For every file in a "
                    "folder, end the address with '/'."
                )
            return [(self.key, int(info.size or 0))]
        if not files:
            raise self._not_found()
        objects = []
        others = []
        for f in sorted(files, key=lambda f: f.path):
            key = f.path.split("/", 1)[1]
            size = int(f.size or 0)
            if _is_marker(PurePosixPath(key).name, size):
                continue
            if PurePosixPath(key).suffix.lower() in SUPPORTED:
                objects.append((key, size))
            else:
                others.append(key)
        if not objects:
            found = (
                f" It holds {len(others)} other file(s), e.g. "
                f"{', '.join(self._uri(k) for k in others[:3])}."
                if others
                else " It holds only empty objects (folder markers or empty files)."
            )
            raise DataError(
                f"No data files under {self.describe()}.{found} Supported in object storage: "
                f"{', '.join(SUPPORTED)}."
            )
        return objects

    def _plan(self) -> list[tuple[str, int]]:
        objects = self.list_objects()
        kinds = {
            "CSV" if PurePosixPath(k).suffix.lower() in CSV_EXT else "Parquet" for k, _ in objects
        }
        if len(kinds) > 1:
            raise DataError(
                f"{self.describe()} mixes CSV and Parquet files. Point at a folder that holds one "
                "format, or at one file."
            )
        total = sum(size for _, size in objects)
        limit = self.options.max_bytes
        if limit is not None and total > limit:
            what = (
                self._uri(objects[0][0])
                if len(objects) == 1
                else f"The {len(objects)} files under {self._uri(self.key)}"
            )
            raise DataError(
                f"{what} {'is' if len(objects) == 1 else 'are'} {_size(total)}, over the limit of "
                f"{_size(limit)}. Read a smaller file or folder, or raise the limit."
            )
        return objects

    # ------------------------------------------------------------------ reading
    def _download(self, key: str, tmpdir: str) -> Path:
        local = Path(tmpdir) / PurePosixPath(key).name
        path = f"{self.bucket}/{key}"
        try:
            with (
                self._filesystem().open_input_stream(path) as src,
                local.open("wb") as dst,
            ):
                while block := src.read(_COPY_BLOCK):
                    dst.write(block)
        except OSError as e:
            local.unlink(missing_ok=True)
            raise self._explain(e, probe=f"{path}/") from None
        return local

    def _renamed(self, error: DataError, local: Path, key: str) -> DataError:
        """The files connector's error, naming the s3:// object instead of the temporary file."""
        text = str(error).replace(str(local), self._uri(key))
        return DataError(text.replace(f"'{local.name}'", f"'{self._uri(key)}'"))

    def _check_columns(self, key: str, columns: list[str], first: tuple[str, list[str]]) -> None:
        first_key, expected = first
        if columns == expected:
            return
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        if missing or extra:
            diff = "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing[:5])}" if missing else "",
                    f"extra {', '.join(extra[:5])}" if extra else "",
                )
                if part
            )
        else:
            diff = "same columns in another order"
        raise DataError(
            f"{self._uri(key)} has different columns from {self._uri(first_key)} ({diff}). Files "
            "read together must have the same columns: move the odd file out of the folder, or "
            "read the files one by one."
        )

    def _frames(self, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
        """The objects' rows, file by file (or in chunks), checked for matching columns and cut
        at ``nrows``. Each temporary copy is deleted as soon as it has been read."""
        objects = self._plan()
        left = self.options.nrows
        first: tuple[str, list[str]] | None = None
        with tempfile.TemporaryDirectory(prefix="easel-s3-") as tmp:
            for key, _ in objects:
                local = self._download(key, tmp)
                try:
                    reader = FileConnector(FileOptions(local, nrows=left))
                    parts = (
                        reader.iter_chunks(chunk_rows)
                        if chunk_rows is not None
                        else iter([reader.read()])
                    )
                    for i, df in enumerate(parts):
                        if i == 0:
                            columns = [str(c) for c in df.columns]
                            if first is None:
                                first = (key, columns)
                            else:
                                self._check_columns(key, columns, first)
                        if left is not None:
                            df = df.iloc[:left]
                            left -= len(df)
                        if len(df):
                            yield df
                        if left is not None and left <= 0:
                            return
                except DataError as e:
                    raise self._renamed(e, local, key) from None
                finally:
                    local.unlink(missing_ok=True)

    def read(self) -> pd.DataFrame:
        frames = list(self._frames(None))
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def iter_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Chunks of at most ``chunk_rows`` rows; only one object is on local disk at a time."""
        if not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise invalid_parameter(
                "chunk_rows", "iter_chunks", "a positive whole number", chunk_rows
            )
        return self._frames(chunk_rows)


def read_s3(uri: str, **options: Any) -> pd.DataFrame:
    """Read ``s3://bucket/key`` (or every file under ``s3://bucket/prefix/``) into a DataFrame.

    ``options`` are the fields of :class:`S3Options` (``endpoint_url``, ``access_key``,
    ``secret_key``, ``region``, ``max_bytes``, ``nrows``, ``anonymous``).
    """
    return S3Connector(S3Options(uri, **options)).read()


__all__ = ["S3Connector", "S3Options", "parse_uri", "read_s3"]
