"""Run one peer framework on one dataset in this process and print one JSON line of results.

Started by peers.py and scale_peers.py with the python of the framework's own venv
(benchmarks/setup_peers.sh), so it imports nothing from automl: only the dataset loaders and the
shared split/score helpers. Same split, same scorer and same output fields as _run_one.py.

    python -m benchmarks._run_peer --dataset wine --framework flaml --budget 10 --seed 0
    python -m benchmarks._run_peer --parquet-dir /tmp/big --framework h2o --budget 120
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import label, run_main

# (predictions, class probabilities or None, fit seconds, predict seconds, extra fields)
Result = tuple[np.ndarray, pd.DataFrame | None, float, float, dict[str, Any]]

FLAML_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
AUTOGLUON_METRIC = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "root_mean_squared_error",
}
H2O_METRIC = {"binary": "AUC", "multiclass": "logloss", "regression": "RMSE"}
# H2O's Java heap: room for a million rows of a few dozen columns, bounded on a shared machine
H2O_MAX_MEM = "8G"


def run_constant(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float, seed: int
) -> Result:
    """Training mean, or the training class frequencies for every row."""
    t0 = time.monotonic()
    y = train[target]
    if task == "regression":
        mean = float(y.mean())
        fit_s = time.monotonic() - t0
        return np.full(len(test), mean), None, fit_s, 0.0, {}
    priors = y.map(label).value_counts(normalize=True).sort_index()
    fit_s = time.monotonic() - t0
    proba = pd.DataFrame(np.tile(priors.to_numpy(), (len(test), 1)), columns=priors.index)
    pred = np.full(len(test), priors.idxmax(), dtype=object)
    return pred, proba, fit_s, 0.0, {}


def run_flaml(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float, seed: int
) -> Result:
    from flaml import AutoML

    x, y = train.drop(columns=[target]), train[target]
    if task != "regression":
        y = y.map(label)
    automl = AutoML()
    t0 = time.monotonic()
    automl.fit(
        x,
        y,
        task="regression" if task == "regression" else "classification",
        metric=FLAML_METRIC[task],
        time_budget=budget,
        n_jobs=2,
        seed=seed,
        verbose=0,
    )
    fit_s = time.monotonic() - t0
    xt = test.drop(columns=[target])
    t0 = time.monotonic()
    pred = np.asarray(automl.predict(xt))
    proba = None
    if task != "regression":
        proba = pd.DataFrame(automl.predict_proba(xt), columns=automl.classes_)
    predict_s = time.monotonic() - t0
    extra = {"best": automl.best_estimator, "trials": len(automl.config_history)}
    return pred, proba, fit_s, predict_s, extra | {"version": _version("flaml")}


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _autogluon(presets: str) -> Callable[..., Result]:
    def run(
        train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float, seed: int
    ) -> Result:
        from autogluon.tabular import TabularPredictor

        if task != "regression":
            train = train.assign(**{target: train[target].map(label)})
        with tempfile.TemporaryDirectory(prefix="ag-") as path:
            t0 = time.monotonic()
            predictor = TabularPredictor(
                label=target, problem_type=task, eval_metric=AUTOGLUON_METRIC[task], path=path
            ).fit(train, time_limit=budget, presets=presets, verbosity=0)
            fit_s = time.monotonic() - t0
            xt = test.drop(columns=[target])
            t0 = time.monotonic()
            pred = np.asarray(predictor.predict(xt))
            proba = None if task == "regression" else predictor.predict_proba(xt)
            predict_s = time.monotonic() - t0
            extra = {"best": predictor.model_best, "models": len(predictor.model_names())}
        return pred, proba, fit_s, predict_s, extra | {"version": _version("autogluon.tabular")}

    return run


def _free_port() -> int:
    """A port on 127.0.0.1 that is free now, with the next one free too (H2O listens on both)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no two free ports in a row on 127.0.0.1")


def _peak_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in MB; 0 if it cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        for line in open(f"/proc/{pid}/status"):  # noqa: SIM115 (short read of a /proc file)
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _h2o_frame(df: pd.DataFrame) -> Any:
    """Upload a pandas frame into H2O, text columns as categories ("enum")."""
    import h2o

    types = {
        str(c): "enum"
        for c in df.columns
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])
    }
    return h2o.H2OFrame(df, column_types=types or None)


def run_h2o(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float, seed: int
) -> Result:
    """H2OAutoML with its defaults (cross-validation, stacked ensembles), on a Java server of its
    own: 2 threads, a bounded heap, a free port on 127.0.0.1, shut down at the end. fit_s is
    ``train`` alone (what max_runtime_secs bounds); upload_s the training rows' upload; predict_s
    goes from the pandas test rows to their probabilities (upload, predict, download)."""
    import h2o
    from h2o.automl import H2OAutoML
    from h2o.backend import H2OLocalServer

    os.environ["DO_NOT_TRACK"] = "1"  # no usage reports (they are opt-in; this makes sure)
    h2o.no_progress()
    with tempfile.TemporaryDirectory(prefix="h2o-") as tmp:
        server = H2OLocalServer.start(
            nthreads=2,
            max_mem_size=int(H2O_MAX_MEM[:-1]) << 30,
            port=f"{_free_port()}+",
            ice_root=tmp,
            log_dir=tmp,
            log_level="WARN",
            bind_to_localhost=True,
            verbose=False,
        )
        jvm: subprocess.Popen[bytes] = server._process  # its own session: we stop it ourselves
        try:
            h2o.connect(server=server, verbose=False, telemetry=False)
            t0 = time.monotonic()
            frame = _h2o_frame(train)
            levels: list[str] = []
            if task != "regression":
                frame[target] = frame[target].asfactor()
                levels = frame[target].levels()[0]
            upload_s = time.monotonic() - t0
            aml = H2OAutoML(
                max_runtime_secs=max(1, round(budget)),
                seed=seed,
                sort_metric=H2O_METRIC[task],
                verbosity=None,
            )
            t0 = time.monotonic()
            aml.train(y=target, training_frame=frame)
            fit_s = time.monotonic() - t0
            t0 = time.monotonic()
            scored = aml.leader.predict(_h2o_frame(test.drop(columns=[target])))
            out = scored.as_data_frame(use_pandas=True)
            predict_s = time.monotonic() - t0
            pred = out["predict"].to_numpy()
            proba = None
            if task != "regression":  # one column per class, in the order of the levels (named
                # "p0", "p1" when the classes are numbers)
                proba = pd.DataFrame(out.drop(columns=["predict"]).to_numpy(), columns=levels)
            extra = {
                "best": aml.leader.model_id.split("_AutoML_")[0],
                "models": int(aml.leaderboard.nrows),
                "upload_s": upload_s,
                "jvm_peak_mb": _peak_mb(jvm.pid),
                "version": h2o.__version__,
            }
        finally:
            with contextlib.suppress(Exception):
                h2o.cluster().shutdown()
            try:
                jvm.wait(timeout=30)
            except subprocess.TimeoutExpired:
                jvm.kill()
                jvm.wait()
    return pred, proba, fit_s, predict_s, extra


RUNNERS: dict[str, Callable[..., Result]] = {
    "constant": run_constant,
    "flaml": run_flaml,
    "ag_medium": _autogluon("medium_quality"),
    "ag_best": _autogluon("best_quality"),
    "h2o": run_h2o,
}


def main() -> None:
    run_main(RUNNERS)


if __name__ == "__main__":
    main()
