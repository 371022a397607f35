"""What a first-time analyst reads, in Chromium: tables show their rows, the headline names the
guess to beat, the flow chart is legible, Explore plots measurements, Import says how it read a
file. Screenshots are kept in test-artifacts/screenshots for review."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.app._browser import ARGS, CHROMIUM, SHOTS, run_app, wait_idle

ROW_PX = 35  # Streamlit's table row height

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian chromium is not installed (make test installs it)",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a workspace with the samples, nine more datasets (13 in all) and one model."""
    import automl
    from app.bootstrap import load_samples
    from automl.workspace import Workspace

    root = tmp_path_factory.mktemp("reading-ws")
    ws = Workspace(root)
    load_samples(ws)
    rng = np.random.default_rng(0)
    workers = pd.DataFrame(
        {
            "worker_id": np.arange(1, 301),
            "age": rng.integers(18, 66, 300),
            "hourly_wage": rng.uniform(12, 40, 300).round(2),
        }
    )
    ws.add_dataset("workers", workers, "test")
    for i in range(8):
        ws.add_dataset(f"extract {i + 1}", workers.sample(50, random_state=i), "test")
    df = ws.load_dataset("customer churn")
    model = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(df, "churned")
    name, version, path = ws.new_model_path("churn model")
    model.save(path)
    ws.add_model(name, version, path, "customer churn", model.model_)

    with run_app(root) as url:
        yield url


def table_height(page: Any, n: int) -> float:
    box = page.get_by_test_id("stDataFrame").nth(n).bounding_box()
    assert box is not None
    return float(box["height"])


def test_what_the_analyst_reads(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    eu = tmp_path / "prices.csv"
    eu.write_bytes("item;price\nKäse;1.234,5\nBrot;2,25\nMilch;0,99\n".encode("cp1252"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Home: all 13 datasets in view, no inner scrolling
        page.goto(server)
        expect(page.get_by_text("Datasets").first).to_be_visible(timeout=30_000)
        wait_idle(page)
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        assert table_height(page, 0) >= (13 + 1) * ROW_PX
        page.screenshot(path=str(SHOTS / "reading-1-home.png"), full_page=True)

        # Models: the comparison shows every line down to the hold-out metrics
        page.goto(f"{server}/models")
        expect(page.get_by_text("Compare", exact=True)).to_be_visible(timeout=30_000)
        wait_idle(page)
        compare = page.get_by_test_id("stDataFrame").nth(1)
        expect(compare).to_be_visible()
        assert table_height(page, 1) >= (16 + 1) * ROW_PX  # 9 facts and 7 hold-out metrics
        page.screenshot(path=str(SHOTS / "reading-2-models.png"), full_page=True)

        # Analyze: the headline names the guess to beat; the interval says what it covers
        page.goto(f"{server}/analyze")
        expect(page.get_by_text("always answering").first).to_be_visible(timeout=30_000)
        expect(page.get_by_text("does not cover another sample").first).to_be_visible(
            timeout=60_000
        )
        wait_idle(page)
        sankey = page.locator(".js-plotly-plot .sankey-node text").first
        expect(sankey).to_be_visible(timeout=30_000)
        size = sankey.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 14
        page.screenshot(path=str(SHOTS / "reading-3-analyze.png"), full_page=True)

        # Explore: the default scatter plots two measurements, not the ID
        page.goto(f"{server}/explore")
        page.locator("[data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name="workers", exact=True).click()
        wait_idle(page)
        expect(page.locator(".js-plotly-plot .xtitle").first).to_have_text("age", timeout=30_000)
        page.screenshot(path=str(SHOTS / "reading-4-explore.png"), full_page=True)

        # Import: says how it read a text file
        page.goto(f"{server}/import")
        page.locator("input[type='file']").set_input_files(str(eu))
        expect(page.get_by_text("semicolons between columns")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Windows-1252")).to_be_visible()
        wait_idle(page)
        page.screenshot(path=str(SHOTS / "reading-5-import.png"), full_page=True)

        assert not page.get_by_text("Traceback").count()
        assert errors == []
        browser.close()
