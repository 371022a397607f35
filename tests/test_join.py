"""Join: same rows as pandas.merge (with SQL's rule that missing keys never match), a preview that
counts rows exactly before running, warnings, key suggestions, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.cli import main
from automl.errors import DataError, ParameterError
from automl.prep.join import HOWS, JoinSpec, join, preview_join, suggest_keys
from automl.workspace import Workspace


def canon(df: pd.DataFrame) -> pd.DataFrame:
    """Row order does not matter; compare values as text so int/float/NaN differences are
    handled by the explicit checks, not by accident."""
    out = df.astype(object).where(df.notna(), None).astype(str)
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def reference(left: pd.DataFrame, right: pd.DataFrame, on: list[str], how: str) -> pd.DataFrame:
    """pandas.merge with SQL null semantics: rows with a missing key join nothing."""
    lnull = left[on].isna().any(axis=1)
    rnull = right[on].isna().any(axis=1)
    ref = left[~lnull].merge(right[~rnull], on=on, how=how, suffixes=("", "_right"))
    parts = [ref]
    if how in ("left", "outer") and lnull.any():
        parts.append(left[lnull])
    if how in ("right", "outer") and rnull.any():
        parts.append(
            right[rnull].rename(
                columns={
                    c: f"{c}_right" for c in right.columns if c in left.columns and c not in on
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[list(ref.columns)]


CUSTOMERS = pd.DataFrame(
    {"customer_id": [1, 2, 3, 4, 5], "name": ["a", "b", "c", "d", "e"], "region": list("nnsse")}
)
ORDERS = pd.DataFrame(
    {
        "order_id": range(8),
        "customer_id": [1, 1, 2, 3, 3, 3, 9, np.nan],
        "amount": [10.0, 20, 30, 40, 50, 60, 70, 80],
        "region": list("nnsssxxx"),
    }
)


@pytest.mark.parametrize("how", HOWS)
def test_matches_pandas_merge(how: str) -> None:
    spec = JoinSpec.on("customer_id", how)
    out, pv = join(CUSTOMERS, ORDERS, spec)
    ref = reference(CUSTOMERS, ORDERS, ["customer_id"], how)
    assert list(out.columns) == list(ref.columns)
    pd.testing.assert_frame_equal(canon(out), canon(ref))
    assert pv.rows == len(out)
    assert "region_right" in out.columns  # clashing non-key column keeps both
    assert any("missing key never match" in w for w in pv.warnings)


def test_different_key_names_and_multi_keys() -> None:
    left = pd.DataFrame({"cid": [1, 2, 2], "day": ["d1", "d1", "d2"], "x": [1, 2, 3]})
    right = pd.DataFrame({"customer": [2, 2, 1], "date": ["d1", "d2", "d9"], "y": [7, 8, 9]})
    out, pv = join(left, right, JoinSpec.on("cid=customer,day=date", "inner"))
    ref = left.merge(right, left_on=["cid", "day"], right_on=["customer", "date"])
    pd.testing.assert_frame_equal(canon(out), canon(ref))
    assert pv.rows == 2 and pv.left_matched == 2 and pv.right_matched == 2


def test_key_type_mismatch_text_numbers_are_matched_as_numbers() -> None:
    right = ORDERS.assign(
        customer_id=ORDERS["customer_id"].map(lambda v: f"{v:.0f}", na_action="ignore")
    )
    out, pv = join(CUSTOMERS, right, JoinSpec.on("customer_id", "inner"))
    assert len(out) == 6
    assert any("compared as numbers" in n for n in pv.notes)
    codes = right.assign(customer_id=["A1", "A1", "B2", "C3", "C3", "C3", "Z", None])
    pv = preview_join(CUSTOMERS, codes, JoinSpec.on("customer_id", "inner"))
    assert pv.rows == 0
    assert any("compared as text" in n for n in pv.notes)
    assert any("No rows match" in w for w in pv.warnings)


def test_many_to_many_explosion_warns_with_factor_and_limit() -> None:
    left = pd.DataFrame({"k": [1] * 300 + [2], "a": range(301)})
    right = pd.DataFrame({"k": [1] * 200, "b": range(200)})
    pv = preview_join(left, right, JoinSpec.on("k", "inner"))
    assert pv.rows == 60_000
    assert any("Many-to-many" in w and "199.3x" in w for w in pv.warnings)
    with pytest.raises(DataError, match="60,000 rows .*over the limit of 10,000"):
        join(left, right, JoinSpec.on("k"), max_rows=10_000)


def test_bad_specs() -> None:
    with pytest.raises(ParameterError, match="no column 'custid'.*customer_id"):
        preview_join(CUSTOMERS, ORDERS, JoinSpec.on("custid"))
    with pytest.raises(ParameterError, match="'how'"):
        preview_join(CUSTOMERS, ORDERS, JoinSpec.on("customer_id", "cross"))


def test_suggest_keys() -> None:
    sugg = suggest_keys(CUSTOMERS, ORDERS)
    assert (sugg[0].left, sugg[0].right) == ("customer_id", "customer_id")
    assert "same name" in sugg[0].reason
    left = pd.DataFrame({"CustID": [f"C{i}" for i in range(50)], "v": range(50)})
    right = pd.DataFrame({"client": [f"C{i}" for i in range(0, 50, 2)], "w": range(25)})
    top = suggest_keys(left, right)[0]
    assert (top.left, top.right) == ("CustID", "client")


keys = st.lists(st.one_of(st.integers(0, 6), st.none()), min_size=1, max_size=25)


@given(keys, keys, st.sampled_from(HOWS))
@settings(max_examples=150, deadline=None)
def test_join_equals_pandas_merge_property(
    lk: list[int | None], rk: list[int | None], how: str
) -> None:
    left = pd.DataFrame({"k": pd.array(lk, dtype="Float64").astype("float64"), "a": range(len(lk))})
    right = pd.DataFrame(
        {"k": pd.array(rk, dtype="Float64").astype("float64"), "b": range(len(rk))}
    )
    spec = JoinSpec.on("k", how)
    out, pv = join(left, right, spec)
    assert pv.rows == len(out)
    pd.testing.assert_frame_equal(canon(out), canon(reference(left, right, ["k"], how)))


def test_cli_join(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = tmp_path / "ws"
    ws = Workspace(w)
    ws.add_dataset("customers", CUSTOMERS, "test")
    ws.add_dataset("orders", ORDERS, "test")
    code = main(
        [
            "join",
            "orders",
            "dataset:customers",
            "--on",
            "customer_id",
            "--how",
            "left",
            "--name",
            "orders full",
            "--workspace",
            str(w),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "8 rows" in out.out and "missing key" in out.out
    rec = ws.get_dataset("orders full")
    assert rec.rows == 8 and rec.lineage["kind"] == "join"
    assert rec.lineage["left"] == "orders@1" and rec.lineage["how"] == "left"
    code = main(
        ["join", "orders", "customers", "--on", "nope", "--name", "x", "--workspace", str(w)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no column 'nope'" in err


def test_suggestions_need_agreeing_names_or_key_types() -> None:
    """A worker's ID shares every value with small whole numbers (age, tenure) and with a numeric
    state code; only the real key, or a key named alike, is suggested, and it comes first."""
    rng = np.random.default_rng(0)
    workers = pd.DataFrame(
        {
            "worker_id": np.arange(1, 501),
            "age": rng.integers(18, 66, 500),
            "tenure": rng.integers(1, 40, 500),
            "state": rng.integers(1, 51, 500),
        }
    )
    shifts = pd.DataFrame(
        {
            "worker_id": rng.integers(1, 501, 2000),
            "age": rng.integers(18, 66, 2000),
            "tenure": rng.integers(1, 40, 2000),
            "state": rng.integers(1, 51, 2000),
            "hours": rng.integers(2, 12, 2000),
        }
    )
    sugg = suggest_keys(shifts, workers)
    # not worker_id = age / tenure / state, nor two measurements of the same name (age = age)
    assert [(s.left, s.right) for s in sugg] == [("worker_id", "worker_id")], sugg
    assert "same name" in sugg[0].reason
    # names that are alike rank before values that merely overlap
    left = pd.DataFrame({"cust_id": [f"C{i}" for i in range(40)], "x": range(40)})
    right = pd.DataFrame(
        {"code": [f"C{i}" for i in range(40)], "customer_id": [f"C{i}" for i in range(40)]}
    )
    top = suggest_keys(left, right)
    assert (top[0].left, top[0].right) == ("cust_id", "customer_id")
    assert "similar name" in top[0].reason
