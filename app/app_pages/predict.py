"""Predict: one row at a time (what-if) or a whole file."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import ui
from app.tables import show_table
from automl.batch import predict_file
from automl.drift import DriftReport
from automl.errors import EaselError
from automl.prep.recipe import fmt_number
from automl.reports import safe_figure
from automl.reports.performance import LOG_ODDS
from automl.timeseries import (
    MAX_HORIZON_FACTOR,
    Layout,
    change_plan,
    history_frame,
    output_names,
    quantile_name,
    series_key,
)
from automl.words import plural, rows_text
from automl.workspace.data import stored_upload
from connectors import read_file


def forecast_page(ws: Any, rec: Any, model: Any) -> None:
    """Time series models: forecast the next periods of the series, from the training data's
    end or from newer history the analyst uploads."""
    ts = model.timeseries
    time_col = ts.time_column
    keys = list(ts.series.keys)
    freq = ts.frequency
    trained = ts.horizon
    st.caption(
        f"Forecasts of {ui.md(model.target)}, one per {freq}, for "
        f"{plural(len(keys), 'series', 'series')}. The shaded band goes from the "
        f"{_band(ts)[0].upper()} to the {_band(ts)[1].upper()}, from the errors seen on the "
        "backtests (earlier stretches of history the model forecast as if they were the future)."
    )
    plan = _future_plan(ws, rec, model) if model.future_columns else None
    names = ["Forecast", "Forecast from newer history"]
    if model.future_columns:
        names.append("What if")
    tabs = st.tabs(names)
    latest, upload_tab = tabs[0], tabs[1]
    with latest:
        c1, c2 = st.columns([2, 1])
        chosen = c1.multiselect(
            "Series",
            keys,
            default=keys[: min(3, len(keys))],
            key=f"fc_series_{rec.name}@{rec.version}",
        )
        horizon = int(
            c2.number_input(
                f"{freq.title()}s ahead",
                min_value=1,
                max_value=MAX_HORIZON_FACTOR * trained,
                value=trained,
                key=f"fc_h_{rec.name}@{rec.version}",
                help=f"The model was checked on {trained} {freq}s ahead; further out is less sure.",
            )
        )
        with ui.guarded("forecasting"):
            everything = model.forecast(horizon=horizon, future=_plan_for(model, plan, horizon))
            history = history_frame(model)
            if chosen:
                _forecast_chart(model, everything, history, chosen, time_col)
            shown = (
                everything if not chosen else everything[_series_of(everything, model).isin(chosen)]
            )
            st.dataframe(shown, hide_index=True, width="stretch")
            st.download_button(
                f"Download the forecast of all {len(keys)} series (CSV)",
                data=everything.to_csv(index=False).encode(),
                file_name=f"{rec.name}-v{rec.version}-forecast.csv",
                mime="text/csv",
                key="fc_download",
            )
    with upload_tab:
        st.caption(
            "Upload rows like the training data, with the newest values, to forecast from their "
            "end. Needed columns: " + ", ".join(ui.md(c) for c in model.input_columns)
        )
        upload = st.file_uploader(
            "History", type=["csv", "tsv", "parquet", "xlsx", "json", "jsonl"], key="fc_upload"
        )
        if upload is not None:
            with ui.guarded(f"forecasting from {upload.name}"):
                with stored_upload(ws, upload.name, upload.getbuffer(), ui.session_id()) as src:
                    history = read_file(src)  # the upload is deleted once read
                future = plan
                if model.future_columns and plan is None:  # the last known values
                    future = model.future_template(trained, history=history)
                new = model.forecast(history, horizon=trained, future=future)
                n_series = _series_of(new, model).nunique()
                st.success(
                    f"{plural(len(new), 'forecast')} for {plural(n_series, 'series', 'series')}."
                )
                st.dataframe(new.head(500), hide_index=True, width="stretch")
                st.download_button(
                    "Download forecast (CSV)",
                    data=new.to_csv(index=False).encode(),
                    file_name=f"{src.stem}-forecast.csv",
                    mime="text/csv",
                    key="fc_upload_download",
                )

    if model.future_columns:
        with tabs[2], ui.guarded("computing the what-if forecast"):
            what_if(model, _plan_for(model, plan, trained), rec)


def _future_plan(ws: Any, rec: Any, model: Any) -> pd.DataFrame | None:
    """The analyst's future values (an upload), or None: the forecast then assumes that each
    future-value column keeps its last known value."""
    cols = ", ".join(ui.md(c) for c in model.future_columns)
    st.markdown(
        f"**Future values.** This model forecasts with the planned values of {cols}. Download "
        "the table below, fill in your plan for each series and period, and upload it. Until "
        "you do, the forecast assumes each keeps its last known value."
    )
    c1, c2 = st.columns([1, 2])
    c1.download_button(
        "Download the future values to fill in (CSV)",
        data=model.future_template().to_csv(index=False).encode(),
        file_name=f"{rec.name}-v{rec.version}-future-values.csv",
        mime="text/csv",
        key="fc_future_template",
    )
    upload = c2.file_uploader(
        "Your future values (CSV or Parquet)", type=["csv", "parquet"], key="fc_future_upload"
    )
    if upload is None:
        return None
    cache = ("fc_future", f"{rec.name}@{rec.version}", upload.file_id)
    if st.session_state.get("fc_future_for") != cache:
        st.session_state.pop("fc_future_rows", None)
        with (
            ui.guarded(f"reading {upload.name}"),
            stored_upload(ws, upload.name, upload.getbuffer(), ui.session_id()) as src,
        ):
            st.session_state["fc_future_rows"] = read_file(src)  # deleted once read
            st.session_state["fc_future_for"] = cache
    rows = st.session_state.get("fc_future_rows")
    if rows is None:
        return None
    if st.session_state.get("fc_future_checked") != cache:
        # checked once per upload (each tab said the same error), for the trained horizon
        st.session_state["fc_future_error"] = None
        try:
            model.forecast(horizon=model.timeseries.horizon, future=rows)
        except EaselError as exc:
            st.session_state["fc_future_error"] = str(exc)
        st.session_state["fc_future_checked"] = cache
    error = st.session_state.get("fc_future_error")
    if error:
        st.error(
            ui.md(error) + " Until a corrected file is uploaded, the forecasts below assume each "
            "column keeps its last known value."
        )
        return None
    st.caption(f"Forecasting with your future values from {ui.md(upload.name)}.")
    return rows


def _plan_for(model: Any, plan: pd.DataFrame | None, horizon: int | None) -> pd.DataFrame | None:
    """The future values to forecast ``horizon`` periods with: the upload, else the last known
    values (None for a model without future-value columns)."""
    if not model.future_columns:
        return None
    return plan if plan is not None else model.future_template(horizon)


def what_if(model: Any, plan: pd.DataFrame, rec: Any) -> None:
    """Change a future value of one series for some steps ahead and see the forecast move
    (the model is not retrained: one forecast of that series)."""
    ts = model.timeseries
    layout = Layout.from_dict(ts.layout)
    pick = f"{rec.name}@{rec.version}"
    st.caption(
        "Change a planned value (e.g. the price 10% lower in weeks 3 to 5) and compare the "
        "forecast with the one from the future values above."
    )
    c1, c2, c3 = st.columns(3)
    key = c1.selectbox("Series", list(ts.series.keys), key=f"wi_series_{pick}")
    column = c2.selectbox("Column", model.future_columns, key=f"wi_column_{pick}")
    first, last = c3.slider(
        f"{ts.frequency.title()}s ahead",
        1,
        ts.horizon,
        (1, ts.horizon),
        key=f"wi_steps_{pick}",
    )
    kind = layout.kinds[column]
    d1, d2 = st.columns(2)
    how = d1.radio(
        "Change",
        ["percent", "value"] if kind == "numeric" else ["value"],
        format_func=lambda h: {"percent": "by a percent", "value": "set to a value"}[h],
        horizontal=True,
        key=f"wi_how_{pick}",
    )
    percent: float | None = None
    value: Any = None
    if how == "percent":
        percent = d2.number_input(
            "Percent (-10 = 10% lower)", value=-10.0, step=5.0, key=f"wi_pct_{pick}"
        )
    elif kind == "numeric":
        value = d2.number_input("New value", value=0.0, format="%g", key=f"wi_value_{pick}")
    else:
        options = ["yes", "no"] if kind == "boolean" else _categories(model, column)
        value = d2.selectbox("New value", options, key=f"wi_choice_{pick}")
    changed = change_plan(model, plan, key, column, (first, last), percent, value)
    started = time.perf_counter()
    before = model.forecast(series=[key], future=plan)
    after = model.forecast(series=[key], future=changed)
    seconds = time.perf_counter() - started
    names = output_names(layout, ts.quantiles)
    table = pd.DataFrame(
        {
            layout.time_column: before[layout.time_column].astype(str),
            "step": before[names["step"]],
            f"{column} planned": plan_values(plan, before, layout, key, column),
            f"{column} what-if": plan_values(changed, before, layout, key, column),
            "forecast": before[names["prediction"]].round(2),
            "what-if forecast": after[names["prediction"]].round(2),
        }
    )
    table["change"] = (table["what-if forecast"] - table["forecast"]).round(2)
    history = history_frame(model)
    h = history[history["series"].astype(str) == key]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=h[layout.time_column], y=h[model.target], name="history"))
    fig.add_trace(
        go.Scatter(
            x=before[layout.time_column],
            y=before[names["prediction"]],
            name="forecast",
            line=dict(dash="dash"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=after[layout.time_column], y=after[names["prediction"]], name="what-if forecast"
        )
    )
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=10, b=10), yaxis_title=model.target)
    st.plotly_chart(safe_figure(fig), width="stretch", key="wi_chart")
    total = float(table["change"].sum())
    st.metric(
        f"Change in {ui.md(model.target)} over the {ts.frequency}s shown",
        fmt_number(total),
        help=f"Both forecasts took {seconds * 1000:.0f} ms together.",
    )
    show_table(table, what="periods", hide_index=True, width="stretch")


def plan_values(
    plan: pd.DataFrame, fc: pd.DataFrame, layout: Any, key: str, column: str
) -> list[Any]:
    """The plan's value of ``column`` for each forecast row of series ``key`` (by time)."""
    rows = plan[series_key(plan[layout.id_columns]).to_numpy() == key]
    when = pd.to_datetime(rows[layout.time_column], errors="coerce", format="mixed")
    by_time = dict(zip(when.dt.strftime("%Y-%m-%d %H:%M"), rows[column], strict=True))
    times = pd.to_datetime(fc[layout.time_column]).dt.strftime("%Y-%m-%d %H:%M")
    return [by_time.get(t) for t in times]


def _categories(model: Any, column: str) -> list[str]:
    """The values of a category column the model learned."""
    params = model.preprocessor.params_.get(column, {})
    return [str(c) for c in params.get("categories", [])] or [""]


def _band(ts: Any) -> tuple[str, str]:
    """The lowest and highest quantile's names (p10, p90)."""
    return quantile_name(ts.quantiles[0]), quantile_name(ts.quantiles[-1])


def _series_of(frame: pd.DataFrame, model: Any) -> pd.Series:
    """Each forecast row's series key (as the model names its series)."""
    return series_key(frame[model.timeseries.id_columns]).set_axis(frame.index)


def _forecast_chart(
    model: Any, fc: pd.DataFrame, history: pd.DataFrame, chosen: list[str], time_col: str
) -> None:
    fig = go.Figure()
    keys = _series_of(fc, model)
    ts = model.timeseries
    names = output_names(Layout.from_dict(ts.layout), ts.quantiles)
    low, high = (names[q] for q in _band(ts))
    for i, key in enumerate(chosen):
        colour = px.colors.qualitative.Plotly[i % 10]
        h = history[history["series"].astype(str) == key]
        f = fc[keys == key]
        fig.add_trace(
            go.Scatter(x=h[time_col], y=h[model.target], name=f"{key}", line=dict(color=colour))
        )
        fig.add_trace(
            go.Scatter(
                x=list(f[time_col]) + list(f[time_col])[::-1],
                y=list(f[high]) + list(f[low])[::-1],
                fill="toself",
                fillcolor=colour,
                opacity=0.15,
                line=dict(width=0),
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=f[time_col],
                y=f[names["prediction"]],
                name=f"{key} forecast",
                line=dict(color=colour, dash="dash"),
            )
        )
    fig.update_layout(
        height=420,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title=time_col,
        yaxis_title=model.target,
    )
    st.plotly_chart(safe_figure(fig), width="stretch", key="fc_chart")


CHANGE_WORDS = {"none": "no change", "some": "changed", "severe": "changed a lot"}


def drift_panel(saved: dict[str, Any] | None, note: str) -> None:
    """The drift of the scored rows: the verdict in words, and the columns that moved most."""
    if saved is None:
        if note:
            st.caption(f"Drift was not measured: {ui.md(note)}")
        return
    report = DriftReport.from_dict(saved, rows=int(saved.get("rows", 0)))
    alert = {"none": st.success, "some": st.warning, "severe": st.error}[report.verdict]
    alert(ui.md(report.summary()))
    table = pd.DataFrame(
        {
            "column": c.name,
            "change": CHANGE_WORDS.get(c.level, c.level),
            "change score": round(c.psi, 3),
            "missing (in training)": f"{c.missing_share:.1%} ({c.train_missing_share:.1%})",
            "new categories": "" if c.unseen_share is None else f"{c.unseen_share:.1%}",
            "outside the training range": (
                "" if c.out_of_range_share is None else f"{c.out_of_range_share:.1%}"
            ),
        }
        for c in report.columns[:10]
    )
    show_table(table, what="columns", hide_index=True, width="stretch")
    st.caption(
        "Change score: how far each column's values moved from the rows the model learned from "
        "(0.1 or more: a change; 0.25 or more: a large change; with few rows, only a change "
        "larger than chance counts). The columns that moved most come first."
    )


ws = ui.workspace()
st.title("Predict")
picked = ui.pick_model("predict_model", production_first=True)
if picked is None:
    st.stop()
rec, model = picked
pick = f"{rec.name}@{rec.version}"
production = ws.production_model(ws.key(rec))
if rec.stage == "production":
    st.caption(
        f"Version {rec.version} is the production version of **{ui.md(rec.name)}**, so it is "
        "chosen for you. Pick another version above to try it."
    )
elif production is not None:
    st.info(
        f"This is version {rec.version} of **{ui.md(rec.name)}** ({rec.stage}); its production "
        f"version is {production.version}."
    )

if model.is_forecast:
    forecast_page(ws, rec, model)
    st.stop()

single, batch = st.tabs(["Single prediction", "Batch prediction"])

with single:
    st.caption(
        "Inputs start at typical values (median or most frequent). Change any to see what-if."
    )
    row: dict[str, object] = {}
    grid = st.columns(3)
    if model.recipe is not None:
        st.caption(
            "This model prepares rows itself (its recipe), so the form asks for the raw columns."
        )
    prefix = f"predict_raw_{pick}_" if model.recipe is not None else f"predict_in_{pick}_"
    for i, field in enumerate(model.input_form()):
        key = prefix + field.name
        with grid[i % 3]:
            if field.kind == "number":
                row[field.name] = st.number_input(
                    ui.md(field.name), value=ui.form_number(field.value), format="%g", key=key
                )
            elif field.kind == "date":
                day = dt.date.fromisoformat(field.value)
                row[field.name] = st.date_input(ui.md(field.name), value=day, key=key).isoformat()
            elif field.kind == "choice":
                index = field.options.index(field.value) if field.value in field.options else 0
                row[field.name] = st.selectbox(
                    ui.md(field.name), field.options, index=index, key=key
                )
            else:
                row[field.name] = st.text_input(ui.md(field.name), value=str(field.value), key=key)
    with ui.guarded("predicting"):
        table, _ = model.predict_table(pd.DataFrame([row]))
        names = model.output_names(row)  # an input may be named like an answer column
        pred = table[names["prediction"]].iloc[0]
        if model.task == "regression":
            st.metric(f"Predicted {ui.md(model.target)}", fmt_number(float(pred)))
        else:
            conf = table[names["confidence"]].iloc[0]
            st.metric(f"Predicted {ui.md(model.target)}", str(pred), help="The most likely class")
            st.progress(float(conf), text=f"Confidence {conf:.0%}")
            probs = pd.DataFrame(
                {
                    "class": [str(c) for c in model.classes],
                    "probability": [
                        table[names[f"probability_{c}"]].iloc[0] for c in model.classes
                    ],
                }
            )
            fig = px.bar(probs, x="probability", y="class", orientation="h", range_x=[0, 1])
            fig.update_layout(height=60 + 40 * len(probs), margin=dict(l=10, r=10, t=10, b=10))
            st.plotly_chart(safe_figure(fig), width="stretch")
        why = model.explain(pd.DataFrame([row]), top=5)
        st.subheader("Why")
        toward = (
            f"the predicted {ui.md(model.target)}"
            if model.task == "regression"
            else f"the chance of '{ui.md(pred)}'"
        )
        for r in why.itertuples():
            st.markdown(f"- **{ui.md(r.column)}** = {ui.md(r.value)} **{r.direction}** {toward}")
        why["effect"] = why["contribution"]
        fig = px.bar(
            why.iloc[::-1],
            x="effect",
            y="column",
            orientation="h",
            color="direction",
            color_discrete_map={"raises": "#2a9d8f", "lowers": "#e76f51", "none": "#999999"},
        )
        fig.update_layout(height=80 + 36 * len(why), margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(safe_figure(fig), width="stretch")
        st.caption(
            "Contributions of each column to this prediction, measured against the average "
            "prediction ("
            + ("in the target's units" if model.task == "regression" else f"in {LOG_ODDS}")
            + ")."
        )

with batch:
    st.caption(
        "Upload a CSV or Parquet file with the model's columns; predictions are added as new "
        "columns. Needed columns: " + ", ".join(ui.md(c) for c in model.input_columns)
    )
    upload = st.file_uploader(
        "Rows to score", type=["csv", "tsv", "parquet", "jsonl"], key="predict_upload"
    )
    add_reasons = st.checkbox(
        "Add the top 3 reasons to each row (slower for large files)", key="predict_reasons"
    )
    # Results belong to one model and one uploaded file: another file, another model or a failed
    # scoring clears them, so a download never offers the predictions of something else.
    scoring_for = (pick, None if upload is None else upload.file_id)
    if st.session_state.get("predict_output_for") != scoring_for:
        st.session_state.pop("predict_output", None)
        st.session_state.pop("predict_drift", None)
    if upload is not None and st.button("Score file", type="primary", key="predict_run"):
        st.session_state.pop("predict_output", None)
        st.session_state.pop("predict_drift", None)
        bar = st.progress(0.0, text="Scoring...")

        def _progress(n: int) -> None:
            bar.progress(0.5, text=f"{rows_text(n)} scored")

        with (
            ui.guarded(f"scoring {upload.name}"),
            stored_upload(ws, upload.name, upload.getbuffer(), ui.session_id()) as src,
        ):  # the upload is deleted once scored (or rejected)
            out = ws.root / "predictions" / f"{ui.session_id()}-{src.stem}-scored.csv"
            result = predict_file(
                model,
                src,
                out,
                progress=_progress,
                reasons=3 if add_reasons else 0,
            )
            bar.progress(1.0, text=f"{rows_text(result.rows)} scored in {result.seconds:.1f} s")
            for msg in result.report.messages():
                st.warning(ui.md(msg))
            st.session_state["predict_output"] = str(out)
            st.session_state["predict_added"] = result.added_columns
            st.session_state["predict_output_for"] = scoring_for
            drift = None if result.drift is None else result.drift.to_dict()
            st.session_state["predict_drift"] = (
                None if drift is None else {**drift, "rows": result.rows}
            )
            st.session_state["predict_drift_note"] = result.drift_note
            if drift is not None:  # kept with the model: its page shows the drift over time
                ws.record_batch_run(rec, upload.name, result.rows, drift)
        if "predict_output" not in st.session_state:
            bar.empty()  # scoring failed: its error says why, no bar is left behind
    out_path = st.session_state.get("predict_output")
    if out_path and Path(out_path).exists():
        scored = pd.read_csv(out_path, nrows=200)
        added = st.session_state.get("predict_added", [])
        made = [c for c in scored.columns if c in added]
        scored = scored[made + [c for c in scored.columns if c not in made]]  # answers first
        st.caption(
            f"First {rows_text(len(scored))}, predictions first; the download has every row."
        )
        st.dataframe(scored, width="stretch")
        st.download_button(
            "Download predictions (CSV)",
            data=Path(out_path).read_bytes(),
            file_name=Path(out_path).name.split("-", 1)[1],
            mime="text/csv",
            key="predict_download",
        )
        st.subheader("Drift")
        with ui.guarded("showing the drift"):
            drift_panel(
                st.session_state.get("predict_drift"),
                st.session_state.get("predict_drift_note", ""),
            )
