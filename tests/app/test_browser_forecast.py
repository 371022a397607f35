"""A planner in the browser: a forecast of store sales with the promotion as a future value,
read on the Analyze page, downloaded, and made again from newer history; the What if tab moves
the forecast; a plan is uploaded, and a damaged plan is refused in words;
and the whole first session of a planner, from the upload to the download of P10/P50/P90."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
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
    # builds started on the pages stop after 3 trials: the same model however busy the machine
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EASEL_BUILD_MAX_TRIALS", "3")
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


def test_a_forecast_is_read_downloaded_and_made_again_from_newer_history(
    app: tuple[str, automl.Model], page: Any, tmp_path: Path
) -> None:
    """Analyze: the forecast of the held-out days, its chart and the leaderboard. Predict: the
    forecast of every series downloads, and history up to an earlier day, uploaded, gives the
    forecast from that day on."""
    from playwright.sync_api import expect

    url, _ = app
    history = tmp_path / "sales_until_october.csv"
    sales = pd.read_csv(ROOT / "sample_data" / "store_sales.csv")
    sales[sales["date"] < "2024-11-01"].to_csv(history, index=False)
    page.goto(f"{url}/analyze")
    choose(page, "Model", "sales plan (version 1)")
    expect(page.get_by_text("Forecasts units_sold").first).to_be_visible()
    expect(page.get_by_text("Forecast of the held-out periods")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Leaderboard")).to_be_visible(timeout=60_000)
    wait_idle(page)
    expect(page.locator(".js-plotly-plot .main-svg >> visible=true").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "timeseries-2-analyze.png"), full_page=True)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Predict").click()
    choose(page, "Model", "sales plan (version 1)")
    button = page.get_by_role("button", name="Download the forecast of all 6 series (CSV)")
    expect(button).to_be_visible()
    wait_idle(page)
    expect(page.locator(".js-plotly-plot .main-svg >> visible=true").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "timeseries-3-forecast.png"), full_page=True)
    with page.expect_download() as dl:
        button.click()
    fc = pd.read_csv(dl.value.path())
    assert len(fc) == 6 * 14 and fc["date"].min().startswith("2025-01-01")
    wait_idle(page)

    page.get_by_role("tab", name="Forecast from newer history").click()
    # (the page's other upload, above the tabs, takes the promotion's planned values)
    page.get_by_test_id("stTabs").locator("input[type='file']").set_input_files(str(history))
    expect(page.get_by_text("84 forecasts for 6 series")).to_be_visible(timeout=60_000)
    wait_idle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download forecast (CSV)").click()
    new = pd.read_csv(dl.value.path())
    assert new["date"].min().startswith("2024-11-01")
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "timeseries-4-history.png"), full_page=True)


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
    # said once, above the tabs, with what the forecasts do meanwhile; no "forecasting with it"
    expect(page.get_by_text("missing 1 column: promotion")).to_have_count(1)
    expect(page.get_by_text("assume each column keeps its last known value")).to_be_visible()
    expect(page.get_by_text("Forecasting with your future values")).to_have_count(0)
    upload.locator("input[type='file']").set_input_files(str(good))
    expect(page.get_by_text("Forecasting with your future values from plan.csv")).to_be_visible()
    expect(page.get_by_text("missing 1 column")).to_have_count(0)
    wait_idle(page)


def planned_sales(days: int = 200) -> pd.DataFrame:
    """Three stores' daily sales that rise when the price is cut, on promotions and on US
    public holidays; no column describes a store (only its name)."""
    import holidays

    rng = np.random.default_rng(0)
    when = pd.date_range("2024-01-01", periods=days, freq="D")
    us = holidays.country_holidays("US", years=[2024])
    holiday = np.array([d in us for d in when.date])
    parts = []
    for store, level in (("North", 300.0), ("South", 200.0), ("East", 120.0)):
        price = 10.0 - rng.choice([0.0, 1.0, 2.0], size=days, p=[0.6, 0.2, 0.2])
        promo = rng.random(days) < 0.2
        units = level * (price / 10.0) ** -2 * np.where(promo, 1.3, 1.0)
        units *= np.where(holiday, 1.5, 1.0) * (1 + 0.2 * (when.day_of_week >= 5))
        parts.append(
            pd.DataFrame(
                {
                    "day": when.strftime("%Y-%m-%d"),
                    "store": store,
                    "price": price,
                    "promotion": np.where(promo, "yes", "no"),
                    "units": np.round(units * rng.normal(1, 0.03, days)),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_a_planner_uploads_builds_reads_the_backtests_cuts_a_price_and_downloads(
    app: tuple[str, automl.Model], page: Any, tmp_path: Path
) -> None:
    """The issue's "Done when", in the browser: sales with prices, promotions and a holiday
    country are uploaded and built on; the backtests are shown; next weeks' price cut for one
    store moves its forecast up; the forecast downloads with P10, P50 and P90."""
    from playwright.sync_api import expect

    url, _ = app
    data = tmp_path / "planner_sales.csv"
    planned_sales().to_csv(data, index=False)
    page.goto(f"{url}/import")
    page.locator("input[type='file']").first.set_input_files(str(data))
    expect(page.get_by_text("600 rows, 5 columns").first).to_be_visible()
    wait_idle(page)
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved planner sales").first).to_be_visible()

    page.goto(f"{url}/build")
    choose(page, "Dataset", "planner sales")
    choose(page, "Column to predict (target)", "units")
    expect(page.get_by_text("3 series of 200 days").first).to_be_visible()
    for column in ("price", "promotion"):
        expect(page.get_by_role("checkbox", name=f"{column}: known ahead")).to_be_checked()
    page.locator("[data-testid='stSelectbox']").filter(has_text="Holidays").click()
    page.keyboard.type("United States")  # the list of countries is long: type to find one
    page.get_by_role("option", name="United States (US)", exact=True).click()
    wait_idle(page)
    horizon = page.get_by_role("spinbutton", name="Forecast horizon (days ahead)")
    horizon.fill("14")
    horizon.press("Enter")
    budget = page.get_by_label("Time budget (seconds, optional)", exact=True).and_(
        page.get_by_test_id("stNumberInputField")
    )
    budget.fill("300")  # far more than 3 trials need (EASEL_BUILD_MAX_TRIALS)
    budget.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "is ready", timeout=120_000
    )
    wait_idle(page)
    # the search's score is on each series' own scale, not the target's units: the label says so
    expect(page.get_by_text("so far", exact=False).first).to_contain_text("(relative)")
    page.screenshot(path=str(SHOTS / "planner-1-build.png"), full_page=True)

    page.goto(f"{url}/analyze")
    choose(page, "Model", "planner sales - units (version 1)")
    expect(page.get_by_text("Forecasts units up to 14 days ahead").first).to_be_visible()
    page.get_by_text("Backtests", exact=True).click()
    backtests = page.get_by_test_id("stExpander").filter(has_text="earlier windows")
    expect(backtests.get_by_text("Backtests of North")).to_be_visible()
    expect(backtests.get_by_text("Metrics per series and window")).to_be_visible()
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "planner-2-backtests.png"), full_page=True)

    page.goto(f"{url}/predict")
    choose(page, "Model", "planner sales - units (version 1)")
    expect(page.get_by_text("planned values of price, promotion")).to_be_visible()
    button = page.get_by_role("button", name="Download the forecast of all 3 series (CSV)")
    with page.expect_download() as dl:
        button.click()
    fc = pd.read_csv(dl.value.path())
    assert list(fc.columns) == ["store", "day", "step", "prediction", "p10", "p50", "p90"]
    assert len(fc) == 3 * 14 and fc["day"].min() == "2024-07-19"
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()
    wait_idle(page)
    page.get_by_role("tab", name="What if").click()
    choose(page, "Series", "South")
    choose(page, "Column", "price")  # by a percent, -10 by default: a price cut
    change = page.get_by_test_id("stMetric").filter(has_text="Change in units")
    expect(change).to_be_visible()
    assert float(change.get_by_test_id("stMetricValue").inner_text().replace(",", "")) > 0
    page.screenshot(path=str(SHOTS / "planner-3-what-if.png"), full_page=True)
