"""The data service: the one set of functions that the CLI and every page call to get data in,
combine it, clean and prepare it, and hand it to a build.

* Get rows in: :func:`read_source` (a file, an upload, a database table or query, object storage;
  nothing saved, so a page can preview it), :func:`save_source`, :func:`import_dataset` (both at
  once), :func:`stored_upload` (or :func:`store_upload`) / :func:`read_upload` for uploaded bytes,
  deleted once read, and :func:`sweep_session_files` for what browser sessions left (see
  :mod:`automl.workspace.sources`). Each reading function takes ``policy=`` (a
  :class:`connectors.SourcePolicy`: where this server may read from; None in personal mode).
* Name a version: :func:`resolve` turns ``dataset:NAME[@VERSION]`` (or ``NAME[@VERSION]``) into
  its catalog record; :func:`load_data` reads any DATA argument.
* Combine: :func:`join_datasets`.
* Clean and prepare: :func:`find_issues` and :func:`cleaning_steps` (the proposed fixes as recipe
  steps), :func:`apply_recipe` (a preview on some rows), :func:`prepare_dataset` (save a recipe
  over a dataset as a new version) and :func:`clean_dataset` (find, fix and save in one call, for
  ``automl clean --auto``). Both save the same ``recipe`` lineage.
* Train: :func:`training_input` reads the lineage (see :mod:`automl.workspace.lineage`) and gives
  the rows and the recipe a build trains with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from automl.errors import DataError, EaselError, ParameterError
from automl.prep.clean import Finding, find_issues, fix_steps
from automl.prep.join import MAX_RESULT_ROWS, JoinPreview, JoinSpec, join
from automl.prep.recipe import Recipe, Step, StepReport
from automl.words import plural, rows_text
from automl.workspace import lineage as history
from automl.workspace.catalog import DatasetRecord, Workspace, check_name
from automl.workspace.sources import (
    SourceData,
    import_dataset,
    list_sheets,
    list_tables,
    read_source,
    read_upload,
    safe_url,
    save_source,
    store_upload,
    stored_upload,
    sweep_session_files,
)

DATASET_PREFIX = "dataset:"
NOTHING_CHANGED = "nothing changed"  # what change_line says of a step that changed nothing
MAX_RECIPE_CHAIN = 20  # prepared versions of prepared versions followed back to raw rows


# ---------------------------------------------------------------------- naming versions
def resolve(ws: Workspace, ref: str) -> DatasetRecord:
    """The catalog record behind ``dataset:NAME[@VERSION]`` or ``NAME[@VERSION]`` (newest
    version when none is given); a clear error when there is none."""
    name, version = ws.resolve_dataset(str(ref).strip().removeprefix(DATASET_PREFIX))
    return ws.get_dataset(name, version)


def dataset_ref(rec: DatasetRecord, ws: Workspace | None = None) -> str:
    """``NAME@VERSION``: how lineage names a dataset version (``OWNER/NAME@VERSION`` for a
    dataset another user shared with ``ws``'s user)."""
    return f"{ws.key(rec) if ws else rec.name}@{rec.version}"


def load_data(
    ref: str | os.PathLike[str], ws: Workspace | None = None, **options: Any
) -> pd.DataFrame:
    """The rows behind a DATA argument: ``dataset:NAME[@VERSION]`` from the workspace catalog, or
    any source :func:`read_source` understands (``options`` as there)."""
    text = str(ref)
    if text.startswith(DATASET_PREFIX):
        ws = ws or Workspace()
        return ws.read(resolve(ws, text))
    return read_source(text, **options).data


# ---------------------------------------------------------------------- join
def join_datasets(
    ws: Workspace,
    left: str,
    right: str,
    spec: JoinSpec,
    name: str,
    max_rows: int = MAX_RESULT_ROWS,
) -> tuple[DatasetRecord, JoinPreview]:
    """Join two catalog datasets (``[dataset:]NAME[@VERSION]``) and save the result as the next
    version of ``name``, with a ``join`` lineage."""
    name = check_name(name, "dataset")
    recs = [resolve(ws, ref) for ref in (left, right)]
    frames = [ws.read(r) for r in recs]
    out, pv = join(frames[0], frames[1], spec, max_rows=max_rows)
    if len(out) == 0:
        raise DataError("The join produced no rows, so nothing was saved. " + " ".join(pv.warnings))
    refs = [dataset_ref(r, ws) for r in recs]
    desc = f"{spec.how} join of {refs[0]} and {refs[1]} on {', '.join(spec.left_on)}"
    lineage = history.join_lineage(refs[0], refs[1], spec.to_dict())
    return ws.add_dataset(name, out, desc, lineage=lineage), pv


# ---------------------------------------------------------------------- clean and prepare
def cleaning_steps(
    findings: list[Finding],
    decisions: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> list[tuple[Finding, str, Step]]:
    """The chosen fixes as recipe steps, in a safe order, each with its finding and action.

    ``decisions`` maps a finding id to another action than the proposed one ("keep" rejects it);
    ``values`` gives the value of a "constant" fill, which must not be empty.
    """
    values = values or {}
    steps = []
    for f, action, step in fix_steps(findings, decisions, values):
        if action == "constant" and values.get(f.id) in (None, ""):
            raise ParameterError(f"Give the value to fill {f.column} with.")
        steps.append((f, action, step))
    return steps


def apply_recipe(recipe: Recipe, df: pd.DataFrame) -> tuple[pd.DataFrame, list[StepReport]]:
    """``recipe`` fitted and applied to ``df`` (a copy of the recipe: the caller's stays
    unfitted), with one report per step. Used for previews and for saving."""
    prepared, report, _ = _fit_copy(recipe, df)
    return prepared, report


def _fit_copy(recipe: Recipe, df: pd.DataFrame) -> tuple[pd.DataFrame, list[StepReport], Recipe]:
    clone = Recipe.from_dict(recipe.to_dict())
    report: list[StepReport] = []
    return clone.fit_apply(df, report), report, clone


def change_line(rep: StepReport) -> str:
    """What one step did, in words: rows removed, cells changed, columns added or removed."""
    parts = []
    if rep.rows_before != rep.rows_after:
        parts.append(f"{rows_text(rep.rows_before - rep.rows_after)} removed")
    if rep.cells_changed:
        parts.append(f"{plural(rep.cells_changed, 'cell')} changed")
    if rep.columns_added:
        parts.append(f"new: {', '.join(rep.columns_added)}")
    if rep.columns_removed:
        parts.append(f"removed: {', '.join(rep.columns_removed)}")
    return "; ".join(parts) or NOTHING_CHANGED


@dataclass
class Prepared:
    """A saved prepared version: its record, the recipe as fitted on all rows of the source, and
    what each step did."""

    record: DatasetRecord
    recipe: Recipe
    report: list[StepReport]
    applied: list[tuple[Finding, str]] = field(default_factory=list)  # cleaning fixes, if any

    def summary(self) -> list[str]:
        """One line per step; cleaning fixes also name the action chosen."""
        actions = [f" [{a}]" for _, a in self.applied] or [""] * len(self.report)
        return [
            f"{rep.step}{act}: {change_line(rep)}"
            for rep, act in zip(self.report, actions, strict=True)
        ]


def prepare_dataset(
    ws: Workspace,
    source: str,
    recipe: Recipe,
    name: str,
    applied: list[tuple[Finding, str]] | None = None,
) -> Prepared:
    """Apply ``recipe`` to every row of dataset ``source`` (``[dataset:]NAME[@VERSION]``) and save
    the result as the next version of ``name``, with a ``recipe`` lineage: a build on it trains on
    the raw rows of ``source`` with the recipe (see :func:`training_input`).

    ``applied`` pairs the recipe's steps with the cleaning findings and actions they fix (from
    :func:`cleaning_steps`), for the summary.
    """
    name = check_name(name, "dataset")
    if not len(recipe):
        raise ParameterError("The recipe has no steps: there is nothing to prepare.")
    rec = resolve(ws, source)
    raw = ws.read(rec)
    data, report, fitted = _fit_copy(recipe, raw)
    if len(data) == 0:
        raise DataError("The recipe removes every row; nothing was saved.")
    out = Prepared(rec, fitted, report, list(applied or []))
    ref = dataset_ref(rec, ws)
    lineage = history.recipe_lineage(ref, fitted.to_dict(), out.summary())
    out.record = ws.add_dataset(
        name, data, f"prepared from {ref} ({len(recipe)} steps)", lineage=lineage
    )
    return out


def clean_dataset(
    ws: Workspace,
    source: str,
    name: str,
    target: str | None = None,
    decisions: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Prepared:
    """Find the issues in dataset ``source``, apply the proposed fixes (changed by ``decisions``
    and ``values`` as in :func:`cleaning_steps`) and save the result as ``name``: a recipe of the
    fixes over ``source``, exactly as the Prepare page saves it."""
    rec = resolve(ws, source)
    findings = find_issues(ws.read(rec), target)
    steps = cleaning_steps(findings, decisions, values)
    if not steps:
        raise ParameterError("Every fix was rejected, so there is nothing to save.")
    recipe = Recipe([s for _, _, s in steps], target=target)
    return prepare_dataset(
        ws, dataset_ref(rec, ws), recipe, name, applied=[(f, a) for f, a, _ in steps]
    )


# ---------------------------------------------------------------------- training
def _unreadable(ws: Workspace, rec: DatasetRecord) -> bool:
    try:
        ws.get_dataset(ws.key(rec), rec.version)
    except EaselError:
        return True
    return False


def training_input(
    ws: Workspace, name: str, version: int | None = None
) -> tuple[pd.DataFrame, Recipe | None, str]:
    """The rows to train on for dataset ``name``, the recipe to train with, and a note.

    A prepared version (lineage ``recipe``, or ``clean`` from older versions) whose source is still
    in the catalog trains on that source's raw rows with the recipe, so the model takes raw rows
    and replays the preparation itself when it predicts. A prepared version of a prepared version
    goes back to the first raw rows, with the recipes one after the other. Every other version
    (``import``, ``join``, or a prepared one whose source is gone) trains on its rows as they are.
    """
    rec = ws.get_dataset(name, version)
    steps: list[Step] = []
    current = rec
    note = ""
    for _ in range(MAX_RECIPE_CHAIN):
        lin = current.lineage or {}
        if not history.replays(lin):
            break
        try:
            # lineage names versions as their owner sees them; another user's raw rows are
            # used only when they are shared with this user too
            src = resolve(ws.as_user(current.owner), str(lin["from"]))
            gone = not ws.has_file(src) or _unreadable(ws, src)
        except EaselError:
            gone = True
        if gone:  # the source was deleted: the prepared rows are all we have
            note = (
                f"the source {lin['from']} of this prepared dataset is gone, so the model "
                "expects prepared rows"
            )
            break
        steps = Recipe.from_dict(lin["recipe"]).steps + steps
        current = src
    rows = ws.read(current)
    if not steps:
        return rows, None, note
    recipe = Recipe(steps)
    return (
        rows,
        recipe,
        f"raw rows of {dataset_ref(current, ws)} with the {len(recipe)}-step recipe",
    )


__all__ = [
    "DATASET_PREFIX",
    "NOTHING_CHANGED",
    "Prepared",
    "SourceData",
    "apply_recipe",
    "change_line",
    "clean_dataset",
    "cleaning_steps",
    "dataset_ref",
    "find_issues",
    "import_dataset",
    "join_datasets",
    "list_sheets",
    "list_tables",
    "load_data",
    "prepare_dataset",
    "read_source",
    "read_upload",
    "resolve",
    "safe_url",
    "save_source",
    "store_upload",
    "stored_upload",
    "sweep_session_files",
    "training_input",
]
