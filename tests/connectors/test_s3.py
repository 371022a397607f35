"""Object storage connector against a real local S3-compatible server (moto in server mode).

moto and boto3 are dev dependencies: if they are missing, this module fails to import (loudly)
rather than skipping. boto3 only seeds the server here; the connector itself uses pyarrow.
"""

from __future__ import annotations

import io
import json
import socket
import tempfile
import time
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto.core import enable_iam_authentication
from moto.server import ThreadedMotoServer

from automl.errors import DataError, ParameterError, PolicyError
from connectors import SourcePolicy, get_connector, open_source
from connectors.s3 import S3Connector, S3Options, parse_uri, read_s3

KEY = "AKIAEASELTEST0000000"
SECRET = "easel-Secret/Value+1234567890abcdefghij"
FRAME = pd.DataFrame(
    {
        "id": np.arange(6),
        "city": ["Ann Arbor", "Bâle", "Cork", "Dax", "Eze", "Fès"],
        "amount": [1.5, 2.25, np.nan, 4.0, 5.5, 6.75],
    }
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto S3 server on a free port with the bucket ``lake``, stopped after the module."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        s3 = _client(url, "s3")
        s3.create_bucket(Bucket="lake")

        def put(key: str, data: bytes) -> None:
            s3.put_object(Bucket="lake", Key=key, Body=data)

        put("sales.csv", FRAME.to_csv(index=False).encode())
        put("sales.tsv", FRAME.to_csv(index=False, sep="\t").encode())
        put("sales.parquet", _parquet(FRAME))
        put("european.csv", b"id;price\n1;1,5\n2;2,25\n")
        put("parts/", b"")  # a console-made "folder" marker
        for i in range(3):
            put(
                f"parts/part-{i:04d}.csv",
                FRAME.iloc[2 * i : 2 * i + 2].to_csv(index=False).encode(),
            )
        put("parts/_SUCCESS", b"")
        put("parts/.part-0000.csv.crc", b"crc")
        put("pq/part-0.parquet", _parquet(FRAME.iloc[:3]))
        put("pq/part-1.parquet", _parquet(FRAME.iloc[3:]))
        put("mixed/a.csv", FRAME.to_csv(index=False).encode())
        put("mixed/b.csv", FRAME.rename(columns={"city": "town"}).to_csv(index=False).encode())
        put("formats/a.csv", FRAME.to_csv(index=False).encode())
        put("formats/b.parquet", _parquet(FRAME))
        put("odd/data.xml", b"<a/>")
        put("withnotes/README.md", b"# notes")
        put("withnotes/data.csv", FRAME.to_csv(index=False).encode())
        put("bad/empty.csv", b"")
        put("bad/ragged.csv", b"a,b\n1,2\n3,4,5\n")
        yield url
    finally:
        server.stop()


def opts(endpoint: str, uri: str, **kw: Any) -> S3Options:
    return S3Options(uri, endpoint_url=endpoint, access_key=KEY, secret_key=SECRET, **kw)


def read(endpoint: str, uri: str, **kw: Any) -> pd.DataFrame:
    return S3Connector(opts(endpoint, uri, **kw)).read()


def fails(endpoint: str, uri: str, match: str, **kw: Any) -> str:
    """The DataError text of reading ``uri``; it must match and never hold the secret key."""
    with pytest.raises(DataError, match=match) as e:
        read(endpoint, uri, **kw)
    text = str(e.value)
    assert SECRET not in text and "easel-s3-" not in text, text
    return text


# ---------------------------------------------------------------------- reading
def test_csv_tsv_parquet_round_trip(endpoint: str) -> None:
    pd.testing.assert_frame_equal(read(endpoint, "s3://lake/sales.parquet"), FRAME)
    for key in ("sales.csv", "sales.tsv"):
        df = read(endpoint, f"s3://lake/{key}")
        pd.testing.assert_frame_equal(df, FRAME, check_dtype=False, obj=key)
        assert df["id"].dtype.kind == "i" and df["amount"].dtype.kind == "f"
    # the files connector's dialect detection is shared: ';' and decimal commas
    euro = read(endpoint, "s3://lake/european.csv")
    assert euro["price"].tolist() == [1.5, 2.25]


def test_prefix_concatenates_parts_in_key_order(endpoint: str) -> None:
    conn = S3Connector(opts(endpoint, "s3://lake/parts/"))
    keys = [k for k, _ in conn.list_objects()]
    assert keys == [f"parts/part-{i:04d}.csv" for i in range(3)]  # no marker, _SUCCESS, .crc
    assert all(size > 0 for _, size in conn.list_objects())
    pd.testing.assert_frame_equal(conn.read(), FRAME, check_dtype=False)
    # a "directory" key without the trailing slash is a prefix too
    assert read(endpoint, "s3://lake/parts")["id"].tolist() == list(range(6))
    pd.testing.assert_frame_equal(read(endpoint, "s3://lake/pq/"), FRAME)
    # files of other types under a prefix are left out
    assert len(read(endpoint, "s3://lake/withnotes/")) == 6


def test_nrows_and_iter_chunks(endpoint: str) -> None:
    assert read(endpoint, "s3://lake/sales.csv", nrows=4)["id"].tolist() == [0, 1, 2, 3]
    assert read(endpoint, "s3://lake/sales.parquet", nrows=2)["id"].tolist() == [0, 1]
    assert read(endpoint, "s3://lake/parts/", nrows=3)["id"].tolist() == [0, 1, 2]  # two parts
    chunks = list(S3Connector(opts(endpoint, "s3://lake/sales.csv")).iter_chunks(4))
    assert [len(c) for c in chunks] == [4, 2]
    chunks = list(S3Connector(opts(endpoint, "s3://lake/pq/")).iter_chunks(2))
    assert [len(c) for c in chunks] == [2, 1, 2, 1]  # chunks never span two files
    assert pd.concat(chunks)["id"].tolist() == list(range(6))
    limited = S3Connector(opts(endpoint, "s3://lake/parts/", nrows=5)).iter_chunks(10)
    assert [len(c) for c in limited] == [2, 2, 1]
    with pytest.raises(ParameterError, match="chunk_rows"):
        S3Connector(opts(endpoint, "s3://lake/sales.csv")).iter_chunks(0)


def test_registry_convenience_and_open_source(endpoint: str) -> None:
    assert get_connector("s3") is S3Connector
    df = read_s3("s3://lake/sales.csv", endpoint_url=endpoint, access_key=KEY, secret_key=SECRET)
    assert df.shape == (6, 3)
    via = open_source(
        "s3://lake/sales.parquet", endpoint_url=endpoint, access_key=KEY, secret_key=SECRET
    )
    assert isinstance(via, S3Connector) and len(via.read()) == 6


def test_server_credentials_only_when_chosen(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    # empty keys never fall back to this machine's AWS settings on their own
    with pytest.raises(DataError, match="No keys were given for s3://lake/sales.csv"):
        S3Connector(S3Options("s3://lake/sales.csv", endpoint_url=endpoint))
    with pytest.raises(DataError, match="No keys were given"):
        open_source("s3://lake/sales.csv", endpoint_url=endpoint, access_key="", secret_key="")
    chosen = S3Options("s3://lake/sales.csv", endpoint_url=endpoint, use_server_credentials=True)
    assert len(S3Connector(chosen).read()) == 6
    via = open_source("s3://lake/sales.csv", endpoint_url=endpoint, server_credentials=True)
    assert len(via.read()) == 6
    no_server = SourcePolicy(allow_server_credentials=False)
    with pytest.raises(PolicyError, match="server's own cloud credentials"):
        S3Connector(replace(chosen, policy=no_server))
    with pytest.raises(DataError, match="one way to reach the bucket"):
        S3Connector(replace(chosen, access_key=KEY, secret_key=SECRET))
    keys = open_source(
        "s3://lake/sales.csv", endpoint_url=endpoint, access_key=KEY, secret_key=SECRET,
        policy=no_server,
    )  # fmt: skip
    assert len(keys.read()) == 6


def test_policy_limits_the_endpoints(endpoint: str) -> None:
    host = endpoint.removeprefix("http://")
    allowed = SourcePolicy(allowed_s3_endpoints=(host,))
    assert len(S3Connector(replace(opts(endpoint, "s3://lake/pq/"), policy=allowed)).read()) == 6
    other = SourcePolicy(allowed_s3_endpoints=("minio.example.com:9000",))
    with pytest.raises(PolicyError, match=f"storage service at {host}"):
        S3Connector(replace(opts(endpoint, "s3://lake/pq/"), policy=other))


def test_endpoint_credentials_are_never_recorded(endpoint: str, tmp_path: Path) -> None:
    from automl.workspace.catalog import Workspace
    from automl.workspace.data import import_dataset

    with_user = endpoint.replace("http://", f"http://reader:{SECRET}@")
    ws = Workspace(tmp_path / "ws")
    rec = import_dataset(
        ws, "s3://lake/sales.csv", "sales", endpoint_url=with_user, access_key=KEY,
        secret_key=SECRET,
    )  # fmt: skip
    assert rec.rows == 6
    assert rec.lineage["options"]["endpoint_url"] == endpoint
    stored = (
        rec.source
        + json.dumps(rec.lineage)
        + (ws.root / "catalog.sqlite").read_text(errors="replace")
    )
    assert SECRET not in stored and "reader" not in stored


def test_temporary_copies_are_deleted(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    read(endpoint, "s3://lake/parts/")
    list(S3Connector(opts(endpoint, "s3://lake/pq/")).iter_chunks(1))
    fails(endpoint, "s3://lake/bad/ragged.csv", "line 3")
    gen = S3Connector(opts(endpoint, "s3://lake/parts/")).iter_chunks(1)
    assert isinstance(gen, Generator)
    next(gen)
    gen.close()  # stopped early: the copy goes too
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "uri, match",
    [
        ("http://lake/x.csv", "not an object storage address"),
        ("lake/x.csv", "not an object storage address"),
        ("s3:///x.csv", "no bucket name"),
        ("s3://la ke/x.csv", "not a valid bucket name"),
    ],
)
def test_malformed_uri(uri: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        S3Connector(S3Options(uri))
    with pytest.raises(DataError, match="s3://bucket/path/file.csv"):
        parse_uri(uri)


def test_missing_key_bucket_and_prefix(endpoint: str) -> None:
    text = fails(endpoint, "s3://lake/sale.csv", "Nothing found at s3://lake/sale.csv")
    assert "Close matches: s3://lake/sales.csv" in text
    text = fails(endpoint, "s3://lake/part/", "Nothing found")
    assert "s3://lake/parts/" in text
    fails(endpoint, "s3://lake/parts/part-9.csv", "Close matches: s3://lake/parts/part-0")
    fails(endpoint, "s3://nobucket/sales.csv", "The bucket 'nobucket' does not exist")
    fails(endpoint, "s3://nobucket/folder/", "The bucket 'nobucket' does not exist")


def test_unsupported_mixed_and_mismatched(endpoint: str) -> None:
    fails(endpoint, "s3://lake/odd/data.xml", r"unsupported extension \(.xml\)")
    fails(endpoint, "s3://lake/odd/", r"No data files under s3://lake/odd/.*data.xml")
    text = fails(endpoint, "s3://lake/mixed/", "s3://lake/mixed/b.csv has different columns")
    assert "s3://lake/mixed/a.csv" in text and "missing city; extra town" in text
    fails(endpoint, "s3://lake/formats/", "mixes CSV and Parquet")


def test_file_errors_name_the_object(endpoint: str) -> None:
    fails(endpoint, "s3://lake/bad/empty.csv", r"'s3://lake/bad/empty.csv' is empty \(0 bytes\)")
    fails(endpoint, "s3://lake/bad/ragged.csv", r"'s3://lake/bad/ragged.csv', line 3: found 3")


def test_size_limit_checked_before_download(endpoint: str) -> None:
    size = len(FRAME.to_csv(index=False).encode())
    fails(
        endpoint,
        "s3://lake/sales.csv",
        f"is {size} bytes, over the limit of 10 bytes",
        max_bytes=10,
    )
    fails(
        endpoint,
        "s3://lake/parts/",
        r"The 3 files under s3://lake/parts/ are \d+ bytes, over the limit",
        max_bytes=100,
    )
    assert len(read(endpoint, "s3://lake/sales.csv", max_bytes=size)) == 6
    with pytest.raises(ParameterError, match="max_bytes"):
        S3Connector(opts(endpoint, "s3://lake/sales.csv", max_bytes=0))


def test_unreachable_endpoint_fails_fast() -> None:
    closed = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    text = fails(closed, "s3://lake/sales.csv", "Could not reach the storage service")
    assert time.monotonic() - start < 15
    assert closed in text and "port" in text
    fails("http://no-such-host.invalid:9000", "s3://lake/x.csv", "host name .* could not be found")
    fails("ftp://127.0.0.1:9000", "s3://lake/x.csv", "must start with http:// or https://")


def test_secrets_never_shown(endpoint: str) -> None:
    conn = S3Connector(opts(endpoint, "s3://lake/sales.csv"))
    assert conn.describe() == f"s3://lake/sales.csv (endpoint {endpoint})"
    assert SECRET not in repr(conn.options) and KEY not in repr(conn.options)
    creds = S3Connector(
        S3Options("s3://lake/x.csv", endpoint_url=f"http://u:{SECRET}@h:9", anonymous=True)
    )
    assert creds.describe() == "s3://lake/x.csv (endpoint http://h:9)"
    with pytest.raises(DataError, match="both the access key and the secret key"):
        S3Connector(S3Options("s3://lake/x.csv", secret_key=SECRET))


def test_wrong_credentials(endpoint: str) -> None:
    """moto accepts any keys by default; with its IAM simulation on it checks them like AWS."""
    iam = _client(endpoint, "iam")
    reader = iam.create_access_key(UserName=iam.create_user(UserName="reader")["User"]["UserName"])
    iam.put_user_policy(
        UserName="reader",
        PolicyName="read",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "s3:*", "Resource": "*"}]}',
    )
    nobody = iam.create_access_key(UserName=iam.create_user(UserName="nobody")["User"]["UserName"])
    good = (reader["AccessKey"]["AccessKeyId"], reader["AccessKey"]["SecretAccessKey"])
    bare = (nobody["AccessKey"]["AccessKeyId"], nobody["AccessKey"]["SecretAccessKey"])

    def attempt(uri: str, access: str, secret: str, match: str) -> None:
        with pytest.raises(DataError, match=match) as e:
            S3Connector(
                S3Options(uri, endpoint_url=endpoint, access_key=access, secret_key=secret)
            ).read()
        assert secret not in str(e.value)

    with enable_iam_authentication():
        ok = S3Options(
            "s3://lake/parts/", endpoint_url=endpoint, access_key=good[0], secret_key=good[1]
        )
        assert len(S3Connector(ok).read()) == 6
        for uri in ("s3://lake/sales.csv", "s3://lake/parts/"):
            attempt(uri, "AKIAUNKNOWN000000000", SECRET, "does not know the access key")
            attempt(uri, good[0], "not-the-secret-key-at-all", "secret key does not match")
            attempt(uri, bare[0], bare[1], "was refused.*may read this bucket")


def test_cli_import_from_object_storage(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from automl.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    argv = ["import", "s3://lake/parts/", "--endpoint-url", endpoint, "--name", "parts"]
    assert main([*argv, "--workspace", str(tmp_path)]) == 2  # keys must be chosen explicitly
    assert "--aws-settings" in capsys.readouterr().err.replace("\n", "")
    argv.append("--aws-settings")
    code = main([*argv, "--workspace", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "6 rows x 3 columns from s3://lake/parts/" in out.out
    assert SECRET not in out.out + out.err


def test_endpoint_without_scheme_means_https(endpoint: str) -> None:
    bare = endpoint.removeprefix("http://")
    fails(bare, "s3://lake/sales.csv", "no scheme, so https was used: write http://")
