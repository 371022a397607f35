"""A/B of ``automl predict`` on one file: variants run in turn, each several times.

    python -m benchmarks.predict_ab MODEL FILE [--repeats 7] VARIANT [VARIANT ...]

A VARIANT is ``name`` or ``name:SETTING;SETTING``, a SETTING an environment variable given to
the command (``NUMPY_MADVISE_HUGEPAGE=0``) or ``ROOT=DIR``: the command runs the Easel of that
checkout instead of this one (``git worktree add /tmp/old HEAD~1`` for the code before a change).
The variants run one after the other, round after round, so a drift of the machine's speed touches
them alike. Prints per variant the medians of the command's own scoring seconds (it prints them),
its user and system CPU seconds and its minor page faults (the command's start included in
these three), and every run's seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.scale import _own_seconds

ROOT = Path(__file__).resolve().parent.parent


def _variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, settings = text.partition(":")
    env = {}
    for item in filter(None, settings.split(";")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"variant {name}: {item!r} is not NAME=VALUE")
        env[key] = value
    return name, env


def _run(model: str, source: str, out: Path, env: dict[str, str]) -> tuple[float, ...]:
    settings = dict(env)
    root = settings.pop("ROOT", str(ROOT))
    child_env = {**os.environ, **settings, "PYTHONPATH": root}
    cmd = [sys.executable, "-m", "automl", "predict", model, source, "--out", str(out), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, env=child_env, cwd=root)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"automl predict failed ({env}):\n{done.stderr[-2000:]}")
    seconds = _own_seconds(done.stdout + done.stderr)
    if seconds is None:
        raise SystemExit(f"automl predict did not say how long it scored ({env}):\n{done.stdout}")
    return (
        seconds,
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        after.ru_minflt - before.ru_minflt,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model")
    p.add_argument("file")
    p.add_argument("variants", nargs="+")
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    variants = [_variant(v) for v in a.variants]
    runs: dict[str, list[tuple[float, ...]]] = {name: [] for name, _ in variants}
    suffix = Path(a.file).suffix
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"scored{suffix}"
        for _ in range(max(1, a.repeats)):
            for name, env in variants:
                runs[name].append(_run(a.model, a.file, out, env))
    for name, got in runs.items():

        def med(i: int, got: list[tuple[float, ...]] = got) -> float:
            return statistics.median(r[i] for r in got)

        print(
            f"{name:12s} scoring {med(0):.2f} s (median of {len(got)}; runs "
            f"{', '.join(f'{r[0]:.1f}' for r in got)}), user {med(1):.2f} s, system "
            f"{med(2):.2f} s, minor page faults {med(3):,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
