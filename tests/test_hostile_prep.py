"""Hostile formulas, patterns and recipe files: each gets a clear error, quickly and in bounded
memory (result sizes, nesting depth, function arguments, linear-time patterns, recipe JSON)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from automl.errors import ParameterError
from automl.prep import text
from automl.prep.expr import MAX_TREE_DEPTH, Expression
from automl.prep.recipe import (
    CombineColumns,
    ExtractText,
    FindReplace,
    Formula,
    Recipe,
    RoundNumbers,
    SampleRows,
)

DF = pd.DataFrame(
    {
        "name": ["Ann Lee", "Bob", None, "Cé"],
        "price": [1.5, 20.0, None, 3.25],
        "start": pd.to_datetime(["2024-01-01", "2024-02-01", None, "2024-03-01"]),
    }
)


def ev(formula: str, df: pd.DataFrame = DF) -> list[object]:
    out = Expression.parse(formula, list(df.columns)).evaluate(df)
    return [None if isinstance(v, float) and np.isnan(v) else v for v in out.tolist()]


def nested_replace(levels: int, new: str = "0123456789") -> str:
    formula = "name"
    for _ in range(levels):
        formula = f'replace({formula}, "", "{new}")'
    return formula


# ------------------------------------------------------------------------- result sizes (D2)
def test_nested_replace_is_stopped_before_it_grows() -> None:
    # each level puts 10 characters between every two: 7 -> 87 -> 967 -> 10,647 -> 117,127
    # characters; the fourth level is refused before it is built
    formula = nested_replace(4)
    assert len(formula) < 213
    assert ev(nested_replace(3))[0] is not None
    with pytest.raises(ParameterError, match="replace\\(\\).*limit is 100,000 characters"):
        ev(formula)


def test_text_joins_are_checked_per_value_and_per_column(monkeypatch) -> None:
    long = pd.DataFrame({"t": ["x" * 60_000, "y"]})
    with pytest.raises(ParameterError, match="'&' would make a text of 120,000 characters"):
        ev("t & t", long)
    with pytest.raises(ParameterError, match="concat\\(\\) would make.*100,000 characters"):
        ev("concat(t, t)", long)
    monkeypatch.setattr(text, "MAX_COLUMN_TEXT", 2_000)
    many = pd.DataFrame({"t": ["abcdefghij"] * 80})
    assert ev("t & t", many)[0] == "abcdefghij" * 2  # 1,600 characters in the column
    with pytest.raises(ParameterError, match="2,000 characters per computed column"):
        ev("t & t & t & t", many)


def test_recipe_steps_that_grow_text_are_bounded(monkeypatch) -> None:
    df = pd.DataFrame({"t": ["ab" * 20] * 3})
    bomb = Recipe([Formula("big", nested_replace(5).replace("name", "t"))])
    with pytest.raises(ParameterError, match="limit is 100,000 characters per value"):
        bomb.fit_apply(df)
    # a pattern that matches the empty text between characters inserts at every one of them
    step = FindReplace("t", "x*", "y" * 3000, regex=True)
    with pytest.raises(ParameterError, match="Step 'Replace.*limit is 100,000 characters"):
        Recipe([step]).fit_apply(df)
    monkeypatch.setattr(text, "MAX_COLUMN_TEXT", 100)
    with pytest.raises(ParameterError, match="100 characters per computed column"):
        Recipe([CombineColumns(["t", "t"], "tt")]).fit_apply(df)


# ------------------------------------------------------------------------ nesting depth (D9)
def test_long_chains_are_refused_not_a_recursion_error() -> None:
    chain = "+".join(["1"] * 999)
    with pytest.raises(ParameterError, match="too many operations inside one another"):
        Expression.parse(chain)
    with pytest.raises(ParameterError, match="too many operations"):
        Recipe([Formula("x", chain)]).fit_apply(DF)
    ok = "+".join(["price"] * MAX_TREE_DEPTH)
    assert ev(ok)[1] == 20.0 * MAX_TREE_DEPTH


def test_train_with_a_deep_recipe_exits_2(tmp_path, capsys) -> None:
    from automl.cli import main

    data = tmp_path / "d.csv"
    pd.DataFrame({"x": range(40), "y": [0, 1] * 20}).to_csv(data, index=False)
    recipe = tmp_path / "r.json"
    chain = "+".join(["x"] * 999)
    step = {"kind": "formula", "new_name": "z", "expression": chain}
    recipe.write_text(json.dumps({"steps": [step]}))
    code = main(
        ["train", str(data), "--target", "y", "--recipe", str(recipe), "--out", str(tmp_path / "m")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "too many operations" in err and "Traceback" not in err


# -------------------------------------------------------------------- function arguments (D10)
@pytest.mark.parametrize(
    "formula, fragment",
    [
        ("left(name, null)", r"left\(\): the number of characters \(2nd value\).*missing"),
        ("left(name, price)", r"left\(\): the number of characters.*not a column"),
        ("left(name, -1)", r"left\(\): .*at least 0"),
        ("left(name, 2.5)", r"left\(\): .*whole number"),
        ("right(name, true)", r"right\(\): .*got true"),
        ("substr(name, 1, null)", r"substr\(\): the length \(3rd value\)"),
        ("substr(name, 0)", r"substr\(\): the start \(2nd value\).*at least 1"),
        ("round(price, null)", r"round\(\): the number of decimals \(2nd value\)"),
        ("round(price, 1e300)", r"round\(\): the number of decimals.*from -15 to 15"),
        ("round(price, price)", r"round\(\): the number of decimals.*not a column"),
        ("log(price, 0)", r"log\(\): the base \(2nd value\).*other than 1"),
        ("log(price, 1)", r"log\(\): the base"),
        ("log(price, null)", r"log\(\): the base \(2nd value\)"),
        ('log(price, "e")', r"log\(\) \(the base, 2nd value\) needs numbers"),
        ("contains(name, null)", r"contains\(\): the text to look for \(2nd value\) is missing"),
        ("contains(name, name)", r"contains\(\): the text to look for.*not a column"),
        ('replace(name, "a", name)', r"replace\(\): the new text \(3rd value\).*not a column"),
        ('abs("x")', r"abs\(\) needs numbers"),
        ("year(5)", r"year\(\) needs dates, but got the number 5"),
        ("month(price)", r"month\(\) needs dates, but got a column of numbers"),
        ("start - 3", r"'-' after a date needs dates"),
    ],
)
def test_function_arguments_are_checked(formula: str, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        ev(formula)


def test_valid_arguments_still_work() -> None:
    assert ev("left(name, 3)") == ["Ann", "Bob", None, "Cé"]
    assert ev("substr(name, 2, 2)") == ["nn", "ob", None, "é"]
    assert ev("round(price, 1)") == [1.5, 20.0, None, 3.2]
    assert ev("log(8, 2)") == [3.0] * 4
    assert ev('year("2024-05-01")') == [2024.0] * 4  # a constant date: every row
    assert ev('days_between("2024-01-01", start)') == [0.0, 31.0, None, 60.0]
    assert ev('start - "2024-01-01"') == [0.0, 31.0, None, 60.0]


# ------------------------------------------------------------------ patterns in linear time (D28)
@pytest.mark.timeout(60)
def test_catastrophic_pattern_runs_in_linear_time() -> None:
    df = pd.DataFrame({"t": ["a" * 40 + "b", "a" * 5000, None]})
    out = Recipe([FindReplace("t", "(a+)+$", "<\\1>", regex=True)]).fit_apply(df)
    assert out["t"].tolist() == ["a" * 40 + "b", "<" + "a" * 5000 + ">", None]
    got = Recipe([ExtractText("t", "(a+)+b", "x")]).fit_apply(df)["x"].tolist()
    assert got == ["a" * 40, None, None]


def test_patterns_re2_cannot_run_get_a_clear_error() -> None:
    df = pd.DataFrame({"t": ["aa", "ab"]})
    for pattern in ["(a)\\1", "a(?=b)", "(?<=a)b"]:
        with pytest.raises(ParameterError, match="not a valid pattern.*refer back to a group"):
            Recipe([FindReplace("t", pattern, "x", regex=True)]).fit_apply(df)
    with pytest.raises(ParameterError, match="refers to group '2'"):
        Recipe([FindReplace("t", "(a)", "\\2", regex=True)]).fit_apply(df)
    with pytest.raises(ParameterError, match="Extract text: .*not a valid pattern"):
        Recipe([ExtractText("t", "(a)\\1", "x")]).fit_apply(df)


def test_find_replace_keeps_its_meaning() -> None:
    df = pd.DataFrame({"t": ["Cat cat", "a.b", None]})
    run = lambda step: Recipe([step]).fit_apply(df)["t"].tolist()  # noqa: E731
    assert run(FindReplace("t", "cat", "dog")) == ["Cat dog", "a.b", None]
    assert run(FindReplace("t", "cat", "dog", case_sensitive=False)) == ["dog dog", "a.b", None]
    assert run(FindReplace("t", ".", "!")) == ["Cat cat", "a!b", None]
    assert run(FindReplace("t", "(\\w)at", "\\1og", regex=True)) == ["Cog cog", "a.b", None]
    assert run(FindReplace("t", "C(?P<x>a)t", "\\g<x>", regex=True, case_sensitive=False)) == [
        "a a",
        "a.b",
        None,
    ]


# --------------------------------------------------------------------- recipe JSON (D29)
@pytest.mark.parametrize(
    "recipe, fragment",
    [
        ({"version": "abc", "steps": []}, 'version must be a whole number such as 1.*"abc"'),
        ({"version": 0, "steps": []}, "version must be a whole number"),
        ({"steps": ["drop_columns"]}, 'Step 1 of the recipe must be an object.*"drop_columns"'),
        ({"steps": [{"kind": 3}]}, "Unknown recipe step the number 3 \\(step 1"),
        ({"steps": [{"kind": "drop_columns"}]}, "Step 1.*needs the parameter 'columns'"),
        (
            {"steps": [{"kind": "trim", "columns": ["a"]}, {"kind": "round", "column": 5}]},
            "Step 2 of the recipe \\('round'\\): the parameter 'column' must be a text, but it is "
            "the number 5",
        ),
        (
            {"steps": [{"kind": "find_replace", "column": "a", "find": "x", "regex": "yes"}]},
            "'regex' must be true or false",
        ),
        ({"steps": [{"kind": "bin", "column": "a", "bins": "5"}]}, "'bins' must be a whole num"),
        (
            {"steps": [{"kind": "clip", "column": "a", "lower": [1]}]},
            "'lower' must be a number \\(or null\\), but it is a list",
        ),
        ({"steps": [{"kind": "drop_columns", "columns": [1, 2]}]}, "a list of texts"),
        (
            {"steps": [{"kind": "replace_values", "column": "a", "mapping": {"x": [1]}}]},
            "'mapping' must be an object of old and new values",
        ),
        (
            {"steps": [{"kind": "fill_missing", "column": "a", "value": {"x": 1}}]},
            "'value' must be a text, a number, true or false",
        ),
        ({"target": 7, "steps": []}, "target must be a column name"),
        ({"steps": [], "target_steps": [3]}, "target_steps must be a list of step positions"),
        ({"steps": [{"kind": "trim", "columns": ["a"]}], "target_steps": "x"}, "target_steps"),
    ],
)
def test_malformed_recipe_json_is_refused_clearly(recipe: dict, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        Recipe.from_json(json.dumps(recipe))


def test_recipe_values_out_of_range_are_refused() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ParameterError, match="Round numbers: the number of decimals"):
        Recipe([RoundNumbers("a", 10**400)]).fit_apply(df)
    with pytest.raises(ParameterError, match="Sample: the seed"):
        Recipe([SampleRows(rows=1, seed=-1)]).fit_apply(df)


def test_recipe_json_takes_whole_numbers_written_as_floats_and_numpy_values() -> None:
    r = Recipe.from_json(json.dumps({"steps": [{"kind": "sample", "rows": 3.0, "seed": 1}]}))
    assert r.steps[0].rows == 3 and isinstance(r.steps[0].rows, int)
    again = Recipe([RoundNumbers("a", np.int64(2))])
    assert Recipe.from_dict(again.to_dict()).steps[0].digits == 2
    with pytest.raises(ParameterError, match="'rows' must be a whole number"):
        Recipe.from_json('{"steps": [{"kind": "sample", "rows": 2.5}]}')
    with pytest.raises(ParameterError, match="'digits' must be a whole number"):
        Recipe.from_json(
            '{"steps": [{"kind": "round", "column": "a", "digits": 1' + "0" * 400 + "}]}"
        )
