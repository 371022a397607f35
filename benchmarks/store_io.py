"""What keeping the workspace's files on S3 costs ($EASEL_STORE), against the workspace folder:

* import: ``Workspace.add_dataset`` (Parquet written, then uploaded before the catalog row);
* cold read: ``Workspace.read`` on a server that has no copy yet (downloaded into its cache);
* warm read: the same read again (the cached copy);
* model save: a model folder uploaded by ``add_model`` (the folder of ``--model-rows`` rows'
  quick model, saved with its reports), and its cold load on another server.

The S3 server is moto's, on this computer: it measures Easel's own overhead (the extra copy,
the requests), not a network's. Medians of ``--reps`` runs.

    python benchmarks/store_io.py                 # 1,000,000 rows x 10 columns, 3 repetitions
    python benchmarks/store_io.py --rows 200000 --reps 5
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run(base: Path, prefix: str | None, rows: object, model: object) -> dict[str, float]:
    """The seconds of each step in a new workspace under ``base`` (S3 at ``prefix``, or not)."""
    import automl
    from automl.reports import save_model
    from automl.workspace import Workspace

    def server(folder: str) -> Workspace:  # another server: the same catalog, its own folder
        (base / folder).mkdir()
        shutil.copy(base / "a" / "catalog.sqlite", base / folder / "catalog.sqlite")
        return Workspace(base / folder, store=prefix)

    out: dict[str, float] = {}
    ws = Workspace(base / "a", store=prefix)
    t = time.perf_counter()
    rec = ws.add_dataset("d", rows, "bench")  # type: ignore[arg-type]
    out["import"] = time.perf_counter() - t
    other = server("b") if prefix else ws
    t = time.perf_counter()
    other.read(rec)
    out["cold read"] = time.perf_counter() - t
    t = time.perf_counter()
    other.read(rec)
    out["warm read"] = time.perf_counter() - t
    name, version, path = ws.new_model_path("m")
    save_model(model, path, reports=True)  # type: ignore[arg-type]
    t = time.perf_counter()
    ws.add_model(name, version, path, "d@1", model.model_)  # type: ignore[attr-defined]
    out["model save"] = time.perf_counter() - t
    other = server("c") if prefix else ws
    t = time.perf_counter()
    automl.load(other.model_dir(other.get_model("m")))
    out["model load"] = time.perf_counter() - t
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model-rows", type=int, default=2_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's line per request

    import automl
    from tests.conftest import make_table

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ["EASEL_STORE_ENDPOINT_URL"] = endpoint
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    rows = make_table(args.rows, 0)
    small = make_table(args.model_rows, 1)
    model = automl.AutoML(time_budget=600, seed=0, max_trials=2, candidates=["lightgbm"])
    model.fit(small, target="churn")
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for label, store in (("folder", None), ("S3", "s3://bench/ws")):
            times: dict[str, list[float]] = {}
            for rep in range(args.reps):
                base = Path(tempfile.mkdtemp(prefix="easel-store-bench-"))
                run = one_run(base, f"{store}{rep}" if store else None, rows, model)
                for step, seconds in run.items():
                    times.setdefault(step, []).append(seconds)
                shutil.rmtree(base, ignore_errors=True)
            results[label] = times
    finally:
        server.stop()
    size = rows.memory_usage(deep=True).sum() / 2**20
    print(f"{args.rows:,} rows x {rows.shape[1]} columns ({size:,.0f} MB in memory); "
          f"median of {args.reps} (s)")  # fmt: skip
    print(f"{'':12} {'folder':>8} {'S3':>8}")
    for step in results["folder"]:
        a, b = (statistics.median(results[k][step]) for k in ("folder", "S3"))
        print(f"{step:12} {a:8.2f} {b:8.2f}")


if __name__ == "__main__":
    main()
