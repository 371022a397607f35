"""Files: CSV/TSV/TXT, Parquet, JSON and JSON Lines, Excel (.xlsx).

Every problem a user can cause (missing file, empty file, not a text file, damaged Parquet, ragged
rows, too large) becomes a :class:`~automl.errors.DataError` that names the file, the place and the
fix; no pandas or pyarrow traceback escapes.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from automl.errors import DataError
from connectors._base import Connector, SourceRequest
from connectors._stream import CsvFormat, Rows, csv_rows, parquet_index_columns, parquet_rows
from connectors.policy import effective

CSV_EXT = (".csv", ".tsv", ".txt", ".tab")
PARQUET_EXT = (".parquet", ".pq")
JSON_EXT = (".json",)
JSONL_EXT = (".jsonl", ".ndjson")
EXCEL_EXT = (".xlsx",)
SUPPORTED_EXTENSIONS = CSV_EXT + PARQUET_EXT + JSON_EXT + JSONL_EXT + EXCEL_EXT
SNIFF_BYTES = 64 * 1024
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass(frozen=True)
class FileOptions:
    """Where the file is and how to read it."""

    path: Path
    sheet: str | int | None = None
    max_bytes: int | None = None
    nrows: int | None = None


@dataclass(frozen=True)
class CsvDialect:
    encoding: str
    sep: str
    decimal: str
    header: bool = True
    thousands: str | None = None

    def describe(self) -> str:
        """What was detected, in plain words, with what to do if it is wrong."""
        mark = "a comma (1,5)" if self.decimal == "," else "a point (1.5)"
        thousands = (
            f", with {_MARK_WORDS.get(self.thousands, repr(self.thousands))} between thousands"
            if self.thousands
            else ""
        )
        header = (
            "the first row holds the column names"
            if self.header
            else "no row of column names (the columns are named column_1, column_2 ...)"
        )
        return (
            f"Read as text in {_ENCODING_WORDS.get(self.encoding, self.encoding)}, with "
            f"{_SEP_WORDS.get(self.sep, repr(self.sep))} between columns and {mark} as the "
            f"decimal mark{thousands}; {header}. If letters or numbers look wrong below, save "
            "the file again as UTF-8 CSV from its program."
        )


_SEP_WORDS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars (|)"}
_MARK_WORDS = {".": "points", ",": "commas"}
_ENCODING_WORDS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with a byte order mark)",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (Western European)",
    "latin-1": "Latin-1",
}


# pandas' default missing-value markers, used for the Arrow reader too so both agree
NULL_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?$")


def _detect_encoding(head: bytes, name: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise DataError(
            f"'{name}' does not look like a text file (it contains binary data). Export it from "
            "its program as CSV (comma-separated values) and try again."
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def sniff_csv(path: Path, name: str) -> CsvDialect:
    """Encoding, delimiter and decimal mark of a delimited text file."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise DataError(f"'{name}' is empty: it has no column names and no rows.")
    encoding = _detect_encoding(head, name)
    text = head.decode(encoding, errors="ignore")
    lines = text.splitlines()[:50]
    sample = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    if path.suffix.lower() in (".tsv", ".tab"):
        sep = "\t"
    else:
        try:
            sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    decimal = "."
    if sep == ";" and re.search(r"(^|;)-?(\d+|\d{1,3}(\.\d{3})+),\d+(;|$)", sample, re.M):
        decimal = ","
    rows = list(csv.reader(lines[:20], delimiter=sep))
    header = _has_header(rows)
    thousands = None
    if decimal == "," and re.search(r"(^|;)-?\d{1,3}(\.\d{3})+,\d+(;|$)", sample, re.M):
        thousands = "."
    elif decimal == "." and re.search(r'(^|[^\d])"-?\d{1,3}(,\d{3})+(\.\d+)?"', sample):
        thousands = ","
    return CsvDialect(encoding, sep, decimal, header, thousands)


def _has_header(rows: list[list[str]]) -> bool:
    """A first row made only of numbers, above more rows of data, is data, not column names."""
    if len(rows) < 2 or not rows[0]:
        return True
    first = [c.strip() for c in rows[0]]
    return not all(c and _NUMBER.match(c) for c in first)


def _iso_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dates and times back to ISO text (a cast: much faster than strftime)."""
    return col.cast(pa.string())


class FileConnector(Connector):
    kind = "file"
    enforces_policy = True  # a path on the server: refused unless the policy allows local files

    def __init__(self, options: FileOptions) -> None:
        self.options = options
        self.path = Path(options.path)
        self.name = self.path.name
        self.dialect_: CsvDialect | None = None  # set by reading a delimited text file

    @classmethod
    def from_request(cls, request: SourceRequest) -> FileConnector:
        r = request
        if r.table or r.query:
            raise DataError(
                f"'{r.source}' is a file, so --table and --query do not apply. For a database, "
                "give a URL such as sqlite:///shop.db or postgresql://user@host/db."
            )
        effective(r.policy).check_local_file()
        options = FileOptions(Path(r.source), sheet=r.sheet, max_bytes=r.max_bytes, nrows=r.limit)
        return cls(options)

    def describe(self) -> str:
        return f"file {self.name}"

    def reading_note(self) -> str:
        return self.dialect_.describe() if self.dialect_ is not None else ""

    # ------------------------------------------------------------------ checks
    def _check(self) -> str:
        p = self.path
        if not p.exists():
            raise DataError(f"File not found: '{p}'. Check the path and the file name.")
        if p.is_dir():
            raise DataError(f"'{p}' is a folder, not a file. Give the path of a data file.")
        ext = p.suffix.lower()
        if ext not in SUPPORTED_EXTENSIONS:
            raise DataError(
                f"'{self.name}' has an unsupported extension ({ext or 'none'}). Supported: "
                f"{', '.join(SUPPORTED_EXTENSIONS)}."
            )
        size = p.stat().st_size
        limit = self.options.max_bytes
        if limit is not None and size > limit:
            raise DataError(
                f"'{self.name}' is {size / 1e6:,.1f} MB, over the limit of {limit / 1e6:,.1f} MB. "
                "Use a smaller file (e.g. a sample or fewer columns), or raise the limit."
            )
        if size == 0:
            raise DataError(
                f"'{self.name}' is empty (0 bytes): it has no column names and no rows."
            )
        return ext

    def _check_unique(self, names: list[str]) -> None:
        counts = pd.Series(names, dtype=object).value_counts()
        dupes = sorted(str(n) for n in counts[counts > 1].index)
        if dupes:
            raise DataError(
                f"'{self.name}' has duplicate column names: {', '.join(dupes)}. Rename them so "
                "each column has its own name."
            )

    def _no_rows(self, df: pd.DataFrame) -> pd.DataFrame:
        df.columns = self._checked_names(list(df.columns), len(df))
        return df

    def _checked_names(self, names: list[Any], rows: int) -> list[str]:
        """The column names, stripped, of a table with ``rows`` rows: errors for a table with no
        columns, no rows or two columns of one name."""
        if not names:
            raise DataError(f"'{self.name}' has no columns. Check that it holds a table.")
        if rows == 0:
            raise DataError(
                f"'{self.name}' has column names but no rows. Add rows of data and try again."
            )
        stripped = [str(c).strip() for c in names]
        self._check_unique(stripped)
        return stripped

    # ------------------------------------------------------------------ CSV
    def _csv_kwargs(self) -> dict[str, Any]:
        d = self._dialect()
        kwargs: dict[str, Any] = {
            "sep": d.sep,
            "encoding": d.encoding,
            "decimal": d.decimal,
            "engine": "c",
        }
        if d.thousands:
            kwargs["thousands"] = d.thousands
        if not d.header:
            kwargs["header"] = None
        return kwargs

    def _dialect(self) -> CsvDialect:
        d = sniff_csv(self.path, self.name)
        if d.header:
            self._check_unique(self._csv_header(d))
        self.dialect_ = d
        return d

    @staticmethod
    def _name_columns(df: pd.DataFrame, header: bool) -> pd.DataFrame:
        if not header:
            df.columns = [f"column_{i + 1}" for i in range(df.shape[1])]
        return df

    def _csv_header(self, d: CsvDialect) -> list[str]:
        with self.path.open(encoding=d.encoding, errors="replace", newline="") as fh:
            row = next(csv.reader(fh, delimiter=d.sep), [])
        return [h.strip() for h in row]

    def _csv_error(self, exc: Exception) -> DataError:
        msg = str(exc)
        m = _RAGGED.search(msg)
        if m:
            expected, line, saw = m.groups()
            return DataError(
                f"'{self.name}', line {line}: found {saw} fields but the header has {expected}. "
                "A value probably contains the delimiter without quotes; quote that value or fix "
                "the line, then try again."
            )
        if "EOF inside string" in msg:
            return DataError(
                f"'{self.name}' has a value that opens a quote (\") and never closes it, so the "
                "rest of the file would be read as that one value. Add the closing quote, or "
                "remove the stray one, then try again."
            )
        if isinstance(exc, UnicodeDecodeError):
            return DataError(
                f"'{self.name}' has characters that cannot be read as text. Save it as UTF-8 CSV "
                "and try again."
            )
        if isinstance(exc, pd.errors.EmptyDataError):
            return DataError(f"'{self.name}' is empty: it has no column names and no rows.")
        first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
        return DataError(f"'{self.name}' could not be read as CSV: {first}. Check the file format.")

    def _read_csv(self) -> pd.DataFrame:
        d = self._dialect()
        if self.options.nrows is None and d.thousands is None:
            fast = self._read_csv_arrow(d)
            if fast is not None:
                return fast
        kwargs = self._csv_kwargs()
        try:
            df = pd.read_csv(self.path, nrows=self.options.nrows, **kwargs)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise self._csv_error(exc) from None
        return self._name_columns(df, d.header)

    def _read_csv_arrow(self, d: CsvDialect) -> pd.DataFrame | None:
        """Multi-threaded Arrow reader (the fast path for whole files). Returns None when the
        file needs the pandas reader, which also gives the precise error (line numbers)."""
        import pyarrow.csv as pacsv

        try:
            table = pacsv.read_csv(
                self.path,
                read_options=pacsv.ReadOptions(
                    encoding=d.encoding,
                    autogenerate_column_names=not d.header,
                    block_size=16 << 20,
                ),
                parse_options=pacsv.ParseOptions(delimiter=d.sep, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    null_values=NULL_VALUES,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    decimal_point=d.decimal,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, LookupError):
            return None
        for i, f in enumerate(table.schema):
            # Arrow reads ISO dates as dates; keep them as text like every other reader does,
            # so column typing (not the file reader) decides what is a date.
            if (
                pa.types.is_date(f.type)
                or pa.types.is_timestamp(f.type)
                or pa.types.is_time(f.type)
            ):
                table = table.set_column(i, f.name, _iso_text(table.column(i)))
        df = table.to_pandas()
        return self._name_columns(df, d.header)

    # ------------------------------------------------------------------ other formats
    def _read_parquet(self) -> pd.DataFrame:
        try:
            df = self._parquet_by_column()
            if df is None:
                df = pq.read_table(self.path).to_pandas()
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
            raise DataError(
                f"'{self.name}' is damaged or is not a Parquet file ({str(exc)[:120]}). Export it "
                "again and try again."
            ) from None
        return df.head(self.options.nrows) if self.options.nrows else df

    def _parquet_by_column(self) -> pd.DataFrame | None:
        """Read a Parquet file one column at a time: the peak memory is the table plus one
        column being decoded, not the whole file twice (Arrow's copy and pandas'). None when the
        file keeps a pandas index or repeats a column name (read whole, as pandas wrote it)."""
        pf = pq.ParquetFile(self.path)
        names = pf.schema_arrow.names
        if len(set(names)) != len(names) or parquet_index_columns(pf):
            return None
        columns = {n: pf.read(columns=[n]).to_pandas()[n] for n in names}
        return pd.DataFrame(columns, copy=False) if columns else pd.DataFrame()

    def _read_json(self, lines: bool) -> pd.DataFrame:
        try:
            df = pd.read_json(self.path, lines=lines, nrows=self.options.nrows if lines else None)
        except ValueError as exc:
            kind = "JSON Lines (one JSON object per line)" if lines else "JSON"
            raise DataError(
                f"'{self.name}' is not valid {kind}: {str(exc)[:160]}. Fix the file or export it "
                "again."
            ) from None
        return df

    def _read_excel(self) -> pd.DataFrame:
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise DataError(
                "Reading Excel files needs the package 'openpyxl'. Install it with "
                "'pip install openpyxl', or save the sheet as CSV."
            ) from None
        sheet = self.options.sheet if self.options.sheet is not None else 0
        try:
            return pd.read_excel(self.path, sheet_name=sheet, nrows=self.options.nrows)
        except ValueError as exc:
            raise DataError(f"'{self.name}': {exc}. Choose one of the workbook's sheets.") from None
        except Exception as exc:  # openpyxl raises several unrelated types for damaged files
            raise DataError(
                f"'{self.name}' could not be read as an Excel workbook ({type(exc).__name__}). "
                "Open it in Excel and save it again as .xlsx, or save the sheet as CSV."
            ) from None

    # ------------------------------------------------------------------ interface
    def read(self) -> pd.DataFrame:
        ext = self._check()
        if ext in CSV_EXT:
            df = self._read_csv()
        elif ext in PARQUET_EXT:
            df = self._read_parquet()
        elif ext in JSONL_EXT:
            df = self._read_json(lines=True)
        elif ext in JSON_EXT:
            df = self._read_json(lines=False)
        else:
            df = self._read_excel()
        return self._no_rows(df)

    def iter_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        ext = self._check()
        if ext in CSV_EXT:
            kwargs = self._csv_kwargs()
            try:
                header = kwargs.get("header", 0) is not None
                reader = pd.read_csv(self.path, chunksize=chunk_rows, **kwargs)
                for i, chunk in enumerate(reader):
                    chunk = self._name_columns(chunk, header)
                    yield self._no_rows(chunk) if i == 0 else chunk
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise self._csv_error(exc) from None
        elif ext in PARQUET_EXT:
            try:
                pf = pq.ParquetFile(self.path)
                batches = pf.iter_batches(batch_size=chunk_rows)
                for i, batch in enumerate(batches):
                    chunk = batch.to_pandas()
                    yield self._no_rows(chunk) if i == 0 else chunk
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
                raise DataError(
                    f"'{self.name}' is damaged or is not a Parquet file ({str(exc)[:120]}). "
                    "Export it again and try again."
                ) from None
        elif ext in JSONL_EXT:
            try:
                for i, chunk in enumerate(
                    pd.read_json(self.path, lines=True, chunksize=chunk_rows)
                ):
                    yield self._no_rows(chunk) if i == 0 else chunk
            except ValueError as exc:
                raise DataError(
                    f"'{self.name}' is not valid JSON Lines: {str(exc)[:160]}."
                ) from None
        else:  # JSON and Excel have no streaming reader: cut one read into chunks
            yield from super().iter_chunks(chunk_rows)

    def iter_batches(self, chunk_rows: int, first_rows: int | None = None) -> Iterator[Rows]:
        """A CSV/TSV or Parquet file in chunks of ``chunk_rows`` rows (the first of
        ``first_rows`` when given: the rows a scorer starts on sooner; the last may be
        shorter) as Arrow tables, in bounded memory: the fast path of batch scoring. Text files
        are cut into blocks of rows that Arrow parses (see :mod:`connectors._stream`: column types
        fixed by the first block, dates kept as text, the pandas reader for whatever Arrow
        refuses), Parquet is read batch by batch. Other formats: use :meth:`iter_chunks`."""
        ext = self._check()
        if first_rows is not None and not 0 < first_rows <= chunk_rows:
            first_rows = None  # (only a smaller first chunk is asked for)
        if ext in CSV_EXT:
            chunks = self._csv_rows(chunk_rows, first_rows)
        elif ext in PARQUET_EXT:
            chunks = self._parquet_rows(chunk_rows, first_rows)
        else:
            raise DataError(
                f"'{self.name}' is not a CSV or Parquet file; read it in chunks of rows instead."
            )
        first = True
        for chunk in chunks:
            table = chunk.table
            if first:
                self._checked_names(table.column_names, table.num_rows)
                first = False
            names = [str(c).strip() for c in table.column_names]
            yield Rows(table.rename_columns(names), chunk.lines)
        if first:
            raise DataError(
                f"'{self.name}' has column names but no rows. Add rows of data and try again."
            )

    def _csv_rows(self, chunk_rows: int, first_rows: int | None = None) -> Iterator[Rows]:
        d = self._dialect()
        if d.thousands is not None:  # Arrow has no thousands separator: pandas reads the file
            for df in self._csv_rest(0, chunk_rows):
                yield Rows(pa.Table.from_pandas(df, preserve_index=False))
            return
        fmt = CsvFormat(d.encoding, d.sep, d.decimal, d.header, NULL_VALUES)
        for chunk in csv_rows(
            self.path, fmt, chunk_rows, lambda skip: self._csv_rest(skip, chunk_rows), first_rows
        ):
            table = chunk.table
            if not d.header:
                table = table.rename_columns([f"column_{i + 1}" for i in range(table.num_columns)])
            yield Rows(table, chunk.lines)

    def _csv_rest(self, skip: int, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The pandas reader's chunks from data row ``skip`` on (the rows before are read and
        dropped a chunk at a time); a file it cannot read either is a clear DataError."""
        kwargs = self._csv_kwargs()
        header = kwargs.get("header", 0) is not None
        try:
            with pd.read_csv(self.path, chunksize=chunk_rows, **kwargs) as reader:
                while skip > 0:
                    part = reader.get_chunk(min(chunk_rows, skip))
                    if len(part) == 0:
                        return
                    skip -= len(part)
                for chunk in reader:
                    yield self._name_columns(chunk, header)
        except StopIteration:
            return
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise self._csv_error(exc) from None

    def _parquet_rows(self, chunk_rows: int, first_rows: int | None = None) -> Iterator[Rows]:
        try:
            yield from parquet_rows(self.path, chunk_rows, first_rows)
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
            raise DataError(
                f"'{self.name}' is damaged or is not a Parquet file ({str(exc)[:120]}). "
                "Export it again and try again."
            ) from None
