"""The prediction service's speed: ``automl serve`` over real HTTP against ``Model.predict`` in
this process, on the same model and rows.

    python -m benchmarks.serving [--single 500] [--batches 5] [--clients 50] [--seconds 30]

Builds (once, cached in ``--workdir``) a model of the bundled customer churn sample (5,000 rows,
text, dates and categories; the quick preset bounded by ``--max-trials``), starts ``automl serve``
on a free port of 127.0.0.1 as a process of its own (``--quiet``), then measures:

1. one row per request, ``--single`` requests one after the other on one kept-alive connection:
   p50 and p99 latency, against ``Model.predict`` of one row in this process;
2. 10,000 rows per request (the default ``--max-rows``), ``--batches`` times: rows per second
   (median), against ``Model.predict`` of the same 10,000 rows here;
3. ``--clients`` clients at once (asyncio, one connection each) sending one row each, again and
   again, for ``--seconds``: requests per second, errors (any answer but 200, or none) and p99.

The client runs on the same machine as the service, so on a small machine they share its cores:
the figures are what a caller on the same machine sees, and a busy machine makes them noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "customer_churn.csv"
BATCH_ROWS = 10_000


def build_model(work: Path, max_trials: int) -> Path:
    import automl

    path = work / f"churn_model_{max_trials}"
    if not (path / "easel_model.json").exists():
        df = pd.read_csv(SAMPLE)
        started = time.monotonic()
        fit = automl.AutoML(time_budget=600, seed=0, max_trials=max_trials).fit(df, "churned")
        fit.save(path)
        print(f"built the model in {time.monotonic() - started:.1f} s", flush=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def service(model: Path, port: int) -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl", "serve", str(model), "--port", str(port), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import httpx

    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"automl serve ended: {proc.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("automl serve did not answer within 120 s")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in df.to_dict("records")]


def ms(seconds: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(seconds), q) * 1000)


def single_rows(url: str, model: Any, rows: pd.DataFrame, n: int) -> None:
    import httpx

    bodies = [{"rows": records(rows.iloc[[i % len(rows)]])} for i in range(n)]
    frames = [rows.iloc[[i % len(rows)]] for i in range(n)]
    with httpx.Client(base_url=url, timeout=60) as client:
        for body in bodies[:20]:  # warm-up: connections, first-call caches
            client.post("/predict", json=body).raise_for_status()
        http = []
        for body in bodies:
            t = time.perf_counter()
            client.post("/predict", json=body).raise_for_status()
            http.append(time.perf_counter() - t)
    for frame in frames[:20]:
        model.predict(frame)
    local = []
    for frame in frames:
        t = time.perf_counter()
        model.predict(frame)
        local.append(time.perf_counter() - t)
    print(f"single row, {n} requests one after the other:")
    print(f"  HTTP /predict     p50 {ms(http, 0.5):6.2f} ms   p99 {ms(http, 0.99):6.2f} ms")
    print(f"  Model.predict     p50 {ms(local, 0.5):6.2f} ms   p99 {ms(local, 0.99):6.2f} ms")
    print(f"  HTTP adds         p50 {ms(http, 0.5) - ms(local, 0.5):6.2f} ms", flush=True)


def batches(url: str, model: Any, rows: pd.DataFrame, repeat: int) -> None:
    import httpx

    batch = rows.sample(BATCH_ROWS, replace=True, random_state=0).reset_index(drop=True)
    body = {"rows": records(batch)}
    http, local = [], []
    with httpx.Client(base_url=url, timeout=300) as client:
        client.post("/predict", json=body).raise_for_status()  # warm-up
        for _ in range(repeat):
            t = time.perf_counter()
            r = client.post("/predict", json=body)  # the client's JSON encoding included
            r.raise_for_status()
            r.json()
            http.append(BATCH_ROWS / (time.perf_counter() - t))
    model.predict(batch)
    for _ in range(repeat):
        t = time.perf_counter()
        model.predict_proba(batch)
        local.append(BATCH_ROWS / (time.perf_counter() - t))
    h, m = statistics.median(http), statistics.median(local)
    print(f"{BATCH_ROWS:,} rows per request, median of {repeat}:")
    print(f"  HTTP /predict     {h:10,.0f} rows/s")
    print(f"  Model.predict     {m:10,.0f} rows/s")
    print(f"  ratio             {h / m:10.2f}", flush=True)


async def _client(
    url: str, bodies: list[dict[str, Any]], until: float, out: dict[str, Any]
) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        i = 0
        while time.perf_counter() < until:
            t = time.perf_counter()
            try:
                r = await client.post("/predict", json=bodies[i % len(bodies)])
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            out["latency"].append(time.perf_counter() - t)
            out["errors"] += 0 if ok else 1
            i += 1


def concurrent(url: str, rows: pd.DataFrame, clients: int, seconds: float) -> None:
    bodies = [{"rows": records(rows.iloc[[i]])} for i in range(min(len(rows), 200))]
    out: dict[str, Any] = {"latency": [], "errors": 0}

    async def main() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_client(url, bodies[k:], until, out) for k in range(clients)))

    started = time.perf_counter()
    asyncio.run(main())
    took = time.perf_counter() - started
    n = len(out["latency"])
    print(f"{clients} clients at once for {seconds:g} s, one row per request:")
    print(f"  {n:,} requests, {n / took:,.0f} per second, {out['errors']} errors")
    print(f"  p50 {ms(out['latency'], 0.5):.1f} ms   p99 {ms(out['latency'], 0.99):.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "easel-serving-bench"))
    p.add_argument("--max-trials", type=int, default=8)
    p.add_argument("--single", type=int, default=500)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import automl

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = build_model(work, args.max_trials)
    model = automl.load(path)
    print(f"model: {model.candidate_name()} predicting {model.target} from "
          f"{len(model.input_columns)} columns; {os.cpu_count()} cores", flush=True)  # fmt: skip
    rows = pd.read_csv(SAMPLE).drop(columns=[model.target])
    with service(path, free_port()) as url:
        single_rows(url, model, rows, args.single)
        batches(url, model, rows, args.batches)
        concurrent(url, rows, args.clients, args.seconds)


if __name__ == "__main__":
    main()
