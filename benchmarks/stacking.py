"""Ways to combine the search's best trials, on the same fits: Easel's greedy average against a
stacked model (a metalearner on the trials' validation predictions, as H2O's stacked ensembles).

    python -m benchmarks.stacking --tables breast_cancer,fair,... [--seeds 0,1,2] [--trials 20]
        [--out FILE.jsonl]

Each (table, seed) is fitted once, ``AutoML(seed=s, max_trials=N)`` on the peer benchmark's
75/25 split (bounded by trials, never by the clock), with every kept candidate refit on all the
training rows as the default is. Then, from the same validation predictions of the search's
trials (``Search.oof``: out of fold, or the one split's validation rows) and the same refit
models' test scores, the test error (1 - ROC AUC for 2 classes, log loss for 3+, RMSE for
numbers; log loss for 2 classes too) of:

- ``best``: the trial with the best validation score alone;
- ``greedy``: Easel's ensemble (greedy weights, pooled as Easel pools for the task);
- ``stack``: a linear metalearner with weights of at least 0 and an intercept (per class for
  3+), fitted on the validation predictions: on log-odds (2 classes) or log-probabilities (3+)
  by log loss with a light L2 penalty, on the values by least squares (numbers);
- ``stack_greedy``: the same metalearner on the greedy ensemble's members only.

Tables: any of ``benchmarks/datasets.py``; decisions are made on the development set only.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize, nnls

from benchmarks._common import split
from benchmarks.confidence import every_kept_refit
from benchmarks.peers import append_row, read_rows

PENALTY = 1e-3  # L2 on the metalearner's weights, per validation row
EPS = 1e-6


def _features(scores: np.ndarray, task: str) -> np.ndarray:
    """A member's scores as the metalearner reads them: (rows,) or (rows, classes)."""
    s = np.asarray(scores, dtype=float)
    if task == "binary":
        p = np.clip(s, EPS, 1 - EPS)
        return np.log(p / (1 - p))
    if task == "multiclass":
        return np.log(np.clip(s, EPS, 1.0))
    return s


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_stack(members: list[np.ndarray], y: np.ndarray, task: str) -> tuple[np.ndarray, Any]:
    """(weights >= 0, intercept) of the metalearner on the members' validation scores."""
    feats = [_features(m, task) for m in members]
    k = len(feats)
    if task == "regression":
        X = np.column_stack(feats)
        mean_x, mean_y = X.mean(axis=0), y.mean()
        w, _ = nnls(X - mean_x, y - mean_y)
        return w, float(mean_y - mean_x @ w)
    n = len(y)
    if task == "binary":

        def loss(theta: np.ndarray) -> float:
            z = theta[0] + sum(theta[1 + i] * feats[i] for i in range(k))
            ll = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)
            return float(ll.mean() + PENALTY * np.sum(theta[1:] ** 2))

        start = np.r_[0.0, np.full(k, 1.0 / k)]
        bounds = [(None, None)] + [(0, None)] * k
        theta = minimize(loss, start, method="L-BFGS-B", bounds=bounds).x
        return theta[1:], float(theta[0])
    n_classes = feats[0].shape[1]
    onehot = np.eye(n_classes)[y]

    def loss_mc(theta: np.ndarray) -> float:
        b = theta[:n_classes]
        z = b + sum(theta[n_classes + i] * feats[i] for i in range(k))
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-(onehot * logp).sum() / n + PENALTY * np.sum(theta[n_classes:] ** 2))

    start = np.r_[np.zeros(n_classes), np.full(k, 1.0 / k)]
    bounds = [(None, None)] * n_classes + [(0, None)] * k
    theta = minimize(loss_mc, start, method="L-BFGS-B", bounds=bounds).x
    return theta[n_classes:], theta[:n_classes]


def apply_stack(members: list[np.ndarray], w: np.ndarray, b: Any, task: str) -> np.ndarray:
    z = b + sum(wi * _features(m, task) for wi, m in zip(w, members, strict=True))
    if task == "binary":
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -500, 500))))
    if task == "multiclass":
        return _softmax(np.asarray(z))
    return np.asarray(z)


def _errors(task: str, y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import log_loss, roc_auc_score

    if task == "regression":
        return {"rmse": float(np.sqrt(np.mean((s - y) ** 2)))}
    if task == "binary":
        p = np.clip(s, EPS, 1 - EPS)
        return {"1-auc": float(1 - roc_auc_score(y, p)), "log_loss": float(log_loss(y, p))}
    p = np.clip(s, EPS, 1.0)
    return {
        "log_loss": float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=range(p.shape[1])))
    }


def run_one(table: str, seed: int, trials: int) -> dict[str, Any]:
    import automl
    from automl.training import ensemble, tabular
    from benchmarks.datasets import DATASETS

    df, target, task = DATASETS[table]()
    if task != "regression":
        df[target] = df[target].astype(str)
    train, test = split(df, target, task, seed)
    caught: dict[str, Any] = {}
    with every_kept_refit(caught):
        fitted = automl.AutoML(time_budget=3600, seed=seed, max_trials=trials, task=task).fit(
            train, target=target
        )
    m, search, d = fitted.model_, caught["search"], caught["d"]
    prepared = m.prepare(test)
    report = m.preprocessor.check_columns(prepared)
    default = m.default_id
    scores: dict[int, np.ndarray] = {}
    for cid in [c for c in m.kept if m.kept[c].candidate != "ensemble"]:
        m.set_default(cid)
        scores[int(cid)] = np.asarray(m._scores(prepared, report), dtype=float)
    m.set_default(default)
    if task == "regression":
        y_test = test[target].to_numpy(dtype=float)
    else:
        classes = [str(c) for c in m.predict_proba(test.head(1)).columns]
        y_test = np.asarray([classes.index(str(v)) for v in test[target]])
    pool = [i for i in tabular.ensemble_pool(d, search.ranked()) if i in search.oof and i in scores]
    sel = ensemble.selection_metric(d.metric, task)
    pooling = ensemble.pooling_for(task, d.metric)
    y_val = search.oof_y
    best = min(pool, key=lambda i: sel.loss(y_val, np.asarray(search.oof[i], dtype=float)))
    out = ensemble.greedy_weights(search.oof, y_val, pool, sel, pooling)
    greedy_w = out[0] if out else {best: 1.0}
    ways: dict[str, np.ndarray] = {
        "best": scores[best],
        "greedy": ensemble.average(scores, greedy_w, pooling),
    }
    for name, ids in (("stack", pool), ("stack_greedy", list(greedy_w))):
        if len(ids) < 2:
            ways[name] = scores[ids[0]]
            continue
        w, b = fit_stack([np.asarray(search.oof[i], dtype=float) for i in ids], y_val, task)
        ways[name] = apply_stack([scores[i] for i in ids], w, b, task)
    return {
        "table": table,
        "seed": seed,
        "task": task,
        "trials": trials,
        "rows_val": len(y_val),
        "pool": pool,
        "greedy_weights": {str(k): v for k, v in greedy_w.items()},
        "errors": {name: _errors(task, y_test, s) for name, s in ways.items()},
    }


def summary(rows: list[dict[str, Any]], base_way: str = "greedy") -> str:
    """Per (table, seed) the errors, then each way's geometric mean of error / ``base_way``'s."""
    lines = []
    ratios: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        cells = []
        for metric in r["errors"][base_way]:
            base = max(r["errors"][base_way][metric], 1e-6)
            for way, errs in r["errors"].items():
                ratios.setdefault((metric, way), []).append(max(errs[metric], 1e-6) / base)
            cells.append(
                metric + " " + " ".join(f"{w}={e[metric]:.5g}" for w, e in r["errors"].items())
            )
        lines.append(f"{r['table']:14s} {r['seed']}  " + "   ".join(cells))
    lines.append("")
    for (metric, way), xs in sorted(ratios.items()):
        geo = float(np.exp(np.mean(np.log(xs))))
        better = sum(x < 0.999 for x in xs)
        worse = sum(x > 1.001 for x in xs)
        lines.append(
            f"{metric:9s} {way:13s} geo/{base_way} {geo:.4f}  "
            f"better {better} worse {worse} of {len(xs)}"
        )
    return "\n".join(lines)


def study_rows(path: Path, base_way: str) -> list[dict[str, Any]]:
    """The rows of a study's results file (``--out``), or a stop that says it is not one."""
    rows = read_rows(path)
    if not all(isinstance(r, dict) and base_way in r.get("errors", {}) for r in rows):
        raise SystemExit(
            f"{path}: not this study's results file (a row has no '{base_way}' errors); "
            "give the file its --out wrote"
        )
    return rows


def tables_and_seeds(
    p: argparse.ArgumentParser, tables: str, seeds: str
) -> tuple[list[str], list[int]]:
    """The ``--tables`` and ``--seeds`` lists, or the parser's error saying what is wrong."""
    from benchmarks.datasets import DATASETS

    names = [t for t in tables.split(",") if t]
    unknown = [t for t in names if t not in DATASETS]
    if unknown or not names:
        p.error(f"unknown table {', '.join(unknown) or '(none)'}: one of {', '.join(DATASETS)}")
    try:
        return names, [int(s) for s in seeds.split(",")]
    except ValueError:
        p.error(f"--seeds: whole numbers separated by commas, not {seeds!r}")


def run_study(
    tables: list[str],
    seeds: list[int],
    one: Callable[[str, int], dict[str, Any]],
    base_way: str,
    out: Path | None,
) -> None:
    """``one(table, seed)`` for every table and seed: each row's first line as it comes, the row
    appended to ``out`` (if given), then the summary of them all."""
    rows = []
    for table in tables:
        for seed in seeds:
            row = one(table, seed)
            rows.append(row)
            print(summary([row], base_way).splitlines()[0], flush=True)
            if out is not None:
                append_row(out, row)
    print(summary(rows, base_way))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tables", required=False, default="breast_cancer,fair")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    p.add_argument("--summary-only", type=Path, default=None)
    a = p.parse_args()
    if a.summary_only is not None:
        print(summary(study_rows(a.summary_only, "greedy")))
        return
    warnings.simplefilter("ignore")
    tables, seeds = tables_and_seeds(p, a.tables, a.seeds)
    run_study(tables, seeds, lambda t, s: run_one(t, s, a.trials), "greedy", a.out)


if __name__ == "__main__":
    main()
