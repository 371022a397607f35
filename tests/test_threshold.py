"""Binary decision threshold: tuned on validation predictions for label metrics, stored, used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import automl
from automl import metrics as M


def test_at_threshold_keeps_order_and_cuts_at_the_threshold() -> None:
    p = np.linspace(0, 1, 101)
    moved = M.at_threshold(p, 0.2)
    assert np.all(np.diff(moved) > 0)
    assert np.array_equal(moved >= 0.5, p >= 0.2)
    assert M.report("binary", (p >= 0.2).astype(int), p, 0.2)["accuracy"] == 1.0


def test_best_threshold_finds_the_cut_that_maximizes_the_metric() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.1).astype(int)
    p = np.clip(0.05 + 0.25 * y + rng.normal(0, 0.08, 4000), 0, 1)  # positives near 0.3
    t = M.best_threshold(M.METRICS["balanced_accuracy"], y, p)
    assert 0.1 < t < 0.25
    at_half = M.METRICS["balanced_accuracy"](y, p)
    assert M.METRICS["balanced_accuracy"](y, M.at_threshold(p, t)) > at_half + 0.2
    assert M.best_threshold(M.METRICS["roc_auc"], y, p) == 0.5  # no threshold in AUC
    assert M.best_threshold(M.METRICS["recall"], y, p) == 0.5  # degenerate: not tuned


def rare_positives(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    z = 1.2 * x[:, 0] - 0.8 * x[:, 1] - 2.8
    y = rng.random(n) < 1 / (1 + np.exp(-z))
    df = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    df["flag"] = np.where(y, "yes", "no")
    return df


@pytest.fixture(scope="module")
def tuned() -> automl.AutoML:
    return automl.AutoML(metric="balanced_accuracy", time_budget=600, max_trials=4).fit(
        rare_positives(), "flag"
    )


def test_threshold_is_tuned_stored_and_used(tuned: automl.AutoML, tmp_path) -> None:
    m = tuned.model_
    assert 0.02 < m.threshold < 0.4  # rare positives: well below 0.5
    hold = m.holdout
    s = hold[f"__score_{m.default_id}"].to_numpy()
    y = hold["__target__"].to_numpy()
    at_half = M.report("binary", y, s)["balanced_accuracy"]
    assert m.metrics["balanced_accuracy"] == pytest.approx(
        M.report("binary", y, s, m.threshold)["balanced_accuracy"]
    )
    assert m.metrics["balanced_accuracy"] > at_half  # the tuned cut is better on unseen rows
    rows = rare_positives(500, seed=1).drop(columns="flag")
    proba = m.predict_proba(rows)["yes"].to_numpy()
    assert np.array_equal(m.predict(rows) == "yes", proba >= m.threshold)
    m.save(tmp_path / "m")
    loaded = automl.load(tmp_path / "m")
    assert loaded.threshold == m.threshold
    assert np.array_equal(loaded.predict(rows), m.predict(rows))


def test_each_kept_candidate_has_its_own_threshold(tuned: automl.AutoML) -> None:
    m = tuned.model_
    others = [k for k in m.kept if k != m.default_id]
    assert others
    for k in others:
        assert m.kept[k].threshold is not None
    m.set_default(others[0])
    assert m.threshold == m.kept[others[0]].threshold


def test_metrics_without_a_threshold_keep_one_half() -> None:
    m = automl.AutoML(time_budget=600, max_trials=2).fit(rare_positives(800), "flag").model_
    assert m.threshold == 0.5
