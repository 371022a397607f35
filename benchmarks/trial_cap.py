"""Test error against the number of trials: does a longer search help a table of a few thousand
rows, or does the best cross-validated trial become the luckiest one?

    python -m benchmarks.trial_cap --tables oj,titanic,... [--seeds 0,1,2]
        [--caps 25,50,100,200,300] [--out FILE.jsonl[.gz]]
    python -m benchmarks.trial_cap --summary-only FILE

Each (table, seed) is searched once, ``AutoML(seed=s, max_trials=largest cap)`` on the peer
benchmark's 75/25 split, with the tiny-table trial cap lifted (bounded by trials, never by the
clock). Then, for each cap K, the fit is made again with the search replaced by the first K
trials of that search (their records and validation predictions): a search bounded by K trials
runs exactly those, and keeps the best ones' predictions (tests/test_bench_trial_cap.py checks
that the replay gives the same model as ``max_trials=K``), so what follows the search (the
ensemble, the kept models, the refit) is the product's own. Test error: 1 - ROC AUC and log
loss for 2 classes, log loss for 3+, RMSE for numbers. Tables: any of ``benchmarks/datasets.py``;
decisions are made on the development set only.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import split
from benchmarks.confidence import patched
from benchmarks.stacking import _errors, run_study, study_rows, summary, tables_and_seeds

UNCAPPED = 1e9  # trials per search row: the tiny-table cap never binds in the study


@contextmanager
def uncapped() -> Iterator[None]:
    """The fit's trial cap for tiny tables lifted (only ``max_trials`` bounds the search)."""
    from automl.presets import PRESETS

    saved = {k: p["trials_per_row"] for k, p in PRESETS.items()}
    for p in PRESETS.values():
        p["trials_per_row"] = UNCAPPED
    try:
        yield
    finally:
        for k, p in PRESETS.items():
            p["trials_per_row"] = saved[k]


class Collected(BaseException):
    """The collecting fit stops once its search is cached (what follows is the replays')."""


@contextmanager
def collecting(cache: dict[str, Any]) -> Iterator[None]:
    """The fit's search runs as usual; every trial's record and validation predictions go to
    ``cache`` (not only the best ones a search keeps), then the fit stops with ``Collected``."""
    from automl.training import search as search_mod

    run = search_mod.Search.run

    def run_and_keep(self: Any, data: Any, n_rows: int) -> list[Any]:
        records = run(self, data, n_rows)
        if self.models:
            raise SystemExit("the study replays cross-validated searches only (not one split)")
        cache.update(records=list(records), oof=dict(self.oof), oof_y=self.oof_y)
        cache["predict_ms"] = dict(self.predict_ms)
        raise Collected

    with (
        patched(search_mod, "MAX_KEPT_PREDICTIONS", 10**9),
        patched(search_mod.Search, "run", run_and_keep),
        suppress(Collected),
    ):
        yield


def replayed(cache: dict[str, Any], k: int) -> Any:
    """Context: the fit's search is the first ``k`` trials of the cached one, with what a search
    bounded by ``k`` trials keeps of them (the best trials' validation predictions)."""
    from automl.training import search as search_mod

    def replay(self: Any, data: Any, n_rows: int) -> list[Any]:
        self.search_start = time.monotonic()
        self.span = max(self.deadline() - self.search_start, 0.0)
        self.records = list(cache["records"][:k])
        by_id = {r.id: r for r in self.records}
        have = [i for i in cache["oof"] if i in by_id]
        best = sorted(have, key=lambda i: self._loss(by_id[i].score))
        self.oof = {i: cache["oof"][i] for i in sorted(best[: search_mod.MAX_KEPT_PREDICTIONS])}
        self.oof_y = cache["oof_y"] if have else None
        self.predict_ms = {i: v for i, v in cache["predict_ms"].items() if i in by_id}
        done = self.records
        self.cost = {f: [r.fit_seconds for r in done if r.candidate == f] for f in self.cost}
        return self.records

    return patched(search_mod.Search, "run", replay)


def test_set_errors(fitted: Any, test: pd.DataFrame, target: str, task: str) -> dict[str, float]:
    if task == "regression":
        y = test[target].to_numpy(dtype=float)
        return _errors(task, y, np.asarray(fitted.predict(test), dtype=float))
    proba = fitted.predict_proba(test)
    classes = [str(c) for c in proba.columns]
    y = np.asarray([classes.index(str(v)) for v in test[target]])
    s = proba.to_numpy(dtype=float)
    return _errors(task, y, s[:, 1] if task == "binary" else s)


def fit(train: pd.DataFrame, target: str, task: str, seed: int, trials: int) -> Any:
    import automl

    return automl.AutoML(time_budget=36_000, seed=seed, max_trials=trials, task=task).fit(
        train, target=target
    )


def run_one(table: str, seed: int, caps: list[int]) -> dict[str, Any]:
    from benchmarks.datasets import DATASETS

    df, target, task = DATASETS[table]()
    if task != "regression":
        df[target] = df[target].astype(str)
    train, test = split(df, target, task, seed)
    cache: dict[str, Any] = {}
    errors, members = {}, {}
    t0 = time.monotonic()
    with uncapped():
        with collecting(cache):
            fit(train, target, task, seed, caps[-1])
        search_s = time.monotonic() - t0
        for k in caps:
            with replayed(cache, k):
                fitted = fit(train, target, task, seed, k)
            errors[f"k{k}"] = test_set_errors(fitted, test, target, task)
            members[f"k{k}"] = len(fitted.model_.members())
    records = cache["records"]
    return {
        "table": table,
        "seed": seed,
        "task": task,
        "search_rows": fitted.model_.rows.search,
        "validation_rows": len(cache["oof_y"]) if cache.get("oof_y") is not None else None,
        "trials": len(records),
        "search_seconds": round(search_s, 1),
        "families": [r.candidate for r in records],
        "cv_scores": [r.score for r in records],
        "members": members,
        "errors": errors,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tables", default="oj,titanic")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--caps", default="25,50,100,200,300")
    p.add_argument("--base", default=None, help="the cap the others are compared to (largest)")
    p.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    p.add_argument("--summary-only", type=Path, default=None)
    a = p.parse_args()
    try:
        caps = sorted({int(c) for c in a.caps.split(",")})
    except ValueError:
        p.error(f"--caps: whole numbers separated by commas, not {a.caps!r}")
    if caps[0] < 1:
        p.error(f"--caps: at least 1 trial, not {caps[0]}")
    base = a.base or f"k{caps[-1]}"
    if a.summary_only is not None:
        print(summary(study_rows(a.summary_only, base), base))
        return
    warnings.simplefilter("ignore")
    tables, seeds = tables_and_seeds(p, a.tables, a.seeds)
    run_study(tables, seeds, lambda t, s: run_one(t, s, caps), base, a.out)


if __name__ == "__main__":
    main()
