"""The sharp edges an analyst met in the browser: names the app suggests and accepts, results
that belong to one file, one model chosen for every action, nothing fetched from outside, a build
found again with its set-up, user text shown as text."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pytest

import automl
from automl.workspace import Workspace
from tests.app._browser import ARGS, CHROMIUM, HAVE_CHROMIUM, SHOTS, serve, wait_idle
from tests.conftest import make_table

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_CHROMIUM, reason="Debian chromium is not installed (make test installs it)"
    ),
]

LEAK = "![x](http://evil.example/leak.png)"  # a column header that is Markdown for an image
PAGES = ("", "import", "join", "prepare", "explore", "build", "analyze", "predict", "models")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Workspace]]:
    """The served app, on a workspace with two joinable tables and three copies of a small
    model whose 'income' column is called LEAK."""
    ws = Workspace(tmp_path_factory.mktemp("edges-ws"))
    jobs = pd.DataFrame(
        {"job": [f"j{i}" for i in range(30)], "worker_id": [i % 10 for i in range(30)]}
    )
    ws.add_dataset("jobs", jobs, "t")
    ws.add_dataset("workers", pd.DataFrame({"worker_id": range(10), "team": ["a", "b"] * 5}), "t")
    df = make_table(200, 3).rename(columns={"income": LEAK}).drop(columns=["notes"])
    fit = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(df, "churn")
    first = None
    for name in ("alpha", "beta", "old copy"):
        name, version, path = ws.new_model_path(name)
        if first is None:
            fit.save(path)
            first = path
        else:
            shutil.copytree(first, path)
        ws.add_model(name, version, path, "customers", automl.load(path))
    with serve(ws.root) as url:
        yield url, ws


@pytest.fixture
def page(app: tuple[str, Workspace]) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a rerun on a busy machine can take seconds
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        assert not page.get_by_text("Traceback").count()
        assert errors == []
        browser.close()


def choose(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``. A rerun that redraws the box while
    its list is open closes the list: then wait for the run to end and open it again."""
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


def test_join_suggests_a_name_that_follows_the_choice_and_saves(
    app: tuple[str, Workspace], page: Any
) -> None:
    from playwright.sync_api import expect

    url, ws = app
    page.goto(f"{url}/join")
    expect(page.get_by_text("Result rows", exact=True)).to_be_visible(timeout=30_000)
    wait_idle(page)
    choose(page, "Left dataset", "jobs")
    choose(page, "Right dataset", "house prices")
    name = page.get_by_label("Name of the joined dataset")
    expect(name).to_have_value("jobs + house prices")
    choose(page, "Right dataset", "workers")
    expect(name).to_have_value("jobs + workers")  # the suggestion follows the choice
    choose(page, "Left key 1", "worker_id")
    choose(page, "Right key 1", "worker_id")
    page.get_by_role("button", name="Join and save").click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Saved jobs + workers", timeout=30_000
    )
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "edges-join.png"), full_page=True)
    assert ws.get_dataset("jobs + workers").rows == 30
    name.fill("my own name")  # a name the analyst typed stays when the choice changes
    name.press("Enter")
    wait_idle(page)
    choose(page, "Right dataset", "house prices")
    expect(name).to_have_value("my own name")


def test_a_failed_batch_file_leaves_no_results_of_the_previous_one(
    app: tuple[str, Workspace], page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, _ = app
    rows = make_table(30, 5).rename(columns={"income": LEAK}).drop(columns=["churn", "notes"])
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    rows.to_csv(good, index=False)
    rows.drop(columns=["age"]).to_csv(bad, index=False)
    download = page.get_by_role("button", name="Download predictions (CSV)")
    page.goto(f"{url}/predict")
    page.get_by_role("tab", name="Batch prediction").click()
    page.locator("input[type='file']").set_input_files(str(good))
    page.get_by_role("button", name="Score file").click()
    expect(page.get_by_text("30 rows scored")).to_be_visible(timeout=60_000)
    expect(download).to_be_visible()
    wait_idle(page)

    page.locator("input[type='file']").set_input_files(str(bad))
    wait_idle(page)
    expect(download).to_have_count(0)  # another file: the previous results are gone
    page.get_by_role("button", name="Score file").click()
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("age", timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "edges-batch-error.png"), full_page=True)
    expect(download).to_have_count(0)
    expect(page.get_by_text("Scoring...")).to_have_count(0)
    expect(page.get_by_text("First 30 rows")).to_have_count(0)


def test_models_page_one_choice_drives_rename_export_and_delete(
    app: tuple[str, Workspace], page: Any
) -> None:
    from playwright.sync_api import expect

    url, ws = app
    page.goto(f"{url}/models")
    expect(page.get_by_text("Manage")).to_be_visible(timeout=30_000)
    wait_idle(page)
    picker = page.get_by_role("combobox", name="Model", exact=True)
    compare = page.get_by_test_id("stMultiSelect")
    compare.get_by_role("combobox").click()
    page.get_by_role("option", name="alpha (version 1)", exact=True).click()
    page.keyboard.press("Escape")
    wait_idle(page)
    choose(page, "Model", "alpha (version 1)")
    new_name = page.get_by_label("New name (the only version)")
    expect(new_name).to_have_value("alpha")
    new_name.fill("alpha (renamed)")
    new_name.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Rename").click()
    wait_idle(page)
    success = page.get_by_test_id("stAlertContentSuccess")
    expect(success).to_contain_text("Renamed alpha to alpha (renamed) (1 version)")
    expect(picker).to_have_value("alpha (renamed) (version 1)")  # still the same model
    expect(new_name).to_have_value("alpha (renamed)")
    compare_choice = "alpha (renamed) (version 1)"
    expect(compare).to_contain_text(compare_choice)  # still compared
    # the run after the rename has drawn the export button (an older button's file is gone)
    expect(page.get_by_text("Exports alpha (renamed) (version 1).")).to_be_visible()
    wait_idle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export (zip)").click()
    assert dl.value.suggested_filename == "alpha (renamed)-v1.zip"
    zipped = zipfile.ZipFile(dl.value.path())
    bundle = zipped.namelist()  # the bundle, without the rows
    assert "predict.py" in bundle and "model/easel_model.json" in bundle
    assert r"# alpha \(renamed\) version 1" in zipped.read("README.md").decode()  # new name
    assert not [n for n in bundle if n.startswith("data/")]
    wait_idle(page)
    expect(success).to_contain_text("Exported alpha (renamed) (version 1)")
    page.mouse.move(0, 0)  # no tooltip over the screenshot
    page.screenshot(path=str(SHOTS / "edges-models.png"), full_page=True)

    choose(page, "Model", "old copy (version 1)")
    expect(new_name).to_have_value("old copy")  # the name box follows the choice
    page.get_by_text("Yes, delete old copy (version 1)").click()
    wait_idle(page)
    page.get_by_role("button", name="Delete").click()
    wait_idle(page)
    expect(success).to_contain_text("Deleted old copy (version 1).")
    assert {m.name for m in ws.list_models()} == {"alpha (renamed)", "beta"}


def test_no_request_leaves_the_server(app: tuple[str, Workspace], page: Any) -> None:
    """Every page loads only from the app's own address: no font CDN favicon, no image named in
    a column header."""
    from playwright.sync_api import expect

    url, _ = app
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    for path in PAGES:
        page.goto(f"{url}/{path}")
        expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=30_000)
        wait_idle(page, 60_000)
        page.wait_for_timeout(300)
    outside = [
        u for u in requests if urlparse(u).scheme not in ("data", "blob")
        and urlparse(u).hostname not in ("127.0.0.1", "localhost")
    ]  # fmt: skip
    assert requests and outside == []


def test_markdown_in_a_column_name_is_shown_as_typed(app: tuple[str, Workspace], page: Any) -> None:
    from playwright.sync_api import expect

    url, _ = app
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{url}/predict")
    expect(page.get_by_text("Predicted churn").first).to_be_visible(timeout=30_000)
    wait_idle(page)
    label = page.get_by_test_id("stWidgetLabel").filter(has_text="![x](http")
    expect(label.first).to_be_visible()  # shown as typed: the form's label
    assert label.first.inner_text().replace("\u200b", "").strip() == LEAK
    expect(page.locator("img[src*='leak.png']")).to_have_count(0)
    expect(page.locator("a[href*='evil.example']")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "edges-markdown.png"), full_page=True)
    assert not [u for u in requests if "leak.png" in u]


def test_build_page_restores_the_followed_build_after_a_refresh(
    app: tuple[str, Workspace], page: Any
) -> None:
    from playwright.sync_api import expect

    url, ws = app
    params = {
        "dataset": "house prices",
        "target": "sale_price",
        "model_name": "prices for the board",
        "settings": {"preset": "quick", "time_budget": 45.0, "task": "regression", "metric": "mae"},
    }
    job_id = ws.create_job("train", params)
    ws.update_job(job_id, status="failed", error="The build stopped on purpose.")
    page.goto(f"{url}/build?job={job_id}")  # a refresh: a new session with the job in the URL
    expect(page.get_by_text("The build stopped on purpose.")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Problem type:")).to_be_visible(timeout=30_000)
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("house prices")
    target = page.get_by_role("combobox", name="Column to predict (target)")
    expect(target).to_have_value("sale_price")
    expect(page.get_by_role("textbox", name="Model name")).to_have_value("prices for the board")
    budget = page.get_by_label("Time budget (seconds, optional)", exact=True).and_(
        page.get_by_test_id("stNumberInputField")
    )
    expect(budget).to_have_value("45")
    expect(page.get_by_role("combobox", name="Optimize for")).to_have_value("MAE")
    page.screenshot(path=str(SHOTS / "edges-build-restored.png"), full_page=True)
