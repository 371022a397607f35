"""Import: upload a file, check what Easel sees in it, save it as a named dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import ui
from automl.coltypes import infer_types
from connectors import SUPPORTED_EXTENSIONS, read_file

MAX_UPLOAD_BYTES = 200 * 1024 * 1024

ws = ui.workspace()
st.title("Import data")
st.write("Upload a CSV/TSV, Excel (.xlsx), Parquet or JSON file. It is checked before it is saved.")

upload = st.file_uploader(
    "Data file",
    type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS],
    key="import_upload",
)
if upload is not None:
    # Write the upload to this session's folder at once, so it does not stay in memory.
    folder = ws.root / "uploads" / ui.session_id()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(upload.name).name
    path.write_bytes(upload.getbuffer())
    st.session_state["import_path"] = str(path)

path_str = st.session_state.get("import_path")
if path_str and upload is not None:
    path = Path(path_str)
    df = None
    with ui.guarded(f"reading {path.name}"):
        df = read_file(path, max_bytes=MAX_UPLOAD_BYTES)
    if df is not None:
        st.success(f"**{path.name}**: {len(df):,} rows, {df.shape[1]} columns.")
        st.dataframe(df.head(100), width="stretch")
        types = infer_types(df)
        st.subheader("Columns Easel detected")
        st.dataframe(
            pd.DataFrame(
                {
                    "column": c.name,
                    "type": c.type,
                    "why": c.reason,
                    "missing": c.missing,
                    "distinct": c.distinct,
                }
                for c in types.values()
            ),
            hide_index=True,
            width="stretch",
        )
        st.caption(
            "Identifier and constant columns are kept in the dataset but not used for training. "
            "You can change a column's type on the Build page."
        )
        default_name = path.stem.replace("_", " ")[:60]
        name = st.text_input("Dataset name", value=default_name, key="import_name")
        if st.button("Save dataset", type="primary", key="import_save"):
            with ui.guarded("saving the dataset"):
                rec = ws.add_dataset(name, df, f"uploaded file {path.name}")
                st.success(
                    f"Saved **{rec.name}** (version {rec.version}, {rec.rows:,} rows). "
                    "Go to **Build** to train a model on it."
                )
