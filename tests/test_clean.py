"""Auto-clean (findings with counts, accept/change/reject, report, target never imputed), the
CLI, and a recipe stored in a model and replayed on raw rows at prediction time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl.cli import main
from automl.errors import ParameterError, SchemaError
from automl.prep.clean import auto_clean, find_issues
from automl.prep.recipe import ChangeType, DropMissingRows, FillMissing, FilterRows, Formula, Recipe
from automl.workspace import Workspace
from tests.conftest import make_table


def messy(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "income": rng.normal(50_000, 8_000, n),
            "age": rng.integers(18, 80, n).astype(float),
            "plan": rng.choice(["basic", "pro"], n),
            "mostly_empty": np.where(rng.random(n) < 0.8, np.nan, 1.0),
            "target": rng.normal(0, 1, n),
        }
    )
    df.loc[[3, 7, 11], "income"] = [5e6, -4e6, 9e6]
    df.loc[[5, 6], "age"] = np.nan
    df.loc[[8], "plan"] = None
    df.loc[[9, 10], "target"] = np.nan
    df.loc[200] = [5e6, 30.0, "basic", np.nan, 4e3]  # far outlier in the target too
    return pd.concat([df, df.iloc[[0, 1]]], ignore_index=True)  # two duplicate rows


def test_findings_with_counts_and_proposals() -> None:
    found = {f.id: f for f in find_issues(messy(), target="target")}
    assert found["duplicates"].count == 2 and found["duplicates"].action == "remove"
    assert found["missing:age"].count == 2 and found["missing:age"].action == "median"
    assert found["missing:plan"].action == "mode"
    assert found["missing:mostly_empty"].action == "drop_column"
    assert found["missing:target"].kind == "missing_target"
    assert found["missing:target"].action == "drop_rows"
    assert found["outliers:income"].count == 4 and found["outliers:income"].action == "clip"
    assert found["outliers:target"].action == "keep"  # reported, never changed by default
    assert "far outside the usual range" in found["outliers:income"].detail


def test_apply_accept_change_reject_and_report() -> None:
    df = messy()
    res = auto_clean(
        df,
        target="target",
        decisions={
            "missing:age": "constant",
            "outliers:income": "keep",
            "missing:plan": "drop_rows",
        },
        values={"missing:age": 0},
    )
    out = res.data
    assert len(out) == len(df) - 2 - 2 - 1  # duplicates, missing target, missing plan
    assert "mostly_empty" not in out.columns
    assert out["age"].isna().sum() == 0 and (out["age"] == 0).sum() == 2
    assert out["income"].max() == 9e6  # outlier fix rejected
    assert out["target"].notna().all()
    lines = res.summary()
    assert any("Remove duplicate rows" in line and "2 rows removed" in line for line in lines)
    assert any("missing age" in line and "2 cells changed" in line for line in lines)
    # the input is untouched
    assert df["age"].isna().sum() == 2


def test_target_is_never_imputed_and_bad_decisions_are_clear() -> None:
    df = messy()
    with pytest.raises(ParameterError, match="'median' is not a fix for missing:target"):
        auto_clean(df, target="target", decisions={"missing:target": "median"})
    with pytest.raises(ParameterError, match="No finding with id missing:nope"):
        auto_clean(df, decisions={"missing:nope": "keep"})
    with pytest.raises(ParameterError, match="needs the value"):
        auto_clean(df, decisions={"missing:age": "constant"})
    clean = auto_clean(pd.DataFrame({"a": [1, 2, 3]}))
    assert clean.findings == [] and len(clean.data) == 3


def test_cli_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = tmp_path / "ws"
    ws = Workspace(w)
    ws.add_dataset("messy", messy(), "test")
    assert main(["clean", "messy", "--target", "target", "--workspace", str(w)]) == 0
    out = capsys.readouterr().out
    assert "found" in out and "nothing changed" in out and "missing:age" in out
    code = main(
        [
            "clean",
            "messy",
            "--target",
            "target",
            "--auto",
            "--name",
            "tidy",
            "--fix",
            "missing:plan=constant:unknown",
            "--fix",
            "outliers:income=remove",
            "--workspace",
            str(w),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "saved tidy version 1" in out
    tidy = ws.load_dataset("tidy")
    assert (tidy["plan"] == "unknown").sum() == 1 and tidy["income"].max() < 1e6
    rec = ws.get_dataset("tidy")
    assert rec.lineage["kind"] == "recipe" and rec.lineage["from"] == "messy@1"
    assert main(["clean", "messy", "--auto", "--workspace", str(w)]) == 2
    assert "--name" in capsys.readouterr().err
    assert (
        main(["clean", "messy", "--auto", "--name", "x", "--fix", "bad", "--workspace", str(w)])
        == 2
    )


def test_model_replays_recipe_on_raw_rows(tmp_path: Path) -> None:
    df = make_table(400, 2)
    df["income"] = df["income"].map(lambda v: f"${v:,.2f}", na_action="ignore")
    recipe = Recipe(
        [
            ChangeType("income", "number"),
            FillMissing("income", "median"),
            Formula("income_per_year", "income / age"),
            FilterRows("age < 75"),
            DropMissingRows(["churn"]),
        ]
    )
    model = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(df, "churn", recipe=recipe)
    m = model.model_
    assert m.input_columns[:2] == ["income", "age"]
    assert "income_per_year" in [c.name for c in m.meta.columns]
    assert m.rows.total == int((df["age"] < 75).sum())
    m.save(tmp_path / "m")
    loaded = automl.load(tmp_path / "m")
    raw = make_table(50, 9).drop(columns=["churn"])
    raw["income"] = raw["income"].map(lambda v: f"${v:,.2f}", na_action="ignore")
    pred = loaded.predict(raw)
    assert len(pred) == 50  # every row gets a prediction: the filter is training-only
    np.testing.assert_array_equal(pred, m.predict(raw))
    assert loaded.input_columns[:2] == ["income", "age"]
    with pytest.raises(SchemaError, match="missing 1 column.*age"):
        loaded.predict(raw.drop(columns=["age"]))
    table, _ = loaded.predict_table(raw)
    assert list(table.columns[: raw.shape[1]]) == list(raw.columns)
    saved = json.loads((tmp_path / "m" / "easel_model.json").read_text())
    assert saved["recipe"]["steps"][1]["fitted_value"] > 0


def test_recipe_that_drops_the_target_is_refused() -> None:
    from automl.errors import DataError
    from automl.prep.recipe import DropColumns

    with pytest.raises(DataError, match="removes or renames the target 'churn'"):
        automl.AutoML(time_budget=600, max_trials=1).fit(
            make_table(100), "churn", recipe=Recipe([DropColumns(["churn"])])
        )


def test_placeholders_are_offered_as_missing() -> None:
    df = pd.DataFrame(
        {
            "age": [30.0, 40.0, -999.0, 50.0, -999.0] * 40,
            "city": ["Paris", "N/A", "Rome", "?", "Oslo"] * 40,
            "y": [0, 1] * 100,
        }
    )
    found = {f.id: f for f in find_issues(df, target="y")}
    assert found["placeholder:age"].count == 80 and found["placeholder:age"].action == "replace"
    assert found["placeholder:city"].count == 80
    out = auto_clean(df, target="y").data
    assert out["age"].isna().sum() == 0  # replaced, then filled with the median of the rest
    assert (out["age"] == -999).sum() == 0 and out["age"].median() == 40.0
    assert not out["city"].isin(["N/A", "?"]).any()
    kept = auto_clean(df, target="y", decisions={"placeholder:age": "keep"}).data
    assert (kept["age"] == -999).sum() == 4  # 10 distinct rows remain after removing duplicates


def test_columns_a_recipe_drops_are_not_needed_to_predict() -> None:
    from automl.prep.recipe import DropColumns

    df = make_table(300, 4)
    recipe = Recipe([DropColumns(["notes", "city"]), FillMissing("income", "median")])
    model = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(df, "churn", recipe=recipe)
    m = model.model_
    assert "notes" not in m.input_columns and "city" not in m.input_columns
    rows = make_table(20, 5).drop(columns=["churn", "notes", "city"])
    assert len(m.predict(rows)) == 20
    assert len(m.predict(make_table(20, 5).drop(columns=["churn"]))) == 20  # extra columns fine


def test_a_rejected_or_changed_fix_reads_as_chosen() -> None:
    from automl.prep.clean import finding_text, finding_title

    found = {f.id: f for f in find_issues(messy(), target="target")}
    outliers = found["outliers:income"]
    assert finding_title(outliers) == "Far outliers in income"
    assert "clip them" in finding_text(outliers, "clip")  # the proposal, as proposed
    rejected = finding_text(outliers, "keep")
    assert "clip" not in rejected and rejected.endswith("Rejected: they stay as they are.")
    assert rejected.startswith("4 values of income lie far outside the usual range")
    assert finding_text(found["missing:age"], "drop_rows").endswith("Chosen: remove the rows.")
    assert finding_title(found["duplicates"]) == "Duplicate rows"
    assert found["duplicates"].detail.startswith("2 rows are exact copies")


def test_duplicate_rows_count_as_pandas_does_in_little_memory():
    import numpy as np

    from automl.prep.clean import duplicate_rows

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 3, 500),
            "b": rng.choice(["x", "y", None], 500),
            "c": np.where(rng.random(500) < 0.3, np.nan, rng.integers(0, 2, 500)),
        }
    )
    assert duplicate_rows(df) == int(df.duplicated().sum()) > 0
    assert duplicate_rows(df.drop_duplicates()) == 0
    assert duplicate_rows(df.head(1)) == 0
    lists = pd.DataFrame({"a": [[1], [1], [2]]})  # values that cannot be hashed: as pandas
    assert duplicate_rows(lists) == int(lists.duplicated().sum()) == 1
