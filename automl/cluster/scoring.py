"""Batch scoring on a Dask cluster: a file, a folder of parts or an ``s3://`` prefix, read with
dask.dataframe and scored partition by partition on the workers.

The model travels as its files (the folder's, reports left out), sent once to every worker and
loaded there with :meth:`Model.load`'s checks; each partition is scored by
:func:`automl.batch.score_part` (the same ``Model.answers`` as one computer's scoring), and
counted for drift into the model's bins on the worker. This computer writes the parts in input
order as they come back (a few partitions per worker at a time, so memory depends on the
partition size, not on the data's): a folder of Parquet parts, or one CSV or Parquet file,
through a temporary that replaces the output only when every row is scored. The drift counts of
the partitions add up (:meth:`DriftCounts.merge`) and the PSI is computed once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from automl.atomic import (
    check_output_file,
    check_output_folder,
    remove,
    sweep_stale,
    temp_path,
)
from automl.batch import BatchResult, ScoredPart, _drift_counts, _Writer, output_format, score_part
from automl.cluster._connect import Cluster
from automl.cluster.trials import NO_WORKER_SECONDS, POLL_SECONDS, alone_since_check
from automl.drift import DriftCounts, DriftProfile
from automl.errors import ClusterError, DataError, EaselError, ParameterError
from automl.model import Model
from automl.preprocess import InputReport
from connectors._secrets import redact_url

# Bytes of CSV text per partition (dask.dataframe's own default), and of a Parquet partition's
# values: a file larger than this is cut at its row groups (small row groups are read together
# up to this size). A partition, its DataFrame and its answers are a few times this in a
# worker's memory.
PARTITION_BYTES = 64 * 2**20
IN_FLIGHT_PER_WORKER = 2  # partitions scored or waiting per worker: the next is ready when one ends
# Seconds to bring one scored partition back (fetched once, never asked again: see _result)
FETCH_SECONDS = 600.0
PART_NAME = "part-{:05d}.parquet"
INPUT_KINDS = {".csv": ",", ".tsv": "\t", ".parquet": None}
_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}  # on a worker: the last model sent to it (token, model, profile)


@dataclass
class _ModelFiles:
    """A model folder's files (the reports left out), sent once to every worker."""

    token: str
    files: dict[str, bytes]


def is_folder_output(out: str | os.PathLike[str]) -> bool:
    """Whether OUT names a folder of Parquet parts: it ends with '/' or is a folder."""
    text = os.fspath(out)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def _pack(folder: Path) -> _ModelFiles:
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] == "reports" or path.is_symlink() or not path.is_file():
            continue
        files[rel.as_posix()] = path.read_bytes()
    return _ModelFiles(uuid.uuid4().hex, files)


def _model_folder() -> Path:
    """A new folder for a model sent to this worker, inside the worker's own scratch folder:
    Dask removes that one when the worker stops (or, for a worker that was killed, when the
    next one starts), where a folder of its own would outlive every worker."""
    base = None
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        base = get_worker().local_directory
    return Path(tempfile.mkdtemp(prefix="easel-model-", dir=base))


def _worker_model(sent: _ModelFiles, drift: bool) -> tuple[Model, DriftProfile | None]:
    """On a worker: the model of ``sent``, loaded once (with Model.load's checks) and kept
    until another model is sent."""
    with _LOCK:
        if _LOADED.get("token") != sent.token:
            old = _LOADED.get("folder")
            folder = _model_folder()
            for rel, data in sent.files.items():
                target = folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            model = Model.load(folder)
            profile = None
            with contextlib.suppress(EaselError):
                profile = DriftProfile.from_model(model)
            _LOADED.update(token=sent.token, model=model, profile=profile, folder=folder)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return _LOADED["model"], _LOADED["profile"] if drift else None


def score_partition(
    frame: Any, sent: _ModelFiles, fmt: str, reasons: int, drift: bool
) -> tuple[ScoredPart | None, DriftCounts | None]:
    """Run on a worker: one partition scored and encoded, and its drift counts."""
    model, profile = _worker_model(sent, drift)
    if len(frame) == 0:
        return None, None
    counts = profile.counter() if profile is not None else None
    part = score_part(model, frame, fmt, reasons, None if counts is None else counts.add)
    return part, counts


def _shown(text: str, most: int = 300) -> str:
    """A source or a library's message as shown: shortened, with no key, password or user."""
    return redact_url(text[:most], drop_user=True)


def input_parts(source: str, storage: dict[str, Any]) -> tuple[list[str], str]:
    """The files to read, in order (a folder's or prefix's by name, hidden and '_' files left
    out), and their kind (.csv, .tsv or .parquet)."""
    if source.startswith("s3://"):
        if "@" in source[len("s3://") :].split("/", 1)[0]:
            raise DataError(
                f"'{_shown(source)}' holds keys or a user name before the bucket; an s3:// "
                "address holds none. Write s3://bucket/prefix/ and give the keys in the AWS "
                "settings of this computer and of the workers (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or a role)."
            )
        files = _s3_files(source, storage)
    else:
        p = Path(source)
        if p.is_dir():
            files = sorted(str(f) for f in p.rglob("*") if f.is_file() and _is_part(f.name))
        elif p.is_file():
            files = [str(p)]
        else:
            raise DataError(
                f"The data to score '{source}' does not exist. Give a CSV or Parquet file, a "
                "folder of them, or an s3:// prefix."
            )
    files = [f for f in files if Path(f).suffix.lower() in INPUT_KINDS]
    if not files:
        raise DataError(
            f"'{_shown(source)}' holds no CSV (.csv, .tsv) or Parquet (.parquet) file to score."
        )
    kinds = {Path(f).suffix.lower() for f in files}
    if len(kinds) > 1:
        raise DataError(
            f"'{_shown(source)}' mixes files of several kinds ({', '.join(sorted(kinds))}); "
            "parts scored together must be of one kind. Put each kind in its own folder."
        )
    return files, kinds.pop()


def _is_part(name: str) -> bool:
    return not name.startswith((".", "_"))


def _s3_files(source: str, storage: dict[str, Any]) -> list[str]:
    try:
        import fsspec

        fs = fsspec.filesystem("s3", **storage)
        path = source[len("s3://") :].rstrip("/")
        if fs.isfile(path):
            return [source]
        return [f"s3://{k}" for k in sorted(fs.find(path)) if _is_part(k.rsplit("/", 1)[-1])]
    except ImportError:
        raise DataError(
            "Reading s3:// needs s3fs, part of Easel's cluster extra: pip install 'easel[cluster]'."
        ) from None
    except Exception as exc:  # botocore's errors (no keys, a bad bucket name) are not OSErrors
        why = (
            "no keys were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use "
            "--anonymous for a public bucket"
            if type(exc).__name__ == "NoCredentialsError"
            else _shown(str(exc), 200)
        )
        raise DataError(
            f"The objects under '{_shown(source)}' cannot be listed ({why}). Check the bucket, "
            "the endpoint (--endpoint-url) and this computer's AWS settings."
        ) from None


def _frames(files: list[str], kind: str, storage: dict[str, Any]) -> list[Any]:
    """One delayed DataFrame per partition, in input order. CSV values are read as text (the
    model reads each column as its type, as when it scores a file here)."""
    import dask
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):
        try:
            if kind == ".parquet":
                ddf = dd.read_parquet(
                    files,
                    storage_options=storage or None,
                    index=False,
                    blocksize=PARTITION_BYTES,  # (dask's own is 256 MB: one file, 500,000 rows)
                )
            else:
                ddf = dd.read_csv(
                    files,
                    sep=INPUT_KINDS[kind],
                    dtype=str,
                    blocksize=PARTITION_BYTES,
                    storage_options=storage or None,
                )
        except (OSError, ValueError) as exc:
            raise DataError(f"The data to score cannot be read: {_shown(str(exc))}") from None
        return list(ddf.to_delayed())


class _Output:
    """Writes the scored parts in order: a folder of Parquet parts, or one CSV or Parquet file,
    through a temporary that replaces the output only at the end."""

    def __init__(self, out: str) -> None:
        self.folder = is_folder_output(out)
        self.target = Path(out.rstrip("/" + os.sep) if self.folder else out)
        self.fmt = ".parquet" if self.folder else output_format(out)
        self.parts = 0
        self.tmp = temp_path(self.target)
        self._csv: Any = None
        self._parquet: _Writer | None = None

    def open(self) -> None:
        sweep_stale(self.target.parent, of=self.target.name)  # what killed runs left
        if self.folder:
            self.tmp.mkdir(parents=True)
        elif self.fmt == ".csv":
            self._csv = open(self.tmp, "wb")  # noqa: SIM115 (closed in close())
        else:
            self._parquet = _Writer(self.tmp, ".parquet")

    def write(self, part: ScoredPart) -> None:
        if self.folder:
            (self.tmp / PART_NAME.format(self.parts)).write_bytes(part.data)
        elif self._csv is not None:
            if self.parts == 0:
                self._csv.write(part.header)
            self._csv.write(part.data)
        elif self._parquet is not None:
            self._parquet.write(pq.read_table(pa.BufferReader(part.data)), None, {})
        self.parts += 1

    def close(self, ok: bool) -> None:
        try:
            if self._csv is not None:
                self._csv.close()
            if self._parquet is not None:
                self._parquet.close()
        finally:
            if not ok:
                remove(self.tmp)
        if ok:
            if self.folder and self.target.is_dir():
                shutil.rmtree(self.target)  # (checked before: a folder of parts Easel wrote)
            os.replace(self.tmp, self.target)


def check_output(out: str, source: str) -> Path:
    """Refuse, before any work, an output that cannot be written or would overwrite what Easel
    did not write: a folder of parts replaces only a folder of ``part-*.parquet`` files."""
    inside = not source.startswith("s3://") and Path(source).is_dir()
    if inside and Path(source).resolve() in Path(out).resolve().parents:
        raise ParameterError(
            f"The output (--out) '{out}' is inside the folder of the data to score, so the next "
            "scoring of that folder would read it as data too. Write it outside that folder."
        )
    if not is_folder_output(out):
        output_format(out)
        return check_output_file(out, "output file (--out)", keep=(source,))
    folder = check_output_folder(out.rstrip("/" + os.sep) or out, "output folder (--out)")
    if folder.is_dir():
        other = [p.name for p in folder.iterdir() if not p.name.startswith("part-")]
        if other:
            raise ParameterError(
                f"The output folder (--out) '{folder}' holds files Easel did not write (such as "
                f"'{other[0]}'). Give a new folder, or one that holds only earlier parts."
            )
    if not source.startswith("s3://") and folder.resolve() in (
        Path(source).resolve(),
        *Path(source).resolve().parents,
    ):
        raise ParameterError(
            f"The output folder (--out) '{folder}' holds the data to score, and it is replaced "
            "once every row is scored. Write the predictions to another folder."
        )
    return folder


def predict_on_cluster(
    cluster: Cluster,
    model: Model,
    model_folder: str | os.PathLike[str],
    source: str,
    out: str,
    progress: Callable[[int], None] | None = None,
    reasons: int = 0,
    drift: bool = True,
    storage: dict[str, Any] | None = None,
) -> BatchResult:
    """Score ``source`` (a CSV/TSV/Parquet file, a folder of them or an ``s3://`` prefix) on
    ``cluster``'s workers and write ``out`` in input order: a folder of Parquet parts (``out``
    ends with '/' or is a folder) or one .csv or .parquet file. ``storage``: fsspec's options
    for s3:// (the workers read with their own AWS settings)."""
    start = time.monotonic()
    storage = dict(storage or {})
    check_output(out, source)
    files, kind = input_parts(source, storage)
    frames = _frames(files, kind, storage)
    counts, note = _drift_counts(model) if drift else (None, "")
    client = cluster.client
    import dask

    sent = client.scatter(_pack(Path(model_folder)), broadcast=True, hash=False)
    output = _Output(out)
    report = InputReport()
    added: list[str] = []
    rows = 0
    window = IN_FLIGHT_PER_WORKER * cluster.slots
    pending: list[Any] = []
    ok = False
    output.open()
    try:
        task = dask.delayed(score_partition, pure=False)
        nxt = 0
        while nxt < len(frames) or pending:
            while nxt < len(frames) and len(pending) < window:
                job = task(frames[nxt], sent, output.fmt, reasons, counts is not None)
                pending.append(client.compute(job))
                nxt += 1
            future = pending.pop(0)
            try:
                part, part_counts = _result(future, files)
            finally:
                # released now, not when Python collects it: futures were left in reference
                # cycles until the garbage collector ran, and their workers kept the scored
                # parts until then, so finished parts piled up on the workers
                future.release()
            if part is None:
                continue
            if rows == 0:
                report.extra_columns = part.report.extra_columns
                added = part.added_columns
            report.merge(part.report)
            output.write(part)
            if counts is not None and part_counts is not None:
                counts.merge(part_counts)
            rows += part.rows
            if progress is not None:
                progress(rows)
        if rows == 0:
            raise DataError("The data to score has no rows: give at least one row with values.")
        ok = True
    finally:
        for f in pending:
            f.cancel()
        sent.release()  # (the workers keep the loaded model, not its files)
        output.close(ok)
    return BatchResult(
        rows=rows,
        seconds=time.monotonic() - start,
        output=output.target,
        report=report,
        added_columns=added,
        drift=None if counts is None else counts.report(),
        drift_note=note,
    )


def _result(future: Any, files: list[str]) -> Any:
    """A partition's result; an ``EaselError`` in words for anything that went wrong.

    The wait for the partition to be scored is polled (a cluster left with no worker is said in
    words), but its result is fetched once, without the poll's timeout: a fetch given up (a
    result of a few hundred MB takes longer than a poll on a busy link) and asked again makes
    the worker send the data again, with each copy still in its memory, so its memory grew with
    every partition it scored and the fetch could start over and over."""
    from distributed import KilledWorker, wait

    alone_since: float | None = None
    try:
        while not future.done():  # (waiting moves no data)
            try:
                wait([future], timeout=POLL_SECONDS)
            except TimeoutError:
                alone_since = alone_since_check(
                    future.client,
                    alone_since,
                    f"The Dask cluster has had no worker for {NO_WORKER_SECONDS:g} s, so the "
                    "scoring cannot go on. Start workers (or check why they stopped) and score "
                    "again.",
                )
        try:
            return future.result(timeout=FETCH_SECONDS)
        except TimeoutError:
            raise ClusterError(
                f"A scored part of the data could not be brought back from its worker within "
                f"{FETCH_SECONDS:g} s. Check the network between this computer and the "
                "workers, or score the data in smaller parts, and score again."
            ) from None
    except EaselError:
        raise
    except KilledWorker:
        raise DataError(
            "A worker stopped while scoring a part of the data (its process or machine was "
            "lost, often for lack of memory). Score again; if it happens again, give the "
            "workers more memory or the data in smaller parts."
        ) from None
    except Exception as exc:  # reading a part: a bad file, a column of another type
        shown = _shown(files[0]) if len(files) == 1 else f"one of the {len(files)} files"
        raise DataError(
            f"A part of the data ({shown}) could not be read or scored: {_shown(str(exc))}"
        ) from None
