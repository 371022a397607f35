"""Build: choose what to predict, preview the likely score, and train in the background."""

from __future__ import annotations

import time
from typing import Any, overload

import pandas as pd
import plotly.express as px
import streamlit as st

import automl
from app import state, ui
from automl.candidates import get_candidate
from automl.coltypes import infer_types
from automl.errors import EaselError
from automl.metrics import DEFAULT_METRIC, METRICS
from automl.presets import PRESETS
from automl.reports import safe_figure
from automl.task import detect_task
from automl.timeseries import METRICS as FORECAST_METRICS
from automl.timeseries import describe as describe_series
from automl.timeseries import suggest as suggest_series
from automl.training.preview import preview_forecast
from automl.training.run import MIN_TIME_BUDGET
from automl.words import plural, rows_text
from automl.workspace.catalog import fit_name
from automl.workspace.jobs import (
    INTERRUPTED,
    cancel_job,
    job_status,
    start_training_job,
    waiting_text,
)

RESTORE = "build_restore"  # the parameters of the build this browser follows after a refresh
STATUS_WORDS = {
    "queued": "Waiting to start",
    "running": "Running",
    "succeeded": "Finished",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
TRIAL_WORDS = {
    "ok": "finished",
    "stopped at deadline": "stopped at the time limit",
    "stopped at its time share": "stopped at its share of the time",
}


def _future_columns(candidates: dict[str, str], then: list[str] | None) -> list[str]:
    """The columns that change over time, each with a checkbox: ticked, its future values are
    known ahead (a plan) and the forecast will need them; unticked, only its past values are
    used."""
    if not candidates:
        return []
    st.markdown(
        "**Columns that change over time.** Tick those whose future values you will know when "
        "you forecast (a plan: prices, promotions, opening hours, a weather forecast): the "
        "model uses them at each period, and forecasting then needs them for every period "
        "ahead. Unticked ones are used only as past values."
    )
    boxes = st.columns(min(len(candidates), 4))
    chosen = []
    for i, col in enumerate(candidates):
        ticked = boxes[i % len(boxes)].checkbox(
            f"{ui.md(col)}: known ahead",
            value=then is None or col in then,
            key=f"build_future_{col}",
        )
        if ticked:
            chosen.append(col)
    return chosen


def _holidays_choice(then: str | None) -> str | None:
    """A country (and optionally a region) whose public holidays become features."""
    from automl.covariates import country_names, supported_countries

    names = country_names()
    codes = ["", *sorted(supported_countries(), key=lambda c: names.get(c, c))]
    country_then, _, region_then = (then or "").partition(":")
    h1, h2 = st.columns(2)
    country = h1.selectbox(
        "Holidays",
        codes,
        index=_index(codes, country_then, 0),
        format_func=lambda c: f"{names.get(c, c)} ({c})" if c else "none",
        key="build_holidays",
        help="The country whose public holidays the model should know (they often move sales).",
    )
    if not country:
        return None
    regions = ["", *supported_countries()[country]]
    region = h2.selectbox(
        "Region (optional)",
        regions,
        index=_index(regions, region_then, 0),
        format_func=lambda r: r or "the whole country",
        key="build_holiday_region",
        disabled=len(regions) == 1,
    )
    return f"{country}:{region}" if region else country


ws = ui.workspace()
st.title("Build a model")


@overload
def _index(options: list[Any], value: Any, otherwise: int) -> int: ...
@overload
def _index(options: list[Any], value: Any, otherwise: None = None) -> int | None: ...
def _index(options: list[Any], value: Any, otherwise: int | None = None) -> int | None:
    """The position of ``value`` among ``options``; ``otherwise`` when it is not one of them."""
    return options.index(value) if value in options else otherwise


def family_label(name: str) -> str:
    """A kind of model in words: "LightGBM (gradient-boosted trees)" for "lightgbm"."""
    try:
        return get_candidate(name).label
    except EaselError:
        return "Blend of the best models" if name == "ensemble" else name


@st.cache_data(max_entries=16, show_spinner=False)
def _suggest(dataset: str, rows: int, target: str) -> tuple[str, list[str], str] | None:
    """A time series set-up when the data looks like one (cached per dataset and target)."""
    hint = suggest_series(ui.load_dataset(dataset), target)
    return None if hint is None else (hint.time_column, hint.id_columns, hint.reason)


@st.fragment(run_every=1.5)
def job_panel() -> None:
    job_id = st.session_state.get(state.CURRENT_JOB)
    refreshed = job_id is None
    if job_id is None:  # after a refresh, the job id is in this browser's URL
        text = st.query_params.get("job", "")
        if not (text.isascii() and text.isdigit() and len(text) <= 18):  # a job id, or no job
            return
        job_id = int(text)
        st.session_state[state.CURRENT_JOB] = job_id
    try:
        job = job_status(ws, job_id)
    except EaselError:
        return
    if refreshed:  # the form below shows the set-up of the build it follows
        st.session_state[RESTORE] = job["params"]
    st.subheader(f"Build {job_id}: {ui.md(job['params'].get('model_name', ''))}")
    started = job["started_at"] or time.time()
    elapsed = (job["finished_at"] or time.time()) - started
    budget = (
        job["params"]["settings"].get("time_budget")
        or PRESETS[job["params"]["settings"]["preset"]]["time_budget"]
    )
    status = STATUS_WORDS.get(job["status"], job["status"])
    st.progress(min(float(job["progress"]), 1.0), text=ui.md(job["message"] or status))
    c1, c2, c3 = st.columns(3)
    c1.metric("Status", status)
    c2.metric("Elapsed", f"{elapsed:.0f} s", help=f"Budget {budget:.0f} s")
    best = job["best_score"]
    metric_name = job["params"]["settings"].get("metric")
    label = METRICS[metric_name].label if metric_name in METRICS else "score"
    if job["params"]["settings"].get("time_column"):  # a forecast's search compares series alike
        label = f"{label} (relative)"
        measured = (
            "Measured on periods each model did not learn from, with each series' values "
            "relative to its own level, so that big and small series count alike. The Analyze "
            "page gives the hold-out's error in the target's own units."
        )
    else:
        measured = "Measured on rows each model did not learn from while it was being chosen."
    c3.metric(f"Best {label} so far", "—" if best is None else f"{best:.4f}", help=measured)
    if job["status"] == "queued":
        st.info(waiting_text(ws, job_id), icon=":material/hourglass_top:")
    elif job["status"] == "running":
        st.caption(f"About {max(budget - elapsed, 0):.0f} s left.")
    if job["status"] in ("queued", "running") and st.button("Cancel build", key="build_cancel"):
        cancel_job(ws, job_id)
    if job["trials"]:
        board = pd.DataFrame(job["trials"])[["id", "candidate", "score", "fit_seconds", "status"]]
        higher = metric_name not in METRICS or METRICS[metric_name].greater_is_better
        board = board.sort_values("score", ascending=not higher)
        board["candidate"] = board["candidate"].map(family_label)
        board["status"] = board["status"].map(lambda s: TRIAL_WORDS.get(s, s))
        board = board.rename(
            columns={
                "id": "model",
                "candidate": "kind of model",
                "score": label,
                "fit_seconds": "training seconds",
            }
        )
        st.dataframe(board, hide_index=True, height=240)
    if job["status"] == "succeeded":
        st.success(f"{ui.md(job['message'])}. Open **Analyze** to see how good it is.")
        st.session_state[state.CURRENT_MODEL] = (
            f"{job['result']['model']}@{job['result']['version']}"
        )
    elif job["status"] == "failed":
        st.error(ui.md(job["error"]))
    elif job["status"] == "cancelled":
        st.warning("The build was cancelled; nothing was saved.")
    elif job["status"] == "interrupted":
        st.warning(job["error"] or INTERRUPTED)


job_panel()  # the build this browser follows, shown above everything else


datasets = ui.datasets()
if not datasets:
    st.info(
        "There is no dataset yet. Add one on the **Import** page or the sample data on **Home**."
    )
    st.stop()

names = [ws.key(d) for d in datasets]
restore: dict[str, Any] = st.session_state.get(RESTORE) or {}
settings_then: dict[str, Any] = restore.get("settings") or {}
current = restore.get("dataset") or st.session_state.get(state.CURRENT_DATASET)
dataset = st.selectbox(
    "Dataset", names, index=names.index(current) if current in names else 0, key="build_dataset"
)
st.session_state[state.CURRENT_DATASET] = dataset
if restore.get("dataset") != dataset:  # another dataset: the followed build's set-up is not for it
    restore, settings_then = {}, {}
df = ui.load_dataset(dataset)
st.caption(f"{rows_text(len(df))}, {plural(df.shape[1], 'column')}")

target_options = list(df.columns)
target = st.selectbox(
    "Column to predict (target)",
    target_options,
    index=_index(target_options, restore.get("target")),
    key="build_target",
)
if target is None:
    st.info("Choose the column you want Easel to predict.")
    st.stop()

info = None
with ui.guarded("checking the target"):
    _, info = detect_task(df, target)
if info is None:
    st.stop()

numeric_target = pd.api.types.is_numeric_dtype(df[target].dtype) and info.task == "regression"
hint = _suggest(dataset, len(df), target) if numeric_target else None
detected = "timeseries" if hint else info.task
left, right = st.columns([1, 1])
with left:
    why = f"{hint[2]}: numbers over time" if hint else info.reason
    st.markdown(f"**Problem type:** {ui.TASK_WORDS[detected]} ({ui.md(why)}).")
    options = ["binary", "multiclass", "regression"] + (["timeseries"] if numeric_target else [])
    task = st.selectbox(
        "Problem type",
        options,
        index=_index(options, settings_then.get("task"), options.index(detected)),
        format_func=lambda t: ui.TASK_WORDS[t],
        key="build_task",
        help="Change it if the detected type is wrong, e.g. numeric codes that are categories.",
    )
    if info.rows_dropped_missing_target:
        n = info.rows_dropped_missing_target
        st.warning(
            f"{rows_text(n)} {'has' if n == 1 else 'have'} no value for '{ui.md(target)}' and "
            f"will be left out."
        )
features = df.drop(columns=[target])
saved_types = {
    c: t
    for c, t in (ws.get_dataset(dataset).lineage.get("column_types") or {}).items()
    if c in features.columns
}  # types chosen on the Import page
types = infer_types(features, saved_types)
series_setup: dict[str, object] = {}
if task == "timeseries":
    dates = [c for c, t in types.items() if t.type == "datetime"]
    if hint and hint[0] not in dates:
        dates.insert(0, hint[0])
    if not dates:
        st.error(
            "A time series forecast needs a column with dates or times, and this dataset has "
            "none. On the Import page, set the type of the column that holds dates to 'datetime', "
            "or choose another problem type."
        )
        st.stop()
    t1, t2, t3 = st.columns(3)
    time_col = t1.selectbox(
        "Time column",
        dates,
        index=_index(
            dates,
            settings_then.get("time_column"),
            dates.index(hint[0]) if hint and hint[0] in dates else 0,
        ),
        key="build_time_column",
    )
    id_options = [
        c
        for c in features.columns
        if c != time_col and not pd.api.types.is_float_dtype(features[c].dtype)
    ]
    series_ids = t2.multiselect(
        "Series ID (one forecast per value)",
        id_options,
        default=[
            c
            for c in settings_then.get("series_columns", hint[1] if hint else [])
            if c in id_options
        ],
        key="build_series",
        help="Columns that tell the series apart, e.g. store or product. Empty: one series.",
    )
    agg_words = {"": "stop and tell me", "sum": "add them up", "mean": "average them"}
    aggregate = t3.selectbox(
        "Several rows in one period",
        list(agg_words),
        index=_index(list(agg_words), settings_then.get("aggregate") or "", 0),
        format_func=lambda a: agg_words[a],
        key="build_aggregate",
    )
    fill_words = {
        "skip": "leave them out",
        "zero": "count them as 0 (not recorded = none sold)",
        "interpolate": "fill in from the values around them",
    }
    fill = st.selectbox(
        "Periods without a value",
        list(fill_words),
        index=_index(list(fill_words), settings_then.get("fill") or "skip", 0),
        format_func=lambda f: fill_words[f],
        key="build_fill",
        help="Gaps in a series' regular periods and empty values of the target.",
    )
    desc: dict[str, Any] | None = None
    with ui.guarded("checking the time series"):
        desc = describe_series(df, target, time_col, series_ids, aggregate or None, fill)
    if desc is None:
        st.stop()
    st.caption(
        f"One value per {desc['frequency']}; {desc['series']} series of "
        + (
            f"{desc['longest']:,}"
            if desc["shortest"] == desc["longest"]
            else f"{desc['shortest']:,} to {desc['longest']:,}"
        )
        + f" {desc['frequency']}s, from {desc['first']} to {desc['last']}."
        + (
            f" Used to describe each series: {', '.join(map(ui.md, desc['static_columns']))}."
            if desc["static_columns"]
            else ""
        )
        + (
            " Not used: "
            + "; ".join(f"{ui.md(c)} ({ui.md(why)})" for c, why in desc["ignored_columns"].items())
            + "."
            if desc["ignored_columns"]
            else ""
        )
    )
    for note in desc["notes"]:
        st.info(ui.md(note))
    future_cols = _future_columns(desc["future_candidates"], settings_then.get("future_columns"))
    series_setup = {
        "time_column": time_col,
        "series_columns": series_ids,
        "aggregate": aggregate or None,
        "future_columns": future_cols,
        "holidays": _holidays_choice(settings_then.get("holidays")),
        "fill": fill,
    }

with right:
    y = df[target].dropna()
    if task == "timeseries":
        tcol = str(series_setup["time_column"])
        ids = list(series_setup["series_columns"])  # type: ignore[call-overload]
        plot = df[[tcol, target, *ids]].copy()
        plot[tcol] = pd.to_datetime(plot[tcol], errors="coerce", format="mixed")
        plot["series"] = plot[ids].astype(str).agg(" / ".join, axis=1) if ids else target
        top = plot["series"].value_counts().index[:6]
        plot = plot[plot["series"].isin(top)].sort_values(tcol)
        fig = px.line(plot, x=tcol, y=target, color="series", title=f"{target} over time")
        fig.update_layout(showlegend=bool(ids))
    elif task == "regression":
        fig = px.histogram(y, nbins=40, title=f"Distribution of {target}")
    else:
        counts = y.astype(str).value_counts().reset_index()
        counts.columns = [target, "rows"]
        fig = px.bar(counts, x=target, y="rows", title=f"Rows per value of {target}")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10))
    if task != "timeseries":
        fig.update_layout(showlegend=False)
    st.plotly_chart(safe_figure(fig), width="stretch")

usable = [c.name for c in types.values() if c.used]
excluded: list[str] = []
overrides = dict(saved_types)
if task != "timeseries":  # a forecast picks its columns itself (see the caption above)
    with st.expander(f"Columns to use ({len(usable)} of {features.shape[1]})"):
        if restore:  # the followed build's columns: all but those it left out or excluded
            left_out = set(settings_then.get("exclude_columns") or [])
            usable = [
                c.name
                for c in types.values()
                if c.name not in left_out
                and (
                    c.used or (settings_then.get("column_types") or {}).get(c.name) == "categorical"
                )
            ]
        chosen = st.multiselect(
            "Columns", list(features.columns), default=usable, key="build_columns"
        )
        skipped = [c for c in types.values() if not c.used]
        if skipped:
            st.caption(
                "Left out by default: "
                + "; ".join(f"{ui.md(c.name)} ({c.type}: {ui.md(c.reason)})" for c in skipped)
            )
    excluded = [c for c in features.columns if c not in chosen and types[c].used]
    # Columns the user chose although typed identifier/constant are used as categories.
    overrides = {**saved_types, **{c: "categorical" for c in chosen if not types[c].used}}

if task == "timeseries":
    metric_names = list(FORECAST_METRICS)
    default_metric = "rmse"
else:
    metric_names = [m for m, spec in METRICS.items() if task in spec.tasks and m != "mape"]
    default_metric = DEFAULT_METRIC[task]
with st.form("build_form"):
    if task == "timeseries" and desc is not None:
        series_setup["horizon"] = int(
            st.number_input(
                f"Forecast horizon ({desc['frequency']}s ahead)",
                min_value=1,
                max_value=int(desc["max_horizon"]),
                value=min(
                    int(settings_then.get("horizon") or desc["default_horizon"]),
                    int(desc["max_horizon"]),
                ),
                key="build_horizon",
                help="How far ahead to forecast. The last this-many periods are held out to "
                "check the forecast.",
            )
        )
    c1, c2, c3 = st.columns(3)
    preset = c1.radio(
        "Build",
        ["quick", "standard"],
        index=_index(["quick", "standard"], settings_then.get("preset"), 0),
        format_func=lambda p: f"{p.title()} (about {PRESETS[p]['time_budget'] / 60:.0f} min)",
        key="build_preset",
    )
    budget = c2.number_input(
        "Time budget (seconds, optional)",
        min_value=0,
        max_value=24 * 3600,
        value=int(settings_then.get("time_budget") or 0),
        step=30,
        help=f"0 uses the build type's time; otherwise at least {MIN_TIME_BUDGET:g} seconds.",
        key="build_budget",
    )
    metric = c3.selectbox(
        "Optimize for",
        metric_names,
        index=_index(metric_names, settings_then.get("metric"), metric_names.index(default_metric)),
        format_func=lambda m: METRICS[m].label,
        key="build_metric",
    )
    model_name = st.text_input(
        "Model name",
        value=restore.get("model_name") or fit_name(f"{dataset} - {target}"),
        key="build_name",
    )
    b1, b2 = st.columns(2)
    do_preview = b1.form_submit_button("Preview (a few seconds)")
    do_build = b2.form_submit_button("Build", type="primary")

if do_preview:
    with ui.guarded("previewing"), st.spinner("Training a fast model on a sample..."):
        if task == "timeseries":
            res = preview_forecast(
                df,
                target,
                str(series_setup["time_column"]),
                list(series_setup["series_columns"]),  # type: ignore[call-overload]
                horizon=int(series_setup["horizon"]),  # type: ignore[call-overload]
                aggregate=series_setup["aggregate"],  # type: ignore[arg-type]
                metric=metric,
                future_columns=list(series_setup["future_columns"]),  # type: ignore[call-overload]
                holidays=series_setup["holidays"],  # type: ignore[arg-type]
                fill=str(series_setup["fill"]),
            )
        else:
            res = automl.preview(
                df,
                target,
                task=task,
                metric=metric,
                column_types=overrides,
                exclude_columns=excluded,
            )
        st.subheader("Preview")
        c1, c2 = st.columns(2)
        c1.metric(f"Estimated {res.metric_label}", f"{res.estimated_score:.3f}")
        c2.metric(
            "Without a model (baseline)",
            f"{res.baseline_score:.3f}",
            help="For a forecast: repeating the last season (or the last value).",
        )
        fig = px.bar(
            res.column_impact.head(15).iloc[::-1],
            x="impact",
            y="column",
            orientation="h",
            title="Column impact (share)",
        )
        fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(safe_figure(fig), width="stretch")
        notes = "; ".join(res.notes)
        st.caption(ui.md(notes[:1].upper() + notes[1:] + f". Took {res.seconds:.1f} s."))

if do_build:
    with ui.guarded("starting the build"):
        settings = {
            "preset": preset,
            "time_budget": float(budget) if budget else None,
            "task": task,
            "metric": metric,
            "column_types": overrides,
            "exclude_columns": excluded,
            **series_setup,
        }
        job_id = start_training_job(ws, dataset, target, model_name, settings)
        st.session_state[state.CURRENT_JOB] = job_id
        st.session_state[RESTORE] = None  # the form now shows what the analyst chose
        st.query_params["job"] = str(job_id)  # a refresh of this browser finds the build again
        st.rerun()  # show the build panel at once
