"""Easel vs peer AutoML frameworks on public datasets shipped in installed packages.

    bash benchmarks/setup_peers.sh          # once: the peers' own venvs
    python -m benchmarks.peers --budget 60 [--datasets a,b] [--seeds 0] \\
        [--frameworks easel,flaml,ag_medium,ag_best,lightgbm,constant] (or h2o too)
    python -m benchmarks.peers --summary-only benchmarks/results/peers-60s.jsonl [--suite confirm]
    python -m benchmarks.peers --suite dev --seeds 0,1,2 --budget 15 --resume   # the trusted one

Each (dataset, framework, seed) runs in its own process, killed (with everything it started)
after --timeout seconds (default 3 x budget + 120); a failure or a timeout is an error row and the
run goes on. easel and lightgbm run in this venv (_run_one.py); flaml, AutoGluon and H2O in their
own venvs (_run_peer.py), so they never touch the project's dependencies; constant runs here too.

Metric: ROC AUC for 2 classes, log loss for 3+ classes, RMSE for numeric targets, on the same 25%
test split for every framework. wall_s is the whole process (start-up, data load, fit, predict);
fit_s the framework's fit alone; peak_MB the child's ru_maxrss from wait4 (its largest process,
reaped descendants included: ray workers started by AutoGluon are not counted). Raw rows go to a
JSON-lines file (--out; compressed when its name ends in .gz) from which --summary-only reprints
the tables.

Tables: benchmarks/datasets.py, 38 of them in two suites fixed before the runs: ``dev`` (25 tables,
to decide changes on) and ``confirm`` (13, only to report what holds).

Summary per framework, over (dataset, seed) problems: geometric mean of error / best error on that
problem (error = 1 - AUC, log loss or RMSE, both floored at EPS) with a 95% bootstrap interval
(whole tables resampled), the median of error / best, mean rank (ties share), wins
(rank 1, ties included), failures; a failed run counts with the constant baseline's error when
constant was run (as in the AutoML benchmark), else it is left out. Max fit / budget and max
wall / budget over the framework's successful runs.

Noise check: for every problem where both Easel and default LightGBM ran, a paired bootstrap over
the test rows (each runner stores its per-row losses, or for ROC AUC its scores) gives a 95%
interval of Easel's error minus LightGBM's: "worse beyond noise" only when the whole interval is
above zero.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import METRIC, error
from benchmarks._frameworks import FRAMEWORKS, become_subreaper, missing, run_child
from benchmarks.datasets import DATASETS, SUITES

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
EPS = 1e-4
Row = dict[str, Any]
DEFAULT_FRAMEWORKS = "easel,flaml,ag_medium,ag_best,lightgbm,constant"  # h2o on demand


def _open(path: Path, mode: str) -> Any:
    """A results file as text; gzip-compressed when its name ends in .gz (the rows keep every
    test row's loss for the noise check: a 75-problem run is 8.6 MB as text, 3 MB compressed)."""
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return path.open(mode, encoding="utf-8")


def read_rows(path: Path) -> list[Row]:
    """The rows of a results file (.jsonl, or .jsonl.gz); a missing or damaged one stops the
    script with what is wrong instead of a traceback."""
    try:
        with _open(path, "r") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: not a readable results file ({e}); check the path") from None


def append_row(path: Path, row: Row) -> None:
    """One more row at the end of a results file (a .gz file gets one more gzip member, which
    reads back as one stream)."""
    with _open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def run(dataset: str, framework: str, budget: float, seed: int, timeout: float) -> Row:
    """One run in a fresh process; it and everything it started are stopped at the end."""
    python, module = FRAMEWORKS[framework]
    base: Row = {"dataset": dataset, "framework": framework, "seed": seed, "budget": budget}
    if why := missing(framework):
        return base | {"error": why}
    cmd = [python, "-m", module, "--dataset", dataset, "--framework", framework]
    cmd += ["--budget", str(budget), "--seed", str(seed)]
    env = os.environ | {"PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    child = run_child(cmd, timeout, ROOT, env)
    base |= {"wall_s": child.wall_s, "peak_mb": child.peak_mb, "load": os.getloadavg()[0]}
    if child.returncode is None:
        return base | {"error": f"timeout after {timeout:.0f} s"}
    result = child.result()
    if result is None:
        return base | {"error": child.stderr_tail(1)[0]}
    return result | base | {"child_peak_mb": result["peak_mb"]}


def _fmt_score(task: str, s: float) -> str:
    return f"{s:.4f}" if task != "regression" or abs(s) < 10 else f"{s:.4g}"


HEADER = (
    f"{'dataset':<14}{'task':<11}{'rows':>7}{'cols':>5}{'metric':>9}  {'framework':<10}{'seed':>4}"
    f"{'score':>10}{'err/best':>9}{'rank':>5}{'fit_s':>7}{'wall_s':>7}{'peak_MB':>8}"
)


def _problems(rows: list[Row]) -> dict[tuple[str, int], list[Row]]:
    groups: dict[tuple[str, int], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["seed"]), []).append(r)
    return groups


def _errors(group: list[Row]) -> dict[str, float]:
    """Error per framework on one problem; failures take the constant baseline's error if any."""
    ok = {r["framework"]: max(error(r["task"], r["score"]), EPS) for r in group if "error" not in r}
    fallback = ok.get("constant")
    if fallback is not None:
        for r in group:
            ok.setdefault(r["framework"], fallback)
    return ok


def _ranks(errs: dict[str, float]) -> dict[str, float]:
    return {
        fw: 1 + sum(o < e for o in errs.values()) + (sum(o == e for o in errs.values()) - 1) / 2
        for fw, e in errs.items()
    }


def print_rows(rows: list[Row]) -> None:
    print(HEADER)
    for group in _problems(rows).values():
        errs = _errors(group)
        best = min(errs.values()) if errs else float("nan")
        ranks = _ranks(errs)
        for r in group:
            print(_row_line(r, errs, best, ranks))


def _row_line(r: Row, errs: dict[str, float], best: float, ranks: dict[str, float]) -> str:
    head = f"{r['dataset']:<14}"
    if "error" in r:
        pad = " " * 32
        return f"{head}{pad}  {r['framework']:<10}{r['seed']:>4}  FAILED: {r['error'][:100]}"
    task = r["task"]
    return (
        f"{head}{task:<11}{r['rows']:>7}{r['columns']:>5}{METRIC[task]:>9}  {r['framework']:<10}"
        f"{r['seed']:>4}{_fmt_score(task, r['score']):>10}{errs[r['framework']] / best:>9.3f}"
        f"{ranks[r['framework']]:>5.1f}{r['fit_s']:>7.1f}{r['wall_s']:>7.1f}{r['peak_mb']:>8.0f}"
    )


def _geo_interval(
    by_dataset: dict[str, list[float]], n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A 95% bootstrap interval of the geometric mean of err/best over problems, resampling
    whole tables (a table's splits are not independent of each other)."""
    names = list(by_dataset)
    if len(names) < 2:
        return float("nan"), float("nan")
    logs = [np.log(np.asarray(by_dataset[n], float)) for n in names]
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(names), len(names))
        values = np.concatenate([logs[i] for i in pick])
        means.append(float(np.exp(values.mean())))
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def print_summary(rows: list[Row], frameworks: Iterable[str]) -> None:
    ratios: dict[str, list[float]] = {}
    ranks: dict[str, list[float]] = {}
    by_table: dict[str, dict[str, list[float]]] = {}
    for (dataset, _seed), group in _problems(rows).items():
        errs = _errors(group)
        if not errs:
            continue
        best = min(errs.values())
        for fw, rank in _ranks(errs).items():
            ratios.setdefault(fw, []).append(errs[fw] / best)
            ranks.setdefault(fw, []).append(rank)
            by_table.setdefault(fw, {}).setdefault(dataset, []).append(errs[fw] / best)
    splits = {}
    for r in rows:
        if "split" in r and splits.setdefault((r["dataset"], r["seed"]), r["split"]) != r["split"]:
            print(f"WARNING: {r['framework']} saw a different split of {r['dataset']}")
    print(
        f"\n{'framework':<10}{'problems':>9}{'failed':>7}{'geo err/best':>13}{'95% interval':>17}"
        f"{'median':>7}{'mean rank':>10}{'wins':>5}{'max fit/budget':>15}{'max wall/budget':>16}"
        f"{'median wall_s':>14}{'max peak_MB':>12}"
    )
    for fw in frameworks:
        mine = [r for r in rows if r["framework"] == fw]
        if not mine:
            continue
        ok = [r for r in mine if "error" not in r]
        fit = max((r["fit_s"] / r["budget"] for r in ok), default=float("nan"))
        wall = max((r["wall_s"] / r["budget"] for r in ok), default=float("nan"))
        med = statistics.median(r["wall_s"] for r in ok) if ok else float("nan")
        peak = max((r["peak_mb"] for r in ok), default=float("nan"))
        geo = statistics.geometric_mean(ratios[fw]) if ratios.get(fw) else float("nan")
        lo, hi = _geo_interval(by_table.get(fw, {}))
        middle = statistics.median(ratios[fw]) if ratios.get(fw) else float("nan")
        rk = statistics.mean(ranks[fw]) if ranks.get(fw) else float("nan")
        wins = sum(x == 1.0 for x in ratios.get(fw, []))
        interval = f"[{lo:.3f}, {hi:.3f}]"
        print(
            f"{fw:<10}{len(mine):>9}{len(mine) - len(ok):>7}{geo:>13.3f}{interval:>17}"
            f"{middle:>7.3f}{rk:>10.2f}{wins:>5}{fit:>15.2f}{wall:>16.2f}{med:>14.1f}{peak:>12.0f}"
        )


def _bootstrap_diff(task: str, a: Row, b: Row, n_boot: int, seed: int) -> list[float]:
    """Error(a) - error(b) on ``n_boot`` resamples of the test rows (the same rows for both)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    va, vb = np.asarray(a["row_values"], float), np.asarray(b["row_values"], float)
    n = len(va)
    out = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if task == "binary":
            y = np.asarray(a["row_truth"])[idx]
            if y.min() == y.max():  # one class only: no AUC on this resample
                continue
            out.append(float(roc_auc_score(y, vb[idx]) - roc_auc_score(y, va[idx])))
        elif task == "regression":
            out.append(float(np.sqrt(va[idx].mean()) - np.sqrt(vb[idx].mean())))
        else:
            out.append(float(va[idx].mean() - vb[idx].mean()))
    return out


def print_noise(rows: list[Row], a: str = "easel", b: str = "lightgbm", n_boot: int = 1000) -> None:
    """Is ``a`` worse than ``b`` beyond the noise of the test set? A paired bootstrap over the test
    rows (both scored on the same resampled rows) gives a 95% interval of error(a) - error(b):
    above 0, ``a`` is worse beyond noise; below 0, better; containing 0, within noise."""
    lines = []
    for (dataset, seed), group in _problems(rows).items():
        by_fw = {r["framework"]: r for r in group if "error" not in r and "row_values" in r}
        if a not in by_fw or b not in by_fw:
            continue
        ra, rb = by_fw[a], by_fw[b]
        task = ra["task"]
        diffs = _bootstrap_diff(task, ra, rb, n_boot, seed)
        lo, hi = (float(np.percentile(diffs, q)) for q in (2.5, 97.5))
        ea, eb = error(task, ra["score"]), error(task, rb["score"])
        verdict = (
            "worse beyond noise" if lo > 0 else "better beyond noise" if hi < 0 else "within noise"
        )
        lines.append(
            f"{dataset:<14}{seed:>4}{METRIC[task]:>9}{ea:>14.4g}{eb:>14.4g}{ea - eb:>+11.4g}"
            f"   [{lo:+.4g}, {hi:+.4g}]  {verdict}"
        )
    if not lines:
        return
    print(
        f"\n{a} vs {b}: error difference with a 95% paired bootstrap interval over the test rows "
        f"({n_boot} resamples)"
    )
    print(
        f"{'dataset':<14}{'seed':>4}{'metric':>9}{'err ' + a:>14}{'err ' + b:>14}{'diff':>11}"
        "   interval and verdict"
    )
    for line in lines:
        print(line)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--budget", type=float, default=60)
    p.add_argument(
        "--suite",
        choices=sorted(SUITES),
        default="all",
        help="the development tables (to decide on), the confirmation tables (only to report: "
        "a third of them, fixed in benchmarks/datasets.py) or all",
    )
    p.add_argument("--datasets", default=None, help="these tables instead of a suite")
    p.add_argument("--seeds", default="0")
    p.add_argument("--frameworks", default=DEFAULT_FRAMEWORKS, help="also: h2o")
    p.add_argument("--timeout", type=float, default=None, help="default: 3 x budget + 120 s")
    p.add_argument("--out", default=None, help="default: benchmarks/results/peers-<budget>s.jsonl")
    p.add_argument("--resume", action="store_true", help="skip runs already in --out")
    p.add_argument("--summary-only", metavar="FILE", help="reprint the tables of a results file")
    a = p.parse_args()
    become_subreaper()

    datasets = a.datasets.split(",") if a.datasets else list(SUITES[a.suite])
    if a.summary_only:
        rows = [r for r in read_rows(Path(a.summary_only)) if r["dataset"] in datasets]
        print_rows(rows)
        print_summary(rows, dict.fromkeys(r["framework"] for r in rows))
        print_noise(rows)
        return

    frameworks = a.frameworks.split(",")
    unknown = set(frameworks) - set(FRAMEWORKS) | set(datasets) - set(DATASETS)
    if unknown:
        p.error(f"unknown framework or dataset: {', '.join(sorted(unknown))}")
    seeds = [int(s) for s in a.seeds.split(",")]
    timeout = a.timeout if a.timeout is not None else 3 * a.budget + 120
    out = Path(a.out or HERE / "results" / f"peers-{a.budget:g}s.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    if a.resume and out.exists():
        rows = read_rows(out)
    elif out.exists():
        out.unlink()
    done = {(r["dataset"], r["framework"], r["seed"]) for r in rows}
    print(f"budget {a.budget:g} s, timeout {timeout:g} s, results -> {out}", flush=True)
    for dataset in datasets:
        for seed in seeds:
            for fw in frameworks:
                if (dataset, fw, seed) in done:
                    continue
                row = run(dataset, fw, a.budget, seed, timeout)
                rows.append(row)
                append_row(out, row)
                line = f"{row['dataset']:<14}  {fw:<10} {seed:>3}"
                if "error" in row:
                    line += f"  FAILED: {row['error'][:100]}"
                else:
                    line += (
                        f"  {METRIC[row['task']]} {_fmt_score(row['task'], row['score'])}"
                        f"  fit {row['fit_s']:.1f} s  wall {row['wall_s']:.1f} s"
                        f"  peak {row['peak_mb']:.0f} MB  load {row['load']:.1f}"
                    )
                print(line, flush=True)
    print()
    print_rows(rows)
    print_summary(rows, frameworks)
    print_noise(rows)


if __name__ == "__main__":
    main()
