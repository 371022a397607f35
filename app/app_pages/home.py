"""Home: what is in the workspace, and where to start."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from app import state, ui
from app.bootstrap import SAMPLE_FILES, load_samples
from app.tables import show_table
from automl.automations import AutomationStore
from automl.metrics import METRICS
from automl.workspace.jobs import job_status

ws = ui.workspace()
st.title("Easel")
st.caption("From a table to a trustworthy prediction model, without code.")
user = st.session_state.get(state.USER)
if user is None:
    st.caption("Personal mode: nobody signs in, and only this computer can open Easel (127.0.0.1).")


def shared_with_me() -> None:
    """What other users shared with this one, and by whom."""
    rows = [
        {
            "what": "dataset",
            "name": d.name,
            "version": d.version,
            "shared by": d.owner,
            "details": f"{d.rows:,} rows, {d.columns} columns",
        }
        for d in (ws.shared_datasets() if user is None or user.can("import") else [])
    ] + [
        {
            "what": "model",
            "name": m.name,
            "version": m.version,
            "shared by": m.owner,
            "details": f"predicts {m.target} ({ui.TASK_WORDS.get(m.task, m.task)})",
        }
        for m in ws.shared_models()
    ]
    st.subheader("Shared with you")
    if rows:
        show_table(pd.DataFrame(rows), what="items", hide_index=True, width="stretch")
    else:
        st.info("Nothing is shared with you yet.")


if user is not None and user.role == "viewer":  # viewers predict with shared models only
    shared_with_me()
    st.stop()

datasets = ws.list_datasets()
models = ws.list_models()
c1, c2, c3 = st.columns(3)
c1.metric("Datasets", len(datasets))
c2.metric("Models", len(models))
recent_jobs = ws.list_jobs()
waiting = sum(j["status"] == "queued" for j in recent_jobs)
c3.metric(
    "Builds running",
    sum(j["status"] == "running" for j in recent_jobs),
    help=f"{waiting} more waiting in the queue" if waiting else None,
)

failed = AutomationStore(ws).failed()
if failed:
    st.subheader("Automations that failed")
    for a in failed:
        when = dt.datetime.fromtimestamp(a.last_run or 0).strftime("%Y-%m-%d %H:%M")
        st.error(ui.md(f"Automation {a.id} ({a.what()}) failed on {when}: {a.last_message}"))
    st.caption("Fix the cause, or pause or delete them on the **Automations** page.")

st.subheader("Datasets")
if not datasets:
    st.info(
        "No datasets yet. Import a file or a database table on the **Import** page, or start with "
        "the sample datasets (customer churn, support tickets, house prices)."
    )
missing_samples = set(SAMPLE_FILES) - {d.name for d in datasets}
if missing_samples and st.button("Add the sample datasets", key="home_samples"):
    with ui.guarded("adding the sample datasets"):
        added = load_samples(ws)
        st.success(
            f"Added: {', '.join(added)}." if added else "The sample datasets are already here."
        )
        datasets = ws.list_datasets()
if datasets:
    show_table(
        pd.DataFrame(
            {
                "name": d.name,
                "version": d.version,
                "rows": d.rows,
                "columns": d.columns,
                "source": d.source,
                "imported": dt.datetime.fromtimestamp(d.created_at).strftime("%Y-%m-%d %H:%M"),
            }
            for d in datasets
        ),
        what="datasets",
        hide_index=True,
        width="stretch",
    )

if datasets and user is not None:
    with st.expander("Share a dataset"):
        ui.share_box("dataset", [d.name for d in datasets], key="home_sharing")

st.subheader("Models")
if not models:
    st.info("No models yet. Pick a dataset and a column to predict on the **Build** page.")
else:
    show_table(
        pd.DataFrame(
            {
                "name": m.name,
                "version": m.version,
                "predicts": m.target,
                "problem type": ui.TASK_WORDS.get(m.task, m.task),
                "hold-out score": (
                    f"{METRICS[m.metric].label if m.metric in METRICS else m.metric} {m.score:.4f}"
                    if m.score is not None
                    else ""
                ),
                "dataset": m.dataset_ref,
                "built": dt.datetime.fromtimestamp(m.created_at).strftime("%Y-%m-%d %H:%M"),
            }
            for m in models
        ),
        what="models",
        hide_index=True,
        width="stretch",
    )

if user is not None:
    shared_with_me()

jobs = ws.list_jobs(limit=10)
if jobs:
    st.subheader("Recent builds")
    rows = []
    for j in jobs:
        j = job_status(ws, j["id"])
        rows.append(
            {
                "job": j["id"],
                "model": j["params"].get("model_name", ""),
                "target": j["params"].get("target", ""),
                "status": j["status"],
                "progress": f"{j['progress']:.0%}",
                "message": j["error"] or j["message"],
            }
        )
    show_table(pd.DataFrame(rows), what="builds", hide_index=True, width="stretch")
