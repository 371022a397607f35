"""Data layer figures: importing a large CSV into the workspace against pyarrow.csv.read_csv on
the same file, and joining two 1M-row tables against pandas.merge.

    python benchmarks/data_layer.py                       # 1 GB CSV, 1M-row join, 3 runs each
    python benchmarks/data_layer.py --csv-mb 200 --runs 1  # quicker

Each CSV reader runs in a fresh process so its peak memory (ru_maxrss) is its own. Times are
medians; ratios compare runs made by this script on this machine, one after the other.
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import pandas, pyarrow.csv  # imported before the clock starts: every mode pays the same
mode, path, ws_dir = sys.argv[1], sys.argv[2], sys.argv[3]
if mode != "pyarrow":
    import automl.workspace.data, connectors  # noqa: F401
t0 = time.perf_counter()
extra = {}
if mode == "pyarrow":
    import pyarrow.csv as pc
    table = pc.read_csv(path)
    extra["rows"] = table.num_rows
    extra["arrow_bytes"] = table.nbytes
elif mode == "easel_read":
    from connectors import read_file
    df = read_file(path)
    extra["rows"] = len(df)
    extra["pandas_bytes"] = int(df.memory_usage(deep=True).sum())
else:
    from automl.workspace.data import import_dataset
    from automl.workspace import Workspace
    rec = import_dataset(Workspace(ws_dir), path, "big")
    extra["rows"] = rec.rows
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **extra}))
"""


def make_csv(path: Path, target_mb: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    rows = 0
    chunk = 200_000
    cities = np.array([f"city_{i}" for i in range(300)])
    words = np.array(["late", "refund", "great", "slow", "support", "price", "love", "cancel"])
    with path.open("w", encoding="utf-8") as fh:
        header = True
        while path.stat().st_size < target_mb * 1e6 if path.exists() else True:
            n = chunk
            df = pd.DataFrame(
                {
                    "id": np.arange(rows, rows + n),
                    "amount": rng.normal(100, 30, n).round(2),
                    "quantity": rng.integers(0, 50, n),
                    "score": np.where(rng.random(n) < 0.05, np.nan, rng.random(n).round(4)),
                    "city": rng.choice(cities, n),
                    "plan": rng.choice(["basic", "plus", "pro"], n),
                    "signup": (
                        pd.Timestamp("2020-01-01")
                        + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
                    ).strftime("%Y-%m-%d"),
                    "note": [" ".join(rng.choice(words, 4)) for _ in range(n)],
                    "active": rng.choice(["yes", "no"], n),
                }
            )
            df.to_csv(fh, index=False, header=header)
            fh.flush()
            header = False
            rows += n
    return rows


def run_child(mode: str, path: Path, ws_dir: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), ws_dir],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_import(csv_mb: float, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="easel-bench-") as tmp:
        path = Path(tmp) / "big.csv"
        t0 = time.perf_counter()
        rows = make_csv(path, csv_mb)
        size_mb = path.stat().st_size / 1e6
        took = time.perf_counter() - t0
        print(f"CSV: {size_mb:,.0f} MB, {rows:,} rows x 9 columns (written in {took:.0f} s)")
        results: dict[str, list[dict[str, float]]] = {
            "pyarrow": [],
            "easel_read": [],
            "easel_import": [],
        }
        for _ in range(runs):
            for mode in results:  # interleaved so drift hits all three alike
                ws_dir = tempfile.mkdtemp(dir=tmp)
                results[mode].append(run_child(mode, path, ws_dir))
        base = statistics.median(r["seconds"] for r in results["pyarrow"])
        arrow_mb = results["pyarrow"][0]["arrow_bytes"] / 1e6
        print(f"in-memory size (Arrow table): {arrow_mb:,.0f} MB")
        print(
            f"{'reader':<40} {'median s':>9} {'x pyarrow':>10} {'peak MB':>9} {'peak / data':>12}"
        )
        labels = {
            "pyarrow": "pyarrow.csv.read_csv",
            "easel_read": "Easel read_file (DataFrame)",
            "easel_import": "Easel import (read + save Parquet)",
        }
        for mode, rs in results.items():
            sec = statistics.median(r["seconds"] for r in rs)
            peak = statistics.median(r["peak_mb"] for r in rs)
            ratio, per_data = sec / base, peak / arrow_mb
            print(f"{labels[mode]:<40} {sec:9.2f} {ratio:10.2f} {peak:9,.0f} {per_data:12.2f}")


def bench_join(rows: int, runs: int) -> None:
    from automl.prep.join import JoinSpec, join

    rng = np.random.default_rng(1)
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "segment": rng.choice(["a", "b", "c"], rows),
            "tenure": rng.integers(0, 120, rows),
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": np.arange(rows),
            "customer_id": rng.integers(0, rows, rows),
            "amount": rng.normal(50, 10, rows).round(2),
        }
    )
    for how in ("inner", "left"):
        easel, pandas_ = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            ref = orders.merge(customers, on="customer_id", how=how)
            pandas_.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out, pv = join(orders, customers, JoinSpec.on("customer_id", how))
            easel.append(time.perf_counter() - t0)
            assert len(out) == len(ref) == pv.rows
        e, p = statistics.median(easel), statistics.median(pandas_)
        print(
            f"join {how:<5} {rows:,} x {rows:,} rows: Easel {e:.2f} s (preview, checks and join) "
            f"vs pandas.merge {p:.2f} s -> {e / p:.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv-mb", type=float, default=1000)
    ap.add_argument("--join-rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; runs per figure: {args.runs}")
    bench_import(args.csv_mb, args.runs)
    bench_join(args.join_rows, args.runs)


if __name__ == "__main__":
    main()
