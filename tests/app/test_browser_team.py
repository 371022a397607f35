"""Team mode in the real app, in Debian's Chromium: sign-in, two users who never see each
other's work until it is shared, a viewer who cannot build, and personal mode's address rule."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app._browser import ARGS, CHROMIUM, ROOT, SHOTS, run_app, wait_idle
from tests.conftest import make_table

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian chromium is not installed (make test installs it)",
)
PW = "correct horse battery"


@pytest.fixture(scope="module")
def team_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A team workspace: admin ada, analysts alice and bob, viewer vera; alice owns a dataset,
    a model and a build. Yields the app's URL and alice's build number."""
    import automl
    from automl.workspace import Workspace
    from automl.workspace.users import Team

    root = tmp_path_factory.mktemp("team-ws")
    team = Team(Workspace(root))
    team.add("ada", "admin", PW)
    for name, role in (("alice", "analyst"), ("bob", "analyst"), ("vera", "viewer")):
        team.add(name, role, PW)
    alice = team.workspace(team.get("alice"))
    df = make_table(200)
    alice.add_dataset("alice sales", df, "generated")
    model = automl.AutoML(time_budget=600, max_trials=2, seed=0).fit(df, target="churn")
    name, version, path = alice.new_model_path("alice churn")
    model.save(path)
    alice.add_model(name, version, path, "alice sales", model.model_)
    job = alice.create_job(
        "train", {"dataset": "alice sales", "target": "churn", "model_name": "secret build",
                  "settings": {"time_budget": 60, "preset": "quick"}},
    )  # fmt: skip
    alice.update_job(job, status="succeeded", progress=1.0, message="done")
    with run_app(root) as url:
        yield url, job


def sign_in(browser: Any, url: str, name: str, password: str = PW) -> Any:
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    page.goto(url)
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    if password == PW:
        expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=30_000)
        wait_idle(page)
        # the sign-in cookie is written by a frame's script after the run has ended: a page
        # opened before it is there is signed out (a CI run on a busy machine went to the
        # Import page that early and found the sign-in form)
        page.wait_for_function("() => document.cookie.includes('easel_session=')")
    return page


def nav_links(page: Any) -> list[str]:
    from playwright.sync_api import expect

    nav = page.get_by_test_id("stSidebarNav").locator("a")
    # (the run that signs in may still be drawing the page when "Signed in as" shows)
    expect(nav.first).to_be_visible(timeout=30_000)
    wait_idle(page)
    links = nav.all_inner_texts()
    return [t.strip().splitlines()[-1] for t in links]  # the icon's ligature comes first


def test_two_users_never_see_each_others_work(team_app: tuple[str, int]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, alice_job = team_app
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        alice = sign_in(browser, url, "alice")
        bob = sign_in(browser, url, "bob")
        expect(alice.get_by_text("alice sales").first).to_be_attached(timeout=30_000)
        alice.screenshot(path=str(SHOTS / "team-alice-home.png"), full_page=True)

        for page_path in ("", "/build", "/predict", "/models", "/explore"):
            bob.goto(f"{url}{page_path}")
            # the page has drawn (on a busy machine the first run can start after a check of
            # "nothing running" would pass), then its run has ended
            expect(bob.get_by_text("Signed in as").first).to_be_visible(timeout=30_000)
            wait_idle(bob)
            time.sleep(0.5)
            body = bob.content()  # the HTML: table cells included
            assert "alice sales" not in body and "alice churn" not in body, page_path
        bob.goto(f"{url}/build?job={alice_job}")  # another user's build, by its number
        wait_idle(bob)
        time.sleep(2)  # the build panel refreshes every 1.5 s
        body = bob.content()
        assert "secret build" not in body and f"Build {alice_job}" not in body
        bob.screenshot(path=str(SHOTS / "team-bob-build.png"), full_page=True)

        # alice shares her model with bob on the Models page; bob can predict with it
        alice.goto(f"{url}/models")
        expect(alice.get_by_role("button", name="Share (read-only)")).to_be_visible(timeout=30_000)
        wait_idle(alice)  # the sections below Share render last and move it
        with_box = alice.get_by_test_id("stSelectbox").filter(has_text="With")
        bob_option = alice.get_by_role("option", name="bob", exact=True)
        for _ in range(3):  # a click while the page still moves can land before the list opens
            with_box.scroll_into_view_if_needed()
            with_box.click()
            try:
                bob_option.wait_for(state="visible", timeout=5_000)
                break
            except Exception:
                alice.keyboard.press("Escape")
        bob_option.click()
        wait_idle(alice)
        alice.get_by_role("button", name="Share (read-only)").click()
        expect(alice.get_by_text("Shared model alice churn with bob")).to_be_visible(timeout=30_000)
        bob.goto(f"{url}/predict")
        expect(bob.get_by_role("combobox", name="Model")).to_have_value(
            re.compile("alice churn .*shared by alice"), timeout=30_000
        )
        bob.goto(url)
        expect(bob.get_by_text("Shared with you")).to_be_visible(timeout=30_000)
        expect(bob.get_by_text("alice churn").first).to_be_attached()
        bob.screenshot(path=str(SHOTS / "team-bob-shared.png"), full_page=True)
        assert "alice sales" not in bob.content()  # only the model was shared
        browser.close()


def test_wrong_password_viewer_and_sign_out(team_app: tuple[str, int]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, _ = team_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = sign_in(browser, url, "vera", "not her password")
        expect(page.get_by_text("Wrong user name or password.")).to_be_visible(timeout=30_000)
        page.goto(f"{url}/build")  # no page before signing in
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        assert not page.get_by_test_id("stSidebarNav").count()

        vera = sign_in(browser, url, "vera")
        assert nav_links(vera) == ["Home", "Predict"]
        for page_path, title in (("build", "Build"), ("admin", "Admin"), ("import", "Import")):
            vera.goto(f"{url}/{page_path}")
            expect(vera.get_by_text(f"does not include the {title} page")).to_be_visible(
                timeout=30_000
            )
            assert not vera.get_by_role("button", name="Build", exact=True).count()
            assert "Time budget" not in vera.locator("body").inner_text()
        assert nav_links(vera) == ["Home", "Predict"]
        vera.get_by_role("button", name="Sign out").click()
        expect(vera.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)

        ada = sign_in(browser, url, "ada")
        assert "Admin" in nav_links(ada)
        ada.goto(f"{url}/admin")
        expect(ada.get_by_text("Audit log")).to_be_visible(timeout=30_000)
        expect(ada.get_by_text("wrong user name or password").first).to_be_attached()
        ada.screenshot(path=str(SHOTS / "team-admin.png"), full_page=True)

        # team mode: the server's own files are off limits on the Import page until allowed
        alice = sign_in(browser, url, "alice")
        alice.goto(f"{url}/import")
        alice.get_by_role("tab", name="Database").click()
        alice.get_by_label("Database URL").fill(f"sqlite:///{ROOT / 'tests' / 'nothing.db'}")
        alice.get_by_label("Database URL").press("Enter")
        expect(alice.get_by_test_id("stAlertContentError").first).to_contain_text(
            "administrator", timeout=30_000
        )
        assert str(ROOT) not in alice.get_by_test_id("stAlertContentError").first.inner_text()
        browser.close()


def test_personal_mode_line_and_address(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with (
        run_app(tmp_path / "personal") as url,
        run_app(tmp_path / "personal-wide", address="0.0.0.0") as wide_url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        expect(page.get_by_text("Personal mode: nobody signs in")).to_be_visible(timeout=30_000)
        assert not page.get_by_role("button", name="Sign in").count()
        page.goto(wide_url)
        expect(page.get_by_text("This Easel has no users")).to_be_visible(timeout=30_000)
        assert not page.get_by_test_id("stSidebarNav").count()
        browser.close()
    refused = subprocess.run(
        [sys.executable, "-m", "app.bootstrap", "0.0.0.0"],
        cwd=ROOT, env={**os.environ, "EASEL_WORKSPACE": str(tmp_path / "personal")},
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and "refusing to serve on 0.0.0.0" in refused.stderr
