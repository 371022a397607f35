"""Run one framework on one dataset in this process and print one JSON line of results.

Used by engine_vs_lightgbm.py and peers.py, which start a fresh process per run so peak memory is
per run. The other frameworks of peers.py run in their own venvs through _run_peer.py.
"""

from __future__ import annotations

import time

import pandas as pd

from benchmarks._common import run_main, score, split

__all__ = ["score", "split"]  # re-exported: older scripts import them from here


def run_easel(train, test, target, task, budget, seed):  # type: ignore[no-untyped-def]
    import automl
    from automl import AutoML  # imported before the clock starts, as the peers' runners do

    t0 = time.monotonic()
    m = AutoML(time_budget=budget, seed=seed).fit(train, target=target)
    fit_s = time.monotonic() - t0
    x_test = test.drop(columns=[target])
    t0 = time.monotonic()
    pred = m.predict(x_test)
    proba = None if task == "regression" else m.predict_proba(x_test)
    predict_s = time.monotonic() - t0
    extra = {
        "trials": len(m.leaderboard),
        "refit": m.model_.meta.refit_on_all_rows,
        "best": m.model_.candidate_name(),
        "version": automl.__version__,
    }
    return pred, proba, fit_s, predict_s, extra


def _lgb_frame(x: pd.DataFrame, cats: dict[str, list[str]]) -> pd.DataFrame:
    x = x.copy()
    for c in x.columns:
        if c in cats:
            x[c] = pd.Categorical(x[c].astype(str), categories=cats[c])
    return x


def run_lightgbm(train, test, target, task, budget, seed):  # type: ignore[no-untyped-def]
    import lightgbm as lgb

    x, y = train.drop(columns=[target]), train[target]
    cats = {
        c: sorted(x[c].dropna().astype(str).unique())  # missing stays missing
        for c in x.columns
        if not pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c])
    }
    t0 = time.monotonic()
    if task == "regression":
        model = lgb.LGBMRegressor(verbose=-1, random_state=seed, n_jobs=2)
    else:
        model = lgb.LGBMClassifier(verbose=-1, random_state=seed, n_jobs=2)
        y = y.astype(str)
    model.fit(_lgb_frame(x, cats), y)
    fit_s = time.monotonic() - t0
    t0 = time.monotonic()  # from the raw test rows: their categories set to the training ones
    xt = _lgb_frame(test.drop(columns=[target]), cats)
    pred = model.predict(xt)
    proba = None
    if task != "regression":
        proba = pd.DataFrame(model.predict_proba(xt), columns=model.classes_)
    predict_s = time.monotonic() - t0
    return pred, proba, fit_s, predict_s, {"version": lgb.__version__}


def main() -> None:
    run_main({"easel": run_easel, "lightgbm": run_lightgbm})


if __name__ == "__main__":
    main()
