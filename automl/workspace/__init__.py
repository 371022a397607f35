"""The workspace: datasets, models, uploads and build jobs under one folder, with a catalog.

``catalog`` keeps the records (SQLite); ``data`` (with ``sources``) is the one data service that
the CLI and every page call to import, join, clean, prepare and save data and to get a build's
training input; ``lineage`` names how each dataset version was made; ``jobs`` is the build queue
(the build itself runs in :mod:`automl.builds`, in its own process); ``backup`` writes a workspace
to one archive and restores it; ``automations`` keeps the automations, their leases and runs
(they run in :mod:`automl.automations`).
"""

from __future__ import annotations

from automl.workspace.catalog import DatasetRecord, ModelRecord, Workspace

__all__ = ["DatasetRecord", "ModelRecord", "Workspace"]
