"""Prepare: auto-clean with accept/reject per fix, transforms from a searchable list, the recipe
as steps with undo, a before/after preview, and saving the result as a new dataset version."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import streamlit as st

from app import ui
from automl.errors import ParameterError
from automl.prep.clean import ACTION_WORDS, finding_text, finding_title
from automl.prep.expr import FUNCTIONS
from automl.prep.recipe import STEPS, Recipe, Step, StepReport, parameters, sample_for_preview
from automl.words import plural, rows_text
from automl.workspace.data import (
    NOTHING_CHANGED,
    apply_recipe,
    change_line,
    cleaning_steps,
    find_issues,
    prepare_dataset,
)

PREVIEW_ROWS = 5000
COLUMN_FIELDS = ("column", "start", "end")

ws = ui.workspace()
st.title("Prepare data")
datasets = ui.datasets()
if not datasets:
    st.info("No datasets yet. Import one on the **Import** page first.")
    st.stop()

names = [ws.key(d) for d in datasets]
if "prep_show" in st.session_state:  # a save just made a new version: open it
    st.session_state["prep_dataset"] = st.session_state.pop("prep_show")
name = st.selectbox("Dataset", names, key="prep_dataset")
rec = ws.get_dataset(name)
key = f"{ws.key(rec)}@{rec.version}"
if st.session_state.get("prep_for") != key:  # a new dataset starts a new recipe
    st.session_state["prep_for"] = key
    st.session_state["prep_recipe"] = Recipe()
    st.session_state.pop("prep_findings", None)
recipe: Recipe = st.session_state["prep_recipe"]

raw = ui.load_dataset(ws.key(rec), rec.version)
sample = sample_for_preview(raw, PREVIEW_ROWS)
sampled = len(sample) < len(raw)
saved_note = st.session_state.pop("prep_saved", None)
if saved_note:
    st.success(saved_note)
st.caption(
    f"Version {rec.version}: {rows_text(rec.rows)}, {plural(rec.columns, 'column')}. "
    + (
        f"Changes are previewed on the first {PREVIEW_ROWS:,} rows; saving applies them to all."
        if sampled
        else "Changes are previewed on all rows."
    )
)


def run_recipe(r: Recipe, df: pd.DataFrame) -> tuple[pd.DataFrame, list[StepReport]]:
    return apply_recipe(r, df)  # a copy is fitted: the page's recipe stays as the user built it


prepared: pd.DataFrame = sample
report: list[StepReport] = []
with ui.guarded("applying the recipe"):
    prepared, report = run_recipe(recipe, sample)
columns = [str(c) for c in prepared.columns]

# ------------------------------------------------------------------------------ auto-clean
st.subheader("1. Auto-clean")
target_opts = ["(none)", *columns]
target = st.selectbox("Column you will predict (never filled in)", target_opts, key="prep_target")
target_col = None if target == "(none)" else target
if st.button("Find issues", key="prep_find"):
    with ui.guarded("looking for issues"):
        st.session_state["prep_findings"] = find_issues(prepared, target_col)
findings = st.session_state.get("prep_findings")
if findings is not None:
    if not findings:
        st.success("No missing values, far outliers or duplicate rows found.")
    else:
        st.write(
            f"{plural(len(findings), 'issue')} found. Choose a fix for each "
            "('keep as is' rejects it):"
        )
        decisions: dict[str, str] = {}
        values: dict[str, Any] = {}
        for f in findings:
            c1, c2 = st.columns([3, 1])
            decisions[f.id] = c2.selectbox(
                "Fix",
                f.options,
                index=f.options.index(f.action),
                format_func=lambda a: ACTION_WORDS.get(a, a),
                key=f"prep_fix_{f.id}",
                label_visibility="collapsed",
            )
            c1.markdown(
                f"**{ui.md(finding_title(f))}** — {rows_text(f.count)} ({f.share:.1%}). "
                + ui.md(finding_text(f, decisions[f.id]))
            )
            if decisions[f.id] == "constant":
                values[f.id] = c2.text_input("Value", key=f"prep_val_{f.id}")
        if st.button("Add these fixes to the recipe", type="primary", key="prep_apply_fixes"):
            with ui.guarded("adding the fixes"):
                for _f, _action, step in cleaning_steps(findings, decisions, values):
                    recipe.add(step)
                run_recipe(recipe, sample)  # check it runs before keeping it
                st.session_state.pop("prep_findings", None)
                st.rerun()

# ------------------------------------------------------------------------------ transforms
st.subheader("2. Add a transform")
labels = {f"{cls.group}: {cls.label}": kind for kind, cls in STEPS.items()}
choice = st.selectbox(
    "Transform (type to search)",
    sorted(labels),
    index=None,
    key="prep_kind",
    placeholder="Search 31 transforms, e.g. fill, formula, date, split...",
)


def step_form(cls: type[Step], cols: list[str]) -> dict[str, Any]:
    """One input per parameter, the right widget for each."""
    values: dict[str, Any] = {}
    for f in parameters(cls):
        label = f.name.replace("_", " ")
        k = f"prep_p_{cls.kind}_{f.name}"
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )
        ftype = str(f.type)
        if f.name in COLUMN_FIELDS:
            values[f.name] = st.selectbox(label, cols, key=k)
        elif f.name == "columns":
            values[f.name] = st.multiselect(label, cols, key=k)
        elif f.name in cls.choices and ftype.startswith("list"):
            values[f.name] = st.multiselect(label, cls.choices[f.name], default=default, key=k)
        elif f.name in cls.choices:
            opts = cls.choices[f.name]
            values[f.name] = st.selectbox(
                label, opts, index=opts.index(default) if default in opts else 0, key=k
            )
        elif f.name == "new_names":
            text = st.text_input("new names (comma-separated)", key=k)
            values[f.name] = [t.strip() for t in text.split(",") if t.strip()]
        elif f.name == "mapping":
            text = st.text_area("replacements, one per line: old = new", key=k)
            pairs = [line.split("=", 1) for line in text.splitlines() if "=" in line]
            values[f.name] = {a.strip(): b.strip() for a, b in pairs}
        elif ftype == "bool":
            values[f.name] = st.checkbox(label, value=bool(default), key=k)
        elif ftype in ("int", "float"):
            values[f.name] = st.number_input(label, value=default, key=k)
        elif "None" in ftype and ("float" in ftype or "int" in ftype):
            text = st.text_input(f"{label} (optional)", key=k)
            values[f.name] = _number(text, f.name) if text.strip() else None
        else:
            values[f.name] = st.text_input(label, value=default or "", key=k)
    return values


def _number(text: str, field: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ParameterError(f"'{field}' must be a number; got {text!r}.") from None


if choice:
    cls = STEPS[labels[choice]]
    st.caption(
        (
            "Training only: this step shapes the rows used for training; it is not applied to "
            "rows being predicted."
        )
        if cls.row_step
        else "Applied again to new rows when the model predicts."
    )
    with st.form(f"prep_form_{cls.kind}"):
        params: dict[str, Any] | None = None
        with ui.guarded("reading the parameters"):
            params = step_form(cls, columns)
        if cls.kind in ("formula", "filter"):
            with st.expander("Functions you can use"):
                st.markdown("\n".join(f"- `{d.split(':')[0]}`" for _, _, d in FUNCTIONS.values()))
        submitted = st.form_submit_button("Add step", type="primary")
    if submitted and params is not None:
        with ui.guarded("adding the step"):
            step = cls(**params)
            trial = Recipe.from_dict(recipe.to_dict())
            trial.add(step)
            run_recipe(trial, sample)  # refuse a step that cannot run, with its message
            recipe.add(step)
            st.rerun()

# ------------------------------------------------------------------------------ recipe
st.subheader("3. Recipe")
if not len(recipe):
    st.info("No steps yet. Add fixes from auto-clean or transforms above.")
else:
    for i, line in enumerate(recipe.describe()):
        c1, c2 = st.columns([6, 1])
        rep = report[i] if i < len(report) else None
        changed = change_line(rep) if rep is not None else NOTHING_CHANGED
        detail = "" if changed == NOTHING_CHANGED else f" — {changed}"
        c1.markdown(ui.md(f"{line}{detail}"))
        if c2.button("Remove", key=f"prep_remove_{i}"):
            recipe.remove(i)
            st.rerun()
    b1, b2, b3 = st.columns(3)
    if b1.button("Undo last step", key="prep_undo"):
        recipe.undo()
        st.rerun()
    if b3.button("Clear the recipe", key="prep_clear"):
        st.session_state["prep_recipe"] = Recipe()
        st.rerun()
    st.download_button(
        "Download the recipe (JSON)",
        recipe.to_json(),
        file_name=f"{rec.name}-recipe.json",
        mime="application/json",
        key="prep_download",
    )
if recipe._undone and st.button("Redo", key="prep_redo"):
    recipe.redo()
    st.rerun()

# ------------------------------------------------------------------------------ preview & save
st.subheader("4. Before and after")
m1, m2 = st.columns(2)
m1.metric("Rows", f"{len(prepared):,}", delta=(len(prepared) - len(sample)) or None)
m2.metric("Columns", prepared.shape[1], delta=prepared.shape[1] - sample.shape[1] or None)
after_tab, before_tab = st.tabs(["After", "Before"])
after_tab.dataframe(prepared.head(100), width="stretch")
before_tab.dataframe(sample.head(100), width="stretch")

if len(recipe):
    new_name = st.text_input(
        "Save as dataset (the same name adds a new version)", value=rec.name, key="prep_name"
    )
    if st.button("Apply to all rows and save", type="primary", key="prep_save"):
        with ui.guarded("saving the prepared dataset"), st.spinner("Applying to all rows..."):
            saved = prepare_dataset(ws, key, recipe, new_name).record
            # Show the new version, with an empty recipe for it, and say what was saved.
            st.session_state["prep_show"] = saved.name
            st.session_state["prep_saved"] = (
                f"Saved **{ui.md(saved.name)}** version {saved.version}: "
                f"{rows_text(saved.rows)}, {plural(saved.columns, 'column')}. A model built on it "
                f"takes raw rows of {ui.md(rec.name)} version {rec.version} and replays the "
                "recipe when it predicts."
            )
            st.rerun()
