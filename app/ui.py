"""Small helpers shared by pages: the workspace, error display, plain-language wording."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from app import state
from automl.errors import EaselError
from automl.workspace import Workspace

log = logging.getLogger("easel.app")

TASK_WORDS = {
    "binary": "2 category",
    "multiclass": "3+ category",
    "regression": "numeric",
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
        st.error(str(exc))
    except Exception:
        log.exception("unexpected error while %s", action)
        st.error(
            f"Something went wrong while {action}. The details were written to the server log; "
            "please try again, and report the problem if it persists."
        )


def model_label(name: str, version: int) -> str:
    return f"{name} (version {version})"
