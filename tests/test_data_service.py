"""The data service: one set of functions behind the CLI and every page, one lineage vocabulary,
and what a build trains on for each kind of dataset version."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import automl
from automl.cli import main
from automl.errors import EaselError, ParameterError
from automl.prep.join import JoinSpec
from automl.prep.recipe import Formula, Recipe, sample_for_preview
from automl.workspace import Workspace, lineage
from automl.workspace.data import (
    apply_recipe,
    clean_dataset,
    cleaning_steps,
    find_issues,
    import_dataset,
    join_datasets,
    prepare_dataset,
    read_source,
    read_upload,
    resolve,
    save_source,
    store_upload,
    training_input,
)
from tests.conftest import make_table

ROOT = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"seconds|_at$|^timings$|_ms_")


def messy_csv(path: Path) -> Path:
    """A table with missing values, far outliers, a stand-in value and duplicate rows."""
    df = make_table(260, 11)
    rng = np.random.default_rng(3)
    df.loc[rng.random(len(df)) < 0.08, "age"] = np.nan
    df.loc[[5, 40, 77], "income"] = [4e6, 9e6, 2.5e7]
    df.loc[[3, 9], "city"] = "N/A"
    df = pd.concat([df, df.iloc[10:14]], ignore_index=True)
    df.to_csv(path, index=False)
    return path


def strip_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items() if not TIMING.search(str(k))}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value


def prepare_page_clean(ws: Workspace, name: str, target: str, new_name: str) -> None:
    """What the Prepare page does for "Find issues", "Add these fixes" (proposed fixes kept) and
    "Apply to all rows and save", through the same functions."""
    rec = ws.get_dataset(name)
    raw = ws.load_dataset(rec.name, rec.version)
    sample = sample_for_preview(raw, 5000)
    recipe = Recipe()
    prepared, _ = apply_recipe(recipe, sample)
    findings = find_issues(prepared, target)
    for _f, _action, step in cleaning_steps(findings, {}, {}):
        recipe.add(step)
    apply_recipe(recipe, sample)
    prepare_dataset(ws, f"{rec.name}@{rec.version}", recipe, new_name)


def test_cli_and_prepare_page_cleaning_train_the_same_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = str(tmp_path / "ws")
    csv = messy_csv(tmp_path / "customers.csv")
    assert main(["import", str(csv), "--name", "customers", "--workspace", w]) == 0
    argv = ["clean", "customers", "--target", "churn", "--auto", "--name", "cli clean"]
    assert main([*argv, "--workspace", w]) == 0
    out = capsys.readouterr().out
    assert (
        "Remove duplicate rows [remove]: 4 rows removed" in out
        and "takes raw rows of customers@1" in out
    )
    ws = Workspace(w)
    prepare_page_clean(ws, "customers", "churn", "app clean")

    cli, app = ws.get_dataset("cli clean"), ws.get_dataset("app clean")
    assert cli.lineage["kind"] == app.lineage["kind"] == lineage.RECIPE
    assert cli.lineage["from"] == app.lineage["from"] == "customers@1"
    assert cli.lineage["recipe"]["steps"] == app.lineage["recipe"]["steps"]
    kinds = [s["kind"] for s in app.lineage["recipe"]["steps"]]
    assert {"drop_duplicates", "clip", "fill_missing"} <= set(kinds), kinds
    pd.testing.assert_frame_equal(ws.load_dataset("cli clean"), ws.load_dataset("app clean"))

    models = []
    for name in ("cli clean", "app clean"):
        df, recipe, note = training_input(ws, name)
        assert recipe is not None and note.startswith("raw rows of customers@1")
        assert len(df) == 264  # raw rows: duplicates and all
        models.append(
            automl.AutoML(time_budget=300, seed=0, max_trials=2).fit(df, "churn", recipe=recipe)
        )
    raw = pd.read_csv(csv).drop(columns=["churn"])
    a, b = models
    np.testing.assert_array_equal(a.predict(raw), b.predict(raw))
    np.testing.assert_array_equal(a.predict_proba(raw), b.predict_proba(raw))
    cols = [c for c in a.leaderboard.columns if not TIMING.search(c)]
    pd.testing.assert_frame_equal(a.leaderboard[cols], b.leaderboard[cols])
    assert strip_timings(a.model_.meta.to_dict()) == strip_timings(b.model_.meta.to_dict())
    recipe = a.model_.meta.recipe
    assert recipe and recipe["steps"]  # the model replays the cleaning on raw rows


def test_legacy_clean_lineage_is_read_like_a_recipe(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    raw = make_table(120, 4)
    ws.add_dataset("raw", raw, "t")
    recipe = Recipe([Formula("income_per_age", "income / age")], target="churn")
    cleaned = Recipe.from_dict(recipe.to_dict()).fit_apply(raw)
    old = {"kind": "clean", "from": "raw@1", "recipe": recipe.to_dict(), "changes": ["..."]}
    ws.add_dataset("old clean", cleaned, "cleaned raw@1", lineage=old)
    df, rec_recipe, note = training_input(ws, "old clean")
    assert len(df) == 120 and "income_per_age" not in df.columns
    assert rec_recipe is not None and len(rec_recipe) == 1 and "raw@1" in note
    assert "older Easel" in lineage.describe(ws.get_dataset("old clean").lineage)
    # without a recorded recipe: the stored rows, as older versions trained
    ws.add_dataset("bare", cleaned, "t", lineage={"kind": "clean", "from": "raw@1"})
    df, rec_recipe, _ = training_input(ws, "bare")
    assert rec_recipe is None and "income_per_age" in df.columns
    # the source is gone: the stored rows, with a note
    ws.delete_dataset("raw")
    df, rec_recipe, note = training_input(ws, "old clean")
    assert rec_recipe is None and "income_per_age" in df.columns and "is gone" in note


def test_prepared_of_prepared_trains_on_the_first_raw_rows(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.add_dataset("raw", make_table(100, 5), "t")
    prepare_dataset(ws, "raw", Recipe([Formula("a", "income / age")]), "step1")
    prepare_dataset(ws, "dataset:step1@1", Recipe([Formula("b", "a * 2")]), "step2")
    df, recipe, note = training_input(ws, "step2")
    assert recipe is not None and [s.kind for s in recipe.steps] == ["formula", "formula"]
    assert "a" not in df.columns and note.startswith("raw rows of raw@1 with the 2-step")
    out = Recipe.from_dict(recipe.to_dict()).fit_apply(df)
    pd.testing.assert_series_equal(out["b"], ws.load_dataset("step2")["b"])


def test_import_preview_then_save_records_no_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    ws = Workspace(tmp_path / "ws")
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        make_table(50, 1).to_sql("customers", conn, index=False)
    seen: list[int] = []
    src = read_source(f"sqlite:///{db}", table="customers", limit=30, progress=seen.append)
    assert src.rows == 30 and seen and src.options == {"table": "customers", "limit": 30}
    assert ws.list_datasets() == []  # reading saves nothing
    rec = save_source(ws, src, "shop", column_types={"age": "categorical"})
    assert src.location == f"sqlite:///{db}"  # where a scheduled refresh reads it again
    assert rec.lineage == lineage.import_lineage(
        src.source, src.options, {"age": "categorical"}, src.location
    )
    monkeypatch.delenv("EASEL_TEST_NO_SUCH_VAR", raising=False)
    with pytest.raises(ParameterError, match="EASEL_TEST_NO_SUCH_VAR"):
        read_source(f"sqlite:///{db}", table="customers", password_env="EASEL_TEST_NO_SUCH_VAR")
    with pytest.raises(ParameterError, match="not allowed"):
        import_dataset(ws, db, "../x")  # the name is checked before reading
    path = store_upload(ws, "../../evil name?.csv", b"a,b\n1,2\n3,4\n", "../session")
    assert path.parent.parent == ws.root / "uploads" and path.name == "evil name_.csv"
    assert resolve(ws, "dataset:shop@1").rows == 30
    with pytest.raises(EaselError, match="no version 7"):
        resolve(ws, "shop@7")


def test_join_clean_and_prepare_refuse_clearly(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.add_dataset("a", pd.DataFrame({"k": [1, 2], "x": [1.0, None]}), "t")
    ws.add_dataset("b", pd.DataFrame({"k": [3, 4], "y": [1, 2]}), "t")
    with pytest.raises(EaselError, match="no rows"):
        join_datasets(ws, "a", "b", JoinSpec.on("k"), "ab")
    rec, pv = join_datasets(ws, "a", "dataset:b@1", JoinSpec.on("k", "outer"), "ab")
    assert rec.lineage == {
        "kind": lineage.JOIN,
        "left": "a@1",
        "right": "b@1",
        "left_on": ["k"],
        "right_on": ["k"],
        "how": "outer",
    }
    assert pv.rows == 4 and "outer join of a@1 and b@1" in lineage.describe(rec.lineage)
    with pytest.raises(ParameterError, match="nothing to prepare"):
        prepare_dataset(ws, "a", Recipe(), "a2")
    with pytest.raises(ParameterError, match="Every fix was rejected"):
        clean_dataset(ws, "a", "a2", decisions={"missing:x": "keep"})
    with pytest.raises(ParameterError, match="x with a constant needs the value"):
        cleaning_steps(find_issues(ws.load_dataset("a")), {"missing:x": "constant"}, {})


def test_workspace_layer_imports_nothing_above_it() -> None:
    """automl/workspace sits below training and the public API; the build runner lives above."""
    banned = ("automl.automl", "automl.training", "automl.model", "automl.builds")
    for path in sorted((ROOT / "automl" / "workspace").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
                if node.module == "automl":
                    names = [f"automl.{a.name}" for a in node.names]
            for name in names:
                assert name != "automl", f"{path.name} imports the automl package"
                assert not name.startswith(banned), f"{path.name} imports {name}"
                if name.startswith("automl."):
                    top = name.split(".")[1]
                    allowed = (
                        "prep",
                        "artifact",
                        "errors",
                        "progress",
                        "atomic",
                        "_version",
                        "words",
                        "workspace",
                    )
                    assert top in allowed, (
                        path.name,
                        name,
                    )
    jobs = (ROOT / "automl" / "workspace" / "jobs.py").read_text(encoding="utf-8")
    assert '"automl.builds"' in jobs  # started by name, as a process


def test_reading_a_text_file_says_how_it_was_read(tmp_path: Path) -> None:
    """The Import page says which separator, decimal mark and encoding it found."""
    eu = tmp_path / "eu.csv"
    eu.write_bytes("name;price\nKöln;1.234,5\nZürich;2,25\n".encode("cp1252"))
    src = read_upload(eu)
    assert src.data["price"].tolist() == [1234.5, 2.25]
    assert "semicolons between columns" in src.note
    assert (
        "a comma (1,5) as the decimal mark" in src.note and "points between thousands" in src.note
    )
    assert "Windows-1252" in src.note and "first row holds the column names" in src.note
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b\n1.5,2\n3,4\n", encoding="utf-8")
    note = read_source(plain).note
    assert "UTF-8, with commas between columns and a point (1.5) as the decimal mark" in note
    parquet = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(parquet)
    assert read_source(parquet).note == ""  # a typed file: nothing was guessed
