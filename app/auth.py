"""Who is using the app: personal mode (no sign-in, this computer only) or team mode (sign-in
with a password or single sign-on, and pages by role). The rules live in
:mod:`automl.workspace.users`; this module is the app's door."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from app import state
from automl.errors import EaselError
from automl.workspace.catalog import ENV_VAR, Workspace
from automl.workspace.users import SESSION_SECONDS, SignInError, Team, User, is_loopback

log = logging.getLogger("easel.app")
COOKIE = "easel_session"  # keeps a browser signed in across refreshes (a random token)
TOKEN = "auth_token"  # session-state key: this browser's token
COOKIE_PENDING = "auth_cookie_pending"  # session-state key: the cookie to write ('' clears it)


@st.cache_resource(show_spinner=False)
def _workspace_at(root: str) -> Workspace:
    """One workspace object per server and folder: opening one checks folders, sweeps stale
    temporaries and migrates the catalog, which every rerun of every page need not repeat."""
    return Workspace(root)


def team() -> Team:
    return Team(_workspace_at(str(Path(os.environ.get(ENV_VAR) or "workspace").resolve())))


def current_user() -> User | None:
    user = st.session_state.get(state.USER)
    return user if isinstance(user, User) else None


def sso_configured() -> bool:
    """Whether ``[auth]`` is set in .streamlit/secrets.toml (Streamlit's OpenID Connect)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file, or an unreadable one
        return False


def _signed_in(user: User, token: str | None = None) -> None:
    st.session_state[state.USER] = user
    st.session_state.pop(state.WORKSPACE, None)  # the next ui.workspace() is this user's view
    if token:
        st.session_state[TOKEN] = token


def _remember(t: Team, user: User) -> None:
    """Sign ``user`` in and keep this browser signed in across refreshes (a cookie with a
    random token whose hash is in the catalog, until sign-out or SESSION_SECONDS)."""
    token = t.new_session(user.name)
    _signed_in(user, token)
    st.session_state[COOKIE_PENDING] = token


def write_cookie() -> None:
    """Write (or clear) this browser's sign-in cookie when one is pending. The page's own
    origin sets it from a same-origin component frame: Streamlit has no cookie API."""
    pending = st.session_state.pop(COOKIE_PENDING, None)
    if pending is None or not re.fullmatch(r"[A-Za-z0-9_-]*", pending):
        return
    age = SESSION_SECONDS if pending else 0
    components.html(
        "<script>window.parent.document.cookie = "
        f"'{COOKIE}={pending}; path=/; max-age={age}; SameSite=Strict';</script>",
        height=0,
    )


def sign_out() -> None:
    user = current_user()
    t = team()
    t.end_session(st.session_state.get(TOKEN))
    if user is not None:
        t.ws.audit("sign out", user.name, user=user.name)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[COOKIE_PENDING] = ""  # clear the cookie on the sign-in page
    if sso_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()
    st.rerun()


def _sso_user(t: Team) -> User | None:
    """The user Streamlit's identity provider signed in, mapped by e-mail (or None)."""
    if not sso_configured() or not getattr(st.user, "is_logged_in", False):
        return None
    email = str(st.user.get("email") or "")
    try:
        return t.sso_user(email)
    except EaselError as exc:
        st.error(str(exc))
        return None


def sign_in_form(t: Team) -> None:
    """The sign-in page: user name and password, and single sign-on when configured."""
    st.title("Easel")
    st.subheader("Sign in")
    with st.form("sign_in", clear_on_submit=False):
        name = st.text_input("User name", key="signin_name")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            _remember(t, t.sign_in(name, password))
            st.rerun()
        except SignInError as exc:
            st.error(str(exc))
    if sso_configured():
        st.divider()
        if st.button("Sign in with your organization's account", key="signin_sso"):
            st.login()
    st.caption("Ask an administrator of this Easel if you have no account or forgot your password.")


def gate(address: str | None) -> User | None:
    """Run before any page. Personal mode: the app serves this computer only (refused on any
    other address) and nobody signs in. Team mode: show the sign-in page until someone signs
    in; returns the signed-in user (None in personal mode). Stops the script otherwise."""
    try:
        t = team()
        active = t.active()
    except EaselError as exc:  # e.g. a damaged catalog: say so instead of a traceback
        st.error(str(exc))
        st.stop()
    if not active:
        if not is_loopback(address):
            st.error(
                "This Easel has no users, so it serves only the computer it runs on: anyone "
                "reaching this address could see and delete everything. Add an administrator "
                "(automl users add NAME --role admin --password-env VAR) to turn on sign-in, or "
                "start it on 127.0.0.1."
            )
            st.stop()
        return None
    user = current_user()
    if user is None:  # a refresh: this browser's cookie, if it is still valid
        token = st.context.cookies.get(COOKIE)
        user = t.session_user(token)
        if user is not None:
            _signed_in(user, token)
    if user is None:
        user = _sso_user(t)
        if user is not None:
            _signed_in(user)
    if user is None:
        write_cookie()
        sign_in_form(t)
        st.stop()
    write_cookie()
    try:  # the account may have been removed or its role changed since sign-in
        fresh = t.get(user.name)
    except EaselError:
        for key in list(st.session_state.keys()):
            del st.session_state[key]
        st.rerun()
    if fresh != user:
        _signed_in(fresh)
    return fresh


def sidebar(user: User | None) -> None:
    """Who is signed in, and "Sign out" (team mode); the personal-mode line otherwise."""
    if user is None:
        return
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role})")
        if st.button("Sign out", key="sign_out"):
            sign_out()
