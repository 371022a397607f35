"""The catalog's Alembic revisions, one file each (see ``automl.workspace.migrations``)."""
