"""SQL databases through SQLAlchemy URLs: SQLite (embedded, the default), PostgreSQL, and any other
database with a SQLAlchemy dialect (MySQL, Redshift, Snowflake, Athena: see docs/connectors.md).

A source is a table or one read-only ``SELECT`` query. Queries are parsed in the database's own
dialect before they reach it (:func:`check_select`: one statement, nothing that writes, no function
with side effects) and run in a read-only session and transaction where the database offers one
(PostgreSQL, MySQL; SQLite files are opened read-only), so an import can never change data.
Rows are streamed in chunks (server-side cursors on PostgreSQL), so a row limit stops early and
progress can be reported. Passwords, in the URL or in its parameters, never appear in
:meth:`SqlConnector.describe`, in errors or in the catalog. A
:class:`~connectors.policy.SourcePolicy` is checked before anything is opened.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from automl.errors import DataError, PolicyError
from connectors._base import Connector, SourceRequest
from connectors._registry import is_database_url  # noqa: F401 (kept importable from here)
from connectors._secrets import is_secret_name, redact_url, scrub
from connectors._sqlcheck import check_select
from connectors.policy import SourcePolicy, effective

DEFAULT_CHUNK_ROWS = 50_000
CONNECT_TIMEOUT_S = 5
FILE_BACKENDS = ("sqlite", "duckdb")  # databases that are files on this server
SQLITE_MAGIC = b"SQLite format 3\x00"
# URL parameters that point the driver at another server than the URL's host (refused when the
# policy lists the allowed hosts), and a database name that is itself a connection string
_TARGET_PARAMS = frozenset(
    {
        "host", "hostaddr", "port", "service", "servicefile", "unix_socket", "unix_sock", "socket",
        "dsn", "odbc_connect", "server", "address", "addr", "connect_string", "account", "passfile",
    }
)  # fmt: skip
# PostgreSQL (libpq drivers): every transaction of the session is read-only, and quotes are read
# as the query check reads them (backslashes are plain characters in '...')
_PG_SESSION = "-c default_transaction_read_only=on -c standard_conforming_strings=on"
# Optional driver packages per dialect, named in the error when one is missing.
_DRIVERS = {
    "mysql": "pymysql (URL mysql+pymysql://...)",
    "mariadb": "pymysql (URL mysql+pymysql://...)",
    "mssql": "pyodbc (URL mssql+pyodbc://...)",
    "redshift": "sqlalchemy-redshift and redshift_connector",
    "snowflake": "snowflake-sqlalchemy",
    "awsathena": "pyathena",
    "oracle": "oracledb (URL oracle+oracledb://...)",
    "postgresql": "psycopg[binary]",
}


@dataclass(frozen=True)
class SqlOptions:
    """Where the rows come from: a SQLAlchemy URL plus a table or a read-only query.

    ``password`` may be given apart from the URL (so the URL can be stored and shown as is);
    ``policy`` says which database servers (and whether database files) may be read.
    """

    url: str
    table: str | None = None
    query: str | None = None
    limit: int | None = None
    password: str | None = field(default=None, repr=False)
    progress: Callable[[int], None] | None = field(default=None, repr=False, compare=False)
    policy: SourcePolicy | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"SqlOptions(url={safe_url(self.url)!r}, table={self.table!r}, "
            f"query={self.query!r}, limit={self.limit!r})"
        )


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Database types pandas keeps as Python objects become plain columns (numbers, dates, text)."""
    for col in df.columns:
        s = df[col]
        if s.dtype != object:
            continue
        sample = s.dropna()
        if sample.empty:
            continue
        first = sample.iloc[0]
        if isinstance(first, decimal.Decimal | uuid.UUID):
            df[col] = s.map(_plain, na_action="ignore")
            if isinstance(first, decimal.Decimal):
                df[col] = pd.to_numeric(df[col], errors="coerce")
        elif isinstance(first, dt.date) and not isinstance(first, dt.datetime):
            df[col] = pd.to_datetime(s, errors="coerce")
        elif isinstance(first, bytes | memoryview):
            df[col] = s.map(lambda v: bytes(v).hex(), na_action="ignore")
    return df


class SqlConnector(Connector):
    """Rows of one table or one SELECT query from a database reached by a SQLAlchemy URL."""

    kind = "sql"
    enforces_policy = True

    def __init__(self, options: SqlOptions) -> None:
        if (options.table is None) == (options.query is None):
            raise DataError("Give either a table name or a SELECT query (exactly one of them).")
        if options.limit is not None and options.limit < 1:
            raise DataError(f"The row limit must be a positive number; got {options.limit}.")
        self.options = options
        self._url = _parse_url(options.url, options.password, options.policy)
        self._query = (
            None if options.query is None else check_select(options.query, self._backend())
        )

    def _backend(self) -> str:
        return str(self._url.get_backend_name())

    @classmethod
    def from_request(cls, request: SourceRequest) -> SqlConnector:
        r = request
        if r.table is None and r.query is None:
            raise DataError(
                "A database source needs a table (--table NAME) or a SELECT query (--query SQL)."
            )
        options = SqlOptions(r.source, r.table, r.query, r.limit, password=r.password)
        return cls(replace(options, policy=r.policy))

    # ---------------------------------------------------------------- description, secrets
    def describe(self) -> str:
        o = self.options
        where = f"table {o.table}" if o.table else "query"
        limit = f", first {o.limit:,} rows" if o.limit else ""
        return f"{safe_url(self._url)} ({where}{limit})"

    # ---------------------------------------------------------------- reading
    def read(self) -> pd.DataFrame:
        parts = list(self.iter_chunks(DEFAULT_CHUNK_ROWS))
        if not parts:
            raise DataError(f"{self.describe()} returned no columns.")
        df = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        if len(df) == 0:
            raise DataError(
                f"{self.describe()} returned no rows. Check the table or the query's WHERE clause."
            )
        return df

    def iter_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        o = self.options
        engine = make_engine(self._url)
        done = 0
        try:
            with _guard(self._url), engine.connect() as conn:
                _read_only(conn)
                stmt = self._statement(conn)
                result = conn.execution_options(stream_results=True).execute(stmt)
                columns = list(result.keys())
                while True:
                    want = chunk_rows if o.limit is None else min(chunk_rows, o.limit - done)
                    rows = result.fetchmany(want) if want > 0 else []
                    if not rows and done:
                        break
                    chunk = _tidy(pd.DataFrame.from_records(rows, columns=columns))
                    done += len(chunk)
                    if o.progress is not None:
                        o.progress(done)
                    yield chunk
                    if not rows or len(rows) < want or (o.limit is not None and done >= o.limit):
                        break
                result.close()
        finally:
            engine.dispose()

    def _statement(self, conn: sa.Connection) -> sa.Executable:
        o = self.options
        if self._query is not None:
            return sa.text(self._query)
        assert o.table is not None
        schema, _, name = o.table.rpartition(".")
        try:
            table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
        except sa_exc.NoSuchTableError:
            tables = list_tables_on(conn)
            near = difflib.get_close_matches(o.table, tables, n=3)
            hint = f" Did you mean {', '.join(near)}?" if near else ""
            shown = ", ".join(tables[:20]) + (" ..." if len(tables) > 20 else "")
            raise DataError(
                f"There is no table named '{o.table}' in {safe_url(self._url)}.{hint} "
                f"Tables found: {shown or 'none'}."
            ) from None
        return sa.select(table)

    def preview(self, rows: int = 100) -> pd.DataFrame:
        """The first ``rows`` rows (reads no more than that)."""
        return next(iter(SqlConnector(replace(self.options, limit=rows)).iter_chunks(rows)))


def _parse_url(url: str, password: str | None, policy: SourcePolicy | None = None) -> sa.URL:
    """The URL parsed, with ``password`` set, checked against ``policy`` (before anything is
    opened); a SQLite URL must name an existing file (see :func:`sqlite_path`)."""
    try:
        parsed = sa.make_url(url.strip())
    except (sa_exc.ArgumentError, ValueError):
        raise DataError(
            "This is not a database URL. Write it as dialect://user@host:port/database, e.g. "
            "postgresql://analyst@db.example.com:5432/sales or sqlite:///path/to/file.db."
        ) from None
    if password:
        parsed = parsed.set(password=password)
    if parsed.get_backend_name() == "sqlite" and (
        parsed.username or parsed.password or parsed.host or parsed.port
    ):
        raise DataError(
            "A SQLite database is a file: its URL takes no user, password, host or port. Write "
            "it as sqlite:///relative/path.db or sqlite:////absolute/path.db, without a password."
        )
    check_policy(parsed, policy)
    if parsed.get_backend_name() == "sqlite":
        sqlite_path(parsed)
    return parsed


def check_policy(url: sa.URL, policy: SourcePolicy | None) -> None:
    """Refuse a URL the administrator's policy does not allow: a database file when local files
    are not allowed; a server not in the allowed list (also when a URL parameter or the database
    name would point the driver elsewhere)."""
    rules = effective(policy)
    backend = str(url.get_backend_name())
    if backend in FILE_BACKENDS:
        rules.check_local_file()
        return
    if rules.allowed_sql_hosts is None:
        return
    elsewhere = sorted(k for k in url.query if k.lower() in _TARGET_PARAMS)
    database = url.database or ""
    if elsewhere or "=" in database or "://" in database:
        what = f"the option {elsewhere[0]}=" if elsewhere else "the database name"
        raise PolicyError(
            f"This server's administrator allows only some database servers, and {what} in "
            "this URL could point the connection at another server. Write the server only in "
            "the URL itself: postgresql://user@host:5432/database."
        )
    hosts = (url.host or "").split(",")
    for host in hosts:
        rules.check_sql_host(host, url.port, scheme=backend)


def sqlite_path(url: sa.URL) -> Path:
    """The existing SQLite file a URL names. No ``file:`` addresses, ``:memory:`` or options
    after '?': Easel opens the file itself, read-only, so nothing can create or change a file."""
    if url.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise DataError(
            f"Easel reads SQLite files with Python's own driver, not {url.drivername}. Write the "
            "URL as sqlite:///relative/path.db or sqlite:////absolute/path.db."
        )
    if url.query:
        raise DataError(
            "A SQLite URL takes no options after '?': Easel opens the file read-only itself. "
            "Write it as sqlite:///relative/path.db or sqlite:////absolute/path.db."
        )
    db = (url.database or "").strip()
    if not db or db == ":memory:" or db.lower().startswith("file:"):
        raise DataError(
            "A SQLite source is an existing database file: write its path, as "
            "sqlite:///relative/path.db or sqlite:////absolute/path.db (not ':memory:' or a "
            "'file:' address)."
        )
    path = Path(db)
    if not path.is_file():
        if path.exists():
            raise DataError(f"'{db}' is not a database file (it is a folder or a device).")
        raise DataError(
            f"The SQLite database file '{db}' does not exist. Check the path "
            "(sqlite:///relative/path.db or sqlite:////absolute/path.db)."
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(100)
    except OSError:
        raise DataError(
            f"Could not open the SQLite database file '{path.name}'. Check its permissions."
        ) from None
    if head and not head.startswith(SQLITE_MAGIC):
        raise DataError(
            f"'{path.name}' is not a SQLite database file. Check the path, or import the file "
            "itself if it is a CSV, Excel or Parquet file."
        )
    return path.resolve()


def _sqlite_uri(path: Path) -> str:
    """A read-only address for the file: ``mode=ro`` (a read never checkpoints a WAL file into
    the database, so its bytes never change), plus ``immutable=1`` where that changes nothing: a
    WAL database in a folder this process cannot write (SQLite could not create its index file
    there) and with no pending changes in a ``-wal`` file."""
    uri = f"{path.as_uri()}?mode=ro"
    try:
        with path.open("rb") as fh:
            head = fh.read(20)
    except OSError:
        return uri
    wal_mode = len(head) == 20 and head[18] == 2
    wal = path.with_name(path.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    if wal_mode and not os.access(path.parent, os.W_OK) and not pending:
        uri += "&immutable=1"
    return uri


def safe_url(url: str | sa.URL) -> str:
    """The URL as it may be shown: the password and every secret-looking parameter (password=,
    sslpassword=, token=, ...) replaced by ***."""
    if isinstance(url, str):
        try:
            url = sa.make_url(url)
        except (sa_exc.ArgumentError, ValueError):
            return "(invalid database URL)"
    return redact_url(url.render_as_string(hide_password=True))


def _secrets(url: sa.URL) -> list[str]:
    """The secret values in a URL: its password and secret-looking parameters."""
    found = [str(url.password)] if url.password else []
    for name, value in url.query.items():
        if is_secret_name(name):
            found.extend([value] if isinstance(value, str) else list(value))
    return found


def make_engine(url: sa.URL) -> sa.Engine:
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        if url.get_driver_name() in ("psycopg", "psycopg2", "psycopg2cffi"):
            given = url.query.get("options")  # the user's own options come first: ours win
            parts = [given] if isinstance(given, str) else list(given or ())
            connect_args["options"] = " ".join([*parts, _PG_SESSION])
    elif backend == "sqlite":
        uri = _sqlite_uri(sqlite_path(url))
        extra["creator"] = lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        return sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool, **extra)
    except sa_exc.NoSuchModuleError:
        driver = _DRIVERS.get(backend, "the SQLAlchemy dialect package for this database")
        raise DataError(
            f"Easel has no driver for '{url.drivername}' databases installed. Install "
            f"{driver} into Easel's environment, or check the spelling of the URL's first part."
        ) from None
    except ModuleNotFoundError as e:
        driver = _DRIVERS.get(backend, e.name or "its driver")
        raise DataError(
            f"The database driver for '{url.drivername}' is not installed. Install {driver}."
        ) from None


def _read_only(conn: sa.Connection) -> None:
    """Ask the database to refuse writes: for the whole session where it can (so a COMMIT
    slipped into a query does not end the protection) and for the current transaction."""
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.execute(sa.text("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
    elif backend in ("mysql", "mariadb"):
        conn.execute(sa.text("SET SESSION TRANSACTION READ ONLY"))
    elif backend == "sqlite":
        conn.execute(sa.text("PRAGMA query_only = ON"))


class _guard:
    """Turns database exceptions into DataErrors an analyst can act on (without secrets)."""

    def __init__(self, url: sa.URL) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: Any) -> None:
        if ev is None or not isinstance(ev, sa_exc.SQLAlchemyError):
            return None
        raise DataError(scrub(_explain(ev, self.url), _secrets(self.url))) from None


def _explain(err: sa_exc.SQLAlchemyError, url: sa.URL) -> str:
    where = safe_url(url)
    orig = getattr(err, "orig", None)
    detail = str(orig if orig is not None else err).strip().splitlines()
    first = detail[0] if detail else type(err).__name__
    low = " ".join(detail).lower()
    host = f"{url.host or 'localhost'}:{url.port or 'default port'}"
    if "password authentication failed" in low or "access denied" in low:
        return (
            f"The database at {host} refused the user name or password ({where}). Check both "
            "and try again."
        )
    if (
        "could not connect" in low
        or "connection refused" in low
        or "could not translate host name" in low
        or "timeout expired" in low
        or "name or service not known" in low
    ):
        return (
            f"Could not reach the database server at {host}: {first}. Check the host name and "
            "port, that the server is running, and that this machine may connect to it."
        )
    if "database" in low and "does not exist" in low:
        return f"{first} on {host}. Check the database name at the end of the URL."
    if "unable to open database file" in low:
        return f"Could not open the SQLite database {where}. Check the file path and permissions."
    if "read-only" in low or "readonly" in low or "query_only" in low:
        return "The query tried to change data; only read-only SELECT queries can be imported."
    if isinstance(err, sa_exc.ProgrammingError | sa_exc.OperationalError):
        return (
            f"The database rejected the query: {first}. Fix the query (table and column names, "
            "syntax) and try again."
        )
    return f"The database reported an error: {first}."


def list_tables_on(conn: sa.Connection) -> list[str]:
    insp = sa.inspect(conn)
    default = insp.default_schema_name
    names: list[str] = []
    for schema in insp.get_schema_names():
        if schema in ("information_schema", "pg_catalog") or schema.startswith("pg_"):
            continue
        prefix = "" if schema == default else f"{schema}."
        for kind in (insp.get_table_names(schema=schema), insp.get_view_names(schema=schema)):
            names.extend(prefix + t for t in kind)
    return sorted(set(names), key=str.lower)


def list_tables(
    url: str, password: str | None = None, *, policy: SourcePolicy | None = None
) -> list[str]:
    """Tables and views of the database (other schemas than the default are prefixed)."""
    parsed = _parse_url(url, password, policy)
    engine = make_engine(parsed)
    try:
        with _guard(parsed), engine.connect() as conn:
            return list_tables_on(conn)
    finally:
        engine.dispose()


def read_sql(
    url: str,
    *,
    table: str | None = None,
    query: str | None = None,
    limit: int | None = None,
    password: str | None = None,
    policy: SourcePolicy | None = None,
) -> pd.DataFrame:
    """Read a table or one read-only SELECT query into a DataFrame."""
    return SqlConnector(SqlOptions(url, table, query, limit, password, policy=policy)).read()
