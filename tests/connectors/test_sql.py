"""SQL connector: SQLite files and a real PostgreSQL server; read-only queries; clear errors."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.errors import DataError
from connectors import get_connector
from connectors.sql import SqlConnector, SqlOptions, check_select, list_tables, read_sql
from tests.pg_server import PgServer

N = 1234


def frame(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "region": rng.choice(["north", "south", "east"], n),
            "amount": rng.normal(100, 20, n).round(2),
            "churned": rng.choice([0, 1], n),
        }
    )


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "shop.db"
    with sqlite3.connect(path) as conn:
        frame().to_sql("customers", conn, index=False)
        conn.execute("CREATE VIEW big_spenders AS SELECT * FROM customers WHERE amount > 120")
    return f"sqlite:///{path}"


def test_sqlite_table_query_limit_and_progress(sqlite_url: str) -> None:
    assert list_tables(sqlite_url) == ["big_spenders", "customers"]
    df = read_sql(sqlite_url, table="customers")
    pd.testing.assert_frame_equal(df, frame())
    q = read_sql(sqlite_url, query="SELECT region, COUNT(*) AS n FROM customers GROUP BY region;")
    assert q["n"].sum() == N and set(q["region"]) == {"north", "south", "east"}
    seen: list[int] = []
    opts = SqlOptions(sqlite_url, table="customers", limit=500, progress=seen.append)
    chunks = list(SqlConnector(opts).iter_chunks(200))
    assert [len(c) for c in chunks] == [200, 200, 100]
    assert seen == [200, 400, 500]
    assert len(SqlConnector(SqlOptions(sqlite_url, table="big_spenders")).preview(7)) == 7
    assert get_connector("sql") is SqlConnector


def test_sqlite_read_only(sqlite_url: str) -> None:
    with pytest.raises(DataError, match="more than one statement"):
        read_sql(sqlite_url, query="SELECT * FROM customers; DELETE FROM customers")
    with pytest.raises(DataError, match="starts with DELETE"):
        read_sql(sqlite_url, query="DELETE FROM customers")
    # Behind the keyword check, the connection itself refuses writes.
    from connectors import sql as sqlmod

    engine = sqlmod.make_engine(sa.make_url(sqlite_url))
    with engine.connect() as c:
        sqlmod._read_only(c)
        with pytest.raises(sa.exc.OperationalError, match="readonly|query_only"):
            c.execute(sa.text("DELETE FROM customers"))
    engine.dispose()
    assert len(read_sql(sqlite_url, table="customers")) == N


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("", "empty"),
        ("   ;  ", "empty"),
        ("DROP TABLE customers", "starts with DROP"),
        ("SELECT 1; SELECT 2", "more than one statement"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE"),
        ("SELECT * INTO backup FROM customers", "INTO"),
        ("SELECT 'it''s", "never closed"),
        ("SELECT 1 /* note", "never closed"),
        ("PRAGMA writable_schema=1", "starts with PRAGMA"),
    ],
)
def test_check_select_rejects(query: str, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        check_select(query)


def test_check_select_accepts_words_inside_text_and_quotes() -> None:
    q = "SELECT 'drop; delete' AS note, \"update\" FROM t -- insert\nWHERE x = 'a''b';"
    assert check_select(q).endswith("'a''b'")
    assert check_select("with a as (select 1) select * from a") == (
        "with a as (select 1) select * from a"
    )


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_check_select_never_crashes(text: str) -> None:
    try:
        out = check_select(text)
    except DataError:
        return
    assert out.lower().lstrip().startswith(("select", "with"))


def test_sqlite_errors(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no table named 'customer'.*Did you mean customers"):
        read_sql(sqlite_url, table="customer")
    with pytest.raises(DataError, match="rejected the query: .*no such column"):
        read_sql(sqlite_url, query="SELECT nope FROM customers")
    with pytest.raises(DataError, match="returned no rows"):
        read_sql(sqlite_url, query="SELECT * FROM customers WHERE id < 0")
    with pytest.raises(DataError, match="does not exist"):
        read_sql(f"sqlite:///{tmp_path / 'missing.db'}", table="t")
    with pytest.raises(DataError, match="not a database URL"):
        read_sql("postgresql://host:notaport/db", table="t")
    with pytest.raises(DataError, match="no driver for 'nosuchdb'"):
        read_sql("nosuchdb://host/db", table="t")
    with pytest.raises(DataError, match="exactly one"):
        SqlConnector(SqlOptions(sqlite_url))
    with pytest.raises(DataError, match="positive"):
        SqlConnector(SqlOptions(sqlite_url, table="customers", limit=0))


def test_database_types_become_plain_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'types.db'}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    t = sa.Table(
        "t",
        meta,
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("day", sa.Date),
        sa.Column("blob", sa.LargeBinary),
    )
    meta.create_all(engine)
    import datetime as dt
    from decimal import Decimal

    with engine.begin() as conn:
        conn.execute(t.insert(), [{"price": Decimal("1.25"), "day": dt.date(2024, 1, 2)}] * 3)
    engine.dispose()
    df = read_sql(url, query="SELECT price, day FROM t")
    assert df["price"].dtype == float and df["price"].iloc[0] == 1.25


# ---------------------------------------------------------------------------- PostgreSQL
# (the `pg` fixture, a real server with a `customers` table and a `sales.orders` table, is in
# tests/conftest.py)


def test_postgres_tables_schemas_and_types(pg: PgServer) -> None:
    assert list_tables(pg.url()) == ["customers", "sales.orders"]
    df = read_sql(pg.url(), table="customers")
    pd.testing.assert_frame_equal(df, frame())
    orders = read_sql(pg.url(), table="sales.orders")
    assert len(orders) == 300
    assert orders["amount"].dtype == float
    assert pd.api.types.is_datetime64_any_dtype(orders["placed"])
    assert isinstance(orders["ref"].iloc[0], str)
    # the password can travel apart from the URL
    assert len(read_sql(pg.url(password=False), table="customers", password=pg.password)) == N


def test_postgres_query_streams_with_limit(pg: PgServer) -> None:
    seen: list[int] = []
    opts = SqlOptions(
        pg.url(),
        query="SELECT * FROM customers ORDER BY id",
        limit=1000,
        progress=seen.append,
    )
    df = SqlConnector(opts).read()
    assert len(df) == 1000 and df["id"].tolist() == list(range(1000))
    assert seen == [1000]


def test_postgres_read_only_transaction(pg: PgServer) -> None:
    # Even if a write got past the keyword check, the transaction is read-only.
    from connectors import sql as sqlmod

    conn = SqlConnector(
        SqlOptions(pg.url(), query="SELECT * FROM customers", limit=1)  # valid to construct
    )
    engine = sqlmod.make_engine(conn._url)
    with engine.connect() as c:
        sqlmod._read_only(c)
        with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            c.execute(sa.text("CREATE TABLE x (a int)"))
    engine.dispose()


def test_postgres_errors_name_the_fix_and_hide_the_password(pg: PgServer) -> None:
    bad = pg.url().replace(pg.password, "wrong-password")
    with pytest.raises(DataError, match="refused the user name or password") as e:
        read_sql(bad, table="customers")
    assert "wrong-password" not in str(e.value)
    with pytest.raises(DataError, match="no table named 'sales.order'") as e:
        read_sql(pg.url(), table="sales.order")
    assert "Did you mean sales.orders" in str(e.value)
    assert pg.password not in str(e.value)
    with pytest.raises(DataError, match="rejected the query") as e:
        read_sql(pg.url(), query="SELECT amount FROM nowhere")
    assert "nowhere" in str(e.value)
    with pytest.raises(DataError, match="database name") as e:
        read_sql(pg.url().rsplit("/", 1)[0] + "/nodb", table="customers")
    conn = SqlConnector(SqlOptions(pg.url(), table="customers"))
    assert pg.password not in conn.describe() and "***" in conn.describe()
    assert pg.password not in repr(conn.options)


def test_unreachable_host_fails_fast() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(DataError, match=f"Could not reach the database server at 127.0.0.1:{port}"):
        read_sql(f"postgresql://u:pw@127.0.0.1:{port}/db", table="t")
    assert time.monotonic() - start < 15


def test_a_sqlite_url_with_a_password_is_a_clear_error(sqlite_url: str) -> None:
    with pytest.raises(DataError, match="SQLite database is a file") as info:
        read_sql(sqlite_url, table="customers", password="Hunter2-secret")
    assert "Hunter2-secret" not in str(info.value)
