"""Single sign-on in the real app: Streamlit's st.login against a real OpenID Connect server
on loopback (oauth2-mock-server, installed by npm on first use), in Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app._browser import ARGS, CHROMIUM, ROOT, SHOTS, free_port, run_app, wait_idle

OIDC = ROOT / "tests" / "oidc"
NODE_DIR = Path(os.environ.get("EASEL_TEST_CACHE", Path.home() / ".cache" / "easel-tests")) / "oidc"
MOCK_VERSION = "7.2.1"  # runs on Node 18 (Debian 12) to 22
PW = "correct horse battery"

pytestmark = pytest.mark.skipif(
    (not Path(CHROMIUM).exists() or not shutil.which("npm")) and not os.environ.get("CI"),
    reason="Debian chromium or npm is not installed (make test installs them)",
)


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listens on port {port}")


@pytest.fixture(scope="module")
def oidc_server() -> Iterator[str]:
    """The OIDC provider's URL; it signs everyone in as dana@example.com."""
    if not (NODE_DIR / "node_modules" / "oauth2-mock-server").is_dir():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR),
             f"oauth2-mock-server@{MOCK_VERSION}"],
            check=True, timeout=300,
        )  # fmt: skip
    shutil.copy(OIDC / "server.mjs", NODE_DIR / "server.mjs")
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(NODE_DIR / "server.mjs"), str(port)],
        cwd=NODE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "OIDC_EMAIL": "Dana@Example.com", "OIDC_NAME": "Dana Example"},
    )  # fmt: skip
    wait_port(port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


def test_single_sign_on_creates_and_signs_in_the_user(oidc_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from automl.workspace import Workspace
    from automl.workspace.users import Team

    ws = tmp_path / "ws"
    team = Team(Workspace(ws))
    team.add("ada", "admin", PW)
    team.set_setting("sso_default_role", "analyst")
    port = free_port()
    run_dir = tmp_path / "run"  # Streamlit reads .streamlit/ from its working folder
    (run_dir / ".streamlit").mkdir(parents=True)
    shutil.copy(ROOT / ".streamlit" / "config.toml", run_dir / ".streamlit" / "config.toml")
    (run_dir / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-random-test-secret-of-enough-length"\n'
        'client_id = "easel"\n'
        'client_secret = "easel-secret"\n'
        f'server_metadata_url = "{oidc_server}/.well-known/openid-configuration"\n'
    )
    with run_app(ws, cwd=run_dir, port=port), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}")
        page.get_by_role("button", name="Sign in with your organization's account").click()
        expect(page.get_by_text("Signed in as dana")).to_be_visible(timeout=60_000)
        wait_idle(page)
        page.screenshot(path=str(SHOTS / "team-sso.png"), full_page=True)
        page.goto(f"http://127.0.0.1:{port}")  # a refresh keeps the sign-in
        expect(page.get_by_text("Signed in as dana")).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible(timeout=30_000)
        browser.close()
    dana = team.get("dana")
    assert (dana.role, dana.email) == ("analyst", "dana@example.com")
    log = team.audit_log()
    assert any(r["action"] == "sign in" and "single sign-on" in r["detail"] for r in log)
    assert any(r["action"] == "user add" and r["target"] == "dana" for r in log)
