"""Load the bundled sample datasets into an empty workspace (``python -m app.bootstrap``)."""

from __future__ import annotations

from pathlib import Path

from automl.workspace.catalog import Workspace
from connectors import read_file

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
            ws.add_dataset(name, read_file(SAMPLES / file), f"sample file {file}")
            done.append(name)
    return done


if __name__ == "__main__":
    ws = Workspace()
    names = load_samples(ws)
    print(
        f"workspace {ws.root}: " + (f"imported {', '.join(names)}" if names else "samples present")
    )
