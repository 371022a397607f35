"""Load the bundled sample datasets into an empty workspace (``python -m app.bootstrap``)."""

from __future__ import annotations

import sys
from pathlib import Path

from automl.workspace import Workspace
from automl.workspace.data import read_source, save_source

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_FILES = {
    "customer churn": "customer_churn.csv",
    "support tickets": "support_tickets.csv",
    "house prices": "house_prices.csv",
    "store sales": "store_sales.csv",
}


def load_samples(ws: Workspace) -> list[str]:
    """Import each sample that the workspace does not have yet; returns the names imported."""
    have = {d.name for d in ws.list_datasets()}
    done = []
    for name, file in SAMPLE_FILES.items():
        if name not in have:
            save_source(ws, read_source(SAMPLES / file, label=f"sample file {file}"), name)
            done.append(name)
    return done


def main(argv: list[str]) -> int:
    """``python -m app.bootstrap [ADDRESS]``: refuse to serve other computers in personal mode,
    and load the samples into a personal workspace."""
    from automl.errors import EaselError
    from automl.workspace.users import Team, is_loopback

    address = argv[0] if argv else "127.0.0.1"
    try:
        ws = Workspace()
        team = Team(ws).active()
    except EaselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not team and not is_loopback(address):
        print(
            f"error: refusing to serve on {address}: this workspace has no users, so anyone "
            "reaching that address could see and delete everything. Add an administrator first "
            "(automl users add NAME --role admin --password-env VAR), or use 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    if team:
        print(f"workspace {ws.root}: team mode (sign-in required), serving on {address}")
        return 0
    names = load_samples(ws)
    print(
        f"workspace {ws.root}: "
        + (f"imported {', '.join(names)}" if names else "samples present")
        + f"; personal mode, serving this computer only ({address})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
