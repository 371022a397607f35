"""The formula language: examples per feature, every syntax error kind, and property tests
(random text never crashes; random trees print, re-parse and evaluate like numpy)."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.errors import ParameterError
from automl.prep.expr import FUNCTIONS, Binary, Column, Expression, Literal, Node, Unary

DF = pd.DataFrame(
    {
        "Unit Price": [1.5, 2.0, None, 4.0],
        "quantity": [2, 3, 4, 0],
        "age": [70, 30, 10, 18],
        "city": [" paris", "Rome", None, "oslo"],
        "start": ["2024-01-01", "2024-02-01", None, "2024-03-01"],
        "end": ["2024-01-11", "2024-03-01", "2024-01-01", "2024-03-02"],
        "q1": [1.0, None, 3.0, None],
        "q2": [2.0, 2.0, None, None],
        "flag": [True, False, True, False],
    }
)


def ev(text: str) -> list[object]:
    out = Expression.parse(text, list(DF.columns)).evaluate(DF)
    assert len(out) == len(DF) and out.index.equals(DF.index)
    return [None if (isinstance(v, float) and np.isnan(v)) else v for v in out.tolist()]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[Unit Price] * quantity - 1", [2.0, 5.0, None, -1.0]),
        ("1 + 2 * 3 ^ 2", [19.0] * 4),
        ("2 ^ 3 ^ 2", [512.0] * 4),
        ("-2 ^ 2", [-4.0] * 4),
        ("(1 + 2) * 3 % 4", [1.0] * 4),
        ("quantity / 0", [None] * 4),
        ("age >= 18 AND age < 65", [False, True, False, True]),
        ("not (age > 20) or flag", [True, False, True, True]),
        ("age = 30", [False, True, False, False]),
        ("age <> 30", [True, False, True, True]),
        ("[Unit Price] > 1", [True, True, False, True]),
        (
            'if(age >= 65, "senior", if(age >= 18, "adult", "minor"))',
            ["senior", "adult", "minor", "adult"],
        ),
        ('case(age > 60, "A", age > 20, "B", "C")', ["A", "B", "C", "C"]),
        ("round(sqrt(quantity), 2)", [1.41, 1.73, 2.0, 0.0]),
        ("log(quantity)", [np.log(2), np.log(3), np.log(4), None]),
        ("log(8, 2)", [3.0] * 4),
        ("abs(-age) + floor(1.7) + ceil(0.2)", [72.0, 32.0, 12.0, 20.0]),
        ("row_mean(q1, q2)", [1.5, 2.0, 3.0, None]),
        ("row_sum(q1, q2)", [3.0, 2.0, 3.0, None]),
        ("row_count(q1, q2)", [2.0, 1.0, 1.0, 0.0]),
        ("max(age, quantity * 20)", [70.0, 60.0, 80.0, 18.0]),
        ('upper(trim(city)) & "-" & "x"', ["PARIS-x", "ROME-x", None, "OSLO-x"]),
        ('city + "!"', [" paris!", "Rome!", None, "oslo!"]),
        ('concat(city, "/", age)', [" paris/70", "Rome/30", "/10", "oslo/18"]),
        ('coalesce(city, "none")', [" paris", "Rome", "none", "oslo"]),
        ("is_missing(city)", [False, False, True, False]),
        ("len(city)", [6.0, 4.0, None, 4.0]),
        ("left(trim(city), 2) & right(city, 1)", ["pas", "Roe", None, "oso"]),
        ("substr(city, 2, 3)", ["par", "ome", None, "slo"]),
        ('contains(lower(city), "o")', [False, True, False, True]),
        ('starts_with(city, "R") or ends_with(city, "lo")', [False, True, False, True]),
        ('replace(city, "o", "0")', [" paris", "R0me", None, "0sl0"]),
        ('number("12.5") + 1', [13.5] * 4),
        ('text(age) & "y"', ["70y", "30y", "10y", "18y"]),
        ("year(start)", [2024.0, 2024.0, None, 2024.0]),
        ("month(start) + day(end)", [12.0, 3.0, None, 5.0]),
        ("weekday(end)", [3.0, 4.0, 0.0, 5.0]),
        ("days_between(start, end)", [10.0, 29.0, None, 1.0]),
        ("true", [True] * 4),
        ("null", [None] * 4),
        ("'it\\'s'", ["it's"] * 4),
        ("IF(Age > 20, 1, 0)", None),  # column names keep their case: Age is unknown
    ],
)
def test_examples(text: str, expected: list[object] | None) -> None:
    if expected is None:
        with pytest.raises(ParameterError, match="'Age'.*Did you mean age"):
            ev(text)
        return
    got = ev(text)
    for g, e in zip(got, expected, strict=True):
        if isinstance(e, float) and g is not None:
            assert g == pytest.approx(e)
        else:
            assert g == e, (text, got)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('"abc', "text value is never closed"),
        ("(1 + 2", r"'\(' is never closed"),
        ("round(1, 2", "is never closed"),
        ("foo(1)", "no function 'foo'"),
        ("sqr(4)", "Did you mean sqrt"),
        ("round()", r"round\(\) takes 1 to 2 argument\(s\) but got 0"),
        ("if(1, 2)", r"if\(\) takes 3 argument"),
        ("case(age > 1, 2, 3, 4)", "final default"),
        ("1 2", "unexpected '2'"),
        ("1 +", "ends too early"),
        ("", "empty"),
        ("   ", "empty"),
        ("a < b < c", "two comparisons"),
        ("price $ 2", "'\\$' is not allowed"),
        ("[Unit Price", "column name is never closed"),
        ("[]", "empty column name"),
        ("agee + 1", "column 'agee'.*Did you mean age"),
        ("[unit price] * 2", r"Did you mean \[Unit Price\]"),
        ("city * 2", "needs numbers but got text such as ' paris'"),
        ("city + 1", "use & to join text"),
        ("if(city, 1, 2)", "true-or-false"),
        ("start * 2", "needs numbers but got text such as '2024-01-01'"),
        ("x" * 2001, "limit is 2,000"),
        ("(" * 60 + "1" + ")" * 60, "nested too deeply"),
        ("-" * 80 + "1", "nested too deeply"),
        ("not " * 80 + "true", "nested too deeply"),
        ("and", "needs a value before it"),
    ],
)
def test_errors(text: str, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        ev(text)


def test_columns_and_function_list() -> None:
    e = Expression.parse("[Unit Price] * quantity + row_sum(q1, q2) + len(city)")
    assert e.columns == {"Unit Price", "quantity", "q1", "q2", "city"}
    assert {"if", "case", "row_mean", "days_between", "coalesce"} <= set(FUNCTIONS)
    assert all(desc for _, _, desc in FUNCTIONS.values())


def test_bracket_escape_and_constant_broadcast() -> None:
    df = pd.DataFrame({"a]b": [1, 2]})
    assert Expression.parse("[a]]b] + 1").evaluate(df).tolist() == [2.0, 3.0]
    assert Expression.parse('"x"').evaluate(df).tolist() == ["x", "x"]


# ---------------------------------------------------------------------------- properties
@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_random_text_parses_or_raises_parameter_error(text: str) -> None:
    try:
        e = Expression.parse(text)
    except ParameterError:
        return
    with contextlib.suppress(ParameterError):
        e.evaluate(pd.DataFrame({c: [1.0, 2.0] for c in e.columns} or {"_": [0.0, 1.0]}))


NUM = pd.DataFrame(
    {
        "a": [1.0, -2.5, 0.0, 3.0, np.nan, 7.25],
        "b": [0.5, 4.0, -1.0, 0.0, 2.0, -3.0],
        "c": [10.0, 0.0, 2.0, -4.0, 1.0, np.nan],
    }
)


def _ref(node: Node) -> np.ndarray:
    if isinstance(node, Literal):
        return np.full(len(NUM), float(node.value))
    if isinstance(node, Column):
        return NUM[node.name].to_numpy(dtype=float)
    if isinstance(node, Unary):
        return -_ref(node.operand)
    assert isinstance(node, Binary)
    x, y = _ref(node.left), _ref(node.right)
    with np.errstate(all="ignore"):
        out = {"+": x + y, "-": x - y, "*": x * y, "/": x / y}[node.op]
    out[~np.isfinite(out)] = np.nan
    return out


num_tree = st.recursive(
    st.one_of(
        st.sampled_from([Column("a"), Column("b"), Column("c")]),
        st.integers(0, 9).map(Literal),
    ),
    lambda kids: st.one_of(
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/"]), kids, kids),
        st.builds(Unary, st.just("-"), kids),
    ),
    max_leaves=12,
)


@given(num_tree)
@settings(max_examples=200, deadline=None)
def test_arithmetic_trees_round_trip_and_match_numpy(tree: Node) -> None:
    text = tree.to_text()
    parsed = Expression.parse(text)
    assert parsed.to_text() == text
    got = parsed.evaluate(NUM).to_numpy(dtype=float)
    np.testing.assert_allclose(got, _ref(tree), rtol=1e-9, atol=1e-9, equal_nan=True)


cmp_leaf = st.builds(
    Binary,
    st.sampled_from(["<", "<=", ">", ">=", "=", "!="]),
    st.sampled_from([Column("a"), Column("b")]),
    st.sampled_from([Column("c"), Literal(0), Literal(2)]),
)


def _bref(node: Node) -> np.ndarray:
    if isinstance(node, Unary):
        return ~_bref(node.operand)
    assert isinstance(node, Binary)
    if node.op in ("and", "or"):
        x, y = _bref(node.left), _bref(node.right)
        return x & y if node.op == "and" else x | y
    x, y = _ref(node.left), _ref(node.right)
    with np.errstate(invalid="ignore"):
        out = {
            "<": x < y,
            "<=": x <= y,
            ">": x > y,
            ">=": x >= y,
            "=": x == y,
            "!=": x != y,
        }[node.op]
    return out & ~np.isnan(x) & ~np.isnan(y)


bool_tree = st.recursive(
    cmp_leaf,
    lambda kids: st.one_of(
        st.builds(Binary, st.sampled_from(["and", "or"]), kids, kids),
        st.builds(Unary, st.just("not"), kids),
    ),
    max_leaves=8,
)


@given(bool_tree)
@settings(max_examples=200, deadline=None)
def test_boolean_trees_match_numpy(tree: Node) -> None:
    got = Expression.parse(tree.to_text()).evaluate(NUM).to_numpy(dtype=bool)
    np.testing.assert_array_equal(got, _bref(tree))
