"""Hostile targets, column types and budgets: refused before any model is trained, with a message
that names the real problem (not the time budget, not "not in the data", not a traceback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl.cli import main
from automl.errors import ParameterError, TargetError
from automl.task import detect_task
from automl.training.run import MIN_TIME_BUDGET


def numbers(bad: list[object], n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y: list[object] = list(rng.normal(100, 10, n))
    y[3 : 3 + len(bad)] = bad
    return pd.DataFrame({"x": rng.normal(size=n), "y": y})


# ------------------------------------------------------------------ non-finite targets (D4)
def test_infinite_targets_are_named_with_rows_and_values() -> None:
    with pytest.raises(
        TargetError,
        match="'y' has 3 value\\(s\\) that are not usable numbers: 2 row\\(s\\) infinitely large"
        ".* and 1 row\\(s\\) infinitely small \\(-inf\\); the first is in row 4",
    ):
        detect_task(numbers([np.inf, -np.inf, np.inf]), "y")
    text = numbers(["1e400"]).astype({"y": str})
    with pytest.raises(TargetError, match="1 value\\(s\\).*such as 1e400.*row 4"):
        detect_task(text, "y")


def test_fit_and_preview_report_an_infinite_target_not_the_budget() -> None:
    df = numbers([np.inf])
    with pytest.raises(TargetError, match="not usable numbers"):
        automl.AutoML(max_trials=2).fit(df, target="y")
    with pytest.raises(TargetError, match="not usable numbers"):
        automl.preview(df, "y")
    series = pd.DataFrame(
        {"date": pd.date_range("2024-01-01", periods=60).astype(str), "y": numbers([np.inf])["y"]}
    )
    with pytest.raises(TargetError, match="not usable numbers"):
        automl.AutoML(task="timeseries", time_column="date", max_trials=2).fit(series, "y")


def test_cli_preview_of_an_infinite_target_exits_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i * 1.5}\n" for i in range(40)) + "41,1e400\n")
    code = main(["preview", str(path), "--target", "y"])
    err = capsys.readouterr().err
    assert code == 2 and "not usable numbers" in err and "row 41" in err


# --------------------------------------------------------------- column_types of the target (D36)
def test_column_types_naming_the_target_says_so() -> None:
    df = numbers([])
    for run in (
        lambda: automl.AutoML(max_trials=2, column_types={"y": "categorical"}).fit(df, "y"),
        lambda: automl.preview(df, "y", column_types={"y": "categorical"}),
    ):
        with pytest.raises(ParameterError, match="names 'y', which is the target column") as e:
            run()
        assert "not in the data" not in str(e.value)


# --------------------------------------------------------------------------- budgets (D22)
@pytest.mark.parametrize("budget", [0.001, 1, MIN_TIME_BUDGET - 0.5])
def test_budgets_below_the_minimum_are_refused(budget: float) -> None:
    with pytest.raises(
        ParameterError,
        match="'time_budget' parameter of AutoML must be a positive number of seconds, at "
        f"least {MIN_TIME_BUDGET:g}",
    ):
        automl.AutoML(time_budget=budget).fit(numbers([]), "y")


def test_cli_refuses_a_tiny_budget_and_says_the_minimum(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.csv"
    numbers([]).to_csv(path, index=False)
    out = tmp_path / "m"
    code = main(["train", str(path), "--target", "y", "--time-budget", "0.001", "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "at least 5" in err and not out.exists()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "at least 5" in " ".join(capsys.readouterr().out.split())


def test_classes_of_five_rows_each_train():
    """20 rows of 4 classes leave 4 rows of each for the search after the hold-out: fewer
    cross-validation splits, not an error (found by the messy-files property test)."""
    import numpy as np
    import pandas as pd

    import automl

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=20), "t": [f"c{i % 4}" for i in range(20)]})
    model = automl.AutoML(max_trials=2).fit(df, target="t")
    assert model.predict(df[["x"]]).shape == (20,)
