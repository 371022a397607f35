"""The prediction service's speed: ``automl serve`` over real HTTP against ``Model.predict`` in
this process, on the same model and rows.

    python -m benchmarks.serving [--model search|lightgbm] [--repeats 3] [--single 500]
                                 [--batches 5] [--clients 50] [--seconds 30]

Builds (once, cached in ``--workdir``) a model of the bundled customer churn sample (5,000 rows,
text, dates and categories; the search bounded by ``--max-trials``, or with ``--model lightgbm``
the same search over LightGBM only), starts ``automl serve`` on a free port of 127.0.0.1 as a
process of its own (``--quiet``), then measures:

1. one row per request, ``--single`` requests one after the other on one kept-alive connection:
   p50 and p99 latency, against ``Model.predict`` of one row in this process;
2. 10,000 rows per request (the default ``--max-rows``), ``--batches`` times: rows per second
   (median), with the client's JSON work (httpx and Python's json) and without it (the body
   sent as ready bytes, the answer not parsed), against ``Model.predict_proba`` of the same
   10,000 rows here; 1 and 2 run ``--repeats`` times, and their medians are printed last;
3. ``--clients`` clients at once (asyncio, one connection each; 0: none) sending one row each,
   again and again, for ``--seconds``: requests per second, errors (any answer but 200, or none)
   and p99.

The client runs on the same machine as the service, so on a small machine they share its cores:
the figures are what a caller on the same machine sees, and a busy machine makes them noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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


MODELS = {  # --model: how the model is built (the quick preset's search, or one family)
    "search": None,  # the search picks (a linear model won on this sample)
    "lightgbm": ["lightgbm"],
}


def build_model(work: Path, max_trials: int, kind: str = "search") -> Path:
    import automl

    path = work / (f"churn_model_{max_trials}" + ("" if kind == "search" else f"_{kind}"))
    if not (path / "easel_model.json").exists():
        df = pd.read_csv(SAMPLE)
        started = time.monotonic()
        fit = automl.AutoML(
            time_budget=600, seed=0, max_trials=max_trials, candidates=MODELS[kind]
        ).fit(df, "churned")
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


def single_rows(url: str, model: Any, rows: pd.DataFrame, n: int) -> dict[str, float]:
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
    return {
        "http p50 ms": ms(http, 0.5),
        "http p99 ms": ms(http, 0.99),
        "local p50 ms": ms(local, 0.5),
        "local p99 ms": ms(local, 0.99),
    }


def batches(url: str, model: Any, rows: pd.DataFrame, repeat: int) -> dict[str, float]:
    """Rows per second for a batch: over HTTP with the client's own JSON work (httpx encodes
    the body with Python's json, the answer is parsed with it), over HTTP as the service sees it
    (the body sent as ready bytes, the answer received but not parsed), and in this process."""
    import httpx

    batch = rows.sample(BATCH_ROWS, replace=True, random_state=0).reset_index(drop=True)
    body = {"rows": records(batch)}
    encoded = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    http, service, local = [], [], []
    with httpx.Client(base_url=url, timeout=300) as client:
        client.post("/predict", json=body).raise_for_status()  # warm-up
        for _ in range(repeat):
            t = time.perf_counter()
            r = client.post("/predict", json=body)  # the client's JSON encoding included
            r.raise_for_status()
            r.json()
            http.append(BATCH_ROWS / (time.perf_counter() - t))
            t = time.perf_counter()
            r = client.post("/predict", content=encoded, headers=headers)
            r.raise_for_status()
            service.append(BATCH_ROWS / (time.perf_counter() - t))
    model.predict(batch)
    for _ in range(repeat):
        t = time.perf_counter()
        model.predict_proba(batch)
        local.append(BATCH_ROWS / (time.perf_counter() - t))
    h, s, m = statistics.median(http), statistics.median(service), statistics.median(local)
    print(f"{BATCH_ROWS:,} rows per request, median of {repeat}:")
    print(f"  HTTP /predict, client's JSON included   {h:10,.0f} rows/s   ratio {h / m:.2f}")
    print(f"  HTTP /predict, body sent as bytes       {s:10,.0f} rows/s   ratio {s / m:.2f}")
    print(f"  Model.predict_proba in this process     {m:10,.0f} rows/s", flush=True)
    return {
        "http rows/s": h,
        "bytes rows/s": s,
        "local rows/s": m,
        "http ratio": h / m,
        "bytes ratio": s / m,
    }


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
    p.add_argument("--model", choices=sorted(MODELS), default="search")
    p.add_argument("--repeats", type=int, default=3, help="runs of 1 and 2 (medians printed)")
    p.add_argument("--single", type=int, default=500)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import automl

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = build_model(work, args.max_trials, args.model)
    model = automl.load(path)
    print(f"model: {model.candidate_name()} predicting {model.target} from "
          f"{len(model.input_columns)} columns; {os.cpu_count()} cores", flush=True)  # fmt: skip
    rows = pd.read_csv(SAMPLE).drop(columns=[model.target])
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    runs: list[dict[str, float]] = []
    with service(path, free_port()) as url:
        for _ in range(args.repeats):
            runs.append(
                single_rows(url, model, rows, args.single) | batches(url, model, rows, args.batches)
            )
        if args.clients:
            concurrent(url, rows, args.clients, args.seconds)
    print(f"medians of {len(runs)} runs (load average {os.getloadavg()[0]:.1f} at the end):")
    for key in runs[0]:
        print(f"  {key:14} {statistics.median(r[key] for r in runs):12,.2f}")


if __name__ == "__main__":
    main()
