"""Median import time of the light entry points and of the full engine, in fresh interpreters.

    python benchmarks/import_time.py [--runs 5]

Prints figures only (no assertions): ``automl.errors`` and ``connectors`` should stay well under
the time of ``automl`` plus its machine-learning libraries, which load on first use.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

MODULES = ("automl.errors", "connectors", "automl", "automl.automl")
_CODE = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def time_import(module: str, runs: int) -> list[float]:
    """Seconds taken by ``import module`` in each of ``runs`` fresh interpreters."""
    out = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _CODE.format(mod=module)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per module")
    args = parser.parse_args()
    version = sys.version.split()[0]
    print(f"median import time over {args.runs} fresh interpreters (python {version})")
    for module in MODULES:
        times = time_import(module, args.runs)
        print(
            f"  {module:<16} {statistics.median(times) * 1000:8.0f} ms"
            f"   (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})"
        )


if __name__ == "__main__":
    main()
