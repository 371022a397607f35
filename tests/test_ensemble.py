"""Greedy ensemble selection: chosen on validation predictions, kept only when it helps, scored
on the hold-out, saved and explained like any candidate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import automl
from automl import metrics as M
from automl.reports import save_model
from automl.training.ensemble import average, greedy_weights

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_greedy_weights_average_complementary_predictions() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    a = y + rng.normal(0, 1, 2000)  # two equally good, independent errors
    b = y + rng.normal(0, 1, 2000)
    c = y + rng.normal(0, 3, 2000)  # a poor one
    rmse = M.METRICS["rmse"]
    out = greedy_weights({1: a, 2: b, 3: c}, y, [1, 2, 3], rmse)
    assert out is not None
    weights, loss, single = out
    assert set(weights) >= {1, 2} and sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert loss < 0.8 * single  # averaging two independent errors: about 1/sqrt(2)
    assert loss == pytest.approx(rmse(y, average({1: a, 2: b, 3: c}, weights)), rel=1e-4)
    # the same predictions twice cannot help: no ensemble
    assert greedy_weights({1: a, 2: a.copy()}, y, [1, 2], rmse) is None


@pytest.fixture(scope="module")
def ensembled() -> automl.AutoML:
    df = pd.read_csv(ROOT / "sample_data" / "house_prices.csv").head(1500)
    return automl.AutoML(time_budget=600, seed=0, max_trials=6).fit(df, "sale_price")


def test_an_ensemble_is_kept_scored_and_predicts_the_weighted_average(
    ensembled: automl.AutoML, tmp_path
) -> None:
    m = ensembled.model_
    info = m.kept[m.default_id]
    assert info.candidate == "ensemble"
    weights = m.members()
    assert 2 <= len(weights) <= 4 and all(int(k) in m.kept for k in weights)
    board = m.leaderboard
    row = board[board["default"]].iloc[0]
    assert row["candidate"].startswith("ensemble of ") and row["source"] == "ensemble"
    # validation: better than every single trial on the same rows
    singles = board[board["source"] != "ensemble"]["validation_rmse"].dropna()
    assert row["validation_rmse"] < singles.min()
    # hold-out: the weighted average of the members' stored hold-out scores
    hold = m.holdout
    avg = sum(w * hold[f"__score_{k}"].to_numpy() for k, w in weights.items())
    assert np.allclose(hold[f"__score_{m.default_id}"].to_numpy(), avg)
    y = hold["__target__"].to_numpy()
    assert m.metrics["rmse"] == pytest.approx(M.METRICS["rmse"](y, avg), rel=1e-5)
    # predictions: the weighted average of each member's own predictions
    rows = pd.read_csv(ROOT / "sample_data" / "house_prices.csv").tail(50)
    rows = rows.drop(columns="sale_price")
    single = {}
    for k in weights:
        m.set_default(k)
        single[k] = m.predict(rows)
    m.set_default(int(row["id"]))
    assert np.allclose(m.predict(rows), sum(w * single[k] for k, w in weights.items()))
    save_model(m, tmp_path / "m", reports=True)
    loaded = automl.load(tmp_path / "m")
    assert np.allclose(loaded.predict(rows), m.predict(rows))
    why = loaded.explain(rows.head(3), top=3)
    assert set(why["column"]) <= {c.name for c in m.preprocessor.columns}
    assert (tmp_path / "m" / "reports" / "performance.html").exists()
