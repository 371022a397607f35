"""Analyze: how good is the model, on rows it never saw, and what drives it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

import automl
from app import ui
from app.tables import show_table
from automl.candidates import get_candidate
from automl.errors import EaselError
from automl.metrics import METRICS
from automl.reports import performance_report, safe_figure, save_model
from automl.reports.performance import headline, holdout_predictions, sankey
from automl.words import rows_text

ws = ui.workspace()
st.title("Analyze a model")
picked = ui.pick_model("analyze_model")
if picked is None:
    st.stop()
rec, model = picked
meta = model.meta
metrics = model.metrics


STATUS = {
    "ok": "finished",
    "stopped at deadline": "stopped at the time limit",
    "stopped at its time share": "stopped at its share of the time",
}
SOURCE = {
    "default": "a default setting",
    "search": "the search",
    "ensemble": "blending",
    "growth": "the search, on more rows",
    "anchor": "a setting for many rows",
}


def kind_of_model(name: str) -> str:
    """A family in words: "LightGBM (gradient-boosted trees)" for "lightgbm"."""
    if name.startswith("ensemble of "):  # "ensemble of 11 (50%), 1 (25%)": trial ids, weights
        return "Blend of models " + name.removeprefix("ensemble of ")
    if name == "ensemble":
        return "Blend of the best models"
    try:
        return get_candidate(name).label
    except EaselError:
        return name


def leaderboard_table(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with headings and values in words, and blanks where nothing applies."""
    label = METRICS[model.metric].label if model.metric in METRICS else model.metric
    out = pd.DataFrame(
        {
            "model": board["id"],
            "kind of model": board["candidate"].map(kind_of_model),
            f"validation {label}": board[f"validation_{model.metric}"].map(_number),
            f"hold-out {label}": board[f"holdout_{model.metric}"].map(_number),
            "training seconds": board["fit_seconds"].round(2),
            "prediction time (ms per 1,000 rows)": board["predict_ms_per_1000_rows"].map(_number),
            "status": board["status"].map(lambda s: STATUS.get(s, s)),
            "found by": board["source"].map(lambda s: SOURCE.get(s, s)),
            "rows learned from": board["rows"].map(_count),
            "kept": board["kept"].map({True: "yes", False: ""}),
            "makes the predictions": board["default"].map({True: "yes", False: ""}),
            "note": board["message"].fillna(""),
        }
    )
    return out


def _count(v: object) -> str:
    """A row count with thousands separators, blank when unknown (older models, ensembles)."""
    return "" if v is None or pd.isna(v) else f"{int(v):,}"  # type: ignore[call-overload]


def _number(v: object) -> str:
    """A score or time, blank when there is none (only kept models have them)."""
    return "" if v is None or pd.isna(v) else f"{float(v):.4g}"  # type: ignore[arg-type]


def _scores(table: pd.DataFrame) -> pd.DataFrame:
    """A table of metrics with each score in 4 significant digits, blank where there is none
    (a simple forecast has no quantiles, hence no WQL)."""
    out = table.copy()
    for c in out.columns:
        if pd.api.types.is_numeric_dtype(out[c]) or out[c].map(_is_score).all():
            out[c] = out[c].map(_number)
    return out


def _is_score(v: object) -> bool:
    return v is None or isinstance(v, float | int) and not isinstance(v, bool)


head = headline(model)
for line in head:
    st.markdown(ui.md(line, bold=True))
st.caption(ui.md(f"{meta.holdout_description}. Final model: {meta.refit_note}."))
if model.task == "binary":
    tuned = model.threshold != 0.5
    st.caption(
        f"A row is predicted '{ui.md(model.classes[1])}' when its probability is at least "
        f"{model.threshold:.3g}"
        + (
            f" (tuned on the validation rows to maximize {METRICS[model.metric].label})."
            if tuned
            else "."
        )
    )

c1, c2 = st.columns([1, 1])
with c1:
    st.subheader("Hold-out metrics")
    show_table(
        pd.DataFrame(
            {"metric": METRICS[k].label if k in METRICS else k.upper(), "value": round(v, 4)}
            for k, v in metrics.items()
        ),
        hide_index=True,
        width="stretch",
    )
with c2:
    st.subheader("Column impact")
    impact = model.column_impact
    if len(impact):
        fig = px.bar(impact.head(15).iloc[::-1], x="impact", y="column", orientation="h")
        fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), xaxis_tickformat=".0%")
        st.plotly_chart(safe_figure(fig), width="stretch")
        st.caption("How much the hold-out score worsens when a column's values are shuffled.")
    else:
        st.caption(
            "Not measured for this model: the build ran out of time before measuring it (or had "
            "too few held-out rows). A build with a longer time budget measures it."
        )


@st.cache_resource(max_entries=4, show_spinner="Preparing the performance report...")
def _performance(path: str, default_id: int, created: str) -> Any:
    """The report of one saved model version and predictor (cached; keys change with either)."""
    return performance_report(automl.load(path))


report = None
if model.holdout is not None:
    with ui.guarded("preparing the performance report"):
        report = _performance(str(ws.model_dir(rec)), model.default_id, meta.created_at)
if report is not None:
    st.subheader("How good, in detail")
    for line in report.summary[len(head) :]:
        st.markdown(ui.md(line, bold=True))
    if model.is_forecast:
        fsec = next(x for x in report.sections if x.title == "Forecast against actual")
        st.markdown("**Forecast of the held-out periods against what happened**")
        show_table(_scores(fsec.tables[0][1]), what="forecasts", hide_index=True, width="stretch")
    if model.task != "regression":
        st.markdown("**Actual (left) against predicted (right) on the hold-out rows**")
        st.plotly_chart(safe_figure(sankey(model)), width="stretch", key="analyze_sankey")
    skip = {"Candidates tried", "What data went in", "Scores on the hold-out rows"}
    for section in report.sections:
        if section.title in skip or not section.figures:
            continue
        opened = section.title.startswith("Right") or section.title.startswith("Forecast")
        with st.expander(ui.md(section.title), expanded=opened):
            for t in section.text:
                st.markdown(ui.md(t, bold=True))
            cols_ = st.columns(2)
            for i, (title, fig) in enumerate(section.figures):
                fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=40, b=10))
                cols_[i % 2].plotly_chart(
                    safe_figure(fig), width="stretch", key=f"rep_{section.title}_{i}"
                )
            if section.title == "Backtests":  # the metrics of each window and each series
                for title, table in section.tables:
                    st.markdown(f"**{ui.md(title)}**")
                    show_table(_scores(table), hide_index=True, width="stretch")

    st.subheader("Downloads")
    d1, d2, d3 = st.columns(3)
    folder = ws.model_dir(rec) / "reports"
    perf_file = folder / "performance.html"
    d1.download_button(
        "Performance report (HTML)",
        data=perf_file.read_bytes() if perf_file.exists() else report.to_html().encode(),
        file_name=f"{rec.name}-v{rec.version}-performance.html",
        mime="text/html",
        key="analyze_dl_perf",
    )
    data_file = folder / "data.html"
    if data_file.exists():
        d2.download_button(
            "Data report (HTML)",
            data=data_file.read_bytes(),
            file_name=f"{rec.name}-v{rec.version}-data.html",
            mime="text/html",
            key="analyze_dl_data",
        )
    else:
        d2.caption("No data report in this model (it was saved without its training rows).")
    d3.download_button(
        "Hold-out predictions (CSV)",
        data=holdout_predictions(model).to_csv(index=False).encode(),
        file_name=f"{rec.name}-v{rec.version}-holdout-predictions.csv",
        mime="text/csv",
        key="analyze_dl_holdout",
    )
else:
    st.info(
        "This model has no stored hold-out rows (saved by an older Easel): rebuild it to get "
        "its detailed report."
    )

st.subheader("Leaderboard")
board = model.leaderboard.drop(columns=["params"])
score_col = f"validation_{model.metric}"
board = board.sort_values(
    ["default", "kept", score_col], ascending=[False, False, not meta.metric_greater_is_better]
)
show_table(leaderboard_table(board), what="candidates", hide_index=True, width="stretch")
st.caption(
    "Every model the search tried. Validation: the score on rows it did not learn from while the "
    "search compared models. Hold-out: the score on rows kept aside until the end (kept models "
    "only). 'Makes the predictions' marks the model this one uses."
)
kept: list[int] = [int(i) for i in board[board["kept"]]["id"]]
choice: int | None = st.selectbox(
    "Make another kept model the one that predicts",
    kept,
    index=kept.index(model.default_id),
    format_func=lambda i: f"Model {i} ({kind_of_model(model.candidate_name(i))})",
    key="analyze_default",
)
other = choice is not None and choice != model.default_id
if other and choice is not None and st.button("Use this model", key="analyze_use"):
    with ui.guarded("changing the model that predicts"):
        model.set_default(choice)
        ws.rewrite_model(rec, lambda folder: save_model(model, folder))
        st.success(f"Model {choice} now makes this model's predictions.")
        st.rerun()

st.subheader("Data that went in")
cols = pd.DataFrame([c.to_dict() for c in meta.columns])
cols = cols[["name", "type", "reason", "missing", "distinct"]]
show_table(cols, what="columns", hide_index=True, width="stretch")
r = model.rows
st.caption(
    ui.md(
        f"{rows_text(r.total)} in the dataset, {r.with_target:,} with a target value; "
        f"how models were compared: {meta.validation}; built in {meta.fit_seconds:.0f} s "
        f"(time budget {meta.time_budget:.0f} s)."
    )
)
for w in model.warnings:
    st.warning(ui.md(w))
