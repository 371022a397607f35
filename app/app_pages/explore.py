"""Explore: scatter, bar and box charts with colour/group-by, and an association matrix, on a
stated sample for large data."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app import ui
from automl.prep.explore import (
    chart_numbers,
    correlation,
    count_rows,
    mutual_information,
    sample_rows,
)
from automl.reports import safe_figure

SCATTER_POINTS = 2000

ws = ui.workspace()
st.title("Explore data")
datasets = ui.datasets()
if not datasets:
    st.info("No datasets yet. Import one on the **Import** page first.")
    st.stop()

name = st.selectbox("Dataset", [ws.key(d) for d in datasets], key="explore_dataset")
sample = sample_rows(ui.load_dataset(name))
df = sample.data
st.caption(sample.note)
cols = [str(c) for c in df.columns]
nums = chart_numbers(df)  # measurements first: the default scatter never plots an ID
groupable = [c for c in cols if 1 < df[c].nunique(dropna=True) <= 30]

chart, matrix = st.tabs(["Charts", "Relationships"])
with chart:
    kind = st.radio("Chart", ["Scatter", "Bar", "Box"], horizontal=True, key="explore_kind")
    colour = st.selectbox("Colour / group by", ["(none)", *groupable], key="explore_colour")
    colour_col = None if colour == "(none)" else colour
    with ui.guarded("drawing the chart"):
        if kind == "Scatter":
            if len(nums) < 2:
                st.info("A scatter chart needs two number columns.")
            else:
                c1, c2 = st.columns(2)
                x = c1.selectbox("X", nums, key="explore_x")
                y = c2.selectbox("Y", nums, index=1, key="explore_y")
                points = sample_rows(df, SCATTER_POINTS).data
                fig = px.scatter(points, x=x, y=y, color=colour_col, opacity=0.6, render_mode="svg")
                if len(points) < len(df):
                    st.caption(f"{len(points):,} of the sample's points are drawn.")
                st.plotly_chart(safe_figure(fig), width="stretch")
        elif kind == "Bar":
            if not groupable:
                st.info("No column has 2 to 30 distinct values to count.")
            else:
                x = st.selectbox("Count rows by", groupable, key="explore_bar")
                counts = count_rows(df, x, colour_col)
                fig = px.bar(
                    counts,
                    x=x,
                    y="rows",
                    color=colour_col if colour_col and colour_col != x else None,
                )
                st.plotly_chart(safe_figure(fig), width="stretch")
        else:
            if not nums:
                st.info("A box chart needs a number column.")
            else:
                y = st.selectbox("Values", nums, key="explore_box")
                fig = px.box(df, y=y, x=colour_col, color=colour_col, points=False)
                st.plotly_chart(safe_figure(fig), width="stretch")

with matrix:
    method = st.radio(
        "Measure",
        ["Pearson correlation", "Spearman correlation", "Mutual information"],
        horizontal=True,
        key="explore_method",
        help="Pearson: straight-line relationships between numbers. Spearman: any steadily "
        "rising or falling relationship. Mutual information: any relationship, categories "
        "included (0 = none, 1 = one column decides the other).",
    )
    with ui.guarded("computing the matrix"):
        if method == "Mutual information":
            m = mutual_information(df)
            scale, lo = "Blues", 0.0
        else:
            m = correlation(df, "pearson" if method.startswith("Pearson") else "spearman")
            scale, lo = "RdBu", -1.0
        fig = px.imshow(
            m.round(2),
            text_auto=True,
            color_continuous_scale=scale,
            zmin=lo,
            zmax=1.0,
            aspect="auto",
        )
        fig.update_layout(height=120 + 28 * len(m))
        st.plotly_chart(safe_figure(fig), width="stretch")
