"""Scale: a 1,000,000-row x 50-column build, prediction throughput, and chunked scoring memory.

    python -m benchmarks.scale [--rows 1000000] [--budget 120]

Prints:
1. build: wall seconds vs the budget, peak memory (RSS of the training process), search rows,
   whether the final model was refit on all rows;
2. predict: rows/second of Model.predict on raw rows vs the default candidate's own scoring of the
   already-encoded rows (each member of an ensemble on its encoding), same process (median of 3);
3. chunked scoring: peak memory of ``automl predict`` on CSV files of two sizes (bounded memory
   means the larger file does not need more).
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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """40 numeric (5% missing), 8 categorical (5-500 levels), 2 integer columns; binary target."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    z = np.zeros(rows)
    for i in range(40):
        x = rng.normal(size=rows)
        if i < 10:
            z += x * (0.5 if i % 2 else -0.3)
        x[rng.random(rows) < 0.05] = np.nan
        data[f"num_{i}"] = x
    for i, levels in enumerate([5, 10, 20, 50, 100, 200, 300, 500]):
        codes = rng.integers(0, levels, rows)
        z += (codes % 3 == 0) * 0.4 * (i < 4)
        data[f"cat_{i}"] = pd.array([f"L{c}" for c in range(levels)], dtype="str")[codes]
    data["int_0"] = rng.integers(0, 100, rows)
    data["int_1"] = rng.integers(0, 10, rows)
    z += np.sin(data["int_0"] / 10)  # type: ignore[operator]
    data["target"] = np.where(z + rng.normal(0, 1, rows) > 0.5, "yes", "no")
    return pd.DataFrame(data)


def _write(rows: int, seed: int, path: Path, drop_target: bool = False) -> None:
    """Write a synthetic table from a separate process, so this one stays small: on Linux a
    child's peak RSS starts from its parent's RSS at fork time."""
    code = (
        "import sys; from benchmarks.scale import synthetic;"
        f"df = synthetic({rows}, {seed});"
        + ("df = df.drop(columns=['target']);" if drop_target else "")
        + "p = sys.argv[1];"
        + "df.to_parquet(p) if p.endswith('.parquet') else df.to_csv(p, index=False)"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True)


def _peak_child_mb(cmd: list[str]) -> tuple[float, float, str]:
    """Run a command; return (seconds, peak RSS MB of that child, stderr tail)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    return time.monotonic() - t0, usage.ru_maxrss / 1024, err[-4000:]


def build(rows: int, budget: float, workdir: Path) -> Path:
    data = workdir / "train.parquet"
    _write(rows, 0, data)
    model = workdir / "model"
    code = (
        "import sys, time, json, pandas as pd, automl;"
        "df = pd.read_parquet(sys.argv[1]);"
        "t = time.monotonic();"
        f"m = automl.AutoML(time_budget={budget}, seed=0).fit(df, target='target');"
        "fit = time.monotonic() - t; m.save(sys.argv[2]); meta = m.model_.meta;"
        "print(json.dumps({'fit_s': fit, 'rows': meta.rows.to_dict(),"
        "'refit': meta.refit_on_all_rows,"
        "'trials': len(meta.leaderboard), 'metrics': m.metrics, 'timings': meta.timings}),"
        "file=sys.stderr)"
    )
    secs, peak, err = _peak_child_mb([sys.executable, "-c", code, str(data), str(model)])
    info = json.loads(err.strip().splitlines()[-1])
    print(
        f"build: {rows:,} rows x 50 columns, budget {budget:g} s: fit {info['fit_s']:.1f} s "
        f"({info['fit_s'] / budget:.2f} x budget), peak RSS {peak:,.0f} MB (process incl. data), "
        f"search rows {info['rows']['search']:,}, trials {info['trials']}, "
        f"refit on all rows: {info['refit']}, hold-out AUC {info['metrics']['roc_auc']:.4f}; "
        f"phases (s): {info['timings']}",
        flush=True,
    )
    return model


def throughput(model_dir: Path, rows: int) -> None:
    """Model.predict on raw rows against the default's own scoring on already-encoded rows
    (every member of an ensemble, each on its own encoding), median of 3."""
    import automl

    warnings.simplefilter("ignore")  # unseen-category notes, repeated per call
    model = automl.load(model_dir)
    df = synthetic(rows, seed=1).drop(columns=["target"])
    members = model.members()
    cands = {cid: model.candidates[cid] for cid in members}
    encoded = {
        enc: (model.preprocessor.transform_tree(df) if enc == "tree"
              else model.preprocessor.transform_linear(df))
        for enc in {c.encoding for c in cands.values()}
    }  # fmt: skip
    ours, raw = [], []
    for _ in range(3):
        t0 = time.monotonic()
        model.predict(df)
        ours.append(time.monotonic() - t0)
        t0 = time.monotonic()
        for cand in cands.values():
            cand.predict_scores(encoded[cand.encoding])
        raw.append(time.monotonic() - t0)
    o, r = statistics.median(ours), statistics.median(raw)
    names = " + ".join(model.candidate_name(cid) for cid in members)
    print(
        f"predict ({names}): Model.predict on raw rows {rows / o:,.0f} rows/s ({o:.2f} s); the "
        f"candidates' own scoring of the encoded rows {rows / r:,.0f} rows/s ({r:.2f} s); "
        f"ratio {r / o:.2f} (target >= 0.5)",
        flush=True,
    )


def chunked(model_dir: Path, workdir: Path, sizes: list[int]) -> None:
    automl_cli = str(Path(sys.executable).parent / "automl")
    for n in sizes:
        src = workdir / f"score_{n}.csv"
        _write(n, 2, src, drop_target=True)
        out = workdir / f"scored_{n}.csv"
        cmd = [automl_cli, "predict", str(model_dir), str(src), "--out", str(out), "--quiet"]
        cmd += ["--chunk-rows", "100000"]
        secs, peak, _ = _peak_child_mb(cmd)
        size_mb = src.stat().st_size / 1e6
        print(
            f"chunked: automl predict on a {size_mb:,.0f} MB CSV ({n:,} rows): {secs:.1f} s, "
            f"{n / secs:,.0f} rows/s, peak RSS {peak:,.0f} MB",
            flush=True,
        )
        src.unlink()
        out.unlink()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--budget", type=float, default=120)
    p.add_argument("--chunk-sizes", default="500000,2000000")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build(a.rows, a.budget, work)
        chunked(model, work, [int(s) for s in a.chunk_sizes.split(",")])
        throughput(model, a.rows)  # last: it holds a million rows in this process


if __name__ == "__main__":
    main()
