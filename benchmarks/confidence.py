"""Near-separable classes: where does Easel's final model lose confidence?

    python -m benchmarks.confidence [--tables iris,wine,...] [--seeds 0,1,2] [--trials 12]
        [--variants base,knn_floor,...] [--budget 60] [--out FILE.jsonl] [--summary-only FILE]
    python -m benchmarks.confidence --linear-sweep [--tables ...] [--seeds ...]
    python -m benchmarks.confidence --pooling-study [--tables ...] [--seeds ...] [--trials 12]

Each (table, seed, variant) fits ``AutoML(seed=s, max_trials=N)`` (with ``--budget B`` and no
``--trials``: a time-bounded build instead) on the fixed stratified 75/25 split of the peer
benchmark and scores the 25% test rows: the test log loss of the default model and of every kept
candidate (so a weak ensemble member shows), against a default ``LGBMClassifier``. A *variant*
changes one suspect for the whole run (the rest is the code as it is), in this process only:

- ``base``: the code as it is;
- ``before``: ``knn_fixed`` and ``linear_c01`` together, the code before these two changes;
- ``knn_fixed``: the k-NN family's share of each probability taken from the class shares fixed
  at a thousandth (as before), not chosen on the training rows;
- ``knn_floor``: that share fixed at ``--floor`` (default 1e-6);
- ``linear_c01``: the linear model's second default configuration regularized with C = 0.1 (as
  before), not C = 100;
- ``no_knn`` / ``no_ensemble``: without the k-NN family / without the ensemble;
- ``linear_wide``: the linear model's inverse regularization ``C`` searched up to 1e5 (not 1e3)
  with up to 3,000 solver iterations (not 300);
- ``patience``: boosting stops after 200 rounds without progress on the validation rows (not 50);
- ``no_refit``: the default is not refit on all the rows (it keeps the rounds its search found);
- ``no_pairs``: the linear family without its configuration on products of pairs of inputs;
- ``mean_pool``: ensembles of classes average their members' probabilities (as before), not
  their log-probabilities.

``--pooling-study`` fits each (table, seed) once, refits every kept candidate on all the rows
(as the default would be), and compares ways of building the ensemble from the same search's
validation predictions, scored on the test rows: ``mean`` (the greedy weights on averaged
probabilities), ``log`` (greedy on averaged log-probabilities), ``log_near`` (the same among the
trials within ``NEAR_LOSS_RATIO`` times the best validation log loss: what Easel does) and
``bagged`` (the greedy weights averaged over 25 bootstrap samples of the validation rows).

Tables: ``iris`` (scikit-learn), the peer benchmark's tables with classes (``wine``,
``digits``, ``penguins``, ``anes96``, ``breast_cancer``, ``fair``, ``adult``; log loss for 2
classes too) and ``sep3``, ``sep4``, ``sep5``: 1,200 rows of ``make_classification`` with 3, 4
and 5 near-separable classes (10 columns, 6 informative, ``class_sep`` 4, one cluster per class,
seed 0). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import split

VARIANTS = [
    "base", "before", "knn_fixed", "linear_c01", "knn_floor", "no_knn", "no_ensemble",
    "linear_wide", "patience", "no_refit", "no_pairs", "mean_pool",
]  # fmt: skip


def separable(n_classes: int, seed: int = 0, rows: int = 1200, sep: float = 4.0) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows,
        n_features=10,
        n_informative=6,
        n_redundant=2,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=sep,
        flip_y=0.0,
        random_state=seed,
    )
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    df["target"] = [f"class {v}" for v in y]
    return df


def load_table(name: str) -> pd.DataFrame:
    """A table with a text ``target`` column of classes."""
    if name.startswith("sep"):
        return separable(int(name[3:]))
    from benchmarks.datasets import DATASETS

    if name in DATASETS:  # the peer benchmark's tables with classes (2 or more)
        df, target, task = DATASETS[name]()
        if task == "regression":
            raise SystemExit(f"{name} has no classes: choose a table with classes")
        df = df.rename(columns={target: "target"})
        df["target"] = df["target"].astype(str)
        return df
    from sklearn import datasets

    df = getattr(datasets, f"load_{name}")(as_frame=True).frame
    df["target"] = "class " + df["target"].astype(str)
    return df


TABLES = ["iris", "wine", "penguins", "sep3", "sep4", "sep5", "digits"]


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextlib.contextmanager
def variant(name: str, floor: float) -> Iterator[dict[str, Any]]:
    """Apply variant ``name`` in this process; yields extra ``AutoML`` options."""
    from automl.candidates import _knn, _lightgbm, _linear, _xgboost
    from automl.training import common, tabular

    with contextlib.ExitStack() as stack:
        options: dict[str, Any] = {}
        if name in ("knn_fixed", "before"):
            stack.enter_context(patched(_knn, "FLOOR_SHARES", (_knn.PRIOR_SHARE,)))
        if name in ("linear_c01", "before"):
            stack.enter_context(patched(_linear, "LOW_REGULARIZATION_C", 0.1))
        if name in ("knn_fixed", "linear_c01", "before"):
            pass
        elif name == "knn_floor":
            stack.enter_context(patched(_knn, "FLOOR_SHARES", (floor,)))
        elif name == "no_knn":
            options["candidates"] = ["lightgbm", "xgboost", "linear", "forest"]
        elif name == "no_ensemble":
            options["ensemble"] = False
        elif name == "linear_wide":
            stack.enter_context(_wide_linear(_linear))
        elif name == "patience":
            stack.enter_context(patched(_lightgbm, "EARLY_STOP_ROUNDS", 200))
            stack.enter_context(patched(_xgboost, "EARLY_STOP_ROUNDS", 200))
        elif name == "no_refit":

            def no_refit(*args: Any, **kwargs: Any) -> tuple[None, str]:
                return None, "no time"

            stack.enter_context(patched(tabular, "refit", no_refit))
            stack.enter_context(patched(common, "refit", no_refit))
        elif name == "mean_pool":
            stack.enter_context(patched(tabular, "pooling_for", lambda *args: "mean"))
        elif name == "no_pairs":
            from benchmarks.small_tables import variant as small_variant

            stack.enter_context(small_variant("no_pairs"))
        elif name != "base":
            raise SystemExit(f"unknown variant {name!r}: one of {', '.join(VARIANTS)}")
        yield options


@contextlib.contextmanager
def _wide_linear(module: Any) -> Iterator[None]:
    cls = module.LinearCandidate
    old_suggest, old_fit = cls.suggest, cls.fit
    real_lr = module.LogisticRegression

    def suggest(trial: Any, task: str, n_rows: int) -> dict[str, Any]:
        if task == "regression":
            return dict(old_suggest(trial, task, n_rows))
        return {
            "C": trial.suggest_float("C", 1e-4, 1e5, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        }

    def lr(*args: Any, **kwargs: Any) -> Any:
        kwargs["max_iter"] = 3000
        return real_lr(*args, **kwargs)

    cls.suggest = staticmethod(suggest)
    module.LogisticRegression = lr
    try:
        yield
    finally:
        cls.suggest, cls.fit = old_suggest, old_fit
        module.LogisticRegression = real_lr


def log_loss_of(test: pd.DataFrame, proba: pd.DataFrame) -> float:
    from sklearn.metrics import log_loss

    p = np.clip(proba.to_numpy(dtype=float), 1e-15, 1)
    p = p / p.sum(axis=1, keepdims=True)
    return float(log_loss(test["target"].astype(str), p, labels=[str(c) for c in proba.columns]))


def default_lightgbm(train: pd.DataFrame, test: pd.DataFrame) -> float:
    import lightgbm as lgb

    X, y = train.drop(columns="target"), train["target"].astype(str)
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    X_test = test.drop(columns="target")
    for c in cats:
        X[c] = X[c].astype("category")
        X_test[c] = pd.Categorical(X_test[c], categories=X[c].cat.categories)
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=2, random_state=0).fit(X, y)
    return log_loss_of(test, pd.DataFrame(model.predict_proba(X_test), columns=model.classes_))


def run_one(
    table: str, seed: int, name: str, trials: int | None, budget: float, floor: float
) -> dict[str, Any]:
    import automl

    df = load_table(table)
    train, test = split(df, "target", "multiclass", seed)
    with variant(name, floor) as options:
        t0 = time.monotonic()
        fitted = automl.AutoML(
            time_budget=budget if trials is None else 600, seed=seed, max_trials=trials, **options
        ).fit(train, target="target")
        fit_s = time.monotonic() - t0
        model = fitted.model_
        default = model.default_id
        kept: dict[str, Any] = {}
        for cid in list(model.kept):
            model.set_default(cid)
            kept[str(cid)] = {
                "family": model.kept[cid].candidate,
                "members": {str(k): w for k, w in model.members(cid).items()},
                "test_log_loss": log_loss_of(test, model.predict_proba(test)),
            }
        model.set_default(default)
    return {
        "table": table,
        "rows": len(df),
        "seed": seed,
        "variant": name,
        "trials": trials,
        "budget": budget if trials is None else None,
        "easel": kept[str(default)]["test_log_loss"],
        "default_family": kept[str(default)]["family"],
        "lightgbm": default_lightgbm(train, test),
        "kept": kept,
        "fit_s": round(fit_s, 1),
    }


def linear_sweep(tables: list[str], seeds: list[int]) -> str:
    """Test log loss of scikit-learn's logistic regression on standardized number columns (300
    solver iterations, as the linear family) for a range of C: how much the regularization
    alone costs on each table."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    grid = [0.1, 1.0, 10.0, 100.0, 1000.0]
    out = ["| table | seed | " + " | ".join(f"C = {c:g}" for c in grid) + " |"]
    out.append("| --- | ---: |" + " ---: |" * len(grid))
    for table in tables:
        df = load_table(table)
        for seed in seeds:
            train, test = split(df, "target", "multiclass", seed)
            X = train.drop(columns="target").select_dtypes("number")
            scaler = StandardScaler().fit(X.fillna(X.median()))
            X_train = scaler.transform(X.fillna(X.median()))
            X_test = scaler.transform(test[X.columns].fillna(X.median()))
            cells = []
            for c in grid:
                model = LogisticRegression(C=c, max_iter=300).fit(X_train, train["target"])
                proba = pd.DataFrame(model.predict_proba(X_test), columns=model.classes_)
                cells.append(f"{log_loss_of(test, proba):.4f}")
            out.append(f"| {table} | {seed} | " + " | ".join(cells) + " |")
    return "\n".join(out)


@contextlib.contextmanager
def every_kept_refit(caught: dict[str, Any]) -> Iterator[None]:
    """Within it, a fit refits every kept candidate on all the rows (not only the default), and
    leaves its search and its data in ``caught`` ("search", "d")."""
    from automl.training import tabular

    keep_best, refit_default = tabular.keep_best, tabular.refit_default

    def keep(run: Any, d: Any, search: Any, ranked: Any, records: Any) -> Any:
        caught["search"], caught["d"] = search, d
        return keep_best(run, d, search, ranked, records)

    def refit_all(run: Any, d: Any, kept: Any, records: Any = None) -> Any:
        default, out = kept.default_id, None
        for cid in [c for c in kept.meta if kept.meta[c]["candidate"] != "ensemble"]:
            kept.default_id = int(cid)
            out = refit_default(run, d, kept, records)
        kept.default_id = default
        return out

    with patched(tabular, "keep_best", keep), patched(tabular, "refit_default", refit_all):
        yield


def pooling_study(tables: list[str], seeds: list[int], trials: int) -> str:
    """Test log loss of each way of building the ensemble, on the same fits (see the module
    docstring), and each way's geometric mean over ``mean``'s."""
    import automl
    from automl.metrics import METRICS
    from automl.training import ensemble

    caught: dict[str, Any] = {}
    sel = METRICS["log_loss"]

    def weights(oof: dict[int, np.ndarray], y: np.ndarray, pool: list[int], how: str) -> Any:
        pooling = "mean" if how in ("mean", "bagged") else "log"
        if how == "log":
            with patched(ensemble, "NEAR_LOSS_RATIO", float("inf")):
                out = ensemble.greedy_weights(oof, y, pool, sel, pooling)
        elif how == "bagged":
            rng, acc = np.random.default_rng(0), {}
            for _ in range(25):
                rows = rng.integers(0, len(y), len(y))
                w = weights({i: oof[i][rows] for i in pool}, y[rows], pool, "mean")
                for i, v in w.items():
                    acc[i] = acc.get(i, 0.0) + v / 25
            return acc
        else:
            out = ensemble.greedy_weights(oof, y, pool, sel, pooling)
        return out[0] if out else {min(pool, key=lambda i: sel.loss(y, oof[i])): 1.0}

    ways = ["mean", "log", "log_near", "bagged"]
    lines = ["| table | seed | " + " | ".join(ways) + " |", "| --- | ---: |" + " ---: |" * 4]
    ratios: dict[str, list[float]] = {w: [] for w in ways}
    with every_kept_refit(caught):
        for table in tables:
            df = load_table(table)
            for seed in seeds:
                train, test = split(df, "target", "multiclass", seed)
                model = automl.AutoML(time_budget=600, seed=seed, max_trials=trials).fit(
                    train, target="target"
                )
                m, search = model.model_, caught["search"]
                proba: dict[int, np.ndarray] = {}
                for cid in [c for c in m.kept if m.kept[c].candidate != "ensemble"]:
                    m.set_default(cid)
                    proba[int(cid)] = m.predict_proba(test).to_numpy(dtype=float)
                pool = [r.id for r in search.ranked() if r.id in search.oof and r.id in proba]
                classes = [str(c) for c in m.predict_proba(test.head(1)).columns]
                y_test = np.asarray([classes.index(str(v)) for v in test["target"]])
                cells = {}
                for way in ways:
                    w = weights(search.oof, search.oof_y, pool, way)
                    pooling = "mean" if way in ("mean", "bagged") else "log"
                    cells[way] = sel(y_test, ensemble.average(proba, w, pooling))
                for way in ways:
                    ratios[way].append(max(cells[way], 1e-6) / max(cells["mean"], 1e-6))
                row = " | ".join(f"{cells[w]:.4f}" for w in ways)
                lines.append(f"| {table} | {seed} | {row} |")
                print(lines[-1], flush=True)
    geo = " | ".join(f"{float(np.exp(np.mean(np.log(ratios[w])))):.3f}" for w in ways)
    lines.append(f"| geometric mean / mean | | {geo} |")
    better = " | ".join(
        f"{sum(x < 0.999 for x in ratios[w])} / {sum(x > 1.001 for x in ratios[w])}" for w in ways
    )
    lines.append(f"| better / worse than mean | | {better} |")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> str:
    """Median test log loss over the seeds per table and variant, and each variant's geometric
    mean ratio to ``base`` over the (table, seed) pairs both have."""
    tables = list(dict.fromkeys(r["table"] for r in rows))
    names = list(dict.fromkeys(r["variant"] for r in rows))
    by = {(r["table"], r["seed"], r["variant"]): r for r in rows}
    out = ["median test log loss over the seeds (seeds in brackets)", ""]
    out.append("| table | default LightGBM | " + " | ".join(names) + " |")
    out.append("| --- | ---: |" + " ---: |" * len(names))
    for t in tables:
        seeds = sorted({r["seed"] for r in rows if r["table"] == t})
        lgb = statistics.median(
            by[(t, s, names[0])]["lightgbm"] for s in seeds if (t, s, names[0]) in by
        )
        cells = []
        for v in names:
            vals = [by[(t, s, v)]["easel"] for s in seeds if (t, s, v) in by]
            cells.append(f"{statistics.median(vals):.4f} ({len(vals)})" if vals else "")
        out.append(f"| {t} | {lgb:.4f} | " + " | ".join(cells) + " |")
    if "base" in names:
        out += ["", "| variant | geometric mean of log loss / base | pairs | better / worse |"]
        out.append("| --- | ---: | ---: | --- |")
        for v in names:
            if v == "base":
                continue
            ratios = [
                max(r["easel"], 1e-6) / max(by[(r["table"], r["seed"], "base")]["easel"], 1e-6)
                for r in rows
                if r["variant"] == v and (r["table"], r["seed"], "base") in by
            ]
            if ratios:
                geo = float(np.exp(np.mean(np.log(ratios))))
                better = sum(x < 0.999 for x in ratios)
                worse = sum(x > 1.001 for x in ratios)
                out.append(f"| {v} | {geo:.3f} | {len(ratios)} | {better} / {worse} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="base")
    p.add_argument("--trials", type=int, default=12, help="0: a time-bounded build (--budget)")
    p.add_argument("--budget", type=float, default=60)
    p.add_argument("--floor", type=float, default=1e-6)
    p.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    p.add_argument("--summary-only", type=Path, default=None)
    p.add_argument("--linear-sweep", action="store_true", help="only the linear model's C sweep")
    p.add_argument("--pooling-study", action="store_true", help="ways to build the ensemble")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    if a.linear_sweep:
        print(linear_sweep(a.tables.split(","), [int(s) for s in a.seeds.split(",")]))
        return
    if a.pooling_study:
        seeds = [int(s) for s in a.seeds.split(",")]
        print(pooling_study(a.tables.split(","), seeds, a.trials))
        return
    if a.summary_only is not None:
        lines = a.summary_only.read_text().splitlines()
        print(summary([json.loads(line) for line in lines if line.strip()]))
        return
    rows = []
    trials = a.trials or None
    for table in a.tables.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            for name in a.variants.split(","):
                row = run_one(table, seed, name, trials, a.budget, a.floor)
                rows.append(row)
                brief = {k: row[k] for k in ("table", "seed", "variant", "easel", "lightgbm")}
                print(json.dumps({**brief, "default": row["default_family"]}), flush=True)
                if a.out is not None:
                    with a.out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    print(summary(rows))


run: Callable[[], None] = main
if __name__ == "__main__":
    main()
