"""Scale-out on Dask: the same work on this computer and on ``local:2`` (or any --cluster).

    python -m benchmarks.cluster [--rows 50000] [--budget 120] [--score-rows 2000000]
                                 [--parts 8] [--cluster local:2] [--only search|scoring]

1. search: the same synthetic table (benchmarks/scale.py's ``synthetic``: 40 numeric, 8
   categorical, 2 integer columns, binary target; ``--rows`` training rows, 50,000 test rows of
   another seed) and seed, ``AutoML(time_budget=--budget)`` here and on the cluster: trials, the
   search's seconds, trials per minute of search, and the test ROC AUC of the model.
2. scoring: ``--score-rows`` synthetic rows (the issue's size is 20,000,000) written as
   ``--parts`` Parquet parts, scored by a model of the search's table: here
   (``automl.batch.predict_file`` on each part in turn, as one computer scores) and on the cluster
   (``automl.cluster.scoring.predict_on_cluster``, the folder of parts to a folder of parts):
   rows/second, and each worker's peak resident memory (``VmHWM``).

Prints one JSON line per measurement, with the load average at its start (the machine is
shared: a busy machine's figures are not comparable). Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmarks.scale import synthetic


def _line(**fields: Any) -> None:
    print(json.dumps({"load": [round(x, 2) for x in os.getloadavg()], **fields}), flush=True)


def _fit(train: pd.DataFrame, test: pd.DataFrame, budget: float, cluster: Any) -> dict[str, Any]:
    import automl

    start = time.monotonic()
    fit = automl.AutoML(time_budget=budget, seed=0, cluster=cluster).fit(train, "target")
    wall = time.monotonic() - start
    model = fit.model_
    board = model.leaderboard
    trials = int((board["source"] != "ensemble").sum())
    search = float(model.meta.timings.get("search", wall))
    proba = model.predict_proba(test.drop(columns=["target"]))["yes"].to_numpy()
    return {
        "trials": trials,
        "failed": int((board["status"] == "failed").sum()),
        "search_seconds": round(search, 1),
        "trials_per_minute": round(60.0 * trials / max(search, 1e-9), 2),
        "test_roc_auc": round(float(roc_auc_score(test["target"] == "yes", proba)), 4),
        "wall_seconds": round(wall, 1),
        "workers": sorted({w for w in board["worker"] if w}),
    }


def search(rows: int, budget: float, address: str) -> Path:
    from automl.cluster import connect

    train, test = synthetic(rows, 0), synthetic(50_000, 1)
    _line(bench="search", where="here", rows=rows, budget=budget, **_fit(train, test, budget, None))
    with connect(address) as cluster:
        got = _fit(train, test, budget, cluster)
    _line(bench="search", where=address, rows=rows, budget=budget, **got)
    model_dir = Path(tempfile.mkdtemp(prefix="easel-bench-cluster-")) / "model"
    import automl

    small = automl.AutoML(time_budget=60, seed=0, max_trials=3, candidates=["lightgbm"])
    small.fit(train, "target").save(model_dir)
    return model_dir


def _peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program (VmHWM: getrusage's
    maxrss keeps the forking parent's peak across exec, so a worker would report the client's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
    return float("nan")


def scoring(model_dir: Path, rows: int, parts: int, address: str) -> None:
    import automl
    from automl.batch import predict_file
    from automl.cluster import connect
    from automl.cluster.scoring import predict_on_cluster

    work = Path(tempfile.mkdtemp(prefix="easel-bench-parts-"))
    folder = work / "in"
    folder.mkdir()
    per = -(-rows // parts)
    for i in range(parts):
        n = min(per, rows - i * per)
        synthetic(n, 100 + i).drop(columns=["target"]).to_parquet(
            folder / f"part-{i:04d}.parquet", index=False, row_group_size=250_000
        )
    model = automl.load(model_dir)
    start = time.monotonic()
    done = 0
    for i, part in enumerate(sorted(folder.iterdir())):
        done += predict_file(model, part, work / f"local-{i}.parquet").rows
    seconds = time.monotonic() - start
    _line(bench="scoring", where="here", rows=done, parts=parts,
          rows_per_second=round(done / seconds), peak_rss_mb=round(_peak_rss_mb()))  # fmt: skip
    with connect(address) as cluster:
        cluster.client.run(_peak_rss_mb)  # (the workers start, their imports counted apart)
        start = time.monotonic()
        result = predict_on_cluster(cluster, model, model_dir, str(folder), f"{work}/out/")
        seconds = time.monotonic() - start
        peaks = cluster.client.run(_peak_rss_mb)
    _line(bench="scoring", where=address, rows=result.rows, parts=parts,
          rows_per_second=round(result.rows / seconds),
          worker_peak_rss_mb=sorted(round(v) for v in peaks.values()))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=50_000, help="training rows of the search")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per build")
    p.add_argument("--score-rows", type=int, default=2_000_000, help="rows scored (20000000)")
    p.add_argument("--parts", type=int, default=8, help="Parquet parts of the scored rows")
    p.add_argument("--cluster", default="local:2", help="the cluster to compare with")
    p.add_argument("--only", choices=["search", "scoring"], default=None)
    a = p.parse_args()
    np.seterr(all="ignore")
    warnings.simplefilter("ignore")  # (new categories in the test rows: said once per column)
    model_dir = search(a.rows, a.budget, a.cluster) if a.only != "scoring" else None
    if a.only != "search":
        if model_dir is None:
            import automl

            model_dir = Path(tempfile.mkdtemp(prefix="easel-bench-cluster-")) / "model"
            small = automl.AutoML(time_budget=60, seed=0, max_trials=3, candidates=["lightgbm"])
            small.fit(synthetic(a.rows, 0), "target").save(model_dir)
        scoring(model_dir, a.score_rows, a.parts, a.cluster)


if __name__ == "__main__":  # (the cluster's worker processes import this module again)
    main()
