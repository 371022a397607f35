"""Easel: the entry point (``streamlit run app/main.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # let `streamlit run app/main.py` import app.* from a checkout
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import auth, ui  # noqa: E402

st.set_page_config(page_title="Easel", page_icon=":material/palette:", layout="wide")
user = auth.gate(st.get_option("server.address"))  # team mode: stops here until signed in
ui.workspace()
ui.session_id()
auth.sidebar(user)

PAGES = Path(__file__).resolve().parent / "app_pages"
HOME = st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True)
PREDICT = st.Page(PAGES / "predict.py", title="Predict", icon=":material/online_prediction:")
if user is not None and user.role == "viewer":  # predicts with what is shared, nothing else
    pages = [HOME, PREDICT]
else:
    pages = [
        HOME,
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
        PREDICT,
        st.Page(PAGES / "models.py", title="Models", icon=":material/inventory_2:"),
    ]
if user is not None and user.admin:
    pages.append(st.Page(PAGES / "admin.py", title="Admin", icon=":material/admin_panel_settings:"))
nav = st.navigation(pages)
nav.run()
