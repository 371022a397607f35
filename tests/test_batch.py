from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import automl
from automl.batch import predict_file, score_chunks
from automl.errors import DataError, ParameterError
from automl.prep.recipe import ChangeType, Formula, Recipe
from connectors import read_file


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


def test_chunks_are_scored_on_small_pages_and_the_setting_comes_back(
    binary_model, binary_df, tmp_path
):
    """Batch scoring asks numpy not to advise huge pages for its chunks' arrays (fresh huge
    pages cost more to fault in than they save, chunk after chunk), in every thread it reads
    and scores in, and restores numpy's own setting when the batch ends, even on an error."""
    from numpy._core.multiarray import _set_madvise_hugepage as advise  # returns the setting

    seen: list[bool] = []

    def watched(df: pd.DataFrame):  # type: ignore[no-untyped-def]
        for part in chunks(df, 50):
            seen.append(advise(False))  # (already off inside: unchanged)
            yield part

    rows = binary_df.drop(columns=["churn"])
    before = advise(True)
    try:
        score_chunks(binary_model.model_, watched(rows), tmp_path / "o.csv")
        assert seen and not any(seen)
        assert advise(True) is True  # restored after the batch
        with pytest.raises(DataError, match="no rows"):
            score_chunks(binary_model.model_, iter([]), tmp_path / "p.csv")
        assert advise(True) is True  # and after a failed one
    finally:
        advise(before)


def test_small_pages_blocks_overlapping_in_threads_restore_the_setting_when_the_last_ends():
    import threading

    from numpy._core.multiarray import _set_madvise_hugepage as advise

    from automl.memory import small_pages

    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with small_pages():
            inside.set()
            leave.wait(10)

    before = advise(True)
    try:
        t = threading.Thread(target=other)
        with small_pages():
            t.start()
            assert inside.wait(10)
        assert advise(False) is False  # the other thread's block still runs: still off
        leave.set()
        t.join(10)
        assert advise(True) is True  # the last block ended: numpy's setting is back
    finally:
        leave.set()
        advise(before)


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


def _messy(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows to score with missing values and categories the model never saw."""
    rows = df.drop(columns=[target]).head(120).reset_index(drop=True)
    rows.loc[:9, "plan"] = "enterprise"
    rows.loc[10:19, "city"] = None
    rows.loc[20:29, "income"] = np.nan
    rows.loc[30:34, "age"] = np.nan
    rows.loc[35:39, "signup"] = "not a date"
    return rows


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


@pytest.mark.parametrize("case", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(("src_ext", "out_ext"), [(".csv", ".csv"), (".parquet", ".parquet"),
                                                  (".csv", ".parquet")])  # fmt: skip
def test_file_scoring_equals_model_predict(
    case: str, src_ext: str, out_ext: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """predict_file (Arrow reading, encoding and writing, chunk by chunk) gives exactly what
    Model.predict gives for the rows as read_file reads the file."""
    model = request.getfixturevalue(f"{case}_model").model_
    rows = _messy(request.getfixturevalue(f"{case}_df"), model.target)
    src = tmp_path / f"rows{src_ext}"
    rows.to_csv(src, index=False) if src_ext == ".csv" else rows.to_parquet(src)
    result = predict_file(model, src, tmp_path / f"scored{out_ext}", chunk_rows=25)
    scored = _read(tmp_path / f"scored{out_ext}")
    same = read_file(src)
    assert list(scored.columns[: same.shape[1]]) == list(same.columns)
    assert scored.shape[0] == len(same) == result.rows
    expected = model.predict(same)
    assert scored["prediction"].tolist() == expected.tolist()
    if case != "regression":
        proba = model.predict_proba(same)
        for c in model.classes:
            np.testing.assert_array_equal(scored[f"probability_{c}"], proba[c].to_numpy())
        np.testing.assert_array_equal(scored["confidence"], proba.max(axis=1).to_numpy())
    assert result.report.unseen_categories == {"plan": 10}
    assert result.report.unreadable == {"signup": 5}
    assert result.added_columns == list(model.output_names(same.columns))
    for col in ("age", "income", "plan", "city"):  # the rows' own values, as they were
        pd.testing.assert_series_equal(scored[col], same[col], check_dtype=False)


def test_file_scoring_with_a_recipe_equals_model_predict(binary_df: pd.DataFrame, tmp_path: Path):
    recipe = Recipe([ChangeType("income", "number"), Formula("ratio", "income / age")])
    df = binary_df.assign(
        income=binary_df["income"].map(lambda v: f"${v:,.0f}", na_action="ignore")
    )
    model = automl.AutoML(time_budget=600, seed=0, max_trials=2).fit(df, "churn", recipe=recipe)
    rows = _messy(df, "churn")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    predict_file(model.model_, tmp_path / "rows.csv", tmp_path / "scored.csv", chunk_rows=50)
    scored = _read(tmp_path / "scored.csv")
    same = read_file(tmp_path / "rows.csv")
    assert scored["prediction"].tolist() == model.predict(same).tolist()
    np.testing.assert_array_equal(scored["probability_yes"], model.predict_proba(same)["yes"])
    assert scored["income"].tolist() == same["income"].tolist()  # the raw text, not the number


def test_csv_rows_keep_their_own_text(binary_model, binary_df: pd.DataFrame, tmp_path: Path):
    """Each row of a CSV file is written out as it was (codes keep their leading zeros, numbers
    their digits, missing-value words their spelling), then the model's answers."""
    rows = binary_df.drop(columns=["churn"]).head(30)
    rows = rows.assign(zip=[f"{i:05d}" for i in range(30)], price=["1.50"] * 29 + ["NA"])
    src = tmp_path / "rows.csv"
    rows.to_csv(src, index=False)
    predict_file(binary_model.model_, src, tmp_path / "scored.csv", chunk_rows=7)
    given = src.read_text().splitlines()
    scored = (tmp_path / "scored.csv").read_text().splitlines()
    assert len(scored) == len(given) == 31
    added = binary_model.model_.output_names(rows.columns)
    assert scored[0] == given[0] + "," + ",".join(added.values())
    for before, after in zip(given[1:], scored[1:], strict=True):
        assert after.startswith(before + ",")
    back = pd.read_csv(tmp_path / "scored.csv", dtype={"zip": str})
    assert back["zip"].tolist()[:2] == ["00000", "00001"]


def test_chunks_made_of_several_blocks_are_written_as_read(
    binary_model, binary_df, tmp_path, monkeypatch
):
    """When a chunk of rows is made of pieces of several blocks of the file, its rows' own lines
    stay in pieces (nothing copied) and the scored file is the same, byte for byte."""
    from connectors import _stream, iter_file_batches

    rows = pd.concat([binary_df.drop(columns=["churn"])] * 4, ignore_index=True)
    src = tmp_path / "rows.csv"
    rows.to_csv(src, index=False)
    whole = predict_file(binary_model.model_, src, tmp_path / "whole.csv", chunk_rows=len(rows))
    monkeypatch.setattr(_stream, "MIN_BLOCK_BYTES", 2048)
    monkeypatch.setattr(_stream, "MAX_BLOCK_BYTES", 2048)
    chunk = next(iter(iter_file_batches(src, 300)))
    assert isinstance(chunk.lines, pa.ChunkedArray) and chunk.lines.num_chunks > 1
    first_rows = src.read_text().splitlines()[1:3]
    assert chunk.lines.to_pylist()[:2] == ["\n" + line for line in first_rows]
    pieces = predict_file(binary_model.model_, src, tmp_path / "pieces.csv", chunk_rows=300)
    assert pieces.rows == whole.rows == len(rows)
    assert (tmp_path / "pieces.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
