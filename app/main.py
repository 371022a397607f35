"""Easel: the entry point (``streamlit run app/main.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # let `streamlit run app/main.py` import app.* from a checkout
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import ui  # noqa: E402

# A local icon file: a Material or emoji page icon is fetched from a font CDN by every browser.
ICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title="Easel", page_icon=str(ICON), layout="wide")
ui.workspace()
ui.session_id()

PAGES = Path(__file__).resolve().parent / "app_pages"
nav = st.navigation(
    [
        st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
        st.Page(
            PAGES / "import_data.py",
            title="Import",
            icon=":material/upload_file:",
            url_path="import",
        ),
        st.Page(PAGES / "join.py", title="Join", icon=":material/join:"),
        st.Page(PAGES / "prepare.py", title="Prepare", icon=":material/cleaning_services:"),
        st.Page(PAGES / "explore.py", title="Explore", icon=":material/insights:"),
        st.Page(PAGES / "build.py", title="Build", icon=":material/model_training:"),
        st.Page(PAGES / "analyze.py", title="Analyze", icon=":material/analytics:"),
        st.Page(PAGES / "predict.py", title="Predict", icon=":material/online_prediction:"),
        st.Page(PAGES / "models.py", title="Models", icon=":material/inventory_2:"),
    ]
)
nav.run()
