"""Benchmark runs in child processes: a run past its time limit is killed with everything it
started (also processes in sessions of their own, as H2O's Java server is), what a run leaves
running is stopped, and the big-table benchmark reports a failed run with its last error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks import bigtable
from benchmarks._common import _sorted_classes
from benchmarks.scale_peers import plan, run

ROOT = Path(__file__).resolve().parent.parent

# A child that starts a grandchild in a session of its own (as h2o starts its Java server) and
# prints the grandchild's pid, then {then}.
CHILD = """
import subprocess, sys, time
g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
print(g.pid, flush=True)
print("working on it", file=sys.stderr, flush=True)
{then}
"""

# The benchmark scripts' main process: a subreaper that runs the child with a time limit. Run in
# a process of its own, so this test process does not become a subreaper.
PARENT = """
import json, os, sys
from pathlib import Path
from benchmarks._frameworks import become_subreaper, run_child
become_subreaper()
c = run_child([sys.executable, "-c", sys.argv[1]], float(sys.argv[2]), Path.cwd(), dict(os.environ))
print(json.dumps(c.__dict__ | {"result": c.result(), "tail": c.stderr_tail()}))
"""


def _run_parent(then: str, timeout: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", PARENT, CHILD.format(then=then), str(timeout)],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(out.stdout))


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.1)
    return False


def test_a_run_past_its_limit_is_killed_with_all_it_started() -> None:
    child = _run_parent("time.sleep(120)", 2.0)
    assert child["returncode"] is None and child["result"] is None
    assert child["tail"] == ["working on it"]
    assert child["tree_peak_mb"] >= child["peak_mb"] > 0
    assert _gone(int(child["stdout"].split()[0]))


def test_what_a_finished_run_leaves_running_is_stopped() -> None:
    child = _run_parent("print('{\"score\": 1}')", 60.0)
    assert child["returncode"] == 0 and child["result"] == {"score": 1}
    assert _gone(int(child["stdout"].split()[0]))


def test_big_table_runs_and_failures(tmp_path: Path) -> None:
    train, test = bigtable.split(bigtable.interactions(2000, seed=1))
    train.to_parquet(tmp_path / "train.parquet")
    test.to_parquet(tmp_path / "test.parquet")  # has categories the training rows lack
    row = run(tmp_path, "lightgbm", None, 300.0, 0)
    assert "error" not in row, row
    assert row["task"] == "binary" and 0.55 < row["score"] <= 1
    assert row["train_rows"] == 1600 and row["test_rows"] == 400
    assert row["predict_rows_per_s"] > 0 and row["peak_mb"] > 0

    (tmp_path / "test.parquet").write_bytes(b"not a parquet file")
    row = run(tmp_path, "lightgbm", None, 300.0, 0)
    assert row["error"] == "failed"
    assert any("arquet" in line for line in row["stderr_tail"]), row["stderr_tail"]


def test_plan_runs_the_baseline_once() -> None:
    assert plan(["lightgbm", "h2o", "flaml"], [120, 600]) == [
        ("lightgbm", None),
        ("h2o", 120),
        ("flaml", 120),
        ("h2o", 600),
        ("flaml", 600),
    ]


def test_class_columns_in_label_order() -> None:
    proba = pd.DataFrame({"yes": [0.9, 0.2], "no": [0.1, 0.8]})
    assert list(_sorted_classes(proba).columns) == ["no", "yes"]  # type: ignore[union-attr]
