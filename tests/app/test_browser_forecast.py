"""A planner in the browser: a forecast of store sales with the promotion as a future value;
the What if tab moves the forecast; a plan is uploaded, and a damaged plan is refused in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import automl
from automl.workspace import Workspace
from tests.app._browser import ARGS, CHROMIUM, HAVE_CHROMIUM, ROOT, SHOTS, serve, wait_idle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_CHROMIUM, reason="Debian chromium is not installed (make test installs it)"
    ),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, automl.Model]]:
    ws = Workspace(tmp_path_factory.mktemp("forecast-ws"))
    sales = pd.read_csv(ROOT / "sample_data" / "store_sales.csv")
    fit = automl.AutoML(
        task="timeseries",
        time_column="date",
        series_columns=["store"],
        horizon=14,
        time_budget=600,
        max_trials=2,
    ).fit(sales, "units_sold")
    name, version, path = ws.new_model_path("sales plan")
    fit.save(path)
    ws.add_model(name, version, path, "store sales", automl.load(path))
    with serve(ws.root) as url:
        yield url, automl.load(path)


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        assert not page.get_by_text("Traceback").count()
        assert errors == []
        browser.close()


def choose(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label`` (again if a rerun closed its list)."""
    from playwright.sync_api import Error

    for attempt in range(3):
        wait_idle(page)
        page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            break
        except Error:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    wait_idle(page)


def test_what_if_a_promotion_moves_the_forecast(app: tuple[str, automl.Model], page: Any) -> None:
    from playwright.sync_api import expect

    url, _ = app
    page.goto(f"{url}/predict")
    expect(page.get_by_text("planned values of promotion")).to_be_visible(timeout=60_000)
    wait_idle(page)
    page.get_by_role("tab", name="What if").click()
    wait_idle(page)
    choose(page, "Series", "Maple Street")
    choose(page, "New value", "yes")  # a promotion on every day ahead
    change = page.get_by_test_id("stMetric").filter(has_text="Change in units_sold")
    expect(change).to_be_visible()
    value = change.get_by_test_id("stMetricValue").inner_text()
    assert float(value.replace(",", "")) > 100, value  # the promotion sells more
    expect(page.get_by_text("what-if forecast").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "timeseries-5-what-if.png"), full_page=True)
    choose(page, "New value", "no")  # no promotion: the plan's own values, no change
    expect(change.get_by_test_id("stMetricValue")).to_have_text("0")


def test_a_plan_is_uploaded_and_a_damaged_one_is_refused(
    app: tuple[str, automl.Model], page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, model = app
    plan = model.future_template().assign(promotion="yes")
    good = tmp_path / "plan.csv"
    plan.to_csv(good, index=False)
    bad = tmp_path / "broken plan.csv"
    plan.drop(columns=["promotion"]).to_csv(bad, index=False)
    page.goto(f"{url}/predict")
    expect(page.get_by_text("planned values of promotion")).to_be_visible(timeout=60_000)
    wait_idle(page)
    upload = page.locator("[data-testid='stFileUploader']").filter(has_text="Your future values")
    upload.locator("input[type='file']").set_input_files(str(bad))
    expect(page.get_by_text("missing 1 column: promotion").first).to_be_visible()
    wait_idle(page)
    upload.locator("input[type='file']").set_input_files(str(good))
    expect(page.get_by_text("Forecasting with your future values from plan.csv")).to_be_visible()
    expect(page.get_by_text("missing 1 column")).to_have_count(0)
    wait_idle(page)
