"""Connecting to a Dask cluster, or starting one on this computer, and closing it again.

``local:N`` starts a ``LocalCluster`` of N worker processes with one thread each; any other
address is a running scheduler's (``tcp://HOST:8786``). A :class:`Cluster` closes what it
started: the client, and for ``local:N`` the worker processes, on every way out (an error, an
interrupt), so no worker process outlives the command that started it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from automl.errors import ClusterError, ParameterError
from automl.memory import usable_cores
from connectors._secrets import MASK

ENV_VAR = "EASEL_DASK_SCHEDULER"  # the app's builds run their trials on this cluster
LOCAL = "local"
MAX_LOCAL_WORKERS = 64
# Seconds to reach a scheduler and to see its first worker: a scheduler on the same network
# answers in well under a second, and a worker registers within a few.
CONNECT_SECONDS = 10.0
CLOSE_SECONDS = 20.0
INSTALL_HINT = (
    "Running on a Dask cluster needs Easel's cluster extra: pip install 'easel[cluster]' "
    "(it installs dask[distributed,dataframe])."
)
_ADDRESS = re.compile(
    r"^(?:(tcp|tls|ws|wss|ucx)://)?([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SHOWN = 80  # characters of a bad address shown in a message


@dataclass(frozen=True)
class ClusterAddress:
    """A checked cluster address: a scheduler's, or ``local:N`` (``local_workers`` = N)."""

    text: str
    local_workers: int | None = None

    @property
    def is_local(self) -> bool:
        return self.local_workers is not None


def _shown(text: str) -> str:
    """``text`` as shown in a message: shortened, and without what stands before an '@' (a
    user name and password: a scheduler's address holds none, and a message never shows one)."""
    if "@" in text:
        scheme = _SCHEME.match(text)
        text = f"{scheme.group(0) if scheme else ''}{MASK}@{text.rsplit('@', 1)[1]}"
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


def local_cores() -> int:
    """The processor cores this process may use (a local cluster's workers share them)."""
    return usable_cores()


def parse_address(text: Any) -> ClusterAddress:
    """``text`` checked as a cluster address (no Dask needed): a ``ParameterError`` that says
    what an address looks like for anything else."""
    if isinstance(text, ClusterAddress):
        return text
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(
            (
                "The cluster address is empty."
                if isinstance(text, str) or text is None
                else "The cluster address must be text."
            )
            + " Give a Dask scheduler's address such as "
            "tcp://scheduler.example.com:8786, or local:N to start N worker processes on this "
            "computer (for example local:2)."
        )
    t = text.strip()
    if t.lower().startswith(LOCAL) and not t.lower().startswith(f"{LOCAL}host"):
        count = t[len(LOCAL) :]
        digits = count[1:]
        ok = count.startswith(":") and digits.isascii() and digits.isdigit() and len(digits) < 4
        if not ok or not 1 <= int(digits) <= MAX_LOCAL_WORKERS:
            raise ParameterError(
                f"'{_shown(t)}' is not a local cluster Easel can start: write local:N with N, "
                f"the number of worker processes, from 1 to {MAX_LOCAL_WORKERS} (for example "
                "local:2, about one per processor core)."
            )
        n, cores = int(digits), local_cores()
        if n > 2 * cores:
            raise ParameterError(
                f"local:{n} would start {n} worker processes on this computer, which has {cores} "
                f"processor core(s): more than two per core only slows the build and fills the "
                f"memory. Give local:{cores} (one per core), or a scheduler's address to use "
                "more computers."
            )
        return ClusterAddress(f"{LOCAL}:{n}", n)
    m = _ADDRESS.match(t)
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise ParameterError(
            f"'{_shown(t)}' is not a Dask scheduler address. Give one such as "
            "tcp://scheduler.example.com:8786 (the scheme, the host and the port the scheduler "
            "listens on), or local:N to start N worker processes on this computer."
        )
    return ClusterAddress(t if m.group(1) else f"tcp://{t}")


def _easel_version() -> str:
    """Run on every worker: the Easel it imports (it must be the client's)."""
    from automl._version import __version__

    return str(__version__)


class Cluster:
    """A Dask client connected to a cluster, and the local cluster it started, if any.

    ``close()`` (or leaving a ``with`` block) closes the client and stops the worker processes
    of a local cluster."""

    def __init__(self, client: Any, name: str, local: Any = None) -> None:
        self.client = client
        self.name = name  # what the user gave (local:N, or the scheduler's address)
        self._local = local

    @property
    def address(self) -> str:
        """The scheduler's address (a local cluster's too): another client can connect to it."""
        return str(self.client.scheduler.address)

    def workers(self) -> list[str]:
        """The addresses of the workers connected now."""
        return sorted(self.client.nthreads())

    @property
    def slots(self) -> int:
        """How many trials run at once: one per worker (a trial uses its own threads)."""
        return max(1, len(self.workers()))

    def close(self) -> None:
        try:
            with contextlib.suppress(Exception):
                self.client.close(timeout=CLOSE_SECONDS)
        finally:
            if self._local is not None:
                local, self._local = self._local, None
                with contextlib.suppress(Exception):
                    local.close(timeout=CLOSE_SECONDS)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dask() -> tuple[Any, Any]:
    try:
        import dask
        import distributed
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return dask, distributed


def connect(address: str | ClusterAddress, timeout: float = CONNECT_SECONDS) -> Cluster:
    """A :class:`Cluster` for ``address``: ``local:N`` starts N worker processes here (one
    thread each); a scheduler's address is connected to. A ``ClusterError`` in words when no
    scheduler answers within ``timeout`` seconds, when it has no worker, or when a worker runs
    another Easel."""
    spec = parse_address(address)
    dask, distributed = _dask()
    # Dask's own log lines (a worker lost, a task given up) would interleave with Easel's
    # output; Easel says what they mean in words (a lost worker's trial says so)
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    local = None
    try:
        if spec.local_workers is not None:
            # a task whose worker died is not tried again on another: the trial is marked
            # failed (a configuration that kills its worker would kill them all)
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                local = distributed.LocalCluster(
                    n_workers=spec.local_workers,
                    threads_per_worker=1,
                    processes=True,
                    # no dashboard; the scheduler's own web routes on a free port (its
                    # default, 8787, may be taken by another cluster on this computer)
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                    scheduler_kwargs={"allowed_failures": 0, "dashboard": False},
                )
            client = distributed.Client(local, timeout=timeout)
        else:
            client = distributed.Client(spec.text, timeout=timeout)
    except (OSError, TimeoutError, RuntimeError) as exc:  # RuntimeError: a worker did not start
        if local is not None:
            with contextlib.suppress(Exception):
                local.close(timeout=CLOSE_SECONDS)
        if spec.is_local:
            raise ClusterError(
                f"Easel could not start {spec.local_workers} worker processes on this computer "
                f"({_shown(str(exc))}). Try fewer workers, or run without --cluster."
            ) from None
        raise ClusterError(
            f"No Dask scheduler answered at '{_shown(spec.text)}' within {timeout:g} s. Check "
            "the address and port (a scheduler listens on 8786 unless told otherwise), that the "
            "scheduler is running, and that this computer can reach it."
        ) from None
    except Exception:  # not a Dask scheduler: e.g. a web server's reply read as a size
        if spec.is_local:
            if local is not None:
                with contextlib.suppress(Exception):
                    local.close(timeout=CLOSE_SECONDS)
            raise
        raise ClusterError(
            f"Something answered at '{_shown(spec.text)}', but not as a Dask scheduler. Check "
            "the address and port (a scheduler listens on 8786 unless told otherwise; 8787 is "
            "its dashboard, a web page) and that the scheduler runs the same Dask as this "
            "computer."
        ) from None
    cluster = Cluster(client, spec.text, local)
    try:
        _check_workers(cluster, timeout)
    except BaseException:
        cluster.close()
        raise
    return cluster


def _check_workers(cluster: Cluster, timeout: float) -> None:
    """At least one worker, and every worker running this Easel."""
    try:
        cluster.client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        raise ClusterError(
            f"The Dask scheduler at '{_shown(cluster.name)}' has no workers. Start at least one "
            f"(dask worker {_shown(cluster.address)}, on machines with Easel installed) and "
            "try again."
        ) from None
    mine = _easel_version()
    try:
        theirs = cluster.client.run(_easel_version, on_error="return")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"The workers of the Dask cluster at '{_shown(cluster.name)}' did not answer "
            f"({_shown(str(exc))}). Check that they are running, then try again."
        ) from None
    other = sorted(w for w, v in theirs.items() if v != mine)
    if other:
        found = theirs[other[0]]
        what = f"Easel {found}" if isinstance(found, str) else "no Easel"
        raise ClusterError(
            f"{len(other)} worker(s) of the Dask cluster at '{_shown(cluster.name)}' run "
            f"{_shown(what)} (first: {other[0]}), this computer Easel {mine}. Install the same "
            "Easel on every worker (pip install 'easel[cluster]' from the same source), then "
            "try again."
        )


@contextlib.contextmanager
def using(cluster: str | ClusterAddress | Cluster | None) -> Iterator[Cluster | None]:
    """The cluster to use for one command or fit: None (no Dask is imported), a running
    :class:`Cluster` (left open), or an address (connected now and closed at the end)."""
    if cluster is None or isinstance(cluster, Cluster):
        yield cluster
        return
    with connect(cluster) as running:
        yield running
