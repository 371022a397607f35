"""The catalog's connection layer: every catalog statement goes through here.

The catalog is a SQLite file in the workspace folder (the default, nothing to set up) or a
PostgreSQL database named by ``$EASEL_CATALOG`` (``postgresql://USER@HOST:PORT/DB``), shared by
several app servers and build processes. The statements are the same for both, written with
``?`` placeholders; what differs is kept in this module and nowhere else:

- **the drivers**: PostgreSQL through SQLAlchemy Core (a pooled engine; each statement a cached
  ``text()`` clause with named parameters); SQLite through Python's ``sqlite3`` exactly as
  before (``?`` is its own style, rows are ``sqlite3.Row``), so the default path neither imports
  SQLAlchemy (about 0.15 s of CPU on every short command) nor changes. Alembic upgrades of a
  SQLite catalog run on a SQLAlchemy connection of their own (:meth:`Catalog.upgrading`);
- **the write lock** of ``transaction(lock=True)``: SQLite's ``BEGIN IMMEDIATE`` (one writer at
  a time, taken at once), PostgreSQL's ``pg_advisory_xact_lock`` on one key (the same: locked
  transactions of every process run one at a time, released at commit or rollback);
- **new row ids** (:meth:`CatalogConnection.insert`): ``lastrowid`` / ``RETURNING id``;
- **which tables exist** (:meth:`CatalogConnection.tables`), and SQLite's ``PRAGMA`` statements
  (WAL journal on connect; ``user_version``, the schema number older Easels read);
- **errors**: on SQLite the driver's own ``sqlite3`` errors come out unchanged (the workspace
  and the CLI explain them as before); on PostgreSQL any database error becomes a
  :class:`~automl.errors.DataError` that names the catalog without its password.

Rows read like ``sqlite3.Row`` on both: by position, by column name, and ``dict(row)``.
"""

from __future__ import annotations

import abc
import functools
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from automl.errors import DataError, ParameterError

if TYPE_CHECKING:
    import sqlalchemy as sa

CATALOG_ENV = "EASEL_CATALOG"
# the key of the advisory lock that stands for SQLite's write lock ("Easel" in ASCII)
_PG_LOCK = 0x456173656C
_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")
# how long a statement waits for a lock (the catalog's write lock, a row another server is
# changing) before it gives up with "stayed busy": SQLite's timeout=30 on the other side
LOCK_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT = 10  # seconds to reach the server


def is_postgres(url: str) -> bool:
    return url.strip().lower().startswith(_SCHEMES)


def shown_url(url: str) -> str:
    """The catalog URL as messages show it: never its password (nor its query options)."""
    import sqlalchemy as sa

    try:
        u = sa.engine.make_url(url)
    except Exception:
        return "the catalog named in $" + CATALOG_ENV
    host = u.host or ""
    port = f":{u.port}" if u.port else ""
    user = f"{u.username}@" if u.username else ""
    return f"postgresql://{user}{host}{port}/{u.database or ''}"


def check_catalog_url(url: str, where: str = "$" + CATALOG_ENV) -> str:
    """A PostgreSQL catalog URL, or a :class:`ParameterError` that says what to write."""
    url = str(url).strip()
    if not is_postgres(url):
        raise ParameterError(
            f"The catalog in {where} must be a PostgreSQL address such as "
            "postgresql://easel@db.example.com:5432/easel. Leave it unset to keep the catalog "
            "in the workspace folder (SQLite)."
        )
    import sqlalchemy as sa

    try:
        u = sa.engine.make_url(url)
    except Exception:
        raise ParameterError(
            f"The catalog address in {where} cannot be read. Write it as "
            "postgresql://USER@HOST:PORT/DATABASE (the password in $PGPASSWORD or in "
            f"${CATALOG_ENV})."
        ) from None
    if not u.host or not u.database:
        raise ParameterError(
            f"The catalog address in {where} needs a host and a database, as in "
            "postgresql://USER@HOST:PORT/DATABASE."
        )
    return url


# ---------------------------------------------------------------------- statements and rows
@functools.lru_cache(maxsize=1024)
def _statement(sql: str) -> tuple[sa.TextClause, int]:
    """``?`` placeholders -> a ``text()`` clause with named parameters ``:p0, :p1, ...`` (a ``?``
    or ``:`` inside a quoted string or name is left alone); returns it and the count."""
    out: list[str] = []
    n = 0
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
            out.append("\\:" if ch == ":" else ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append(f":p{n}")
            n += 1
        elif ch == ":":
            out.append("\\:")
        else:
            out.append(ch)
    import sqlalchemy as sa

    return sa.text("".join(out)), n


class Row(tuple):
    """A result row read like ``sqlite3.Row``: ``row[0]``, ``row["name"]``, ``dict(row)``."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


class Result:
    """A statement's result: ``fetchone``, ``fetchall``, iteration, ``rowcount``,
    ``lastrowid`` (SQLite only: PostgreSQL ids come from :meth:`CatalogConnection.insert`)."""

    def __init__(self, result: sa.CursorResult[Any]) -> None:
        self._result = result
        self._index: dict[str, int] | None = None

    @property
    def rowcount(self) -> int:  # read only when asked: SQLAlchemy's is slow on SQLite
        return int(self._result.rowcount)

    @property
    def lastrowid(self) -> int | None:
        return self._result.lastrowid

    def _row(self, values: Sequence[Any]) -> Row:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self._result.keys())}
        row = Row(values)
        row._index = self._index
        return row

    def fetchone(self) -> Any:  # a Row or None (typed like sqlite3's, which callers index)
        if not self._result.returns_rows:
            return None
        r = self._result.fetchone()
        return None if r is None else self._row(r)

    def fetchall(self) -> list[Row]:
        if not self._result.returns_rows:
            return []
        return [self._row(r) for r in self._result.fetchall()]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class CatalogConnection(abc.ABC):
    """One transaction on the catalog (what ``Workspace._db`` yields): ``execute`` returns
    something with ``fetchone``, ``fetchall``, iteration, ``rowcount`` and ``lastrowid``; each
    driver (:class:`SqliteConnection`, :class:`SAConnection`) says how it runs a statement."""

    dialect = "sqlite"

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement written with ``?`` placeholders."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for each of ``rows`` (in this transaction)."""
        for params in rows:
            self.execute(sql, params)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one ``INSERT`` into a table with an ``id`` key; returns the new row's id."""
        if self.dialect == "sqlite":
            return int(self.execute(sql, params).lastrowid or 0)
        row = self.execute(sql + " RETURNING id", params).fetchone()
        return int(row[0]) if row is not None else 0

    def tables(self) -> set[str]:
        """The names of the catalog's tables."""
        if self.dialect == "sqlite":
            return {r[0] for r in self.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {
            r[0]
            for r in self.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        }

    def columns(self, table: str) -> set[str]:
        """The names of a table's columns (none when there is no such table)."""
        if self.dialect == "sqlite":
            return {r[1] for r in self.execute(f"PRAGMA table_info({table})")}
        return {
            r[0]
            for r in self.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            )
        }

    def user_version(self) -> int:
        """SQLite's ``user_version`` (the schema number before Alembic); 0 on PostgreSQL."""
        if self.dialect != "sqlite":
            return 0
        return int(self.execute("PRAGMA user_version").fetchone()[0])

    def set_user_version(self, version: int) -> None:
        if self.dialect == "sqlite":
            self.execute(f"PRAGMA user_version = {int(version)}")


class SqliteConnection(CatalogConnection):
    """A transaction on a SQLite catalog through ``sqlite3`` (statements as written)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)


class SAConnection(CatalogConnection):
    """A transaction through SQLAlchemy (PostgreSQL, and Alembic's runs on either)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name  # "sqlite" or "postgresql"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        clause, n = _statement(sql)
        if len(params) != n:
            raise ValueError(f"{n} parameters expected, {len(params)} given")
        return Result(self.conn.execute(clause, {f"p{i}": v for i, v in enumerate(params)}))


# ---------------------------------------------------------------------- engines
_ENGINES: dict[str, sa.Engine] = {}


def _forget_pools() -> None:
    """In a forked child (a build's worker): never reuse the parent's open connections."""
    for engine in _ENGINES.values():
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _postgres_engine(url: str) -> sa.Engine:
    import sqlalchemy as sa

    if url not in _ENGINES:
        u = sa.engine.make_url(url).set(drivername="postgresql+psycopg")
        _ENGINES[url] = sa.create_engine(
            u,
            pool_pre_ping=True,  # a server restart or a dropped idle connection is not an error
            pool_size=2,
            max_overflow=8,
            hide_parameters=True,  # errors never show the values of a statement
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT,
                "options": f"-c lock_timeout={int(LOCK_TIMEOUT_MS)}",
            },
        )
    return _ENGINES[url]


class Catalog:
    """Where the catalog lives: ``url`` (PostgreSQL) or the SQLite file ``path``."""

    def __init__(self, path: str, url: str | None = None) -> None:
        self.path = path
        self.url = url
        self.dialect = "postgresql" if url else "sqlite"
        self.where = shown_url(url) if url else path

    @contextmanager
    def transaction(
        self, lock: bool, damaged: Callable[[sqlite3.DatabaseError], Exception]
    ) -> Iterator[CatalogConnection]:
        """One transaction, committed on success and rolled back on any error. ``lock`` takes
        the catalog's write lock first (see the module's notes). ``damaged(exc)`` is the
        workspace's error for a SQLite file that cannot be opened as a database."""
        if self.url:
            with self._postgres(lock) as db:
                yield db
            return
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise damaged(exc) from None
        try:
            if lock:
                conn.isolation_level = None
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield SqliteConnection(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn:
                    yield SqliteConnection(conn)
        finally:
            conn.close()

    @contextmanager
    def upgrading(self) -> Iterator[SAConnection]:
        """A locked transaction on a SQLAlchemy connection, for Alembic."""
        if self.url:
            with self._postgres(True) as db:
                yield db
            return
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.isolation_level = None  # the transaction is the BEGIN IMMEDIATE below
            return conn

        engine = sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield SAConnection(conn)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
        except sa.exc.DBAPIError as exc:
            raise exc.orig from None  # type: ignore[misc]
        finally:
            engine.dispose()

    @contextmanager
    def _postgres(self, lock: bool) -> Iterator[SAConnection]:
        import sqlalchemy as sa

        try:
            with _postgres_engine(str(self.url)).begin() as conn:
                if lock:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
                yield SAConnection(conn)
        except sa.exc.DBAPIError as exc:
            raise self.error(exc) from None

    def error(self, exc: sa.exc.DBAPIError) -> DataError:
        """A PostgreSQL error in words, without the password or the statement's values."""
        import sqlalchemy as sa

        text = str(exc.orig or "").strip()
        reason = scrub(text.splitlines()[0][:300] if text else type(exc).__name__)
        password = sa.engine.make_url(str(self.url)).password
        if password:
            reason = reason.replace(str(password), "***")
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_timeout
            return DataError(
                f"The workspace catalog {self.where} stayed busy (another Easel process is "
                "writing to it). Try again in a moment."
            )
        if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
            return DataError(
                f"The workspace catalog {self.where} cannot be reached ({reason}). Check that "
                f"the PostgreSQL server is running and that ${CATALOG_ENV} names it with the "
                "right user, password and database."
            )
        return DataError(
            f"The workspace catalog {self.where} refused a change ({reason}). Try again; if it "
            "happens again, ask the administrator to check the catalog database."
        )


_PASSWORD = re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)


def scrub(text: str) -> str:
    """``text`` with the password of any PostgreSQL address in it replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", text)
