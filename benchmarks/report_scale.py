"""Data report on a large table: time and peak memory of `data_report` on 1,000,000 rows x 30
columns (with a target), in a fresh process so the peak is the report's own.

    python benchmarks/report_scale.py                 # 1,000,000 x 30
    python benchmarks/report_scale.py --rows 200000   # quicker

Aim: under 60 s and under 4 GB peak memory on the 2-core development machine.

A build's reports on a given table and its model: CPU-seconds and wall time of `data_report`,
`performance_report` and their `to_html`, medians of 3 in one fresh process (the table read
with pandas, numbers stored as float32 where exact enough, as a build does):

    python benchmarks/report_scale.py --table train.parquet --target target --model MODEL_FOLDER

Aim: at most 4 CPU-seconds for the four steps on 800,000 rows x 45 columns, so that a build's
reports fit in the share of the budget it keeps for them on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
rows = int(sys.argv[1])
rng = np.random.default_rng(0)
cols = {}
for i in range(18):
    cols[f"num_{i}"] = rng.normal(i, 1 + i, rows)
for i in range(8):
    cols[f"cat_{i}"] = rng.choice([f"v{j}" for j in range(3 + 5 * i)], rows)
cols["city"] = rng.choice([f"city_{j}" for j in range(300)], rows)
cols["id"] = np.arange(rows)
cols["when"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D")
df = pd.DataFrame(cols)
df.loc[rng.random(rows) < 0.05, "num_3"] = np.nan
z = df["num_0"] + (df["cat_1"] == "v2") * 1.5 + rng.normal(0, 1, rows)
df["target"] = np.where(z > 1, "yes", "no")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from automl.reports import data_report
t0 = time.perf_counter()
rep = data_report(df, "target")
build = time.perf_counter() - t0
t1 = time.perf_counter()
html = rep.to_html(sys.argv[2])
write = time.perf_counter() - t1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
mb = df.memory_usage(deep=True).sum() / 1e6
print(json.dumps({"rows": rows, "columns": df.shape[1], "data_mb": mb,
                  "peak_before_mb": before, "build_s": build, "html_s": write,
                  "peak_mb": peak, "html_mb": len(html) / 1e6}))
"""

BUILD_CHILD = r"""
import json, statistics, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from automl.model import Model
from automl.reports import data_report, performance_report
from automl.training.common import compact_floats
table, target, folder, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
df = pd.read_parquet(table) if table.endswith(".parquet") else pd.read_csv(table)
compact_floats(df)
model = Model.load(folder)
steps = {"data_report": [], "data to_html": [], "performance_report": [],
         "performance to_html": []}
def timed(name, f):
    c, w = time.process_time(), time.perf_counter()
    out = f()
    steps[name].append((time.process_time() - c, time.perf_counter() - w))
    return out
for _ in range(repeats):
    rep = timed("data_report", lambda: data_report(df, target))
    timed("data to_html", rep.to_html)
    rep = timed("performance_report", lambda: performance_report(model))
    timed("performance to_html", rep.to_html)
med = {k: [statistics.median(c for c, _ in v), statistics.median(w for _, w in v)]
       for k, v in steps.items()}
print(json.dumps({"rows": len(df), "columns": df.shape[1], "steps": med}))
"""


def build_reports(args: argparse.Namespace) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE"}
    res = subprocess.run(
        [sys.executable, "-c", BUILD_CHILD, args.table, args.target, args.model, str(args.repeats)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    r = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"table: {r['rows']:,} rows x {r['columns']} columns; medians of {args.repeats}")
    print(f"{'step':<22}{'CPU s':>8}{'wall s':>8}")
    cpu = wall = 0.0
    for step, (c, w) in r["steps"].items():
        print(f"{step:<22}{c:>8.2f}{w:>8.2f}")
        cpu, wall = cpu + c, wall + w
    print(f"{'total':<22}{cpu:>8.2f}{wall:>8.2f}  (aim: at most 4 CPU-seconds)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--table", help="a build's table (CSV or Parquet): time its reports")
    ap.add_argument("--target", default="target")
    ap.add_argument("--model", help="the model folder trained on --table")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.table:
        if not args.model:
            ap.error("--table needs --model (the model folder trained on that table)")
        build_reports(args)
        return
    out = Path("/tmp") / f"easel-report-{os.getpid()}.html"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.rows), str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    r = json.loads(res.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    print(f"table: {r['rows']:,} rows x {r['columns']} columns, {r['data_mb']:,.0f} MB in memory")
    print(
        f"data_report: {r['build_s']:.1f} s; HTML written in {r['html_s']:.1f} s "
        f"({r['html_mb']:.1f} MB); total {r['build_s'] + r['html_s']:.1f} s (aim < 60 s)"
    )
    print(
        f"peak RSS {r['peak_mb']:,.0f} MB (aim < 4,096 MB); {r['peak_before_mb']:,.0f} MB "
        "of it is the table and imports before the report starts"
    )


if __name__ == "__main__":
    main()
