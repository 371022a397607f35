"""Forecasting at scale: many daily series through `automl train` and `automl forecast`.

    python -m benchmarks.forecast_scale [--series 1000] [--days 1095] [--budget 120]

Generates ``--series`` daily series of ``--days`` days each (a level, a trend, a weekly and a
yearly season, noise; Parquet, series ``item``), then runs, each in its own process:
``automl train`` with ``--time-budget`` (the whole command: reading, training, writing the model
and its reports) and ``automl forecast`` of every series' horizon (14 days). Prints each step's
seconds and peak memory (RSS of the child process), the load average before and after, how
many series the statistical methods reached, the trials, what the default learned from and its
hold-out MASE. Run it at a size the machine allows; the
figures in docs/benchmarks.md say which.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_series(n: int, days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    dates = pd.date_range("2022-01-01", periods=days, freq="D")
    level = rng.uniform(20, 500, n)[:, None]
    trend = rng.normal(0, 0.05, n)[:, None] * t[None, :]
    weekly = rng.uniform(0, 0.3, n)[:, None] * np.sin(2 * np.pi * t[None, :] / 7)
    yearly = rng.uniform(0, 0.3, n)[:, None] * np.sin(2 * np.pi * t[None, :] / 365.25)
    noise = rng.normal(0, 0.08, (n, days))
    y = np.maximum(level * (1 + weekly + yearly + noise) + trend, 0).round(2)
    return pd.DataFrame(
        {
            "item": np.repeat([f"item{i:04d}" for i in range(n)], days),
            "date": np.tile(dates, n),
            "sales": y.ravel(),
        }
    )


# runs a command and prints its peak RSS (KB): each step measured in a process of its own
_WRAP = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r)"
)


def run(cmd: list[str]) -> tuple[float, float]:
    """Seconds and the command's peak RSS in MB."""
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd[2:4])} failed:\n{done.stderr}")
    seconds = time.perf_counter() - t
    return seconds, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=1000)
    p.add_argument("--days", type=int, default=3 * 365)
    p.add_argument("--budget", type=float, default=120.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "series.parquet"
        df = make_series(args.series, args.days)
        df.to_parquet(data, index=False)
        print(f"{args.series} series x {args.days} days = {len(df):,} rows; load {os.getloadavg()}")
        automl = [sys.executable, "-m", "automl"]
        ws = ["--workspace", str(Path(tmp) / "ws")]
        model = Path(tmp) / "model"
        train_s, train_mb = run(
            [*automl, "train", str(data), *ws, "--target", "sales", "--time-column", "date",
             "--series", "item", "--horizon", "14", "--time-budget", str(args.budget),
             "--out", str(model), "--quiet"]
        )  # fmt: skip
        meta = json.loads((model / "easel_model.json").read_text())
        methods = meta["timeseries"]["series"]["methods"]
        stats = sum(m != "model" for m in methods)
        notes = [w for w in meta["warnings"] if "statistical methods" in w]
        print(
            f"train: {train_s:.1f} s (budget {args.budget:g} s), peak RSS {train_mb:.0f} MB; "
            f"{stats} of {len(methods)} series by a statistical method or a blend"
        )
        for n in notes:
            print("  note:", n)
        board = meta["leaderboard"]
        default = meta["kept"][str(meta["default_candidate"])]
        print(
            f"  {len(board)} trials ({sum(r['score'] is not None for r in board)} scored); the "
            f"default, {default['candidate']}, learned from {default['trained_on']}; hold-out "
            f"MASE {default['holdout_metrics']['mase']:.4f}; {meta['refit_note'].split(';')[0]}"
        )
        for cid, k in meta["kept"].items():
            print(
                f"  kept {cid} {k['candidate']}: {k['fit_seconds_final']} s a fit, "
                f"{k['predict_ms_per_1000_rows']} ms per 1,000 values forecast, "
                f"MASE {k['holdout_metrics']['mase']:.4f}; learned from {k['trained_on']}"
            )
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in meta["timings"].items() if v >= 0.5)
        print(f"  the fit's phases: {phases}")
        out = Path(tmp) / "forecast.parquet"
        fc_s, fc_mb = run([*automl, "forecast", str(model), *ws, "--out", str(out)])
        rows = len(pd.read_parquet(out))
        print(f"forecast of every series: {fc_s:.1f} s ({rows:,} rows), peak RSS {fc_mb:.0f} MB")
        import automl as easel

        m = easel.load(model)
        t = time.perf_counter()
        m.forecast()
        print(f"  of which Model.forecast itself: {time.perf_counter() - t:.2f} s")
        print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
