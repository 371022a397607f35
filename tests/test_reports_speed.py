"""Reports of big tables in a few seconds, saying the same: each shortcut is checked against
the slower computation it replaced, on the same rows."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn import metrics as skm

import automl
from automl import metrics as M
from automl.reports import data_report, performance_report, safe_figure
from automl.reports._bootstrap import bootstrap_values, resampled_metrics
from automl.reports.performance import BIG_TABLE_ROWS, SHAP_BIG_ROWS
from tests.conftest import make_table


def _charts(text: str) -> list[tuple[object, object]]:
    """The (data, layout) of every chart drawn by a report's HTML."""
    out = []
    decoder = json.JSONDecoder()
    for m in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", text):
        data, end = decoder.raw_decode(text, m.end())
        layout, _ = decoder.raw_decode(text, text.index("{", end))
        out.append((data, layout))
    return out


def _chart_as_before(fig: go.Figure, title: str) -> tuple[object, object]:
    """The chart as the HTML drew it before: the figure re-validated through Plotly."""
    fig = go.Figure(fig)
    fig.update_layout(template="plotly_white", margin=dict(l=40, r=20, t=40, b=40), title=title)
    (chart,) = _charts(safe_figure(fig).to_html(full_html=False, include_plotlyjs=False))
    return chart


def _counted(built: list[object], init: Any) -> Any:
    def counted(self: go.Figure, *args: object, **kwargs: object) -> None:
        built.append(self)
        init(self, *args, **kwargs)

    return counted


@pytest.fixture(scope="module")
def models(binary_model: automl.AutoML, regression_model: automl.AutoML) -> dict[str, automl.Model]:
    return {"binary": binary_model.model_, "regression": regression_model.model_}


def test_html_charts_are_the_figures_escaped_with_the_white_template(
    models: dict[str, automl.Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page draws each chart from its figure's JSON, escaped, with the white template: the
    same charts as re-validating every figure through Plotly, which cost ~15 ms a chart (a
    copy of the template each time), more than the rest of a big table's page."""
    df = make_table(300, 4)
    df["plan"] = df["plan"].replace({"pro": '<a href="https://evil.example/">x</a>'})
    df = df.rename(columns={"age": "<b>age</b>"})
    for rep in (data_report(df, "churn"), performance_report(models["binary"], bootstrap=20)):
        figures = [(t, f) for s in rep.sections for t, f in s.figures]
        expected = [_chart_as_before(f, t) for t, f in figures]
        built: list[object] = []
        with monkeypatch.context() as patch:
            patch.setattr(go.Figure, "__init__", _counted(built, go.Figure.__init__))
            text = rep.to_html()
        assert built == []  # no figure validated again for the page
        assert _charts(text) == expected and len(expected) >= 5


def _cases() -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(3)
    n = 60
    y2 = (rng.random(n) < 0.3).astype(np.int64)
    p2 = np.round(np.clip(0.3 * y2 + rng.random(n) * 0.7, 0, 1), 1)  # many tied scores
    k3 = rng.integers(0, 4, n)
    k3[k3 == 3] = 0  # a class no row has
    s3 = rng.dirichlet(np.ones(4), n)
    yr = rng.normal(5, 2, n)
    return [
        ("binary", y2, p2, 0.5),
        ("binary", y2, p2, 0.37),
        ("binary", np.r_[np.zeros(n - 1, np.int64), 1], rng.random(n), 0.5),  # one positive
        ("multiclass", k3, s3, 0.5),
        ("regression", yr, yr + rng.normal(0, 1, n), 0.5),
        ("regression", np.abs(yr) + 0.1, yr, 0.5),  # positive target: MAPE too
    ]


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn on resamples missing a class
@pytest.mark.parametrize("case", range(6))
def test_resampled_metrics_equal_the_metrics_of_the_resampled_rows(case: int) -> None:
    """Every metric of every resample, from its weights, is automl.metrics.report on the
    resampled rows (resamples that miss a class included), to 1e-9."""
    task, y, s, threshold = _cases()[case]
    rng = np.random.default_rng(case)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(40)]
    if task != "regression":  # (R² of n equal values is rounding noise, both ways)
        draws.append(np.zeros(len(y), np.int64))  # one row drawn n times: one class only
    weights = np.stack([np.bincount(d, minlength=len(y)) for d in draws]).astype(float)
    got = resampled_metrics(task, y, s, weights, threshold)
    cut = M.at_threshold(s, threshold) if task == "binary" else s
    for r, idx in enumerate(draws):
        reported = M.report(task, y[idx], s[idx], threshold)  # rounded to 6 decimals
        assert set(reported) <= set(got)
        for name, value in reported.items():
            scores = cut if name in M.LABEL_METRICS else s
            exact = M.METRICS[name](y[idx], scores[idx])
            assert got[name][r] == pytest.approx(exact, rel=1e-9, abs=1e-9), (name, r)
            assert round(float(got[name][r]), 6) == value, (name, r)


@pytest.mark.parametrize("chunk", [1_000_000, 200])  # all resamples at once, or 3 at a time
def test_bootstrap_values_are_those_of_resampling_rows_one_by_one(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automl.reports._bootstrap as boot

    monkeypatch.setattr(boot, "CHUNK_CELLS", chunk)
    task, y, s, threshold = _cases()[1]
    rng = np.random.default_rng(7)
    one_by_one: dict[str, list[float]] = {}
    for _ in range(30):
        idx = rng.integers(0, len(y), len(y))
        for name, value in M.report(task, y[idx], s[idx], threshold).items():
            one_by_one.setdefault(name, []).append(value)
    got = bootstrap_values(task, y, s, 30, 7, threshold)
    assert got.keys() == one_by_one.keys()
    for name, values in one_by_one.items():
        assert got[name] == pytest.approx(values, abs=1e-9), name


def test_metrics_against_threshold_are_scikit_learns(models: dict[str, automl.Model]) -> None:
    m = models["binary"]
    rep = performance_report(m, bootstrap=20)
    y = m.holdout["__target__"].to_numpy().astype(int)
    p = m.holdout[f"__score_{m.default_id}"].to_numpy()
    for row in rep.section("Ranking quality").data["metrics_vs_threshold"]:
        yp = (p >= row["threshold"]).astype(int)
        assert row["precision"] == skm.precision_score(y, yp, zero_division=0)
        assert row["recall"] == skm.recall_score(y, yp, zero_division=0)
        assert row["F1"] == skm.f1_score(y, yp, zero_division=0)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_partial_dependence_scored_at_once_equals_one_call_per_value(
    kind: str, binary_model: automl.AutoML, multiclass_model: automl.AutoML
) -> None:
    from automl.preprocess import InputReport
    from automl.reports.performance import _pdp

    m = (binary_model if kind == "binary" else multiclass_model).model_
    rows = m.holdout[[c.name for c in m.preprocessor.columns]]
    shown = 0
    for info in m.preprocessor.columns:
        fig, data = _pdp(m, rows, info.name)
        if fig is None:
            continue
        shown += 1
        for value, average in zip(data["grid"], data["average"], strict=True):
            probe = rows.copy()
            probe[info.name] = float(value) if info.type == "numeric" else value
            expected = np.asarray(m._scores(probe, InputReport())).mean(axis=0)
            assert np.array_equal(np.asarray(average), expected), (info.name, value)
    assert shown >= 2


def test_a_big_tables_model_explains_fewer_rows_and_says_how_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fit = automl.AutoML(time_budget=600, seed=0, candidates=["lightgbm"], max_trials=2)
    m = fit.fit(make_table(1800, 5), target="churn").model_
    held = len(m.holdout)
    assert held > SHAP_BIG_ROWS

    def impact_text() -> str:
        rep = performance_report(m, bootstrap=10)
        return rep.section("What drives the predictions").text[0]

    assert f", {held:,} hold-out rows)" in impact_text()
    # as if it had learned from a big table (the rows a model learned from are in its file)
    monkeypatch.setattr(m.meta.rows, "train", BIG_TABLE_ROWS + 1)
    assert f", {SHAP_BIG_ROWS:,} hold-out rows)" in impact_text()


def test_statistics_from_sorted_values_are_numpys_and_pandas() -> None:
    from automl.reports.data import _distinct, _percentiles, _sorted_numbers

    rng = np.random.default_rng(0)
    for n in [*range(1, 40), 999, 1000, 1001]:
        for dtype in (np.float32, np.float64, np.int64):
            x = pd.Series((rng.normal(size=n) * 100).astype(dtype))
            if n > 5:
                x[:3] = x[3]  # ties
            if n > 8 and dtype != np.int64:
                x[6], x[7] = 0.0, -0.0
            ordered = _sorted_numbers(x)
            expected = np.percentile(x.astype(float), [25, 50, 75])
            assert _percentiles(ordered, (25, 50, 75)) == list(expected), (n, dtype)
            assert _distinct(ordered) == x.nunique(), (n, dtype)


def test_binned_codes_and_unusual_rows_as_computed_before() -> None:
    from sklearn.ensemble import IsolationForest

    from automl.prep.explore import _BINS, _codes
    from automl.reports.data import _anomalies

    rng = np.random.default_rng(0)
    x = pd.Series(rng.normal(size=3000)).where(rng.random(3000) > 0.1)
    x[:200] = 1.5  # a value over a bin's edge
    bins = pd.qcut(x, _BINS, duplicates="drop")
    expected, _ = pd.factorize(bins.astype("object").where(bins.notna(), "__missing__"))
    assert np.array_equal(_codes(x), expected)
    df = make_table(400, 3)
    columns = [c for c in df.columns if c != "churn"]
    sec = _anomalies(df, columns, 0)
    assert sec is not None
    feats = []
    for c in columns:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.astype(float)
            feats.append(v.fillna(v.median()).to_numpy())
        elif s.nunique() <= 200:
            t = s.astype(str)
            feats.append(t.map(t.value_counts(normalize=True)).to_numpy(dtype=float))
    X = np.column_stack(feats)
    forest = IsolationForest(n_estimators=100, random_state=0).fit(X)
    assert sec.data["flagged"] == int((forest.predict(X) == -1).sum()) > 0


def test_mean_and_spread_are_pandas() -> None:
    from automl.reports.data import _mean_std

    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 10, 1001, 100_000):
        for x in (rng.normal(7, 3, n), rng.lognormal(0, 2, n), np.full(n, 0.1)):
            s = pd.Series(x)
            mean, std = _mean_std(x)
            assert mean == s.mean() and (std == s.std() or (np.isnan(std) and np.isnan(s.std())))
