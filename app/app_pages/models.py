"""Models: every model and version, side-by-side comparison, rename, delete, export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

import automl
from app import state, ui
from app.tables import show_table
from automl.artifact import ModelMeta, read_meta
from automl.errors import EaselError

ws = ui.workspace()
st.title("Models")
models = ws.list_models()
shared = ws.shared_models()
if shared:
    st.subheader("Shared with you")
    show_table(
        pd.DataFrame(
            {
                "name": m.name,
                "version": m.version,
                "shared by": m.owner,
                "predicts": m.target,
                "problem": ui.TASK_WORDS.get(m.task, m.task),
                "hold-out score": None if m.score is None else round(float(m.score), 4),
            }
            for m in shared
        ),
        what="models",
        hide_index=True,
        width="stretch",
    )
    st.caption("Use them on **Analyze** and **Predict**; only their owner can change them.")
if not models:
    st.info("No models of yours yet. Pick a dataset and a column to predict on the **Build** page.")
    st.stop()


def _meta(folder: Path) -> ModelMeta | None:
    """A model's metadata; None for a damaged or newer one (it still gets a row, to delete)."""
    try:
        return read_meta(folder)
    except EaselError:
        return None


rows = []
for m in models:
    meta = _meta(ws.model_dir(m))
    rows.append(
        {
            "model": f"{m.name}@{m.version}",
            "name": m.name,
            "version": m.version,
            "dataset": m.dataset,
            "target": m.target,
            "problem": ui.TASK_WORDS.get(m.task, m.task),
            "metric": m.metric,
            "hold-out score": None if m.score is None else round(float(m.score), 4),
            "build seconds": meta.fit_seconds if meta else None,
            "training rows": meta.rows.with_target if meta else None,
            "candidates tried": len(meta.leaderboard) if meta else 0,
            "built": dt.datetime.fromtimestamp(m.created_at).strftime("%Y-%m-%d %H:%M"),
        }
    )
table = pd.DataFrame(rows)
show_table(table.drop(columns=["model"]), what="models", hide_index=True, width="stretch")

st.subheader("Compare")
picked = st.multiselect(
    "Models to compare side by side",
    table["model"].tolist(),
    default=table["model"].tolist()[:2],
    key="models_compare",
)
if picked:
    chosen = [ws.get_model(p.rsplit("@", 1)[0], int(p.rsplit("@", 1)[1])) for p in picked]
    side: dict[str, dict[str, object]] = {}
    for rec in chosen:
        with ui.guarded(f"loading {rec.name}"):
            loaded = automl.load(ws.model_dir(rec))
            col: dict[str, object] = {
                "dataset": rec.dataset,
                "target": loaded.target,
                "problem": ui.TASK_WORDS.get(loaded.task, loaded.task),
                "metric optimized": loaded.metric,
                "predictor": loaded.candidate_name(),
                "build seconds": loaded.meta.fit_seconds,
                "training rows": loaded.rows.with_target,
                "columns used": sum(
                    c.type not in ("identifier", "constant", "excluded")
                    for c in loaded.meta.columns
                ),
                "preparation recipe steps": len(loaded.recipe) if loaded.recipe is not None else 0,
            }
            col.update({f"hold-out {k}": round(v, 4) for k, v in loaded.metrics.items()})
            side[f"{rec.name}@{rec.version}"] = col
    show_table(pd.DataFrame(side).astype(str), width="stretch")

st.subheader("Manage")
target = st.selectbox("Model", table["model"].tolist(), key="models_manage")
name, version = target.rsplit("@", 1)
c1, c2, c3 = st.columns(3)
with c1:
    new_name = st.text_input("New name (all versions)", value=name, key="models_new_name")
    if st.button("Rename", key="models_rename"):
        with ui.guarded("renaming the model"):
            n = ws.rename_model(name, new_name)
            st.success(f"Renamed {n} version(s) to **{new_name}**.")
            st.rerun()
with c2, ui.guarded("preparing the export"):
    st.download_button(
        "Export (zip)",
        data=ws.export_model(name, int(version)),
        file_name=f"{name}-v{version}.zip",
        mime="application/zip",
        key="models_export",
        help="The model folder: easel_model.json plus LightGBM text models or linear "
        "coefficients as JSON. Load it with automl.load() after unzipping.",
    )
with c3:
    sure = st.checkbox(f"Yes, delete {target}", key="models_sure")
    if st.button("Delete", key="models_delete", disabled=not sure):
        with ui.guarded("deleting the model"):
            ws.delete_model(name, int(version))
            st.success(f"Deleted {target}.")
            st.rerun()

if st.session_state.get(state.USER) is not None:
    st.subheader("Share")
    ui.share_box("model", [m.name for m in models], key="models_sharing")
