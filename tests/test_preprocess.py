import json

import numpy as np
import pandas as pd

from automl.coltypes import ColumnInfo, infer_types
from automl.preprocess import (
    LEARNED_LEVEL_ROWS,
    MAX_LEARNED_LEVELS,
    MAX_LEVELS,
    OTHER,
    InputReport,
    Preprocessor,
)


def fitted(df: pd.DataFrame) -> Preprocessor:
    return Preprocessor(list(infer_types(df).values())).fit(df)


def sample() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "rare": ["common"] * (n - 2) + ["once", "twice"],
            "when": pd.date_range("2022-01-01 08:00", periods=n, freq="7h").strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "flag": rng.choice(["yes", "no"], n),
            "comment": [
                " ".join(rng.choice(["late", "fast", "box", "broken", "happy"], 5))
                for _ in range(n)
            ],
        }
    )


def test_categories_keep_stable_codes_and_rare_levels_group():
    df = sample()
    pre = fitted(df)
    assert pre.params_["color"]["categories"] == ["blue", "green", "red"] or set(
        pre.params_["color"]["categories"]
    ) == {"blue", "green", "red"}
    assert "once" not in pre.params_["rare"]["categories"]
    names, sources, cats = pre.tree_features()
    X = pre.transform_tree(df)
    col = names.index("color")
    assert col in cats
    codes = dict(zip(df["color"], X[:, col], strict=True))
    new = pd.DataFrame({c: df[c].head(3) for c in df.columns})
    new["color"] = ["green", "purple", None]
    Xn = pre.transform_tree(new)
    assert Xn[0, col] == codes["green"]
    assert Xn[1, col] == len(pre.params_["color"]["categories"])  # unseen -> other
    assert np.isnan(Xn[2, col])
    assert OTHER == "__other__"


def test_levels_past_the_first_thousand_are_learned_when_they_have_the_rows() -> None:
    """A big table's levels beyond the MAX_LEVELS most frequent are kept when each has enough
    rows to learn from; on a small table the MAX_LEVELS most frequent stay the limit."""
    big = MAX_LEVELS + 500
    values = np.repeat([f"v{i:05d}" for i in range(big)], LEARNED_LEVEL_ROWS)
    values = np.concatenate([values, [f"thin{i}" for i in range(50) for _ in range(3)]])
    col = ColumnInfo(name="code", type="categorical", reason="", missing=0, distinct=0)
    kept = Preprocessor([col]).fit(pd.DataFrame({"code": values})).params_["code"]
    assert len(kept["categories"]) == big  # every level with the rows; the thin ones grouped
    assert kept["grouped_as_other"] == 50 and not any(
        c.startswith("thin") for c in kept["categories"]
    )
    small = np.repeat([f"v{i:05d}" for i in range(big)], 3)  # 3 rows each: the first 1,000
    kept = Preprocessor([col]).fit(pd.DataFrame({"code": small})).params_["code"]
    assert len(kept["categories"]) == MAX_LEVELS and kept["grouped_as_other"] == 500
    many = np.repeat([f"v{i:05d}" for i in range(MAX_LEARNED_LEVELS + 10)], LEARNED_LEVEL_ROWS)
    kept = Preprocessor([col]).fit(pd.DataFrame({"code": many})).params_["code"]
    assert len(kept["categories"]) == MAX_LEARNED_LEVELS  # a bound on what a model holds


def test_date_parts_and_text_features():
    df = sample()
    pre = fitted(df)
    names, sources, _ = pre.tree_features()
    assert "when__hour" in names and "when__dayofweek" in names
    assert any(n.startswith("comment__tfidf_") for n in names)
    X = pre.transform_tree(df)
    assert X.shape == (len(df), len(names)) and len(sources) == len(names)
    assert X[:, names.index("when__year")][0] == 2022


def test_linear_encoding_is_scaled_and_sparse():
    df = sample()
    pre = fitted(df)
    X = pre.transform_linear(df)
    assert X.shape[0] == len(df)
    dense = X.toarray()
    assert np.isfinite(dense).all()
    assert abs(dense[:, 0].mean()) < 1e-6  # the first column, 'amount', is standardized


def test_json_round_trip_gives_identical_matrices():
    df = sample()
    pre = fitted(df)
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(pre.transform_tree(df), again.transform_tree(df))
    assert (pre.transform_linear(df) != again.transform_linear(df)).nnz == 0


def test_unreadable_values_are_counted_as_missing():
    df = sample()
    pre = fitted(df)
    bad = df.head(4).astype(object)
    bad.loc[0, "amount"] = "n/a"
    bad.loc[1, "when"] = "not a date"
    from automl.preprocess import InputReport

    report = InputReport()
    X = pre.transform_tree(bad, report)
    assert np.isnan(X[0, 0])
    assert report.unreadable == {"amount": 1, "when": 1}


def test_a_numeric_zero_one_column_reads_later_numbers_as_numbers():
    df = pd.DataFrame({"visits": [0, 1] * 50, "amount": np.arange(100.0)})
    pre = fitted(df)
    assert pre.columns[0].type == "boolean"
    new = pd.DataFrame({"visits": [2, 1, None], "amount": [1.0, 2.0, 3.0]})
    report = InputReport()
    X = pre.transform_tree(new, report)
    col = pre.tree_features()[0].index("visits")
    assert X[0, col] == 2.0 and X[1, col] == 1.0 and np.isnan(X[2, col])
    assert report.unreadable == {}
