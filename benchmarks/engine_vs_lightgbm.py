"""Easel vs a default LightGBM on public datasets shipped in installed packages.

    python -m benchmarks.engine_vs_lightgbm --budget 60 [--datasets a,b] [--seeds 0,1]

Each (dataset, framework, seed) runs in its own process. Prints per dataset: metric (ROC AUC for
2-category, log loss for 3+ category, RMSE for numeric targets), fit and predict seconds, peak
memory, and Easel's error relative to LightGBM's (error = 1 - AUC, log loss, RMSE; below 1 is
better).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.datasets import DATASETS

ROOT = Path(__file__).resolve().parent.parent
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def run(dataset: str, framework: str, budget: float, seed: int) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, "-m", "benchmarks._run_one", "--dataset", dataset]
    cmd += ["--framework", framework, "--budget", str(budget), "--seed", str(seed)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"dataset": dataset, "framework": framework, "error": out.stderr[-500:]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def error(task: str, score: float) -> float:
    return 1.0 - score if task == "binary" else score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--budget", type=float, default=60)
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--json", default=None, help="also write all results to this file")
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    results = []
    header = (
        f"{'dataset':<14}{'task':<11}{'rows':>7}{'metric':>9}{'easel':>10}{'lightgbm':>10}"
        f"{'ratio':>7}{'fit_s':>8}{'/budget':>8}{'lgb_fit':>8}{'pred_s':>8}{'peak_MB':>8}"
    )
    print(header, flush=True)
    ratios, overrun = [], []
    for name in a.datasets.split(","):
        runs = {fw: [run(name, fw, a.budget, s) for s in seeds] for fw in ("easel", "lightgbm")}
        results += runs["easel"] + runs["lightgbm"]
        if any("error" in r for r in runs["easel"] + runs["lightgbm"]):
            bad = [r for r in runs["easel"] + runs["lightgbm"] if "error" in r]
            print(f"{name:<14} FAILED: {bad[0]['error']}", flush=True)
            continue
        e, g = runs["easel"], runs["lightgbm"]
        task = e[0]["task"]
        es = statistics.median(r["score"] for r in e)
        gs = statistics.median(r["score"] for r in g)
        ratio = error(task, es) / max(error(task, gs), 1e-12)
        ratios.append(ratio)
        fit = statistics.median(r["fit_s"] for r in e)
        overrun.append(max(r["fit_s"] for r in e) / a.budget)
        print(
            f"{name:<14}{task:<11}{e[0]['rows']:>7}{METRIC[task]:>9}{es:>10.4f}{gs:>10.4f}"
            f"{ratio:>7.3f}{fit:>8.1f}{fit / a.budget:>8.2f}"
            f"{statistics.median(r['fit_s'] for r in g):>8.2f}"
            f"{statistics.median(r['predict_s'] for r in e):>8.3f}"
            f"{max(r['peak_mb'] for r in e):>8.0f}",
            flush=True,
        )
    if ratios:
        geo = statistics.geometric_mean(ratios)
        print(
            f"\nEasel error / LightGBM error: geometric mean {geo:.3f}, "
            f"worse on {sum(r > 1.0 for r in ratios)} of {len(ratios)} datasets, "
            f"max {max(ratios):.3f}; max fit time / budget {max(overrun):.3f}"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
