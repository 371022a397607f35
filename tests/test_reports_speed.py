"""Reports of big tables in a few seconds, saying the same: each shortcut is checked against
the slower computation it replaced, on the same rows."""

from __future__ import annotations

import json
import re
from typing import Any

import plotly.graph_objects as go
import pytest

import automl
from automl.reports import data_report, performance_report, safe_figure
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
