"""Batch scoring of files, chunk by chunk, so files larger than memory score in bounded memory.

Scoring is a pure function of (model, rows): any chunk can be scored anywhere, in any order.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from automl.atomic import atomic_path, check_output_file
from automl.drift import DriftCounts, DriftProfile, DriftReport
from automl.errors import DataError, EaselError, ParameterError
from automl.memory import small_pages
from automl.model import Model
from automl.preprocess import InputReport
from connectors import Rows

# rows scored at a time: 600,000 rows of the interactions table (a 120-s model, compiled trees)
# took less CPU in chunks of 50,000 than of 200,000 (fewer fresh pages for the chunk's arrays,
# which the kernel clears first; docs/benchmarks.md "Scale"), and half the peak memory
DEFAULT_CHUNK_ROWS = 50_000
# a file's first chunk is an eighth of the others (at least this many rows): the first rows are
# scored while the next are read, instead of every core waiting for a whole chunk to be read
FIRST_CHUNK_MIN_ROWS = 10_000
OUTPUT_FORMATS = (".csv", ".parquet")


@dataclass
class BatchResult:
    """What a batch run wrote and what it noticed in the input."""

    rows: int
    seconds: float
    output: Path
    report: InputReport
    # the columns scoring added (prediction, confidence, ...: see Model.output_names; they
    # carry a suffix when the file already had columns of those names, and the report says so)
    added_columns: list[str] = dataclasses.field(default_factory=list)
    # how far the rows moved from the training rows (automl.drift); None when it was not
    # measured, and drift_note says why
    drift: DriftReport | None = None
    drift_note: str = ""


def output_format(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ParameterError(
            f"The output file '{Path(path).name}' must end in .csv or .parquet (the format is "
            "chosen by the extension)."
        )
    return suffix


def _conform(table: pa.Table, schema: pa.Schema, first_row: int) -> pa.Table:
    """Cast a chunk to the schema of the first chunk (a column may be typed differently)."""
    if table.schema.equals(schema):
        return table
    columns = []
    for field in schema:
        col = table.column(field.name)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise DataError(
                    f"Column '{field.name}' changes type within the file "
                    f"(near row {first_row + 1}: {field.type} before, {col.type} here), which "
                    "Parquet output cannot hold. Write the predictions to a .csv file instead, or "
                    "make the column consistent."
                ) from None
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


def _as_text(values: list[Any]) -> pa.Array:
    return pa.array([None if _missing(v) else str(v) for v in values], pa.string())


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _arrow_rows(df: pd.DataFrame) -> pa.Table:
    """A chunk given as a DataFrame, as Arrow: a column Arrow cannot hold as it is (values of
    several kinds) as the text of its values."""
    try:
        return pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        arrays = []
        for name in df.columns:
            try:
                arrays.append(pa.array(df[name], from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                arrays.append(_as_text(df[name].tolist()))
        return pa.Table.from_arrays(arrays, names=[str(c) for c in df.columns])


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_dictionary(kind)
    )


def _answer_array(values: Any) -> pa.Array:
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # labels of several kinds: their text
        return _as_text(list(values))


def _csv_ready(table: pa.Table) -> pa.Table:
    """Columns the CSV writer prints as a person reads them: dates without a time of day as
    dates, whole seconds without fractions; categories as their values; lists and other nested
    values as their text."""
    columns = []
    for col in table.columns:
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if pa.types.is_timestamp(t) and t.tz is None:
            col = _timestamp_text(col)
        elif pa.types.is_nested(t) or not (
            pa.types.is_primitive(t)
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_decimal(t)
        ):
            col = _as_text(col.to_pylist())
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _timestamp_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    seconds = col.cast(pa.timestamp("s"), safe=False)
    if not _all(pc.equal(seconds.cast(col.type), col)):
        return col  # fractions of a second: as Arrow writes them
    days = seconds.cast(pa.date32(), safe=False)
    if _all(pc.equal(days.cast(pa.timestamp("s")), seconds)):
        return days  # every value at midnight: dates
    return pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S")


def _all(mask: pa.ChunkedArray) -> bool:
    return pc.all(mask).as_py() is not False  # missing values do not count


_QUOTE = '[",\\r\\n]'  # a value CSV needs quoted: the delimiter, a quote or a line end


def _quoted(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text as CSV values: quoted (with inner quotes doubled) where it needs quotes."""
    needs = pc.match_substring_regex(text, _QUOTE)
    wrapped = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, wrapped, text)


def _csv_text(col: pa.Array) -> pa.Array:
    """An added column as CSV text, missing values empty (the same text Arrow's CSV writer
    gives numbers and booleans)."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        # a number or a boolean as text never holds a delimiter, a quote or a line end
        return pc.fill_null(col.cast(pa.string()), "")
    return pc.fill_null(_quoted(col), "")


def _header(names: list[str]) -> bytes:
    return ",".join(_quoted(pa.array(names, pa.string())).to_pylist()).encode()


class _Writer:
    """Appends scored chunks to a CSV or Parquet file. A CSV chunk that comes with its rows'
    own lines (each ``"\\nrow"``) is written as those lines with the added columns after them;
    ``open_line``: the file so far ends in such a row, without its line end."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.fmt = fmt
        self.sink = pa.OSFile(str(path), "wb")
        self.parquet: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.rows = 0
        self.open_line = False

    def write(
        self,
        table: pa.Table,
        lines: pa.Array | pa.ChunkedArray | None,
        added: dict[str, pa.Array],
    ) -> None:
        if self.fmt == ".csv" and lines is not None:
            if self.rows == 0:
                self.sink.write(_header([*table.column_names, *added]))
            texts = [_csv_text(a) for a in added.values()]
            start = 0
            for piece in lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]:
                end = start + len(piece)
                ours = [t.slice(start, end - start) for t in texts]
                text = _text_bytes(pc.binary_join_element_wise(piece, *ours, ","))
                self.sink.write(text if self.rows == 0 or self.open_line else text.slice(1))
                self.open_line = True
                start = end
            self.rows += table.num_rows
            return
        for name, values in added.items():
            table = table.append_column(name, values)
        if self.fmt == ".csv":
            if self.open_line:
                self.sink.write(b"\n")
                self.open_line = False
            options = pacsv.WriteOptions(include_header=self.rows == 0)
            pacsv.write_csv(_csv_ready(table), self.sink, options)
        else:
            if self.parquet is None:
                self.schema = pa.schema(
                    [f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                     for f in table.schema]
                )  # fmt: skip
                # dictionaries only for text: numbers rarely repeat, and trying a dictionary
                # for them made writing about four times slower and the file larger
                text = [f.name for f in self.schema if _is_text(f.type)]
                self.parquet = pq.ParquetWriter(self.sink, self.schema, use_dictionary=text)
            assert self.schema is not None
            self.parquet.write_table(_conform(table, self.schema, self.rows))
        self.rows += table.num_rows

    def close(self) -> None:
        try:
            if self.open_line:
                self.sink.write(b"\n")
            if self.parquet is not None:
                self.parquet.close()
        finally:
            self.sink.close()


def _text_bytes(text: pa.Array) -> pa.Buffer:
    """The characters of a text array with no missing values, one value after the other."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    first, last = offsets[text.offset], offsets[text.offset + len(text)]
    return text.buffers()[2].slice(int(first), int(last - first))


class _Background:
    """One task at a time on a thread of its own (the GIL is released while Arrow parses or
    writes and while LightGBM predicts, so reading, scoring and writing overlap)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending: Future[Any] | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self.wait()
        self.pending = self.pool.submit(fn, *args)

    def wait(self) -> Any:
        pending, self.pending = self.pending, None
        return pending.result() if pending is not None else None

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _ahead(chunks: Iterable[Any]) -> Iterator[Any]:
    """``chunks`` with the next one read on another thread while this one is scored."""
    reader = _Background()
    it = iter(chunks)
    end = object()
    try:
        reader.submit(next, it, end)
        while True:
            chunk = reader.wait()
            if chunk is end:
                return
            reader.submit(next, it, end)
            yield chunk
    finally:
        try:
            reader.close()
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()


def score_chunks(
    model: Model,
    chunks: Iterable[pd.DataFrame | pa.Table | Rows],
    out_path: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
    reasons: int = 0,
    drift: bool = True,
    expected_rows: int | None = None,
) -> BatchResult:
    """Score every chunk (a DataFrame, an Arrow table, or the :class:`connectors.Rows` that
    :func:`predict_file` reads) and write input columns plus predictions to ``out_path``
    atomically, with Arrow's writers. The next chunk is read, and the last one written, while
    one is scored.

    ``reasons`` > 0 adds a ``reasons`` column with each row's top columns and contributions.
    ``expected_rows`` (about how many rows the chunks hold) lets tree models score with
    compiled trees when that pays (:meth:`Model.compile_trees`).
    The file's own columns are written as they were read (a CSV file's rows as their own lines
    when each row is one line of comma-separated text): an added column whose name the file
    already has gets a suffix (``prediction_2``...), and the report says so.

    ``drift``: count the rows, as the model reads them, into the bins of the model's drift
    profile (:mod:`automl.drift`) and give the report in ``BatchResult.drift``.
    """
    start = time.monotonic()
    out = check_output_file(out_path)
    fmt = output_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = InputReport()
    added: list[str] = []
    rows = 0
    counts, note = _drift_counts(model) if drift else (None, "")
    observe = None if counts is None else counts.add
    # the file appears only when every row is scored; chunks' arrays on small pages (see there)
    with small_pages(), atomic_path(out) as tmp:
        writer = _Writer(tmp, fmt)
        background = _Background()
        compiling = model.compile_trees(expected_rows) if expected_rows else []
        try:
            for chunk in _ahead(chunks):
                lines = None
                if isinstance(chunk, Rows):
                    chunk, lines = chunk.table, chunk.lines
                if len(chunk) == 0:
                    continue
                if isinstance(chunk, pa.Table):
                    frame, table = chunk.to_pandas(), chunk
                else:
                    frame, table = chunk, _arrow_rows(chunk)
                answers, chunk_report = model.answers(frame, reasons=reasons, observe=observe)
                if rows == 0:
                    report.extra_columns = chunk_report.extra_columns
                    added = list(answers)
                report.merge(chunk_report)
                arrays = {name: _answer_array(values) for name, values in answers.items()}
                background.submit(writer.write, table, lines, arrays)
                rows += len(chunk)
                if progress is not None:
                    progress(rows)
        finally:
            for job in compiling:
                job.detach()  # (a compile not done yet is for the next batches)
            try:
                background.close()
            finally:
                writer.close()
        if rows == 0:
            raise DataError("The file to score has no rows: give at least one row with values.")
    return BatchResult(
        rows=rows,
        seconds=time.monotonic() - start,
        output=out,
        report=report,
        added_columns=added,
        drift=None if counts is None else counts.report(),
        drift_note=note,
    )


def _drift_counts(model: Model) -> tuple[DriftCounts | None, str]:
    """Empty drift counts for ``model``, or None and why drift cannot be measured."""
    try:
        return DriftProfile.from_model(model).counter(), ""
    except EaselError as exc:
        return None, str(exc)


def _file_chunks(source: str | os.PathLike[str], chunk_rows: int) -> Iterable[pd.DataFrame | Rows]:
    from connectors import iter_file_batches, iter_file_chunks
    from connectors.files import CSV_EXT, PARQUET_EXT

    if Path(source).suffix.lower() in CSV_EXT + PARQUET_EXT:
        # a smaller first chunk: scoring starts while most of the first rows are still read
        first = min(chunk_rows, max(FIRST_CHUNK_MIN_ROWS, chunk_rows // 8))
        return iter_file_batches(source, chunk_rows, first_rows=first)
    return iter_file_chunks(source, chunk_rows)


def drift_file(
    model: Model,
    source: str | os.PathLike[str],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> DriftReport:
    """How far the rows of a file moved from the rows ``model`` learned from, read chunk by
    chunk as :func:`predict_file` reads them (bounded memory), without scoring them. The rows
    must have the model's columns, as for predicting."""
    counts = DriftProfile.from_model(model).counter()
    for chunk in _ahead(_file_chunks(source, chunk_rows)):
        table = chunk.table if isinstance(chunk, Rows) else chunk
        if len(table) == 0:
            continue
        frame = table.to_pandas() if isinstance(table, pa.Table) else table
        prepared = model.prepare(frame)
        model.preprocessor.check_columns(prepared)  # the model's columns, named when missing
        counts.add(prepared)
        if progress is not None:
            progress(counts.rows)
    if counts.rows == 0:
        raise DataError("The file has no rows: give at least one row with values.")
    return counts.report()


def predict_file(
    model: Model,
    source: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    reasons: int = 0,
    drift: bool = True,
) -> BatchResult:
    """Score a CSV/TSV/Parquet/JSON Lines file chunk by chunk (other formats are read whole),
    measuring drift as it goes (see :func:`score_chunks`).

    CSV and Parquet are read as Arrow tables (:func:`connectors.iter_file_batches`) and the
    scored rows written with Arrow's writers; the other formats through pandas."""
    from connectors import estimate_rows

    output_format(out_path)
    check_output_file(out_path, keep=(source,))
    chunks = _file_chunks(source, chunk_rows)
    return score_chunks(
        model,
        chunks,
        out_path,
        progress,
        reasons=reasons,
        drift=drift,
        expected_rows=estimate_rows(source),
    )


# ---------------------------------------------------------------------------- one part, anywhere
@dataclass
class ScoredPart:
    """One part of a larger input, scored and encoded (``score_part``)."""

    rows: int
    data: bytes  # a whole Parquet file, or CSV rows without a header
    header: bytes  # CSV: the header line of these columns ("" for Parquet)
    report: InputReport
    added_columns: list[str]


def score_part(
    model: Model,
    rows: pd.DataFrame | pa.Table,
    fmt: str,
    reasons: int = 0,
    observe: Callable[[pd.DataFrame], None] | None = None,
) -> ScoredPart:
    """Score one part of a larger input wherever it is (a partition on a cluster worker:
    :mod:`automl.cluster.scoring`) through the same ``Model.answers`` and Arrow conversions as
    :func:`score_chunks`, encoded as ``fmt`` (".parquet" or ".csv") for the caller to write in
    order. ``observe`` counts the rows for drift, as in :func:`score_chunks`."""
    frame, table = (rows.to_pandas(), rows) if isinstance(rows, pa.Table) else (rows, None)
    if table is None:
        table = _arrow_rows(frame)
    answers, report = model.answers(frame, reasons=reasons, observe=observe)
    for name, values in answers.items():
        table = table.append_column(name, _answer_array(values))
    sink, header = pa.BufferOutputStream(), b""
    if fmt == ".csv":
        ready = _csv_ready(table)
        pacsv.write_csv(ready, sink, pacsv.WriteOptions(include_header=False))
        head = pa.BufferOutputStream()
        pacsv.write_csv(ready.slice(0, 0), head)
        header = head.getvalue().to_pybytes()
    else:
        schema = pa.schema(
            [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
        )
        pq.write_table(_conform(table, schema, 0), sink)
    return ScoredPart(len(frame), sink.getvalue().to_pybytes(), header, report, list(answers))
