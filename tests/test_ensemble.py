"""Greedy ensemble selection: chosen on validation predictions, kept only when it helps, scored
on the hold-out, saved and explained like any candidate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl import metrics as M
from automl.errors import ArtifactError
from automl.reports import save_model
from automl.training.ensemble import NEAR_LOSS_RATIO, average, greedy_weights, near_members

ROOT = Path(__file__).resolve().parents[1]


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


def test_a_log_average_keeps_a_sure_members_confidence() -> None:
    sure = np.array([[0.999, 0.0005, 0.0005], [0.0005, 0.999, 0.0005]])
    unsure = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    scores, weights = {1: sure, 2: unsure}, {1: 0.5, 2: 0.5}
    mean, log = average(scores, weights), average(scores, weights, "log")
    assert np.allclose(mean[:, 0], [0.8995, 0.05025])
    # the normalized weighted geometric mean: surer than the average of probabilities
    expected = np.sqrt(sure * unsure) / np.sqrt(sure * unsure).sum(axis=1, keepdims=True)
    assert np.allclose(log, expected) and log[0, 0] > 0.98 and np.allclose(log.sum(axis=1), 1)
    # 2 categories (P(positive) per row): the average of the log-odds
    p = average({1: np.array([0.999]), 2: np.array([0.8])}, weights, "log")
    assert p[0] == pytest.approx(1 / (1 + np.sqrt(0.001 / 0.999 * 0.2 / 0.8)))


def test_a_log_average_leaves_out_members_far_behind_the_best() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    one_hot = np.eye(3)[y]
    good = 0.8 * one_hot + 0.2 / 3  # log loss 0.14
    near = 0.75 * one_hot + 0.25 / 3 + rng.uniform(0, 0.05, (600, 3))
    near /= near.sum(axis=1, keepdims=True)
    far = 0.3 * one_hot + 0.7 / 3 + rng.uniform(0, 0.2, (600, 3))
    far /= far.sum(axis=1, keepdims=True)  # more than twice the best log loss
    oof = {1: good, 2: near, 3: far}
    log_loss = M.METRICS["log_loss"]
    assert log_loss(y, far) > NEAR_LOSS_RATIO * log_loss(y, good) > log_loss(y, near)
    assert near_members(oof, y, [1, 2, 3]) == [1, 2]
    out = greedy_weights(oof, y, [1, 2, 3], log_loss, "log")
    assert out is None or 3 not in out[0]


def test_class_ensembles_average_log_probabilities_and_older_files_still_average_them(
    tmp_path: Path,
) -> None:
    from sklearn.datasets import load_iris

    df = load_iris(as_frame=True).frame
    df["target"] = "kind " + df["target"].astype(str)
    m = automl.AutoML(time_budget=600, seed=0, max_trials=4).fit(df, "target").model_
    info = m.kept[m.default_id]
    assert info.candidate == "ensemble" and info.pooling == "log"
    rows = df.drop(columns=["target"]).iloc[::7]
    weights = m.members()
    parts = {}
    for cid in weights:
        m.set_default(cid)
        parts[cid] = m.predict_proba(rows).to_numpy()
    m.set_default(next(int(r.id) for r in m.meta.leaderboard if r.candidate == "ensemble"))
    log = sum(w * np.log(parts[c]) for c, w in weights.items())
    geo = np.exp(log) / np.exp(log).sum(axis=1, keepdims=True)
    assert np.allclose(m.predict_proba(rows).to_numpy(), geo, atol=1e-6)
    # a file from before (schema 7) averaged the probabilities: it still does
    m.save(tmp_path / "m")
    meta_file = tmp_path / "m" / "easel_model.json"
    data = json.loads(meta_file.read_text())
    data["schema_version"] = 7
    for k in data["kept"].values():
        k.pop("pooling", None)
    meta_file.write_text(json.dumps(data))
    old = automl.load(tmp_path / "m")
    assert old.kept[old.default_id].pooling == "mean"
    mean = sum(w * parts[c] for c, w in weights.items())
    assert np.allclose(old.predict_proba(rows).to_numpy(), mean, atol=1e-6)
    # an ensemble that does not say how it combines its members is refused
    data["schema_version"] = 8
    meta_file.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="how it combines its members"):
        automl.load(tmp_path / "m")
