"""``automl automations list | add-score | add-refresh | pause | resume | delete | run-due``.

The command line's ``--user`` check (``automl.cli._workspace``) is passed in, never imported:
the command line sits above this package.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

WorkspaceOf = Callable[[argparse.Namespace, str], Any]


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def add_automation_commands(
    sub: Any, common: argparse.ArgumentParser, workspace: WorkspaceOf
) -> None:
    a = sub.add_parser(
        "automations",
        help="score new dataset versions and refresh datasets without a click",
        description="Automations run when due: 'run-due' runs them (the app starts it every "
        "minute; a cron line can too).",
    )
    asub = a.add_subparsers(dest="automations_command", required=True)

    def cmd_list(args: argparse.Namespace) -> int:
        from automl.automations import AutomationStore

        autos = AutomationStore(workspace(args, "import")).own()
        if not autos:
            print(
                "no automations yet: add one with 'automl automations add-score' or "
                "'automl automations add-refresh'"
            )
            return 0
        for x in autos:
            print(f"{x.id:>4}  {x.what()}")
            print(f"      {x.status()}{'; next run ' + _when(x.next_due) if x.next_due else ''}")
            if x.last_run is not None:
                print(f"      last run {_when(x.last_run)}: {x.last_message}")
        return 0

    def cmd_add_score(args: argparse.Namespace) -> int:
        from automl.automations import add_score

        x = add_score(workspace(args, "import"), args.dataset, args.model, args.out)
        print(f"added automation {x.id}: {x.what()} (from the next version on)")
        return 0

    def cmd_add_refresh(args: argparse.Namespace) -> int:
        from automl.automations import add_refresh

        x = add_refresh(
            workspace(args, "import"),
            args.dataset,
            args.every,
            password_env=args.password_env,
            access_key_env=args.access_key_env,
            secret_key_env=args.secret_key_env,
        )
        print(f"added automation {x.id}: {x.what()}; first run {_when(x.next_due)}")
        return 0

    def paused(value: bool) -> Callable[[argparse.Namespace], int]:
        def cmd(args: argparse.Namespace) -> int:
            from automl.automations import AutomationStore

            x = AutomationStore(workspace(args, "import")).set_paused(args.number, value)
            print(f"automation {x.id} {'paused' if value else 'resumed'}: {x.what()}")
            return 0

        return cmd

    def cmd_delete(args: argparse.Namespace) -> int:
        from automl.automations import AutomationStore

        AutomationStore(workspace(args, "import")).delete(args.number)
        print(f"deleted automation {args.number}")
        return 0

    def cmd_run_due(args: argparse.Namespace) -> int:
        from automl.automations import run_due
        from automl.workspace.catalog import Workspace
        from automl.workspace.users import Team

        ws = Workspace(args.workspace)
        if args.user:
            Team(ws).get(args.user)  # a clear error for an unknown name
        outcomes = run_due(ws, user=args.user)
        for o in outcomes:
            print(f"automation {o.automation}: {'done' if o.ok else 'FAILED'}: {o.message}")
        if not outcomes and not args.quiet:
            print("nothing was due")
        failed = sum(not o.ok for o in outcomes)
        if failed:
            print(f"{failed} automation(s) failed; see 'automl automations list'", file=sys.stderr)
        return 0

    ls = asub.add_parser("list", parents=[common], help="your automations and their last runs")
    ls.set_defaults(func=cmd_list)

    sc = asub.add_parser(
        "add-score",
        parents=[common],
        help="score each new version of a dataset with a model's production version",
    )
    sc.add_argument("dataset", help="the dataset to follow (NAME, or OWNER/NAME if shared)")
    sc.add_argument("--model", required=True, help="the model that scores (NAME or OWNER/NAME)")
    sc.add_argument(
        "--out", required=True, metavar="NAME", help="the dataset the answers are saved to"
    )
    sc.set_defaults(func=cmd_add_score)

    rf = asub.add_parser(
        "add-refresh",
        parents=[common],
        help="read a dataset again from its recorded source every N hours or days",
    )
    rf.add_argument("dataset", help="one of your datasets imported from a database, S3 or a file")
    rf.add_argument("--every", required=True, help="how often: 6h, 12 hours, 1d, 7 days ...")
    rf.add_argument(
        "--password-env",
        default=None,
        metavar="VAR",
        help="the environment variable holding the database password (read when it runs)",
    )
    rf.add_argument("--access-key-env", default=None, metavar="VAR", help="S3 access key variable")
    rf.add_argument("--secret-key-env", default=None, metavar="VAR", help="S3 secret key variable")
    rf.set_defaults(func=cmd_add_refresh)

    for name, value in (("pause", True), ("resume", False)):
        p = asub.add_parser(name, parents=[common], help=f"{name} an automation")
        p.add_argument("number", help="its number in 'automl automations list'")
        p.set_defaults(func=paused(value))

    d = asub.add_parser("delete", parents=[common], help="delete an automation (not its data)")
    d.add_argument("number", help="its number in 'automl automations list'")
    d.set_defaults(func=cmd_delete)

    r = asub.add_parser(
        "run-due",
        parents=[common],
        help="run the automations that are due (every user's, or --user's only); for cron",
    )
    r.add_argument("--quiet", action="store_true", help="print nothing when nothing was due")
    r.set_defaults(func=cmd_run_due)
