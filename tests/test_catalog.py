"""Dataset catalog from Python and the CLI: import from files, SQLite and PostgreSQL, versions,
show/list/delete, dataset:NAME wherever a command takes data, and no credentials stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import automl
from automl.cli import main
from automl.errors import EaselError
from automl.workspace import Workspace
from automl.workspace.data import import_dataset, load_data
from tests.conftest import make_table
from tests.pg_server import PgServer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    table = make_table(200, 1)
    csv = tmp_path / "customers.csv"
    table.to_csv(csv, index=False)
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        table.to_sql("customers", conn, index=False)
    return {"csv": csv, "db": db}


def test_python_import_versions_and_lineage(tmp_path: Path, files: dict[str, Path]) -> None:
    ws = Workspace(tmp_path / "ws")
    first = import_dataset(ws, files["csv"], "customers")
    second = import_dataset(ws, f"sqlite:///{files['db']}", "customers", table="customers")
    assert (first.version, second.version) == (1, 2)
    assert second.source.startswith("sqlite:///") and "table customers" in second.source
    assert second.lineage["options"] == {"table": "customers"}
    back = load_data("dataset:customers@1", ws)
    assert len(back) == 200 and list(back.columns) == list(make_table(200, 1).columns)
    pd.testing.assert_frame_equal(load_data("dataset:customers", ws), ws.load_dataset("customers"))
    assert len(ws.preview_dataset("customers", rows=5)) == 5
    assert [v.version for v in ws.dataset_versions("customers")] == [2, 1]
    with pytest.raises(EaselError, match="no version 7. Versions: 2, 1"):
        ws.get_dataset("customers", 7)
    assert ws.delete_dataset("customers", 1) == 1
    assert [v.version for v in ws.dataset_versions("customers")] == [2]


def test_cli_import_list_show_delete(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    w = str(tmp_path / "ws")
    code, out, _ = run(capsys, "import", str(files["csv"]), "--name", "cust", "--workspace", w)
    assert code == 0 and "version 1: 200 rows x 10 columns" in out
    q = "SELECT plan, COUNT(*) AS n FROM customers GROUP BY plan"
    code, out, _ = run(
        capsys,
        "import",
        f"sqlite:///{files['db']}",
        "--query",
        q,
        "--name",
        "plans",
        "--workspace",
        w,
    )
    assert code == 0 and "plans version 1" in out
    code, out, _ = run(capsys, "datasets", "list", "--workspace", w)
    assert code == 0 and "cust" in out and "plans" in out
    code, out, _ = run(capsys, "datasets", "show", "cust", "--rows", "3", "--workspace", w)
    assert code == 0
    assert "version: 1" in out and "rows: 200   columns: 10" in out
    assert "schema:" in out and "churn" in out and "first 3 rows:" in out
    code, _, err = run(capsys, "datasets", "show", "cus", "--workspace", w)
    assert code == 2 and "Did you mean 'cust'" in err
    code, out, _ = run(capsys, "datasets", "delete", "plans", "--workspace", w)
    assert code == 0 and "deleted plans" in out
    code, out, _ = run(capsys, "datasets", "list", "--workspace", w)
    assert "plans" not in out


def test_cli_user_errors_exit_2(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    w = str(tmp_path / "ws")
    url = f"sqlite:///{files['db']}"
    cases = [
        (["import", url, "--name", "x"], "needs a table"),
        (["import", url, "--name", "x", "--query", "DELETE FROM customers"], "starts with DELETE"),
        (["import", url, "--name", "x", "--table", "nope"], "no table named 'nope'"),
        (["import", str(files["csv"]), "--name", "x", "--table", "t"], "is a file"),
        (["import", str(files["csv"]), "--name", "../x"], "name '../x' is not allowed"),
        (
            ["import", url, "--name", "x", "--table", "customers", "--password-env", "NOPE_X"],
            "NOPE_X",
        ),
    ]
    for argv, fragment in cases:
        code, _, err = run(capsys, *argv, "--workspace", w)
        assert code == 2, argv
        assert fragment in err.replace("\n", " "), (argv, err)
        assert "Traceback" not in err


def test_dataset_reference_in_train_preview_and_predict(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    w = str(tmp_path / "ws")
    assert run(capsys, "import", str(files["csv"]), "--name", "cust", "--workspace", w)[0] == 0
    code, out, _ = run(capsys, "preview", "dataset:cust", "--target", "churn", "--workspace", w)
    assert code == 0 and "estimated" in out
    model = tmp_path / "m"
    code, _, err = run(
        capsys,
        "train",
        "dataset:cust@1",
        "--target",
        "churn",
        "--out",
        str(model),
        "--max-trials",
        "2",
        "--time-budget",
        "600",
        "--no-reports",
        "--quiet",
        "--workspace",
        w,
    )
    assert code == 0, err
    out_csv = tmp_path / "pred.csv"
    code, out, err = run(
        capsys,
        "predict",
        str(model),
        "dataset:cust",
        "--out",
        str(out_csv),
        "--quiet",
        "--workspace",
        w,
    )
    assert code == 0, err
    assert len(pd.read_csv(out_csv)) == 200


def test_postgres_import_keeps_no_password(
    tmp_path: Path,
    pg: PgServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = tmp_path / "ws"
    monkeypatch.setenv("SALES_DB_PASSWORD", pg.password)
    code, out, err = run(
        capsys,
        "import",
        pg.url(password=False),
        "--table",
        "sales.orders",
        "--name",
        "orders",
        "--password-env",
        "SALES_DB_PASSWORD",
        "--workspace",
        str(w),
    )
    assert code == 0, err
    assert "300 rows x 4 columns" in out
    # a password inside the URL is masked too
    code, out, err = run(
        capsys,
        "import",
        pg.url(),
        "--query",
        "SELECT * FROM customers WHERE region = 'north'",
        "--name",
        "north",
        "--workspace",
        str(w),
    )
    assert code == 0, err
    assert pg.password not in out
    for f in w.rglob("*"):
        if f.is_file():
            assert pg.password.encode() not in f.read_bytes(), f
    ws = Workspace(w)
    assert "***" in ws.get_dataset("north").source


def test_train_on_a_prepared_dataset_replays_its_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.prep.recipe import Formula, Recipe

    ws = Workspace(tmp_path / "ws")
    raw = make_table(200, 6)
    ws.add_dataset("raw", raw, "test")
    recipe = Recipe([Formula("income_per_age", "income / age")])
    prepared = Recipe.from_dict(recipe.to_dict()).fit_apply(raw)
    ws.add_dataset(
        "prepared",
        prepared,
        "t",
        lineage={"kind": "recipe", "from": "raw@1", "recipe": recipe.to_dict()},
    )
    out = tmp_path / "m"
    code = main(
        [
            "train",
            "dataset:prepared",
            "--target",
            "churn",
            "--out",
            str(out),
            "--max-trials",
            "2",
            "--time-budget",
            "600",
            "--no-reports",
            "--workspace",
            str(tmp_path / "ws"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "training on raw rows of raw@1 with the 1-step recipe" in err
    model = automl.load(out)
    assert model.recipe is not None and "income_per_age" not in model.input_columns
    assert len(model.predict(raw.drop(columns=["churn"]).head(10))) == 10


@pytest.mark.parametrize(
    "name", ["jobs + workers", "R&D (2024)", "(old) churn", "north_v1.2-final", "Café crème"]
)
def test_names_allow_signs_analysts_use(tmp_path: Path, name: str) -> None:
    ws = Workspace(tmp_path / "ws")
    assert ws.add_dataset(name, pd.DataFrame({"a": [1, 2]}), "t").name == name
    model_name, _, _ = ws.new_model_path(name)
    assert model_name == name


@pytest.mark.parametrize(
    "name", ["a/b", "a\\b", "a@1", ".hidden", " ", "-x", "tab\there", "new\nline", "x" * 65]
)
def test_names_refuse_paths_versions_and_control_characters(tmp_path: Path, name: str) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(EaselError, match="is not allowed: use 1 to 64 letters"):
        ws.add_dataset(name, pd.DataFrame({"a": [1, 2]}), "t")
    with pytest.raises(EaselError, match="is not allowed"):
        ws.new_model_path(name)


def test_model_zip_holds_the_folders_own_files_never_a_linked_one(tmp_path: Path) -> None:
    import io
    import zipfile

    ws = Workspace(tmp_path / "ws")
    name, version, path = ws.new_model_path("m")
    automl.AutoML(max_trials=2, seed=0).fit(make_table(120), "churn").save(path)
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2")
    (path / "notes.txt").symlink_to(secret)  # a link inside a model folder is never followed
    ws.add_model(name, version, path, "d", automl.load(path))
    names = zipfile.ZipFile(io.BytesIO(ws.export_model("m", 1))).namelist()
    assert "m-v1/easel_model.json" in names
    assert "m-v1/notes.txt" not in names
