"""Join: combine two datasets on key columns, with suggested keys and a preview before saving."""

from __future__ import annotations

import streamlit as st

from app import ui
from automl.prep.join import HOWS, JoinSpec, preview_join, suggest_keys
from automl.words import plural, rows_text
from automl.workspace.data import join_datasets

HOW_WORDS = {
    "inner": "Inner: only rows whose keys match in both",
    "left": "Left: every left row, with right columns where they match",
    "right": "Right: every right row, with left columns where they match",
    "outer": "Outer: every row of both",
}

ws = ui.workspace()
st.title("Join datasets")
st.write(
    "Add columns from one dataset to another by matching key columns, e.g. orders and customers "
    "on a customer id."
)
datasets = ui.dataset_names()
if len(datasets) < 2:
    st.info("A join needs two datasets. Import another one on the **Import** page.")
    st.stop()

c1, c2 = st.columns(2)
left_name = c1.selectbox("Left dataset", datasets, key="join_left")
right_name = c2.selectbox(
    "Right dataset", [d for d in datasets if d != left_name], key="join_right"
)
left = ui.load_dataset(left_name)
right = ui.load_dataset(right_name)
c1.caption(f"{rows_text(len(left))}, {plural(left.shape[1], 'column')}")
c2.caption(f"{rows_text(len(right))}, {plural(right.shape[1], 'column')}")

how = st.radio(
    "Join type", HOWS, format_func=lambda h: HOW_WORDS[h], key="join_how", horizontal=False
)
suggestions = suggest_keys(left, right)
if suggestions:
    st.caption(
        "Suggested keys: "
        + "; ".join(
            f"**{ui.md(s.left)}** = **{ui.md(s.right)}** ({ui.md(s.reason)})"
            for s in suggestions[:3]
        )
    )
else:
    st.caption(
        "No likely key found (no columns with matching names, or identifiers whose values "
        "overlap). Choose the columns that identify the same thing in both tables."
    )
best = suggestions[0] if suggestions else None
n_keys = st.number_input("Number of key columns", 1, 5, 1, key="join_nkeys")
left_keys, right_keys = [], []
for i in range(int(n_keys)):
    k1, k2 = st.columns(2)
    lcols = [str(c) for c in left.columns]
    rcols = [str(c) for c in right.columns]
    li = lcols.index(best.left) if best and i == 0 and best.left in lcols else 0
    ri = rcols.index(best.right) if best and i == 0 and best.right in rcols else 0
    left_keys.append(k1.selectbox(f"Left key {i + 1}", lcols, index=li, key=f"join_lk{i}"))
    right_keys.append(k2.selectbox(f"Right key {i + 1}", rcols, index=ri, key=f"join_rk{i}"))

spec = JoinSpec(tuple(left_keys), tuple(right_keys), how)
pv = None
with ui.guarded("previewing the join"):
    pv = preview_join(left, right, spec)
if pv is not None:
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Result rows", f"{pv.rows:,}")
    m2.metric("Left rows matched", f"{pv.left_matched:,} of {pv.left_rows:,}")
    m3.metric("Right rows matched", f"{pv.right_matched:,} of {pv.right_rows:,}")
    m4.metric("Rows vs larger table", f"{pv.factor:.2f}x")
    for w in pv.warnings:
        st.warning(ui.md(w))
    for n in pv.notes:
        st.caption(ui.md(n))
    # The suggested name follows the chosen datasets until the analyst types their own.
    suggested = f"{left_name} + {right_name}"[:64].strip()
    if st.session_state.get("join_name") in (None, st.session_state.get("join_suggested")):
        st.session_state["join_name"] = suggested
    st.session_state["join_suggested"] = suggested
    name = st.text_input("Name of the joined dataset", key="join_name")
    if st.button("Join and save", type="primary", key="join_save", disabled=pv.rows == 0):
        with ui.guarded("joining"), st.spinner("Joining..."):
            rec, _ = join_datasets(ws, left_name, right_name, spec, name)
            st.success(
                f"Saved **{ui.md(rec.name)}** (version {rec.version}): {rows_text(rec.rows)}, "
                f"{plural(rec.columns, 'column')}."
            )
            with st.expander("First rows", expanded=True):
                st.dataframe(ws.preview_dataset(rec.name, rec.version, 50), width="stretch")
