"""Compiled trees: lleaves' own code against Easel's (``automl/candidates/_treecode.py``).

    python -m benchmarks.tree_code --model MODEL_DIR [--rows 200000] [--repeats 5]

MODEL_DIR is a model folder whose default is one LightGBM model (a 120-s build of the
interactions table gives 986 trees of 7 leaves; see docs/benchmarks.md, "Scale"). The rows are
new rows of the interactions table (``benchmarks/bigtable.py``, seed 2), encoded by the model as
batch scoring encodes them. Each variant is compiled in a child process (as Easel compiles),
then both score the same rows on one thread, alternating, ``--repeats`` times: printed are the
compile seconds and the median CPU-seconds of scoring, with the ratio, after a check that both
give the same predictions.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMPILE = """
import sys, lleaves
if sys.argv[3] == "easel":
    from automl.candidates import _treecode
    assert _treecode.install(), "lleaves' code generator is not the one Easel's code replaces"
lleaves.Model(model_file=sys.argv[1]).compile(cache=sys.argv[2])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a model folder whose default is LightGBM")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import lleaves

    import automl
    from automl.candidates._compiled import compiler_text
    from automl.candidates._lightgbm import LightGBMCandidate
    from benchmarks.bigtable import interactions

    model = automl.load(args.model)
    members = list(model.members())
    cand = model.candidates[members[0]]
    if len(members) != 1 or not isinstance(cand, LightGBMCandidate):
        sys.exit("the model's default must be one LightGBM model")
    rows = interactions(args.rows, 2).drop(columns=["target"])
    prepared = model.prepare(rows)
    report = model.preprocessor.check_columns(prepared)
    X = np.asarray(model._encoded(prepared, report, {}, "tree"), dtype=np.float64)
    text = compiler_text(cand.model_text())
    print(f"{text.count('Tree=')} trees, {len(X):,} rows x {X.shape[1]} columns")

    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.txt"
        model_file.write_text(text)
        compiled = {}
        for variant in ("lleaves", "easel"):
            library = str(Path(tmp) / f"{variant}.so")
            t0 = time.monotonic()
            subprocess.run(
                [sys.executable, "-c", COMPILE, str(model_file), library, variant], check=True
            )
            print(f"{variant}: compiled in {time.monotonic() - t0:.1f} s")
            m = lleaves.Model(model_file=str(model_file))
            m.compile(cache=library)
            compiled[variant] = m
        seconds: dict[str, list[float]] = {v: [] for v in compiled}
        first: dict[str, np.ndarray] = {}
        for _ in range(args.repeats):
            for variant, m in compiled.items():
                t0 = time.process_time()
                got = np.asarray(m.predict(X, n_jobs=1))
                seconds[variant].append(time.process_time() - t0)
                first.setdefault(variant, got)
    diff = float(np.max(np.abs(first["lleaves"] - first["easel"])))
    print(f"largest difference between the two variants' predictions: {diff:.1e}")
    med = {v: statistics.median(s) for v, s in seconds.items()}
    for variant, s in seconds.items():
        runs = ", ".join(f"{x:.2f}" for x in s)
        print(f"{variant}: median {med[variant]:.3f} CPU-s on one thread ({runs})")
    print(f"Easel's code / lleaves': {med['easel'] / med['lleaves']:.2f}")


if __name__ == "__main__":
    main()
