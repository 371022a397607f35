"""The search's own rules: the time share of one trial, the ranking of trials cut short."""

import time

import numpy as np

from automl.candidates._lightgbm import MAX_ROUNDS
from automl.metrics import METRICS
from automl.training.search import TRIAL_SHARE, Search, SearchData, TrialRecord, make_folds


def record(i: int, family: str, score: float, seconds: float, status: str = "ok") -> TrialRecord:
    return TrialRecord(i, family, {}, score, seconds, status, "search")


def search(deadline: float = 1e12) -> Search:
    return Search(
        "regression", 1, METRICS["rmse"], ["lightgbm"], 0, time.monotonic(), lambda: deadline
    )


def test_a_trial_gets_a_share_of_the_time_after_the_first_of_its_family():
    s = search()
    s.span = 100.0
    assert s._trial_allowance("lightgbm") == float("inf")  # the first one always gets a chance
    s.records.append(record(1, "lightgbm", 1.0, 2.0))
    assert s._trial_allowance("lightgbm") == TRIAL_SHARE * 100.0
    s.records[0] = record(1, "lightgbm", 1.0, 9.0)
    assert s._trial_allowance("lightgbm") == 18.0  # twice the fastest trial, when that is more


def test_a_slow_configuration_stops_at_its_share_and_still_gives_a_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = X[:, 0] * 3 + np.sin(X[:, 1] * 3) + rng.normal(size=3000)
    data = SearchData(X={"tree": X}, y=y, categorical=[], folds=make_folds(y, "regression", 3, 0))
    s = search()
    s.span = 4.0
    s.records.append(record(1, "lightgbm", 9.9, 0.1))  # allowance: max(0.6, 0.2) seconds
    slow = {"learning_rate": 0.002, "num_leaves": 63, "min_child_samples": 2}
    rec = s._run_one("lightgbm", slow, "search", data)
    # The rule, whatever the machine's speed (uncapped, this configuration takes about 20 s on an
    # idle machine): the trial is stopped at its share, long before its 3,000 rounds, and still
    # gives a scored model. How many rounds fit in 0.6 s depends on the machine, so the model's
    # quality is not checked; on a busy one the first fold can overrun the whole share and the
    # later folds are skipped (the status says so).
    assert "time share" in rec.message or rec.status == "stopped at its time share", rec
    assert rec.iterations and rec.iterations < MAX_ROUNDS
    assert rec.score is not None and np.isfinite(rec.score)


def test_trials_cut_by_the_deadline_rank_after_complete_ones():
    s = search()
    s.records += [
        record(1, "lightgbm", 3.0, 1.0),
        record(2, "lightgbm", 1.0, 1.0, "stopped at deadline"),  # scored on fewer folds
        record(3, "lightgbm", 2.0, 1.0),
        record(4, "lightgbm", None, 1.0, "failed"),  # type: ignore[arg-type]
    ]
    assert [r.id for r in s.ranked()] == [3, 1, 2]


def test_a_one_split_search_keeps_the_models_of_its_best_trials():
    from automl.training.search import MAX_KEPT_MODELS

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6))
    y = X[:, 0] * 2 + np.abs(X[:, 1]) + rng.normal(size=200) * 0.3
    folds = make_folds(y, "regression", 1, 0)
    data = SearchData(X={"tree": X, "linear": X}, y=y, categorical=[], folds=folds)
    s = Search(
        "regression",
        1,
        METRICS["rmse"],
        ["lightgbm", "linear"],
        0,
        time.monotonic(),
        lambda: 1e12,
        max_trials=MAX_KEPT_MODELS + 6,
    )
    records = s.run(data, len(y))
    assert len(records) == MAX_KEPT_MODELS + 6
    assert len(s.models) == MAX_KEPT_MODELS
    ranked = s.ranked()
    for family in ("lightgbm", "linear"):  # the best of each family is never dropped
        best = next(r for r in ranked if r.candidate == family)
        assert best.id in s.models
    val = folds[0][1]
    for i, model in s.models.items():  # each is the trial's own fit: same validation predictions
        np.testing.assert_allclose(model.predict_scores(X[val]), s.oof[i])


def test_a_cross_validated_search_keeps_no_models():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 4))
    y = X[:, 0] + rng.normal(size=400) * 0.1
    data = SearchData(X={"tree": X}, y=y, categorical=[], folds=make_folds(y, "regression", 3, 0))
    s = search()
    s.max_trials = 3
    s.run(data, len(y))
    assert s.models == {}  # fold models are trained on part of the rows only
