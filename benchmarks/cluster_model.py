"""A model of scale-out on N machines, from parts measured here (a plan, not a measurement of N).

    python -m benchmarks.cluster_model [--cluster local:2] [--rows 10000] [--part-rows 250000]

What one computer and a small cluster can measure, and what they predict for 4, 16 and 64
workers (each worker one process with one core, as ``--cluster local:N`` starts them):

- the search: a trial's seconds (a default LightGBM configuration on a ``--rows`` sample of the
  synthetic table, fitted here), the scheduler's cost per task (tiny tasks, sequential round trips
  and a burst), the seconds to send a sample's rows to a worker (once per sample and worker), and
  the driver's own serial work per trial (TPE asking and being told, with the study's history);
- batch scoring: a worker's rows/second on a ``--part-rows`` Parquet part, and the client's rows
  per second writing the scored parts (the output is written on the client, in input order).

The model: the search runs one trial per worker, so trials per second grow as
``W / (trial + task)`` until the driver, which asks and tells every trial in turn, is busy all the
time (``1 / driver``); scoring grows as ``W x worker rows/s`` until the client's writing is the
bottleneck. Transfers are paid once per sample and worker (search) or per part (scoring, read by
the worker from the shared storage: not modelled, it depends on the storage). Everything printed
as one JSON line per part, then the table of predicted speed-ups.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scale import synthetic

WORKERS = (1, 2, 4, 16, 64)


def _line(**fields: Any) -> None:
    print(json.dumps({"load": [round(x, 2) for x in os.getloadavg()], **fields}), flush=True)


def _noop(x: int) -> int:
    return x


def trial_seconds(rows: int, repeats: int = 3) -> float:
    """Median seconds of a default LightGBM trial on ``rows`` rows (one thread, as a worker)."""
    import lightgbm as lgb

    df = synthetic(rows, 0)
    y = (df.pop("target") == "yes").to_numpy(int)
    X = df.select_dtypes("number").to_numpy(float)
    cut = int(0.8 * rows)
    seconds = []
    for _ in range(repeats):
        start = time.monotonic()
        train = lgb.Dataset(X[:cut], y[:cut])
        valid = lgb.Dataset(X[cut:], y[cut:], reference=train)
        params = {"objective": "binary", "verbose": -1, "num_threads": 1, "learning_rate": 0.1}
        lgb.train(params, train, 2000, valid_sets=[valid],
                  callbacks=[lgb.early_stopping(50, verbose=False)])  # fmt: skip
        seconds.append(time.monotonic() - start)
    return statistics.median(seconds)


def driver_seconds(history: int = 100) -> float:
    """Seconds the driver spends asking TPE for a configuration and telling it the result, with
    ``history`` trials already told (what the search does between two trials, per trial)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    rng = np.random.default_rng(0)

    def ask_tell() -> None:
        trial = study.ask()
        trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("num_leaves", 4, 255, log=True)
        trial.suggest_int("min_child_samples", 2, 100, log=True)
        trial.suggest_float("feature_fraction", 0.4, 1.0)
        trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True)
        study.tell(trial, float(rng.random()))

    for _ in range(history):
        ask_tell()
    start = time.monotonic()
    for _ in range(20):
        ask_tell()
    return (time.monotonic() - start) / 20


def scheduler(cluster: Any, sample_rows: int) -> dict[str, float]:
    """The cluster's cost per task (sequential round trips and a burst of 500), and the seconds
    to send a sample's rows (float64, the synthetic table's width) to one worker."""
    client = cluster.client
    client.submit(_noop, -1, pure=False).result()  # (the first task starts the workers' imports)
    rounds = []
    for i in range(50):
        start = time.monotonic()
        client.submit(_noop, i, pure=False).result()
        rounds.append(time.monotonic() - start)
    start = time.monotonic()
    client.gather(client.map(_noop, range(500), pure=False))
    burst = (time.monotonic() - start) / 500
    worker = next(iter(client.scheduler_info()["workers"]))
    sample = np.random.default_rng(0).normal(size=(sample_rows, 50))
    start = time.monotonic()
    sent = client.scatter(sample, workers=[worker], direct=True)
    client.submit(np.shape, sent, workers=[worker], pure=False).result()
    send = time.monotonic() - start
    return {
        "round_trip": statistics.median(rounds),
        "per_task_in_a_burst": burst,
        "send_sample": send,
        "sample_mb": sample.nbytes / 1e6,
    }


def scoring_parts(part_rows: int) -> dict[str, float]:
    """A worker's rows/second scoring one Parquet part (one thread), and the client's rows per
    second writing a scored part."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    import automl
    from automl.batch import predict_file

    work = Path(tempfile.mkdtemp(prefix="easel-bench-model-"))
    train = synthetic(20_000, 0)
    small = automl.AutoML(time_budget=60, seed=0, max_trials=3, candidates=["lightgbm"])
    model = small.fit(train, "target").model_
    part = work / "part.parquet"
    synthetic(part_rows, 7).drop(columns=["target"]).to_parquet(part, index=False)
    os.environ["OMP_NUM_THREADS"] = "1"
    with threadpool_limits(1):
        start = time.monotonic()
        predict_file(model, part, work / "scored.parquet")
        score = time.monotonic() - start
    table = pq.read_table(work / "scored.parquet")
    start = time.monotonic()
    pq.write_table(pa.concat_tables([table]), work / "again.parquet")
    write = time.monotonic() - start
    return {"worker_rows_per_s": part_rows / score, "client_write_rows_per_s": part_rows / write}


def predicted(parts: dict[str, float]) -> list[dict[str, Any]]:
    """Speed-ups over one worker for each count of workers (the model in the docstring)."""
    trial, task, driver = parts["trial"], parts["per_task"], parts["driver"]
    worker, write = parts["worker_rows_per_s"], parts["client_write_rows_per_s"]
    one_search = 1.0 / (trial + task)
    one_score = worker
    rows = []
    for w in WORKERS:
        search = min(w / (trial + task), 1.0 / max(driver, 1e-9))
        score = min(w * worker, write)
        rows.append({
            "workers": w,
            "search_speedup": round(search / one_search, 2),
            "scoring_speedup": round(score / one_score, 2),
        })  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cluster", default="local:2")
    p.add_argument("--rows", type=int, default=10_000, help="rows of a search sample")
    p.add_argument("--part-rows", type=int, default=250_000, help="rows of a scored part")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    from automl.cluster import connect

    trial = trial_seconds(a.rows)
    _line(part="trial", rows=a.rows, seconds=round(trial, 3))
    driver_100, driver = driver_seconds(100), driver_seconds(1000)  # TPE's cost grows with history
    _line(part="driver", seconds_per_trial_after_100=round(driver_100, 4),
          seconds_per_trial_after_1000=round(driver, 4))  # fmt: skip
    with connect(a.cluster) as cluster:
        sched = scheduler(cluster, a.rows)
    _line(part="scheduler", cluster=a.cluster, **{k: round(v, 4) for k, v in sched.items()})
    score = scoring_parts(a.part_rows)
    _line(part="scoring", part_rows=a.part_rows, **{k: round(v) for k, v in score.items()})
    parts = {
        "trial": trial,
        "per_task": sched["round_trip"],
        "driver": driver,
        **score,
    }
    stop_search = (trial + sched["round_trip"]) / max(driver, 1e-9)
    stop_scoring = score["client_write_rows_per_s"] / score["worker_rows_per_s"]
    print("\nA plan from the parts above (not measured on that many workers):")
    print(f"{'workers':>8}{'search speed-up':>17}{'scoring speed-up':>18}")
    for row in predicted(parts):
        print(f"{row['workers']:>8}{row['search_speedup']:>17.2f}{row['scoring_speedup']:>18.2f}")
    print(
        f"the search stops growing at about {stop_search:,.0f} workers (the driver asks and tells "
        f"every trial: {driver * 1000:.1f} ms each against {trial:.2f} s per trial); scoring at "
        f"about {stop_scoring:,.0f} workers (the client writes every scored row: "
        f"{score['client_write_rows_per_s']:,.0f} rows/s against "
        f"{score['worker_rows_per_s']:,.0f} per worker)"
    )


if __name__ == "__main__":  # (the cluster's worker processes import this module again)
    main()
