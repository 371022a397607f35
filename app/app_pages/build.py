"""Build: choose what to predict, preview the likely score, and train in the background."""

from __future__ import annotations

import time

import pandas as pd
import plotly.express as px
import streamlit as st

import automl
from app import state, ui
from automl.coltypes import infer_types
from automl.errors import EaselError
from automl.jobs import cancel_job, job_status, start_training_job
from automl.metrics import DEFAULT_METRIC, METRICS
from automl.presets import PRESETS
from automl.task import detect_task

ws = ui.workspace()
st.title("Build a model")


@st.fragment(run_every=1.5)
def job_panel() -> None:
    job_id = st.session_state.get(state.CURRENT_JOB)
    if job_id is None:  # after a refresh, the job id is in this browser's URL
        try:
            job_id = int(st.query_params.get("job", ""))
        except ValueError:
            return
        st.session_state[state.CURRENT_JOB] = job_id
    try:
        job = job_status(ws, job_id)
    except EaselError:
        return
    st.subheader(f"Build {job_id}: {job['params']['model_name']}")
    started = job["started_at"] or time.time()
    elapsed = (job["finished_at"] or time.time()) - started
    budget = (
        job["params"]["settings"].get("time_budget")
        or PRESETS[job["params"]["settings"]["preset"]]["time_budget"]
    )
    st.progress(min(float(job["progress"]), 1.0), text=job["message"] or job["status"])
    c1, c2, c3 = st.columns(3)
    c1.metric("Status", job["status"])
    c2.metric("Elapsed", f"{elapsed:.0f} s", help=f"Budget {budget:.0f} s")
    best = job["best_score"]
    metric_name = job["params"]["settings"].get("metric")
    label = METRICS[metric_name].label if metric_name in METRICS else "score"
    c3.metric(f"Best {label} so far", "—" if best is None else f"{best:.4f}", help="validation")
    if job["status"] in ("queued", "running"):
        st.caption(f"About {max(budget - elapsed, 0):.0f} s left.")
        if st.button("Cancel build", key="build_cancel"):
            cancel_job(ws, job_id)
    if job["trials"]:
        board = pd.DataFrame(job["trials"])[["id", "candidate", "score", "fit_seconds", "status"]]
        higher = metric_name not in METRICS or METRICS[metric_name].greater_is_better
        board = board.sort_values("score", ascending=not higher)
        st.dataframe(board, hide_index=True, height=240)
    if job["status"] == "succeeded":
        st.success(f"{job['message']}. Open **Analyze** to see how good it is.")
        st.session_state[state.CURRENT_MODEL] = (
            f"{job['result']['model']}@{job['result']['version']}"
        )
    elif job["status"] == "failed":
        st.error(job["error"])
    elif job["status"] == "cancelled":
        st.warning("The build was cancelled; nothing was saved.")


job_panel()  # the build this browser follows, shown above everything else


datasets = ws.list_datasets()
if not datasets:
    st.info(
        "There is no dataset yet. Add one on the **Import** page or the sample data on **Home**."
    )
    st.stop()

names = [d.name for d in datasets]
current = st.session_state.get(state.CURRENT_DATASET)
dataset = st.selectbox(
    "Dataset", names, index=names.index(current) if current in names else 0, key="build_dataset"
)
st.session_state[state.CURRENT_DATASET] = dataset
df = ui.load_dataset(dataset)
st.caption(f"{len(df):,} rows, {df.shape[1]} columns")

target = st.selectbox(
    "Column to predict (target)", list(df.columns), index=None, key="build_target"
)
if target is None:
    st.info("Choose the column you want Easel to predict.")
    st.stop()

info = None
with ui.guarded("checking the target"):
    _, info = detect_task(df, target)
if info is None:
    st.stop()

left, right = st.columns([1, 1])
with left:
    st.markdown(f"**Problem type:** {ui.TASK_WORDS[info.task]} ({info.reason}).")
    options = ["binary", "multiclass", "regression"]
    task = st.selectbox(
        "Problem type",
        options,
        index=options.index(info.task),
        format_func=lambda t: ui.TASK_WORDS[t],
        key="build_task",
        help="Change it if the detected type is wrong, e.g. numeric codes that are categories.",
    )
    if info.rows_dropped_missing_target:
        st.warning(
            f"{info.rows_dropped_missing_target} rows have no '{target}' and will be left out."
        )
with right:
    y = df[target].dropna()
    if task == "regression":
        fig = px.histogram(y, nbins=40, title=f"Distribution of {target}")
    else:
        counts = y.astype(str).value_counts().reset_index()
        counts.columns = [target, "rows"]
        fig = px.bar(counts, x=target, y="rows", title=f"Rows per value of {target}")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10), showlegend=False)
    st.plotly_chart(fig, width="stretch")

features = df.drop(columns=[target])
saved_types = {
    c: t
    for c, t in (ws.get_dataset(dataset).lineage.get("column_types") or {}).items()
    if c in features.columns
}  # types chosen on the Import page
types = infer_types(features, saved_types)
usable = [c.name for c in types.values() if c.used]
with st.expander(f"Columns to use ({len(usable)} of {features.shape[1]})"):
    chosen = st.multiselect("Columns", list(features.columns), default=usable, key="build_columns")
    skipped = [c for c in types.values() if not c.used]
    if skipped:
        st.caption(
            "Left out by default: " + "; ".join(f"{c.name} ({c.type}: {c.reason})" for c in skipped)
        )
excluded = [c for c in features.columns if c not in chosen and types[c].used]
# Columns the user chose although typed identifier/constant are used as categories.
overrides = {**saved_types, **{c: "categorical" for c in chosen if not types[c].used}}

metric_names = [m for m, spec in METRICS.items() if task in spec.tasks and m != "mape"]
with st.form("build_form"):
    c1, c2, c3 = st.columns(3)
    preset = c1.radio(
        "Build",
        ["quick", "standard"],
        format_func=lambda p: f"{p.title()} (about {PRESETS[p]['time_budget'] / 60:.0f} min)",
        key="build_preset",
    )
    budget = c2.number_input(
        "Time budget (seconds, optional)",
        min_value=0,
        max_value=24 * 3600,
        value=0,
        step=30,
        help="0 uses the build type's time.",
        key="build_budget",
    )
    metric = c3.selectbox(
        "Optimize for",
        metric_names,
        index=metric_names.index(DEFAULT_METRIC[task]),
        format_func=lambda m: METRICS[m].label,
        key="build_metric",
    )
    model_name = st.text_input("Model name", value=f"{dataset} - {target}"[:60], key="build_name")
    b1, b2 = st.columns(2)
    do_preview = b1.form_submit_button("Preview (a few seconds)")
    do_build = b2.form_submit_button("Build", type="primary")

if do_preview:
    with ui.guarded("previewing"), st.spinner("Training a fast model on a sample..."):
        res = automl.preview(
            df, target, task=task, metric=metric, column_types=overrides, exclude_columns=excluded
        )
        st.subheader("Preview")
        c1, c2 = st.columns(2)
        c1.metric(f"Estimated {res.metric_label}", f"{res.estimated_score:.3f}")
        c2.metric("Without a model (baseline)", f"{res.baseline_score:.3f}")
        fig = px.bar(
            res.column_impact.head(15).iloc[::-1],
            x="impact",
            y="column",
            orientation="h",
            title="Column impact (share)",
        )
        fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(fig, width="stretch")
        st.caption("; ".join(res.notes) + f". Took {res.seconds:.1f} s.")

if do_build:
    with ui.guarded("starting the build"):
        settings = {
            "preset": preset,
            "time_budget": float(budget) if budget else None,
            "task": task,
            "metric": metric,
            "column_types": overrides,
            "exclude_columns": excluded,
        }
        job_id = start_training_job(ws, dataset, target, model_name, settings)
        st.session_state[state.CURRENT_JOB] = job_id
        st.query_params["job"] = str(job_id)  # a refresh of this browser finds the build again
        st.rerun()  # show the build panel at once
