"""One contract, every registered connector (like fsspec's abstract backend tests).

Parametrized over :data:`connectors.REGISTRY`: each kind has cases below (a test fails when a
registered kind has none, so a new connector comes with its cases). For every case,
:func:`connectors.open_source` picks that kind, ``describe()`` never shows a password or secret
given in the source or the options, and reading in chunks gives the same rows as one read.
Sources are local: files, SQLite, and the moto S3 server of ``tests/connectors/test_s3.py``
(started only when an S3 case runs).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from connectors import REGISTRY, get_connector, open_source
from tests.connectors.test_s3 import KEY, SECRET, endpoint  # noqa: F401 (the moto fixture)

PASSWORD = "Hunter2-Pa55word"
FRAME = pd.DataFrame(
    {
        "id": np.arange(23),
        "city": [f"city {i % 5}" for i in range(23)],
        "amount": [np.nan if i % 7 == 3 else i * 1.25 for i in range(23)],
    }
)


@dataclass
class Case:
    """``open_source(source, **options)``; ``secrets`` must never appear in ``describe()``;
    ``readable`` says whether the source can be read here."""

    source: str
    options: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    readable: bool = True

    def __str__(self) -> str:
        return self.source


def _file_cases(tmp: Path, request: pytest.FixtureRequest, reads: bool) -> list[Case]:
    FRAME.to_csv(tmp / "t.csv", index=False)
    FRAME.to_parquet(tmp / "t.parquet", index=False)
    FRAME.to_json(tmp / "t.jsonl", orient="records", lines=True)
    FRAME.to_json(tmp / "t.json", orient="records")
    FRAME.to_excel(tmp / "t.xlsx", index=False)
    # options that do not apply to files (a password) must not leak either
    extra = {"password": PASSWORD}
    return [
        Case(str(tmp / f"t.{ext}"), extra, (PASSWORD,))
        for ext in ("csv", "parquet", "jsonl", "json", "xlsx")
    ]


def _sql_cases(tmp: Path, request: pytest.FixtureRequest, reads: bool) -> list[Case]:
    db = tmp / "shop.db"
    with sqlite3.connect(db) as conn:
        FRAME.to_sql("customers", conn, index=False)
    url = f"sqlite:///{db}"
    remote = "postgresql://analyst:{}@db.example.invalid:5432/sales"
    return [
        Case(url, {"table": "customers"}),
        Case(url, {"query": "SELECT * FROM customers WHERE id < 20"}),
        # described without connecting: the password in the URL, or given apart
        Case(remote.format(PASSWORD), {"table": "t"}, (PASSWORD,), readable=False),
        Case(remote.format("x"), {"query": "SELECT 1", "password": PASSWORD}, (PASSWORD,), False),
        Case(remote.format("x") + f"?sslpassword={PASSWORD}", {"table": "t"}, (PASSWORD,), False),
    ]


def _s3_cases(tmp: Path, request: pytest.FixtureRequest, reads: bool) -> list[Case]:
    offline = {"access_key": KEY, "secret_key": SECRET}
    cases = [
        Case(
            "s3://lake/sales.csv",
            {**offline, "endpoint_url": f"https://user:{PASSWORD}@minio.example.invalid:9000"},
            (SECRET, PASSWORD),
            readable=False,
        )
    ]
    if reads:  # start the moto server only for the checks that read
        url = request.getfixturevalue("endpoint")
        keys = {**offline, "endpoint_url": url}
        cases += [Case(f"s3://lake/{k}", keys, (SECRET,)) for k in ("parts/", "pq/", "sales.csv")]
    return cases


CASES: dict[str, Callable[[Path, pytest.FixtureRequest, bool], list[Case]]] = {
    "file": _file_cases,
    "sql": _sql_cases,
    "s3": _s3_cases,
}
KINDS = sorted(REGISTRY)


def test_every_registered_kind_has_contract_cases() -> None:
    missing = sorted(set(REGISTRY) - set(CASES))
    assert not missing, f"add contract cases for the connector kinds {missing}"


@pytest.mark.parametrize("kind", KINDS)
def test_open_source_picks_the_kind_and_describe_hides_secrets(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cases = CASES[kind](tmp_path, request, False)
    assert cases
    for case in cases:
        conn = open_source(case.source, **case.options)
        assert isinstance(conn, get_connector(kind)) and conn.kind == kind, case
        text = conn.describe()
        assert text and isinstance(text, str)
        for secret in case.secrets:
            assert secret not in text, f"{case}: describe() shows a secret: {text}"


def _same_rows(chunks: list[pd.DataFrame], whole: pd.DataFrame, case: Case) -> None:
    assert chunks, case
    joined = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(
        joined, whole.reset_index(drop=True), check_dtype=False, obj=str(case)
    )


@pytest.mark.parametrize("chunk_rows", [5, 10_000])
@pytest.mark.parametrize("kind", KINDS)
def test_reading_in_chunks_equals_one_read(
    kind: str, chunk_rows: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    readable = [c for c in CASES[kind](tmp_path, request, True) if c.readable]
    assert readable, f"no readable contract case for {kind}"
    for case in readable:
        conn = open_source(case.source, **case.options)
        whole = conn.read()
        assert len(whole) > 0, case
        chunks = list(conn.iter_chunks(chunk_rows))
        assert all(0 < len(c) <= chunk_rows for c in chunks), case
        _same_rows(chunks, whole, case)
