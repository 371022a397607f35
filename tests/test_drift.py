"""Drift on batch predictions: a shifted column is flagged, rows like the training rows are not,
unseen categories are counted, chunks merge, and the CLI prints and stores the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import automl
from automl.batch import drift_file, predict_file
from automl.cli import main
from automl.drift import DriftProfile, DriftReport
from automl.errors import ParameterError
from tests.conftest import make_table


@pytest.fixture(scope="module")
def model() -> Any:
    """A model of 2,000 rows: its 400 hold-out rows are the reference drift is measured on."""
    return (
        automl.AutoML(time_budget=600, seed=0, max_trials=2)
        .fit(make_table(2000, 0), target="churn")
        .model_
    )


@pytest.fixture(scope="module")
def saved(model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = model.save(tmp_path_factory.mktemp("drift") / "model")
    return path


def new_rows(seed: int = 7) -> pd.DataFrame:
    """Rows from the same distribution as the training rows (another sample)."""
    return make_table(3000, seed).drop(columns=["churn"])


def column(report: DriftReport, name: str) -> Any:
    return next(c for c in report.columns if c.name == name)


def test_rows_like_the_training_rows_have_no_drift(model: Any, tmp_path: Path) -> None:
    path = tmp_path / "same.csv"
    new_rows().to_csv(path, index=False)
    report = drift_file(model, path)
    assert report.verdict == "none" and report.rows == 3000, report.summary()
    assert not any(c.drifted for c in report.columns)
    assert report.summary().startswith("No drift: the 3,000 rows look like")


def test_a_shifted_number_is_flagged_with_its_column(model: Any, tmp_path: Path) -> None:
    rows = new_rows()
    rows["age"] = rows["age"] + 25  # customers 25 years older than any the model saw
    path = tmp_path / "older.csv"
    rows.to_csv(path, index=False)
    report = drift_file(model, path, chunk_rows=700)  # five chunks, merged
    assert report.verdict == "severe"
    first = report.columns[0]
    assert (first.name, first.level, first.drifted) == ("age", "severe", True)
    assert first.psi > 1 and first.out_of_range_share is not None
    assert first.out_of_range_share > 0.3
    assert [c.name for c in report.moved()] == ["age"]  # the others did not move
    assert "Severe drift" in report.summary() and "age (" in report.summary()
    whole = drift_file(model, path)  # the counts of chunks add up to the counts of the file
    assert whole.to_dict() == report.to_dict()


def test_a_small_shift_is_some_drift(model: Any) -> None:
    rows = new_rows()
    rows["income"] = rows["income"] * 1.19  # a fifth more: a change, not a large one
    counts = DriftProfile.from_model(model).counter()
    counts.add(model.prepare(rows))
    report = counts.report()
    assert report.verdict == "some", report.to_dict()
    assert column(report, "income").level == "some" and report.moved()[0].name == "income"


def test_unseen_categories_and_missing_values_are_counted(model: Any) -> None:
    rows = new_rows()
    rng = np.random.default_rng(1)
    new_city = rng.random(len(rows)) < 0.25
    rows.loc[new_city, "city"] = "Springfield"  # a city the model never saw
    rows.loc[rng.random(len(rows)) < 0.5, "plan"] = None  # half the plans missing
    profile = DriftProfile.from_model(model)
    halves = [profile.counter(), profile.counter()]
    halves[0].add(rows.iloc[:1000])
    halves[1].add(rows.iloc[1000:])
    halves[0].merge(halves[1])  # chunks counted apart merge by adding up
    report = halves[0].report()
    city, plan = column(report, "city"), column(report, "plan")
    assert city.unseen_share == round(new_city.mean(), 4) and city.train_unseen_share == 0
    assert city.drifted and plan.drifted
    assert plan.missing_share > 0.45 and plan.train_missing_share < 0.15


def test_batch_scoring_measures_drift_as_it_scores(model: Any, tmp_path: Path) -> None:
    rows = new_rows()
    rows["age"] = rows["age"] - 40
    src = tmp_path / "young.csv"
    rows.to_csv(src, index=False)
    result = predict_file(model, src, tmp_path / "out.csv", chunk_rows=1000)
    assert result.drift is not None and result.drift.verdict == "severe"
    assert result.drift.columns[0].name == "age" and result.drift.rows == 3000
    assert result.drift.to_dict() == drift_file(model, src).to_dict()
    model_without = automl.load(model.save(tmp_path / "m"))
    model_without.holdout = None  # a model that kept no training rows: scored, drift not
    result = predict_file(model_without, src, tmp_path / "out2.csv")
    assert result.drift is None and "keeps no rows of its training data" in result.drift_note
    with pytest.raises(ParameterError, match="keeps no rows"):
        drift_file(model_without, src)


def test_cli_drift_json_and_the_report_beside_predictions(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = new_rows()
    rows["age"] = rows["age"] + 25
    src = tmp_path / "rows.csv"
    rows.to_csv(src, index=False)
    assert main(["drift", str(saved), str(src), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"verdict", "columns"} and printed["verdict"] == "severe"
    for c in printed["columns"]:
        assert isinstance(c["name"], str) and isinstance(c["psi"], float)
        assert isinstance(c["drifted"], bool)
    assert printed["columns"][0]["name"] == "age" and printed["columns"][0]["drifted"] is True
    assert main(["drift", str(saved), str(src)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("drift: Severe drift") and "outside the training range" in out

    scored = tmp_path / "scored.csv"
    assert main(["predict", str(saved), str(src), "--out", str(scored), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Severe drift" in out and "scored.csv.drift.json" in out
    stored = json.loads((tmp_path / "scored.csv.drift.json").read_text())
    assert stored == printed


def test_cli_drift_refuses_rows_without_the_models_columns(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "partial.csv"
    new_rows().drop(columns=["age", "plan"]).to_csv(src, index=False)
    assert main(["drift", str(saved), str(src)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "missing 2 columns the model was trained on: age, plan" in err
    assert "Traceback" not in err
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(new_rows().columns) + "\n")
    assert main(["drift", str(saved), str(empty)]) == 2
    assert "no rows" in capsys.readouterr().err
    assert main(["drift", str(saved), str(src), "--chunk-rows", "0"]) == 2
    assert "--chunk-rows must be a positive number" in capsys.readouterr().err


def test_a_model_with_changed_holdout_rows_is_scored_without_drift(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    folder = tmp_path / "changed"
    shutil.copytree(saved, folder)
    holdout = pd.read_parquet(folder / "holdout.parquet").drop(columns=["age"])
    holdout.to_parquet(folder / "holdout.parquet", index=False)
    src = tmp_path / "rows.csv"
    new_rows().head(50).to_csv(src, index=False)
    scored = tmp_path / "scored.csv"
    assert main(["predict", str(folder), str(src), "--out", str(scored), "--quiet"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "drift not measured: The model's hold-out rows (holdout.parquet) lack" in err
    assert scored.exists() and not (tmp_path / "scored.csv.drift.json").exists()
    assert main(["drift", str(folder), str(src)]) == 2
    assert "lack the column(s) age" in capsys.readouterr().err


def test_number_counts_equal_a_bin_per_value() -> None:
    """The counts of a number column (comparisons against each edge) are the counts of each
    value's bin, with missing values, infinities and values on an edge."""
    from automl.drift import _Column

    rng = np.random.default_rng(7)
    pool = [-np.inf, np.inf, np.nan, -1.0, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 9.0]
    for _ in range(300):
        values = pd.Series(rng.choice(pool, int(rng.integers(0, 40))).astype(float))
        edges = np.unique(rng.choice([0.0, 1.0, 2.0, 3.0], int(rng.integers(0, 5))))
        for kind in ("number", "boolean"):
            col = _Column("x", kind, np.zeros(len(edges) + 2, np.int64), edges=edges, low=0, high=3)
            bins, outside, _ = col.bins(values)
            counts, outside_counted, _ = col.count(values)
            assert counts.tolist() == np.bincount(bins, minlength=len(edges) + 2).tolist()
            assert outside_counted == outside
