"""The real app in Debian's Chromium: build a model from a sample dataset, read it, predict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app._browser import ARGS, CHROMIUM, HAVE_CHROMIUM, ROOT, SHOTS, serve, wait_idle

pytestmark = pytest.mark.skipif(
    not HAVE_CHROMIUM, reason="Debian chromium is not installed (make test installs it)"
)


WORKSPACE: list[Path] = []  # the served app's workspace folder (set by the server fixture)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ws = tmp_path_factory.mktemp("browser-ws")
    WORKSPACE.append(ws)
    with pytest.MonkeyPatch.context() as mp:
        # every build stops after 4 trials (the app server's cap, inherited by its builds): the
        # budgets the tests type are upper bounds, and a build's trials do not depend on how
        # busy the machine is
        mp.setenv("EASEL_BUILD_MAX_TRIALS", "4")
        with serve(ws) as url:
            yield url


JOURNEYS = {
    # dataset file, target, a column the what-if changes, what the prediction metric shows
    "binary": ("customer_churn.csv", "churned", "support_calls", "Confidence"),
    "regression": ("house_prices.csv", "sale_price", "living_area_sqft", "Predicted sale_price"),
}


def build(page: Any, seconds: int, shot: str) -> None:
    """On the Build page (dataset and target chosen): set the budget, build, wait until the model
    is ready, and keep a screenshot."""
    from playwright.sync_api import expect

    budget = page.get_by_label("Time budget (seconds, optional)", exact=True).and_(
        page.get_by_test_id("stNumberInputField")
    )
    budget.fill(str(seconds))
    budget.press("Enter")
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "is ready", timeout=120_000
    )
    wait_idle(page)
    page.screenshot(path=str(SHOTS / shot), full_page=True)


@pytest.mark.parametrize("kind", sorted(JOURNEYS))
def test_full_journey_in_the_browser(server: str, tmp_path: Path, kind: str) -> None:
    """Upload a CSV -> quick build (4 trials) -> hold-out metrics -> single prediction and
    what-if -> batch prediction and download, as an analyst does it, in Chromium, going from
    page to page with the menu."""
    import pandas as pd
    from playwright.sync_api import expect, sync_playwright

    file, target, what_if, shown = JOURNEYS[kind]
    upload = tmp_path / file
    upload.write_bytes((ROOT / "sample_data" / file).read_bytes())
    rows = pd.read_csv(upload).head(40).drop(columns=[target])
    batch = tmp_path / f"new_{file}"
    rows.to_csv(batch, index=False)
    name = f"{kind} upload"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{server}/import")
        page.locator("input[type='file']").set_input_files(str(upload))
        expect(page.get_by_text("rows, ").first).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.get_by_label("Dataset name").fill(name)
        page.get_by_label("Dataset name").press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Save dataset").click()
        expect(page.get_by_test_id("stAlertContentSuccess").last).to_contain_text(
            f"Saved {name}", timeout=30_000
        )
        page.screenshot(path=str(SHOTS / f"{kind}-1-import.png"), full_page=True)

        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Build").click()
        boxes = page.locator("[data-testid='stSelectbox']")
        expect(boxes.first).to_be_visible(timeout=30_000)
        boxes.nth(0).click()
        page.get_by_role("option", name=name, exact=True).click()
        wait_idle(page)
        boxes.nth(1).click()
        page.get_by_role("option", name=target, exact=True).click()
        expect(page.get_by_text("Problem type:")).to_be_visible(timeout=30_000)
        wait_idle(page)
        build(page, 60, f"{kind}-2-build.png")

        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Analyze").click()
        expect(page.get_by_text("never saw").first).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Leaderboard")).to_be_visible(timeout=60_000)
        wait_idle(page)
        expect(page.locator(".js-plotly-plot .main-svg >> visible=true").first).to_be_visible(
            timeout=30_000
        )
        page.screenshot(path=str(SHOTS / f"{kind}-3-analyze.png"), full_page=True)
        reports = [("Performance report (HTML)", "Model performance")]
        reports += [("Data report (HTML)", "Data report")] if kind == "binary" else []
        for button, expected in reports:  # (the same data report for any kind of model)
            with page.expect_download() as dl:
                page.get_by_role("button", name=button).click()
            assert expected in Path(dl.value.path()).read_text(encoding="utf-8")[:20_000]
            wait_idle(page)

        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Predict").click()
        expect(page.get_by_text(shown).first).to_be_visible(timeout=30_000)
        wait_idle(page)
        value = page.get_by_test_id("stMetricValue").first.inner_text()
        field = page.get_by_label(what_if, exact=True)
        field.fill(str(float(field.input_value()) * 3 + 7))
        field.press("Enter")
        wait_idle(page)
        expect(page.get_by_test_id("stMetricValue").first).to_be_visible()
        if kind == "regression":  # a much larger house must change the predicted price
            expect(page.get_by_test_id("stMetricValue").first).not_to_have_text(value)
        page.screenshot(path=str(SHOTS / f"{kind}-4-predict.png"), full_page=True)

        page.get_by_role("tab", name="Batch prediction").click()
        page.locator("input[type='file']").set_input_files(str(batch))
        page.get_by_role("button", name="Score file").click()
        expect(page.get_by_text("40 rows scored")).to_be_visible(timeout=60_000)
        wait_idle(page)
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download predictions (CSV)").click()
        scored = pd.read_csv(dl.value.path())
        assert len(scored) == 40 and "prediction" in scored.columns
        assert list(scored.columns[: rows.shape[1]]) == list(rows.columns)
        wait_idle(page)  # the download button reruns the page
        page.screenshot(path=str(SHOTS / f"{kind}-5-batch.png"), full_page=True)

        assert not page.get_by_text("Traceback").count()
        assert errors == []
        browser.close()


def test_import_a_file_in_the_browser(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    data = tmp_path / "orders.csv"
    data.write_text(
        "order_id,amount,region\n" + "".join(f"{i},{i * 1.5},r{i % 3}\n" for i in range(60))
    )
    bad = tmp_path / "ragged.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(f"{server}/import")
        page.locator("input[type='file']").set_input_files(str(bad))
        expect(page.get_by_test_id("stAlertContentError")).to_contain_text(
            "line 3: found 3 fields", timeout=30_000
        )
        page.locator("input[type='file']").set_input_files(str(data))
        expect(page.get_by_text("60 rows, 3 columns")).to_be_visible(timeout=30_000)
        wait_idle(page)
        # change the detected type of 'amount' (2nd row of the types table) to categorical
        grid = page.get_by_test_id("stDataFrame").nth(1).bounding_box()
        assert grid is not None
        page.mouse.dblclick(grid["x"] + 210, grid["y"] + 35 * 2 + 17)
        page.wait_for_timeout(500)  # the cell's choice list opens (canvas grid: no DOM to await)
        page.keyboard.type("categorical")
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        page.mouse.click(grid["x"] + 600, grid["y"] + 400)  # leave the table
        wait_idle(page)
        page.get_by_role("button", name="Save dataset").click()
        expect(page.get_by_test_id("stAlertContentSuccess").last).to_contain_text(
            "Saved orders", timeout=30_000
        )
        from automl.workspace import Workspace

        lineage = Workspace(WORKSPACE[0]).get_dataset("orders").lineage
        assert lineage["column_types"] == {"amount": "categorical"}
        browser.close()


def test_data_pages_in_the_browser(server: str) -> None:
    """Join, Prepare, Explore and Models render in Chromium without errors; screenshots are kept
    in test-artifacts/screenshots for the user guide and for review."""
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{server}/join")
        expect(page.get_by_text("Result rows", exact=True)).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.screenshot(path=str(SHOTS / "join.png"), full_page=True)

        page.goto(f"{server}/prepare")
        expect(page.get_by_text("1. Auto-clean")).to_be_visible(timeout=30_000)
        page.locator("[data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name="house prices").click()
        expect(page.get_by_text("Version 1: 3,000 rows, 14 columns")).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.get_by_role("button", name="Find issues").click()
        expect(page.get_by_text("found. Choose a fix for each")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Add these fixes to the recipe").click()
        expect(page.get_by_role("button", name="Undo last step")).to_be_visible(timeout=30_000)
        wait_idle(page)
        expect(page.get_by_text("Fill missing lot_area_sqft with the median")).to_be_visible()
        page.screenshot(path=str(SHOTS / "prepare.png"), full_page=True)

        page.goto(f"{server}/explore")
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.screenshot(path=str(SHOTS / "explore.png"), full_page=True)

        page.goto(f"{server}/models")
        expect(page.get_by_text("Models").first).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.screenshot(path=str(SHOTS / "models.png"), full_page=True)

        for shot in ("join", "prepare", "explore"):
            assert (SHOTS / f"{shot}.png").stat().st_size > 10_000
        assert not page.get_by_text("Traceback").count()
        assert errors == []
        browser.close()
