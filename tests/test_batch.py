import pandas as pd
import pytest

from automl.batch import score_chunks
from automl.errors import DataError, ParameterError


def chunks(df: pd.DataFrame, size: int):  # type: ignore[no-untyped-def]
    for i in range(0, len(df), size):
        yield df.iloc[i : i + size]


def test_chunked_scoring_equals_one_pass(binary_model, binary_df, tmp_path):
    rows = binary_df.drop(columns=["churn"])
    out = tmp_path / "scored.parquet"
    result = score_chunks(binary_model.model_, chunks(rows, 37), out)
    assert result.rows == len(rows)
    scored = pd.read_parquet(out)
    whole, _ = binary_model.model_.predict_table(rows)
    pd.testing.assert_series_equal(
        scored["probability_yes"], whole["probability_yes"].reset_index(drop=True)
    )


def test_column_changing_type_between_chunks_is_explained(binary_model, binary_df, tmp_path):
    rows = binary_df.drop(columns=["churn"]).head(40).copy()
    first, second = rows.iloc[:20].copy(), rows.iloc[20:].copy()
    second["age"] = "unknown"
    with pytest.raises(DataError, match="'age' changes type"):
        score_chunks(binary_model.model_, iter([first, second]), tmp_path / "o.parquet")
    assert list(tmp_path.iterdir()) == []
    # CSV output has no such limit, and the unreadable ages are counted
    res = score_chunks(binary_model.model_, iter([first, second]), tmp_path / "o.csv")
    assert res.report.unreadable == {"age": 20}


def test_bad_output_and_empty_input(binary_model, tmp_path):
    with pytest.raises(ParameterError, match=".csv or .parquet"):
        score_chunks(binary_model.model_, iter([]), tmp_path / "o.xlsx")
    with pytest.raises(DataError, match="no rows"):
        score_chunks(binary_model.model_, iter([]), tmp_path / "o.csv")
    assert list(tmp_path.iterdir()) == []
