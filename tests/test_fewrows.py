"""A few rows are read value by value (automl/fewrows.py) instead of through pandas: the
encodings, the input report and every kept candidate's answers must be the same to the last bit
as pandas' way gives them, for every column type and every kind of value a caller may send."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl import fewrows
from automl.coltypes import as_text, to_boolean, to_datetime, to_number
from automl.preprocess import InputReport
from tests.conftest import make_table

# values a caller may send, per column of tests.conftest.make_table: read the same either way
VALUES: dict[str, list[Any]] = {
    "age": [42, 42.5, None, float("nan"), "42", "1,234", "abc", True, 1e30, -0.0],
    "income": [51234.5, None, 0, "", " 7 "],
    "plan": ["pro", "basic", None, float("nan"), "", "unheard of", "  basic ", "Pro", 7, "plus\n"],
    "city": ["city_1", "city_11", "city_99", "ünïcode", "city_1.", "\u00a0city_1", 3],
    "signup": ["2021-03-04", "2020-02-29", "2021-02-30", "03/04/2021", "2021-3-4", "someday",
               "1600-01-01", " 2021-03-04", "2021-03-04 10:30:00", "", None, "٢٠٢١-٠٣-٠٤"],
    "member": [True, False, "yes", "No", "Y", "0", "maybe", "", None, " yes", "YES\t", "İ", 1],
    "notes": ["fast refund", "", None, "  cancel  ", "great\u00a0price", "x\x0by", "cancel",
              "a\x1cb cancel", "refund, refund.", "ünïcode cancel"],
    "country": ["US", None, "FR"],
}  # fmt: skip


def _bits(a: Any) -> tuple[Any, ...]:
    """An array's exact content (NaN and -0.0 included), or a sparse matrix's."""
    if hasattr(a, "tocsr"):
        a = a.tocsr()
        a.sort_indices()
        return (a.shape, a.indptr.tobytes(), a.indices.tobytes(), a.data.tobytes())
    a = np.asarray(a)
    if a.dtype == object:
        return (a.shape, a.tolist())
    return (a.shape, a.dtype.str, a.tobytes())


def _frames(base: pd.DataFrame) -> list[pd.DataFrame]:
    """One-row frames (each value alone: the column's type is what pandas makes of it) and
    frames of several rows (each column's values together, in a column of objects)."""
    out = []
    for name, values in VALUES.items():
        for v in values:
            one = base.head(1).copy()
            one[name] = pd.Series([v], index=one.index)  # the value's own column type
            out.append(one)
        rows = base.head(len(values)).copy()
        rows[name] = pd.Series(values, index=rows.index, dtype=object)
        out.append(rows)
    typed = base.head(6).copy()
    typed["signup"] = pd.to_datetime(typed["signup"])  # a column of times, not text
    typed["member"] = [True, False, True, True, False, False]
    typed["age"] = typed["age"].astype("Int64")  # pandas' nullable integers
    typed["plan"] = typed["plan"].astype("category")
    out.append(typed)
    out.append(base.head(fewrows.FEW_ROWS))  # as many as go value by value
    return out


def _both_ways(monkeypatch: pytest.MonkeyPatch, work: Any) -> tuple[Any, Any]:
    fast = work()
    with monkeypatch.context() as m:
        m.setattr(fewrows, "FEW_ROWS", 0)  # every row through pandas
        slow = work()
    return fast, slow


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return make_table(80, 5, "binary").drop(columns="churn")


def test_encodings_and_reports_equal_pandas(binary_model: Any, rows: pd.DataFrame,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    pre = binary_model.model_.preprocessor
    assert {c.type for c in pre.columns} == {
        "numeric", "categorical", "datetime", "boolean", "text"
    }  # fmt: skip
    for frame in _frames(rows):

        def encode(frame: pd.DataFrame = frame) -> tuple[Any, ...]:
            tree_report, linear_report = InputReport(), InputReport()
            tree = pre.transform_tree(frame, tree_report)
            linear = pre.transform_linear(frame, linear_report)
            return _bits(tree), _bits(linear), tree_report, linear_report

        fast, slow = _both_ways(monkeypatch, encode)
        assert fast == slow, frame.to_dict("records")


def test_every_family_answers_the_same(binary_model: Any, rows: pd.DataFrame,
                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    model = binary_model.model_
    families = {model.candidate_name(cid) for cid in model.kept}
    assert {"linear", "lightgbm"} <= families, families
    default = model.default_id
    try:
        for cid in model.kept:
            model.set_default(cid)
            for frame in _frames(rows)[::3]:

                def answer(frame: pd.DataFrame = frame) -> tuple[Any, ...]:
                    labels, proba, report = model.score_frame(frame, warn=False)
                    ex = model.explain(frame, top=3)
                    return _bits(labels), _bits(proba), report, _bits(ex["contribution"])

                fast, slow = _both_ways(monkeypatch, answer)
                assert fast == slow, (model.candidate_name(cid), frame.to_dict("records"))
    finally:
        model.set_default(default)


def test_regression_and_three_categories(regression_model: Any, multiclass_model: Any,
                                         rows: pd.DataFrame,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    for model in (regression_model.model_, multiclass_model.model_):
        for frame in _frames(rows)[::4]:
            fast, slow = _both_ways(monkeypatch, lambda m=model, f=frame: _bits(m.scores(f)))
            assert fast == slow


def test_conversions_equal_coltypes() -> None:
    """Each conversion, where it answers, equals the engine's; it answers for the values a
    JSON request usually holds (so the fast path is taken, not only allowed)."""
    columns: list[list[Any]] = [values for values in VALUES.values()]
    columns += [["a", "b"], [None, None], ["2024-01-31", None], [True, None], ["yes", "no"]]
    for values in columns:
        for s in (pd.Series(values, dtype=object), pd.Series(values)):
            present = s.notna().to_numpy(bool)
            got = fewrows.booleans(s)
            if got is not None:
                want = to_boolean(s).to_numpy("float64", na_value=np.nan)
                assert _bits(got[0]) == _bits(want) and (got[1] == present & np.isnan(want)).all()
            got = fewrows.numbers(s)
            if got is not None:
                want = to_number(s).to_numpy("float64", na_value=np.nan)
                assert _bits(got[0]) == _bits(want) and not got[1].any()
            text = fewrows.texts(s)
            if text is not None:
                want_text = as_text(s)
                assert text == [None if pd.isna(t) else t for t in want_text.tolist()]
            parts = fewrows.date_parts(s, "%Y-%m-%d", has_time=False)
            if parts is not None:
                ts = to_datetime(s, "%Y-%m-%d")
                assert not ts[present].isna().any()
                assert _bits(parts[0]["days"]) == _bits(
                    ((ts - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0).to_numpy()
                )
    assert fewrows.texts(pd.Series(["a", None])) == ["a", None]
    assert fewrows.booleans(pd.Series([True, None])) is not None
    assert fewrows.date_parts(pd.Series(["2024-01-31"]), None, True) is not None
    assert fewrows.numbers(pd.Series([1, 2.5])) is not None


def test_every_day_of_three_centuries_reads_as_pandas_reads_it() -> None:
    days = pd.date_range("1900-01-01", "2199-12-31", freq="D")
    text = pd.Series(days.strftime("%Y-%m-%d"), dtype=object)
    got = fewrows.date_parts(text, "%Y-%m-%d", has_time=True)
    assert got is not None
    ts = to_datetime(text, "%Y-%m-%d")
    from automl.preprocess import Preprocessor

    want = Preprocessor._date_parts(ts, has_time=True)
    assert list(got[0]) == list(want)
    for name, values in want.items():
        assert _bits(got[0][name]) == _bits(values.to_numpy("float64")), name
    assert not math.isnan(got[0]["days"][-1])
