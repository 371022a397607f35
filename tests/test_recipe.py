"""Recipes: every transform on realistic data, JSON round trip, undo/redo, fitted state reused
at prediction time, row steps skipped there, clear errors, and property tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from automl.errors import ParameterError, SchemaError
from automl.prep.recipe import (
    STEPS,
    Bin,
    ChangeCase,
    ChangeType,
    Clip,
    CombineColumns,
    DateDifference,
    DateParts,
    DropColumns,
    DropDuplicates,
    DropMissingRows,
    DuplicateColumn,
    ExtractText,
    FillMissing,
    FilterRows,
    FindReplace,
    Formula,
    GroupRare,
    KeepColumns,
    LogTransform,
    MissingIndicator,
    ParseNumbers,
    Recipe,
    RemoveOutliers,
    RenameColumn,
    ReplaceValues,
    RoundNumbers,
    SampleRows,
    Scale,
    SortRows,
    SplitColumn,
    TextLength,
    TrimText,
    step_from_dict,
)


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["  Ann Lee", "Bob  Stone ", "Cé Dupont", None, "Dan Roe", "Dan Roe"],
            "price": ["$1,200.50", "15", "(3.00)", "n/a", "7%", "7%"],
            "qty": [1.0, np.nan, 3.0, 4.0, 100.0, 100.0],
            "plan": ["basic", "pro", "basic", "rare", "basic", "basic"],
            "start": ["2024-01-01", "2024-02-10", None, "2024-03-01", "2024-03-05", "2024-03-05"],
            "end": [
                "2024-01-11",
                "2024-02-11",
                "2024-01-01",
                "2024-03-08",
                "2024-04-05",
                "2024-04-05",
            ],
            "member": ["yes", "No", "y", "0", None, None],
        }
    )


def test_at_least_25_transforms_with_descriptions() -> None:
    assert len(STEPS) >= 25
    groups = {cls.group for cls in STEPS.values()}
    assert {"Columns", "Clean", "Text", "Dates", "Calculate", "Rows"} <= groups
    assert all(cls.label for cls in STEPS.values())


def test_each_transform() -> None:
    df = table()
    r = Recipe()
    for step in [
        TrimText(["name"]),
        SplitColumn("name", " ", ["first", "last"]),
        ChangeCase(["last"], "upper"),
        CombineColumns(["last", "first"], "label", ", "),
        ParseNumbers("price"),
        FillMissing("qty", "median"),
        MissingIndicator("member"),
        ChangeType("member", "boolean"),
        ReplaceValues("plan", {"rare": "basic"}),
        FindReplace("plan", "bas", "BAS"),
        DateParts("start", ["year", "month", "weekday"]),
        DateDifference("start", "end", "days", "days"),
        Formula("total", "price * qty"),
        LogTransform("qty", "log_qty"),
        DuplicateColumn("qty", "qty_scaled"),
        Scale("qty_scaled", "standard"),
        Clip("qty", upper_quantile=0.8),
        Bin("price", 2, "quantile"),
        RoundNumbers("total", 0),
        TextLength("label"),
        ExtractText("end", r"-(\d\d)-", "end_month"),
        RenameColumn("total", "amount"),
        DropColumns(["end"]),
    ]:
        r.add(step)
    out = r.fit_apply(df)
    assert out["first"].tolist()[:3] == ["Ann", "Bob", "Cé"]
    assert out["label"].iloc[0] == "LEE, Ann"
    prices = out["price"].tolist()
    assert prices[:3] == [1200.5, 15.0, -3.0] and np.isnan(prices[3]) and prices[4] == 0.07
    assert (
        out["qty"].iloc[1] == 4.0
    )  # median of 1, 3, 4, 100, 100, then clipped at the 80% quantile
    assert out["member_missing"].tolist() == [False, False, False, False, True, True]
    assert out["member"].tolist()[:4] == [True, False, True, False]
    assert out["plan"].tolist()[3] == "BASic"
    assert out["start_month"].tolist()[:2] == [1.0, 2.0]
    assert out["days"].tolist()[:2] == [10.0, 1.0]
    assert out["amount"].iloc[0] == 1200.0
    assert "end" not in out.columns and "end_month" in out.columns
    assert out["price_bin"].iloc[0].startswith(">=")
    assert abs(out["qty_scaled"].mean()) < 1e-9
    assert len(out) == len(df)


def test_row_steps_and_report() -> None:
    df = table()
    r = Recipe(
        [
            ParseNumbers("price"),
            DropDuplicates(),
            DropMissingRows(["name"]),
            FilterRows("qty > 1 or is_missing(qty)"),
            RemoveOutliers("qty", 1.5),
            SortRows(["qty"], ascending=False),
            SampleRows(fraction=1.0),
            KeepColumns(["name", "qty", "price"]),
            GroupRare("name", 0.4),
        ]
    )
    report: list = []
    out = r.fit_apply(df, report)
    assert [x.rows_after for x in report][:4] == [6, 5, 4, 3]
    assert list(out.columns) == ["name", "qty", "price"]
    assert report[0].cells_changed == 6 and report[-2].columns_removed


def test_prediction_replay_uses_fitted_state_and_skips_row_steps() -> None:
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan, 100.0], "y": [0, 1, 0, 1, 1]})
    r = Recipe(
        [FillMissing("x", "median"), FilterRows("x < 50"), Clip("x", upper_quantile=0.5)],
        target="y",
    )
    prepared = r.fit_apply(train)
    assert len(prepared) == 4
    fitted = Recipe.from_json(r.to_json())
    new = pd.DataFrame({"x": [np.nan, 1000.0]})
    out = fitted.apply(new, training=False)
    assert len(out) == 2  # the filter does not run on rows to predict
    # median 2.5 learned on the training rows; the clip bound (2.25) learned after the filter
    assert out["x"].tolist() == [2.25, 2.25]
    with pytest.raises(ParameterError, match="has not learned"):
        Recipe([FillMissing("x")]).apply(new)


def test_steps_reading_the_target_are_skipped_at_prediction() -> None:
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]})
    r = Recipe([ChangeCase(["y"], "upper"), Formula("x2", "x * 2")], target="y")
    r.fit_apply(train)
    back = Recipe.from_dict(json.loads(r.to_json()))
    out = back.apply(pd.DataFrame({"x": [5.0]}), training=False)
    assert out["x2"].tolist() == [10.0]


def test_undo_redo_remove_and_describe() -> None:
    r = Recipe().add(TrimText(["name"])).add(ParseNumbers("price"))
    assert r.undo().kind == "parse_numbers" and len(r) == 1
    assert r.redo().kind == "parse_numbers" and len(r) == 2
    r.undo()
    r.add(FillMissing("qty"))
    with pytest.raises(ParameterError, match="nothing to redo"):
        r.redo()
    assert r.describe() == [
        "1. Trim spaces in name (blank becomes missing)",
        "2. Fill missing qty with the median",
    ]
    r.remove(0)
    assert len(r) == 1
    with pytest.raises(ParameterError, match="empty"):
        Recipe().undo()


def test_clear_errors() -> None:
    df = table()
    with pytest.raises(
        SchemaError, match="needs column\\(s\\) 'prise' \\(did you mean 'price'\\?\\)"
    ):
        Recipe([ParseNumbers("prise")]).fit_apply(df)
    with pytest.raises(ParameterError, match="works on numbers, but column 'plan' holds text"):
        Recipe([Scale("plan")]).fit_apply(df)
    with pytest.raises(ParameterError, match="already exists"):
        Recipe([RenameColumn("qty", "plan")]).fit_apply(df)
    with pytest.raises(ParameterError, match="not a valid pattern"):
        Recipe([FindReplace("plan", "(", regex=True)]).fit_apply(df)
    with pytest.raises(ParameterError, match="true or false"):
        Recipe([FilterRows("qty + 1")]).fit_apply(df)
    with pytest.raises(ParameterError, match="Unknown recipe step 'fil_missing'.*fill_missing"):
        step_from_dict({"kind": "fil_missing", "column": "x"})
    with pytest.raises(ParameterError, match="no parameter\\(s\\) colum"):
        step_from_dict({"kind": "fill_missing", "colum": "x"})
    with pytest.raises(ParameterError, match="not valid JSON"):
        Recipe.from_json("{nope")
    with pytest.raises(ParameterError, match="newer Easel"):
        Recipe.from_dict({"version": 99, "steps": []})


def test_json_round_trip_of_every_step_kind() -> None:
    examples = [
        DropColumns(["a"]),
        KeepColumns(["a"]),
        RenameColumn("a", "b"),
        DuplicateColumn("a", "c"),
        ChangeType("a", "text"),
        ParseNumbers("a"),
        FillMissing("a", "constant", 0),
        MissingIndicator("a"),
        ReplaceValues("a", {"1": 2}),
        GroupRare("a"),
        Clip("a", lower=0),
        FindReplace("a", "x"),
        TrimText(["a"]),
        ChangeCase(["a"]),
        SplitColumn("a", "-", ["p", "q"]),
        CombineColumns(["a", "a"], "d"),
        ExtractText("a", "\\d+", "e"),
        TextLength("a"),
        DateParts("a"),
        DateDifference("a", "a", "f"),
        Formula("g", "a + 1"),
        LogTransform("a"),
        Scale("a"),
        Bin("a"),
        RoundNumbers("a"),
        FilterRows("a > 0"),
        DropDuplicates(),
        DropMissingRows(),
        RemoveOutliers("a"),
        SortRows(["a"]),
        SampleRows(rows=3),
    ]
    assert {s.kind for s in examples} == set(STEPS)
    r = Recipe(examples)
    again = Recipe.from_json(r.to_json())
    assert [s.to_dict() for s in again.steps] == [s.to_dict() for s in examples]


@given(
    data_frames(
        [
            column(
                "a", dtype=float, elements=st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))
            ),
            column("b", elements=st.sampled_from(["x", "y", " z ", None])),
        ],
    ),
    st.lists(
        st.sampled_from(
            [
                FillMissing("a", "median"),
                FillMissing("b", "mode"),
                Clip("a", lower_quantile=0.1, upper_quantile=0.9),
                Scale("a", "minmax"),
                TrimText(["b"]),
                GroupRare("b", 0.3),
                Formula("c", "a * 2 + 1"),
                Bin("a", 3, "width", "a_bin"),
                MissingIndicator("a", "a_na"),
                ChangeType("b", "text"),
            ]
        ),
        max_size=5,
        unique_by=lambda s: s.kind + getattr(s, "column", ""),
    ),
)
@settings(max_examples=80, deadline=None)
def test_column_steps_keep_rows_and_replay_identically(df: pd.DataFrame, steps: list) -> None:
    """Column steps never change the row count, and the fitted recipe replayed on the same rows
    (as prediction does) gives exactly what training produced."""
    import copy

    r = Recipe([copy.deepcopy(s) for s in steps])
    try:
        out = r.fit_apply(df)
    except ParameterError:
        return  # e.g. a median of an all-missing column: a clear error, not a crash
    assert len(out) == len(df)
    again = Recipe.from_json(r.to_json()).apply(df, training=False)
    pd.testing.assert_frame_equal(out, again)
