"""SQL connector: SQLite files and a real PostgreSQL server; read-only queries; clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.errors import DataError, PolicyError
from connectors import SourcePolicy, get_connector
from connectors.sql import (
    SqlConnector,
    SqlOptions,
    check_select,
    list_tables,
    read_sql,
    safe_url,
)
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


# ---------------------------------------------------------------------------- hostile queries
HIDDEN_DROP = "SELECT $$[$$ AS a; COMMIT; DROP TABLE victim; SELECT $$]$$ AS b"


def test_queries_are_read_in_the_databases_own_dialect() -> None:
    # PostgreSQL's $$...$$ is a string and '[' is no quote there: three more statements hide here
    with pytest.raises(DataError, match="more than one statement"):
        check_select(HIDDEN_DROP, "postgresql")
    with pytest.raises(DataError, match="more than one statement"):
        SqlConnector(SqlOptions("postgresql://a@db.example.invalid/x", query=HIDDEN_DROP))
    # the same characters mean other things elsewhere: E'...' and backslashes, [names], `names`
    assert check_select("SELECT E'\\'; DROP TABLE x; --' AS a", "postgresql").endswith("AS a")
    assert check_select("SELECT [drop table] FROM t", "mssql") == "SELECT [drop table] FROM t"
    assert check_select("SELECT `delete` FROM t;", "mysql") == "SELECT `delete` FROM t"
    with pytest.raises(DataError, match="more than one statement"):
        check_select("SELECT 1 /* /* */ ; DROP TABLE v; -- */", "sqlite")  # SQLite does not nest
    assert check_select("SELECT 1 /* /* */ ; DROP TABLE v; -- */", "postgresql")  # PG does


@pytest.mark.parametrize(
    "query",
    [
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
        "SELECT pg_catalog.pg_cancel_backend(42)",
        'SELECT "pg_terminate_backend"(42)',
        "SELECT pg_reload_conf()",
        "SELECT lo_import('/etc/passwd')",
        "SELECT lo_export(1, '/tmp/x')",
        "SELECT * FROM pg_read_file('/etc/passwd')",
        "SELECT pg_read_binary_file('/etc/passwd')",
        "SELECT * FROM pg_ls_dir('/')",
        "SELECT * FROM dblink('host=10.0.0.1', 'SELECT 1') AS t(a int)",
        "SELECT dblink_exec('host=x', 'DROP TABLE t')",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT nextval('orders_id_seq')",
        "SELECT setval('orders_id_seq', 1)",
        "SELECT pg_sleep(1e9)",
        "SELECT pg_sleep_for('1 day')",
        "SELECT pg_advisory_lock(1)",
        "SELECT query_to_xml('SELECT pg_terminate_backend(1)', true, false, '')",
        "SELECT id FROM customers WHERE pg_notify('c', 'x') IS NULL",
        "WITH x AS (SELECT pg_terminate_backend(1)) SELECT * FROM x",
        "SELECT * FROM customers, LATERAL (SELECT pg_sleep(100)) s",
    ],
)
def test_functions_with_side_effects_are_refused(query: str) -> None:
    for backend in ("postgresql", None):
        with pytest.raises(DataError, match="this query calls"):
            check_select(query, backend)


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("SELECT 1 FOR UPDATE", "UPDATE"),
        ("SELECT * FROM t FOR SHARE", "FOR UPDATE / FOR SHARE"),
        ("SELECT 1; COMMIT", "more than one statement"),
        ("SELECT sleep(100)", "calls sleep"),
        ("SELECT load_extension('/tmp/x.so')", "calls load_extension"),
        ("SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x;', 'SELECT 1')", "openrowset"),
        ("SELECT utl_http.request('http://10.0.0.1/') FROM dual", "utl_http"),
        ("SELECT 1 " + "+ 1 " * 30_000, "at most 100,000"),
    ],
)
def test_other_ways_to_act_are_refused(query: str, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        check_select(query)


def test_plain_queries_still_pass() -> None:
    for query in (
        "SELECT REPLACE(region, 'n', 'N') AS r, COUNT(*) FROM customers GROUP BY 1",
        "WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION ALL SELECT 2",
        "SELECT c.*, o.amount FROM customers c JOIN sales.orders o ON o.id = c.id LIMIT 5",
        "SELECT $$it's$$ AS quoted, 'a;b' AS semi",
    ):
        assert check_select(query, "postgresql") == query


def test_postgres_hidden_statements_change_nothing(pg: PgServer) -> None:
    engine = sa.create_engine(pg.url())
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS victim (a int)"))
    try:
        with pytest.raises(DataError, match="more than one statement"):
            read_sql(pg.url(), query=HIDDEN_DROP)
        # Behind the check, the session itself is read-only: a COMMIT does not end it.
        from connectors import sql as sqlmod

        ro = sqlmod.make_engine(sa.make_url(pg.url()))
        with ro.connect() as c:
            assert c.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
            sqlmod._read_only(c)
            with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
                c.exec_driver_sql("COMMIT; DROP TABLE victim")
        ro.dispose()
        assert "victim" in list_tables(pg.url())
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS victim"))
        engine.dispose()


def test_postgres_select_cannot_end_other_sessions(pg: PgServer) -> None:
    other = sa.create_engine(pg.url()).connect()
    try:
        pid = other.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with pytest.raises(DataError, match="calls pg_terminate_backend"):
            read_sql(pg.url(), query=f"SELECT pg_terminate_backend({pid}) AS ended")
        assert other.execute(sa.text("SELECT 1")).scalar() == 1  # still connected
    finally:
        other.close()
        other.engine.dispose()


# ---------------------------------------------------------------------------- secrets in URLs
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://analyst@db.example.invalid/sales?password=Hunter2-Secret",
        "postgresql://analyst@db.example.invalid/sales?PassWord=Hunter2-Secret&sslmode=require",
        "postgresql://analyst@db.example.invalid/sales?pass%77ord=Hunter2-Secret",
        "postgresql://analyst@db.example.invalid/sales?sslpassword=Hunter2-Secret",
        "postgresql://analyst:Hunter2-Secret@db.example.invalid/sales?application_name=easel",
        "mssql+pyodbc://analyst@db.example.invalid/sales?pwd=Hunter2-Secret",
        "snowflake://analyst@acct/db?token=Hunter2-Secret&warehouse=wh",
        "awsathena+rest://@athena.x.amazonaws.com/db?aws_secret_access_key=Hunter2-Secret",
        "postgresql://analyst@db.example.invalid/sales?private_key=Hunter2-Secret",
    ],
)
def test_passwords_in_url_parameters_are_masked(url: str) -> None:
    from connectors import open_source

    shown = [safe_url(url), open_source(url, table="t").describe()]
    shown.append(repr(SqlOptions(url, table="t")))
    for text in shown:
        assert "Hunter2-Secret" not in text and "***" in text, text


def test_postgres_password_parameter_never_shown_or_stored(
    pg: PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.cli import main
    from automl.workspace.catalog import Workspace
    from automl.workspace.data import import_dataset

    base = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.database}"
    with pytest.raises(DataError, match="refused the user name or password") as info:
        read_sql(f"{base}?password=wrong-Secret-77", table="customers")
    assert "wrong-Secret-77" not in str(info.value)
    url = f"{base}?password={pg.password}"
    ws = Workspace(tmp_path / "ws")
    rec = import_dataset(ws, url, "customers", table="customers", limit=10)
    assert rec.rows == 10
    stored = rec.source + json.dumps(rec.lineage)
    stored += json.dumps([r.source for r in ws.list_datasets()])
    assert pg.password not in stored and "password=***" in rec.source
    code = main(
        ["import", url, "--table", "customers", "--name", "c2", "--workspace", str(ws.root)]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert pg.password not in out.out + out.err and "password=***" in out.out


# ---------------------------------------------------------------------------- SQLite files
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reading_a_wal_database_never_changes_its_file(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    writer = sqlite3.connect(src)
    writer.execute("PRAGMA journal_mode=WAL")
    frame(300).to_sql("customers", writer, index=False)
    writer.commit()
    # a copy of the file and its WAL with changes not yet written into the file, as a database
    # another program is using looks
    db = tmp_path / "busy.db"
    shutil.copy(src, db)
    shutil.copy(tmp_path / "src.db-wal", tmp_path / "busy.db-wal")
    writer.close()
    before = _digest(db)
    url = f"sqlite:///{db}"
    assert list_tables(url) == ["customers"]
    assert len(read_sql(url, table="customers")) == 300
    assert len(read_sql(url, query="SELECT * FROM customers WHERE id < 10")) == 10
    assert _digest(db) == before


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("sqlite:///file:{tmp}/new.db?mode=rwc&uri=true", "no options after"),
        ("sqlite:///file:{tmp}/new.db", "existing database file"),
        ("sqlite://", "existing database file"),
        ("sqlite:///:memory:", "existing database file"),
        ("sqlite:///{tmp}/new.db?mode=rwc", "no options after"),
        ("sqlite:///{tmp}/new.db", "does not exist"),
        ("sqlite:///{tmp}", "not a database file"),
        ("sqlite:///{tmp}/notes.txt", "not a SQLite database file"),
        ("sqlite+pysqlcipher:///{tmp}/new.db", "Python's own driver"),
    ],
)
def test_sqlite_sources_are_existing_files_opened_read_only(
    source: str, fragment: str, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    url = source.format(tmp=tmp_path)
    with pytest.raises(DataError, match=fragment):
        read_sql(url, table="t")
    with pytest.raises(DataError, match=fragment):
        list_tables(url)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no file was created


# ---------------------------------------------------------------------------- the source policy
def test_postgres_allowed_host_reads_and_others_are_refused(pg: PgServer) -> None:
    allowed = SourcePolicy(allowed_sql_hosts=(f"{pg.host}:{pg.port}",), allow_local_files=False)
    assert len(read_sql(pg.url(), table="customers", policy=allowed)) == N
    assert list_tables(pg.url(), policy=allowed) == ["customers", "sales.orders"]
    other_port = SourcePolicy(allowed_sql_hosts=(f"{pg.host}:{pg.port + 1}",))
    with pytest.raises(PolicyError, match=f"{pg.host}:{pg.port}"):
        read_sql(pg.url(), table="customers", policy=other_port)
    names_only = SourcePolicy(allowed_sql_hosts=("*.example.com",))
    with pytest.raises(PolicyError, match="does not allow"):
        read_sql(pg.url(), table="customers", policy=names_only)  # an address is never a name
