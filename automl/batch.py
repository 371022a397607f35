"""Batch scoring of files, chunk by chunk, so files larger than memory score in bounded memory.

Scoring is a pure function of (model, rows): any chunk can be scored anywhere, in any order.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from automl.atomic import atomic_path, check_output_file
from automl.errors import DataError, ParameterError
from automl.model import Model
from automl.preprocess import InputReport

DEFAULT_CHUNK_ROWS = 200_000
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


def score_chunks(
    model: Model,
    chunks: Iterator[pd.DataFrame],
    out_path: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
    reasons: int = 0,
) -> BatchResult:
    """Score every chunk and write input columns plus predictions to ``out_path`` atomically.

    ``reasons`` > 0 adds a ``reasons`` column with each row's top columns and contributions.
    The file's own columns are written as they are: an added column whose name the file already
    has gets a suffix (``prediction_2``...), and the report says so.
    """
    start = time.monotonic()
    out = check_output_file(out_path)
    fmt = output_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = InputReport()
    added: list[str] = []
    rows = 0
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    with atomic_path(out) as tmp:  # the file appears only when every row is scored
        try:
            for chunk in chunks:
                if len(chunk) == 0:
                    continue
                table, chunk_report = model.predict_table(chunk, reasons=reasons)
                if rows == 0:
                    report.extra_columns = chunk_report.extra_columns
                    added = list(model.output_names(chunk.columns, reasons > 0).values())
                report.merge(chunk_report)
                if fmt == ".csv":
                    table.to_csv(tmp, mode="a", header=rows == 0, index=False)
                else:
                    arrow = pa.Table.from_pandas(table, preserve_index=False)
                    if writer is None:
                        schema = pa.schema(
                            [
                                f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                                for f in arrow.schema
                            ]
                        )
                        writer = pq.ParquetWriter(tmp, schema)
                    assert schema is not None
                    writer.write_table(_conform(arrow, schema, rows))
                rows += len(chunk)
                if progress is not None:
                    progress(rows)
        finally:
            if writer is not None:
                writer.close()
        if rows == 0:
            raise DataError("The file to score has no rows: give at least one row with values.")
    return BatchResult(
        rows=rows, seconds=time.monotonic() - start, output=out, report=report, added_columns=added
    )


def predict_file(
    model: Model,
    source: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    reasons: int = 0,
) -> BatchResult:
    """Score a CSV/TSV/Parquet/JSON Lines file chunk by chunk (other formats are read whole)."""
    from connectors import iter_file_chunks

    output_format(out_path)
    check_output_file(out_path, keep=(source,))
    return score_chunks(
        model, iter_file_chunks(source, chunk_rows), out_path, progress, reasons=reasons
    )
