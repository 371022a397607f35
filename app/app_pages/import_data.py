"""Import: a file upload, a database table or query, or object storage; check what Easel sees in
it, and save it as a named dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import ui
from app.bootstrap import SAMPLE_FILES, load_samples
from automl.coltypes import COLUMN_TYPES, infer_types
from automl.task import MIN_ROWS
from automl.words import plural, rows_text
from automl.workspace.catalog import fit_name
from automl.workspace.data import (
    SourceData,
    list_sheets,
    list_tables,
    read_source,
    read_upload,
    safe_url,
    save_source,
    stored_upload,
)
from automl.workspace.users import Team
from connectors import SUPPORTED_EXTENSIONS, SourcePolicy

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
PREVIEW_ROWS = 100
# Where this server may read from: anywhere in personal mode, the administrator's policy in team
# mode. Uploads are stored by Easel and always allowed.
POLICY: SourcePolicy = Team(ui.workspace()).source_policy()
S3_KEYS, S3_PUBLIC, S3_SERVER = (
    "Access key and secret key",
    "Public bucket (no keys)",
    "This server's own AWS settings",
)

ws = ui.workspace()
st.title("Import data")


def show_and_save(src: SourceData, default_name: str, key: str) -> None:
    """Preview, detected column types, and the save form shared by every source."""
    df, source = src.data, src.source
    st.success(f"**{ui.md(source)}**: {rows_text(len(df))}, {plural(df.shape[1], 'column')}.")
    if len(df) < MIN_ROWS:
        st.warning(
            f"Only {rows_text(len(df))}: a model needs at least {MIN_ROWS} rows with a value in "
            "the column to predict, to learn from some and check itself on others. You can save "
            "this table, e.g. to join it to another one, but not build a model on it alone."
        )
    if src.note:
        st.info(ui.md(src.note))
    st.dataframe(df.head(PREVIEW_ROWS), width="stretch")
    if len(df) > PREVIEW_ROWS:
        st.caption(f"Showing the first {PREVIEW_ROWS} of {rows_text(len(df))}.")
    types = infer_types(df)
    st.subheader("Columns Easel detected")
    detected = pd.DataFrame(
        {
            "column": c.name,
            "type": c.type,
            "why": c.reason,
            "missing": c.missing,
            "distinct": c.distinct,
        }
        for c in types.values()
    )
    edited = st.data_editor(
        detected,
        hide_index=True,
        width="stretch",
        disabled=["column", "why", "missing", "distinct"],
        column_config={
            "type": st.column_config.SelectboxColumn(
                "type", options=list(COLUMN_TYPES), required=True,
                help="Change a detected type, e.g. numeric codes that are really categories.",
            )
        },
        key=f"{key}_types",
    )  # fmt: skip
    chosen = {
        str(r["column"]): str(r["type"])
        for _, r in edited.iterrows()
        if r["type"] != types[str(r["column"])].type
    }
    st.caption(
        "Identifier and constant columns are kept in the dataset but not used for training; "
        "'excluded' leaves a column out. Types you change are saved with the dataset and used "
        "by every build on it."
    )
    name = st.text_input("Dataset name", value=default_name[:60], key=f"{key}_name")
    if st.button("Save dataset", type="primary", key=f"{key}_save"):
        with ui.guarded("saving the dataset"):
            rec = save_source(ws, src, name, column_types=chosen)
            next_step = (
                "**Prepare** to clean it, **Join** to add columns, or **Build** to train a model."
                if rec.rows >= MIN_ROWS
                else "**Join** it to a larger table to use it in a model."
            )
            st.success(
                f"Saved **{ui.md(rec.name)}** (version {rec.version}, {rows_text(rec.rows)}). "
                f"Next: {next_step}"
            )


tab_file, tab_db, tab_s3, tab_samples = st.tabs(
    ["Upload a file", "Database", "Object storage (S3)", "Sample data"]
)

with tab_file:
    st.write(
        "CSV/TSV, Excel (.xlsx), Parquet or JSON, up to "
        f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB. The file is checked before it is saved."
    )
    upload = st.file_uploader(
        "Data file",
        type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS],
        key="import_upload",
    )
    if upload is not None:
        # Written to this session's folder while it is read (so it does not stay in memory),
        # then deleted, whether it is read or rejected: the rows live on in the preview.
        src = None
        with (
            ui.guarded(f"reading {upload.name}"),
            stored_upload(ws, upload.name, upload.getbuffer(), ui.session_id()) as path,
        ):
            sheets = list_sheets(path)
            sheet = st.selectbox("Sheet", sheets, key="import_sheet") if len(sheets) > 1 else None
            src = read_upload(path, sheet=sheet, max_bytes=MAX_UPLOAD_BYTES)
            default_name = fit_name(path.stem.replace("_", " "), "dataset")
        if src is not None:
            show_and_save(src, default_name, "import")

with tab_db:
    st.write(
        "Any database with a SQLAlchemy URL: `sqlite:///path/to/file.db`, "
        "`postgresql://user@host:5432/database`, MySQL, Redshift, Snowflake, Athena (your "
        "administrator knows which ones this server can reach). Only reading is possible: one "
        "table, or one SELECT query."
    )
    url = st.text_input("Database URL", key="db_url", placeholder="postgresql://analyst@host/db")
    password = st.text_input(
        "Password (if the database needs one)",
        type="password",
        key="db_password",
        help="Kept only for this browser session; never saved or shown.",
    )
    mode = st.radio("Read", ["A table", "A SELECT query"], horizontal=True, key="db_mode")
    table = query = None
    if url:
        if mode == "A table":
            tables: list[str] | None = None
            cache = st.session_state.setdefault("db_tables", {})
            with ui.guarded("listing the tables"):
                if (url, password) not in cache:  # one round trip per URL, not per rerun
                    cache[(url, password)] = list_tables(url, password or None, policy=POLICY)
                tables = cache[(url, password)]
            if tables:
                table = st.selectbox(f"Table ({len(tables)} found)", tables, key="db_table")
            elif tables == []:
                st.info("No tables found in this database.")
        else:
            query = st.text_area("SELECT query", key="db_query", height=120)
    limit = st.number_input(
        "Read at most this many rows (0 = all)", min_value=0, value=0, step=10_000, key="db_limit"
    )
    if url and (table or query) and st.button("Read", key="db_read"):
        with ui.guarded("reading from the database"):
            bar = st.progress(0.0, text="Reading rows...")

            def progress(rows: int) -> None:
                frac = min(rows / limit, 1.0) if limit else 0.5
                bar.progress(frac, text=f"{rows_text(rows)} read")

            src = read_source(
                url,
                table=table,
                query=query,
                limit=int(limit) or None,
                password=password or None,
                policy=POLICY,
                progress=progress,
            )
            wanted = (url, table, query, int(limit))
            st.session_state["db_df"] = (src, table or "query", wanted)
            bar.empty()
    if "db_df" in st.session_state:
        src, default, read_for = st.session_state["db_df"]
        if read_for == (url, table, query, int(limit)):  # only what the inputs still describe
            show_and_save(src, default.split(".")[-1], "db")
    if url:
        st.caption(f"Connecting to {ui.md(safe_url(url))}")

with tab_s3:
    st.write(
        "`s3://bucket/path/file.csv` (or `.parquet`) for one file; `s3://bucket/folder/` for "
        "every file in a folder (same columns). For MinIO and other S3-compatible services, give "
        "the endpoint."
    )
    uri = st.text_input("Address", key="s3_uri", placeholder="s3://bucket/path/data.csv")
    endpoint = st.text_input(
        "Endpoint (optional)", key="s3_endpoint", placeholder="http://host:9000"
    )
    ways = [S3_KEYS, S3_PUBLIC] + ([S3_SERVER] if POLICY.allow_server_credentials else [])
    way = st.radio("Sign in with", ways, horizontal=True, key="s3_way")
    access = secret = ""
    if way == S3_KEYS:
        c1, c2 = st.columns(2)
        access = c1.text_input("Access key", key="s3_access")
        secret = c2.text_input(
            "Secret key", type="password", key="s3_secret", help="Never saved or shown."
        )
    if uri and st.button("Read", key="s3_read"):
        with ui.guarded("reading from object storage"), st.spinner("Reading..."):
            src = read_source(
                uri,
                endpoint_url=endpoint or None,
                access_key=access or None,
                secret_key=secret or None,
                anonymous=way == S3_PUBLIC,
                server_credentials=way == S3_SERVER,
                policy=POLICY,
            )
            st.session_state["s3_df"] = (src, (uri, endpoint))
    if "s3_df" in st.session_state:
        src, read_for = st.session_state["s3_df"]
        if read_for == (uri, endpoint):
            show_and_save(src, Path(uri.rstrip("/")).stem or "dataset", "s3")

with tab_samples:
    st.write(
        "Three realistic sample tables ship with Easel: customer churn (2 category), support "
        "tickets (3+ category), house prices (numeric) and store sales (a time series)."
    )
    if st.button("Add the sample datasets", key="import_samples"):
        with ui.guarded("adding the sample datasets"):
            added = load_samples(ws)
            st.success(
                f"Added: {', '.join(added)}."
                if added
                else f"The sample datasets ({', '.join(SAMPLE_FILES)}) are already here."
            )
