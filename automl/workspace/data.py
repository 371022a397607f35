"""Getting data in: import any source into the workspace catalog, and resolve a DATA argument
(a file path, a database URL, an ``s3://`` URI, or ``dataset:NAME[@VERSION]``) to a DataFrame."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from automl.workspace.catalog import DatasetRecord, Workspace

DATASET_PREFIX = "dataset:"


def import_dataset(
    ws: Workspace,
    source: str | os.PathLike[str],
    name: str,
    **options: Any,
) -> DatasetRecord:
    """Read ``source`` (see :func:`connectors.open_source` for ``options``) and save it as the
    next version of dataset ``name``. The catalog records a description of the source without
    credentials."""
    from connectors import open_source

    conn = open_source(source, **options)
    df = conn.read()
    recorded = {
        k: v
        for k, v in options.items()
        if k in ("table", "query", "sheet", "limit", "endpoint_url") and v is not None
    }
    return ws.add_dataset(
        name,
        df,
        conn.describe(),
        lineage={"kind": "import", "source": conn.describe(), "options": recorded},
    )


def load_data(
    ref: str | os.PathLike[str], ws: Workspace | None = None, **options: Any
) -> pd.DataFrame:
    """The rows behind a DATA argument: ``dataset:NAME[@VERSION]`` from the workspace catalog, or
    any source :func:`connectors.open_source` understands."""
    text = str(ref)
    if text.startswith(DATASET_PREFIX):
        ws = ws or Workspace()
        name, version = ws.resolve_dataset(text[len(DATASET_PREFIX) :])
        return ws.load_dataset(name, version)
    from connectors import open_source

    return open_source(text, **options).read()


def training_input(
    ws: Workspace, name: str, version: int | None = None
) -> tuple[pd.DataFrame, Any, str]:
    """The rows to train on for dataset ``name``, the recipe to train with, and a note.

    A dataset made on the Prepare page (or with a recipe) from another dataset that is still in
    the catalog trains on that raw source with the recipe, so the model takes raw rows and replays
    the preparation itself when it predicts. Otherwise: the dataset as it is, and no recipe.
    """
    from automl.prep.recipe import Recipe

    rec = ws.get_dataset(name, version)
    lineage = rec.lineage or {}
    if lineage.get("kind") == "recipe" and lineage.get("from"):
        src_name, src_version = ws.resolve_dataset(str(lineage["from"]))
        try:
            raw = ws.load_dataset(src_name, src_version)
        except Exception:  # the source was deleted: the prepared rows are all we have
            return (
                ws.load_dataset(rec.name, rec.version),
                None,
                f"the source {lineage['from']} of this prepared dataset is gone, so the model "
                "expects prepared rows",
            )
        recipe = Recipe.from_dict(lineage["recipe"])
        return raw, recipe, f"raw rows of {lineage['from']} with the {len(recipe)}-step recipe"
    return ws.load_dataset(rec.name, rec.version), None, ""
