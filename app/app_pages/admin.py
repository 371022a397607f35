"""Admin (team mode, admins only): users and roles, single sign-on's default role, and the
audit log."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import streamlit as st

from app import state, ui
from automl.workspace.jobs import max_builds, set_max_builds
from automl.workspace.users import ROLES, SSO_ROLE_SETTING, Team

ws = ui.workspace()
me = st.session_state.get(state.USER)
if me is None or not me.admin:  # main.py lists this page for admins only; never trust that alone
    st.error("Only an administrator can open this page.")
    st.stop()
team = Team(ws)
st.title("Admin")

st.subheader("Users")
users = team.users()
st.dataframe(
    pd.DataFrame(
        {
            "user": u.name,
            "role": u.role,
            "e-mail": u.email,
            "since": dt.datetime.fromtimestamp(u.created_at).strftime("%Y-%m-%d"),
        }
        for u in users
    ),
    hide_index=True,
    width="stretch",
)
st.caption(
    "Admins manage users and see everyone's work; analysts import, build and predict with their "
    "own work and what is shared with them; viewers only predict with models shared with them."
)

add, change = st.columns(2)
with add, st.form("admin_add_user", clear_on_submit=True):
    st.markdown("**Add a user**")
    new_name = st.text_input("User name", key="admin_new_name")
    new_role = st.selectbox("Role", ROLES, index=1, key="admin_new_role")
    new_pw = st.text_input("Password", type="password", key="admin_new_pw")
    new_email = st.text_input("E-mail (optional, for single sign-on)", key="admin_new_email")
    if st.form_submit_button("Add user"):
        with ui.guarded("adding the user"):
            u = team.add(new_name, new_role, new_pw, email=new_email, by=me.name)
            st.success(f"Added {u.name} ({u.role}).")

with change:
    st.markdown("**Change a user**")
    who = st.selectbox("User", [u.name for u in users], key="admin_user")
    role = st.selectbox(
        "Role",
        ROLES,
        index=ROLES.index(next(u.role for u in users if u.name == who)),
        key=f"admin_role_{who}",
    )
    if st.button("Set role", key="admin_set_role"):
        with ui.guarded("changing the role"):
            team.set_role(who, role, by=me.name)
            st.success(f"{who} is now {role}.")
    pw = st.text_input("New password", type="password", key="admin_reset_pw")
    if st.button("Set password", key="admin_set_pw"):
        with ui.guarded("setting the password"):
            team.set_password(who, pw, by=me.name)
            st.success(f"Password of {who} changed.")
    sure = st.checkbox(f"Yes, remove {who}", key="admin_remove_sure")
    if st.button("Remove user", key="admin_remove", disabled=not sure or who == me.name):
        with ui.guarded("removing the user"):
            team.remove(who, by=me.name)
            st.success(f"Removed {who}. Their datasets and models stay; admins can reach them.")
            st.rerun()

st.subheader("Single sign-on")
current = str(team.setting(SSO_ROLE_SETTING, "viewer"))
sso_role = st.selectbox(
    "Role of a person who signs in with single sign-on for the first time",
    ROLES,
    index=ROLES.index(current),
    key="admin_sso_role",
)
if sso_role != current and st.button("Save", key="admin_sso_save"):
    with ui.guarded("saving the setting"):
        team.set_setting(SSO_ROLE_SETTING, sso_role, by=me.name)
        st.success(f"New single sign-on users start as {sso_role}.")

st.subheader("Builds at once")
limit = max_builds(ws)
new_limit = st.number_input(
    f"Builds that may run at the same time (others wait in the queue; this server has "
    f"{os.cpu_count()} cores, and each build uses two)",
    min_value=1,
    max_value=64,
    value=limit,
    key="admin_max_builds",
)
if new_limit != limit and st.button("Save the build limit", key="admin_max_builds_save"):
    with ui.guarded("saving the build limit"):
        set_max_builds(ws, int(new_limit))
        ws.audit("setting", "max_builds", str(int(new_limit)))
        st.success(f"Up to {int(new_limit)} builds now run at once.")

st.subheader("Where the server may read from")
st.caption(
    "What people may import on the Import page (uploads are always allowed). Leave a list empty "
    "to allow any database host or S3 endpoint; otherwise one host per line, e.g. "
    "db.example.com, db.example.com:5432, *.corp.example.com or 10.0.0.5. IP addresses, "
    "localhost and the cloud's metadata address are refused unless listed exactly."
)
policy = team.source_policy()
with st.form("admin_policy"):
    sql_hosts = st.text_area(
        "Database hosts allowed (empty: any)",
        "\n".join(policy.allowed_sql_hosts or ()),
        key="admin_sql_hosts",
    )
    s3_hosts = st.text_area(
        "S3 endpoints allowed (empty: any; s3.amazonaws.com is Amazon S3 itself)",
        "\n".join(policy.allowed_s3_endpoints or ()),
        key="admin_s3_hosts",
    )
    local = st.checkbox(
        "Allow reading files and SQLite databases on the server's own disk",
        value=policy.allow_local_files,
        key="admin_local_files",
    )
    server_keys = st.checkbox(
        "Allow S3 reads with the server's own AWS credentials",
        value=policy.allow_server_credentials,
        key="admin_server_keys",
    )
    if st.form_submit_button("Save where the server may read from"):
        with ui.guarded("saving the source policy"):
            from connectors.policy import SourcePolicy

            lines = [
                [x.strip() for x in text.splitlines() if x.strip()]
                for text in (sql_hosts, s3_hosts)
            ]
            new = SourcePolicy.from_dict(
                {
                    "allowed_sql_hosts": lines[0] or None,
                    "allowed_s3_endpoints": lines[1] or None,
                    "allow_local_files": local,
                    "allow_server_credentials": server_keys,
                }
            )
            team.set_source_policy(new, by=me.name)
            st.success("Saved. The Import page follows it from now on.")

st.subheader("Audit log")
days = st.number_input("Days to show", min_value=1, max_value=3650, value=7, key="admin_days")
since = dt.datetime.now().timestamp() - days * 86400
log = team.audit_log(since)
if not log:
    st.info("Nothing happened in that time.")
else:
    st.dataframe(
        pd.DataFrame(
            {
                "when": dt.datetime.fromtimestamp(r["at"]).strftime("%Y-%m-%d %H:%M:%S"),
                "user": r["user"],
                "action": r["action"],
                "what": r["target"],
                "details": r["detail"],
                "ok": "yes" if r["ok"] else "no",
            }
            for r in log
        ),
        hide_index=True,
        width="stretch",
    )
