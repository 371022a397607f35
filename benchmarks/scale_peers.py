"""Easel and peer AutoML frameworks on a big table, at the same time budgets.

    python -m benchmarks.bigtable --out /tmp/big        # 800,000 training and 200,000 test rows
    bash benchmarks/setup_peers.sh flaml autogluon h2o  # once: the peers' own venvs
    python -m benchmarks.scale_peers --data /tmp/big --budgets 120,600 \\
        [--frameworks easel,lightgbm,flaml,ag_medium,h2o] [--json-out FILE] [--resume]

For each framework and budget, one process (the framework's own venv: .venv-flaml,
.venv-autogluon, .venv-h2o; Easel and LightGBM in this one) reads DATA/train.parquet and
DATA/test.parquet, fits on every training row within the budget, scores the test rows and prints
one JSON line (benchmarks/_run_one.py, _run_peer.py with --parquet-dir). lightgbm is a default
``LGBMClassifier(n_jobs=2)`` with text columns as pandas categories (the test rows' categories set
to the training ones): it has no budget and runs once. A run that fails, or is still running
after 3 x budget + 300 s (lightgbm: the largest budget's), is killed with everything it started
and reported with the last lines it wrote to stderr; the others go on.

Printed per run: the test score (ROC AUC for two classes), fit seconds and fit / budget, predict
seconds and rows per second on the test rows (from the pandas rows to their probabilities,
whatever the framework does on the way: H2O uploads them to its Java server and downloads the
scores), peak RSS in MB of the child process (``os.wait4``: the largest of it and the processes
it waited for) and of its whole process tree (the sum, sampled every half second: H2O's Java
server and AutoGluon's ray workers are processes of their own), the best model and the number of
trials or models where the framework says. --json-out writes every run, as it ends, as one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from benchmarks._frameworks import FRAMEWORKS, become_subreaper, missing, run_child

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "easel,lightgbm,flaml,ag_medium,h2o"
UNBUDGETED = {"lightgbm"}
METRIC = {"binary": "ROC AUC", "multiclass": "log loss", "regression": "RMSE"}
Row = dict[str, Any]

HEADER = (
    f"{'framework':<10}{'budget':>7}{'metric':>9}{'score':>8}{'fit_s':>8}{'fit/bud':>8}"
    f"{'pred_s':>8}{'rows/s':>10}{'peak_MB':>9}{'tree_MB':>9}  best (trials / models)"
)


def timeout_of(budget: float) -> float:
    return 3 * budget + 300


def run(data: Path, framework: str, budget: float | None, timeout: float, seed: int) -> Row:
    """One run in its own process; the row of results, or of its failure."""
    base: Row = {"framework": framework, "budget": budget, "data": str(data), "seed": seed}
    if why := missing(framework):
        return base | {"error": why}
    python, module = FRAMEWORKS[framework]
    cmd = [python, "-m", module, "--parquet-dir", str(data), "--framework", framework]
    cmd += ["--seed", str(seed)] + ([] if budget is None else ["--budget", str(budget)])
    env = os.environ | {"PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    load = os.getloadavg()[0]
    child = run_child(cmd, timeout, ROOT, env)
    base |= {
        "wall_s": child.wall_s,
        "peak_mb": child.peak_mb,
        "tree_peak_mb": child.tree_peak_mb,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }
    result = child.result()
    if child.returncode is None or result is None:
        why = f"killed after {timeout:.0f} s" if child.returncode is None else "failed"
        return base | {"error": why, "stderr_tail": child.stderr_tail()}
    out = result | base | {"child_peak_mb": result["peak_mb"]}
    out["predict_rows_per_s"] = result["test_rows"] / max(result["predict_s"], 1e-9)
    if budget is not None:
        out["fit_over_budget"] = result["fit_s"] / budget
    return out


def line(r: Row) -> str:
    budget = "-" if r["budget"] is None else f"{r['budget']:g}"
    head = f"{r['framework']:<10}{budget:>7}"
    if "error" in r:
        tail = "".join(f"\n    {ln}" for ln in r.get("stderr_tail", []))
        return f"{head}  FAILED: {r['error']}{tail}"
    ratio = f"{r['fit_over_budget']:.2f}" if "fit_over_budget" in r else "-"
    count = r.get("trials", r.get("models"))
    best = f"{r.get('best', '')}" + (f" ({count})" if count is not None else "")
    return (
        f"{head}{METRIC[r['task']]:>9}{r['score']:>8.4f}{r['fit_s']:>8.1f}{ratio:>8}"
        f"{r['predict_s']:>8.2f}{r['predict_rows_per_s']:>10,.0f}{r['peak_mb']:>9,.0f}"
        f"{r['tree_peak_mb']:>9,.0f}  {best}"
    )


def plan(frameworks: list[str], budgets: list[float]) -> list[tuple[str, float | None]]:
    """Every (framework, budget) to run, smallest budget first; an unbudgeted one once."""
    runs: list[tuple[str, float | None]] = [(f, None) for f in frameworks if f in UNBUDGETED]
    runs += [(f, b) for b in budgets for f in frameworks if f not in UNBUDGETED]
    return runs


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, required=True, help="a folder of benchmarks/bigtable.py")
    p.add_argument("--frameworks", default=DEFAULT)
    p.add_argument("--budgets", default="120,600", help="seconds, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", type=Path, help="every run as a JSON line")
    p.add_argument("--resume", action="store_true", help="skip the runs that --json-out has")
    a = p.parse_args()
    become_subreaper()

    frameworks = a.frameworks.split(",")
    if unknown := sorted(set(frameworks) - set(FRAMEWORKS)):
        p.error(f"unknown framework: {', '.join(unknown)} (one of {', '.join(FRAMEWORKS)})")
    try:
        budgets = [float(b) for b in a.budgets.split(",")]
    except ValueError:
        p.error(f"--budgets takes seconds separated by commas, such as 120,600: got {a.budgets}")
    if any(b <= 0 for b in budgets):
        p.error(f"every budget must be a positive number of seconds: got {a.budgets}")
    for name in ("train.parquet", "test.parquet"):
        if not (a.data / name).is_file():
            p.error(f"{a.data / name} is missing: python -m benchmarks.bigtable --out {a.data}")
    if a.resume and not a.json_out:
        p.error("--resume needs --json-out")

    rows: list[Row] = []
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        if a.resume and a.json_out.exists():
            lines = a.json_out.read_text().splitlines()
            rows = [r for r in map(json.loads, filter(None, lines)) if "error" not in r]
        a.json_out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = {(r["framework"], r["budget"]) for r in rows}
    print(f"data {a.data}, seed {a.seed}; each run killed after 3 x budget + 300 s", flush=True)
    print(HEADER, flush=True)
    for r in rows:
        print(line(r), flush=True)
    for framework, budget in plan(frameworks, budgets):
        if (framework, budget) in done:
            continue
        timeout = timeout_of(max(budgets) if budget is None else budget)
        row = run(a.data, framework, budget, timeout, a.seed)
        rows.append(row)
        print(line(row), flush=True)
        if a.json_out:
            with a.json_out.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
