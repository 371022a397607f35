"""Split and score helpers shared by every benchmark runner.

Imports nothing from automl, so the peer frameworks' own venvs (benchmarks/setup_peers.sh) can use
it: every framework gets the same split of the same data and is scored by the same code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split

METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def split(df: pd.DataFrame, target: str, task: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fixed 75/25 split of a seed (stratified on the target for classification)."""
    strat = df[target] if task != "regression" else None
    train, test = train_test_split(df, test_size=0.25, random_state=seed, stratify=strat)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_id(df: pd.DataFrame, target: str, task: str, seed: int) -> str:
    """A short fingerprint of the test rows, to check that every venv made the same split."""
    strat = df[target] if task != "regression" else None
    index = df.index.to_numpy()
    _, test = train_test_split(index, test_size=0.25, random_state=seed, stratify=strat)
    return hashlib.sha1(np.asarray(test, dtype=np.int64).tobytes()).hexdigest()[:10]


def label(v: object) -> str:
    """One spelling per class, whatever the type: 1, 1.0 and '1' are the same label."""
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    return str(int(f)) if f.is_integer() else str(f)


def score(task: str, y_true: pd.Series, pred: np.ndarray, proba: pd.DataFrame | None) -> float:
    """ROC AUC (binary; column 1 of proba is the positive class), log loss, or RMSE."""
    if task == "regression":
        return float(np.sqrt(mean_squared_error(y_true, np.asarray(pred, dtype=float))))
    assert proba is not None
    labels = [label(c) for c in proba.columns]
    y = y_true.map(label)
    if task == "binary":
        return float(roc_auc_score((y == labels[1]).astype(int), proba.iloc[:, 1]))
    p = np.clip(proba.to_numpy(dtype=float), 1e-15, 1)
    return float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=labels))


def row_values(
    task: str, y_true: pd.Series, pred: np.ndarray, proba: pd.DataFrame | None
) -> dict[str, list[float]]:
    """Per test row, what :func:`score` averages (squared error, log loss of the true class) or,
    for ROC AUC, the positive-class score and the truth: for paired bootstrap intervals."""

    def short(v: np.ndarray) -> list[float]:
        return [float(f"{x:.6g}") for x in np.asarray(v, dtype=float)]

    if task == "regression":
        return {"row_values": short((np.asarray(pred, dtype=float) - y_true.to_numpy(float)) ** 2)}
    assert proba is not None
    labels = [label(c) for c in proba.columns]
    y = y_true.map(label)
    if task == "binary":
        truth = (y == labels[1]).astype(int).tolist()
        return {"row_values": short(proba.iloc[:, 1].to_numpy(float)), "row_truth": truth}
    p = np.clip(proba.to_numpy(dtype=float), 1e-15, 1)
    p = p / p.sum(axis=1, keepdims=True)
    col = pd.Index(labels).get_indexer(y)
    return {"row_values": short(-np.log(p[np.arange(len(p)), col]))}


def error(task: str, score: float) -> float:
    """Lower is better: 1 - ROC AUC, log loss, RMSE."""
    return 1.0 - score if task == "binary" else score


def task_of(y: pd.Series) -> str:
    """binary (2 classes), multiclass (3+ text classes) or regression (numbers)."""
    if y.nunique(dropna=True) == 2:
        return "binary"
    is_number = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    return "regression" if is_number else "multiclass"


def _sorted_classes(proba: pd.DataFrame | None) -> pd.DataFrame | None:
    """Class columns in the order of their labels, so column 1 of a binary frame is the positive
    class ("yes" after "no", 1 after 0) whatever order a framework returned them in."""
    if proba is None:
        return None
    return proba[sorted(proba.columns, key=label)]


def run_main(runners: dict[str, Callable[..., Any]]) -> None:
    """Command line of a runner: load the data, fit and predict with
    ``runners[--framework](train, test, target, task, budget, seed)`` (which returns predictions,
    class probabilities or None, fit seconds, predict seconds, extra fields) and print a JSON line.

    The data is either a dataset of benchmarks/datasets.py (``--dataset``: the fixed 75/25 split
    of the seed) or a folder with ``train.parquet`` and ``test.parquet`` (``--parquet-dir``, as
    benchmarks/bigtable.py writes; no per-row values in the output, which would be 200,000 long).
    """
    p = argparse.ArgumentParser()
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--dataset")
    data.add_argument("--parquet-dir", type=Path)
    p.add_argument("--target", default="target", help="with --parquet-dir")
    p.add_argument("--framework", choices=list(runners), required=True)
    p.add_argument("--budget", type=float, default=60)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    if a.parquet_dir is not None:
        train = pd.read_parquet(a.parquet_dir / "train.parquet")
        test = pd.read_parquet(a.parquet_dir / "test.parquet")
        target, task = a.target, task_of(train[a.target])
        info: dict[str, Any] = {
            "data": str(a.parquet_dir),
            "train_rows": len(train),
            "test_rows": len(test),
        }
    else:
        from benchmarks.datasets import DATASETS

        if a.dataset not in DATASETS:
            p.error(f"unknown dataset {a.dataset!r}: one of {', '.join(DATASETS)}")
        df, target, task = DATASETS[a.dataset]()
        train, test = split(df, target, task, a.seed)
        info = {
            "dataset": a.dataset,
            "rows": len(df),
            "split": split_id(df, target, task, a.seed),
        }
    pred, proba, fit_s, predict_s, extra = runners[a.framework](
        train, test, target, task, a.budget, a.seed
    )
    if a.parquet_dir is not None:
        proba = _sorted_classes(proba)
    result = {
        **info,
        "framework": a.framework,
        "task": task,
        "columns": train.shape[1] - 1,
        "seed": a.seed,
        "score": score(task, test[target], pred, proba),
        **({} if a.parquet_dir is not None else row_values(task, test[target], pred, proba)),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra,
    }
    print(json.dumps(result))
