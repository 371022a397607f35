"""Data and performance reports: numbers recomputed independently, warnings that catch the
classic mistakes, JSON and a self-contained HTML file that renders in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import automl
from automl.cli import main
from automl.errors import ParameterError
from automl.reports import data_report, performance_report, save_model
from automl.reports._base import fmt
from automl.reports.performance import headline, sankey
from tests.conftest import make_table

CHROMIUM = "/usr/bin/chromium"


def messy() -> pd.DataFrame:
    df = make_table(600, 2)
    df["leak"] = np.where(df["churn"] == "yes", 1.0, 0.0) + np.random.default_rng(0).normal(
        0, 0.01, len(df)
    )
    df.loc[:9, "income"] = -999.0
    df.loc[:4, "city"] = "N/A"
    return pd.concat([df, df.iloc[:3]], ignore_index=True)


def test_data_report_numbers_and_warnings() -> None:
    df = messy()
    rep = data_report(df, "churn")
    d = rep.to_dict()
    json.dumps(d, allow_nan=False)
    over = rep.section("Overview").data
    assert over["rows"] == len(df) and over["duplicate_rows"] == int(df.duplicated().sum()) == 3
    assert over["missing_cells"] == int(df.isna().sum().sum())
    cols = {c["column"]: c for c in rep.section("Columns").data["columns"]}
    assert cols["income"]["missing %"] == pytest.approx(100 * df["income"].isna().mean())
    assert cols["age"]["mean"] == pytest.approx(df["age"].mean())
    assert cols["plan"]["distinct"] == df["plan"].nunique()
    q1, q3 = df["age"].quantile([0.25, 0.75])
    expected_out = int(
        ((df["age"] < q1 - 1.5 * (q3 - q1)) | (df["age"] > q3 + 1.5 * (q3 - q1))).sum()
    )
    assert cols["age"]["outliers"] == expected_out
    warns = {(w["column"], w["warning"]) for w in rep.section("Warnings").data["warnings"]}
    assert ("leak", "likely target leakage") in warns
    assert ("customer_id", "ID-like") in warns and ("country", "constant") in warns
    assert ("(all)", "duplicate rows") in warns
    guard = {
        g["check"]: g["status"] for g in rep.section("Checks before a build").data["guardrails"]
    }
    assert guard["leakage"] == "alert" and guard["validation scheme"] == "passed"
    power = {
        p["column"]: p["predictive power"]
        for p in rep.section("Columns and the target").data["predictive_power"]
    }
    assert power["leak"] > 0.95 and power["customer_id"] < 0.2
    disguised = rep.section("Values that may mean 'missing'").data["disguised_missing"]
    assert {(x["column"], str(x["value"])) for x in disguised} >= {
        ("income", "-999"),
        ("city", "N/A"),
    }
    assert any("leakage" in s for s in rep.summary)


def test_predictive_power_alone_is_measured_with_its_noise_not_clipped() -> None:
    """A column that shifts the odds of a rarer class without ever making it the likelier one
    (years married and an affair) has a real gain on its own; a noise column has none; the
    report says the measure is of a column alone, and how it differs from the model's."""
    rng = np.random.default_rng(0)
    n = 3000
    years = rng.uniform(0, 25, n)
    age = rng.uniform(18, 60, n)
    risk = 0.05 + 0.016 * years  # 5% to 45%: "no" is always the likelier answer
    df = pd.DataFrame(
        {
            "yrs_married": years.round(1),
            "age": age.round(0),
            "noise": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "had_affair": np.where(rng.random(n) < risk, "yes", "no"),
        }
    )
    rep = data_report(df, "had_affair")
    sec = rep.section("Columns and the target")
    rows = {p["column"]: p for p in sec.data["predictive_power"]}
    years_row = rows["yrs_married"]
    assert years_row["predictive power"] > years_row["noise (±)"] > 0
    assert years_row["on its own"] == "helps on its own"
    for col in ("noise", "region"):  # nothing to find: measured near 0, within its noise
        assert abs(rows[col]["predictive power"]) <= max(2 * rows[col]["noise (±)"], 0.01)
        assert rows[col]["on its own"] == "no clear gain on its own"
    assert min(r["predictive power"] for r in rows.values()) < 0  # measured, not clipped
    words = " ".join(sec.text)
    assert "on its own" in words and "with all the others present" in words


def test_data_report_blocked_target_imbalance_and_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    df = make_table(300, 3)
    rep = data_report(df.assign(churn="yes"), "churn")
    guard = rep.section("Checks before a build").data["guardrails"]
    assert guard[0]["status"] == "blocked" and "single value" in guard[0]["detail"]
    rare = df.assign(churn=["yes"] * 5 + ["no"] * 295)
    g = {
        x["check"]: x
        for x in data_report(rare, "churn").section("Checks before a build").data["guardrails"]
    }
    assert g["class balance"]["status"] == "alert"
    import automl.reports.data as data_mod

    monkeypatch.setattr(data_mod, "SAMPLE_ROWS", 100)
    sampled = data_report(df)
    assert "random sample of 100 of the 300 rows" in sampled.notes[0]
    assert sampled.section("Overview").data["rows"] == 300
    with pytest.raises(ParameterError, match="not a column"):
        data_report(df, "nope")


@pytest.fixture(scope="module")
def models(
    binary_model: automl.AutoML, multiclass_model: automl.AutoML, regression_model: automl.AutoML
) -> dict[str, automl.Model]:
    # the session's models (tests/conftest.py): a test that changes one puts it back
    return {
        "binary": binary_model.model_,
        "multiclass": multiclass_model.model_,
        "regression": regression_model.model_,
    }


def test_performance_numbers_match_sklearn(
    models: dict[str, automl.Model], binary_df: pd.DataFrame, tmp_path: Path
) -> None:
    m = models["binary"]
    rep = performance_report(m)
    hold = m.holdout
    y = hold["__target__"].to_numpy()
    p = hold[f"__score_{m.default_id}"].to_numpy()
    cm = rep.section("Right and wrong answers").data["confusion_matrix"]
    assert cm == skm.confusion_matrix(y, (p >= 0.5).astype(int)).tolist()
    assert rep.section("Ranking quality").data["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    metrics = {r["key"]: r for r in rep.section("Scores on the hold-out rows").data["metrics"]}
    assert metrics["roc_auc"]["value"] == pytest.approx(m.metrics["roc_auc"])
    assert metrics["roc_auc"]["low"] <= metrics["roc_auc"]["value"] <= metrics["roc_auc"]["high"]
    assert metrics["accuracy"]["model-free guess"] == pytest.approx(
        max(np.mean(y), 1 - np.mean(y)), abs=0.1
    )
    # the saved artifact carries the hold-out rows and both reports
    path = save_model(m, tmp_path / "m", reports=True, data=binary_df)
    assert (path / "reports" / "performance.html").exists() and (
        path / "reports" / "data.json"
    ).exists()
    again = performance_report(automl.load(path), bootstrap=20)  # intervals not compared
    assert (
        again.section("Right and wrong answers").data == rep.section("Right and wrong answers").data
    )


def test_multiclass_and_regression_sections(models: dict[str, automl.Model]) -> None:
    mc = performance_report(models["multiclass"], bootstrap=20)  # intervals not read
    m = models["multiclass"]
    hold = m.holdout
    s = hold[[c for c in hold.columns if c.startswith(f"__score_{m.default_id}__")]].to_numpy()
    cm = skm.confusion_matrix(hold["__target__"], s.argmax(axis=1), labels=range(len(m.classes)))
    assert mc.section("Right and wrong answers per class").data["confusion_matrix"] == cm.tolist()
    reg = performance_report(models["regression"], bootstrap=20)
    r = models["regression"]
    resid = r.holdout["__target__"] - r.holdout[f"__score_{r.default_id}"]
    data = reg.section("Predicted against actual").data
    assert data["median_abs_error"] == pytest.approx(np.median(np.abs(resid)))
    assert "typical error" in reg.summary[0]
    impact = reg.section("What drives the predictions").data
    assert len(impact["impact"]) == len(r.preprocessor.columns) and impact["partial_dependence"]


def test_headline_compares_with_the_model_free_guess(models: dict[str, automl.Model]) -> None:
    """Each problem type's headline says what the model-free guess gets; the same lines start the
    report (the Analyze page shows them), and the interval says what it covers."""
    for task, m in models.items():
        rep = performance_report(m, bootstrap=20)
        head = headline(m)
        assert rep.summary[: len(head)] == head
        hold = m.holdout
        y = hold["__target__"].to_numpy()
        if task == "regression":
            guess = np.mean(np.abs(y - m.meta.train_target_summary["mean"]))
            assert f"against **{fmt(guess)}** when always guessing the training average" in head[0]
        else:
            shares = np.asarray(m.meta.train_target_summary["shares"])
            frequent = int(np.argmax(shares))
            right = np.mean(y == frequent)
            assert (
                f"always answering **{m.classes[frequent]}** (the most frequent answer) would be "
                f"right for **{right:.0%}**"
            ) in head[0]
        interval = rep.summary[len(head)]
        assert "95% confidence interval" in interval
        assert "hold-out rows are resampled" in interval
        assert "does not cover another sample" in interval and "change over time" in interval
    # an older model without its hold-out rows keeps a headline from its stored metrics
    m = models["binary"]
    saved, m.holdout = m.holdout, None
    try:
        assert headline(m)[0].startswith(f"Predicts **{m.target}** correctly for")
    finally:
        m.holdout = saved


def test_sankey_labels_are_large_and_dark(models: dict[str, automl.Model]) -> None:
    fig = sankey(models["multiclass"])
    trace = fig.data[0]
    assert trace.textfont.size >= 14 and trace.textfont.color == "#1b1b1b"
    assert all(": " in label for label in trace.node.label)  # each class with its row count


def test_model_without_holdout_is_a_clear_error(models: dict[str, automl.Model]) -> None:
    m = models["binary"]
    saved, m.holdout = m.holdout, None
    try:
        with pytest.raises(ParameterError, match="Retrain it"):
            performance_report(m)
    finally:
        m.holdout = saved


def _collect(errors: list[str]) -> object:
    def on_console(msg: object) -> None:
        if getattr(msg, "type", "") == "error":
            errors.append(str(getattr(msg, "text", msg)))

    return on_console


@pytest.mark.browser  # renders the files in Debian's Chromium: left out of `make test-fast`
def test_html_is_self_contained_and_renders(
    models: dict[str, automl.Model], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    files = [
        performance_report(models["binary"]).to_html(tmp_path / "perf.html")
        and tmp_path / "perf.html",
        data_report(messy(), "churn").to_html(tmp_path / "data.html") and tmp_path / "data.html",
    ]
    for f in files:
        text = f.read_text()
        # nothing is fetched from the network: no script or stylesheet with an address
        assert not re.search(r"<script[^>]*\bsrc=", text)
        assert not re.search(r"<link[^>]*href=", text)
        big_scripts = [
            m for m in re.findall(r"<script[^>]*>(.*?)</script>", text, re.S) if len(m) > 1e6
        ]
        assert len(big_scripts) == 1  # plotly.js once per file
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        for f in files:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", _collect(errors))
            page.on("pageerror", lambda e, errs=errors: errs.append(str(e)))
            page.goto(f"file://{f}")
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
            charts = page.locator(".js-plotly-plot").count()
            assert charts >= 5 and errors == [], (f.name, errors)
        browser.close()


def test_cli_profile_and_report(
    models: dict[str, automl.Model], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "d.csv"
    make_table(300, 5).to_csv(csv, index=False)
    assert (
        main(
            [
                "profile",
                str(csv),
                "--target",
                "churn",
                "--out",
                str(tmp_path / "p.html"),
                "--json",
                str(tmp_path / "p.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "p.json").read_text())["kind"] == "data"
    path = models["regression"].save(tmp_path / "reg")
    assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 0
    assert "typical error" in capsys.readouterr().out
    assert main(["profile", str(csv), "--target", "nope", "--out", str(tmp_path / "x.html")]) == 2


def test_user_values_in_report_charts_are_text_not_links(tmp_path: Path) -> None:
    """A cell value or column name written as HTML stays text in every chart of the HTML
    report: Plotly would draw <a href> as a live link."""
    from playwright.sync_api import sync_playwright

    link = '<a href="https://evil.example/login">log in</a>'
    df = make_table(300, 4)
    df["plan"] = df["plan"].replace({"pro": link})
    df = df.rename(columns={"age": "<b>age</b>"})
    text = data_report(df, "churn").to_html(tmp_path / "data.html")
    assert link not in text.replace("\\u003c", "<").replace("\\u003e", ">").replace('\\"', '"')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        page.goto(f"file://{tmp_path / 'data.html'}")
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        links = page.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot a')]"
            ".map(a => a.getAttribute('href') || a.getAttribute('xlink:href') || '')"
            ".filter(h => h.includes('evil.example'))"
        )
        bold = page.locator(".js-plotly-plot text b, .js-plotly-plot tspan[style*='bold']")
        shown = page.locator(".js-plotly-plot").get_by_text("log in</a>").count()
        assert links == [] and bold.count() == 0 and shown > 0
        browser.close()
