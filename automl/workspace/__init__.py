"""The workspace: datasets, models, uploads and build jobs under one folder, with a catalog.

``catalog`` keeps the records (SQLite), ``data`` is the one data service that the CLI and every
page call to import, clean, prepare and save data, and ``jobs`` runs builds in their own processes.
"""

from __future__ import annotations

from automl.workspace.catalog import DatasetRecord, ModelRecord, Workspace

__all__ = ["DatasetRecord", "ModelRecord", "Workspace"]
