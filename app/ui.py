"""Small helpers shared by pages: the workspace, error display, plain-language wording."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import streamlit as st

import automl
from app import state
from automl.errors import EaselError
from automl.model import Model
from automl.workspace.catalog import ModelRecord, Workspace

log = logging.getLogger("easel.app")

TASK_WORDS = {
    "binary": "2 category",
    "multiclass": "3+ category",
    "regression": "numeric",
    "timeseries": "time series",
}


def workspace() -> Workspace:
    if state.WORKSPACE not in st.session_state:
        st.session_state[state.WORKSPACE] = Workspace()
    ws: Workspace = st.session_state[state.WORKSPACE]
    return ws


def session_id() -> str:
    if state.SESSION_ID not in st.session_state:
        st.session_state[state.SESSION_ID] = uuid.uuid4().hex[:12]
    return str(st.session_state[state.SESSION_ID])


@contextmanager
def guarded(action: str) -> Iterator[None]:
    """Show an EaselError's message, or a short note for anything else; never a traceback."""
    try:
        yield
    except EaselError as exc:
        st.error(md(str(exc)))  # messages quote the user's names and values
    except Exception:
        log.exception("unexpected error while %s", action)
        st.error(
            f"Something went wrong while {md(action)}. The details were written to the server "
            "log; please try again, and report the problem if it persists."
        )


_MD_SPECIAL = re.compile(r"([\\`*{}\[\]<>!|~$:&#]|_(?![^\W_])|(?<![^\W_])_)")  # not snake_case
_MD_LIST_START = re.compile(r"^(\s*\d*)([-+.)])")  # "- x", "+ x", "1. x" start a list
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def md(text: object, bold: bool = False) -> str:
    """Text from a user or their data (a column, dataset or model name, a value, a message that
    quotes them) made safe for everything Streamlit renders as Markdown: st.markdown, st.error and
    the other alerts, captions, labels, metric labels. Every Markdown and HTML sign is escaped,
    so ``![x](http://host/a.png)`` shows as typed and is never fetched, linked or styled.
    ``bold=True`` keeps the ``**bold**`` of a line written by Easel (report summaries)."""
    if bold:
        return "**".join(md(part) for part in str(text).split("**"))
    out = _MD_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", str(text)))
    out = _MD_LIST_START.sub(r"\1\\\2", out)
    # A web address in plain text becomes a link after the escapes are read: an invisible
    # zero-width space after "http:" or "www" keeps it text.
    return re.sub(r"(?i)(https?\\:|\bwww(?=\.))", "\\1\u200b", out)


@st.cache_resource(max_entries=4, show_spinner=False)
def _read_parquet(path: str) -> pd.DataFrame:
    return pd.read_parquet(path)


def load_dataset(name: str, version: int | None = None) -> pd.DataFrame:
    """A catalog dataset, read once per version and shared by reruns and pages (each version is
    its own immutable file, so the cache can never be stale). Pages must not modify it."""
    ws = workspace()
    rec = ws.get_dataset(name, version)
    return _read_parquet(str(ws.root / rec.path))


def form_number(value: float) -> float:
    """A typical value for a number field, rounded to 6 significant digits: medians of money
    columns come out as 50.614999999999995, which the field would show digit for digit."""
    return float(f"{float(value):.6g}")


def model_label(name: str, version: int | str) -> str:
    return f"{name} (version {version})"


def pick_model(key: str) -> tuple[ModelRecord, Model] | None:
    """A model chooser shared by pages; returns the catalog record and the loaded model."""
    ws = workspace()
    models = ws.list_models()
    if not models:
        st.info("No models yet. Build one on the **Build** page.")
        return None
    labels = [f"{m.name}@{m.version}" for m in models]
    current = st.session_state.get(state.CURRENT_MODEL)
    pick = st.selectbox(
        "Model",
        labels,
        index=labels.index(current) if current in labels else 0,
        format_func=lambda s: model_label(*s.rsplit("@", 1)),
        key=key,
    )
    st.session_state[state.CURRENT_MODEL] = pick
    name, version = pick.rsplit("@", 1)
    rec = ws.get_model(name, int(version))
    with guarded("loading the model"):
        return rec, automl.load(ws.model_dir(rec))
    return None
