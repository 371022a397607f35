"""Reading a file as Arrow tables of a fixed number of rows: the fast, bounded-memory path that
batch scoring takes (:meth:`connectors.files.FileConnector.iter_batches`).

A UTF-8 text file is cut into blocks of whole rows here (a line end inside a quoted value does
not end a row) and Arrow parses each block on every core. Each column's type is inferred from the
first block and then fixed, so every table has the same schema; dates and times stay text (as
every other reader keeps them: column typing, not the file reader, decides what is a date). When
a block's rows are one per line, the block also gives each row's own text (:attr:`Rows.lines`),
so that a comma-separated file's rows can be written out again as they were. Files in other
encodings go through Arrow's streaming reader, with the same rules.

Whatever Arrow refuses (a row with too many fields, a quote never closed, text in a column of
numbers) hands the rest of the file, from the first row not yet given out, to the pandas reader,
which either reads it as it always did or names the line that is wrong.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# Blocks of about this many rows' bytes (the row length estimated from the file's first 64 KB),
# within these bounds; a row longer than MAX_ROW_BYTES (a quote never closed makes the rest of the
# file one value) goes to the pandas reader, which says what is wrong.
MIN_BLOCK_BYTES = 64 << 10
MAX_BLOCK_BYTES = 128 << 20
MAX_ROW_BYTES = 256 << 20
PARSE_BLOCK_BYTES = 4 << 20  # Arrow parses a block in pieces of this size, in parallel
SCAN_BYTES = 1 << 20  # line ends and quotes are looked for in pieces of this size
ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, LookupError)
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Rows:
    """A chunk of a file: its rows, and, when each row is one line of a UTF-8 text file, each
    row's own text after the line end before it (``"\\nrow"``; else None). A chunk made of
    pieces of several blocks keeps the pieces (a chunked array: nothing is copied)."""

    table: pa.Table
    lines: pa.StringArray | pa.ChunkedArray | None = None


def rechunk(chunks: Iterable[Rows], rows: int, first_rows: int | None = None) -> Iterator[Rows]:
    """Chunks of exactly ``rows`` rows (the first of ``first_rows`` when given, the last may be
    shorter) from chunks of one schema."""
    buffer: list[Rows] = []
    held = 0
    size = first_rows or rows
    for chunk in chunks:
        if chunk.table.num_rows == 0:
            continue
        buffer.append(chunk)
        held += chunk.table.num_rows
        while held >= size:
            whole = _concat(buffer)
            yield _slice(whole, 0, size)
            rest = _slice(whole, size, whole.table.num_rows - size)
            buffer = [rest] if rest.table.num_rows else []
            held -= size
            size = rows
    if held:
        yield _concat(buffer)


def _concat(parts: list[Rows]) -> Rows:
    """The parts as one chunk, without copying their values (Arrow's chunked columns)."""
    if len(parts) == 1:
        return parts[0]
    table = pa.concat_tables([p.table for p in parts])
    pieces: list[pa.Array] = []
    for p in parts:
        if p.lines is None:
            return Rows(table)
        pieces += p.lines.chunks if isinstance(p.lines, pa.ChunkedArray) else [p.lines]
    return Rows(table, pa.chunked_array(pieces, pa.string()))


def _slice(chunk: Rows, start: int, length: int) -> Rows:
    lines = chunk.lines.slice(start, length) if chunk.lines is not None else None
    return Rows(chunk.table.slice(start, length), lines)


def block_bytes(chunk_rows: int, head: bytes) -> int:
    """The block size for about ``chunk_rows`` rows, from the row length in ``head``."""
    per_row = len(head) / max(1, head.count(b"\n"))
    return int(min(MAX_BLOCK_BYTES, max(MIN_BLOCK_BYTES, per_row * chunk_rows * 1.05)))


def _text_columns(schema: pa.Schema) -> list[str]:
    """Columns read as dates or times (kept as text) or as nothing (all missing in the first
    block: text, so that later values fit)."""
    return [
        f.name
        for f in schema
        if pa.types.is_date(f.type)
        or pa.types.is_timestamp(f.type)
        or pa.types.is_time(f.type)
        or pa.types.is_null(f.type)
    ]


@dataclass(frozen=True)
class CsvFormat:
    """How to read a delimited text file (what :func:`connectors.files.sniff_csv` found)."""

    encoding: str
    sep: str
    decimal: str
    header: bool
    null_values: list[str]

    def options(self, block: int) -> tuple[Any, Any, Any]:
        return (
            pacsv.ReadOptions(
                encoding=self.encoding,
                autogenerate_column_names=not self.header,
                block_size=block,
            ),
            pacsv.ParseOptions(delimiter=self.sep, newlines_in_values=True),
            pacsv.ConvertOptions(
                null_values=self.null_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                decimal_point=self.decimal,
            ),
        )


def csv_rows(
    path: Path,
    fmt: CsvFormat,
    chunk_rows: int,
    rest: Callable[[int], Iterator[pd.DataFrame]],
    first_rows: int | None = None,
) -> Iterator[Rows]:
    """A delimited text file as chunks of ``chunk_rows`` rows (the first of ``first_rows`` when
    given: a UTF-8 file's first block is then cut for it, so that it is read sooner);
    ``rest(skip)`` reads the file with pandas, from data row ``skip`` on, when Arrow cannot
    (see the module docstring)."""
    with path.open("rb") as fh:
        head = fh.read(64 << 10)
    block = block_bytes(chunk_rows, head)
    if fmt.encoding in ("utf-8", "utf-8-sig") and fmt.header:
        first = block_bytes(first_rows, head) if first_rows else block
        blocks = _utf8_blocks(path, head, block, fmt, first)
    else:
        blocks = _streamed(path, fmt, block)
    done = 0
    schema: pa.Schema | None = None
    try:
        for chunk in rechunk(blocks, chunk_rows, first_rows):
            schema = chunk.table.schema
            done += chunk.table.num_rows
            yield chunk
    except GeneratorExit:  # closed early: also at interpreter exit, when the names below are
        raise  # gone (the clause after this one would then fail to say what it catches)
    except (*ARROW_ERRORS, _ForPandas):
        # the rows rechunk held and had not given out yet are read again by pandas
        for df in rest(done):
            table = pa.Table.from_pandas(df, preserve_index=False)
            yield Rows(_like(table, schema) if schema is not None else table)


class _ForPandas(Exception):
    """A row longer than MAX_ROW_BYTES, or a quote never closed: the pandas reader says what
    is wrong."""


def _streamed(path: Path, fmt: CsvFormat, block: int) -> Iterator[Rows]:
    """Arrow's streaming reader (any encoding): types from the first block, then fixed."""
    read, parse, convert = fmt.options(block)
    reader = pacsv.open_csv(path, read, parse, convert)
    try:
        text = _text_columns(reader.schema)
        if text:
            reader.close()
            convert.column_types = {name: pa.string() for name in text}
            reader = pacsv.open_csv(path, read, parse, convert)
        for batch in reader:
            yield Rows(pa.Table.from_batches([batch]))
    finally:
        reader.close()


def _utf8_blocks(
    path: Path, head: bytes, block: int, fmt: CsvFormat, first_block: int | None = None
) -> Iterator[Rows]:
    """Blocks of whole rows (the first of about ``first_block`` bytes when given), each parsed
    by Arrow in parallel, with each row's own line."""
    start = len(BOM) if head.startswith(BOM) else 0
    end = _first_row_end(head, start)
    if end < 0:  # a header longer than 64 KB, or with a line end inside a quoted name
        yield from _streamed(path, fmt, block)
        return
    header = head[start:end]
    read, parse, convert = fmt.options(PARSE_BLOCK_BYTES)
    read.encoding = "utf8"
    names: list[str] | None = None
    lines = fmt.sep == ","
    for data, ends, parse.newlines_in_values in _cut_rows(path, end, block, first_block):
        if names is None:  # the first block: the header names the columns, types are inferred
            table = _parse(header + data, read, parse, convert)
            text = _text_columns(table.schema)
            if text:
                convert.column_types = {name: pa.string() for name in text}
                table = _parse(header + data, read, parse, convert)
            names = table.column_names
            read.column_names = names
            convert.column_types = dict(zip(names, table.schema.types, strict=True))
        else:
            table = _parse(data, read, parse, convert)
        yield Rows(table, _lines(data, table.num_rows, ends) if lines else None)


def _parse(data: bytes | memoryview, read: Any, parse: Any, convert: Any) -> pa.Table:
    """A block of whole rows. When no line end is inside a value (``parse.newlines_in_values``
    is False: see :func:`_line_ends`), Arrow cuts the block at any line end to parse the pieces
    in parallel; else it reads the block in one piece."""
    return pacsv.read_csv(pa.BufferReader(pa.py_buffer(data)), read, parse, convert)


def _line_ends(view: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Where ``view``'s line ends are, and which of them are inside a quoted value (None when
    ``view`` has no quote). ``view`` starts at a row's start (after the line end before it), so a
    line end is inside a value exactly when an odd number of quotes comes before it (a doubled
    quote inside a value counts twice). Looked at in pieces of :data:`SCAN_BYTES`, whose
    comparisons stay in the processor's cache: 0.085 instead of 0.18 s for a block of 160 MB."""
    found: list[np.ndarray] = []
    parity: list[np.ndarray] = []
    quotes = 0  # the quotes before the piece
    for start in range(0, len(view), SCAN_BYTES):
        piece = view[start : start + SCAN_BYTES]
        ends = np.flatnonzero(piece == 10)
        at = np.flatnonzero(piece == 34)
        parity.append((np.searchsorted(at, ends) + quotes) % 2 == 1)
        quotes += len(at)
        found.append(ends + start)
    if not found:
        return np.empty(0, dtype=np.int64), None
    return np.concatenate(found), (np.concatenate(parity) if quotes else None)


def _first_row_end(data: bytes, start: int) -> int:
    """Where the first row ends (its line end), or -1 when not within ``data``."""
    end = data.find(b"\n", start)
    return end if end >= 0 and data.count(b'"', start, end) % 2 == 0 else -1


class _Buffers:
    """Read buffers, each used again once nothing refers to it any more (the Arrow arrays of a
    block's lines refer to its buffer until the block's rows are written). A new buffer is
    pages the kernel clears before the file's bytes are copied in: scoring 600,000 rows of a
    477 MB file spent 0.9 of its 11 CPU-seconds clearing them (docs/benchmarks.md, "Scale")."""

    KEEP = 8  # buffers kept for use again (a few blocks are read, scored and written at once)

    def __init__(self) -> None:
        # how many references a buffer nothing else refers to has, counted the way _refs
        # counts (what the count includes differs between Python versions)
        self.kept: list[np.ndarray] = [np.empty(0, dtype=np.uint8)]
        self.unused = self._refs(0)
        self.kept.clear()

    def _refs(self, i: int) -> int:
        return sys.getrefcount(self.kept[i])

    def take(self, size: int) -> np.ndarray:
        """``size`` bytes of a buffer nothing else refers to (not zeroed): any view, memoryview
        or Arrow buffer of it adds a reference."""
        for i in range(len(self.kept)):
            if self.kept[i].size >= size and self._refs(i) <= self.unused:
                return self.kept[i][:size]
        buf = np.empty(size, dtype=np.uint8)  # (np.empty: a bytearray is zeroed first)
        if len(self.kept) >= self.KEEP:
            self.kept.pop(0)  # (still used elsewhere if it is: it is let go when that ends)
        self.kept.append(buf)
        return buf[:size]


def _read_at(fh: Any, offset: int, size: int, buffers: _Buffers | None = None) -> np.ndarray:
    """Up to ``size`` bytes of the file from ``offset`` (fewer at its end), in a buffer of
    ``buffers`` (a new one without)."""
    buf = (buffers or _Buffers()).take(size)
    fh.seek(offset)
    got = 0
    while got < size:
        n = fh.readinto(buf.data[got:])
        if not n:
            break
        got += n
    return buf[:got]


def _cut_rows(
    path: Path, offset: int, block: int, first_block: int | None = None
) -> Iterator[tuple[memoryview, np.ndarray, bool]]:
    """The file from ``offset`` (the header's line end) on, in blocks of about ``block`` bytes
    (the first of ``first_block`` when given) of whole rows, each block from the line end
    before its first row to its last row (without its line end), read once into its own
    buffer, which Arrow refers to without a copy. With each block: where its line ends are,
    and whether one of them is inside a quoted value (Arrow then parses it in one piece).
    The start of a row not whole at a block's end is read again as the next block's start."""
    size = first_block or block
    buffers = _Buffers()
    with path.open("rb", buffering=0) as fh:
        while True:
            view = _read_at(fh, offset, size, buffers)
            at_end = len(view) < size
            ends, inside = _line_ends(view)
            outside = ends if inside is None else ends[~inside]
            if len(outside) == 0:  # (a file of only a header)
                return
            cut = int(outside[-1])
            last = view[cut + 1 :].tobytes() if at_end else b""
            if last.strip():  # the last row, without a line end
                if last.count(b'"') % 2:
                    raise _ForPandas  # its quote is never closed
                cut = len(view)
            elif cut == 0:  # no row ends within the block
                if at_end:
                    return
                if size >= MAX_ROW_BYTES:
                    raise _ForPandas
                size = min(2 * size, MAX_ROW_BYTES)
                continue
            kept = ends < cut
            in_value = bool(inside is not None and inside[kept].any())
            yield view.data[:cut], ends[kept], in_value
            if at_end:
                return
            offset += cut
            size = block


def _lines(data: memoryview, rows: int, ends: np.ndarray) -> pa.StringArray | None:
    """Each row's own text, after the line end before it (``"\\nrow"``: so the rows of one
    block or of several follow each other as they were), if the ``rows`` rows Arrow read are
    the lines of ``data`` (whose line ends are at ``ends``: no empty line, no line end inside a
    value); else None."""
    if len(ends) != rows or rows == 0 or ends[0] != 0 or len(data) >= 2**31:
        return None
    offsets = np.empty(rows + 1, dtype=np.int32)
    offsets[:rows] = ends
    offsets[rows] = len(data)
    lines = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
    view = np.frombuffer(data, dtype=np.uint8)
    if view[-1] == 13 or (view[ends[1:] - 1] == 13).any():  # a line ending in "\r\n"
        lines = pc.utf8_rtrim(lines, characters="\r")  # Windows line ends: "\r\n" -> "\n"
    return lines


def _like(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s columns as the types of ``schema`` wherever they convert without loss (the
    others, such as text in a column of numbers, stay as they are)."""
    if table.schema.equals(schema) or table.column_names != schema.names:
        return table
    columns = []
    for field, column in zip(schema, table.columns, strict=True):
        if column.type != field.type:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = column.cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=schema.names)


def parquet_index_columns(pf: pq.ParquetFile) -> set[str]:
    """The columns in which pandas stored a frame's index (a range index is stored as metadata,
    not as a column)."""
    meta = pf.schema_arrow.pandas_metadata or {}
    return {c for c in meta.get("index_columns", []) if isinstance(c, str)}


def parquet_rows(path: Path, chunk_rows: int, first_rows: int | None = None) -> Iterator[Rows]:
    """A Parquet file in chunks of at most ``chunk_rows`` rows (the first of ``first_rows`` when
    given), without the index columns pandas stores (reading through pandas turned them into
    the index, not into columns)."""
    pf = pq.ParquetFile(path)
    index = parquet_index_columns(pf)
    columns = [name for name in pf.schema_arrow.names if name not in index] if index else None
    batches = (
        Rows(pa.Table.from_batches([batch]).replace_schema_metadata(None))
        for batch in pf.iter_batches(batch_size=first_rows or chunk_rows, columns=columns)
    )
    yield from rechunk(batches, chunk_rows, first_rows) if first_rows else batches
