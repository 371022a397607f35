"""Catalog schema 4: the machine a build's or a background service's process runs on
(``jobs.host``, ``services.host``; '' for the ones recorded before, taken as this machine's).

With a catalog shared by several app servers, a process id means something only on its own
machine: a server checks the processes of its own machine, and leaves another machine's builds
and services to the server that started them (it never takes them for vanished, nor marks them
"interrupted" when it restarts).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from automl.workspace.db import CatalogConnection, SAConnection

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def create(db: CatalogConnection) -> None:
    """Add the columns where they are missing."""
    for table in ("jobs", "services"):  # services: made on first use on SQLite
        columns = db.columns(table)  # none: no such table (yet)
        if columns and "host" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN host TEXT NOT NULL DEFAULT ''")


def upgrade() -> None:
    from alembic import op

    create(SAConnection(op.get_bind()))


def downgrade() -> None:  # pragma: no cover - a catalog is never taken back
    raise NotImplementedError("Easel never downgrades a catalog: restore a backup instead.")
