"""What the browser tests share: Debian's Chromium and its flags, a Streamlit server of the real
app on a free port, and waiting for a run to finish."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "test-artifacts" / "screenshots"
HAVE_CHROMIUM = Path(CHROMIUM).exists() or bool(os.environ.get("CI"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def run_app(
    ws: Path, address: str = "127.0.0.1", cwd: Path = ROOT, port: int | None = None
) -> Iterator[str]:
    """Run ``streamlit run app/main.py`` on workspace ``ws`` from folder ``cwd`` (Streamlit reads
    ``.streamlit/`` there); yields the app's URL on loopback and stops the server afterwards."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
         "--server.headless", "true", "--server.port", str(port), "--server.address", address,
         "--browser.gatherUsageStats", "false"],
        cwd=cwd, env={**os.environ, "EASEL_WORKSPACE": str(ws)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def serve(ws: Path) -> Iterator[str]:
    """The app on workspace ``ws`` with the sample datasets loaded first."""
    env = {**os.environ, "EASEL_WORKSPACE": str(ws)}
    subprocess.run([sys.executable, "-m", "app.bootstrap"], cwd=ROOT, env=env, check=True)
    with run_app(ws) as url:
        yield url


def wait_idle(page: Any, timeout_ms: int = 30_000) -> None:
    """Wait until Streamlit has finished the current run (its running indicator is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout_ms,
    )
