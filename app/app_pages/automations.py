"""Automations: score each new version of a dataset with a model, refresh a dataset from its
source on a schedule; list, pause, resume and delete them."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from app import ui
from app.tables import show_table
from automl.automations import AutomationStore, add_refresh, add_score
from automl.workspace import lineage

ws = ui.workspace()
store = AutomationStore(ws)
st.title("Automations")
st.caption(
    "Easel runs these by itself, about once a minute: nobody needs to click. Scoring uses the "
    "model's production version (its newest version when none is in production)."
)


def _when(t: float | None) -> str:
    return "" if not t else dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


done = st.session_state.pop("automations_done", None)  # (form, message) of the last Add
autos = store.own()
if autos:
    show_table(
        pd.DataFrame(
            {
                "number": a.id,
                "what it does": a.what(),
                "status": a.status(),
                "last run": _when(a.last_run),
                "last result": a.last_message,
                "next refresh": _when(a.next_due) if a.kind == "refresh" else "",
            }
            for a in autos
        ),
        what="automations",
        hide_index=True,
        width="stretch",
    )
    by_id = {a.id: a for a in autos}
    pick = st.selectbox(
        "Automation",
        list(by_id),
        format_func=lambda i: f"{i}: {by_id[i].what()}",
        key="automations_pick",
    )
    chosen = by_id[pick]
    c1, c2 = st.columns(2)
    if chosen.paused:
        if c1.button("Resume", key="automations_resume"):
            with ui.guarded("resuming the automation"):
                store.set_paused(chosen.id, False)
                st.rerun()
    elif c1.button("Pause", key="automations_pause"):
        with ui.guarded("pausing the automation"):
            store.set_paused(chosen.id, True)
            st.rerun()
    if c2.button("Delete", key="automations_delete"):
        with ui.guarded("deleting the automation"):
            store.delete(chosen.id)
            st.rerun()
else:
    st.info("No automations yet. Add one below.")

st.subheader("Score new versions")
st.caption(
    "Each new version of the dataset (imported again, or refreshed) is scored, and the rows with "
    "their predictions are saved as a new version of a dataset of their own."
)
datasets = ui.dataset_names()
models = sorted({ws.key(m) for m in ws.list_models() + ws.shared_models()})
if not datasets or not models:
    st.info("You need a dataset and a model first (the **Import** and **Build** pages).")
else:
    with st.form("automations_score_form"):
        dataset = st.selectbox("Dataset to follow", datasets, key="automations_score_dataset")
        model = st.selectbox("Model that scores", models, key="automations_score_model")
        output = st.text_input(
            "Save the predictions as", value="", key="automations_score_out",
            placeholder="e.g. churn_scored",
        )  # fmt: skip
        if st.form_submit_button("Add"):
            with ui.guarded("adding the automation"):
                auto = add_score(ws, dataset, model, output)
                # said after a rerun, so the list above shows it at once
                st.session_state["automations_done"] = (
                    "score",
                    ui.md(f"Added automation {auto.id}: {auto.what()}."),
                )
                st.rerun()
if done and done[0] == "score":
    st.success(done[1])

st.subheader("Refresh a dataset")
st.caption(
    "Read a dataset again from the database, object storage or server file it was imported "
    "from, and save it as a new version."
)
own = [d.name for d in ws.list_datasets() if lineage.kind_of(d.lineage) == lineage.IMPORT]
if not own:
    st.info("None of your datasets was imported from a source Easel can read again.")
else:
    with st.form("automations_refresh_form"):
        dataset = st.selectbox("Dataset", own, key="automations_refresh_dataset")
        c1, c2 = st.columns(2)
        every = c1.number_input(
            "Every", min_value=1, max_value=366, value=1, step=1, key="automations_refresh_n"
        )
        unit = c2.selectbox("Unit", ["days", "hours"], key="automations_refresh_unit")
        if st.form_submit_button("Add"):
            with ui.guarded("adding the automation"):
                auto = add_refresh(ws, dataset, f"{int(every)} {unit}")
                first = _when(auto.next_due)
                st.session_state["automations_done"] = (
                    "refresh",
                    ui.md(f"Added automation {auto.id}: {auto.what()}; first run {first}."),
                )
                st.rerun()
if done and done[0] == "refresh":
    st.success(done[1])
