"""Object storage connector against a local S3-compatible server (moto in server mode)."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest
from moto.server import ThreadedMotoServer

from automl.errors import DataError
from connectors import get_connector, open_source
from connectors.s3 import S3Connector, S3Options, read_s3

KEY = "AKIAEASELTEST"
SECRET = "easel-secret-value-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    fs = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{port}",
        scheme="http",
        access_key=KEY,
        secret_key=SECRET,
        region="us-east-1",
        allow_bucket_creation=True,
    )
    fs.create_dir("lake")
    frame = pd.DataFrame({"id": range(6), "city": list("abcabc"), "amount": [1.5] * 6})

    def put(key: str, data: bytes) -> None:
        with fs.open_output_stream(f"lake/{key}") as out:
            out.write(data)

    put("sales.csv", frame.to_csv(index=False).encode())
    put("sales.tsv", frame.to_csv(index=False, sep="\t").encode())
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    put("sales.parquet", buf.getvalue())
    for i in range(3):
        part = frame.iloc[2 * i : 2 * i + 2]
        put(f"parts/part-{i:04d}.csv", part.to_csv(index=False).encode())
    put("parts/_SUCCESS", b"")
    put("mixed/a.csv", frame.to_csv(index=False).encode())
    put("mixed/b.csv", frame.rename(columns={"city": "town"}).to_csv(index=False).encode())
    put("odd/data.xml", b"<a/>")
    yield url
    server.stop()


def opts(endpoint: str, uri: str, **kw: object) -> S3Options:
    return S3Options(uri, endpoint_url=endpoint, access_key=KEY, secret_key=SECRET, **kw)  # type: ignore[arg-type]


def test_files_and_prefixes(endpoint: str) -> None:
    for key in ("sales.csv", "sales.tsv", "sales.parquet"):
        df = S3Connector(opts(endpoint, f"s3://lake/{key}")).read()
        assert df.shape == (6, 3) and list(df.columns) == ["id", "city", "amount"], key
    parts = S3Connector(opts(endpoint, "s3://lake/parts/"))
    assert [k for k, _ in parts.list_objects()] == [f"parts/part-{i:04d}.csv" for i in range(3)]
    assert parts.read()["id"].tolist() == list(range(6))
    assert len(S3Connector(opts(endpoint, "s3://lake/parts/", nrows=3)).read()) == 3
    chunks = list(S3Connector(opts(endpoint, "s3://lake/sales.csv")).iter_chunks(4))
    assert [len(c) for c in chunks] == [4, 2]
    assert get_connector("s3") is S3Connector
    via = open_source(
        "s3://lake/sales.parquet", endpoint_url=endpoint, access_key=KEY, secret_key=SECRET
    )
    assert len(via.read()) == 6
    assert (
        len(
            read_s3("s3://lake/sales.csv", endpoint_url=endpoint, access_key=KEY, secret_key=SECRET)
        )
        == 6
    )


@pytest.mark.parametrize(
    "uri, fragment",
    [
        ("s3://lake/nope.csv", "Nothing to read"),
        ("s3://nobucket/sales.csv", "bucket 'nobucket' does not exist"),
        ("s3://lake/mixed/", "s3://lake/mixed/b.csv has different columns"),
        ("s3://lake/odd/", "cannot read from object storage \\(.xml\\)"),
        ("http://lake/x.csv", "not an object storage address"),
        ("s3:///x.csv", "no bucket name"),
    ],
)
def test_errors(endpoint: str, uri: str, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment) as e:
        S3Connector(opts(endpoint, uri)).read()
    assert SECRET not in str(e.value)


def test_size_limit_and_secrets(endpoint: str) -> None:
    with pytest.raises(DataError, match="over the limit of 0.0 MB"):
        S3Connector(opts(endpoint, "s3://lake/sales.csv", max_bytes=10)).read()
    conn = S3Connector(opts(endpoint, "s3://lake/sales.csv"))
    assert SECRET not in conn.describe() and SECRET not in repr(conn.options)
    assert KEY not in repr(conn.options)


def test_unreachable_endpoint_fails_fast() -> None:
    start = time.monotonic()
    with pytest.raises(DataError, match="Could not reach the storage service") as e:
        S3Connector(opts(f"http://127.0.0.1:{_free_port()}", "s3://lake/sales.csv")).read()
    assert time.monotonic() - start < 20
    assert SECRET not in str(e.value)


def test_cli_import_from_object_storage(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from automl.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    w = str(tmp_path)
    code = main(
        [
            "import",
            "s3://lake/parts/",
            "--endpoint-url",
            endpoint,
            "--name",
            "parts",
            "--workspace",
            w,
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "6 rows x 3 columns from s3://lake/parts/" in out.out
