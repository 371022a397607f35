"""The final model of a small table: one refit on every training row (Easel) against the average
of k fold models (bagging, as AutoGluon's bagged models predict), on the same fits.

    python -m benchmarks.bagging --tables caravan,oj,... [--seeds 0,1,2] [--trials 20] [--folds 5]
        [--out FILE.jsonl[.gz]]
    python -m benchmarks.bagging --summary-only FILE

Each (table, seed) is fitted once, ``AutoML(seed=s, max_trials=N)`` on the peer benchmark's
75/25 split (bounded by trials, never by the clock). The default model (each member of an
ensemble, with its weight and pooling) then predicts the test rows in three ways:

- ``refit``: as Easel does, the member's configuration trained once on every training row;
- ``bag``: the member's configuration (the same fixed number of rounds) trained on each of k
  folds' other rows (stratified for classes), its k predictions averaged;
- ``bag_refit``: the k fold models and the refit one, averaged (k + 1 models).

Test error: 1 - ROC AUC and log loss for 2 classes, log loss for 3+, RMSE for numbers. Tables:
any of ``benchmarks/datasets.py``; decisions are made on the development set only.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import split
from benchmarks.confidence import patched
from benchmarks.stacking import _errors, run_study, study_rows, summary, tables_and_seeds


class Averaged:
    """Stands for one member: the mean of its models' scores (probabilities, or values)."""

    def __init__(self, models: list[Any]) -> None:
        self.models = models
        self.encoding = models[0].encoding

    def predict_scores(self, X: Any) -> np.ndarray:
        return np.mean([np.asarray(m.predict_scores(X), dtype=float) for m in self.models], axis=0)


def fold_models(d: Any, cand: Any, folds: int, seed: int) -> list[Any]:
    """``cand``'s configuration (fixed rounds) trained on each fold's other rows of every
    training row the fit had (search and hold-out)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from automl.candidates._base import FitContext
    from automl.training.tabular import encode_rows

    task, y = d.tinfo.task, d.y_all
    splitter = (
        KFold(folds, shuffle=True, random_state=seed)
        if task == "regression"
        else StratifiedKFold(folds, shuffle=True, random_state=seed)
    )
    ctx = FitContext(task, d.n_classes, time.monotonic() + 3600, seed)
    out = []
    for train_idx, _ in splitter.split(np.zeros(len(y)), y):
        X = encode_rows(d.pre, d.features, train_idx, cand.encoding)
        params = cand.fixed_iterations()
        out.append(type(cand)(params).fit(X, y[train_idx], ctx, categorical=d.sdata.categorical))
    return out


def run_one(table: str, seed: int, trials: int, folds: int) -> dict[str, Any]:
    import automl
    from automl.training import tabular
    from benchmarks.datasets import DATASETS

    df, target, task = DATASETS[table]()
    if task != "regression":
        df[target] = df[target].astype(str)
    train, test = split(df, target, task, seed)
    caught: dict[str, Any] = {}
    refit_default = tabular.refit_default

    def refit_and_catch(run: Any, d: Any, kept: Any, records: Any = None) -> Any:
        caught["d"] = d  # the fit's rows, encoder and target, for the fold models
        return refit_default(run, d, kept, records)

    with patched(tabular, "refit_default", refit_and_catch):
        fitted = automl.AutoML(time_budget=3600, seed=seed, max_trials=trials, task=task).fit(
            train, target=target
        )
    m, d = fitted.model_, caught["d"]
    prepared = m.prepare(test)
    report = m.preprocessor.check_columns(prepared)
    if task == "regression":
        y_test = test[target].to_numpy(dtype=float)
    else:
        classes = [str(c) for c in m.predict_proba(test.head(1)).columns]
        y_test = np.asarray([classes.index(str(v)) for v in test[target]])
    members = m.members()
    refit = {cid: m.candidates[cid] for cid in members}
    bags = {cid: fold_models(d, refit[cid], folds, seed) for cid in members}
    models = {
        "refit": {cid: [refit[cid]] for cid in members},
        "bag": bags,
        "bag_refit": {cid: [*bags[cid], refit[cid]] for cid in members},
    }
    ways: dict[str, np.ndarray] = {}
    for way in models:
        for cid in members:
            m.candidates[cid] = Averaged(models[way][cid])
        ways[way] = np.asarray(m._scores(prepared, report), dtype=float)
    for cid in members:
        m.candidates[cid] = refit[cid]
    return {
        "table": table,
        "seed": seed,
        "task": task,
        "trials": trials,
        "folds": folds,
        "members": {str(cid): [refit[cid].name, w] for cid, w in members.items()},
        "errors": {name: _errors(task, y_test, s) for name, s in ways.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tables", default="caravan,oj")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    p.add_argument("--summary-only", type=Path, default=None)
    a = p.parse_args()
    if a.summary_only is not None:
        print(summary(study_rows(a.summary_only, "refit"), "refit"))
        return
    warnings.simplefilter("ignore")
    tables, seeds = tables_and_seeds(p, a.tables, a.seeds)
    if a.folds < 2:
        p.error(f"--folds: at least 2, not {a.folds}")
    run_study(tables, seeds, lambda t, s: run_one(t, s, a.trials, a.folds), "refit", a.out)


if __name__ == "__main__":
    main()
