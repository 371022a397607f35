"""The source policy: what it accepts, how hosts match, and that every connector enforces it before
opening anything (no server needed: a refused source never reaches the network, and an allowed one
is only described here; tests/connectors/test_sql.py reads through a real allowed PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from automl.errors import DataError, ParameterError, PolicyError
from connectors import PERMISSIVE, REGISTRY, Connector, SourcePolicy, SourceRequest, open_source
from connectors._registry import has_scheme, register
from connectors.sql import list_tables

TEAM = SourcePolicy(
    allowed_sql_hosts=("db.example.com", "*.corp.example.com", "10.0.0.5:5432", "[fd00::5]"),
    allowed_s3_endpoints=("minio.example.com:9000",),
    allow_local_files=False,
    allow_server_credentials=False,
)


# ---------------------------------------------------------------------- the policy as data
def test_the_default_allows_everything() -> None:
    assert SourcePolicy() == PERMISSIVE and PERMISSIVE.is_permissive and not TEAM.is_permissive
    assert PERMISSIVE.to_dict() == {
        "allowed_sql_hosts": None,
        "allowed_s3_endpoints": None,
        "allow_local_files": True,
        "allow_server_credentials": True,
    }
    PERMISSIVE.check_sql_host("169.254.169.254", 80)
    PERMISSIVE.check_sql_host(None, None)
    PERMISSIVE.check_s3_endpoint(None)
    PERMISSIVE.check_local_file()
    PERMISSIVE.check_server_credentials()


def test_round_trip_through_json_in_normal_form() -> None:
    policy = SourcePolicy(
        allowed_sql_hosts=["DB.Example.COM.", "db.example.com", "[0:0::1]:5432", "10.0.0.5"],
        allowed_s3_endpoints=[],
    )
    assert policy.allowed_sql_hosts == ("db.example.com", "[::1]:5432", "10.0.0.5")
    assert policy.allowed_s3_endpoints == ()  # an empty list allows none
    again = SourcePolicy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert again == policy and hash(again) == hash(policy)
    assert SourcePolicy.from_dict(TEAM.to_dict()) == TEAM


@pytest.mark.parametrize(
    "data, fragment",
    [
        ([], "must be a JSON object"),
        (None, "must be a JSON object"),
        ("allow everything", "must be a JSON object"),
        ({"allowed_hosts": ["a.example.com"]}, "unknown settings: allowed_hosts"),
        ({"allowed_sql_hosts": "db.example.com"}, "must be a list of host names"),
        ({"allowed_sql_hosts": {"a": 1}}, "must be a list of host names"),
        ({"allowed_sql_hosts": [5432]}, "written as text"),
        ({"allowed_sql_hosts": [None]}, "written as text"),
        ({"allowed_sql_hosts": [["db"]]}, "written as text"),
        ({"allowed_sql_hosts": [""]}, "is not a host"),
        ({"allowed_sql_hosts": ["postgresql://db.example.com/x"]}, "is not a host"),
        ({"allowed_sql_hosts": ["db.example.com/x"]}, "is not a host"),
        ({"allowed_sql_hosts": ["db example.com"]}, "is not a host"),
        ({"allowed_sql_hosts": ["db.example.com:99999"]}, "from 1 to 65535"),
        ({"allowed_sql_hosts": ["db.example.com:0"]}, "from 1 to 65535"),
        ({"allowed_sql_hosts": ["*"]}, "is not a host"),
        ({"allowed_sql_hosts": ["*.com"]}, "too wide"),
        ({"allowed_sql_hosts": ["*.0.1"]}, "too wide"),
        ({"allowed_sql_hosts": ["a.*.example.com"]}, "is not a host"),
        ({"allowed_s3_endpoints": ["x" * 300]}, "is not a host"),
        ({"allowed_s3_endpoints": ["h.example.com"] * 501}, "at most 500"),
        ({"allow_local_files": "yes"}, "must be true or false"),
        ({"allow_server_credentials": 1}, "must be true or false"),
        ({"allow_local_files": None}, "must be true or false"),
    ],
)
def test_hostile_policy_json_gets_a_clear_error(data: Any, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment) as info:
        SourcePolicy.from_dict(data)
    assert len(str(info.value)) < 400


# ---------------------------------------------------------------------- matching hosts
@pytest.mark.parametrize(
    "host, port, allowed",
    [
        ("db.example.com", None, True),
        ("DB.EXAMPLE.com.", 6543, True),  # case and a trailing dot do not matter; any port
        ("db.example.com.evil.net", None, False),
        ("evil-db.example.com", None, False),
        ("sales.corp.example.com", None, True),
        ("a.b.corp.example.com", 1, True),
        ("corp.example.com", None, False),  # a wildcard is for the names under the domain
        ("evilcorp.example.com", None, False),
        ("10.0.0.5", None, True),  # 5432 is PostgreSQL's default port
        ("10.0.0.5", 5432, True),
        ("10.0.0.5", 5433, False),
        ("fd00:0::5", 1, True),  # IPv6 compared in normal form
        ("[fd00::5]", None, True),
        ("10.0.0.6", None, False),
        ("localhost", None, False),
        ("127.0.0.1", None, False),
        ("::1", None, False),
        ("169.254.169.254", None, False),  # the cloud's instance metadata
        ("127.1", None, False),
        ("2130706433", None, False),
        ("", None, False),
        (None, None, False),  # no host: this machine's socket
    ],
)
def test_sql_hosts_match_as_written(host: str | None, port: int | None, allowed: bool) -> None:
    if allowed:
        TEAM.check_sql_host(host, port, scheme="postgresql")
        return
    with pytest.raises(PolicyError, match="administrator") as info:
        TEAM.check_sql_host(host, port, scheme="postgresql")
    assert "db.example.com" in str(info.value)  # says what is allowed


def test_a_wildcard_never_matches_an_address() -> None:
    wide = SourcePolicy(allowed_sql_hosts=("*.example.com", "*.in-addr.arpa"))
    for host in ("1.2.3.4", "10.0.0.1", "0x7f.example.com.1", "1.0.0.127.in-addr.arpa.0x1"):
        with pytest.raises(PolicyError):
            wide.check_sql_host(host, None)
    with pytest.raises(PolicyError):
        wide.check_sql_host("evil.net,a.example.com", None)  # one text, two servers
    wide.check_sql_host("a.example.com", None)
    listed = SourcePolicy(allowed_sql_hosts=("localhost", "127.0.0.1:5432"))
    listed.check_sql_host("localhost", 1)
    listed.check_sql_host("127.0.0.1", None, scheme="postgresql")
    with pytest.raises(PolicyError, match="127.0.0.1:3306"):
        listed.check_sql_host("127.0.0.1", 3306)


# ---------------------------------------------------------------------- enforced when opening
def _table(source: str, **kw: Any) -> Connector:
    return open_source(source, table="t", policy=TEAM, **kw)


def test_allowed_database_servers_open() -> None:
    for url in (
        "postgresql://analyst@db.example.com/sales",
        "postgresql+psycopg://analyst@x.corp.example.com:6000/sales",
        "postgresql://analyst@10.0.0.5:5432/sales",
        "mysql+pymysql://analyst@db.example.com/sales",
    ):
        assert _table(url).kind == "sql"


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("postgresql://analyst@db.internal/sales", "db.internal"),
        ("postgresql://analyst@169.254.169.254/x", "169.254.169.254"),
        ("postgresql://analyst@localhost/x", "localhost"),
        ("postgresql://analyst@10.0.0.5:6432/x", "10.0.0.5:6432"),
        ("postgresql:///sales", "names no server"),
        ("postgresql://analyst@/sales?host=/var/run/postgresql", "host="),
        ("postgresql://analyst@db.example.com/sales?host=evil.net", "host="),
        ("postgresql://analyst@db.example.com/sales?hostaddr=10.9.9.9", "hostaddr="),
        ("postgresql://analyst@db.example.com/sales?service=other", "service="),
        ("postgresql://analyst@db.example.com/host=evil.net", "database name"),
        ("postgresql://analyst@db.example.com,evil.net/sales", "evil.net"),
        ("mssql+pyodbc://analyst@db.example.com/x?odbc_connect=SERVER%3Devil", "odbc_connect="),
    ],
)
def test_database_servers_outside_the_policy_are_refused(url: str, fragment: str) -> None:
    with pytest.raises(PolicyError, match="administrator") as info:
        _table(url)
    assert fragment in str(info.value)
    with pytest.raises(PolicyError):
        list_tables(url, policy=TEAM)  # refused before connecting, like a read


def test_local_files_and_database_files(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(csv, index=False)
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a)")
        conn.execute("INSERT INTO t VALUES (1)")
    for source, options in ((str(csv), {}), (f"sqlite:///{db}", {"table": "t"})):
        with pytest.raises(PolicyError, match="does not allow reading files on the server"):
            open_source(source, policy=TEAM, **options)
        assert len(open_source(source, **options).read()) > 0  # personal mode reads
    hosts_only = SourcePolicy(allowed_sql_hosts=("db.example.com",))
    assert open_source(f"sqlite:///{db}", table="t", policy=hosts_only).kind == "sql"


def test_object_storage_endpoints_and_server_credentials() -> None:
    keys = {"access_key": "AKIAEXAMPLE", "secret_key": "example-secret-key"}
    ok = open_source("s3://lake/x.csv", endpoint_url="http://minio.example.com:9000", **keys,
                     policy=TEAM)  # fmt: skip
    assert ok.kind == "s3"
    for endpoint, shown in [
        ("http://minio.example.com:9001", "minio.example.com:9001"),
        ("http://169.254.169.254", "169.254.169.254"),
        ("https://user:pw@127.0.0.1:9000", "127.0.0.1:9000"),
        (None, "s3.amazonaws.com"),  # Amazon S3 itself is not listed
    ]:
        with pytest.raises(PolicyError, match="storage service") as info:
            open_source("s3://lake/x.csv", endpoint_url=endpoint, **keys, policy=TEAM)
        assert shown in str(info.value) and "pw@" not in str(info.value)
    with pytest.raises(PolicyError, match="server's own cloud credentials"):
        open_source(
            "s3://lake/x.csv",
            endpoint_url="http://minio.example.com:9000",
            server_credentials=True,
            policy=TEAM,
        )
    aws = SourcePolicy(allowed_s3_endpoints=("s3.amazonaws.com",))
    assert open_source("s3://lake/x.csv", anonymous=True, policy=aws).kind == "s3"


class _Unchecked(Connector):
    """A connector kind that does not check policies."""

    kind = "unchecked"

    @classmethod
    def from_request(cls, request: SourceRequest) -> _Unchecked:
        return cls()

    def read(self) -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    def describe(self) -> str:
        return "unchecked"


def test_a_kind_that_cannot_check_the_policy_is_refused_under_one() -> None:
    register(
        "unchecked",
        "tests.connectors.test_policy:_Unchecked",
        recognizes=has_scheme("unchecked"),
        example="unchecked://x",
    )
    try:
        assert open_source("unchecked://x").describe() == "unchecked"
        with pytest.raises(PolicyError, match="unchecked sources cannot be checked"):
            open_source("unchecked://x", policy=TEAM)
    finally:
        del REGISTRY["unchecked"]


def test_the_data_service_passes_the_policy_on(tmp_path: Path) -> None:
    from automl.workspace.data import list_tables as service_tables
    from automl.workspace.data import load_data, read_source

    csv = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(csv, index=False)
    with pytest.raises(PolicyError):
        read_source(csv, policy=TEAM)
    with pytest.raises(PolicyError):
        load_data(str(csv), policy=TEAM)
    with pytest.raises(PolicyError):
        service_tables("postgresql://a@db.internal/x", policy=TEAM)
    with pytest.raises(ParameterError, match="SourcePolicy"):
        read_source(csv, policy={"allow_local_files": False})  # type: ignore[arg-type]
    assert read_source(csv).rows == 2


def test_an_unknown_source_is_shown_without_its_secrets() -> None:
    with pytest.raises(DataError, match="Source not known") as info:
        open_source("http://me:Hunter2-Secret@files.example.com/x.csv?token=T0ken-Value")
    assert "Hunter2-Secret" not in str(info.value) and "T0ken-Value" not in str(info.value)
