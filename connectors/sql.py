"""SQL databases through SQLAlchemy URLs: SQLite (embedded, the default), PostgreSQL, and any other
database with a SQLAlchemy dialect (MySQL, Redshift, Snowflake, Athena: see docs/connectors.md).

A source is a table or one read-only ``SELECT`` query. Queries are checked before they reach the
database (a single statement, starting with SELECT or WITH, no data-changing keywords) and run
inside a read-only transaction where the database offers one, so an import can never change data.
Rows are streamed in chunks (server-side cursors on PostgreSQL), so a row limit stops early and
progress can be reported. Passwords never appear in :meth:`SqlConnector.describe`, in errors or
in the catalog.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from automl.errors import DataError
from connectors._base import Connector, SourceRequest
from connectors._registry import is_database_url  # noqa: F401 (kept importable from here)

DEFAULT_CHUNK_ROWS = 50_000
CONNECT_TIMEOUT_S = 5
_FORBIDDEN = [
    "insert",
    "update",
    "delete",
    "merge",
    "upsert",
    "drop",
    "alter",
    "create",
    "truncate",
    "grant",
    "revoke",
    "copy",
    "call",
    "exec",
    "execute",
    "attach",
    "detach",
    "pragma",
    "vacuum",
    "reindex",
    "into",
    "begin",
    "commit",
    "rollback",
    "savepoint",
]
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

    ``password`` may be given apart from the URL (so the URL can be stored and shown as is).
    """

    url: str
    table: str | None = None
    query: str | None = None
    limit: int | None = None
    password: str | None = field(default=None, repr=False)
    progress: Callable[[int], None] | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"SqlOptions(url={safe_url(self.url)!r}, table={self.table!r}, "
            f"query={self.query!r}, limit={self.limit!r})"
        )


def _strip_literals(sql: str) -> str:
    """The query with comments removed and string literals / quoted names blanked out."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise DataError("The query has a comment that is never closed ('/*' without '*/').")
            i = j + 2
            out.append(" ")
        elif c in "'\"`[":
            close = "]" if c == "[" else c
            j = i + 1
            while True:
                j = sql.find(close, j)
                if j < 0:
                    what = "text value" if c == "'" else "quoted name"
                    raise DataError(
                        f"The query has a {what} that is never closed (the {c} at character "
                        f"{i + 1}). Close it and try again."
                    )
                if close != "]" and sql.startswith(close * 2, j):
                    j += 2
                    continue
                break
            out.append(" '' " if c == "'" else " q ")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check_select(query: str) -> str:
    """Return ``query`` without a trailing ';' if it is a single read-only SELECT, else raise."""
    text = query.strip()
    bare = _strip_literals(text).strip()
    while bare.endswith(";"):
        bare = bare[:-1].rstrip()
        text = text.rstrip()[:-1].rstrip() if text.rstrip().endswith(";") else text
    if not bare:
        raise DataError("The query is empty. Write one SELECT statement, e.g. SELECT * FROM sales.")
    if ";" in bare:
        raise DataError(
            "The query holds more than one statement (a ';' in the middle). Easel runs exactly one "
            "SELECT statement: remove everything after the first ';'."
        )
    words = re.findall(r"[A-Za-z_]+", bare.lower())
    if not words or words[0] not in ("select", "with"):
        first = words[0].upper() if words else bare[:20]
        raise DataError(
            f"Only read-only SELECT queries can be imported; this query starts with {first}. "
            "To import a whole table, pick the table instead of writing a query."
        )
    bad = sorted({w for w in words if w in _FORBIDDEN})
    if bad:
        raise DataError(
            "Only read-only SELECT queries can be imported; this query contains "
            f"{', '.join(w.upper() for w in bad)}, which could change data or the database. "
            "Remove it (a column of that name can be written in double quotes)."
        )
    return text


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

    def __init__(self, options: SqlOptions) -> None:
        if (options.table is None) == (options.query is None):
            raise DataError("Give either a table name or a SELECT query (exactly one of them).")
        if options.limit is not None and options.limit < 1:
            raise DataError(f"The row limit must be a positive number; got {options.limit}.")
        self.options = options
        self._url = _parse_url(options.url, options.password)

    @classmethod
    def from_request(cls, request: SourceRequest) -> SqlConnector:
        r = request
        if r.table is None and r.query is None:
            raise DataError(
                "A database source needs a table (--table NAME) or a SELECT query (--query SQL)."
            )
        return cls(SqlOptions(r.source, r.table, r.query, r.limit, password=r.password))

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
        if o.query is not None:
            return sa.text(check_select(o.query))
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
        opts = SqlOptions(
            self.options.url, self.options.table, self.options.query, rows, self.options.password
        )
        return next(iter(SqlConnector(opts).iter_chunks(rows)))


def _parse_url(url: str, password: str | None) -> sa.URL:
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
    return parsed


def safe_url(url: str | sa.URL) -> str:
    """The URL with any password replaced by ***."""
    if isinstance(url, str):
        try:
            url = sa.make_url(url)
        except (sa_exc.ArgumentError, ValueError):
            return "(invalid database URL)"
    return url.render_as_string(hide_password=True)


def make_engine(url: sa.URL) -> sa.Engine:
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    elif backend == "sqlite":
        db = url.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            from pathlib import Path

            if not Path(db).exists():
                raise DataError(
                    f"The SQLite database file '{db}' does not exist. Check the path "
                    "(sqlite:///relative/path.db or sqlite:////absolute/path.db)."
                )
    try:
        return sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
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
    """Ask the database to refuse writes for this connection's transaction."""
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
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
        text = _explain(ev, self.url)
        if self.url.password:
            text = text.replace(str(self.url.password), "***")
        raise DataError(text) from None


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


def list_tables(url: str, password: str | None = None) -> list[str]:
    """Tables and views of the database (other schemas than the default are prefixed)."""
    parsed = _parse_url(url, password)
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
) -> pd.DataFrame:
    """Read a table or one read-only SELECT query into a DataFrame."""
    return SqlConnector(SqlOptions(url, table, query, limit, password)).read()
