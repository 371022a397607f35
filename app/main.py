"""Easel: the entry point (``streamlit run app/main.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # let `streamlit run app/main.py` import app.* from a checkout
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import auth, ui  # noqa: E402

# A local icon file: a Material or emoji page icon is fetched from a font CDN by every browser.
ICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title="Easel", page_icon=str(ICON), layout="wide")
user = auth.gate(st.get_option("server.address"))  # team mode: stops here until signed in
ui.workspace()
ui.session_id()
auth.sidebar(user)

PAGES = Path(__file__).resolve().parent / "app_pages"
# (file, title, icon, url path, what the page needs: a permission of automl.workspace.users)
SPECS = [
    ("home.py", "Home", "home", "", None),
    ("import_data.py", "Import", "upload_file", "import", "import"),
    ("join.py", "Join", "join", "join", "import"),
    ("prepare.py", "Prepare", "cleaning_services", "prepare", "import"),
    ("explore.py", "Explore", "insights", "explore", "import"),
    ("build.py", "Build", "model_training", "build", "build"),
    ("analyze.py", "Analyze", "analytics", "analyze", "build"),
    ("predict.py", "Predict", "online_prediction", "predict", "predict"),
    ("models.py", "Models", "inventory_2", "models", "build"),
    ("automations.py", "Automations", "schedule", "automations", "import"),
    ("admin.py", "Admin", "admin_panel_settings", "admin", "manage_users"),
]


def refused(title: str) -> Callable[[], None]:
    """What a page someone's role does not allow shows instead (hidden from the menu)."""

    def page() -> None:
        st.title(title)
        role = user.role if user is not None else "personal"
        st.warning(
            f"Your role ({role}) does not include the {title} page. Ask an administrator of "
            "this Easel if you need it."
        )

    return page


pages = []
for file, title, icon, path, needs in SPECS:
    allowed = needs is None or (user.can(needs) if user is not None else needs != "manage_users")
    pages.append(
        st.Page(
            PAGES / file if allowed else refused(title),
            title=title,
            icon=f":material/{icon}:",
            url_path=path or None,
            default=not path,
            visibility="visible" if allowed else "hidden",
        )
    )
nav = st.navigation(pages)
nav.run()
