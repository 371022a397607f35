import numpy as np
import pandas as pd
import pytest

from automl.coltypes import infer_column, infer_types
from automl.errors import ParameterError


def kind(values, name="col"):  # type: ignore[no-untyped-def]
    return infer_column(name, pd.Series(values)).type


def test_numeric_and_numbers_stored_as_text():
    assert kind(np.random.default_rng(0).normal(size=100)) == "numeric"
    assert kind([f"{x:.2f}" for x in np.linspace(0, 50, 100)]) == "numeric"
    assert kind(["1,234", "2,500", "3,100", "950"] * 10) == "numeric"


def test_categorical():
    assert kind(["red", "green", "blue"] * 30) == "categorical"


def test_boolean_variants():
    assert kind(["yes", "no", "Yes", None] * 10) == "boolean"
    assert kind([True, False] * 10) == "boolean"
    assert kind([0, 1, 1, 0] * 10) == "boolean"
    assert kind(["t", "f"] * 10) == "boolean"


def test_datetime_dtype_and_dates_stored_as_text():
    assert kind(pd.date_range("2021-01-01", periods=50)) == "datetime"
    assert kind([f"2021-03-{d:02d}" for d in range(1, 29)] * 2) == "datetime"
    assert kind([f"{m:02d}/15/2020" for m in range(1, 13)] * 3) == "datetime"


def test_years_as_plain_numbers_are_not_dates():
    assert kind([str(y) for y in range(1950, 2020)] * 2) == "numeric"


def test_free_text():
    rng = np.random.default_rng(0)
    words = ["the", "delivery", "was", "late", "and", "box", "damaged", "great", "service"]
    texts = [" ".join(rng.choice(words, 7)) for _ in range(60)]
    assert kind(texts) == "text"


def test_identifiers():
    assert kind([f"ORD-{i:06d}" for i in range(100)]) == "identifier"
    assert kind(list(range(1000, 1100)), name="row") == "identifier"
    assert kind(list(np.random.default_rng(1).permutation(10**6)[:100]), name="customer_id") == (
        "identifier"
    )


def test_distinct_floats_are_not_identifiers():
    assert kind(np.random.default_rng(0).lognormal(size=200), name="revenue") == "numeric"


def test_constant_and_all_missing():
    info = infer_column("c", pd.Series(["US"] * 30))
    assert info.type == "constant" and "'US'" in info.reason
    assert kind([None] * 10) == "constant"


def test_override_and_errors():
    df = pd.DataFrame({"a": [1, 2, 3] * 10, "b": ["x", "y", "z"] * 10})
    types = infer_types(df, {"a": "categorical"})
    assert types["a"].type == "categorical" and types["a"].overridden
    with pytest.raises(ParameterError, match="not in the data: zz"):
        infer_types(df, {"zz": "numeric"})
    with pytest.raises(ParameterError, match="Use one of"):
        infer_types(df, {"a": "fancy"})


def test_a_key_with_duplicated_rows_is_still_an_identifier():
    rng = np.random.default_rng(0)
    n = 500
    workers = pd.DataFrame(
        {
            "worker_id": rng.permutation(np.arange(1000, 1000 + 3 * n, 3))[:n],
            "age": rng.integers(18, 66, n),
            "tenure": rng.integers(0, 30, n),
            "state": rng.choice(["CA", "NY", "TX", "WA"], n),
            "store_no": rng.integers(1, 40, n),
        }
    )
    # 20 records entered twice: 500 distinct IDs in 520 rows
    df = pd.concat([workers, workers.sample(20, random_state=1)], ignore_index=True)
    types = infer_types(df)
    assert types["worker_id"].type == "identifier", types["worker_id"]
    assert "repeat an earlier row" in types["worker_id"].reason
    assert types["worker_id"].distinct == n and not types["worker_id"].used
    # the same as text (numbers read from a text file)
    as_text = infer_types(df.assign(worker_id=df["worker_id"].astype(str)))
    assert as_text["worker_id"].type == "identifier"
    # real numbers stay numbers, even one named like a key that repeats across distinct rows
    assert {c: types[c].type for c in ("age", "tenure", "store_no")} == dict.fromkeys(
        ("age", "tenure", "store_no"), "numeric"
    )
    # a measurement that is distinct apart from the repeated rows is not a key: no key name
    counts = df.assign(monthly_minutes=df["worker_id"] * 7 + 3).drop(columns=["worker_id"])
    assert infer_types(counts)["monthly_minutes"].type == "numeric"
    # a key column that repeats across many different rows is a code, not a row key
    orders = pd.DataFrame(
        {"customer_id": rng.integers(1, 60, 400), "amount": rng.lognormal(3, 1, 400).round(2)}
    )
    assert infer_types(orders)["customer_id"].type == "numeric"


def test_a_big_table_is_typed_on_the_same_sample_in_every_column() -> None:
    """Above TYPING_SAMPLE_ROWS rows every column is typed on the same rows, those that
    ``Series.sample(TYPING_SAMPLE_ROWS, random_state=0)`` takes (drawn once per table size),
    and a key column stays a key although the sample sees only part of it."""
    from automl.coltypes import TYPING_SAMPLE_ROWS, typing_sample

    n = TYPING_SAMPLE_ROWS + 5_000
    every = pd.Series(np.arange(n))
    assert typing_sample(n).tolist() == every.sample(TYPING_SAMPLE_ROWS, random_state=0).tolist()
    assert typing_sample(n) is typing_sample(n)
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "order_id": np.arange(n) + 1000,
            "flag": rng.choice(["yes", "no"], n),
            "amount": rng.normal(size=n),
        }
    )
    types = infer_types(df)
    assert [types[c].type for c in df.columns] == ["identifier", "boolean", "numeric"]
