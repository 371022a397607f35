"""Scale: 1,000,000-row builds with ``automl train``, prediction throughput, chunked scoring memory.

    python -m benchmarks.scale [--rows 1000000] [--budget 120] [--tables interactions,synthetic]
                               [--verbose] [--keep-models DIR]
    python -m benchmarks.scale --tables interactions --model MODEL_DIR   # scoring only

Prints, for each table (``interactions``: benchmarks/bigtable.py, 40 numeric columns with
interactions and 4 categorical ones of 7 to 2,500 levels, 800,000 training and 200,000 test rows;
``synthetic``: 40 numeric, 8 categorical and 2 integer columns, the rows given and 200,000 test
rows of another seed):

1. build: ``automl train`` on the training rows (a Parquet file) as a user runs it, reports
   included: the whole command's wall seconds against the budget, the trials and the rows they
   learned from, what the model says about its refit, the phases, the command's peak RSS against
   the training table's size in memory (pandas, deep), and the test ROC AUC of the model against
   a default ``LGBMClassifier`` trained on all the training rows in another process;
2. predict: rows/second of Model.predict on raw rows vs the default's own scoring of the
   already-encoded rows (each member of an ensemble on its encoding), same process (median of 3);
3. chunked scoring: rows/second and peak memory of ``automl predict`` with each table's model
   on CSV files of two sizes of that table's columns (bounded memory means the larger file does
   not need more), against pyarrow alone reading the same file (the aim: at least a quarter of
   its speed). Each file is scored first with the compiled-trees cache as the build left it (a
   build compiles a big table's model when its budget leaves the time), then ``--repeats``
   times, each run just after pyarrow's read in its own process (this machine's speed drifts
   within seconds), and the ratio is that of the medians; the rows/second are the command's own
   scoring seconds (it prints them), the command's start (about 2 s of imports) is given beside
   them. Then the same rows as a Parquet file, scored into a Parquet file.

The peers (FLAML, AutoGluon, H2O) on the same interactions table: benchmarks/scale_peers.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """40 numeric (5% missing), 8 categorical (5-500 levels), 2 integer columns; binary target."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    z = np.zeros(rows)
    for i in range(40):
        x = rng.normal(size=rows)
        if i < 10:
            z += x * (0.5 if i % 2 else -0.3)
        x[rng.random(rows) < 0.05] = np.nan
        data[f"num_{i}"] = x
    for i, levels in enumerate([5, 10, 20, 50, 100, 200, 300, 500]):
        codes = rng.integers(0, levels, rows)
        z += (codes % 3 == 0) * 0.4 * (i < 4)
        data[f"cat_{i}"] = pd.array([f"L{c}" for c in range(levels)], dtype="str")[codes]
    data["int_0"] = rng.integers(0, 100, rows)
    data["int_1"] = rng.integers(0, 10, rows)
    z += np.sin(data["int_0"] / 10)  # type: ignore[operator]
    data["target"] = np.where(z + rng.normal(0, 1, rows) > 0.5, "yes", "no")
    return pd.DataFrame(data)


def _write(rows: int, seed: int, path: Path, drop_target: bool = False) -> None:
    """Write a synthetic table from a separate process, so this one stays small: on Linux a
    child's peak RSS starts from its parent's RSS at fork time."""
    code = (
        "import sys; from benchmarks.scale import synthetic;"
        f"df = synthetic({rows}, {seed});"
        + ("df = df.drop(columns=['target']);" if drop_target else "")
        + "p = sys.argv[1];"
        + "df.to_parquet(p) if p.endswith('.parquet') else df.to_csv(p, index=False)"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True)


def _peak_child_mb(cmd: list[str]) -> tuple[float, float, str]:
    """Run a command; return (seconds, peak RSS MB of that child, its output's tail: long
    enough to hold what ``automl train`` says after its model's summary)."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty child cannot block
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=err, stderr=err)
        _, _, usage = os.wait4(proc.pid, 0)
        secs = time.monotonic() - t0
        err.seek(0)
        return secs, usage.ru_maxrss / 1024, err.read().decode(errors="replace")[-200_000:]


def _tables(table: str, rows: int, folder: Path) -> float:
    """Write ``folder``/train.parquet and test.parquet of ``table`` (in another process);
    returns the training table's size in memory (MB, pandas deep)."""
    if table == "interactions":
        make = (
            "from benchmarks.bigtable import interactions, split;"
            f"train, test = split(interactions({int(rows)}, 0))"
        )
    else:
        make = (
            "from benchmarks.scale import synthetic;"
            f"train, test = synthetic({int(rows)}, 0), synthetic({min(rows, 200_000)}, 1)"
        )
    code = (
        f"import sys; {make};"
        "train.to_parquet(sys.argv[1] + '/train.parquet');"
        "test.to_parquet(sys.argv[1] + '/test.parquet');"
        "print(train.memory_usage(deep=True).sum() / 1e6)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(folder)], cwd=ROOT, check=True, capture_output=True
    )
    return float(out.stdout.decode().split()[-1])


def _json_child(code: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True
    )
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


TEST_AUC = (
    "import sys, json, time, warnings; warnings.simplefilter('ignore');"
    "import pandas as pd, automl; from sklearn.metrics import roc_auc_score;"
    "m = automl.load(sys.argv[1]); te = pd.read_parquet(sys.argv[2]);"
    "t = time.monotonic(); p = m.predict_proba(te.drop(columns=['target']));"
    "s = time.monotonic() - t;"
    "print(json.dumps({'auc': roc_auc_score(te['target'] == 'yes', p['yes']),"
    "'rows_per_s': len(te) / s}))"
)


def build(table: str, rows: int, budget: float, workdir: Path, verbose: bool = False) -> Path:
    """``automl train`` on ``table``; prints one line and returns the model folder."""
    folder = workdir / table
    folder.mkdir()
    data_mb = _tables(table, rows, folder)
    model = folder / "model"
    cmd = [str(Path(sys.executable).parent / "automl"), "train", str(folder / "train.parquet")]
    cmd += ["--target", "target", "--time-budget", f"{budget:g}", "--out", str(model), "--quiet"]
    secs, peak, err = _peak_child_mb(cmd)
    if not (model / "easel_model.json").exists():
        raise SystemExit(f"automl train failed:\n{err}")
    info = _json_child(
        "import sys, json, automl; m = automl.load(sys.argv[1]); meta = m.meta;"
        "print(json.dumps({'rows': meta.rows.to_dict(), 'timings': meta.timings,"
        "'fit_s': meta.fit_seconds, 'refit': meta.refit_on_all_rows, 'note': meta.refit_note,"
        "'trials': [[r.candidate, r.rows, r.source] for r in meta.leaderboard],"
        "'board': [[r.id, r.candidate, r.rows, r.fit_seconds, r.score, r.status, r.message,"
        "r.params.get('learning_rate'), r.iterations] for r in meta.leaderboard],"
        "'default': m.candidate_name()}))",
        str(model),
    )
    test = _json_child(TEST_AUC, str(model), str(folder / "test.parquet"))
    base = _json_child(
        "import sys, json, runpy;"
        "sys.argv = ['_run_one', '--parquet-dir', sys.argv[1], '--framework', 'lightgbm',"
        "'--budget', '0', '--seed', '0'];"
        "runpy.run_module('benchmarks._run_one', run_name='__main__')",
        str(folder),
    )
    trials = [t for t in info["trials"] if t[0] != "ensemble"]
    by_rows: dict[int, int] = {}
    for _, n, _ in trials:
        by_rows[n] = by_rows.get(n, 0) + 1
    print(
        f"build ({table}, {info['rows']['train']:,} training rows, budget {budget:g} s): "
        f"automl train {secs:.1f} s ({secs / budget:.2f} x budget; fit {info['fit_s']:.1f} s), "
        f"{len(trials)} trials ("
        + ", ".join(f"{c} on {n:,} rows" for n, c in sorted(by_rows.items()))
        + f"), default {info['default']}; test ROC AUC {test['auc']:.4f} (scored at "
        f"{test['rows_per_s']:,.0f} rows/s by Model.predict_proba) vs default LightGBM "
        f"on all rows {base['score']:.4f} (fit {base['fit_s']:.1f} s); peak RSS {peak:,.0f} MB "
        f"= {peak / data_mb:.2f} x the table's {data_mb:,.0f} MB in memory; phases (s): "
        f"{info['timings']}; refit: {info['note']}; trees compiled for batch scoring with the "
        f"budget's last seconds: {'yes' if 'compiled the model' in err else 'no'}",
        flush=True,
    )
    if verbose:
        for row in info["board"]:
            print("   ", *row, sep="  ")
    return model


def throughput(model_dir: Path, rows: int) -> None:
    """Model.predict on raw rows against the default's own scoring on already-encoded rows
    (every member of an ensemble, each on its own encoding), median of 3."""
    import automl

    warnings.simplefilter("ignore")  # unseen-category notes, repeated per call
    model = automl.load(model_dir)
    df = synthetic(rows, seed=1).drop(columns=["target"])
    members = model.members()
    cands = {cid: model.candidates[cid] for cid in members}
    encoded = {
        enc: (model.preprocessor.transform_tree(df) if enc == "tree"
              else model.preprocessor.transform_linear(df))
        for enc in {c.encoding for c in cands.values()}
    }  # fmt: skip
    ours, raw = [], []
    for _ in range(3):
        t0 = time.monotonic()
        model.predict(df)
        ours.append(time.monotonic() - t0)
        t0 = time.monotonic()
        for cand in cands.values():
            cand.predict_scores(encoded[cand.encoding])
        raw.append(time.monotonic() - t0)
    o, r = statistics.median(ours), statistics.median(raw)
    names = " + ".join(model.candidate_name(cid) for cid in members)
    print(
        f"predict ({names}): Model.predict on raw rows {rows / o:,.0f} rows/s ({o:.2f} s); the "
        f"candidates' own scoring of the encoded rows {rows / r:,.0f} rows/s ({r:.2f} s); "
        f"ratio {r / o:.2f} (target >= 0.5)",
        flush=True,
    )


PYARROW_READ = """
import json, sys, time
import pyarrow.csv as csv
t0 = time.monotonic()
csv.read_csv(sys.argv[1])
print(json.dumps({"s": time.monotonic() - t0}))
"""


COMPILE = """
import json, sys, time
import automl
t0 = time.monotonic()
done = automl.load(sys.argv[1]).compile_now(600)
print(json.dumps({"members": done, "seconds": round(time.monotonic() - t0, 1)}))
"""

TO_PARQUET = """
import json, sys
import pyarrow.csv as csv, pyarrow.parquet as pq
pq.write_table(csv.read_csv(sys.argv[1]), sys.argv[2])
print(json.dumps({}))
"""


def _write_rows(table: str, rows: int, path: Path) -> None:
    """Rows of ``table`` without the target (seed 2: rows no model learned from), as CSV."""
    if table == "synthetic":
        _write(rows, 2, path, drop_target=True)
        return
    code = (
        "import sys; from benchmarks.bigtable import interactions;"
        f"interactions({rows}, 2).drop(columns=['target']).to_csv(sys.argv[1], index=False)"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True)


def _own_seconds(stderr: str) -> float | None:
    """The scoring seconds ``automl predict`` reports ("wrote N predictions to F in S s")."""
    for line in stderr.splitlines():
        if line.startswith("wrote ") and line.endswith(" s"):
            return float(line.rsplit(" ", 2)[-2])
    return None


def _scored(command: list[str]) -> tuple[float, float, float]:
    """``automl predict``'s own scoring seconds (its whole run's when it does not say), its
    whole run's seconds and its peak RSS MB."""
    secs, peak, err = _peak_child_mb(command)
    return _own_seconds(err) or secs, secs, peak


def chunked(table: str, model_dir: Path, workdir: Path, sizes: list[int], repeats: int) -> None:
    """``automl predict`` on each file: once with the compiled-trees cache as the build left it,
    then ``repeats`` times in turn with pyarrow alone reading the file in its own process (the
    machine's speed drifts within seconds: each pair runs under the same conditions); the
    ratio is of the medians. Then the same rows as Parquet in and out, ``repeats`` times."""
    automl_cli = str(Path(sys.executable).parent / "automl")
    cache = Path(os.environ["EASEL_CACHE_DIR"]) / "compiled"
    for n in sizes:
        src = workdir / f"score_{n}.csv"
        _write_rows(table, n, src)
        out = workdir / f"scored_{n}.csv"
        cmd = [automl_cli, "predict", str(model_dir), str(src), "--out", str(out), "--quiet"]
        size_mb = src.stat().st_size / 1e6

        compiled = len(list(cache.glob("*.so"))) if cache.is_dir() else 0
        read = _json_child(PYARROW_READ, str(src))["s"]
        own, secs, peak = _scored(cmd)
        print(
            f"chunked ({table}, first run, compiled trees in the cache: {compiled}): automl "
            f"predict on a {size_mb:,.0f} MB CSV ({n:,} rows): {own:.1f} s scoring "
            f"({n / own:,.0f} rows/s; {secs:.1f} s with the command's start), peak RSS "
            f"{peak:,.0f} MB; pyarrow read it just before at {n / read:,.0f} rows/s: ratio "
            f"{read / own:.2f}",
            flush=True,
        )
        reads, owns, peaks = [], [], []
        for _ in range(repeats):
            reads.append(_json_child(PYARROW_READ, str(src))["s"])
            own, secs, peak = _scored(cmd)
            owns.append(own)
            peaks.append(peak)
        read, own = statistics.median(reads), statistics.median(owns)
        pairs = sorted(r / o for r, o in zip(reads, owns, strict=True))
        print(
            f"chunked ({table}, {repeats} more runs, each after pyarrow's read): automl predict "
            f"{own:.2f} s scoring, median ({n / own:,.0f} rows/s; runs "
            f"{', '.join(f'{o:.1f}' for o in owns)}), peak RSS at most {max(peaks):,.0f} MB; "
            f"pyarrow {read:.2f} s, median ({n / read:,.0f} rows/s; runs "
            f"{', '.join(f'{r:.2f}' for r in reads)}): ratio of the medians {read / own:.2f} "
            f"(aim >= 0.25; pair by pair {pairs[0]:.2f} to {pairs[-1]:.2f})",
            flush=True,
        )
        # the same rows as Parquet in and out
        pq_src, pq_out = workdir / f"score_{n}.parquet", workdir / f"scored_{n}.parquet"
        _json_child(TO_PARQUET, str(src), str(pq_src))
        cmd = [automl_cli, "predict", str(model_dir), str(pq_src), "--out", str(pq_out), "--quiet"]
        runs = [_scored(cmd) for _ in range(repeats)]
        own = statistics.median(r[0] for r in runs)
        print(
            f"chunked ({table}, Parquet in and out): automl predict on {n:,} rows: {own:.2f} s "
            f"scoring, median of {repeats} ({n / own:,.0f} rows/s), peak RSS at most "
            f"{max(r[2] for r in runs):,.0f} MB; ratio to pyarrow's read of the CSV "
            f"{read / own:.2f}",
            flush=True,
        )
        for path in (src, out, pq_src, pq_out):
            path.unlink()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--budget", type=float, default=120)
    p.add_argument("--tables", default="interactions,synthetic")
    p.add_argument("--chunk-sizes", default="600000,2000000")
    p.add_argument("--no-scoring", action="store_true", help="builds only")
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="runs of automl predict (each after pyarrow's read) per file and format",
    )
    p.add_argument("--verbose", action="store_true", help="print each build's leaderboard")
    p.add_argument(
        "--model",
        type=Path,
        help="score with this model (built on the one table of --tables) instead of building",
    )
    p.add_argument(
        "--keep-models",
        type=Path,
        help="copy each built model to this folder (one subfolder per table), for --model later",
    )
    a = p.parse_args()
    if a.keep_models is not None:  # (a model copied over another would mix their files)
        if a.keep_models.exists() and not a.keep_models.is_dir():
            p.error(f"--keep-models {a.keep_models} is a file: give a folder")
        for table in a.tables.split(","):
            if (a.keep_models / table).exists():
                p.error(f"--keep-models: {a.keep_models / table} exists; give another folder")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # compiled trees go to a cache of this run (the builds and the predictions share it)
        os.environ["EASEL_CACHE_DIR"] = str(work / "cache")
        if a.model is not None:
            if "," in a.tables:
                p.error("--model scores one table: name it with --tables")
            models = {a.tables: a.model}
            # as a build of a big table does with its budget's last seconds
            compiled = _json_child(COMPILE, str(a.model))
            print(f"compiled the model's trees into this run's cache: {compiled}", flush=True)
        else:
            models = {}
            for table in a.tables.split(","):
                models[table] = build(table, a.rows, a.budget, work, a.verbose)
                if a.keep_models is not None:  # (kept even if a later build fails)
                    shutil.copytree(models[table], a.keep_models / table)
        if a.no_scoring:
            return
        sizes = [int(s) for s in a.chunk_sizes.split(",")]
        for table, model_dir in models.items():
            chunked(table, model_dir, work, sizes, max(1, a.repeats))
        if "synthetic" in models:  # last: it holds a million rows in this process
            throughput(models["synthetic"], a.rows)


if __name__ == "__main__":
    main()
