"""Models: every model and version, side-by-side comparison, rename, delete, export (the
bundle for data scientists, with the training data only when asked), a prediction service (REST)
for a model; each version's stage (promote, roll back) with its history, and the drift of batch
predictions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

import automl
from app import state, ui
from app.tables import show_table
from automl.artifact import ModelMeta, read_meta
from automl.bundle import bundle_bytes, training_rows
from automl.errors import EaselError
from automl.metrics import METRICS
from automl.serve import launcher
from automl.words import plural
from automl.workspace.catalog import STAGES

ws = ui.workspace()
st.title("Models")
models = ws.list_models()
shared = ws.shared_models()
if shared:
    st.subheader("Shared with you")
    show_table(
        pd.DataFrame(
            {
                "name": m.name,
                "version": m.version,
                "shared by": m.owner,
                "predicts": m.target,
                "problem": ui.TASK_WORDS.get(m.task, m.task),
                "hold-out score": None if m.score is None else round(float(m.score), 4),
            }
            for m in shared
        ),
        what="models",
        hide_index=True,
        width="stretch",
    )
    st.caption("Use them on **Analyze** and **Predict**; only their owner can change them.")
if not models:
    st.info("No models of yours yet. Pick a dataset and a column to predict on the **Build** page.")
    st.stop()


def _meta(folder: Path) -> ModelMeta | None:
    """A model's metadata; None for a damaged or newer one (it still gets a row, to delete)."""
    try:
        return read_meta(folder)
    except EaselError:
        return None


def _split(label: str) -> tuple[str, int]:
    name, version = label.rsplit("@", 1)
    return name, int(version)


def _label(label: str) -> str:
    return ui.model_label(*_split(label))


def _said(message: str) -> None:
    st.session_state["models_done"] = message


def _bundle(name: str, version: int, with_data: bool) -> bytes:
    """The export bundle of one model version, made once per model and choice (reruns reuse
    it); with the training data only when the box is ticked."""
    rec = ws.get_model(name, version)
    key = (rec.path, name, with_data)  # a renamed model's bundle carries its new name
    made = st.session_state.get("models_bundle")
    if made is not None and made[0] == key:
        return bytes(made[1])
    data = training_rows(ws, rec) if with_data else None
    source = {"name": rec.name, "version": rec.version, "dataset": rec.dataset_ref}
    out = bundle_bytes(ws.model_dir(rec), f"{name} version {version}", data, source)
    st.session_state["models_bundle"] = (key, out)
    return out


def _exported(name: str, version: int, with_data: bool, message: str) -> None:
    ws.audit(
        "export",
        f"model {name} version {version}",
        "with the training data" if with_data else "without the training data",
    )
    _said(message)


rows = []
for m in models:
    meta = _meta(ws.model_dir(m))
    rows.append(
        {
            "model": f"{m.name}@{m.version}",
            "name": m.name,
            "version": m.version,
            "stage": m.stage,
            "dataset": m.dataset_ref,
            "target": m.target,
            "problem": ui.TASK_WORDS.get(m.task, m.task),
            "metric": METRICS[m.metric].label if m.metric in METRICS else m.metric,
            "hold-out score": None if m.score is None else round(float(m.score), 4),
            "build seconds": meta.fit_seconds if meta else None,
            "training rows": meta.rows.with_target if meta else None,
            "candidates tried": len(meta.leaderboard) if meta else 0,
            "built": dt.datetime.fromtimestamp(m.created_at).strftime("%Y-%m-%d %H:%M"),
        }
    )
table = pd.DataFrame(rows)
show_table(table.drop(columns=["model"]), what="models", hide_index=True, width="stretch")

st.subheader("Compare")
labels = table["model"].tolist()
done = st.session_state.pop("models_done", None)  # what the last action did, said after its rerun
renamed: dict[str, str] = st.session_state.pop("models_renamed", {})
if renamed:  # a renamed model stays in the comparison and in the Manage box, under its new name
    kept = st.session_state.get("models_compare", [])
    kept = [renamed.get(p, p) for p in kept]
    st.session_state["models_compare"] = [p for p in kept if p in labels]
    if st.session_state.get("models_manage") in renamed:
        st.session_state["models_manage"] = renamed[st.session_state["models_manage"]]
picked = st.multiselect(
    "Models to compare side by side",
    labels,
    default=None if "models_compare" in st.session_state else labels[:2],
    format_func=_label,
    key="models_compare",
)
if picked:
    chosen = [ws.get_model(*_split(p)) for p in picked]
    side: dict[str, dict[str, object]] = {}
    for rec in chosen:
        with ui.guarded(f"loading {rec.name}"):
            loaded = automl.load(ws.model_dir(rec))
            col: dict[str, object] = {
                "dataset": rec.dataset_ref,
                "target": loaded.target,
                "problem": ui.TASK_WORDS.get(loaded.task, loaded.task),
                "metric optimized": METRICS[loaded.metric].label
                if loaded.metric in METRICS
                else loaded.metric,
                "predictor": loaded.candidate_name(),
                "build seconds": loaded.meta.fit_seconds,
                "training rows": loaded.rows.with_target,
                "columns used": sum(
                    c.type not in ("identifier", "constant", "excluded")
                    for c in loaded.meta.columns
                ),
                "preparation recipe steps": len(loaded.recipe) if loaded.recipe is not None else 0,
            }
            col.update(
                {
                    f"hold-out {METRICS[k].label if k in METRICS else k}": round(v, 4)
                    for k, v in loaded.metrics.items()
                }
            )
            side[ui.model_label(rec.name, rec.version)] = col
    show_table(pd.DataFrame(side).astype(str), width="stretch")

st.subheader("Manage")
# One choice drives rename, export and delete; each action says what it did to which model.
if st.session_state.get("models_manage") not in labels:
    st.session_state.pop("models_manage", None)
target = st.selectbox("Model", labels, format_func=_label, key="models_manage")
name, version = _split(target)
shown = ui.md(ui.model_label(name, version))
flash = st.empty()  # what the last action did; one place, so the widgets below never move
if done:
    flash.success(done)
if st.session_state.get("models_name_for") != name:  # the name box follows the chosen model
    st.session_state["models_new_name"] = name
    st.session_state["models_name_for"] = name
c1, c2, c3 = st.columns(3)
with c1:
    n_versions = len(ws.model_versions(name))
    new_name = st.text_input(
        f"New name ({'the only version' if n_versions == 1 else f'all {n_versions} versions'})",
        key="models_new_name",
    )
    if st.button("Rename", key="models_rename"):
        with ui.guarded("renaming the model"):
            n = ws.rename_model(name, new_name)
            new_name = new_name.strip()
            versions = [r.version for r in ws.model_versions(new_name)]
            st.session_state["models_renamed"] = {
                f"{name}@{v}": f"{new_name}@{v}" for v in versions
            }
            st.session_state["models_done"] = (
                f"Renamed **{ui.md(name)}** to **{ui.md(new_name)}** ({plural(n, 'version')})."
            )
            st.rerun()
with c2:
    with_data = st.checkbox(
        "Include the training data",
        key="models_export_data",
        help="The rows the model was trained on go into the bundle, so its notebook can "
        "retrain the model and check its score. They leave Easel with the file: share it only "
        "with people who may see them.",
    )
    with ui.guarded("preparing the export"):
        zip_name = f"{name}-v{version}{'-with-data' if with_data else ''}.zip"
        st.download_button(
            "Export (zip)",
            data=_bundle(name, int(version), with_data),
            file_name=zip_name,
            mime="application/zip",
            key="models_export",
            on_click=_exported,
            args=(name, int(version), with_data, f"Exported {shown} as {ui.md(zip_name)}."),
            help="A bundle for data scientists: the model folder (JSON and each model in its "
            "library's own format, no pickles), predict.py to score a CSV file, a notebook "
            "with the hold-out metrics, leaderboard and reasons, and requirements.txt.",
        )
        st.caption(f"Exports {shown}" + (" with its training data." if with_data else "."))
with c3:
    sure = st.checkbox(f"Yes, delete {shown}", key=f"models_sure_{target}")
    if st.button("Delete", key="models_delete", disabled=not sure):
        with ui.guarded("deleting the model"):
            ws.delete_model(name, int(version))
            st.session_state["models_done"] = f"Deleted {shown}."
            st.rerun()

st.subheader("Prediction service")
# a background `automl serve model:NAME` on this computer, for other programs to ask
team_mode = st.session_state.get(state.USER) is not None
running = launcher.service_for(ws, name)
if running is None:
    st.caption(
        f"Let other programs ask **{ui.md(name)}** for predictions over HTTP (a REST API on this "
        "computer; it answers with the version in production, or the newest version while none "
        "is, and moves to a newly promoted version by itself)."
    )
    if st.button("Start a prediction service", key="models_serve_start"):
        with ui.guarded("starting the prediction service"), st.spinner("Starting the service..."):
            launcher.start_service(ws, name)
            st.rerun()
else:
    serving = ws.chosen_model(name)  # what the service answers with: production, else newest
    which = (
        "in production" if serving.stage == "production" else "the newest; none is in production"
    )
    st.success(
        f"A prediction service of **{ui.md(name)}** answers at {running.url} with version "
        f"{serving.version} ({which}); its documentation with a form to try it: "
        f"{running.url}/docs."
    )
    with ui.guarded("reading the model"):
        served = automl.load(ws.model_dir(serving))
        st.code(launcher.curl_example(served, running.url, team_mode), language="bash")
    if team_mode:
        st.caption(
            "Every request needs an API key of a user who may use this model: an administrator "
            "makes one with `automl keys create --user NAME`."
        )
    if st.button("Stop the service", key="models_serve_stop"):
        with ui.guarded("stopping the prediction service"):
            launcher.stop_service(ws, running.id)
            st.rerun()

if team_mode:
    st.subheader("Share")
    ui.share_box("model", [m.name for m in models], key="models_sharing")

st.subheader("Stage")
# The stage of the chosen version; promoting one to production archives the one in production.
rec = ws.get_model(name, int(version))
prod = ws.production_model(name)
st.caption(
    f"{shown} is **{rec.stage}**. "
    + (
        f"Version {prod.version} is in production."
        if prod is not None and prod.version != rec.version
        else ("It is the version in production." if prod is not None else "")
    )
    + " Promoting a version to production moves the version in production to archived."
)
s1, s2 = st.columns(2)
with s1:
    choices = [x for x in STAGES if x != "draft"]
    move_to = st.selectbox(
        "Move this version to", choices, index=choices.index("production"), key="models_stage"
    )
    if st.button("Change stage", key="models_stage_apply", disabled=move_to == rec.stage):
        with ui.guarded("changing the stage"):
            change = ws.set_stage(name, int(version), move_to)
            moved = (
                ""
                if change.archived is None
                else f" Version {change.archived} left production: it is archived."
            )
            _said(f"{shown} is now {change.stage} (was {change.before}).{moved}")
            st.rerun()
with s2:
    back = ws.previous_production(name)
    if back is not None:
        st.caption(f"Version {back} was in production before.")
        if st.button(f"Roll back to version {back}", key="models_rollback"):
            with ui.guarded("rolling back"):
                change = ws.set_stage(name, back, "production")
                away = "" if change.archived is None else f" (version {change.archived} archived)"
                _said(f"Rolled back: version {back} of {ui.md(name)} is in production{away}.")
                st.rerun()
history = ws.stage_history(name)
if history:
    st.markdown(f"**Stage history of {ui.md(name)}**")
    show_table(
        pd.DataFrame(
            {
                "when": dt.datetime.fromtimestamp(h["at"]).strftime("%Y-%m-%d %H:%M"),
                "who": h["user"] or "you (personal mode)",
                "version": h["version"],
                "change": h["detail"],
            }
            for h in history
        ),
        what="changes",
        hide_index=True,
        width="stretch",
    )

runs = ws.batch_runs(name)
st.subheader("Drift of batch predictions")
if not runs:
    st.caption(
        f"No batch predictions with {ui.md(name)} yet. Score a file on **Predict**: each time, "
        "the rows are compared with the rows the model learned from, and the verdict shows here."
    )
else:
    show_table(
        pd.DataFrame(
            {
                "when": dt.datetime.fromtimestamp(r.at).strftime("%Y-%m-%d %H:%M"),
                "version": r.version,
                "who": r.user or "you (personal mode)",
                "file": r.source,
                "rows": f"{r.rows:,}",
                "drift": r.verdict,
                "moved most": ", ".join(
                    str(c.get("name"))
                    for c in r.drift.get("columns", [])[:5]
                    if isinstance(c, dict) and c.get("drifted")
                ),
            }
            for r in runs
        ),
        what="batch predictions",
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Drift: none, some or severe, how far the scored rows moved from the rows the model "
        "learned from (the most changed column decides)."
    )
