"""End-to-end: each task trains, reports honest hold-out metrics, and predicts from raw rows."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import automl
from automl.errors import (
    DataError,
    EaselWarning,
    NotFittedError,
    ParameterError,
    SchemaError,
    TargetError,
)


def test_binary_end_to_end(binary_model, binary_df):
    m = binary_model.model_
    assert m.task == "binary" and m.classes == ["no", "yes"]
    metrics = m.metrics
    for key in [
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    ]:
        assert key in metrics
    assert metrics["roc_auc"] > 0.75  # the generator's signal is strong; 0.5 would be chance
    pred = binary_model.predict(binary_df.head(20))
    assert set(pred) <= {"no", "yes"} and len(pred) == 20
    proba = binary_model.predict_proba(binary_df.head(20))
    assert list(proba.columns) == ["no", "yes"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_ids_and_constants_excluded_with_reason(binary_model):
    cols = {c.name: c for c in binary_model.model_.meta.columns}
    assert cols["customer_id"].type == "identifier"
    assert cols["country"].type == "constant" and "US" in cols["country"].reason
    assert cols["signup"].type == "datetime"
    assert cols["notes"].type == "text"
    assert cols["member"].type == "boolean"


def test_leaderboard_lists_every_trial(binary_model):
    board = binary_model.leaderboard
    assert len(board) >= 3
    singles = board[board["source"] != "ensemble"]
    assert set(singles["candidate"]) == {"lightgbm", "xgboost", "linear", "forest", "knn"}
    for name in board[board["source"] == "ensemble"]["candidate"]:
        assert name.startswith("ensemble of ") and name.count("%") <= 4  # at most 4 members
    assert board["default"].sum() == 1 and board["kept"].sum() >= 2
    assert (board["fit_seconds"] >= 0).all()
    assert "validation_roc_auc" in board.columns


def test_holdout_is_honest_and_refit_is_stated(binary_model):
    meta = binary_model.model_.meta
    assert meta.rows.holdout == 80 and meta.rows.search == 320
    assert isinstance(meta.refit_on_all_rows, bool) and meta.refit_note


def test_one_split_search_scores_its_own_trial_models_on_the_holdout(binary_df, monkeypatch):
    from automl import presets

    quick = {**presets.PRESETS["quick"], "cv_max_rows": 100, "small_rows": 100}
    monkeypatch.setitem(presets.PRESETS, "quick", quick)
    m = automl.AutoML(time_budget=600, seed=0, max_trials=6).fit(binary_df, target="churn")
    meta = m.model_.meta
    assert meta.validation.startswith("one 80/20 validation split of 320 rows")
    trained_on = {k: v.trained_on for k, v in meta.kept.items() if v.members is None}
    reused = [k for k, v in trained_on.items() if v.startswith("80% of the search rows")]
    assert reused, trained_on  # kept trials are scored as the search fit them, not trained again
    default = meta.default
    assert meta.refit_on_all_rows and "all rows" in default.trained_on
    proba = m.predict_proba(binary_df.head(5))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_multiclass_end_to_end(multiclass_model, multiclass_df):
    m = multiclass_model
    assert m.model_.task == "multiclass"
    assert set(m.metrics) == {"accuracy", "f1_macro", "log_loss"}
    assert m.metrics["accuracy"] > 0.6
    proba = m.predict_proba(multiclass_df.head(5))
    assert list(proba.columns) == ["high", "low", "mid"]


def test_regression_end_to_end(regression_model, regression_df):
    m = regression_model
    assert m.model_.task == "regression"
    assert {"rmse", "mae", "r2", "mape"} <= set(m.metrics)
    assert m.metrics["r2"] > 0.5
    pred = m.predict(regression_df.head(10))
    assert pred.dtype == float and len(pred) == 10
    with pytest.raises(ParameterError, match="predict_proba"):
        m.predict_proba(regression_df.head(2))


def test_numeric_labels_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    df = pd.DataFrame({"x": x, "y": (x > 0).astype(int)})
    m = automl.AutoML(time_budget=600, max_trials=3).fit(df, target="y")
    assert m.model_.classes == [0, 1]
    assert m.predict(df.head(3)).dtype == np.int64
    m.save(tmp_path / "m")
    assert automl.load(tmp_path / "m").predict(df.head(3)).dtype == np.int64


def test_missing_target_rows_reported():
    df = pd.DataFrame({"x": np.arange(100.0), "y": ["a", "b", None, "b"] * 25})
    m = automl.AutoML(time_budget=600, max_trials=2).fit(df, target="y")
    assert any("25 rows with a missing" in w for w in m.model_.warnings)


def test_column_impact_finds_the_signal():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    df["y"] = df["signal"] * 3 + rng.normal(0, 0.1, 400)
    m = automl.AutoML(time_budget=600, max_trials=3).fit(df, target="y")
    impact = m.model_.column_impact
    assert impact.iloc[0]["column"] == "signal" and impact.iloc[0]["impact"] > 0.8


def test_column_impact_stops_before_a_column_that_would_end_after_the_deadline(monkeypatch):
    """Each scoring takes one tick of a fake clock: with the deadline 3.5 ticks away, the base
    and two columns fit (ending at 3); a third would end at 4, after the deadline, so it is not
    started (the fit's budget is kept), and a deadline already passed scores nothing."""
    from types import SimpleNamespace

    from automl.training import impact as impact_module

    clock = [0.0]

    class Ticking:
        task = "regression"
        classes: list[str] = []
        preprocessor = SimpleNamespace(columns=[SimpleNamespace(name=f"c{i}") for i in range(5)])

        def _scores(self, rows, report):
            clock[0] += 1.0
            return rows["c0"].to_numpy(dtype=float)

    monkeypatch.setattr(impact_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    rows = pd.DataFrame({f"c{i}": np.arange(50.0) * (i + 1) for i in range(5)})
    target = pd.Series(np.arange(50.0))
    shares = impact_module.column_impact(Ticking(), rows, target, deadline=3.5)
    assert [c for c, _ in shares] == ["c0", "c1"]  # c1 unused by the scores: share 0
    assert clock[0] == 3.0
    clock[0] = 10.0
    assert impact_module.column_impact(Ticking(), rows, target, deadline=9.0) == []
    assert clock[0] == 10.0


def test_parameter_validation():
    df = pd.DataFrame({"x": range(50), "y": ["a", "b"] * 25})
    with pytest.raises(
        ParameterError, match="'time_budget' parameter of AutoML must be a positive"
    ):
        automl.AutoML(time_budget=-3).fit(df, target="y")
    with pytest.raises(ParameterError, match="'preset'"):
        automl.AutoML(preset="turbo").fit(df, target="y")
    with pytest.raises(ParameterError, match="'metric'"):
        automl.AutoML(metric="rmse").fit(df, target="y")
    with pytest.raises(ParameterError, match="'candidates'"):
        automl.AutoML(candidates=["catboost"]).fit(df, target="y")
    with pytest.raises(NotFittedError, match="not fitted"):
        automl.AutoML().predict(df)


def test_data_errors():
    with pytest.raises(DataError, match="no rows"):
        automl.AutoML(time_budget=5).fit(pd.DataFrame({"x": [], "y": []}), target="y")
    with pytest.raises(TargetError, match="at least 20"):
        automl.AutoML(time_budget=5).fit(pd.DataFrame({"x": range(8), "y": [0, 1] * 4}), "y")
    only_ids = pd.DataFrame({"id": [f"r{i}" for i in range(60)], "y": ["a", "b"] * 30})
    with pytest.raises(DataError, match="No column can be used"):
        automl.AutoML(time_budget=5).fit(only_ids, target="y")


def test_chosen_metric_and_excluded_columns(binary_df):
    m = automl.AutoML(time_budget=600, max_trials=3, metric="f1", exclude_columns=["notes"]).fit(
        binary_df, target="churn"
    )
    assert m.model_.metric == "f1"
    assert "validation_f1" in m.leaderboard.columns
    cols = {c.name: c.type for c in m.model_.meta.columns}
    assert cols["notes"] == "excluded"
    # the excluded column is not required at prediction time
    m.predict(binary_df.drop(columns=["notes", "churn"]).head(3))


def test_prediction_input_checks(binary_model, binary_df):
    rows = binary_df.drop(columns=["churn"]).head(10).copy()
    with pytest.raises(SchemaError, match="missing 2 columns the model was trained on: age, plan"):
        binary_model.predict(rows.drop(columns=["age", "plan"]))
    with pytest.raises(DataError, match="empty"):
        binary_model.predict(rows.iloc[:0])
    rows["extra"] = 1
    rows["customer_id"] = "x"  # known from training (an identifier): not reported as extra
    rows["age"] = rows["age"].astype(object)
    rows.loc[rows.index[:3], "age"] = "unknown"
    rows.loc[rows.index[:2], "plan"] = "platinum"  # unseen category
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = binary_model.predict(rows)
    assert len(pred) == 10
    text = " ".join(str(w.message) for w in caught if issubclass(w.category, EaselWarning))
    assert "ignored: extra." in text and "'age': 3 values" in text and "'plan': 2 values" in text


def test_missing_values_everywhere_still_predict(binary_model, binary_df):
    rows = binary_df.drop(columns=["churn"]).head(3).copy()
    for c in rows.columns:
        rows[c] = None
    assert len(binary_model.predict(rows)) == 3


def test_save_load_round_trip(binary_model, binary_df, tmp_path):
    path = binary_model.save(tmp_path / "model")
    loaded = automl.load(path)
    rows = binary_df.drop(columns=["churn"])
    pd.testing.assert_frame_equal(loaded.predict_proba(rows), binary_model.predict_proba(rows))
    meta = json.loads((path / "easel_model.json").read_text())
    assert meta["schema_version"] == 9 and "lightgbm" in meta["versions"]
    assert not list(path.rglob("*.pkl")) and not list(path.rglob("*.joblib"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_set_default_candidate(binary_model, binary_df, tmp_path):
    model = automl.load(binary_model.save(tmp_path / "m"))
    board = model.leaderboard
    other = int(board[board["kept"] & ~board["default"]]["id"].iloc[0])
    before = model.predict_proba(binary_df.head(20))
    model.set_default(other)
    assert model.default_id == other
    assert not model.predict_proba(binary_df.head(20)).equals(before)
    not_kept = board[~board["kept"]]["id"]
    if len(not_kept):
        with pytest.raises(ParameterError, match="Kept candidates"):
            model.set_default(int(not_kept.iloc[0]))


def test_preview(binary_df):
    res = automl.preview(binary_df, "churn")
    assert res.task == "binary" and res.metric == "roc_auc"
    assert res.estimated_score > res.baseline_score
    assert res.column_impact["impact"].sum() == pytest.approx(1.0)
    assert "customer_id" not in set(res.column_impact["column"])
    assert res.seconds < 30


def test_same_seed_same_leaderboard_when_not_cut_by_time(multiclass_model, multiclass_df):
    # a second fit with the session model's settings (the first fit): same trials, same scores
    first = multiclass_model
    again = automl.AutoML(
        time_budget=first.time_budget, seed=first.seed, max_trials=first.max_trials
    ).fit(multiclass_df, "segment")
    columns = ["candidate", "validation_log_loss", "params", "status"]
    b1, b2 = first.leaderboard[columns], again.leaderboard[columns]
    assert len(b1) - b1["candidate"].str.startswith("ensemble").sum() == first.max_trials
    pd.testing.assert_frame_equal(b1, b2)
    assert first.metrics == again.metrics


def test_a_tiny_table_stops_tuning_at_one_trial_per_four_rows(monkeypatch):
    from automl import presets

    # The rule is one trial per 4 search rows, never fewer than the preset's min_trials (30 in
    # "quick"); a lower floor lets a 60-row table show the rule with 12 trials instead of 40.
    assert presets.PRESETS["quick"]["trials_per_row"] == 0.25
    quick = {**presets.PRESETS["quick"], "min_trials": 5}
    monkeypatch.setitem(presets.PRESETS, "quick", quick)
    rng = np.random.default_rng(1)
    n = 60  # 48 search rows: a cap of max(5, 12) = 12 trials
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    df["y"] = df["x1"] * 2 + rng.normal(size=n)
    # two cheap families: the cap counts trials of any family
    m = automl.AutoML(time_budget=600, seed=0, candidates=["linear", "knn"]).fit(df, "y")
    trials = m.leaderboard[~m.leaderboard["candidate"].str.startswith("ensemble")]
    assert len(trials) == 12
    assert "stopped after 12 trials" in m.model_.meta.validation
    capped_by_user = automl.AutoML(
        time_budget=600, seed=0, candidates=["linear", "knn"], max_trials=5
    ).fit(df, "y")
    assert "stopped after" not in capped_by_user.model_.meta.validation
