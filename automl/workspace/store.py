"""Where a workspace keeps its files: datasets (Parquet), model folders (with their reports).

The catalog records each one by a key relative to the workspace, ``datasets/<uuid>.parquet`` or
``models/<uuid>``; a :class:`Store` says where that key lives:

- :class:`LocalStore` (the default): the workspace folder itself, exactly as before.
- :class:`S3Store` (``$EASEL_STORE=s3://bucket/prefix``, ``Workspace(store=...)``, ``--store``):
  an S3-compatible bucket shared by several app servers, through fsspec/s3fs (imported only
  then). The workspace folder is then this computer's cache: a file is written there, uploaded,
  and recorded in the catalog only after the upload succeeded; a file another server saved is
  downloaded there on first use. Datasets and model folders are immutable once recorded (a
  changed model is saved under a new key), so a cached copy is never stale. The cache is kept
  under ``$EASEL_STORE_CACHE_MB`` (default 4096) by removing the copies used longest ago.

Every store error is a :class:`~automl.errors.DataError` in words (no bucket, no permission,
server unreachable within :data:`ANSWER_S`), never a secret key.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from automl.atomic import temp_path
from automl.errors import DataError, ParameterError

STORE_ENV = "EASEL_STORE"
ENDPOINT_ENV = "EASEL_STORE_ENDPOINT_URL"
CACHE_ENV = "EASEL_STORE_CACHE_MB"
CACHE_MB = 4096  # this computer's copies of an S3 store's files, at most (unless in use)
CACHE_GRACE_S = 600.0  # a copy used this recently is never removed: a reader may hold it
TIMEOUT_S = 10  # connecting to the store; a read waits at most READ_TIMEOUT_S for bytes
READ_TIMEOUT_S = 15
# the longest wait for a server that takes the connection and never answers: the call is
# tried twice (measured against such a server: 31 s)
ANSWER_S = 2 * READ_TIMEOUT_S
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9._\-/]{0,512}")
_ENDPOINT = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?/?")


def check_store_url(url: str, where: str = "$" + STORE_ENV) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix), or a :class:`ParameterError` saying what to
    write. Keys in the address are refused without showing them: they belong in the AWS
    settings of the computer (environment, ~/.aws, a role)."""
    text = str(url).strip()
    example = "s3://easel-team/workspace"
    if not text.lower().startswith("s3://"):
        raise ParameterError(
            f"The store in {where} must be an S3 address such as {example}. Leave it unset to "
            "keep datasets and models in the workspace folder."
        )
    if "@" in text:  # user:key@bucket (a key may hold "/")
        raise ParameterError(
            f"Leave the keys out of the store address in {where} (an address is shown in "
            "process lists and logs): write s3://BUCKET/PREFIX and give the keys in the AWS "
            "settings of this computer (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "~/.aws/credentials, or a role)."
        )
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (reads the port: a bad one raises)
    except ValueError:
        raise ParameterError(
            f"The store address in {where} cannot be read: write it as {example}."
        ) from None
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if parts.query or parts.fragment or not _BUCKET.fullmatch(bucket):
        raise ParameterError(
            f"The store address in {where} cannot be read: write it as {example} (a bucket "
            "name of 3 to 63 lower-case letters, digits, dots and dashes, then a folder)."
        )
    parts_ok = all(p not in ("", ".", "..") for p in prefix.split("/"))
    if prefix and not (_PREFIX.fullmatch(prefix) and parts_ok):
        raise ParameterError(
            f"The folder of the store address in {where} may hold only letters, digits "
            f"and . _ - / (no '..' and no empty parts), as in {example}."
        )
    return bucket, prefix


def check_endpoint(url: str) -> str:
    """``$EASEL_STORE_ENDPOINT_URL``: an S3-compatible server's ``http(s)://HOST[:PORT]``."""
    text = str(url).strip()
    if not _ENDPOINT.fullmatch(text):
        raise ParameterError(
            f"${ENDPOINT_ENV} must be an S3-compatible server's address such as "
            "https://minio.example.com:9000 (no keys, no path). Leave it unset for Amazon S3."
        )
    return text.rstrip("/")


class Store(ABC):
    """Where the files of a workspace live. ``root`` is the workspace folder; ``key`` is a path
    relative to it, as the catalog records it."""

    where: str  # the store as messages and the catalog's ``store`` setting name it
    shared: bool  # several servers may share it
    endpoint: str | None = None  # an S3-compatible server's address (None: Amazon S3)

    def __init__(self, root: Path) -> None:
        self.root = root

    @abstractmethod
    def address(self, key: str) -> str:
        """Where another machine reads ``key`` (a Dask worker): a path, or an s3:// URL."""

    @abstractmethod
    def put(self, key: str) -> None:
        """Store the finished file or folder at ``root/key`` (before the catalog records it)."""

    @abstractmethod
    def local(self, key: str) -> Path:
        """A local path holding ``key``'s file or folder (fetched first when it is elsewhere)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` is in the store."""

    @abstractmethod
    def remove(self, key: str) -> None:
        """Remove ``key``'s file or folder (missing is fine)."""


class LocalStore(Store):
    """The workspace folder: files are where they were written (Easel's default)."""

    where = "the workspace folder"
    shared = False

    def address(self, key: str) -> str:
        return str(self.root / key)

    def put(self, key: str) -> None:
        return None

    def local(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        return (self.root / key).exists()

    def remove(self, key: str) -> None:
        _remove_local(self.root / key)


_CHECKED: set[tuple[str, str | None]] = set()  # stores whose bucket this process has seen


class S3Store(Store):
    """An S3-compatible bucket (s3fs), with ``root`` as this computer's cache."""

    shared = True

    def __init__(self, root: Path, url: str, where: str = "$" + STORE_ENV) -> None:
        super().__init__(root)
        self.bucket, self.prefix = check_store_url(url, where)
        self.where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        raw = os.environ.get(ENDPOINT_ENV, "").strip()
        self.endpoint = check_endpoint(raw) if raw else None
        self._fs: Any = None
        self._pid = -1
        self.cache_bytes = _cache_bytes()
        try:
            import s3fs  # noqa: F401
        except ImportError:
            raise DataError(
                f"A workspace store on S3 ({self.where}) needs s3fs, part of Easel's store "
                "extra: pip install 'easel[store]'. Or unset EASEL_STORE to keep datasets and "
                "models in the workspace folder."
            ) from None
        if (self.where, self.endpoint) not in _CHECKED:
            self._check_bucket()
            _CHECKED.add((self.where, self.endpoint))

    # ------------------------------------------------------------------ connection
    @property
    def fs(self) -> Any:
        """The s3fs file system, made again in a forked process (a build's worker)."""
        if self._fs is None or self._pid != os.getpid():
            import s3fs

            config = {
                "connect_timeout": TIMEOUT_S,
                "read_timeout": READ_TIMEOUT_S,
                "retries": {"max_attempts": 1, "mode": "standard"},
            }
            self._fs = s3fs.S3FileSystem(
                endpoint_url=self.endpoint,
                config_kwargs=config,
                skip_instance_cache=True,
                use_listings_cache=False,
            )
            self._fs.retries = 1  # s3fs's own tries of a call that timed out (default 5)
            self._pid = os.getpid()
        return self._fs

    def _path(self, key: str) -> str:
        return "/".join(p for p in (self.bucket, self.prefix, key) if p)

    def _check_bucket(self) -> None:
        try:
            self.fs.call_s3("head_bucket", Bucket=self.bucket)
        except FileNotFoundError:
            raise self._no_bucket() from None
        except Exception as exc:
            raise self._explain(exc, "reach") from None

    def _no_bucket(self) -> DataError:
        return DataError(
            f"The bucket '{self.bucket}' of the workspace store {self.where} does not exist "
            f"(or these keys may not see it). Create it, or correct {STORE_ENV}."
        )

    def _explain(self, exc: BaseException, action: str, key: str = "") -> DataError:
        """A store error in words: never the exception's text (it may quote a request)."""
        doing = "" if action == "reach" else f" to {action} a file" + (f" ({key})" if key else "")
        name = type(exc).__name__
        text = f"{name} {getattr(exc, 'args', '')}"
        if isinstance(exc, PermissionError) or any(
            s in text for s in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
        ):
            return DataError(
                f"The workspace store {self.where} refused access{doing}: these AWS keys have "
                "no permission there. Check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or the computer's role) and the bucket's policy."
            )
        if "NoCredentials" in name or "Unable to locate credentials" in text:
            return DataError(
                f"The workspace store {self.where} needs AWS keys and none were found: set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, use ~/.aws/credentials, or run "
                "with a role that may use the bucket."
            )
        if isinstance(exc, FileNotFoundError) and ("NoSuchBucket" in text or not key):
            return self._no_bucket()
        if isinstance(exc, FileNotFoundError):
            return DataError(
                f"The file {key} of this workspace is missing from its store {self.where}: it "
                "was removed outside Easel. Delete that version and import or build it again."
            )
        return DataError(
            f"The workspace store {self.where} could not be reached{doing}: it refused the "
            f"connection or did not answer within {ANSWER_S} s. Check the network, "
            f"{ENDPOINT_ENV} for an S3-compatible server, and that the server is running; then "
            "try again."
        )

    # ------------------------------------------------------------------ files
    def address(self, key: str) -> str:
        return f"s3://{self._path(key)}"

    def put(self, key: str) -> None:
        """Upload ``root/key``. A dataset is one object (an upload is all or nothing); a model
        folder is one object per file, and the catalog records it only after the last one, so
        nothing half-uploaded is ever read. A failed upload removes what it wrote."""
        src = self.root / key
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        try:
            # a model folder's files go together (s3fs runs a list's transfers concurrently)
            remote = [self._path(f.relative_to(self.root).as_posix()) for f in files]
            self.fs.put([str(f) for f in files], remote)
        except BaseException as exc:
            self._quiet_remove(key)
            if isinstance(exc, Exception):
                raise self._explain(exc, "save", key) from None
            raise
        self._touch(src)
        self._trim(keep=src)

    def local(self, key: str) -> Path:
        """The cached copy of ``key``, downloaded first when this computer has none (through a
        temporary renamed into place, so a reader never sees half a file)."""
        dest = self.root / key
        if dest.exists():
            self._touch(dest)
            return dest
        remote = self._path(key)
        tmp = temp_path(dest)
        try:
            if key.startswith("models/"):
                found = self.fs.find(remote)
                if not found:
                    raise FileNotFoundError(remote)
                targets = [tmp / obj[len(remote) :].lstrip("/") for obj in found]
                for target in targets:
                    target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get(found, [str(t) for t in targets])  # concurrently
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(tmp))
            try:
                os.replace(tmp, dest) if tmp.is_file() else tmp.rename(dest)
            except OSError:
                if not dest.exists():  # else another process fetched it first: use theirs
                    raise
        except Exception as exc:
            if _local_problem(exc, self.root):
                raise  # this computer's disk (full, no permission): the front doors name it
            raise self._explain(exc, "read", key) from None
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        self._trim(keep=dest)
        return dest

    def exists(self, key: str) -> bool:
        if (self.root / key).exists():
            return True
        try:
            return bool(self.fs.exists(self._path(key)))
        except Exception as exc:
            raise self._explain(exc, "read", key) from None

    def remove(self, key: str) -> None:
        try:
            self.fs.rm(self._path(key), recursive=key.startswith("models/"))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._explain(exc, "delete", key) from None
        finally:
            _remove_local(self.root / key)  # this computer's copy

    def _quiet_remove(self, key: str) -> None:
        with contextlib.suppress(Exception):  # the upload's own failure is the one to report
            self.fs.rm(self._path(key), recursive=key.startswith("models/"))

    # ------------------------------------------------------------------ the cache
    @staticmethod
    def _touch(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)

    def _trim(self, keep: Path) -> None:
        """Remove the cached copies used longest ago while the cache is over its size, except
        ``keep`` and any copy used in the last :data:`CACHE_GRACE_S` seconds."""
        limit = self.cache_bytes
        entries: list[tuple[float, int, Path]] = []
        for folder in ("datasets", "models"):
            base = self.root / folder
            if not base.is_dir():
                continue
            for p in base.iterdir():
                if p.name.startswith("."):
                    continue  # a writer's temporary
                try:
                    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
                    size = sum(f.stat().st_size for f in files)
                    entries.append((p.stat().st_mtime, size, p))
                except OSError:
                    continue
        total = sum(size for _, size, _ in entries)
        now = time.time()
        for used, size, p in sorted(entries):
            if total <= limit:
                break
            if p == keep or now - used < CACHE_GRACE_S:
                continue
            _remove_local(p)
            total -= size


def _local_problem(exc: BaseException, root: Path) -> bool:
    """Whether a download failed on this computer's disk rather than at the store."""
    if not isinstance(exc, OSError):
        return False
    return str(exc.filename or "").startswith(str(root)) or exc.errno in (
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
    )


def _cache_bytes() -> float:
    """``$EASEL_STORE_CACHE_MB`` (default :data:`CACHE_MB`) in bytes, checked."""
    text = os.environ.get(CACHE_ENV, "").strip()
    if not text:
        return CACHE_MB * 2**20
    try:
        mb = float(text)
    except ValueError:
        mb = -1.0
    if not 0 <= mb < 2**40:
        raise ParameterError(
            f"${CACHE_ENV} must be a number of megabytes, 0 or more (the most this computer "
            f"keeps of the store's files), such as {CACHE_MB}. Got '{text[:20]}' instead."
        )
    return mb * 2**20


def _remove_local(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def open_store(root: Path, url: str | None = None, where: str | None = None) -> Store:
    """The store of the workspace at ``root``: ``url`` (or $EASEL_STORE) when set, else the
    folder itself. s3fs is imported only for an S3 store."""
    text = url or os.environ.get(STORE_ENV) or None
    if not text:
        return LocalStore(root)
    return S3Store(root, text, where or ("--store" if url else "$" + STORE_ENV))
