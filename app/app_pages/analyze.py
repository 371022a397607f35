"""Analyze: how good is the model, on rows it never saw, and what drives it."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from app import ui
from automl.metrics import METRICS
from automl.recipe import fmt_number

ws = ui.workspace()
st.title("Analyze a model")
picked = ui.pick_model("analyze_model")
if picked is None:
    st.stop()
rec, model = picked
meta = model.meta
metrics = model.metrics


def headline() -> str:
    held = meta["rows"]["holdout"]
    if model.task == "regression":
        return (
            f"Predicts **{model.target}** with a typical error of **{fmt_number(metrics['mae'])}** "
            f"(mean absolute error) on {held:,} rows it never saw; it explains "
            f"**{metrics['r2']:.0%}** of the variation (R²)."
        )
    return (
        f"Predicts **{model.target}** correctly for **{metrics['accuracy']:.0%}** of {held:,} rows "
        "it never saw during training."
    )


st.markdown(headline())
st.caption(f"{meta['holdout_description']}. Final model: {meta['refit_note']}.")

c1, c2 = st.columns([1, 1])
with c1:
    st.subheader("Hold-out metrics")
    st.dataframe(
        pd.DataFrame(
            {"metric": METRICS[k].label, "value": round(v, 4)} for k, v in metrics.items()
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
        st.plotly_chart(fig, width="stretch")
        st.caption("How much the hold-out score worsens when a column's values are shuffled.")

st.subheader("Leaderboard")
board = model.leaderboard.drop(columns=["params"])
score_col = f"validation_{meta['metric']}"
board = board.sort_values(
    ["default", "kept", score_col], ascending=[False, False, not meta["metric_greater_is_better"]]
)
st.dataframe(board, hide_index=True, width="stretch")
kept = [int(i) for i in board[board["kept"]]["id"]]
choice = st.selectbox(
    "Make another kept candidate the model's predictor",
    kept,
    index=kept.index(model.default_id),
    format_func=lambda i: f"candidate {i} ({meta['kept'][str(i)]['candidate']})",
    key="analyze_default",
)
if choice != model.default_id and st.button("Use this candidate", key="analyze_use"):
    with ui.guarded("changing the default candidate"):
        model.set_default(choice)
        model.save(ws.model_dir(rec))
        st.success(f"Candidate {choice} now makes this model's predictions.")
        st.rerun()

st.subheader("Data that went in")
cols = pd.DataFrame(meta["columns"])[["name", "type", "reason", "missing", "distinct"]]
st.dataframe(cols, hide_index=True, width="stretch")
r = meta["rows"]
st.caption(
    f"{r['total']:,} rows in the dataset, {r['with_target']:,} with a target value; "
    f"validation: {meta['validation']}; built in {meta.get('fit_seconds', 0):.0f} s "
    f"(budget {meta['time_budget']:.0f} s)."
)
for w in meta.get("warnings", []):
    st.warning(w)
