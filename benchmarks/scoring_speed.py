"""Scoring speed: ``automl predict`` against reading the same file with pyarrow alone.

    python -m benchmarks.scoring_speed [--rows 1000000] [--sizes 1000000,3000000] [--profile]

Builds once (cached in ``--workdir``, by default a folder in the system's temporary directory) a
LightGBM-only model (one default trial, no ensemble) on 200,000 rows of
:func:`benchmarks.scale.synthetic` (50 columns: 40 numeric, 8 categorical, 2 integer), and
writes ``--rows`` rows of the same generator without the target as CSV and as Parquet. Then, in
this order, each in its own process:

1. the baseline: ``pyarrow.csv.read_csv`` of the whole CSV, rows/s (median of ``--repeat``);
2. ``pyarrow.parquet.read_table`` of the Parquet file, rows/s;
3. ``automl predict`` CSV -> CSV and Parquet -> Parquet (the command line, start-up and model
   loading included), rows/s (median of ``--repeat``) and the child's peak RSS (``os.wait4``);
4. ``automl predict`` CSV -> CSV on each of ``--sizes`` rows: peak RSS (bounded memory means the
   larger file needs no more).

Every rate is printed with its ratio to the pyarrow CSV read (the target: at least 0.25 for
CSV -> CSV, more for Parquet -> Parquet). ``--profile`` adds a cProfile of ``predict_file`` on
200,000 CSV rows, in this process, top functions by own time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN_ROWS = 200_000
CHUNK_ROWS = 100_000
WRITE_ROWS = 500_000  # the data files are written this many rows at a time (bounded memory)


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True, text=True
    )


def build_model(work: Path) -> Path:
    """A LightGBM default on TRAIN_ROWS synthetic rows (built once, then reused)."""
    model = work / f"model_{TRAIN_ROWS}"
    if (model / "easel_model.json").exists():
        return model
    code = (
        "import sys, time, automl; from benchmarks.scale import synthetic;"
        f"df = synthetic({TRAIN_ROWS}, 0); t = time.monotonic();"
        "m = automl.AutoML(time_budget=600, candidates=['lightgbm'], max_trials=1,"
        " ensemble=False, seed=0).fit(df, target='target');"
        "print(f'built in {time.monotonic() - t:.1f} s'); m.save(sys.argv[1])"
    )
    print(_child(code, str(model)).stdout.strip(), flush=True)
    return model


def write_data(work: Path, rows: int) -> tuple[Path, Path]:
    """``rows`` synthetic rows without the target, as CSV and as Parquet (written once). Each
    block of WRITE_ROWS rows has its own seed, so large files need no more memory to write."""
    csv, parquet = work / f"score_{rows}.csv", work / f"score_{rows}.parquet"
    if csv.exists() and parquet.exists():
        return csv, parquet
    code = (
        "import sys, pyarrow as pa, pyarrow.parquet as pq; from benchmarks.scale import synthetic;"
        "rows, block = int(sys.argv[1]), int(sys.argv[2]); writer = None\n"
        "for k, start in enumerate(range(0, rows, block)):\n"
        "    df = synthetic(min(block, rows - start), seed=10 + k).drop(columns=['target'])\n"
        "    df.to_csv(sys.argv[3] + '.tmp', mode='a', header=k == 0, index=False)\n"
        "    t = pa.Table.from_pandas(df, preserve_index=False)\n"
        "    writer = writer or pq.ParquetWriter(sys.argv[4] + '.tmp', t.schema)\n"
        "    writer.write_table(t)\n"
        "writer.close()"
    )
    for p in (csv, parquet):
        Path(str(p) + ".tmp").unlink(missing_ok=True)
    _child(code, str(rows), str(WRITE_ROWS), str(csv), str(parquet))
    for p in (csv, parquet):
        Path(str(p) + ".tmp").rename(p)
    return csv, parquet


def pyarrow_read(path: Path, repeat: int) -> float:
    """Median seconds of pyarrow reading the whole file (its own process)."""
    code = (
        "import sys, time, json, statistics, pyarrow.csv as pc, pyarrow.parquet as pq\n"
        "p, n = sys.argv[1], int(sys.argv[2]); secs = []\n"
        "for _ in range(n):\n"
        "    t = time.monotonic()\n"
        "    table = pc.read_csv(p) if p.endswith('.csv') else pq.read_table(p)\n"
        "    secs.append(time.monotonic() - t); del table\n"
        "print(json.dumps(statistics.median(secs)))"
    )
    return float(json.loads(_child(code, str(path), str(repeat)).stdout))


def automl_predict(model: Path, src: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of ``automl predict`` as a child process."""
    cmd = [sys.executable, "-m", "automl", "predict", str(model), str(src), "--out", str(out)]
    cmd += ["--quiet", "--chunk-rows", str(CHUNK_ROWS)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.monotonic() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"automl predict failed:\n{err[-3000:]}")
    out.unlink()
    return secs, usage.ru_maxrss / 1024


def profile(model_dir: Path, src: Path, work: Path) -> None:
    """cProfile of predict_file on the first 200,000 rows of ``src``, in this process."""
    import cProfile
    import pstats

    import automl
    from automl.batch import predict_file

    head = work / "profile_head.csv"
    with src.open("rb") as fin, head.open("wb") as fout:
        for i, line in enumerate(fin):
            if i > 200_000:
                break
            fout.write(line)
    model = automl.load(model_dir)
    prof = cProfile.Profile()
    prof.enable()
    predict_file(model, head, work / "profile_out.csv", chunk_rows=CHUNK_ROWS)
    prof.disable()
    (work / "profile_out.csv").unlink()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--sizes", default="1000000,3000000", help="rows of the memory check")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "easel-scoring-speed"))
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = build_model(work)
    csv, parquet = write_data(work, a.rows)
    n = a.rows
    base = n / pyarrow_read(csv, a.repeat)
    print(f"pyarrow.csv.read_csv: {base:,.0f} rows/s (the baseline, 1.00)", flush=True)
    pq_rate = n / pyarrow_read(parquet, a.repeat)
    print(f"pyarrow.parquet.read_table: {pq_rate:,.0f} rows/s ({pq_rate / base:.2f})", flush=True)
    for src, kind in ((csv, "CSV -> CSV"), (parquet, "Parquet -> Parquet")):
        runs = [automl_predict(model, src, work / f"out{src.suffix}") for _ in range(a.repeat)]
        secs = statistics.median(s for s, _ in runs)
        peak = max(m for _, m in runs)
        print(
            f"automl predict {kind}, {n:,} rows: {secs:.1f} s, {n / secs:,.0f} rows/s "
            f"({n / secs / base:.2f} of the pyarrow CSV read), peak RSS {peak:,.0f} MB",
            flush=True,
        )
    for size in [int(s) for s in a.sizes.split(",") if s]:
        big, _ = write_data(work, size)
        secs, peak = automl_predict(model, big, work / "out.csv")
        print(
            f"memory: automl predict CSV -> CSV, {size:,} rows ({big.stat().st_size / 1e6:,.0f} "
            f"MB): {secs:.1f} s, {size / secs:,.0f} rows/s, peak RSS {peak:,.0f} MB",
            flush=True,
        )
    if a.profile:
        profile(model, csv, work)


if __name__ == "__main__":
    main()
