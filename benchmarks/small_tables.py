"""Choice tables and a small price regression: Easel against a default LightGBM.

    python -m benchmarks.small_tables [--tables choice,modechoice,diamonds_small] [--seeds 0,1,2]
        [--trials 12] [--budget 600] [--variants base,...] [--out FILE.jsonl]

Each (table, seed, variant) fits ``AutoML(seed=s, max_trials=N)`` on the peer benchmark's 75/25
split and scores the 25% test rows (log loss for classes, RMSE for numbers), with the default
model and with every kept candidate (refit on all the rows for the default only), against a
default ``LGBMClassifier`` / ``LGBMRegressor``. Fits are bounded by ``max_trials``, never by the
clock (``--trials 0``: by the product's own cap on small tables, one trial per 4 search rows,
with ``--budget`` as the clock's bound, which may end a search first: each row's ``searched``
says how many trials ran).
Variants change one thing in this process only:

- ``base``: the code as it is;
- ``no_pairs``: the linear family without its configurations on products of pairs of inputs;
- ``mean_pool``: ensembles of classes average their members' probabilities (as before), not
  their log-probabilities.

Tables (nothing is downloaded):

- ``choice``: 13,700 generated choices among 5 options (a multinomial-logit process): each
  option's price and the chooser's income; the utility of option j is
  ``2.5 * (a_j + b_j * z - (0.55 - 0.2 * z) * price_j)`` plus Gumbel noise, with ``z`` the
  standardized log income (richer choosers mind prices less: a product of two columns);
- ``modechoice``: statsmodels' travel mode choice (210 travellers, 4 modes: air, train, bus,
  car), one row per traveller with each mode's waiting time, cost, travel time and generalized
  cost, income and party size;
- ``diamonds_small``: 6,300 rows of plotnine's diamonds (price from carat, cut, colour,
  clarity and sizes: 9 columns), a random sample (seed 0);
- any table of ``benchmarks/datasets.py`` by its name (the peer benchmark's, with its split).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import score, split

VARIANTS = ["base", "no_pairs", "mean_pool"]
TABLES = ["choice", "modechoice", "diamonds_small"]


def choice_table(rows: int = 13_700, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = np.array([3.0, 4.0, 5.0, 6.0, 8.0])
    price = base * rng.lognormal(0.0, 0.35, size=(rows, 5))
    income = rng.lognormal(np.log(40), 0.5, size=rows)
    z = (np.log(income) - np.log(40)) / 0.5
    asc = np.array([0.0, 0.4, 0.8, 1.2, 2.0])
    beta = np.array([0.0, 0.1, 0.3, 0.5, 0.8])
    slope = 0.55 - 0.2 * z
    utility = 2.5 * (asc + beta * z[:, None] - slope[:, None] * price)
    utility += rng.gumbel(size=(rows, 5))
    df = pd.DataFrame(price.round(2), columns=[f"price_{j + 1}" for j in range(5)])
    df["income"] = income.round(1)
    df["choice"] = [f"option {j + 1}" for j in utility.argmax(axis=1)]
    return df


def modechoice() -> pd.DataFrame:
    import statsmodels.api as sm

    long = sm.datasets.modechoice.load_pandas().data
    modes = {1.0: "air", 2.0: "train", 3.0: "bus", 4.0: "car"}
    long["mode"] = long["mode"].map(modes)
    wide = long.pivot(index="individual", columns="mode", values=["ttme", "invc", "invt", "gc"])
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    wide = wide.drop(columns=["ttme_car"])  # always 0
    first = long.groupby("individual")[["hinc", "psize"]].first()
    chosen = long[long["choice"] == 1.0].set_index("individual")["mode"].rename("mode")
    return wide.join(first).join(chosen).reset_index(drop=True)


def diamonds_small(rows: int = 6_300) -> pd.DataFrame:
    from benchmarks.datasets import DATASETS

    df, _, _ = DATASETS["diamonds"]()
    return df.sample(rows, random_state=0).reset_index(drop=True)


def load(name: str) -> tuple[pd.DataFrame, str, str]:
    if name == "choice":
        return choice_table(), "choice", "multiclass"
    if name == "modechoice":
        return modechoice(), "mode", "multiclass"
    if name == "diamonds_small":
        return diamonds_small(), "price", "regression"
    from benchmarks.datasets import DATASETS

    if name in DATASETS:
        return DATASETS[name]()
    raise SystemExit(
        f"unknown table {name!r}: one of {', '.join(TABLES)} or benchmarks/datasets.py's"
    )


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    from automl.candidates import _linear
    from automl.training import tabular

    if name == "base":
        yield
        return
    if name == "mean_pool":
        old_pooling = tabular.pooling_for
        tabular.pooling_for = lambda *args: "mean"
        try:
            yield
        finally:
            tabular.pooling_for = old_pooling
        return
    if name != "no_pairs":
        raise SystemExit(f"unknown variant {name!r}: one of {', '.join(VARIANTS)}")
    cls = _linear.LinearCandidate
    old = cls.default_configs

    def plain(task: str, n_rows: int) -> list[dict[str, Any]]:
        return [c for c in old.__func__(cls, task, n_rows) if not c.get("pairs")]  # type: ignore[attr-defined]

    cls.default_configs = classmethod(lambda c, task, n_rows: plain(task, n_rows))  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        cls.default_configs = old  # type: ignore[method-assign]


def default_lightgbm(task: str, train: pd.DataFrame, test: pd.DataFrame, target: str) -> float:
    import lightgbm as lgb

    X, y = train.drop(columns=target), train[target]
    X_test = test.drop(columns=target)
    for c in [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]:
        X[c] = X[c].astype("category")
        X_test[c] = pd.Categorical(X_test[c], categories=X[c].cat.categories)
    if task == "regression":
        reg = lgb.LGBMRegressor(verbose=-1, n_jobs=2, random_state=0).fit(X, y)
        return score(task, test[target], reg.predict(X_test), None)
    clf = lgb.LGBMClassifier(verbose=-1, n_jobs=2, random_state=0).fit(X, y.astype(str))
    proba = pd.DataFrame(clf.predict_proba(X_test), columns=clf.classes_)
    return score(task, test[target].astype(str), clf.predict(X_test), proba)


def run_one(table: str, seed: int, name: str, trials: int, budget: float = 600) -> dict[str, Any]:
    import automl

    df, target, task = load(table)
    if task != "regression":
        df[target] = df[target].astype(str)
    train, test = split(df, target, task, seed)
    with variant(name):
        t0 = time.monotonic()
        fitted = automl.AutoML(
            time_budget=budget, seed=seed, max_trials=trials or None, task=task
        ).fit(train, target=target)
        fit_s = time.monotonic() - t0
    model = fitted.model_
    default = model.default_id
    kept: dict[str, Any] = {}
    for cid in list(model.kept):
        model.set_default(cid)
        proba = None if task == "regression" else model.predict_proba(test)
        kept[str(cid)] = {
            "family": model.kept[cid].candidate,
            "params": model.kept[cid].params,
            "members": {str(k): w for k, w in model.members(cid).items()},
            "test": score(task, test[target], model.predict(test), proba),
        }
    model.set_default(default)
    return {
        "table": table,
        "rows": len(df),
        "seed": seed,
        "variant": name,
        "trials": trials,
        "searched": len(fitted.leaderboard),
        "budget": budget,
        "metric": "RMSE" if task == "regression" else "log loss",
        "easel": kept[str(default)]["test"],
        "default_family": kept[str(default)]["family"],
        "lightgbm": default_lightgbm(task, train, test, target),
        "kept": kept,
        "fit_s": round(fit_s, 1),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="base")
    p.add_argument("--trials", type=int, default=12, help="0: the product's own cap")
    p.add_argument("--budget", type=float, default=600)
    p.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    a = p.parse_args(argv)
    if a.trials < 0:
        p.error("--trials must be a number of trials, or 0 for the product's own cap")
    if not a.budget >= 5:  # (AutoML's own least budget; also refuses nan)
        p.error("--budget must be at least 5 seconds")
    unknown = [v for v in a.variants.split(",") if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant {unknown[0]!r}: one of {', '.join(VARIANTS)}")
    warnings.simplefilter("ignore")
    for table in a.tables.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            for name in a.variants.split(","):
                row = run_one(table, seed, name, a.trials, a.budget)
                keys = ("table", "seed", "variant", "easel", "lightgbm", "searched", "fit_s")
                brief = {k: row[k] for k in keys}
                print(json.dumps({**brief, "default": row["default_family"]}), flush=True)
                if a.out is not None:
                    with a.out.open("a") as f:
                        f.write(json.dumps(row, default=str) + "\n")


if __name__ == "__main__":
    main()
