"""Every page through Streamlit's AppTest, against a real workspace on disk."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import automl
from app.bootstrap import load_samples
from automl.workspace import Workspace
from automl.workspace.catalog import check_name
from automl.workspace.jobs import job_status, process_start

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def empty_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("EASEL_WORKSPACE", str(tmp_path / "ws"))
    return Workspace()


@pytest.fixture(scope="module")
def trained_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    load_samples(ws)
    # a model of the first 1,000 rows: the pages read a model, they do not judge its quality
    df = ws.load_dataset("customer churn").head(1000)
    model = automl.AutoML(time_budget=600, seed=0, max_trials=4).fit(df, "churned")
    name, version, path = ws.new_model_path("churn model")
    model.save(path)
    ws.add_model(name, version, path, "customer churn", model.model_)
    return ws


@pytest.fixture
def use_trained(trained_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("EASEL_WORKSPACE", str(trained_ws.root))
    return trained_ws


def shown(markdown: str) -> str:
    """Markdown as the browser shows it: backslash escapes (ui.md) removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(at: AppTest) -> str:
    parts = (
        [m.value for m in at.markdown] + [i.value for i in at.info] + [c.value for c in at.caption]
    )
    parts += (
        [s.value for s in at.success] + [e.value for e in at.error] + [t.value for t in at.title]
    )
    parts += [w.value for w in at.warning]
    return shown("\n".join(str(p) for p in parts))


def test_home_empty_state_and_sample_import(empty_ws: Workspace) -> None:
    at = app()
    assert "No datasets yet" in texts(at)
    at.button(key="home_samples").click().run()
    assert "Added: customer churn, support tickets, house prices, store sales" in texts(at)
    assert len(empty_ws.list_datasets()) == 4
    assert at.dataframe[0].value.shape[0] == 4


def test_empty_pages_explain_what_to_do(empty_ws: Workspace) -> None:
    assert "Import" in texts(app("build"))
    assert "Build one" in texts(app("analyze"))
    assert "Build one" in texts(app("predict"))


def test_build_preview_and_background_job(empty_ws: Workspace) -> None:
    load_samples(empty_ws)
    at = app("build")
    at.selectbox(key="build_dataset").select("house prices").run()
    at.selectbox(key="build_target").select("sale_price").run()
    assert "numeric" in texts(at)
    at.number_input(key="build_budget").set_value(5)  # the least budget (MIN_TIME_BUDGET)
    at.button[0].click().run()  # Preview
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert any(label.startswith("Estimated") for label in labels)
    at.button[1].click().run()  # Build
    assert not at.exception and not at.error
    job = empty_ws.list_jobs()[0]
    deadline = time.monotonic() + 90
    while job_status(empty_ws, job["id"])["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    job = job_status(empty_ws, job["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["trials"] and job["best_score"] is not None
    assert empty_ws.list_models()[0].target == "sale_price"


def test_build_shows_target_errors_without_traceback(empty_ws: Workspace) -> None:
    load_samples(empty_ws)
    at = app("build")
    at.selectbox(key="build_dataset").select("customer churn").run()
    at.selectbox(key="build_target").select("country").run()  # a constant column
    assert not at.exception
    assert "single value" in texts(at)


def test_analyze_shows_headline_metrics_and_leaderboard(use_trained: Workspace) -> None:
    at = app("analyze")
    body = texts(at)
    assert "correctly for" in body and "never saw" in body
    assert len(at.dataframe) >= 3
    heads = [h.value for h in at.subheader]
    assert "How good, in detail" in heads and "Downloads" in heads
    assert "95% confidence interval" in body
    assert len(at.get("download_button")) == 2  # performance report, hold-out predictions
    assert "No data report in this model" in body
    assert len(at.get("plotly_chart")) >= 4  # Sankey, confusion matrix, ROC, ...


def test_analyze_headline_names_the_guess_to_beat_and_what_the_interval_covers(
    use_trained: Workspace,
) -> None:
    at = app("analyze")
    head = at.markdown[0].value
    assert "correctly for" in head and "always answering **no**" in head, head
    body = texts(at)
    assert "95% confidence interval" in body and "hold-out rows are resampled" in body
    assert "does not cover another sample" in body and "change over time" in body


def test_predict_single_what_if(use_trained: Workspace) -> None:
    at = app("predict")
    labels = [m.label for m in at.metric]
    assert "Predicted churned" in labels
    before = at.metric[0].value
    assert before in ("yes", "no")
    # typical values read as numbers a person would type (a median of 50.614999999999995 shows
    # as 50.615)
    typical = {n.key: n.value for n in at.number_input}
    assert typical and all(float(f"{v:.6g}") == v for v in typical.values()), typical
    at.number_input(key="predict_in_churn model@1_support_calls").set_value(9).run()
    at.number_input(key="predict_in_churn model@1_satisfaction_score").set_value(1).run()
    assert not at.exception
    assert at.metric[0].value == "yes"
    why = [shown(m.value) for m in at.markdown if m.value.startswith("- **")]
    assert len(why) == 5 and any("support_calls** = 9" in w for w in why)


def test_build_page_shows_the_queue_and_builds_interrupted_by_a_restart(
    empty_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EASEL_MAX_BUILDS", "1")
    params = {"model_name": "m", "settings": {"preset": "quick"}}
    me, gone = os.getpid(), subprocess.Popen(["true"])
    gone.wait()
    running, queued, dead = (empty_ws.create_job("train", params) for _ in range(3))
    for job_id, pid, status in (
        (running, me, "running"),
        (queued, me, "queued"),
        (dead, gone.pid, "running"),
    ):
        empty_ws.update_job(job_id, status=status, pid=pid, pid_start=process_start(pid))
    at = AppTest.from_file(MAIN, default_timeout=60)  # the app starts: the dead build is found
    at.query_params["job"] = str(queued)
    at.switch_page("app_pages/build.py").run()
    assert not at.exception
    assert "Waiting: 1 build ahead of yours (1 build runs at a time)." in texts(at)
    assert empty_ws.get_job(dead)["status"] == "interrupted"
    assert empty_ws.get_job(running)["status"] == "running"
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["job"] = str(dead)
    at.switch_page("app_pages/build.py").run()
    assert [w.value for w in at.warning] == [
        "Interrupted: the server restarted while this build was running. Start it again."
    ]
    for job_id in (running, queued):
        empty_ws.update_job(job_id, status="succeeded")


def test_build_page_finds_its_job_again_after_a_refresh(empty_ws: Workspace) -> None:
    load_samples(empty_ws)
    job_id = empty_ws.create_job("train", {"model_name": "m", "settings": {"preset": "quick"}})
    empty_ws.update_job(job_id, status="failed", error="The target is constant.")
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["job"] = str(job_id)
    at.switch_page("app_pages/build.py").run()
    at.selectbox(key="build_dataset").select("customer churn").run()
    at.selectbox(key="build_target").select("churned").run()
    assert not at.exception
    assert f"Build {job_id}: m" in [s.value for s in at.subheader]
    assert "The target is constant." in texts(at)
    other = AppTest.from_file(MAIN, default_timeout=60)  # another browser: no job shown
    other.switch_page("app_pages/build.py").run()
    other.selectbox(key="build_dataset").select("customer churn").run()
    other.selectbox(key="build_target").select("churned").run()
    assert not any(s.value.startswith("Build ") for s in other.subheader)


def test_import_from_a_database_table_and_query(empty_ws: Workspace, tmp_path: Path) -> None:
    import sqlite3

    from tests.conftest import make_table

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        make_table(120, 4).to_sql("customers", conn, index=False)
    at = app("import_data")
    at.text_input(key="db_url").input(f"sqlite:///{db}").run()
    assert at.selectbox(key="db_table").value == "customers"
    at.button(key="db_read").click().run()
    assert not at.exception
    assert "120 rows, 10 columns" in texts(at)
    at.text_input(key="db_name").input("db customers").run()
    at.button(key="db_save").click().run()
    saved = empty_ws.get_dataset("db customers")
    assert saved.rows == 120 and saved.lineage["kind"] == "import"
    assert saved.lineage["options"] == {"table": "customers"}  # recorded as `automl import` does
    at.radio(key="db_mode").set_value("A SELECT query").run()
    at.text_area(key="db_query").input("DELETE FROM customers").run()
    at.button(key="db_read").click().run()
    assert "starts with DELETE" in texts(at)
    at.radio(key="db_mode").set_value("A table").run()
    at.text_input(key="db_url").input("postgresql://u@127.0.0.1:1/db").run()
    assert "Could not reach the database server" in texts(at)
    assert "120 rows" not in texts(at)  # the earlier preview is not shown for another source
    assert not at.exception


def test_object_storage_asks_how_to_sign_in(empty_ws: Workspace) -> None:
    at = app("import_data")
    way = at.radio(key="s3_way")
    assert way.options == [
        "Access key and secret key",
        "Public bucket (no keys)",
        "This server's own AWS settings",
    ]
    assert way.value == "Access key and secret key"
    at.text_input(key="s3_uri").input("s3://lake/sales.csv").run()
    at.text_input(key="s3_secret").input("only-the-secret").run()
    at.button(key="s3_read").click().run()
    assert "both the access key and the secret key" in texts(at)
    at.text_input(key="s3_secret").input("").run()
    at.button(key="s3_read").click().run()  # empty keys: no fallback to the server's settings
    assert "No keys were given for s3://lake/sales.csv" in texts(at)
    at.radio(key="s3_way").set_value("Public bucket (no keys)").run()
    assert not [t for t in at.text_input if t.key in ("s3_access", "s3_secret")]
    assert not at.exception


def test_join_page_suggests_keys_previews_and_saves(empty_ws: Workspace) -> None:
    import pandas as pd

    empty_ws.add_dataset(
        "customers", pd.DataFrame({"customer_id": range(50), "region": ["n", "s"] * 25}), "t"
    )
    empty_ws.add_dataset(
        "orders",
        pd.DataFrame({"order": range(80), "customer_id": [i % 40 for i in range(80)]}),
        "t",
    )
    at = app("join")
    at.selectbox(key="join_left").set_value("orders").run()
    at.selectbox(key="join_right").set_value("customers").run()
    assert at.selectbox(key="join_lk0").value == "customer_id"  # suggested
    assert at.metric[0].value == "80"
    at.radio(key="join_how").set_value("outer").run()
    assert at.metric[0].value == "90"  # 80 matched + 10 customers without orders
    at.text_input(key="join_name").input("orders full").run()
    at.button(key="join_save").click().run()
    assert not at.exception
    rec = empty_ws.get_dataset("orders full")
    assert rec.rows == 90 and rec.lineage["how"] == "outer"


def test_prepare_page_clean_transform_undo_save_and_build_on_raw_rows(
    empty_ws: Workspace,
) -> None:
    import pandas as pd

    from automl.workspace.data import training_input
    from tests.conftest import make_table

    df = make_table(300, 3)
    df = pd.concat([df, df.head(5)], ignore_index=True)  # 5 duplicate rows
    empty_ws.add_dataset("customers", df, "t")
    at = app("prepare")
    at.selectbox(key="prep_target").set_value("churn").run()
    at.button(key="prep_find").click().run()
    assert "found. Choose a fix for each" in texts(at)
    at.selectbox(key="prep_fix_missing:plan").set_value("keep").run()
    at.button(key="prep_apply_fixes").click().run()
    assert not at.exception
    assert "Remove duplicate rows" in texts(at) and "5 rows removed" in texts(at)
    assert "plan" not in " ".join(m.value for m in at.markdown if "Fill missing" in m.value)
    after = at.dataframe[0].value  # the "After" tab comes first
    assert after["income"].isna().sum() == 0 and at.dataframe[1].value["income"].isna().any()
    at.selectbox(key="prep_kind").set_value("Calculate: Formula column").run()
    # form widgets send their values with the submit button
    at.text_input(key="prep_p_formula_new_name").input("income_per_age")
    at.text_input(key="prep_p_formula_expression").input("income / agee")
    [b for b in at.button if b.label == "Add step"][0].click().run()
    assert "column 'agee'" in texts(at) and "Did you mean age" in texts(at)
    at.text_input(key="prep_p_formula_expression").input("income / age")
    [b for b in at.button if b.label == "Add step"][0].click().run()
    assert "income_per_age = income / age" in texts(at)
    at.button(key="prep_undo").click().run()
    assert "income_per_age = income / age" not in texts(at)
    at.button(key="prep_redo").click().run()
    assert "income_per_age = income / age" in texts(at)
    at.text_input(key="prep_name").input("customers clean").run()
    at.button(key="prep_save").click().run()
    assert not at.exception, at.exception
    rec = empty_ws.get_dataset("customers clean")
    assert rec.rows == 300 and "income_per_age" in rec.schema
    raw, recipe, note = training_input(empty_ws, "customers clean")
    assert len(raw) == 305 and recipe is not None and "recipe" in note


def test_prepare_page_auto_clean_saves_what_automl_clean_saves(
    empty_ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from automl.cli import main
    from tests.conftest import make_table

    df = make_table(200, 8)
    df.loc[[3, 50], "income"] = [5e6, 8e6]
    empty_ws.add_dataset("customers", pd.concat([df, df.head(3)], ignore_index=True), "t")
    argv = ["clean", "customers", "--target", "churn", "--auto", "--name", "cli clean"]
    assert main([*argv, "--workspace", str(empty_ws.root)]) == 0
    capsys.readouterr()
    at = app("prepare")
    at.selectbox(key="prep_dataset").set_value("customers").run()
    at.selectbox(key="prep_target").set_value("churn").run()
    at.button(key="prep_find").click().run()
    at.button(key="prep_apply_fixes").click().run()  # the proposed fixes, as --auto applies
    at.text_input(key="prep_name").input("app clean").run()
    at.button(key="prep_save").click().run()
    assert not at.exception, at.exception
    cli, page = empty_ws.get_dataset("cli clean"), empty_ws.get_dataset("app clean")
    assert cli.lineage["kind"] == page.lineage["kind"] == "recipe"
    assert cli.lineage["from"] == page.lineage["from"] == "customers@1"
    assert cli.lineage["recipe"]["steps"] == page.lineage["recipe"]["steps"]
    pd.testing.assert_frame_equal(
        empty_ws.load_dataset("cli clean"), empty_ws.load_dataset("app clean")
    )


def test_predict_form_asks_for_raw_columns_of_a_model_with_a_recipe(empty_ws: Workspace) -> None:
    from automl.prep.recipe import ChangeType, Formula, Recipe
    from tests.conftest import make_table

    df = make_table(300, 5)
    df["income"] = df["income"].map(lambda v: f"${v:,.0f}", na_action="ignore")
    recipe = Recipe([ChangeType("income", "number"), Formula("ratio", "income / age")])
    model = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(df, "churn", recipe=recipe)
    name, version, path = empty_ws.new_model_path("recipe model")
    model.save(path)
    empty_ws.add_model(name, version, path, "customers", model.model_)
    at = app("predict")
    assert not at.exception
    assert "raw columns" in texts(at)
    keys = {w.key for w in at.text_input} | {w.key for w in at.number_input}
    assert "predict_raw_recipe model@1_income" in keys  # raw text column, not the parsed number
    assert not any("ratio" in str(k) for k in keys)  # made by the recipe, not asked for
    assert "Predicted churn" in [m.label for m in at.metric]
    at.text_input(key="predict_raw_recipe model@1_income").input("$250,000").run()
    assert not at.exception and at.metric[0].value in ("yes", "no")


def test_explore_page_charts_and_matrices(empty_ws: Workspace) -> None:
    load_samples(empty_ws)
    at = app("explore")
    at.selectbox(key="explore_dataset").set_value("house prices").run()
    assert "All 3,000 rows." in texts(at)
    for kind in ("Scatter", "Bar", "Box"):
        at.radio(key="explore_kind").set_value(kind).run()
        assert not at.exception and not at.error, kind
    at.selectbox(key="explore_colour").set_value("neighborhood").run()
    for method in ("Pearson correlation", "Spearman correlation", "Mutual information"):
        at.radio(key="explore_method").set_value(method).run()
        assert not at.exception and not at.error, method


def test_explore_scatter_does_not_default_to_an_id(empty_ws: Workspace) -> None:
    rng = np.random.default_rng(0)
    workers = pd.DataFrame(
        {
            "worker_id": np.arange(1, 301),
            "age": rng.integers(18, 66, 300),
            "hourly_wage": rng.uniform(12, 40, 300).round(2),
            "is_manager": rng.integers(0, 2, 300),
        }
    )
    empty_ws.add_dataset("workers", workers, "test")
    at = app("explore")
    assert (at.selectbox(key="explore_x").value, at.selectbox(key="explore_y").value) == (
        "age",
        "hourly_wage",
    )
    assert "worker_id" in at.selectbox(key="explore_x").options  # still there to choose


def test_models_page_compare_rename_export_delete(use_trained: Workspace) -> None:
    import io
    import zipfile

    at = app("models")
    assert not at.exception
    assert "churn model@1" in at.multiselect(key="models_compare").value
    assert "hold-out ROC AUC" in str(at.dataframe[1].value.index.tolist())
    data = use_trained.export_model("churn model", 1)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "churn model-v1/easel_model.json" in names
    at.text_input(key="models_new_name").input("churn v2 model").run()
    at.button(key="models_rename").click().run()
    assert not at.exception
    assert use_trained.get_model("churn v2 model").version == 1
    use_trained.rename_model("churn v2 model", "churn model")  # the fixture is shared
    import shutil

    from automl.errors import ParameterError

    other, other_version, other_path = use_trained.new_model_path("other")
    shutil.copytree(use_trained.model_dir(use_trained.get_model("churn model")), other_path)
    use_trained.add_model(other, other_version, other_path, "d", automl.load(other_path))
    with pytest.raises(ParameterError, match="already a model named 'churn model'"):
        use_trained.rename_model("other", "churn model")
    use_trained.delete_model("other", other_version)


def test_models_page_exports_the_bundle_with_training_rows_only_when_asked(
    use_trained: Workspace,
) -> None:
    import io
    import zipfile

    at = app("models")
    assert at.checkbox(key="models_export_data").value is False
    names = zipfile.ZipFile(io.BytesIO(at.session_state["models_bundle"][1])).namelist()
    assert {"predict.py", "model.ipynb", "requirements.txt", "model/easel_model.json"} <= set(names)
    assert not [n for n in names if n.startswith("data/")]
    # the fixture's model learned from the first 1,000 rows of its dataset, which has more now:
    # its rows are refused rather than exported as if they were the training data
    at.checkbox(key="models_export_data").check().run()
    assert not at.exception
    assert "not the ones the model was trained on" in " ".join(e.value for e in at.error)


def test_models_page_stages_roll_back_and_the_drift_of_batch_predictions(
    trained_ws: Workspace, empty_ws: Workspace
) -> None:
    import shutil

    source = trained_ws.model_dir(trained_ws.get_model("churn model"))
    for _ in range(2):  # two versions of one model
        name, version, path = empty_ws.new_model_path("churn model")
        shutil.copytree(source, path)
        empty_ws.add_model(name, version, path, "customer churn", automl.load(path))
    at = app("models")
    assert at.dataframe[0].value["stage"].tolist() == ["draft", "draft"]
    at.selectbox(key="models_manage").set_value("churn model@1").run()
    at.selectbox(key="models_stage").set_value("production").run()
    at.button(key="models_stage_apply").click().run()
    assert not at.exception
    assert "churn model (version 1) is now production (was draft)" in texts(at)
    at.selectbox(key="models_manage").set_value("churn model@2").run()
    at.button(key="models_stage_apply").click().run()
    assert "Version 1 left production: it is archived" in texts(at)
    assert {r.version: r.stage for r in empty_ws.model_versions("churn model")} == {
        2: "production",
        1: "archived",
    }
    at.button(key="models_rollback").click().run()  # back to version 1
    assert "Rolled back: version 1 of churn model is in production" in texts(at)
    assert empty_ws.production_model("churn model").version == 1  # type: ignore[union-attr]
    history = at.dataframe[-1].value
    assert history["version"].tolist() == [1, 2, 1] and set(history["who"]) == {
        "you (personal mode)"
    }
    assert "No batch predictions with churn model yet" in texts(at)

    at = app("predict")  # starts on the production version, not the newest, and says so
    assert at.selectbox(key="predict_model").value == "churn model@1"
    assert "Version 1 is the production version of **churn model**" in texts(at)
    rows = trained_ws.load_dataset("customer churn").iloc[1000:1500].drop(columns=["churned"])
    rows["monthly_charges"] = rows["monthly_charges"] + 500  # far beyond what it learned from
    upload = rows.to_csv(index=False).encode()
    at.file_uploader(key="predict_upload").upload("march.csv", upload, "text/csv").run()
    at.button(key="predict_run").click().run()
    assert not at.exception
    assert "Severe drift: the 500 rows differ a lot" in texts(at)
    assert "monthly_charges" in at.dataframe[-1].value["column"].tolist()[0]
    [run] = empty_ws.batch_runs("churn model")
    assert (run.version, run.source, run.rows, run.verdict) == (1, "march.csv", 500, "severe")

    at = app("models")
    drift = at.dataframe[-1].value
    assert drift["drift"].tolist() == ["severe"] and drift["file"].tolist() == ["march.csv"]
    assert drift["moved most"].tolist()[0].startswith("monthly_charges")


def test_column_types_chosen_at_import_are_used_by_build(empty_ws: Workspace) -> None:
    from tests.conftest import make_table

    empty_ws.add_dataset(
        "typed",
        make_table(200, 2),
        "t",
        lineage={"kind": "import", "column_types": {"city": "excluded", "age": "categorical"}},
    )
    at = app("build")
    at.selectbox(key="build_dataset").set_value("typed").run()
    at.selectbox(key="build_target").set_value("churn").run()
    assert not at.exception
    body = texts(at)
    assert "city (excluded: chosen by the user)" in body
    assert "age" in at.multiselect(key="build_columns").value


def test_time_series_build_analyze_and_forecast_pages(empty_ws: Workspace) -> None:
    load_samples(empty_ws)
    at = app("build")
    at.selectbox(key="build_dataset").select("store sales").run()
    at.selectbox(key="build_target").select("units_sold").run()
    body = texts(at)
    assert "Problem type:** time series" in body
    assert "6 series of 731 days, from 2023-01-01 to 2024-12-31" in body
    # the promotion changes over time: a candidate for future values, ticked
    assert "Columns that change over time" in body
    assert at.checkbox(key="build_future_promotion").value is True
    assert at.selectbox(key="build_time_column").value == "date"
    assert at.multiselect(key="build_series").value == ["store"]
    assert at.number_input(key="build_horizon").value == 14
    at.number_input(key="build_horizon").set_value(7)
    at.selectbox(key="build_holidays").set_value("US").run()
    at.selectbox(key="build_holiday_region").set_value("CA").run()
    at.selectbox(key="build_fill").set_value("zero").run()
    at.button[0].click().run()  # Preview
    assert not at.exception and not at.error
    assert any(m.label.startswith("Estimated") for m in at.metric)
    impact = at.get("plotly_chart")[-1].proto.spec  # the preview's column impact
    assert "promotion" in impact and "public holiday (US-CA)" in impact
    # a text target cannot be a time series: the option is not offered
    at.selectbox(key="build_target").select("store").run()
    assert "timeseries" not in at.selectbox(key="build_task").options

    df = empty_ws.load_dataset("store sales")
    fit = automl.AutoML(
        task="timeseries",
        time_column="date",
        series_columns=["store"],
        time_budget=600,
        max_trials=3,
    ).fit(df, "units_sold")
    name, version, path = empty_ws.new_model_path("sales forecast")
    fit.save(path)
    empty_ws.add_model(name, version, path, "store sales", fit.model_)
    assert empty_ws.list_models()[0].task == "timeseries"
    at = app("analyze")
    head = at.markdown[0].value  # the report's headline, with the simple forecast to beat
    assert "Forecasts **units_sold** up to 14 days ahead" in head
    assert "when forecasting simply by repeating the last" in head
    # the backtests' metrics per window and per series, and no "None" where a score is missing
    assert "**Metrics per window**" in texts(at)
    tables = [d.value for d in at.dataframe]
    per_series = next(t for t in tables if {"window", "series", "mase"} <= set(t.columns))
    assert set(per_series["series"]) == set(fit.model_.timeseries.series.keys)
    held = next(t for t in tables if {"forecast", "wql"} <= set(t.columns))
    assert held["wql"].iloc[0] and held["wql"].iloc[1:].eq("").all()
    at = app("predict")
    assert not at.exception
    assert "for 6 series" in texts(at)
    assert at.multiselect(key="fc_series_sales forecast@1").value == [
        "Harbor Point",
        "Maple Street",
        "Northgate Mall",
    ]
    at.number_input(key="fc_h_sales forecast@1").set_value(3).run()
    assert at.dataframe[0].value.shape[0] == 9  # 3 series x 3 days
    # the promotion's future values: until a plan is uploaded, its last known values
    assert "planned values of promotion" in texts(at)
    # what if: a promotion on every day ahead of one store
    at.selectbox(key="wi_series_sales forecast@1").set_value("Harbor Point")
    at.selectbox(key="wi_choice_sales forecast@1").set_value("yes").run()
    assert not at.exception and not at.error
    changed = [m for m in at.metric if m.label.startswith("Change in units_sold")]
    assert changed and float(changed[0].value.replace(",", "")) > 0


def uploaded_files(ws: Workspace) -> list[Path]:
    return [p for p in (ws.root / "uploads").rglob("*") if p.is_file()]


def test_import_page_deletes_an_upload_once_read_or_rejected(empty_ws: Workspace) -> None:
    at = app("import_data")
    rows = b"order_id,amount,region\n" + b"".join(
        f"{i},{i * 2.5},{'north' if i % 2 else 'south'}\n".encode() for i in range(30)
    )
    at.file_uploader(key="import_upload").upload("orders.csv", rows, "text/csv").run()
    assert not at.exception
    assert "30 rows, 3 columns" in texts(at)
    assert uploaded_files(empty_ws) == []  # read: the rows live on in the preview
    at.text_input(key="import_name").input("orders").run()
    at.button(key="import_save").click().run()
    assert empty_ws.get_dataset("orders").rows == 30 and uploaded_files(empty_ws) == []
    at.file_uploader(key="import_upload").upload("broken.csv", b"\x00\xff\xfe" * 500).run()
    assert not at.exception and at.error  # rejected, with a message
    assert uploaded_files(empty_ws) == []


def test_batch_prediction_deletes_the_upload_once_scored(use_trained: Workspace) -> None:
    df = use_trained.load_dataset("customer churn").drop(columns=["churned"]).head(25)
    at = app("predict")
    rows = df.to_csv(index=False).encode()
    at.file_uploader(key="predict_upload").upload("new rows.csv", rows, "text/csv").run()
    at.button(key="predict_run").click().run()
    assert not at.exception and "First 25 rows" in texts(at)
    assert uploaded_files(use_trained) == []


def test_app_start_deletes_what_stopped_sessions_left(empty_ws: Workspace) -> None:
    two_days_ago = time.time() - 2 * 86400
    old, recent = empty_ws.root / "uploads" / "a1b2c3", empty_ws.root / "uploads" / "d4e5f6"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "sales.csv").write_text("a,b\n1,2\n")
    old_scores = empty_ws.root / "predictions" / "a1b2c3-sales-scored.csv"
    old_scores.write_text("a,b,prediction\n1,2,yes\n")
    for p in (old / "sales.csv", old, old_scores):
        os.utime(p, (two_days_ago, two_days_ago))
    app()
    assert not old.exists() and not old_scores.exists()
    assert (recent / "sales.csv").exists()  # a session may still be reading it


def test_build_page_ignores_a_job_in_the_address_that_cannot_exist(empty_ws: Workspace) -> None:
    load_samples(empty_ws)
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["job"] = "99999999999999999999999"  # more than the catalog can hold
    at.switch_page("app_pages/build.py").run()
    assert not at.exception
    assert not any(s.value.startswith("Build ") for s in at.subheader)


def test_md_escapes_every_markdown_and_html_sign() -> None:
    from app.ui import md

    leak = "![x](http://evil.example/leak.png) <a href='https://evil.example'>**b**</a> www.x.io"
    out = md(leak)
    assert shown(out).replace("\u200b", "") == leak  # shown as typed
    assert not re.search(r"(?<!\\)[!\[\]<>*:]", out)  # every sign is escaped
    assert "http\\:\u200b//evil" in out and "www\u200b.x" in out  # no address is a link
    assert md("1. first") == "1\\. first" and md("- item").startswith("\\-")
    assert md("line\nbreak") == "line break"
    assert md("**Predicts** ![x](y)", bold=True) == "**Predicts** \\!\\[x\\](y)"


def test_prepare_page_after_saving_shows_the_new_version_and_rejected_fixes(
    empty_ws: Workspace,
) -> None:
    from tests.conftest import make_table

    df = make_table(300, 3)
    df.loc[[3, 50], "income"] = [5e6, 8e6]
    empty_ws.add_dataset("customers", df, "t")
    at = app("prepare")
    at.selectbox(key="prep_target").set_value("churn").run()
    at.button(key="prep_find").click().run()
    assert "Far outliers in income" in texts(at) and "clip them down to" in texts(at)
    at.selectbox(key="prep_fix_outliers:income").set_value("keep").run()
    body = texts(at)
    assert "clip them down to" not in body
    assert "far outside the usual range of the column" in body and "Rejected" in body
    at.button(key="prep_apply_fixes").click().run()
    assert "Clip" not in texts(at)
    at.button(key="prep_save").click().run()
    assert not at.exception, at.exception
    body = texts(at)
    assert "Saved **customers** version 2" in body
    assert "Version 2: 300 rows" in body and "Version 1" not in body
    assert "No steps yet" in body  # a new recipe for the new version
    assert not [b for b in at.button if b.key == "prep_save"]
    assert empty_ws.get_dataset("customers").version == 2


def test_import_warns_when_a_table_is_too_small_to_build_on(
    empty_ws: Workspace, tmp_path: Path
) -> None:
    import sqlite3

    import pandas as pd

    db = tmp_path / "one.db"
    with sqlite3.connect(db) as conn:
        pd.DataFrame({"a": [1], "b": ["x"]}).to_sql("one", conn, index=False)
    at = app("import_data")
    at.text_input(key="db_url").input(f"sqlite:///{db}").run()
    at.button(key="db_read").click().run()
    body = texts(at)
    assert "1 row, 2 columns" in body and "1 rows" not in body
    assert "a model needs at least 20 rows" in body
    at.button(key="db_save").click().run()
    assert "(version 1, 1 row)" in texts(at) and "Join" in texts(at)


def test_analyze_leaderboard_and_messages_in_words(use_trained: Workspace) -> None:
    at = app("analyze")
    board = next(d.value for d in at.dataframe if "kind of model" in d.value.columns)
    heads = " ".join(board.columns)
    assert "validation ROC AUC" in heads and "prediction time (ms per 1,000 rows)" in heads
    assert "_" not in heads
    assert not board.isna().any().any() and "None" not in board.astype(str).to_numpy()
    assert "LightGBM (gradient-boosted trees)" in set(board["kind of model"])
    assert "TreeSHAP" not in texts(at) and "np.float64" not in texts(at)
    assert all(o.startswith("Model ") for o in at.selectbox(key="analyze_default").options)


def test_models_page_starts_and_stops_a_prediction_service(use_trained: Workspace) -> None:
    import httpx

    from automl.serve import launcher

    at = app("models")
    assert not at.exception
    at.button(key="models_serve_start").click().run(timeout=180)
    assert not at.exception and not at.error, [e.value for e in at.error]
    (svc,) = launcher.services(use_trained)
    assert svc.model == "churn model" and svc.url in texts(at)
    code = at.code[0].value
    assert code.startswith(f"curl -s {svc.url}/predict") and '"tenure_months"' in code
    body = json.loads(code.split("-d '", 1)[1].rsplit("'", 1)[0])
    answer = httpx.post(f"{svc.url}/predict", json=body, timeout=60)
    assert answer.status_code == 200 and answer.json()["model"] == "churn model@1"
    at = app("models")  # a reload shows it running
    assert svc.url in texts(at)
    at.button(key="models_serve_stop").click().run()
    assert not at.exception and launcher.services(use_trained) == []
    assert not svc.alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{svc.url}/health", timeout=5)
    assert "Start a prediction service" in [b.label for b in at.button]


def test_models_page_service_means_the_production_version(
    trained_ws: Workspace, empty_ws: Workspace
) -> None:
    import shutil

    import httpx

    from automl.serve import launcher

    source = trained_ws.model_dir(trained_ws.get_model("churn model"))
    for _ in range(2):
        name, version, path = empty_ws.new_model_path("churn model")
        shutil.copytree(source, path)
        empty_ws.add_model(name, version, path, "customer churn", automl.load(path))
    empty_ws.set_stage("churn model", 1, "production")  # version 2 is newer, a draft
    at = app("models")
    assert "answers with the version in production" in texts(at)
    assert "newest version, and" not in texts(at)
    at.button(key="models_serve_start").click().run(timeout=180)
    assert not at.exception and not at.error, [e.value for e in at.error]
    try:
        (svc,) = launcher.services(empty_ws)
        assert "with version 1 (in production)" in texts(at)
        body = json.loads(at.code[0].value.split("-d '", 1)[1].rsplit("'", 1)[0])
        answer = httpx.post(f"{svc.url}/predict", json=body, timeout=60)
        assert answer.status_code == 200 and answer.json()["model"] == "churn model@1"
    finally:
        for running in launcher.services(empty_ws):
            launcher.stop_service(empty_ws, running.id)


def test_failed_automation_on_home_and_paused_on_its_page(
    empty_ws: Workspace, tmp_path: Path
) -> None:
    from automl.automations import AutomationStore, add_refresh, run_due
    from automl.workspace.data import import_dataset

    csv = tmp_path / "sales.csv"
    pd.DataFrame({"region": ["north", "south"] * 15, "amount": range(30)}).to_csv(csv, index=False)
    import_dataset(empty_ws, csv, "sales")
    auto = add_refresh(empty_ws, "sales", "1h", now=0.0)  # due long ago
    csv.unlink()
    [outcome] = run_due(empty_ws)
    assert not outcome.ok
    at = app()
    assert "Automations that failed" in [h.value for h in at.subheader]
    assert f"Automation {auto.id} (refresh sales every hour) failed" in texts(at)
    assert "File not found" in texts(at)
    at = app("automations")
    table = at.dataframe[0].value
    assert list(table["what it does"]) == ["refresh sales every hour"]
    assert list(table["status"]) == ["last run failed"]
    at.button(key="automations_pause").click().run()
    assert not at.exception and AutomationStore(empty_ws).get(auto.id).paused
    # a paused one is no longer listed
    assert "Automations that failed" not in [h.value for h in app().subheader]
    at = app("automations")
    at.button(key="automations_delete").click().run()
    assert AutomationStore(empty_ws).own() == []


def test_automations_page_adds_a_scoring(use_trained: Workspace) -> None:
    from automl.automations import AutomationStore

    at = app("automations")
    at.selectbox(key="automations_score_dataset").set_value("customer churn")
    at.selectbox(key="automations_score_model").set_value("churn model")
    at.text_input(key="automations_score_out").set_value("churn scored")
    submit = [b for b in at.button if b.label == "Add"][0]  # the first form: scoring
    submit.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [auto] = AutomationStore(use_trained).own()
    assert auto.what() == (
        "score each new version of customer churn with churn model, into churn scored"
    )
    # the list shows it at once, beside what was done (not "No automations yet")
    assert f"Added automation {auto.id}" in texts(at)
    assert "No automations yet" not in texts(at)
    assert at.selectbox(key="automations_pick").value == auto.id
    AutomationStore(use_trained).delete(auto.id)


def test_build_suggests_a_model_name_it_accepts_for_a_target_with_markup(
    empty_ws: Workspace,
) -> None:
    """A target named 'units <i>sold</i>' made a suggested model name the build refused."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"size": rng.normal(size=60), "units <i>sold</i>": rng.normal(size=60)})
    empty_ws.add_dataset("shop", df, "test")
    at = app("build")
    at.selectbox(key="build_dataset").select("shop").run()
    at.selectbox(key="build_target").select("units <i>sold</i>").run()
    assert at.text_input(key="build_name").value == "shop - units sold"
    check_name(at.text_input(key="build_name").value, "model")
