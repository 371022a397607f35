"""benchmarks/bagging.py: the refit way reproduces the model's own test predictions, and the fold
models are trained on every training row but their fold's."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import bagging


def test_averaged_stands_for_its_models() -> None:
    class Const:
        encoding = "tree"

        def __init__(self, v: float) -> None:
            self.v = v

        def predict_scores(self, X):  # type: ignore[no-untyped-def]
            return np.full(len(X), self.v)

    avg = bagging.Averaged([Const(0.2), Const(0.6)])
    assert avg.encoding == "tree"
    np.testing.assert_allclose(avg.predict_scores(np.zeros((3, 1))), [0.4, 0.4, 0.4])


def test_two_classes_three_ways_on_the_same_fit() -> None:
    from sklearn.metrics import roc_auc_score

    import automl
    from benchmarks._common import split
    from benchmarks.datasets import DATASETS

    row = bagging.run_one("breast_cancer", seed=0, trials=2, folds=3)
    assert set(row["errors"]) == {"refit", "bag", "bag_refit"}
    errs = {way: e["1-auc"] for way, e in row["errors"].items()}
    assert all(0 <= e < 0.2 for e in errs.values())
    assert errs["bag"] != errs["refit"]  # 3 other models, not the refit one again
    # the refit way is the model Easel builds: the same fit again predicts the same test AUC
    df, target, task = DATASETS["breast_cancer"]()
    df[target] = df[target].astype(str)
    train, test = split(df, target, task, 0)
    m = automl.AutoML(time_budget=3600, seed=0, max_trials=2, task=task).fit(train, target=target)
    proba = m.predict_proba(test.drop(columns=[target]))
    positive = proba.columns[1]
    auc = roc_auc_score((test[target] == positive).astype(int), proba[positive])
    assert 1 - auc == pytest.approx(errs["refit"], abs=1e-9)


def test_unknown_tables_and_bad_seeds_stop_with_what_is_wrong(capsys) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from benchmarks.stacking import tables_and_seeds

    p = argparse.ArgumentParser(prog="bagging")
    assert tables_and_seeds(p, "iris,wine", "0,2") == (["iris", "wine"], [0, 2])
    for tables, seeds, said in (
        ("iris,nosuch", "0", "unknown table nosuch"),
        ("iris", "x", "--seeds"),
    ):
        with pytest.raises(SystemExit):
            tables_and_seeds(p, tables, seeds)
        assert said in capsys.readouterr().err


def test_a_results_file_of_another_script_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.peers import append_row
    from benchmarks.stacking import study_rows

    mine, other = tmp_path / "bagging.jsonl.gz", tmp_path / "peers.jsonl"
    append_row(mine, {"table": "iris", "errors": {"refit": {"log_loss": 0.1}}})
    append_row(other, {"dataset": "iris", "framework": "easel", "score": 0.9})
    assert study_rows(mine, "refit")[0]["table"] == "iris"
    with pytest.raises(SystemExit, match="not this study's results file"):
        study_rows(other, "refit")
