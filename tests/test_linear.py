"""The linear family on classes that a line almost separates: its defaults include a nearly
unregularized model, so such a table gets confident probabilities without waiting for tuning.
Saving, loading and contributions are checked for every family in tests/contract/."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

import automl
from automl.metrics import METRICS


def _separable(rows: int, seed: int) -> pd.DataFrame:
    X, y = make_classification(
        n_samples=rows, n_features=10, n_informative=6, n_redundant=2, n_classes=3,
        n_clusters_per_class=1, class_sep=4.0, flip_y=0.0, random_state=seed,
    )  # fmt: skip
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    df["kind"] = [f"kind {v}" for v in y]
    return df


def test_near_separable_classes_get_a_confident_linear_model() -> None:
    # with C = 1 and C = 0.1 (the defaults before) the test log loss was 0.0072 here; with the
    # nearly unregularized default (C = 100) it is 0.0003
    df = _separable(900, 0)
    train, test = df.iloc[:600], df.iloc[600:]
    model = automl.AutoML(time_budget=600, seed=0, candidates=["linear"], max_trials=2).fit(
        train, "kind"
    )
    proba = model.predict_proba(test.drop(columns=["kind"]))
    y = np.asarray([list(proba.columns).index(v) for v in test["kind"]])
    assert METRICS["log_loss"](y, proba.to_numpy()) < 0.001
