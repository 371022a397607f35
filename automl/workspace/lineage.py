"""The history vocabulary: how each dataset version was made (its *lineage*), in one place.

Every dataset version in the catalog carries a lineage, a small JSON object whose ``kind`` is one
of the names below. The data service (:mod:`automl.workspace.data`) writes them, for the CLI and
every page alike; :func:`automl.workspace.data.training_input` reads them to decide what a build
trains on.

``import`` (:data:`IMPORT`)
    Rows read from a source (a file, an upload, a database table or query, object storage, a
    bundled sample). Fields: ``source`` (described without credentials), ``options`` (table,
    query, sheet, limit, endpoint without its user part; never a password or key),
    ``column_types`` (types the user chose on the Import page; builds use them), ``location``
    (where to read the rows again: a file's full path, a database URL with its password masked,
    an ``s3://`` URI; missing for uploads and for versions imported before it was recorded; a
    scheduled refresh re-reads it). Training: the stored rows as they are.
``join`` (:data:`JOIN`)
    Two catalog datasets joined on key columns. Fields: ``left``, ``right`` (``NAME@VERSION``),
    ``left_on``, ``right_on``, ``how``. Training: the stored rows as they are (a join combines
    tables; it is not something a model can replay on one new row).
``recipe`` (:data:`RECIPE`)
    A prepared version: a recipe of steps (cleaning fixes, transforms) applied to the source
    dataset ``from`` (``NAME@VERSION``); the stored rows are the recipe's output. Fields:
    ``from``, ``recipe`` (the recipe as JSON), ``changes`` (one line per cleaning fix, when the
    recipe came from auto-clean). Made by the Prepare page and by ``automl clean --auto``.
    Training: the *raw* rows of ``from`` with the recipe, so the model learns the recipe, keeps
    its column steps and takes raw rows when it predicts. If the source has been deleted, the
    stored (prepared) rows with no recipe, and the model expects prepared rows.
``scored`` (:data:`SCORED`)
    Predictions saved by a "score new versions" automation (:mod:`automl.automations`): the
    rows of dataset version ``from`` (``NAME@VERSION``) with the answers of model version
    ``model`` (``NAME@VERSION``), as ``automl predict`` writes them. Training: the stored rows.
``clean`` (:data:`LEGACY_CLEAN`, read only)
    Written by ``automl clean`` before cleaning was recorded as a recipe: cleaned rows, with the
    cleaning recipe and ``from`` recorded alongside. Never written any more. Training upgrades
    it: it is read exactly like ``recipe`` (the recorded fixes replayed on the raw rows of
    ``from``; the replay gives the same rows that were stored), and like ``recipe`` it falls back
    to the stored rows when the source or the recipe is missing.

A version with no lineage (``{}``, from catalogs older than lineage) is read like ``import``.
"""

from __future__ import annotations

import json
from typing import Any

IMPORT = "import"
JOIN = "join"
RECIPE = "recipe"
LEGACY_CLEAN = "clean"
SCORED = "scored"

KINDS: dict[str, str] = {
    IMPORT: "rows read from a source; trained on as they are",
    JOIN: "two datasets joined on key columns; trained on as they are",
    RECIPE: "a recipe over another dataset; trained on that dataset's raw rows with the recipe",
    SCORED: "a dataset version scored by a model version; trained on as they are",
    LEGACY_CLEAN: "cleaned rows from an older Easel; trained like a recipe when one is recorded",
}
REPLAYED = (RECIPE, LEGACY_CLEAN)  # kinds whose recipe a build replays on the source's raw rows


def import_lineage(
    source: str,
    options: dict[str, Any] | None = None,
    column_types: dict[str, str] | None = None,
    location: str = "",
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": IMPORT,
        "source": source,
        "options": dict(options or {}),
        "column_types": dict(column_types or {}),
    }
    if location:
        out["location"] = location
    return out


def scored_lineage(source: str, model: str, automation: int) -> dict[str, Any]:
    """Predictions of model version ``model`` for dataset version ``source`` (both
    ``NAME@VERSION``), saved by automation number ``automation``."""
    return {"kind": SCORED, "from": source, "model": model, "automation": automation}


def join_lineage(left: str, right: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": JOIN, "left": left, "right": right, **spec}


def recipe_lineage(
    source: str, recipe: dict[str, Any], changes: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": RECIPE, "from": source, "recipe": recipe}
    if changes:
        out["changes"] = list(changes)
    return out


def kind_of(lineage: dict[str, Any] | None) -> str:
    """The lineage's kind; ``import`` for versions recorded before lineage existed."""
    return str((lineage or {}).get("kind") or IMPORT)


def replays(lineage: dict[str, Any] | None) -> bool:
    """True when a build trains on the source's raw rows with the recorded recipe."""
    lin = lineage or {}
    return kind_of(lin) in REPLAYED and bool(lin.get("from")) and bool(lin.get("recipe"))


def describe(lineage: dict[str, Any] | None) -> str:
    """One line for people: how this version was made."""
    lin = lineage or {}
    kind = kind_of(lin)
    if kind == IMPORT:
        return f"imported from {lin.get('source') or 'a source'}"
    if kind == JOIN:
        keys = ", ".join(lin.get("left_on") or [])
        return f"{lin.get('how', '')} join of {lin.get('left')} and {lin.get('right')} on {keys}"
    if kind == SCORED:
        return f"predictions of model {lin.get('model')} for {lin.get('from')}"
    if kind in REPLAYED:
        steps = len((lin.get("recipe") or {}).get("steps") or [])
        old = " (recorded by an older Easel as 'clean')" if kind == LEGACY_CLEAN else ""
        return f"a {steps}-step recipe over {lin.get('from')}{old}"
    return json.dumps(lin, default=str)[:400]
