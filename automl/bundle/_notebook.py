"""The bundle's notebook (``model.ipynb``): load the model, show its hold-out metrics and
leaderboard, explain a few rows, and, when the bundle holds the training rows, retrain the
winning configuration in plain LightGBM or scikit-learn code and compare its hold-out metric.

The notebook is written as plain JSON (format 4.5), so exporting needs no Jupyter package.
Every value taken from the model (names, parameters, counts) enters the code as a Python
literal (:func:`literal`) and the Markdown escaped (:func:`md`): a column or model name is
data, never code.
"""

from __future__ import annotations

import json
from typing import Any

from automl.artifact import HOLDOUT_FILE, ModelMeta
from automl.bundle._retrain import retrain_cells
from automl.bundle._text import DATA_FILE, MODEL_FOLDER, label, literal, md
from automl.words import PROBLEM_WORDS

EXPLAINED_ROWS = 3


def _cell(kind: str, text: str, i: int) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": text}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook(
    meta: ModelMeta, title: str, has_data: bool, has_holdout: bool, easel_version: str
) -> str:
    """The notebook's JSON text."""
    cells: list[tuple[str, str]] = [("markdown", _intro(meta, title, has_data, easel_version))]
    cells += [
        (
            "code",
            "import warnings\n\nimport numpy as np\nimport pandas as pd\n\nimport automl\n\n"
            "# Optuna's progress bars are not used here: no notice about them\n"
            'warnings.filterwarnings("ignore", message="IProgress not found")\n\n'
            f'model = automl.load("{MODEL_FOLDER}")  # checks every file before reading it\n'
            'print(f"predicts {model.target!r} ({model.problem_type}); the default model is "\n'
            '      f"candidate {model.default_id} ({model.candidate_name()})")',
        ),
        (
            "markdown",
            "## Hold-out metrics\n\n"
            f"Measured on rows the search never saw: {md(meta.holdout_description)}. The metric "
            f"the search optimized is **{md(label(meta.metric))}**.",
        ),
        ("code", 'pd.Series(model.metrics, name="hold-out").to_frame()'),
        (
            "markdown",
            "## Leaderboard\n\nEvery configuration the search tried, with its validation score "
            f"({md(meta.validation)}). The kept ones also have a hold-out score; `default` marks "
            "the one that predicts. The `params` column holds each configuration's parameters.",
        ),
        ("code", 'model.leaderboard.drop(columns=["params"])'),
    ]
    cells += _explain_cells(meta, has_data, has_holdout)
    cells += retrain_cells(meta, has_data, has_holdout)
    nb = {
        "cells": [_cell(kind, text, i) for i, (kind, text) in enumerate(cells)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _intro(meta: ModelMeta, title: str, has_data: bool, easel_version: str) -> str:
    data = (
        f"The bundle holds the rows the model was trained on (`{DATA_FILE}`), so the last part "
        "retrains the winning configuration in plain LightGBM or scikit-learn code and "
        "compares its hold-out metric with the model's."
        if has_data
        else "The bundle was exported without the training rows (they leave Easel only when "
        "asked), so this notebook shows the model but does not retrain it."
    )
    return (
        f"# {md(title)}\n\n"
        f"An Easel model that predicts **{md(meta.target.name)}** "
        f"({PROBLEM_WORDS.get(meta.problem_type, meta.problem_type)}), exported by Easel "
        f"{md(easel_version)}. {data}\n\n"
        "Run it from the bundle's folder, in an environment with the packages of "
        "`requirements.txt` (`pip install -r requirements.txt`) and Easel itself, installed "
        "from its source code as README.md says."
    )


def _explain_cells(meta: ModelMeta, has_data: bool, has_holdout: bool) -> list[tuple[str, str]]:
    if meta.is_forecast:
        return [
            (
                "markdown",
                "## The next periods\n\nThe model forecasts each series from the end of its "
                "training data, with its quantiles (P10, P50, P90 unless chosen otherwise). A "
                "model with future-value columns forecasts with their planned values: here "
                "their last known values (`model.future_template()`), to replace by your plan.",
            ),
            (
                "code",
                "plan = model.future_template() if model.future_columns else None\n"
                "model.forecast(future=plan).head(20)",
            ),
        ]
    if has_data:
        source = (
            f'rows = pd.read_parquet("{DATA_FILE}").head({EXPLAINED_ROWS})'
            f".drop(columns=[{literal(meta.target.name)}])"
        )
        where = "the first rows of the training data"
    elif has_holdout and not meta.recipe:
        source = (
            f'held_out = pd.read_parquet("{MODEL_FOLDER}/{HOLDOUT_FILE}")\n'
            "rows = held_out[[c for c in held_out.columns if not c.startswith('__')]]"
            f".head({EXPLAINED_ROWS})"
        )
        where = "the first hold-out rows stored in the model"
    else:
        source = "rows = pd.DataFrame([{f.name: f.value for f in model.input_form()}])"
        where = "a typical row (each column's median or most frequent value)"
    return [
        (
            "markdown",
            "## Why the model predicts what it does\n\n"
            f"The model's predictions for {where}, then the columns that moved each prediction "
            "most, in Easel's own words (`contribution` is signed: log-odds of the predicted "
            "category, or the target's units for numbers).",
        ),
        ("code", f"{source}\nmodel.predict_table(rows)[0]"),
        ("code", "model.explain(rows, top=3)"),
    ]
