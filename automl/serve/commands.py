"""``automl serve`` (the prediction service) and ``automl keys`` (its API keys in team mode).

Like the team commands, ``automl keys`` acts on the workspace directly, as an administrator at
the server's console: whoever can run it can read the workspace folder anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
import time
from typing import Any

from automl.errors import ParameterError

PERSONAL_HOST_REFUSED = (
    "Refusing to serve on {host}: this workspace has no users, so anyone reaching that address "
    "could use its models without a key. Add an administrator first (automl users add NAME "
    "--role admin --password-env VAR) and give keys to people (automl keys create --user NAME), "
    "or serve on 127.0.0.1."
)


def _team(args: argparse.Namespace) -> Any:
    from automl.workspace.catalog import Workspace
    from automl.workspace.users import Team

    return Team(Workspace(args.workspace))


def serving_view(team: Any, user_name: str | None, host: str) -> tuple[Any, Any]:
    """(the workspace as the serving user sees it, the team or None in personal mode), after
    the rules of who may serve where."""
    from automl.workspace.users import is_loopback

    if not team.active():
        if user_name:
            team.get(user_name)  # "There is no user named ..."
        if not is_loopback(host):
            raise ParameterError(PERSONAL_HOST_REFUSED.format(host=host))
        return team.ws, None
    if not user_name:
        raise ParameterError(
            "This workspace has users (team mode): say whose models are served with --user NAME "
            "(model:NAME is that user's model; callers need their own API keys)."
        )
    user = team.get(user_name)
    if not user.can("predict"):
        raise ParameterError(f"{user.name} is a {user.role}, who may not predict.")
    return team.workspace(user), team


def bind(host: str, port: int) -> socket.socket:
    """A listening socket for the service on ``host``:``port``, or a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections
    # of sockets that say they are TCP; without it every answer waited ~40 ms for the client's
    # delayed acknowledgement (measured with benchmarks/serving.py: 45 ms for /health, 0.8 with)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == 98:  # EADDRINUSE
            raise ParameterError(
                f"Port {port} on {host} is already in use. Choose another with --port."
            ) from None
        raise ParameterError(
            f"Cannot listen on {host} port {port} ({exc.strerror or exc}). Check --host and --port."
        ) from None
    sock.set_inheritable(True)
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    from automl.serve.served import ServedModel
    from automl.serve.service import ServiceSettings, create_app

    if not 1 <= args.port <= 65535:
        raise ParameterError(f"--port must be a port number from 1 to 65535. Got {args.port}.")
    if args.max_rows < 1:
        raise ParameterError(f"--max-rows must be at least 1. Got {args.max_rows}.")
    if not 0 < args.max_body_mb <= 4096:
        raise ParameterError(f"--max-body-mb must be from 0 to 4096. Got {args.max_body_mb:g}.")
    workspace_team = _team(args)
    view, team = serving_view(workspace_team, args.user, args.host)
    served = ServedModel(args.model, view)
    settings = ServiceSettings(
        max_rows=args.max_rows,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        team=team,
        personal=workspace_team if team is None else None,
    )
    app = create_app(served, settings)
    sock = bind(args.host, args.port)
    settle(served)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"serving {served.current.label} on http://{shown}:{args.port} "
        f"({'API keys required' if team else 'personal mode: this computer only, no key'}); "
        "the API is described at /docs",
        file=sys.stderr,
        flush=True,
    )
    run(app, sock, quiet=args.quiet)
    return 0


def settle(served: Any) -> None:
    """Before the first request: score the model's example row once (the first scoring loads
    what it needs), then set every object made so far aside from the garbage collector
    (``gc.freeze``): its full passes, which a batch of thousands of rows sets off, no longer
    walk the model and the libraries (measured: a 10,000-row request took up to 2 times its
    median without it, at most 1.1 times with it)."""
    import gc

    from automl.serve import rows as rows_mod

    model = served.current.model
    cols = rows_mod.columns(model)
    with contextlib.suppress(Exception):  # a row the model refuses is the caller's to see
        frame = rows_mod.read_rows({"rows": [rows_mod.example_row(cols)]}, cols, 1)
        rows_mod.answer(model, frame)
    gc.collect()
    gc.freeze()


def run(app: Any, sock: socket.socket, quiet: bool = False) -> None:
    """Serve ``app`` on the bound socket until interrupted (uvicorn, one process)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = uvicorn.Config(
        app,
        log_level="warning" if quiet else "info",
        access_log=not quiet,
        server_header=False,
        limit_concurrency=1000,  # connections beyond this get 503 instead of piling up
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def cmd_keys_create(args: argparse.Namespace) -> int:
    from automl.serve.keys import create_key

    if not args.user:
        raise ParameterError("Say whose key this is with --user NAME.")
    rec, key = create_key(_team(args), args.user)
    print(key)
    print(
        f"API key {rec.id} of {rec.user}: copy it now, it is not shown again. Send it as the "
        "header 'Authorization: Bearer KEY'; revoke it with automl keys revoke "
        f"{rec.id}.",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from automl.serve.keys import PREFIX, list_keys

    keys = list_keys(_team(args), args.user)
    if not keys:
        print("no API keys" + (f" of {args.user}" if args.user else ""))
        return 0
    width = max(len(k.user) for k in keys)
    for k in keys:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created_at))
        state = (
            "active"
            if k.revoked_at is None
            else f"revoked {time.strftime('%Y-%m-%d %H:%M', time.localtime(k.revoked_at))}"
        )
        print(f"{k.id:>4}  {k.user:<{width}}  {PREFIX}_{k.lookup}_...  made {made}  {state}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from automl.serve.keys import revoke_key

    rec = revoke_key(_team(args), args.id)
    print(f"API key {rec.id} of {rec.user} is revoked: services refuse it within seconds")
    return 0


def add_serve_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    from automl.serve import DEFAULT_MAX_BODY_MB, DEFAULT_MAX_ROWS

    s = sub.add_parser(
        "serve",
        parents=[common],
        help="answer predictions over HTTP (REST API with its documentation at /docs)",
    )
    s.add_argument(
        "model",
        help="a model folder, or model:NAME for the production version of a workspace model "
        "(the newest while none is promoted; a newly promoted version is served without restart)",
    )
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only; another address "
        "needs team mode)",
    )
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--max-rows",
        type=int,
        default=DEFAULT_MAX_ROWS,
        help=f"most rows per request (default {DEFAULT_MAX_ROWS:,})",
    )
    s.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_MB,
        help=f"largest request body in MB (default {DEFAULT_MAX_BODY_MB})",
    )
    s.add_argument("--quiet", action="store_true", help="no log line per request")
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser("keys", help="API keys of the prediction service (team mode)")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", parents=[common], help="make a key for --user (shown once)")
    kc.set_defaults(func=cmd_keys_create)
    kl = ksub.add_parser("list", parents=[common], help="the keys (of --user, or everyone's)")
    kl.set_defaults(func=cmd_keys_list)
    kr = ksub.add_parser("revoke", parents=[common], help="stop a key from working")
    kr.add_argument("id", type=int, help="the key's number, from automl keys list")
    kr.set_defaults(func=cmd_keys_revoke)
