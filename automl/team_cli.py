"""The team commands of the ``automl`` command line: ``users``, ``share``, ``unshare``, ``audit``.

They act on the workspace directly, like an administrator at the server's console: whoever can
run them can read the workspace folder anyway. Passwords are read from an environment variable
(``--password-env VAR``), never from the command line, where other users of the machine could
see them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import datetime
from typing import Any

from automl.errors import ParameterError

EVERYONE_WORDS = ("everyone", "*", "all")


def _team(args: argparse.Namespace) -> Any:
    from automl.workspace.catalog import Workspace
    from automl.workspace.users import Team

    return Team(Workspace(args.workspace))


def user_workspace(args: argparse.Namespace, need: str = "predict") -> Any:
    """The workspace as seen by ``--user`` (required once the workspace has users), checked
    for the permission ``need`` (see :data:`automl.workspace.users.PERMISSIONS`)."""
    from automl.workspace.catalog import Workspace
    from automl.workspace.users import Team

    ws = Workspace(getattr(args, "workspace", None))
    team = Team(ws)
    name = getattr(args, "user", None)
    if not name:
        if team.active():
            raise ParameterError(
                "This workspace has users (team mode): say whose work this is with --user NAME."
            )
        return ws
    user = team.get(name)
    if not user.can(need):
        raise ParameterError(
            f"{user.name} is a {user.role}, who may not {NEEDS.get(need, need)}. An admin can "
            f"change the role: automl users role {user.name} analyst."
        )
    return team.workspace(user)


def workspace_model(args: argparse.Namespace, need: str = "predict") -> Any:
    """The workspace (as ``--user``, checked for ``need``) and the catalog record of a MODEL
    argument ``model:NAME[:VERSION]`` (NAME alone: the production version, else the newest:
    ``Workspace.chosen_model``, as the service and automations choose); None for a model
    folder. Says on stderr which version it is."""
    from automl.workspace.catalog import model_reference

    ref = model_reference(args.model)
    if ref is None:
        return None
    ws = user_workspace(args, need)
    rec = ws.chosen_model(*ref)
    if ref[1] is not None:
        which = "the version asked for"
    elif rec.stage == "production":
        which = "its production version"
    else:
        which = "its newest version: none is in production"
    if not getattr(args, "quiet", False):
        print(f"using model {ws.key(rec)} version {rec.version} ({which})", file=sys.stderr)
    return ws, rec


def model_folder(args: argparse.Namespace, need: str = "predict") -> str:
    """A MODEL argument as a folder: the folder given, or a workspace model's (see
    :func:`workspace_model`)."""
    found = workspace_model(args, need)
    return args.model if found is None else str(found[0].model_dir(found[1]))


MODEL_HELP = (
    "a model folder, or model:NAME[:VERSION] from the workspace (NAME alone: its production "
    "version, else its newest)"
)
NEEDS = {
    "import": "import or change data",
    "build": "build models or change their stages",
    "predict": "predict",
}


def _password(var: str | None) -> str:
    if not var:
        raise ParameterError(
            "Give the password in an environment variable and its name with --password-env VAR "
            "(e.g. read -s PW && export PW, then --password-env PW)."
        )
    value = os.environ.get(var)
    if value is None:
        raise ParameterError(f"The environment variable {var} is not set: export it first.")
    return value


def cmd_users_add(args: argparse.Namespace) -> int:
    team = _team(args)
    first = not team.active()
    user = team.add(args.name, args.role, _password(args.password_env), email=args.email or "")
    print(f"added {user.name} ({user.role})")
    if first:
        print(
            "the workspace is now in team mode: every page asks for a sign-in, and what was "
            f"made before belongs to {user.name}"
        )
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    users = _team(args).users()
    if not users:
        print("no users: the workspace is in personal mode (no sign-in, local use only)")
        return 0
    width = max(len(u.name) for u in users)
    for u in users:
        since = time.strftime("%Y-%m-%d", time.localtime(u.created_at))
        email = f"  {u.email}" if u.email else ""
        print(f"{u.name:<{width}}  {u.role:<8} since {since}{email}")
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    _team(args).remove(args.name)
    print(f"removed {args.name}: their datasets and models stay, reachable by admins")
    return 0


def cmd_users_passwd(args: argparse.Namespace) -> int:
    _team(args).set_password(args.name, _password(args.password_env))
    print(f"password of {args.name} changed")
    return 0


def cmd_users_role(args: argparse.Namespace) -> int:
    _team(args).set_role(args.name, args.role)
    print(f"{args.name} is now {args.role}")
    return 0


def _owner_workspace(args: argparse.Namespace) -> Any:
    team = _team(args)
    if not team.active():
        raise ParameterError(
            "Sharing needs users: the workspace is in personal mode. Add users first "
            "(automl users add NAME --role admin --password-env VAR)."
        )
    if not args.user:
        raise ParameterError("Say whose dataset or model you share with --user NAME.")
    user = team.get(args.user)
    if not user.can("share"):
        raise ParameterError(f"{user.name} is a {user.role}, who may not share.")
    return team.workspace(user)


def _grantee(text: str) -> str:
    from automl.workspace.catalog import EVERYONE

    return EVERYONE if text.strip().lower() in EVERYONE_WORDS else text.strip()


def cmd_share(args: argparse.Namespace) -> int:
    ws = _owner_workspace(args)
    ws.share(args.kind, args.name, _grantee(args.with_))
    print(f"{args.kind} {args.name} of {ws.user} is shared read-only with {args.with_}")
    return 0


def cmd_unshare(args: argparse.Namespace) -> int:
    ws = _owner_workspace(args)
    ws.unshare(args.kind, args.name, _grantee(args.with_))
    print(f"{args.kind} {args.name} of {ws.user} is no longer shared with {args.with_}")
    return 0


def parse_since(text: str) -> float:
    """``7d``, ``12h``, ``30m`` ago, or a date / date and time (``2026-12-01``,
    ``2026-12-01T09:30``) in local time -> a Unix time."""
    text = text.strip()
    m = re.fullmatch(r"(\d{1,6})\s*([dhm])", text)
    if m:
        return time.time() - int(m[1]) * {"d": 86400, "h": 3600, "m": 60}[m[2]]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ParameterError(
            f"--since {text!r} is not a time: use e.g. 7d, 12h, 30m, 2026-12-01 or "
            "2026-12-01T09:30."
        ) from None


def cmd_audit(args: argparse.Namespace) -> int:
    since = parse_since(args.since) if args.since else None
    rows = _team(args).audit_log(since, limit=args.limit)
    if not rows:
        print("no audit lines" + (" since then" if since else ""))
        return 0
    for r in reversed(rows):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["at"]))
        mark = "" if r["ok"] else "  FAILED"
        who = r["user"] or "(personal mode)"
        detail = f"  {r['detail']}" if r["detail"] else ""
        print(f"{when}  {who:<16} {r['action']:<14} {r['target']}{detail}{mark}")
    return 0


def add_team_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    from automl.workspace.users import ROLES

    us = sub.add_parser("users", help="manage the users of a team workspace")
    usub = us.add_subparsers(dest="users_command", required=True)
    ua = usub.add_parser("add", parents=[common], help="add a user (the first one: an admin)")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=ROLES)
    ua.add_argument("--password-env", required=True, metavar="VAR", help="read it from $VAR")
    ua.add_argument("--email", default=None, help="e-mail, to match single sign-on")
    ua.set_defaults(func=cmd_users_add)
    ul = usub.add_parser("list", parents=[common], help="every user and role")
    ul.set_defaults(func=cmd_users_list)
    ur = usub.add_parser("remove", parents=[common], help="remove a user (their work stays)")
    ur.add_argument("name")
    ur.set_defaults(func=cmd_users_remove)
    up = usub.add_parser("passwd", parents=[common], help="set a user's password")
    up.add_argument("name")
    up.add_argument("--password-env", required=True, metavar="VAR", help="read it from $VAR")
    up.set_defaults(func=cmd_users_passwd)
    uo = usub.add_parser("role", parents=[common], help="change a user's role")
    uo.add_argument("name")
    uo.add_argument("role", choices=ROLES)
    uo.set_defaults(func=cmd_users_role)

    for verb, func, word in (("share", cmd_share, "with"), ("unshare", cmd_unshare, "from")):
        sh = sub.add_parser(
            verb,
            parents=[common],
            help=f"{'share' if verb == 'share' else 'stop sharing'} a dataset or model (read-only)",
        )
        sh.add_argument("kind", choices=("dataset", "model"))
        sh.add_argument("name", help="your dataset's or model's name (every version)")
        sh.add_argument(
            "--with", dest="with_", required=True, metavar="USER",
            help=f"the user to share {word}, or 'everyone'",
        )  # fmt: skip
        sh.set_defaults(func=func)

    au = sub.add_parser("audit", parents=[common], help="the audit log: who did what, when")
    au.add_argument("--since", default=None, help="e.g. 7d, 12h, 2026-12-01 (default: all)")
    au.add_argument("--limit", type=int, default=1000, help="at most this many lines")
    au.set_defaults(func=cmd_audit)
