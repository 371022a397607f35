"""LightGBM trees compiled to native code for batch scoring (lleaves, through LLVM).

Walking a thousand trees for each row is where a big table's batch scoring spends its time;
the same trees compiled into one function of plain comparisons score rows several times faster
with the same numbers (see docs/benchmarks.md, "Scale").

Native code is never read from a model file: a model file is hostile input, and code in it would
run. A compiled model is made here, from the model text that :mod:`._lightgbm_text` checked and
rebuilt, in a separate process (LLVM's memory and any crash stay out of the scoring process),
and kept in this computer's cache folder under the SHA-256 of that text and of the compiler's
versions. Before a compiled model scores anything, its predictions are compared with LightGBM's
own on the rows at hand; a difference means it is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from automl.candidates import _treecode

# Trees are called from their block, not inlined into it: inlining made trees that score tiles
# of rows no faster (230 trees of 7 leaves: 0.095-0.107 CPU-s per 200,000 rows inlined,
# 0.101-0.128 called) and made the compile of big ones 3.2 times longer.
# A compile's seconds grow with the trees' leaves: 515 trees of 31 leaves in 11-13 s (the
# compiler's process started included), 230 of 7 leaves in 3.5-4.3 s; a busy machine takes
# longer (docs/benchmarks.md "Scale").
COMPILE_SECONDS_PER_LEAF_CALLED = 0.0007
# The compiled function scores the rows with one block of trees at a time (lleaves'
# ``fblocksize``, 34 trees by default): a block's code should stay in the processor's
# instruction cache. Blocks hold about BLOCK_LEAVES_CALLED leaves (2 to 34 trees): 515 trees of
# 31 leaves (a 120-s build of the interactions table, 200,000 rows, one thread, median of 5,
# ``benchmarks.tree_code``) took 0.58 CPU-s in blocks of 8 trees, 0.70-0.78 in blocks of 34
# (tiles of rows; walked one row at a time, 1.27 and 1.71); trees of 7 leaves: 0.10 either way.
BLOCK_LEAVES_CALLED = 248
MIN_TREES = 20  # fewer trees score fast enough in LightGBM
MAX_TREES = 20_000  # more would take LLVM minutes and gigabytes: LightGBM scores them
CHILD_MEMORY_BYTES = 4 * 1024**3  # the compiler's process may not grow past this
MAX_CACHED = 32  # compiled models kept in the cache folder (the oldest go first)
CHECK_ROWS = 2_000
CALL_ROWS = 4_096  # rows a call of the compiled function scores (their tiles stay in the cache)
_LEAVES = re.compile(r"^num_leaves=(\d+)$", re.MULTILINE)
TOLERANCE = 1e-9


def available() -> bool:
    """Whether the compiler is installed and works on this computer (it is optional)."""
    try:
        import lleaves  # noqa: F401
    except Exception:  # any failure to load a native library means: score with LightGBM
        return False
    return True


def threads() -> int:
    from automl.memory import usable_cores

    return usable_cores()


def cache_dir() -> Path:
    """``EASEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/easel``, else ``~/.cache/easel``; ``compiled/``
    inside it."""
    root = os.environ.get("EASEL_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "easel")
    return Path(root) / "compiled"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for pkg in ("lleaves", "llvmlite"):
        try:
            parts.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            parts.append(f"{pkg}=none")
    import platform

    parts.append(platform.machine())
    # (the options follow from the model text)
    parts.append("called")
    parts.append(f"fblock~{BLOCK_LEAVES_CALLED}")
    parts.append(_treecode.NAME)
    return ",".join(parts)


def cache_key(model_text: str) -> str:
    digest = hashlib.sha256(model_text.encode())
    digest.update(_versions().encode())
    return digest.hexdigest()


def compiler_text(model_text: str) -> str:
    """The model text with the ``tree_sizes`` line the compiler reads its tree count from (the
    checked text leaves it out: LightGBM trusts those sizes to find the trees)."""
    head, sep, rest = model_text.partition("\nTree=")
    if not sep or "\ntree_sizes=" in head:
        return model_text
    body, end, tail = ("Tree=" + rest).partition("end of trees")
    blocks = ["Tree=" + b for b in body.split("Tree=")[1:]]
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    return f"{head.rstrip()}\ntree_sizes={sizes}\n\n{body}{end}{tail}"


class CompiledTrees:
    """One model text's compiled form: found in the cache, or compiled in a child process."""

    def __init__(self, model_text: str, n_trees: int) -> None:
        self.text = model_text
        self.n_trees = n_trees
        self.key = cache_key(model_text)
        self.folder = cache_dir()
        self.library = self.folder / f"{self.key}.so"
        self.digest = self.folder / f"{self.key}.sha256"
        self.proc: subprocess.Popen[bytes] | None = None
        self._job: Path | None = None
        self.failed = ""
        self._errors: Any = None
        self._leaves: int | None = None

    @property
    def leaves(self) -> int:
        if self._leaves is None:
            found = _LEAVES.findall(self.text)
            self._leaves = sum(int(n) for n in found) if found else 7 * self.n_trees
        return self._leaves

    @property
    def tiled(self) -> bool:
        """Whether the trees score tiles of rows (:func:`._treecode.lanes_for`)."""
        return _treecode.lanes_for(self.leaves, self.n_trees) > 1

    @property
    def block_trees(self) -> int:
        """The trees of a block of the compiled function (see BLOCK_LEAVES_CALLED)."""
        per_tree = self.leaves / max(self.n_trees, 1)
        return int(min(max(round(BLOCK_LEAVES_CALLED / max(per_tree, 1.0)), 2), 34))

    @property
    def seconds_to_compile(self) -> float:
        return COMPILE_SECONDS_PER_LEAF_CALLED * self.leaves

    def cached(self) -> bool:
        return self.library.is_file() and self.digest.is_file()

    def _forget(self) -> None:
        self.library.unlink(missing_ok=True)
        self.digest.unlink(missing_ok=True)

    def start(self) -> None:
        """Compile in a child process at low priority; :meth:`poll` says when it is done (also
        when another process compiles the same trees: none is started then)."""
        if self.proc is not None or self.cached():
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with _only_compile(self.library) as alone:
                if not alone:
                    return
            fd, job = tempfile.mkstemp(dir=self.folder, prefix=".job-", suffix=".txt")
            with os.fdopen(fd, "w") as fh:
                fh.write(compiler_text(self.text))
            self._job = Path(job)
            self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _cleanup)
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "automl.candidates._compiled",
                    job,
                    str(self.library),
                    str(self.block_trees),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._errors,
            )
        except OSError as exc:
            self.failed = f"could not start the compiler: {exc}"
            self._cleanup()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def poll(self) -> bool:
        """True once the compiled library is in the cache (the child has finished)."""
        if self.proc is not None and self.proc.poll() is not None:
            err = b""
            if self._errors is not None:
                self._errors.seek(max(0, self._errors.seek(0, os.SEEK_END) - 2000))
                err = self._errors.read()
            if self.proc.returncode != 0 and not self.failed:
                text = err.decode(errors="replace").strip()
                self.failed = text.splitlines()[-1] if text else "the compiler failed"
            self.proc = None
            self._cleanup()
        return self.proc is None and self.cached()

    def wait(self, seconds: float) -> None:
        """Wait at most ``seconds`` for the compile to end (it goes on after, if it has not)."""
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=max(seconds, 0.0))

    def detach(self) -> None:
        """Let a compile still running finish on its own, after the rows that started it are
        scored: its library goes to the cache for the next batches (the child removes its job
        file). A compile stopped when its batch ended was started again by the next batch and
        stopped again, so a model whose compile took longer than its batches never had it."""
        with _BACKGROUND_LOCK:
            _reap()
            if self.proc is not None and self.proc.poll() is None:
                if self.proc not in _DETACHED:  # (kept from the garbage collector while it runs)
                    _DETACHED.append(self.proc)
                self.proc = None
                self._job = None  # (a child killed by a signal leaves it to _prune)
                self._cleanup()
                return
        self.poll()

    def stop(self) -> None:
        """Stop a compile still running (the scoring finished first)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self.proc = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self._errors is not None:
            self._errors.close()
            self._errors = None
        if self._job is not None:
            self._job.unlink(missing_ok=True)
            self._job = None

    def load(self, X_check: np.ndarray, expected: np.ndarray) -> Scorer | None:
        """The compiled model, when its predictions on ``X_check`` (float32 rows) equal
        ``expected`` (LightGBM's own); None (and :attr:`failed` says why) otherwise."""
        try:
            import lleaves

            # LLVM aborts the whole process on a damaged object file: only a file whose bytes are
            # the ones the compiler wrote (its SHA-256 beside it) is loaded
            data = self.library.read_bytes()
            if hashlib.sha256(data).hexdigest() != self.digest.read_text().strip():
                raise ValueError("the file is damaged (its checksum does not match)")
            with tempfile.TemporaryDirectory() as tmp:
                txt = Path(tmp) / "model.txt"
                txt.write_text(compiler_text(self.text))
                model = Scorer(lleaves.Model(model_file=str(txt)), self.library)
            got = model.predict(X_check, n_jobs=1)
        except Exception as exc:  # a damaged cache file or a compiler that does not load
            self.failed = f"the compiled trees did not load: {exc}"
            self._forget()
            return None
        want = np.asarray(expected, dtype=np.float64).reshape(got.shape)
        scale = np.maximum(1.0, np.abs(want))
        if got.shape != want.shape or not np.all(np.abs(got - want) <= TOLERANCE * scale):
            self.failed = "the compiled trees did not give LightGBM's predictions"
            self._forget()
            return None
        with contextlib.suppress(OSError):
            os.utime(self.library)  # most recently used: the last to leave the cache
        return model


class Scorer:
    """Compiled trees loaded from the cache, scoring float32 rows (Easel's entry function:
    :mod:`._treecode`): in tiles of ``lanes`` rows, each column's values of a tile together."""

    def __init__(self, model: Any, library: Path) -> None:
        import ctypes

        model.compile(cache=str(library))  # (the object file is loaded, not compiled again)
        self._model = model  # (it holds the loaded code)
        self.n_features = int(model.num_feature())
        self.n_classes = int(model._n_classes)
        engine = model._execution_engine
        address = engine.get_function_address(_treecode.ENTRY)
        layout = engine.get_global_value_address(_treecode.LANES_SYMBOL)
        if not address or not layout:
            raise ValueError("the compiled file is not Easel's tree code")
        self.lanes = int(ctypes.c_int32.from_address(layout).value)
        if self.lanes not in (1, _treecode.LANES):
            raise ValueError(f"the compiled file has tiles of {self.lanes} rows")
        entry = ctypes.CFUNCTYPE(
            None,
            ctypes.POINTER(ctypes.c_float),
            ctypes.POINTER(ctypes.c_double),
            ctypes.c_int32,
            ctypes.c_int32,
            ctypes.c_int32,
        )
        self._entry = entry(address)  # (ctypes lets other threads run during the call)

    def accepts(self, X: Any) -> np.ndarray | None:
        """``X`` as C-ordered float32 rows of the model's width, when that gives the same numbers
        (float32 rows, or float64 ones that are float32 numbers); else None (LightGBM scores)."""
        rows = np.asarray(X)
        if rows.ndim != 2 or rows.shape[1] != self.n_features or len(rows) >= 2**30:
            return None
        if rows.dtype == np.float32:
            return np.ascontiguousarray(rows)
        if rows.dtype != np.float64:
            return None
        narrow = np.ascontiguousarray(rows, dtype=np.float32)
        same = (narrow == rows) | (np.isnan(narrow) & np.isnan(rows))
        return narrow if bool(same.all()) else None

    def tiles(self, rows: np.ndarray) -> tuple[np.ndarray, int]:
        """The rows as tiles of ``lanes`` rows (the last one padded), and the number of tiles."""
        n, width = rows.shape
        groups = -(-n // self.lanes)
        if self.lanes == 1:
            return rows, groups
        tiles = np.empty((groups, width, self.lanes), dtype=np.float32)
        whole = n // self.lanes
        tiles[:whole] = (
            rows[: whole * self.lanes].reshape(whole, self.lanes, width).transpose(0, 2, 1)
        )
        if whole < groups:  # the last rows, the rest of their tile zeros
            tail = np.zeros((self.lanes, width), dtype=np.float32)
            tail[: n - whole * self.lanes] = rows[whole * self.lanes :]
            tiles[whole] = tail.T
        return tiles, groups

    def predict(self, X: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        """Scores of float32 rows (see :meth:`accepts`): one per row, or one column per class."""
        import ctypes

        rows = self.accepts(X)
        if rows is None:
            raise ValueError("compiled trees score float32 rows of the model's columns")
        n = len(rows)
        tiles, groups = self.tiles(rows)
        out = np.zeros((self.n_classes, groups * self.lanes), dtype=np.float64)
        data = tiles.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        result = out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

        def score(first: int, end: int) -> None:
            # a few thousand rows at a time: a block of trees reads them from the cache
            step = max(1, CALL_ROWS // self.lanes)
            for at in range(first, end, step):
                self._entry(data, result, at, min(at + step, end), groups)

        jobs = max(1, min(n_jobs, groups // 2))
        if jobs == 1:
            score(0, groups)
        else:
            from concurrent.futures import ThreadPoolExecutor

            share = -(-groups // jobs)
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                parts = [
                    pool.submit(score, i, min(i + share, groups)) for i in range(0, groups, share)
                ]
                for part in parts:
                    part.result()
        if self.n_classes == 1:
            return out[0, :n]
        return np.ascontiguousarray(out[:, :n].T)


# compiles for later batches (started for them, or left to finish after their batch)
_DETACHED: list[subprocess.Popen[bytes]] = []
_BACKGROUND_LOCK = threading.Lock()  # (an app server scores batches on several threads)
MAX_BACKGROUND = 1  # of them running at once in a process (each may take gigabytes)
CHILD_CPU_SECONDS = 1800  # a compile (left to itself, or stuck) ends after this much CPU


def _reap() -> None:
    """Forget the compiles for later batches that ended, waiting for them (a server would keep
    them as zombie processes)."""
    _DETACHED[:] = [child for child in _DETACHED if child.poll() is None]


def start_for_later(trees: CompiledTrees) -> bool:
    """Start ``trees``' compile for later batches, unless MAX_BACKGROUND such compiles run in
    this process already (checked and started in one step, whatever the threads)."""
    with _BACKGROUND_LOCK:
        _reap()
        if len(_DETACHED) >= MAX_BACKGROUND:
            return False
        trees.start()
        if trees.proc is not None:
            _DETACHED.append(trees.proc)
        return True


def _prune(folder: Path, keep: int = MAX_CACHED) -> None:
    libs = sorted(folder.glob("*.so"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in libs[keep:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".sha256").unlink(missing_ok=True)
    for job in [*folder.glob(".job-*"), *folder.glob(".lib-*"), *folder.glob("*.lock")]:
        with contextlib.suppress(OSError):
            if time.time() - job.stat().st_mtime <= 3600:
                continue
            if job.suffix != ".lock":
                job.unlink()
            else:
                with _only_compile(job.with_suffix(".so")) as alone:
                    if alone:  # (never a lock a compile holds)
                        job.unlink()


@contextlib.contextmanager
def _only_compile(library: Path) -> Any:
    """True while this process alone compiles ``library`` (a lock beside it, let go when the
    process ends however it ends); False when another process is compiling it. Where such
    locks do not work (no ``fcntl``, a file system without locks), True: compiles of the same
    trees may then overlap (each writes the library atomically)."""
    try:
        import fcntl
    except ImportError:
        yield True
        return
    with library.with_suffix(".lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError:
            yield True
            return
        yield True


def _compile(model_file: str, library: str, block: int = 34) -> None:
    """The child process: compile ``model_file`` into ``library`` atomically, ``block`` trees
    to a block (each called from it, never inlined), unless another process is compiling the
    same trees (batches of one model scored at once); ``model_file`` is removed at the end."""
    try:
        with _only_compile(Path(library)) as alone:
            done = Path(library).is_file() and Path(library).with_suffix(".sha256").is_file()
            if alone and not done:
                _compile_alone(model_file, library, block)
    finally:
        Path(model_file).unlink(missing_ok=True)


def _compile_alone(model_file: str, library: str, block: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(10)
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
        resource.setrlimit(resource.RLIMIT_CPU, (CHILD_CPU_SECONDS, CHILD_CPU_SECONDS))
    import lleaves

    if not _treecode.install():
        raise SystemExit(
            "this version of lleaves generates code Easel's tree code was not written for"
        )
    out = Path(library)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".lib-", suffix=".so")
    os.close(fd)
    os.unlink(tmp)
    try:
        lleaves.Model(model_file=model_file).compile(cache=tmp, finline=False, fblocksize=block)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        side = out.with_suffix(".sha256")
        side_tmp = side.with_name(f".lib-{os.getpid()}.sha256")
        side_tmp.write_text(digest)
        os.replace(side_tmp, side)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _prune(out.parent)


def _block(arg: str) -> int:
    """The block size the parent passed (2 to 34 trees; anything else: lleaves' 34)."""
    return int(arg) if arg.isdigit() and 2 <= int(arg) <= 34 else 34


if __name__ == "__main__":
    _compile(sys.argv[1], sys.argv[2], _block(sys.argv[3]) if len(sys.argv) > 3 else 34)
