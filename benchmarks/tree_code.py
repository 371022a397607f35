"""Compiled trees: lleaves' own code against Easel's (``automl/candidates/_treecode.py``), and
Easel's code with lleaves' blocks of 34 trees against the blocks Easel chooses
(``CompiledTrees.block_trees``).

    python -m benchmarks.tree_code --model MODEL_DIR [--member ID] [--blocks 4,16]
                                   [--rows 200000] [--repeats 5]

MODEL_DIR is a model folder of the interactions table (a 120-s build gives one LightGBM model,
or an ensemble of them; ``--member`` picks one, the first by default; see docs/benchmarks.md,
"Scale"). The rows are new rows of the interactions table (``benchmarks/bigtable.py``, seed 2),
encoded by the model as batch scoring encodes them. Each variant is compiled in a child process
(as Easel compiles: trees called from their blocks; lleaves' own inlines them), then all score the
same rows on one thread, alternating, ``--repeats`` times: printed are the compile seconds and
the median CPU-seconds of scoring, with ratios, after a check that all give the same
predictions. ``--blocks`` adds Easel's code with other numbers of trees per block.
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

# lleaves' own code; Easel's variants run the compiler's process Easel runs
# (``python -m automl.candidates._compiled MODEL LIBRARY BLOCK``)
LLEAVES = """
import sys, lleaves
lleaves.Model(model_file=sys.argv[1]).compile(cache=sys.argv[2])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a model folder whose default is LightGBM")
    ap.add_argument("--member", type=int, help="the default's member to compile (its id)")
    ap.add_argument(
        "--blocks", default="", help="more numbers of trees per block (2 to 34), e.g. 4,16"
    )
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import lleaves

    import automl
    from automl.candidates._compiled import CompiledTrees, Scorer, compiler_text
    from automl.candidates._lightgbm import LightGBMCandidate
    from benchmarks.bigtable import interactions

    model = automl.load(args.model)
    members = list(model.members())
    member = args.member if args.member is not None else members[0]
    cand = model.candidates.get(member) if member in members else None
    if not isinstance(cand, LightGBMCandidate):
        sys.exit(f"member {member} of the default is not a LightGBM model (members: {members})")
    rows = interactions(args.rows, 2).drop(columns=["target"])
    prepared = model.prepare(rows)
    report = model.preprocessor.check_columns(prepared)
    X32 = np.asarray(model._encoded(prepared, report, {}, "tree"), dtype=np.float32)
    X = X32.astype(np.float64)  # (lleaves reads float64 rows)
    text = compiler_text(cand.model_text())
    trees = CompiledTrees(cand.model_text(), text.count("Tree="))
    print(
        f"{trees.n_trees} trees, {trees.leaves / trees.n_trees:.1f} leaves each on average, "
        f"{len(X):,} rows x {X.shape[1]} columns"
    )
    variants = {"lleaves": 34, "easel, blocks of 34": 34, "easel": trees.block_trees}
    for n in (int(b) for b in args.blocks.split(",") if b.strip()):
        variants[f"easel, blocks of {n}"] = n

    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.txt"
        model_file.write_text(text)
        compiled = {}
        for i, (variant, block) in enumerate(variants.items()):
            library = str(Path(tmp) / f"{i}.so")
            if variant == "lleaves":
                command = [sys.executable, "-c", LLEAVES, str(model_file), library]
            else:
                command = [sys.executable, "-m", "automl.candidates._compiled", str(model_file)]
                command += [library, str(block)]
            t0 = time.monotonic()
            subprocess.run(command, check=True)
            print(f"{variant} ({block} trees a block): compiled in {time.monotonic() - t0:.1f} s")
            m = lleaves.Model(model_file=str(model_file))
            if variant == "lleaves":
                m.compile(cache=library)
                compiled[variant] = m
            else:
                compiled[variant] = Scorer(m, Path(library))
                print(f"  rows a tile: {compiled[variant].lanes}")
        seconds: dict[str, list[float]] = {v: [] for v in compiled}
        first: dict[str, np.ndarray] = {}
        for _ in range(args.repeats):
            for variant, m in compiled.items():
                rows = X if variant == "lleaves" else X32  # (Easel's code reads float32 rows)
                t0 = time.process_time()
                got = np.asarray(m.predict(rows, n_jobs=1))
                seconds[variant].append(time.process_time() - t0)
                first.setdefault(variant, got)
    diff = max(float(np.max(np.abs(first["lleaves"] - got))) for got in first.values())
    print(f"largest difference between the variants' predictions: {diff:.1e}")
    med = {v: statistics.median(s) for v, s in seconds.items()}
    for variant, s in seconds.items():
        runs = ", ".join(f"{x:.2f}" for x in s)
        print(f"{variant}: median {med[variant]:.3f} CPU-s on one thread ({runs})")
    print(f"Easel's code / lleaves': {med['easel'] / med['lleaves']:.2f}")
    print(f"Easel's blocks / blocks of 34: {med['easel'] / med['easel, blocks of 34']:.2f}")


if __name__ == "__main__":
    main()
