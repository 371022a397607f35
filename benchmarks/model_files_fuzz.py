"""Damage a saved model's native files at random; load and use each in a worker process.

    python benchmarks/model_files_fuzz.py [--cases 300] [--seed 0]

Trains two small models once (2 categories with category columns, and 3+ categories), then makes
``--cases`` random mutations of each model's LightGBM ``model.txt`` and as many of its XGBoost
``model.json`` (cuts, numbers swapped for others, lines deleted, duplicated or swapped, bytes
flipped; in the JSON also values, keys and list entries of the parsed trees). Each damaged model
is loaded, made to predict with the damaged candidate and to explain a few rows, in a worker
process. Prints per file how the cases ended:

- ``error``: a clear ArtifactError (what should happen to real damage);
- ``ok``: loaded and predicted (harmless damage, e.g. a gain changed);
- ``bug``: another Python exception (a traceback a user would see);
- ``signal`` / ``hang``: the worker died or stopped answering (the native crash this guards
  against).

Exit status 1 if any case ended as bug, signal or hang. Tests run a fixed sample of the same
mutations (``tests/test_model_files_hostile.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTCOMES = ("error", "ok", "bug", "signal", "hang")
CASE_SECONDS = 30.0  # a worker that spends this long on one case (load, predict) is hung
STARTUP_SECONDS = 180.0  # a new worker's imports, on a busy machine
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_ODD_NUMBERS = (
    "-1", "0", "1", "2", "-2", "3", "-3", "7", "-7", "12", "31", "63", "-100", "100",
    "2147483647", "-2147483648", "2147483648", "4294967296", "99999999999", "1e308", "1e999",
    "-1e999", "nan", "inf", "1.5", "-0.5", "", "x",
)  # fmt: skip

# The worker: reads cases (JSON lines) from stdin, applies each to its own copy of the model,
# loads it, predicts with the damaged candidate and explains; one line per case on stdout.
_WORKER = r"""
import json, shutil, sys, warnings
from pathlib import Path
import pandas as pd
import automl
from automl.errors import ArtifactError, EaselError
warnings.simplefilter("ignore")
base, scratch, rows_file = map(Path, sys.argv[1:4])
rows = pd.read_csv(rows_file)
shutil.copytree(base, scratch)
for line in sys.stdin:
    case = json.loads(line)
    target = scratch / case["file"]
    original = (base / case["file"]).read_bytes()
    target.write_bytes(case["data"].encode("latin-1"))
    print("start", case["id"], flush=True)
    try:
        m = automl.load(scratch)
        m.set_default(case["candidate"])
        m.predict(rows)
        m.explain(rows.head(3))
        outcome, detail = "ok", ""
    except ArtifactError as exc:
        outcome, detail = "error", str(exc)
    except EaselError as exc:
        outcome, detail = "bug", "not an ArtifactError: " + str(exc)
    except Exception as exc:
        outcome, detail = "bug", type(exc).__name__ + ": " + str(exc)
    target.write_bytes(original)
    print("done", case["id"], outcome, json.dumps(detail[:300]), flush=True)
"""


@dataclass
class Case:
    """One damaged file: which file of the model folder, the candidate it belongs to, and the
    damaged content (text; bytes as latin-1)."""

    id: int
    file: str
    candidate: int
    data: str
    kind: str


# ------------------------------------------------------------------------------- mutations
def mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """One random damage to a text file; (damaged text, kind of damage)."""
    kind = rng.choice(["cut", "number", "number", "number", "line", "dup", "swap", "byte"])
    lines = text.split("\n")
    if kind == "cut":
        return text[: rng.randrange(len(text))], kind
    if kind == "number":
        spots = list(_NUMBER.finditer(text))
        if spots:
            spot = rng.choice(spots)
            value = rng.choice(_ODD_NUMBERS)
            if rng.random() < 0.3 and "." not in spot.group() and "e" not in spot.group().lower():
                value = str(int(spot.group()) + rng.choice([-2, -1, 1, 2, 1000]))
            return text[: spot.start()] + value + text[spot.end() :], kind
    if kind == "line" and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
        return "\n".join(lines), kind
    if kind == "dup" and len(lines) > 1:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return "\n".join(lines), kind
    if kind == "swap" and len(lines) > 2:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), kind
    i = rng.randrange(len(text))
    return text[:i] + chr(rng.choice([0, 9, 10, 13, 32, 45, 48, 61, 91, 123, 255])) + text[
        i + 1 :
    ], "byte"


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every value inside lists and dicts (and to the lists and dicts themselves)."""
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _leaves(v, (*path, i))
    return out


def mutate_json(text: str, rng: random.Random) -> tuple[str, str]:
    """One random damage to a JSON file: mostly to a parsed value (so the file stays JSON)."""
    if rng.random() < 0.25:
        return mutate_text(text, rng)
    data = json.loads(text)
    paths = [p for p in _leaves(data) if p]
    # favour the trees' node arrays, where numbers index memory
    tree_paths = [p for p in paths if "trees" in p]
    path = rng.choice(tree_paths if tree_paths and rng.random() < 0.7 else paths)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    kind = rng.choice(["value", "value", "value", "drop", "type", "shorten"])
    if kind == "drop":
        del parent[key]
    elif kind == "type":
        parent[key] = rng.choice([None, "x", [], {}, True, 1.5])
    elif kind == "shorten" and isinstance(parent[key], list) and parent[key]:
        parent[key] = parent[key][: rng.randrange(len(parent[key]))]
    else:
        kind = "value"
        choice = rng.choice(_ODD_NUMBERS[:-4])
        value: Any = (
            float(choice) if "." in choice or "e" in choice or "n" in choice else int(choice)
        )
        if isinstance(parent[key], str) and rng.random() < 0.5:
            value = choice
        parent[key] = value
    return json.dumps(data, allow_nan=True), kind


def make_cases(
    base: Path, n_cases: int, seed: int, kinds: tuple[str, ...] = ("lightgbm", "xgboost")
) -> list[Case]:
    """``n_cases`` random mutations of each of the model's LightGBM and XGBoost files."""
    rng = random.Random(seed)
    meta = json.loads((base / "easel_model.json").read_text(encoding="utf-8"))
    cases: list[Case] = []
    for family, name, mutate in (
        ("lightgbm", "model.txt", mutate_text),
        ("xgboost", "model.json", mutate_json),
    ):
        if family not in kinds:
            continue
        ids = [int(k) for k, v in meta["kept"].items() if v["candidate"] == family]
        for _ in range(n_cases):
            cid = rng.choice(ids)
            file = f"candidates/{cid}/{name}"
            text = (base / file).read_text(encoding="utf-8")
            damaged, kind = mutate(text, rng)
            if damaged == text:
                damaged, kind = text[: len(text) // 2], "cut"
            cases.append(Case(len(cases), file, cid, damaged, f"{family}:{kind}"))
    return cases


# ------------------------------------------------------------------------------- running
def _worker_run(
    base: Path, rows_csv: Path, scratch: Path, cases: list[Case], env: dict[str, str] | None
) -> tuple[dict[int, tuple[str, str]], bool]:
    """Run ``cases`` in one worker until they are done or it dies or hangs on one (which is
    then counted as ``signal`` or ``hang``); (results, whether the worker must be replaced)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(base), str(scratch), str(rows_csv)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        errors="replace",  # a native library may print bytes of the damaged file
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def feed() -> None:  # stdin in a thread: the worker's answers must never wait for it
        try:
            for c in cases:
                proc.stdin.write(
                    json.dumps(
                        {"id": c.id, "file": c.file, "candidate": c.candidate, "data": c.data}
                    )
                    + "\n"
                )
            proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    for target in (feed, read):
        threading.Thread(target=target, daemon=True).start()
    results: dict[int, tuple[str, str]] = {}
    started: int | None = None
    wait = STARTUP_SECONDS
    while True:
        try:
            line = lines.get(timeout=wait)
        except queue.Empty:  # no answer in time: hung (or stuck starting)
            proc.kill()
            proc.wait()
            if started is None:
                raise RuntimeError("the fuzz worker did not start") from None
            results[started] = ("hang", f"no answer in {CASE_SECONDS:.0f} s")
            return results, True
        if line is None:  # the worker ended
            code = proc.wait()
            if started is not None:
                results[started] = ("signal", f"exit {code}")
                return results, True
            if len(results) < len(cases):
                raise RuntimeError(f"the fuzz worker failed before a case (exit {code})")
            return results, False
        parts = line.rstrip("\n").split(" ", 3)
        if parts[0] == "start":
            started, wait = int(parts[1]), CASE_SECONDS
        elif parts[0] == "done":
            results[int(parts[1])] = (parts[2], json.loads(parts[3]))
            started = None


def run_cases(
    base: Path, rows_csv: Path, cases: list[Case], env: dict[str, str] | None = None
) -> dict[int, tuple[str, str]]:
    """Each case's (outcome, detail), from worker processes; a worker that dies or hangs is
    replaced, and the case it was on is counted as ``signal`` or ``hang``."""
    results: dict[int, tuple[str, str]] = {}
    pending = list(cases)
    with tempfile.TemporaryDirectory(prefix="easel-fuzz-") as tmp:
        workers = 0
        while pending:
            workers += 1
            scratch = Path(tmp) / f"w{workers}"
            done, _ = _worker_run(base, rows_csv, scratch, pending, env)
            results.update(done)
            shutil.rmtree(scratch, ignore_errors=True)
            pending = [c for c in pending if c.id not in results]
    return results


def train_models(folder: Path) -> list[tuple[Path, Path]]:
    """Two small models with LightGBM and XGBoost kept (2 categories with category columns,
    3 categories), each with a CSV of rows to predict: [(model folder, rows file)]."""
    import automl
    from tests.conftest import make_table

    out = []
    for task, target in (("binary", "churn"), ("multiclass", "segment")):
        df = make_table(300, 1, task)
        model = automl.AutoML(
            time_budget=600, seed=0, max_trials=4, candidates=["lightgbm", "xgboost"]
        ).fit(df, target)
        path = model.save(folder / task)
        rows = folder / f"{task}_rows.csv"
        df.drop(columns=[target]).head(50).to_csv(rows, index=False)
        out.append((path, rows))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="mutations per file kind and model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    bad = 0
    with tempfile.TemporaryDirectory(prefix="easel-fuzz-models-") as tmp:
        for path, rows in train_models(Path(tmp)):
            cases = make_cases(path, args.cases, args.seed)
            results = run_cases(path, rows, cases, env)
            for family in ("lightgbm", "xgboost"):
                mine = [c for c in cases if c.kind.startswith(family)]
                counts = Counter(results[c.id][0] for c in mine)
                line = ", ".join(f"{o} {counts.get(o, 0)}" for o in OUTCOMES)
                print(f"{path.name:10s} {family:8s} {len(mine):4d} cases: {line}")
                for c in mine:
                    outcome, detail = results[c.id]
                    if outcome in ("bug", "signal", "hang"):
                        bad += 1
                        print(f"  case {c.id} ({c.kind}): {outcome}: {detail[:200]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
