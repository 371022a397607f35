"""Files connector: every format round-trips; every bad file gets a clear DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.errors import DataError
from connectors import (
    REGISTRY,
    Connector,
    Rows,
    SourceRequest,
    get_connector,
    iter_file_batches,
    iter_file_chunks,
    open_source,
    read_file,
    register,
)
from connectors.files import FileConnector

FRAME = pd.DataFrame(
    {
        "name": ["Ann", "Bob", "Cé"],
        "amount": [1.5, 2.0, np.nan],
        "count": [1, 2, 3],
    }
)


def write(df: pd.DataFrame, path: Path) -> Path:
    ext = path.suffix
    if ext == ".csv":
        df.to_csv(path, index=False)
    elif ext == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif ext == ".parquet":
        df.to_parquet(path)
    elif ext == ".json":
        df.to_json(path, orient="records")
    elif ext == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    elif ext == ".xlsx":
        df.to_excel(path, index=False)
    return path


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet", ".json", ".jsonl", ".xlsx"])
class TestEveryFormat:
    """The same checks against every file format."""

    def test_round_trip(self, tmp_path: Path, ext: str) -> None:
        df = read_file(write(FRAME, tmp_path / f"data{ext}"))
        assert list(df.columns) == ["name", "amount", "count"]
        assert df["name"].tolist() == ["Ann", "Bob", "Cé"]
        assert df["count"].tolist() == [1, 2, 3]
        assert df["amount"].isna().sum() == 1

    def test_chunks_cover_every_row(self, tmp_path: Path, ext: str) -> None:
        big = pd.concat([FRAME] * 7, ignore_index=True)
        chunks = list(iter_file_chunks(write(big, tmp_path / f"data{ext}"), 5))
        assert sum(len(c) for c in chunks) == 21
        if ext in (".csv", ".tsv", ".parquet", ".jsonl"):
            assert len(chunks) == 5

    def test_header_only(self, tmp_path: Path, ext: str) -> None:
        path = write(FRAME.iloc[:0], tmp_path / f"data{ext}")
        with pytest.raises(DataError, match=f"data{ext}"):
            read_file(path)


def test_semicolon_delimiter_and_decimal_comma(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("name;price\nA;1,5\nB;2,25\n", encoding="utf-8")
    df = read_file(path)
    assert df["price"].tolist() == [1.5, 2.25]


def test_pipe_delimiter_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,note\n1,"first line\nsecond line"\n2,plain\n', encoding="utf-8")
    df = read_file(path)
    assert len(df) == 2 and "second line" in df["note"][0]
    pipe = tmp_path / "pipe.txt"
    pipe.write_text("a|b\n1|2\n3|4\n")
    assert list(read_file(pipe).columns) == ["a", "b"]


def test_bom_and_cp1252(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes("city,n\nZürich,1\n".encode("utf-8-sig"))
    assert list(read_file(bom).columns) == ["city", "n"]
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("city,n\nS\xe3o Paulo,1\nK\xf6ln,2\n".encode("latin-1"))
    assert read_file(legacy)["city"].tolist() == ["São Paulo", "Köln"]


def test_column_names_are_stripped_and_duplicates_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(" a , b \n1,2\n")
    assert list(read_file(path).columns) == ["a", "b"]
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match="duplicate column names: a"):
        read_file(path)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"   \n\n", "empty"),
        ("header.csv", b"a,b,c\n", "no rows"),
        ("garbage.csv", bytes(range(256)) * 50, "not look like a text file"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "line 3: found 3 fields but the header has 2"),
        ("bad.json", b"{not json", "not valid JSON"),
        ("bad.jsonl", b'{"a": 1}\n{oops\n', "not valid JSON Lines"),
        ("data.xls", b"whatever", "unsupported extension"),
        ("broken.xlsx", b"PK\x03\x04 not really", "Excel"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=words) as info:
        read_file(path)
    assert name in str(info.value) or "Excel" in str(info.value)


def test_truncated_parquet(tmp_path: Path) -> None:
    path = write(pd.concat([FRAME] * 100), tmp_path / "t.parquet")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="'t.parquet' is damaged or is not a Parquet file"):
        read_file(path)
    with pytest.raises(DataError, match="damaged"):
        list(iter_file_chunks(path, 10))


def test_missing_folder_and_size_limit(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="File not found"):
        read_file(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_file(tmp_path)
    path = write(pd.concat([FRAME] * 1000), tmp_path / "big.csv")
    with pytest.raises(DataError, match="over the limit of 0.0 MB"):
        read_file(path, max_bytes=10)


def test_registry_lists_known_kinds() -> None:
    assert get_connector("file").kind == "file"
    with pytest.raises(DataError, match="Source kind not known: 'ftp'. Known kinds: file"):
        get_connector("ftp")


@pytest.mark.parametrize("source", ["http://example.com/sales.csv", "file:///tmp/sales.csv"])
def test_unknown_source_lists_the_supported_ones(source: str) -> None:
    with pytest.raises(DataError, match="Source not known") as info:
        open_source(source)
    message = str(info.value)
    assert "s3://bucket" in message and "sqlite:///shop.db" in message and ".csv" in message


def test_open_source_rejects_options_that_do_not_apply(tmp_path: Path) -> None:
    path = write(FRAME, tmp_path / "f.csv")
    assert isinstance(open_source(f"  {path} "), FileConnector)
    with pytest.raises(DataError, match="is a file, so --table and --query do not apply"):
        open_source(path, table="t")
    with pytest.raises(DataError, match="needs a table"):
        open_source("sqlite:///shop.db")
    with pytest.raises(DataError, match="take no table, query or sheet"):
        open_source("s3://lake/x.csv", sheet=0)


class _Constant(Connector):
    """A source kind added by a plugin: ``const://N`` is a table of N rows."""

    kind = "const"

    def __init__(self, rows: int) -> None:
        self.rows = rows

    @classmethod
    def from_request(cls, request: SourceRequest) -> _Constant:
        return cls(int(request.source.split("://", 1)[1]))

    def read(self) -> pd.DataFrame:
        return pd.DataFrame({"x": range(self.rows)})

    def describe(self) -> str:
        return f"{self.rows} constant rows"


def test_a_new_kind_is_one_registration() -> None:
    from connectors._registry import has_scheme

    register(
        "const",
        f"{__name__}:_Constant",
        recognizes=has_scheme("const"),
        example="const://ROWS",
    )
    try:
        # Registered later, it is tried before the database-URL fallback that would take it.
        conn = open_source("const://3")
        assert isinstance(conn, _Constant) and len(conn.read()) == 3
        with pytest.raises(DataError, match="const: const://ROWS"):
            open_source("http://x/y.csv")
    finally:
        del REGISTRY["const"]
    with pytest.raises(ValueError, match="module:Class"):
        register("bad", "connectors.files.FileConnector", recognizes=bool, example="-")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdefgh xyz", min_size=1, max_size=8).filter(str.strip),
            st.integers(-1000, 1000),
            st.floats(-1e6, 1e6, allow_nan=False),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_csv_round_trip_property(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:  # type: ignore[type-arg]
    df = pd.DataFrame(rows, columns=["label", "n", "x"])
    path = tmp_path_factory.mktemp("prop") / "p.csv"
    df.to_csv(path, index=False)
    back = read_file(path)
    assert back.shape == df.shape and list(back.columns) == ["label", "n", "x"]
    assert back["n"].tolist() == df["n"].tolist()


def test_header_detection_thousands_and_quoted_newlines(tmp_path: Path) -> None:
    no_header = tmp_path / "numbers.csv"
    no_header.write_text("1,2.5,3\n4,5.5,6\n7,8.5,9\n")
    df = read_file(no_header)
    assert list(df.columns) == ["column_1", "column_2", "column_3"] and len(df) == 3
    chunks = list(iter_file_chunks(no_header, 2))
    assert list(chunks[0].columns) == ["column_1", "column_2", "column_3"]
    assert sum(len(c) for c in chunks) == 3
    money = tmp_path / "money.csv"
    money.write_text('item,price\na,"1,200.50"\nb,"15"\nc,"2,000,000"\n')
    assert read_file(money)["price"].tolist() == [1200.5, 15.0, 2_000_000.0]
    euro = tmp_path / "euro.csv"
    euro.write_text("item;price\na;1.200,50\nb;3,25\n")
    assert read_file(euro)["price"].tolist() == [1200.5, 3.25]
    notes = tmp_path / "notes.csv"
    notes.write_text('id,note\n1,"first line\nsecond line"\n2,plain\n')
    got = read_file(notes)
    assert got["note"].tolist() == ["first line\nsecond line", "plain"]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(-1000, 1000), st.none()),
            st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3)), st.none()),
            st.one_of(st.text(alphabet="abc xyz,\"'\n;", min_size=1, max_size=8), st.none()),
            st.sampled_from(["2024-01-02", "2023-12-31", None]),
        ),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=60, deadline=None)
def test_fast_and_exact_readers_agree(rows: list[tuple[object, ...]]) -> None:
    """The Arrow fast path reads the same values as the pandas reader (used for previews and
    chunks), including quoted delimiters, newlines and missing values."""
    import tempfile

    df = pd.DataFrame(rows, columns=["n", "x", "t", "d"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        df.to_csv(path, index=False)
        fast = read_file(path)
        exact = next(iter_file_chunks(path, 1000))
    assert fast.shape == exact.shape
    for col in fast.columns:
        a = fast[col].astype(object).where(fast[col].notna(), None).tolist()
        b = exact[col].astype(object).where(exact[col].notna(), None).tolist()
        assert a == b, col


# ------------------------------------------------------------------ Arrow chunks for scoring
def _values(df: pd.DataFrame) -> list[list[object]]:
    return df.astype(object).where(df.notna(), None).values.tolist()


def _batches(path: Path, rows: int) -> tuple[pd.DataFrame, list[Rows]]:
    chunks = list(iter_file_batches(path, rows))
    return pd.concat([c.table.to_pandas() for c in chunks], ignore_index=True), chunks


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet"])
def test_batches_are_the_rows_read_file_reads(tmp_path: Path, ext: str) -> None:
    big = pd.concat([FRAME] * 7, ignore_index=True).assign(day="2024-01-02")
    path = write(big, tmp_path / f"data{ext}")
    whole, chunks = _batches(path, 5)
    assert [c.table.num_rows for c in chunks] == [5, 5, 5, 5, 1]
    assert len({c.table.schema for c in chunks}) == 1  # one type per column, every chunk
    assert list(whole.columns) == list(read_file(path).columns)
    assert _values(whole) == _values(read_file(path))  # dates stay text, as read_file keeps them
    assert all((c.lines is not None) == (ext == ".csv") for c in chunks)


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_a_smaller_first_batch_then_whole_ones(tmp_path: Path, ext: str) -> None:
    """``first_rows``: the first chunk has that many rows, the others ``chunk_rows``, the rows
    are the same (a CSV file's first block is cut for the first chunk, so it is read sooner)."""
    big = pd.concat([FRAME] * 9, ignore_index=True)
    path = write(big, tmp_path / f"data{ext}")
    chunks = list(iter_file_batches(path, 10, first_rows=3))
    n = len(big)
    assert [c.table.num_rows for c in chunks] == [3, *[10] * ((n - 3) // 10), (n - 3) % 10]
    whole = pd.concat([c.table.to_pandas() for c in chunks], ignore_index=True)
    assert _values(whole) == _values(read_file(path))
    if ext == ".csv":
        lines = [line for c in chunks for line in c.lines.to_pylist()]  # type: ignore[union-attr]
        assert lines == ["\n" + line for line in path.read_text().splitlines()[1:]]
    # a first chunk larger than the others is not a smaller first chunk: ignored
    assert [c.table.num_rows for c in iter_file_batches(path, 10, first_rows=50)][0] == 10


def test_the_first_block_is_cut_for_the_first_chunk(tmp_path: Path) -> None:
    from connectors import _stream

    path = tmp_path / "rows.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(20_000)))
    head = path.read_bytes()[:65536]
    end = _stream._first_row_end(head, 0)
    sizes = [len(b) for b, _, _ in _stream._cut_rows(path, end, 200_000, first_block=70_000)]
    # (each block from the line end before its first row; the file's last line end is not a row)
    assert sizes[0] <= 70_000 < sizes[1] and sum(sizes) == path.stat().st_size - end - 1


def test_batches_left_unread_close_quietly_at_interpreter_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader dropped after its first chunk is closed by the garbage collector, at the
    latest when the interpreter exits, when module globals may already be None: closing it
    must not need them (it printed "Exception ignored ... TypeError: Value after * must be an
    iterable")."""
    from connectors import _stream

    path = write(pd.concat([FRAME] * 7, ignore_index=True), tmp_path / "data.csv")
    rows = _stream.csv_rows(
        path, _stream.CsvFormat("utf-8", ",", ".", True, []), 5, lambda skip: iter(())
    )
    assert next(rows).table.num_rows == 5
    monkeypatch.setattr(_stream, "ARROW_ERRORS", None)  # as at interpreter exit
    rows.close()


def test_batches_keep_each_rows_own_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b'id,note, price \r\n1,plain,1.50\r\n2,"a, b",NULL\r\n3,x,7')
    (chunk,) = iter_file_batches(path, 10)
    assert chunk.table.column_names == ["id", "note", "price"]
    assert chunk.lines is not None
    assert chunk.lines.to_pylist() == ["\n1,plain,1.50", '\n2,"a, b",NULL', "\n3,x,7"]
    path.write_text('id,note\n1,"two\nlines"\n2,x\n')  # a row that is not one line: no lines
    (chunk,) = iter_file_batches(path, 10)
    assert chunk.lines is None and chunk.table.column("note").to_pylist() == ["two\nlines", "x"]


def test_batches_hand_what_arrow_refuses_to_pandas(tmp_path: Path) -> None:
    """Text in a column of numbers after the first block, a row with too many fields: the rows
    before are kept, the rest is read by pandas from the first row not yet given out."""
    path = tmp_path / "late.csv"
    rows = "".join(f"{i},{i % 7}\n" for i in range(40_000))
    path.write_text("n,k\n" + rows + "40000,unknown\n" + "40001,3\n")
    whole, chunks = _batches(path, 7_000)
    assert len(whole) == 40_002 and whole["n"].tolist() == list(range(40_002))
    assert whole["k"].iloc[-2] == "unknown" and chunks[0].table.column("k").type == pa.int64()
    path.write_text("n,k\n" + rows + "40000,1,2\n")
    with pytest.raises(DataError, match=r"'late.csv', line 40002: found 3 fields"):
        list(iter_file_batches(path, 7_000))
    path.write_text('n,k\n1,"never closed\n' + rows)
    with pytest.raises(DataError, match="opens a quote"):
        list(iter_file_batches(path, 7_000))


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("name;price\nA;1,5\nB;2,25\n", "utf-8"),  # decimal commas
        ('item,price\na,"1,200.50"\nb,"15"\n', "utf-8"),  # thousands separators
        ("name,price\nCé,1.5\nBö,2\n", "cp1252"),
        ("name,price\nCé,1.5\nBö,2\n", "utf-16"),
        ("\ufeffname,price\nCé,1.5\nBö,2\n", "utf-8"),
        ("1,2.5\n3,4.5\n", "utf-8"),  # no header row
    ],
)
def test_batches_read_odd_files_like_read_file(tmp_path: Path, text: str, encoding: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(text.encode(encoding))
    whole, _ = _batches(path, 1)
    expected = read_file(path)
    assert list(whole.columns) == list(expected.columns)
    assert _values(whole) == _values(expected)


def test_batches_of_parquet_leave_the_index_out(tmp_path: Path) -> None:
    df = FRAME.set_index(pd.Index(["a", "b", "c"], name="key"))
    path = tmp_path / "indexed.parquet"
    df.to_parquet(path)
    whole, _ = _batches(path, 2)
    assert list(whole.columns) == ["name", "amount", "count"]


def _ends(data: bytes) -> tuple[list[int], list[bool] | None]:
    from connectors._stream import _line_ends

    ends, inside = _line_ends(np.frombuffer(data, dtype=np.uint8))
    return ends.tolist(), None if inside is None else inside.tolist()


def test_quoted_blocks_parse_in_parallel_unless_a_line_end_is_inside_a_value() -> None:
    """A block with quotes is still cut at every line end for Arrow's parallel parse when no
    line end is inside a quoted value (an odd number of quotes before it); its line ends are
    found once, for the cut, the parse and the rows' own lines."""
    assert _ends(b'\n"a,b",1\n"c""d",2\n"e",3') == ([0, 8, 17], [False] * 3)
    assert _ends(b'\n"a\nb",1\n"c",2') == ([0, 3, 8], [False, True, False])
    assert _ends(b"\n1,2\n3,4") == ([0, 4], None)  # no quotes
    assert _ends(b"") == ([], None)


@pytest.mark.parametrize("piece", [1, 3, 7, 64])
def test_line_ends_found_in_pieces_are_the_blocks_line_ends(
    piece: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line ends and quotes are looked for piece by piece: a value or a doubled quote across
    two pieces, and a line end inside a value in a later piece, are found as in one piece."""
    from connectors import _stream

    monkeypatch.setattr(_stream, "SCAN_BYTES", piece)
    plain = b'\n"a,b",1\n"c""d",2\n"long value, with a comma",3\n"e",4'
    ends, inside = _ends(plain)
    assert ends == [i for i, c in enumerate(plain) if c == 10] and inside == [False] * 4
    late = plain + b'\n"f\ng",5\n7,8'  # the line end inside a value comes after several pieces
    assert _ends(late)[1] == [False] * 5 + [True, False]


@pytest.mark.parametrize("tail", [b"", b"\n", b"\n\n", b"\r\n", b"\n  ", b'\n"x\ny",9', b"\n8,9"])
@pytest.mark.parametrize("block", [64, 1000, 10**6])
def test_blocks_cut_at_row_ends_hold_every_row_once(
    tail: bytes, block: int, tmp_path: Path
) -> None:
    """Blocks cut anywhere in a file of quoted rows (one row longer than a block, a line end
    inside a value) are the file's rows, each once, each block cut at a row's end."""
    from connectors import _stream

    rows = [f'{i},"v {i}"' for i in range(300)]
    rows[7] = '7,"' + "long, " * 40 + '"'  # longer than a block of 64 bytes
    rows[150] = '150,"two\nlines"'
    body = ("\n".join(rows)).encode() + tail
    path = tmp_path / "rows.csv"
    path.write_bytes(b"a,b\n" + body)
    got = b""
    for data, ends, inside in _stream._cut_rows(path, 3, block, first_block=block // 2 or 1):
        data = bytes(data)
        assert data.startswith(b"\n") and ends.tolist()[0] == 0
        assert ends.tolist() == [i for i, c in enumerate(data) if c == 10]
        assert inside == (b"two\nlines" in data or b'"x\ny"' in data)
        got += data
    want = b"\n" + body
    last = want.rfind(b"\n")
    if not want[last + 1 :].strip():  # a blank end of the file after its last line end
        want = want[:last]
    assert got == want


def test_quoted_text_reads_the_same_in_batches(tmp_path: Path) -> None:
    """Quoted values with separators, doubled quotes and line ends, in a file of several
    blocks: the batches hold read_file's rows, with each row's own line where rows are lines."""
    texts = ["plain", "with, comma", 'say "hi"', "two\nlines", '"', ""]
    df = pd.DataFrame({"t": [texts[i % len(texts)] for i in range(6000)], "n": range(6000)})
    path = tmp_path / "quoted.csv"
    df.to_csv(path, index=False, quoting=1)  # every value quoted
    whole, chunks = _batches(path, 700)
    assert _values(whole) == _values(read_file(path))
    one_per_line = df.assign(t=df["t"].str.replace("\n", " "))
    path2 = tmp_path / "quoted2.csv"
    one_per_line.to_csv(path2, index=False, quoting=1)
    whole2, chunks2 = _batches(path2, 700)
    assert _values(whole2) == _values(read_file(path2))
    lines = [line for c in chunks2 for line in c.lines.to_pylist()]  # type: ignore[union-attr]
    assert lines == ["\n" + line for line in path2.read_text().splitlines()[1:]]


def test_a_row_longer_than_the_longest_read_goes_to_pandas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row longer than MAX_ROW_BYTES (a quote never closed makes the rest of the file one
    value) is not read into ever larger blocks: the pandas reader takes it, and says what is
    wrong."""
    from connectors import _stream

    monkeypatch.setattr(_stream, "MAX_ROW_BYTES", 256)
    path = tmp_path / "long.csv"
    path.write_bytes(b"a,b\n1,2\n3," + b"x" * 1000 + b"\n5,6\n")
    with pytest.raises(_stream._ForPandas):
        list(_stream._cut_rows(path, 3, 64, first_block=16))
    (chunk,) = iter_file_batches(path, 10)  # the pandas reader reads it as it always did
    assert chunk.table.num_rows == 3


def test_a_read_buffer_is_used_again_only_once_nothing_refers_to_it() -> None:
    """Blocks are read into buffers used again (fresh ones are pages the kernel clears first),
    but never while a view, a memoryview or an Arrow buffer of one is alive: the Arrow lines of
    a block refer to its buffer until its rows are written."""
    import pyarrow as pa

    from connectors._stream import _Buffers

    buffers = _Buffers()
    first = buffers.take(100)
    first[:] = 1
    second = buffers.take(100)  # (the first is in use)
    assert second.base is not first.base and len(buffers.kept) == 2
    second[:] = 7
    arrow = pa.py_buffer(second.data)
    del second
    del first
    third = buffers.take(80)  # the first buffer, free again; the second is held by Arrow
    assert third.base is buffers.kept[0] and len(buffers.kept) == 2
    fourth = buffers.take(60)
    assert fourth.base is not buffers.kept[1] and len(buffers.kept) == 3
    third[:] = 0
    fourth[:] = 0
    assert bytes(arrow) == b"\7" * 100  # (nothing wrote over the bytes Arrow holds)
    del arrow, third, fourth
    big = buffers.take(150)  # bigger than every kept buffer: a new one
    assert big.base is buffers.kept[-1] and len(buffers.kept) == 4
