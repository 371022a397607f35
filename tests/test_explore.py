"""Exploration helpers: stated sampling, correlation and mutual information."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.errors import ParameterError
from automl.prep.explore import correlation, count_rows, mutual_information, sample_rows


def frame(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(scale=0.1, size=n),
            "noise": rng.normal(size=n),
            "cube": x**3,
            "group": np.where(x > 0, "up", "down"),
            "coin": rng.choice(["h", "t"], n),
            "id": [f"r{i}" for i in range(n)],
        }
    )


def test_sample_is_stated_and_reproducible() -> None:
    df = frame(3000)
    s = sample_rows(df, 1000)
    assert len(s.data) == 1000 and "1,000 of 3,000" in s.note
    pd.testing.assert_frame_equal(s.data, sample_rows(df, 1000).data)
    assert sample_rows(df, 5000).note == "All 3,000 rows."


def test_correlation_matches_pandas_and_spearman_sees_monotone() -> None:
    df = frame()
    pear = correlation(df, "pearson")
    assert list(pear.columns) == ["x", "y", "noise", "cube"]
    assert pear.loc["x", "y"] == pytest.approx(df["x"].corr(df["y"]))
    assert correlation(df, "spearman").loc["x", "cube"] == pytest.approx(1.0)
    assert pear.loc["x", "cube"] < 0.95
    with pytest.raises(ParameterError, match="at least two number columns"):
        correlation(df[["x", "group"]])
    with pytest.raises(ParameterError, match="pearson or spearman"):
        correlation(df, "kendall")


def test_mutual_information() -> None:
    m = mutual_information(frame())
    assert "id" not in m.columns  # 2,000 distinct text values: not a category
    assert m.loc["x", "group"] > 0.25 and m.loc["coin", "group"] < 0.01
    assert m.loc["x", "x"] == 1.0 and (m.to_numpy() == m.to_numpy().T).all()


def test_count_rows_keeps_missing() -> None:
    df = pd.DataFrame({"a": ["p", None, "p"], "b": ["x", "y", "y"]})
    out = count_rows(df, "a", "b")
    assert set(map(tuple, out[["a", "b", "rows"]].to_numpy())) == {
        ("p", "x", 1),
        ("p", "y", 1),
        ("(missing)", "y", 1),
    }


def test_mutual_information_matches_scikit_learn() -> None:
    from sklearn.metrics import normalized_mutual_info_score

    from automl.prep.explore import _nmi

    rng = np.random.default_rng(0)
    for ka, kb, n in [(2, 2, 50), (10, 3, 1000), (200, 10, 5000), (1, 4, 30), (1, 1, 10)]:
        a = rng.integers(0, ka, n)
        b = (a + rng.integers(0, 2, n)) % kb
        assert abs(_nmi(a, b) - normalized_mutual_info_score(a, b)) < 1e-9, (ka, kb, n)
