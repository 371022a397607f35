"""Model.explain: contributions add up to the model's own score, speak in raw columns, follow the
predicted class, and work for every registered model family."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import automl
from automl.candidates import REGISTRY
from automl.errors import ParameterError, SchemaError
from tests.conftest import make_table


@functools.cache
def fitted(task: str, family: str) -> automl.Model:
    """One small model per task and family, trained once per module (no test here changes it)."""
    df = make_table(150, 1, task)
    target = {"binary": "churn", "multiclass": "segment", "regression": "spend"}[task]
    return (
        automl.AutoML(time_budget=600, seed=0, candidates=[family], max_trials=2, ensemble=False)
        .fit(df, target)
        .model_
    )


def margin(model: automl.Model, rows: pd.DataFrame) -> np.ndarray:
    """The default candidate's raw score (log-odds / value) computed without explain."""
    scores = model.scores(rows)
    if model.task == "binary":
        p = np.clip(scores, 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))
    return np.asarray(scores)


@pytest.mark.parametrize("family", sorted(REGISTRY))
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_contributions_add_up_to_the_score(task: str, family: str) -> None:
    model = fitted(task, family)
    rows = make_table(60, 7, task).drop(columns=[model.target])
    columns, agg, _ = model.contributions(rows)
    assert set(columns) == {c.name for c in model.preprocessor.columns}
    cand = model.candidates[model.default_id]
    enc = (
        model.preprocessor.transform_tree
        if cand.encoding == "tree"
        else (model.preprocessor.transform_linear)
    )
    base = cand.contributions(enc(model.prepare(rows)))[:, -1, 0]
    np.testing.assert_allclose(agg.sum(axis=1) + base, margin(model, rows), rtol=1e-6, atol=1e-6)


def test_explain_long_format_ranks_and_values() -> None:
    model = fitted("binary", "lightgbm")
    rows = make_table(20, 8).drop(columns=["churn"]).set_index(pd.Index(range(100, 120)))
    ex = model.explain(rows, top=3)
    assert list(ex.columns) == ["row", "rank", "column", "value", "contribution", "direction"]
    assert len(ex) == 60 and ex["row"].iloc[0] == 100
    first = ex[ex["row"] == 100]
    assert first["rank"].tolist() == [1, 2, 3]
    assert np.all(np.diff(np.abs(first["contribution"].to_numpy())) <= 1e-12)
    for r in first.itertuples():
        raw = rows.loc[100, r.column]
        assert (pd.isna(raw) and r.value is None) or r.value == raw
        assert r.direction == ("raises" if r.contribution > 0 else "lowers")
    reasons = model.reasons(rows, top=2)
    assert len(reasons) == 20 and reasons[0].count(";") == 1 and "=" in reasons[0]


def test_multiclass_explains_the_predicted_class() -> None:
    model = fitted("multiclass", "lightgbm")
    rows = make_table(30, 9, "multiclass").drop(columns=["segment"])
    columns, agg, _ = model.contributions(rows)
    cand = model.candidates[model.default_id]
    X = model.preprocessor.transform_tree(model.prepare(rows))
    full = cand.contributions(X)
    chosen = np.asarray(cand.predict_scores(X)).argmax(axis=1)
    expect = full[np.arange(len(rows)), :-1, chosen].sum(axis=1)
    np.testing.assert_allclose(agg.sum(axis=1), expect, rtol=1e-6, atol=1e-6)


def test_explain_errors_and_saved_models(tmp_path: object) -> None:
    model = fitted("binary", "linear")
    rows = make_table(5, 3).drop(columns=["churn"])
    with pytest.raises(ParameterError, match="at least 1"):
        model.explain(rows, top=0)
    with pytest.raises(SchemaError, match="age"):
        model.explain(rows.drop(columns=["age"]))
    with pytest.raises(ParameterError, match="DataFrame"):
        model.explain([1, 2])  # type: ignore[arg-type]
    path = model.save(tmp_path / "m")  # type: ignore[operator]
    again = automl.load(path).explain(rows, top=2)
    pd.testing.assert_frame_equal(again, model.explain(rows, top=2))
