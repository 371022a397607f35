"""The catalog's schema as Alembic revisions (``versions/``), applied when a workspace opens.

Each revision is one file in ``versions/`` named ``rNNNN_*.py`` with ``revision = "NNNN"``;
the newest is :data:`HEAD` and the catalog schema number is ``int(HEAD)``
(``automl.workspace.catalog.CATALOG_SCHEMA``). The catalog records the revision it is at in
Alembic's ``alembic_version`` table, and on SQLite also in ``PRAGMA user_version`` (what Easels
before Alembic read, and what a backup's check reads).

On open (:func:`check` inside the catalog's write lock, then :func:`upgrade` when needed in
another locked transaction, on a SQLAlchemy connection, which looks again: two processes opening
one catalog at once upgrade it once):

- a catalog at a revision this Easel does not know, or with a newer ``user_version``, was
  written by a newer Easel and is refused;
- a catalog at :data:`HEAD` is ready; on SQLite the revisions' checks run again, as Easel
  always did on every open (they only look, unless a table or column is missing: a catalog
  edited by hand is repaired);
- anything else (a new catalog, a SQLite catalog written before Alembic, or taken back by an
  older Easel) is upgraded by Alembic from where it is. Alembic is imported only then.

To change the schema: add ``versions/rNNNN_what.py`` with ``down_revision`` the previous head,
raise :data:`HEAD` and add it to :data:`REVISIONS`; ``tests/test_catalog_postgres.py`` checks
that these match the files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl.workspace.db import CatalogConnection, SAConnection

REVISIONS = ("0003", "0004")  # oldest first
HEAD = REVISIONS[-1]
FOLDER = Path(__file__).resolve().parent
_SCRIPTS: list[Any] = []  # Alembic's view of versions/, read once per process


def stamp(db: CatalogConnection, tables: set[str]) -> str | None:
    """The Alembic revision the catalog is at, or None (new, or from before Alembic)."""
    if "alembic_version" not in tables:
        return None
    row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _found(
    db: CatalogConnection, tables: set[str], newer: Callable[[str], Exception]
) -> str | None:
    """The catalog's revision (None: none yet), after refusing one from a newer Easel."""
    found = stamp(db, tables)
    old = db.user_version()
    if old > int(HEAD):
        raise newer(str(old))
    if found is not None and found not in REVISIONS:
        raise newer(found)
    if db.dialect == "sqlite" and old < int(HEAD):
        return None  # written before Alembic, or taken back by an older Easel or by hand
    return found


def check(db: CatalogConnection, newer: Callable[[str], Exception]) -> bool:
    """Whether the catalog is at :data:`HEAD` (see the module's notes); ``newer(found)`` is
    the error for a catalog written by a newer Easel. On SQLite the first revision's checks
    run again when it is, as Easel always did on every open."""
    tables = db.tables()
    if _found(db, tables, newer) != HEAD:
        return False
    if db.dialect == "sqlite":
        from automl.workspace.migrations.versions import r0003_schema3, r0004_process_host

        r0003_schema3.create(db, tables)
        r0004_process_host.create(db)
    return True


def upgrade(db: SAConnection, newer: Callable[[str], Exception]) -> None:
    """Bring the catalog to :data:`HEAD` with Alembic, on ``db``'s locked transaction (looked
    at again first: another process may have done it meanwhile)."""
    tables = db.tables()
    if _found(db, tables, newer) == HEAD:
        return
    if db.dialect == "sqlite" and "alembic_version" in tables:
        db.execute("DELETE FROM alembic_version")  # upgrade from its layout, whatever it says
    _upgrade(db)
    db.set_user_version(int(HEAD))


def _upgrade(db: SAConnection) -> None:
    """Run the revisions after the catalog's own on its open transaction (Alembic's
    ``upgrade head``, without an ``env.py``: the connection is the workspace's)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if not _SCRIPTS:
        _SCRIPTS.append(ScriptDirectory(str(FOLDER)))
    script = _SCRIPTS[0]

    def steps(rev: Any, context: Any) -> Any:
        return script._upgrade_revs("head", rev)

    context = MigrationContext.configure(db.conn, opts={"script": script, "fn": steps})
    with Operations.context(context):
        context.run_migrations()
