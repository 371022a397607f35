"""Where each benchmarked framework runs, and running one benchmark in a child process.

Easel and LightGBM run in the project's venv (_run_one.py); the peer AutoML frameworks in their
own venvs made by benchmarks/setup_peers.sh (_run_peer.py). ``run_child`` runs one of them with a
time limit, measures its peak memory and stops everything it started. Imports nothing heavy, so a
script that starts the runs stays small (on Linux a child's peak RSS starts from its parent's at
fork time).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _venv(name: str) -> str:
    return str(HERE / f".venv-{name}" / "bin" / "python")


# framework -> (python, runner module)
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "easel": (sys.executable, "benchmarks._run_one"),
    "flaml": (_venv("flaml"), "benchmarks._run_peer"),
    "ag_medium": (_venv("autogluon"), "benchmarks._run_peer"),
    "ag_best": (_venv("autogluon"), "benchmarks._run_peer"),
    "h2o": (_venv("h2o"), "benchmarks._run_peer"),
    "lightgbm": (sys.executable, "benchmarks._run_one"),
    "constant": (sys.executable, "benchmarks._run_peer"),
}

# the argument of setup_peers.sh that makes a framework's venv
SETUP = {"flaml": "flaml", "ag_medium": "autogluon", "ag_best": "autogluon", "h2o": "h2o"}


def missing(framework: str) -> str | None:
    """Why a framework cannot run here (its venv is not made yet), or None."""
    python = FRAMEWORKS[framework][0]
    if Path(python).exists():
        return None
    return f"{python} missing: run bash benchmarks/setup_peers.sh {SETUP.get(framework, '')}"


# ---- running one benchmark in a child process ------------------------------------------------

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@dataclass
class ChildRun:
    """How a child process ended: exit code (None when killed at the time limit), wall seconds,
    its peak RSS from wait4 (the largest of it and its reaped descendants), the peak of the summed
    RSS of it and all its descendants (sampled every POLL_S: H2O's Java server and ray workers
    start sessions of their own), and what it printed."""

    returncode: int | None
    wall_s: float
    peak_mb: float
    tree_peak_mb: float
    stdout: str
    stderr: str

    def result(self) -> dict[str, Any] | None:
        """The last JSON line it printed, if it ended well."""
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith("{")]
        if self.returncode != 0 or not lines:
            return None
        return dict(json.loads(lines[-1]))

    def stderr_tail(self, n: int = 5) -> list[str]:
        lines = [ln.rstrip()[:300] for ln in self.stderr.strip().splitlines() if ln.strip()]
        if lines:
            return lines[-n:]
        return ["nothing on stderr" if self.returncode is None else f"exit code {self.returncode}"]


POLL_S = 0.5


def become_subreaper() -> None:
    """Orphans of our children (a daemon, the children of a killed runner) become our children
    instead of init's, so ``run_child`` finds, measures and stops them. For the main process of a
    benchmark script; Linux only (elsewhere a run's process group and the processes found below it
    while it runs are what is stopped)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident pages) of every process, from /proc (empty elsewhere)."""
    out: dict[int, tuple[int, int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2 :].split()  # after "pid (command) "
            out[int(name)] = (int(fields[1]), int(fields[21]))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _tree(procs: dict[int, tuple[int, int]], skip: set[int]) -> list[int]:
    """Our descendants, leaving out the subtrees of ``skip`` (children we had before the run)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = [c for c in children.get(os.getpid(), []) if c not in skip]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _end_tree(skip: set[int], pgid: int) -> None:
    """Kill and reap whatever the run left behind (its process group and every descendant)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    me = os.getpid()
    for _ in range(50):
        procs = _processes()
        tree = _tree(procs, skip)
        if not tree:
            return
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            if procs[pid][0] == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)


def run_child(cmd: list[str], timeout: float, cwd: Path, env: dict[str, str]) -> ChildRun:
    """Run ``cmd`` in its own session; kill it and everything it started after ``timeout``
    seconds, and in any case stop what it left running when it ends (see ``become_subreaper``)."""
    skip = {pid for pid, (ppid, _) in _processes().items() if ppid == os.getpid()}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=err, env=env, start_new_session=True
        )
        skip.discard(proc.pid)
        tree_peak = 0
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            procs = _processes()
            tree_peak = max(tree_peak, sum(procs[p][1] for p in _tree(procs, skip)))
            if time.monotonic() - t0 > timeout:
                timed_out = True
                for p in [proc.pid, *_tree(procs, skip)]:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(p, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(POLL_S)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
        _end_tree(skip, proc.pid)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    peak = usage.ru_maxrss / 1024
    return ChildRun(
        returncode=None if timed_out else proc.returncode,
        wall_s=wall,
        peak_mb=peak,
        tree_peak_mb=max(tree_peak * PAGE_MB, peak),
        stdout=stdout,
        stderr=stderr,
    )
