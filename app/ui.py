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
from automl.automations import BackgroundRunner, start_background
from automl.errors import EaselError
from automl.model import Model
from automl.workspace.catalog import DatasetRecord, ModelRecord, Workspace
from automl.workspace.data import sweep_session_files
from automl.workspace.jobs import recover_interrupted

log = logging.getLogger("easel.app")

TASK_WORDS = {
    "binary": "2 category",
    "multiclass": "3+ category",
    "regression": "numeric",
    "timeseries": "time series",
}


def workspace() -> Workspace:
    """The workspace as the signed-in user sees it (everything, in personal mode)."""
    if state.WORKSPACE not in st.session_state:
        fresh = Workspace()
        _recover_builds(str(fresh.root))
        _sweep_session_files(str(fresh.root))
        _start_automations(str(fresh.root))
        user = st.session_state.get(state.USER)
        if user is not None:
            fresh = fresh.as_user(user.name, admin=user.admin)
        st.session_state[state.WORKSPACE] = fresh
    ws: Workspace = st.session_state[state.WORKSPACE]
    return ws


def datasets() -> list[DatasetRecord]:
    """The user's own datasets, then those shared with them (named ``OWNER/NAME``)."""
    ws = workspace()
    return ws.list_datasets() + ws.shared_datasets()


def dataset_names() -> list[str]:
    ws = workspace()
    return [ws.key(d) for d in datasets()]


@st.cache_resource(show_spinner=False)
def _recover_builds(root: str) -> list[int]:
    """Once per server start and workspace: builds whose process is gone are "interrupted"."""
    return recover_interrupted(Workspace(root, admin=True))


@st.cache_resource(show_spinner=False)
def _sweep_session_files(root: str) -> int:
    """Once per server start and workspace: delete uploads and scored files sessions left."""
    return len(sweep_session_files(Workspace(root, admin=True)))


@st.cache_resource(show_spinner=False)
def _start_automations(root: str) -> BackgroundRunner | None:
    """Once per server start and workspace: the thread that runs due automations every minute
    ($EASEL_AUTOMATIONS_EVERY seconds; 0 turns it off)."""
    try:
        return start_background(root)
    except EaselError as exc:
        log.error("automations are not run by this server: %s", exc)
        return None


def session_id() -> str:
    if state.SESSION_ID not in st.session_state:
        st.session_state[state.SESSION_ID] = uuid.uuid4().hex[:12]
    return str(st.session_state[state.SESSION_ID])


def _permissions() -> set[str]:
    user = st.session_state.get(state.USER)
    return {"predict", "build", "import", "share"} if user is None else set(user.permissions)


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
    return _read_parquet(str(ws.dataset_file(rec)))


def form_number(value: float) -> float:
    """A typical value for a number field, rounded to 6 significant digits: medians of money
    columns come out as 50.614999999999995, which the field would show digit for digit."""
    return float(f"{float(value):.6g}")


def model_label(name: str, version: int | str, stage: str | None = None) -> str:
    """``NAME (version N)``; a shared model's ``OWNER/NAME`` reads ``NAME (version N, shared
    by OWNER)``; a ``stage`` other than draft is added (``NAME (version N, production)``)."""
    owner, sep, plain = name.partition("/")
    tail = f", {stage}" if stage and stage != "draft" else ""
    if sep:
        return f"{plain} (version {version}, shared by {owner}{tail})"
    return f"{name} (version {version}{tail})"


def pick_model(key: str, production_first: bool = False) -> tuple[ModelRecord, Model] | None:
    """A model chooser shared by pages; returns the catalog record and the loaded model.
    ``production_first``: when the page opens, the choice is the production version of the
    model last used (of the first model), when it has one."""
    ws = workspace()
    models = ws.list_models() + ws.shared_models()
    if not models:
        st.info(
            "No models yet. Build one on the **Build** page."
            if "build" in _permissions()
            else "No model is shared with you yet. Ask an analyst to share one."
        )
        return None
    labels = [f"{ws.key(m)}@{m.version}" for m in models]
    stages = {label: m.stage for label, m in zip(labels, models, strict=True)}
    current = st.session_state.get(state.CURRENT_MODEL)
    index = labels.index(current) if current in labels else 0
    if production_first and key not in st.session_state:  # the page opens: production first
        name = labels[index].rsplit("@", 1)[0]
        prod = ws.production_model(name)
        if prod is not None and f"{name}@{prod.version}" in labels:
            index = labels.index(f"{name}@{prod.version}")

    def label(choice: str) -> str:
        name, version = choice.rsplit("@", 1)
        return model_label(name, version, stages.get(choice))

    pick = st.selectbox("Model", labels, index=index, format_func=label, key=key)
    st.session_state[state.CURRENT_MODEL] = pick
    name, version = pick.rsplit("@", 1)
    rec = ws.get_model(name, int(version))
    with guarded("loading the model"):
        return rec, automl.load(ws.model_dir(rec))
    return None


def share_box(kind: str, names: list[str], key: str) -> None:
    """Share one of the user's datasets or models (every version, read-only) with a user or
    with everyone, or stop sharing it; team mode only."""
    from automl.workspace.catalog import EVERYONE
    from automl.workspace.users import Team

    user = st.session_state.get(state.USER)
    if user is None or not user.can("share") or not names:
        return
    ws = workspace()
    name = st.selectbox(f"Your {kind} (every version)", sorted(set(names)), key=f"{key}_name")
    now = ws.shared_with(kind, name)
    words = ["everyone" if g == EVERYONE else g for g in now]
    st.caption(f"**{name}** is shared with: {', '.join(words) if words else 'nobody'}.")
    others = [u.name for u in Team(ws).users() if u.name != user.name]
    who = st.selectbox("With", ["everyone", *others], key=f"{key}_who")
    grantee = EVERYONE if who == "everyone" else who
    c1, c2 = st.columns(2)
    if c1.button("Share (read-only)", key=f"{key}_share"):
        with guarded(f"sharing the {kind}"):
            ws.share(kind, name, grantee)
            st.success(f"Shared {kind} {name} with {who}: they can use it but not change it.")
    if c2.button("Stop sharing", key=f"{key}_unshare", disabled=grantee not in now):
        with guarded(f"unsharing the {kind}"):
            ws.unshare(kind, name, grantee)
            st.success(f"{kind.capitalize()} {name} is no longer shared with {who}.")
